"""NumPy ``.npz`` archives, read one member at a time and written one array at a time.

Arrays are stored uncompressed (like ``np.savez``) without pickle, so strings are stored as
fixed-width ``S`` arrays; NumPy cannot describe ``ml_dtypes`` types (bfloat16, float8...) in a
``.npy`` header, so those must be cast (``dtype=float32``) or converted to another format.
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from ckpt.convert.files import local_copy, staged
from ckpt.errors import (
    CheckpointNotFoundError,
    CorruptCheckpointError,
    InvalidTensorError,
    UnsupportedCheckpointError,
)

__all__ = ["read", "write"]


def _from_npy(key: str, array: np.ndarray, path: str) -> np.ndarray:
    if array.dtype.kind == "S":  # TF strings are bytes: object arrays of bytes, as ckpt reads
        return np.array(array.tolist(), dtype=object).reshape(array.shape)
    if array.dtype.kind == "U":
        encoded: np.ndarray = np.array([s.encode() for s in array.flat], dtype=object)
        return encoded.reshape(array.shape)
    if array.dtype.kind in "VOM" or array.dtype.names is not None:
        raise UnsupportedCheckpointError(
            f"array {key!r} of {path} has dtype {array.dtype}, which is no tensor dtype",
            path=path,
            key=key,
        )
    return array


def read(path: str) -> Iterator[tuple[str, np.ndarray]]:
    """Yield each array of the archive, loading one member at a time (never unpickling).

    A URL is first copied to a local temporary file, deleted once every array is read.
    """
    with local_copy(path) as local:
        yield from _read_local(local, path)


def _read_local(local: str, path: str) -> Iterator[tuple[str, np.ndarray]]:
    try:
        archive = np.load(local, allow_pickle=False)
    except FileNotFoundError as exc:
        raise CheckpointNotFoundError(f"no such file: {path}", path=path) from exc
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise CorruptCheckpointError(
            f"{path} is not a valid .npz archive: {exc}", path=path
        ) from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise UnsupportedCheckpointError(f"{path} is a single .npy array, not an .npz", path=path)
    with archive:
        for key in archive.files:
            _check_declared_size(archive, key, path)
            try:
                array = archive[key]
            except (ValueError, TypeError) as exc:  # object arrays (pickle), unknown dtypes
                raise UnsupportedCheckpointError(
                    f"array {key!r} of {path} cannot be loaded without pickle: {exc}",
                    path=path,
                    key=key,
                ) from exc
            yield key, _from_npy(key, array, path)


def _check_declared_size(archive: Any, key: str, path: str) -> None:
    """Refuse a member whose ``.npy`` header declares more bytes than the member holds.

    NumPy allocates what the header declares before reading: a 100-byte member claiming
    10**12 elements would otherwise exhaust memory. (The zip's own stated size is what
    decompression can produce at most.)
    """
    name = key if key in archive.zip.namelist() else f"{key}.npy"
    try:
        stated = archive.zip.getinfo(name).file_size
        with archive.zip.open(name) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
        raise CorruptCheckpointError(
            f"array {key!r} of {path} has no valid .npy header: {exc}", path=path, key=key
        ) from None
    declared = math.prod(shape) * dtype.itemsize
    if declared > stated:
        raise CorruptCheckpointError(
            f"array {key!r} of {path} declares {declared} bytes of data in a member of "
            f"{stated} bytes: the archive is corrupt",
            path=path,
            key=key,
        )


def _to_npy(key: str, array: np.ndarray) -> np.ndarray:
    if array.dtype.kind == "O":
        # NumPy strips trailing NUL bytes from fixed-width strings: refuse instead of losing them.
        if any(isinstance(s, bytes) and s.endswith(b"\0") for s in array.flat):
            raise InvalidTensorError(
                f"string tensor {key!r} has elements ending in NUL bytes, which .npz (fixed-width "
                "bytes) would lose; convert it to TF instead",
                key=key,
            )
        return array.astype(np.bytes_)
    descr = np.lib.format.dtype_to_descr(array.dtype)
    if np.lib.format.descr_to_dtype(descr) != array.dtype:  # ml_dtypes: bfloat16, float8...
        raise InvalidTensorError(
            f"tensor {key!r} has dtype {array.dtype.name}, which .npz cannot describe; cast it "
            "with dtype=float32 (--dtype float32 on the command line; floats only) or convert "
            "to TF, safetensors or torch instead",
            key=key,
        )
    return array


def write(path: str, tensors: Iterable[tuple[str, np.ndarray]]) -> str:
    """Write an uncompressed ``.npz`` streaming: memory holds one array (in 16 MiB chunks).

    A URL destination is written to a local temporary file and uploaded once complete.
    """
    names: set[str] = set()
    with (
        staged(os.fspath(path)) as temp,
        zipfile.ZipFile(temp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive,
    ):
        for key, array in tensors:
            if key in names:
                raise InvalidTensorError(f"two tensors are named {key!r}", path=path, key=key)
            names.add(key)
            value = _to_npy(key, array)
            with archive.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, value, allow_pickle=False)
    return path
