"""safetensors files, single or sharded with a ``model.safetensors.index.json``.

Reading goes through ``safe_open(framework="numpy")``, which returns bfloat16 as ``ml_dtypes``
arrays but cannot build float8 arrays: those few tensors are read with ``framework="pt"`` when
torch is installed and reinterpreted bit for bit (otherwise the error says to install torch).
Writing uses ``safetensors.numpy.save_file`` one shard at a time, so memory holds one shard.

On fsspec URLs, each file (shard) read is copied to a local temporary file first, one at a time;
written shards are staged in a local temporary directory and uploaded once all are complete,
the index last.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from ckpt.convert import torch as torch_format
from ckpt.convert.files import basename, give_default_mode, local_copy, staged, upload
from ckpt.convert.formats import INDEX_NAME, INDEX_SUFFIX, require
from ckpt.errors import (
    CheckpointNotFoundError,
    CorruptCheckpointError,
    InvalidTensorError,
    UnsupportedCheckpointError,
)
from ckpt.format import storage

__all__ = ["read", "write"]

# NumPy dtype names the safetensors format (0.8) can store; anything else cannot be written.
WRITABLE = frozenset(
    {
        "bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
        "float16", "float32", "float64", "bfloat16", "complex64",
        "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz",
    }
)  # fmt: skip


def _files(path: str) -> tuple[list[str], dict[str, str] | None]:
    """The safetensors files behind ``path`` and, for a sharded one, its weight map."""
    index_path = storage.join(path, INDEX_NAME) if storage.isdir(path) else path
    if not index_path.endswith(INDEX_SUFFIX):
        return [path], None
    try:
        weight_map = json.loads(storage.read_bytes(index_path))["weight_map"]
        if not isinstance(weight_map, dict):
            raise TypeError("weight_map is not an object")
    except FileNotFoundError as exc:
        raise CheckpointNotFoundError(f"no such file: {index_path}", path=index_path) from exc
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise CorruptCheckpointError(
            f"{index_path} is not a safetensors index (a JSON object with a 'weight_map' of "
            f"tensor names to file names): {exc}",
            path=index_path,
        ) from exc
    directory = storage.dirname(index_path)
    files = list(dict.fromkeys(str(name) for name in weight_map.values()))
    return [storage.join(directory, name) for name in files], weight_map


def _open(local: str, framework: str, path: str) -> Any:
    safetensors = require("safetensors", "safetensors")
    try:
        return safetensors.safe_open(local, framework=framework)
    except FileNotFoundError as exc:
        raise CheckpointNotFoundError(f"no such file: {path}", path=path) from exc
    except Exception as exc:  # SafetensorError: bad header, truncated file
        raise CorruptCheckpointError(
            f"{path} is not a valid safetensors file: {exc}", path=path
        ) from exc


def _read_file(path: str, keys: set[str] | None) -> Iterator[tuple[str, np.ndarray]]:
    with local_copy(path) as local:
        yield from _read_local(local, path, keys)


def _read_local(local: str, path: str, keys: set[str] | None) -> Iterator[tuple[str, np.ndarray]]:
    with contextlib.ExitStack() as stack:
        handle = stack.enter_context(_open(local, "numpy", path))
        torch_handle: Any = None
        for key in handle.offset_keys():
            if keys is not None and key not in keys:
                continue
            try:
                array = handle.get_tensor(key)
            except Exception as exc:  # NumPy has no type for it (float8): go through torch
                dtype = handle.get_slice(key).get_dtype()
                try:
                    torch_handle = torch_handle or stack.enter_context(_open(local, "pt", path))
                except UnsupportedCheckpointError as missing:
                    raise UnsupportedCheckpointError(
                        f"tensor {key!r} of {path} is {dtype}: reading it needs torch "
                        "(pip install torch)",
                        path=path,
                        key=key,
                    ) from missing
                try:
                    array = torch_format.to_numpy(torch_handle.get_tensor(key))
                except Exception:
                    raise UnsupportedCheckpointError(
                        f"tensor {key!r} of {path} has dtype {dtype}, which ckpt cannot convert",
                        path=path,
                        key=key,
                    ) from exc
            yield key, array


def read(path: str) -> Iterator[tuple[str, np.ndarray]]:
    """Yield every tensor of a safetensors file, index file or directory, in file order."""
    files, weight_map = _files(path)
    seen = 0
    for file in files:
        keys = None
        if weight_map is not None:
            name = basename(file)
            keys = {k for k, v in weight_map.items() if v == name}
        for key, array in _read_file(file, keys):
            seen += 1
            yield key, array
    if weight_map is not None and seen != len(weight_map):
        raise CorruptCheckpointError(
            f"{path}: {len(weight_map) - seen} tensors of the index are missing from its files",
            path=path,
        )


def _check(key: str, array: np.ndarray) -> np.ndarray:
    if array.dtype.name not in WRITABLE:
        kind = "strings go only to TF or npz" if array.dtype.kind in "OSU" else "unsupported"
        raise InvalidTensorError(
            f"tensor {key!r} has dtype {array.dtype.name}, which safetensors cannot store "
            f"({kind}); cast floats (dtype=..., or --dtype on the command line), or convert to "
            "TF or npz instead",
            key=key,
        )
    return array if array.flags.c_contiguous else array.copy(order="C")  # keeps 0-d arrays 0-d


class _ShardWriter:
    """Collects tensors into shards of at most ``max_bytes`` and writes each as it fills."""

    def __init__(self, base: str, max_bytes: int) -> None:
        self.base = base  # "dir/model": shards become "dir/model-00001-of-00003.safetensors"
        self.max_bytes = max_bytes
        self.pending: dict[str, np.ndarray] = {}
        self.pending_bytes = 0
        self.shards: list[tuple[str, list[str]]] = []  # (temporary file, its keys)
        self.names: set[str] = set()
        self.total = 0

    def add(self, key: str, array: np.ndarray) -> None:
        if key in self.names:
            raise InvalidTensorError(f"two tensors are named {key!r}", key=key)
        self.names.add(key)
        array = _check(key, array)
        if self.pending and self.pending_bytes + array.nbytes > self.max_bytes:
            self.flush()
        self.pending[key] = array
        self.pending_bytes += array.nbytes
        self.total += array.nbytes

    def flush(self) -> None:
        numpy_api = require("safetensors.numpy", "safetensors")
        temp = f"{self.base}.tmp-shard{len(self.shards):05d}"
        self.shards.append((temp, list(self.pending)))
        numpy_api.save_file(self.pending, temp)
        give_default_mode(temp)  # safetensors creates its files 0o600
        self.pending, self.pending_bytes = {}, 0

    def cleanup(self) -> None:
        for temp, _ in self.shards:
            with contextlib.suppress(FileNotFoundError):
                os.remove(temp)


def write(path: str, tensors: Iterable[tuple[str, np.ndarray]], *, max_shard_bytes: int) -> str:
    """Write ``path`` (``x.safetensors``, ``x.safetensors.index.json`` or a directory).

    A ``.safetensors`` path gets one file when everything fits in ``max_shard_bytes``; otherwise,
    or when ``path`` is an index or a directory, shards ``x-00001-of-0000N.safetensors`` and the
    index ``x.safetensors.index.json`` (Hugging Face's layout). Returns the file or index written.
    On a URL, shards are staged locally, then uploaded; the index goes last.
    """
    if max_shard_bytes <= 0:
        raise InvalidTensorError(f"max_shard_bytes must be positive, got {max_shard_bytes}")
    remote = storage.is_url(path)
    if storage.isdir(path) or path.endswith("/" if remote else os.sep):
        if not remote:
            os.makedirs(path, exist_ok=True)
        path = storage.join(path, INDEX_NAME)
    sharded = path.endswith(INDEX_SUFFIX)
    base = path[: -len(INDEX_SUFFIX)] if sharded else path.removesuffix(".safetensors")
    if remote:
        with tempfile.TemporaryDirectory(prefix="ckpt-") as local_dir:
            local_base = os.path.join(local_dir, basename(base))
            return _write(path, base, local_base, sharded, tensors, max_shard_bytes)
    os.makedirs(os.path.dirname(base) or ".", exist_ok=True)
    return _write(path, base, base, sharded, tensors, max_shard_bytes)


def _write(
    path: str,
    base: str,
    local_base: str,
    sharded: bool,
    tensors: Iterable[tuple[str, np.ndarray]],
    max_shard_bytes: int,
) -> str:
    """Write shards at ``local_base`` (temporary names), then move them to ``base`` names."""
    remote = storage.is_url(path)
    writer = _ShardWriter(local_base, max_shard_bytes)
    placed: list[str] = []  # remote files already uploaded, removed if a later step fails

    def place(temp: str, target: str) -> None:
        if remote:
            placed.append(target)
            upload(temp, target)
        else:
            os.replace(temp, target)

    try:
        for key, array in tensors:
            writer.add(key, array)
        if writer.pending or not writer.shards:
            writer.flush()
        if not sharded and len(writer.shards) == 1:
            place(writer.shards[0][0], path)
            return path
        count = len(writer.shards)
        index_path = base + INDEX_SUFFIX
        if remote:  # an old index must never point at a mix of old and new shards
            storage.delete(index_path)
        weight_map: dict[str, str] = {}
        for i, (temp, keys) in enumerate(writer.shards):
            name = f"{basename(base)}-{i + 1:05d}-of-{count:05d}.safetensors"
            place(temp, storage.join(storage.dirname(base), name))
            weight_map.update(dict.fromkeys(keys, name))
        index = {"metadata": {"total_size": writer.total}, "weight_map": weight_map}
        with staged(index_path) as temp, open(temp, "w", encoding="utf-8") as f:
            json.dump(index, f, indent=2, sort_keys=True)
            f.write("\n")
        if not remote:
            # Shards of an output this one replaced, numbered for another count: the new
            # index no longer names them.
            current = set(weight_map.values())
            pattern = glob.escape(base) + "-[0-9][0-9][0-9][0-9][0-9]-of-[0-9]*.safetensors"
            for stale in glob.glob(pattern):
                if os.path.basename(stale) not in current:
                    with contextlib.suppress(OSError):
                        os.remove(stale)
        return index_path
    except BaseException:
        for target in placed:
            with contextlib.suppress(Exception):
                storage.delete(target)
        raise
    finally:
        writer.cleanup()
