"""``convert_checkpoint``: stream tensors from one checkpoint format into another."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from ckpt.convert import npz, safetensors, tf, torch
from ckpt.convert.formats import (
    check_format,
    detect_destination,
    detect_source,
    float_dtype,
    is_floating,
    require,
)
from ckpt.errors import InvalidTensorError
from ckpt.format import storage

__all__ = ["convert_checkpoint", "rename_key"]


def rename_key(key: str, rename: Sequence[tuple[str, str]]) -> str:
    """Replace the first matching ``old`` prefix of ``key`` with its ``new`` one.

    Prefixes are plain strings: give ``("encoder/", "enc/")`` for TF scopes and
    ``("encoder.", "enc.")`` for torch names; dots and slashes are never translated.
    """
    for old, new in rename:
        if key.startswith(old):
            return new + key[len(old) :]
    return key


def _pipeline(
    tensors: Iterable[tuple[str, np.ndarray]],
    rename: Sequence[tuple[str, str]],
    cast: np.dtype[Any] | None,
    progress: Callable[[int], None] | None,
) -> Iterator[tuple[str, np.ndarray]]:
    for key, array in tensors:
        if cast is not None and is_floating(array.dtype) and array.dtype != cast:
            with np.errstate(over="ignore"):  # values beyond the target's range become ±inf
                array = array.astype(cast)
        yield rename_key(key, rename), array
        if progress is not None:
            progress(array.nbytes)


def _same_path(a: str, b: str) -> bool:
    if storage.is_url(a) or storage.is_url(b):
        return a.rstrip("/") == b.rstrip("/")
    return os.path.abspath(a) == os.path.abspath(b)


def convert_checkpoint(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    src_format: str | None = None,
    dst_format: str | None = None,
    rename: Sequence[tuple[str, str]] = (),
    dtype: str | None = None,
    max_shard_bytes: int = 4 << 30,
    progress: Callable[[int], None] | None = None,
) -> str:
    """Convert a checkpoint between TF, safetensors, npz and torch; return the path written.

    Args:
        src: a local path or an fsspec URL (``s3://``, ``memory://``...) naming a TF prefix or
            directory (its latest checkpoint), a ``.safetensors`` file, a
            ``model.safetensors.index.json`` or a directory holding one, an ``.npz``, or a
            ``.pt``/``.pth``/``.bin`` state dict.
        dst: where to write, a local path or an fsspec URL; its suffix picks the format as for
            ``src``, anything else is a TF prefix (an existing directory gets ``dir/ckpt`` plus
            its ``checkpoint`` file).
        src_format, dst_format: ``"tf"``, ``"safetensors"``, ``"npz"`` or ``"torch"``, to
            override detection.
        rename: ``(old_prefix, new_prefix)`` pairs; each key takes the first that matches.
        dtype: cast every floating tensor (float16/32/64, bfloat16, float8...) to this dtype;
            integers, booleans, complex numbers and strings are left as they are.
        max_shard_bytes: largest safetensors shard; more data gives several shards and an index.
        progress: called with the byte size of each tensor once it has been handed to the writer.

    Tensors are read and written one at a time (safetensors: one shard at a time), except for a
    torch destination, which ``torch.save`` needs whole in memory. TF's object graph is not
    carried over. Outputs appear only when complete; a failed conversion leaves none behind.
    On URLs, data files are uploaded first and an index or state file last; safetensors, npz
    and torch files are staged through local temporary files (TF streams directly).
    """
    src, dst = storage.normalize(src), storage.normalize(dst)
    source = check_format(src_format, "source") or detect_source(src)
    target = check_format(dst_format, "destination") or detect_destination(dst)
    if _same_path(src, dst):
        raise InvalidTensorError(f"source and destination are the same path: {src}", path=src)
    cast = float_dtype(dtype) if dtype is not None else None
    for fmt in {source, target} & {"safetensors", "torch"}:
        require(fmt, fmt)  # fail before reading anything if an optional package is missing

    readers = {"tf": tf.read, "safetensors": safetensors.read, "npz": npz.read, "torch": torch.read}
    tensors = _pipeline(readers[source](src), rename, cast, progress)
    created = _missing_directories(dst)
    try:
        if target == "tf":
            return tf.write(dst, tensors)
        if target == "safetensors":
            return safetensors.write(dst, tensors, max_shard_bytes=max_shard_bytes)
        if target == "npz":
            return npz.write(dst, tensors)
        return torch.write(dst, tensors)
    except BaseException:
        # The writers remove their own files; the directories made for them go too.
        for directory in created:
            with contextlib.suppress(OSError):  # not empty (someone else's files), or gone
                os.rmdir(directory)
        raise


def _missing_directories(dst: str) -> list[str]:
    """The local directories a write to ``dst`` may create, deepest first."""
    if storage.is_url(dst):
        return []
    missing = []
    directory = os.path.abspath(dst if dst.endswith(("/", os.sep)) else os.path.dirname(dst) or ".")
    while not os.path.exists(directory):
        missing.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    if not dst.endswith(("/", os.sep)) and not os.path.exists(dst):
        missing.insert(0, os.path.abspath(dst))  # a destination that is made a directory
    return missing
