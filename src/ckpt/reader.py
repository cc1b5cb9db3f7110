"""Inspecting and reading checkpoints with TensorFlow's API names, without TensorFlow.

``load_checkpoint`` returns a :class:`CheckpointReader` (as ``tf.train.load_checkpoint``
does); ``list_variables`` and ``load_variable`` are the usual one-liners. A path may be a
checkpoint prefix or a directory, which means its latest checkpoint.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from ckpt.checkpoint_management import latest_checkpoint
from ckpt.errors import (
    CheckpointNotFoundError,
    InvalidTensorError,
    UnsupportedCheckpointError,
)
from ckpt.format import naming, storage
from ckpt.format.bundle_reader import BundleReader
from ckpt.format.table import MAGIC

__all__ = [
    "CheckpointReader",
    "TensorInfo",
    "list_variables",
    "load_checkpoint",
    "load_variable",
]


class TensorInfo(NamedTuple):
    """What the index says about one tensor, without reading it."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any] | None  # None for dtypes ckpt cannot read (resource, variant)
    tf_dtype: str  # TF's name: "float32", "bfloat16", "string", ...
    shard: int | None  # data file index; None for sliced tensors (their slices say)
    nbytes: int  # bytes stored (all slices together for a sliced tensor)
    slices: tuple[str, ...]  # the stored slices of a partitioned tensor, "start,length:..."


Index = tuple[slice | int, ...] | slice | int


def _looks_like_table(path: str) -> bool:
    if storage.is_url(path):
        try:
            length = storage.size(path)
            tail = storage.read_range(path, length - 8, length) if length >= 48 else b""
        except OSError:
            return False
        return len(tail) == 8 and int.from_bytes(tail, "little") == MAGIC
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() < 48:
                return False
            f.seek(-8, os.SEEK_END)
            return int.from_bytes(f.read(8), "little") == MAGIC
    except OSError:
        return False


def _is_dir(path: str) -> bool:
    """A local directory, or a URL with a ``checkpoint`` state file under it or listed as one."""
    if not storage.is_url(path):
        return os.path.isdir(path)
    if storage.isfile(storage.join(path, "checkpoint")):
        return True
    return not naming.is_v2(path) and storage.isdir(path)


def _prefixes_in(directory: str) -> list[str]:
    """Prefixes of the committed checkpoints directly in ``directory``, sorted (for hints)."""
    try:
        names = storage.glob(storage.join(directory, "*" + naming.INDEX_SUFFIX))
    except Exception:  # a hint only: never mask the real error
        return []
    return sorted(
        n[: -len(naming.INDEX_SUFFIX)].rsplit("/", 1)[-1]
        for n in names
        if naming.TEMP_MARKER not in n
    )


def resolve_prefix(path_or_dir: str | os.PathLike[str]) -> str:
    """Turn a directory (its latest checkpoint), a prefix, or a ``.index`` path into a prefix."""
    path = storage.normalize(path_or_dir)
    if _is_dir(path):
        latest = latest_checkpoint(path)
        if latest is None:
            found = _prefixes_in(path)
            hint = (
                f" It holds checkpoint(s) {found[:5]}{'…' if len(found) > 5 else ''} but no "
                "'checkpoint' file naming the latest: pass one of them."
                if found
                else ""
            )
            raise CheckpointNotFoundError(
                f"Couldn't find 'checkpoint' file or checkpoints in given directory {path}."
                + hint,
                path=path,
            )
        path = latest
    if not naming.is_v2(path) and path.endswith(naming.INDEX_SUFFIX) and storage.isfile(path):
        path = path[: -len(naming.INDEX_SUFFIX)]
    if naming.is_v2(path):
        return path
    v1 = [f for f in naming.v1_files(path) if _looks_like_table(f)]
    if v1:
        raise UnsupportedCheckpointError(
            f"{path} is a legacy V1 checkpoint (written by tf.compat.v1.train.Saver with "
            "write_version=V1, before 2017); ckpt reads only the V2 format. Convert it once with "
            "TensorFlow: restore it with a V1 Saver and save it again with the default V2 format.",
            path=path,
        )
    raise CheckpointNotFoundError(
        f"no checkpoint found at {path!r}: {naming.index_filename(path)} does not exist. "
        "Pass the checkpoint prefix (e.g. 'dir/ckpt-1', without '.index') or its directory.",
        path=path,
    )


def _index_to_bounds(
    index: Index | list[Any], shape: tuple[int, ...], name: str
) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...]]:
    """Basic NumPy indexing (ints and step-1 slices) to bounds plus the axes ints remove."""
    if isinstance(index, list):
        # NumPy reads a list as fancy indexing (x[[0, 1]] takes rows 0 and 1); refuse it rather
        # than read it as the tuple x[0, 1].
        raise InvalidTensorError(
            f"index for {name!r} must be ints and slices (basic indexing), or a tuple of them; "
            f"got a list {index!r}",
            key=name,
        )
    items = list(index) if isinstance(index, tuple) else [index]
    if len(items) > len(shape):
        raise InvalidTensorError(f"too many indices for {name!r} of rank {len(shape)}", key=name)
    items += [slice(None)] * (len(shape) - len(items))
    bounds = []
    dropped = []
    for axis, (item, dim) in enumerate(zip(items, shape, strict=True)):
        if isinstance(item, slice):
            start, stop, step = item.indices(dim)
            if step != 1:
                raise InvalidTensorError(f"slices of {name!r} must have step 1", key=name)
            bounds.append((start, max(start, stop)))
        elif isinstance(item, (int, np.integer)):
            i = int(item) + dim if int(item) < 0 else int(item)
            if not 0 <= i < dim:
                raise InvalidTensorError(
                    f"index {int(item)} is out of bounds for axis {axis} of {name!r} "
                    f"with size {dim}",
                    key=name,
                )
            bounds.append((i, i + 1))
            dropped.append(axis)
        else:
            raise InvalidTensorError(
                f"index for {name!r} must be ints and slices, got {type(item).__name__}", key=name
            )
    return tuple(bounds), tuple(dropped)


class CheckpointReader:
    """Reads a V2 checkpoint: its keys, shapes and dtypes, and tensor values on demand.

    Opening parses only the ``.index`` file; tensor bytes are read from memory-mapped data files
    when asked for, and their CRC32C is verified first unless ``verify=False``.

    Sliced (partitioned) tensors appear once, under their name, with their full shape;
    :meth:`get_tensor` assembles them and :meth:`get_slice` reads only the stored slices a
    region touches.

    Args:
        path_or_dir: a checkpoint prefix, or a directory (its latest checkpoint).
        verify: check each tensor's CRC32C when it is read (the default).
        readahead: ``False`` reads only the bytes of the tensors asked for, without the
            kernel's readahead around them: for taking part of a large checkpoint.
    """

    def __init__(
        self, path_or_dir: str | os.PathLike[str], *, verify: bool = True, readahead: bool = True
    ) -> None:
        self._bundle = BundleReader(
            resolve_prefix(path_or_dir), verify=verify, readahead=readahead
        )

    @property
    def prefix(self) -> str:
        """The checkpoint prefix this reader opened."""
        return self._bundle.prefix

    @property
    def num_shards(self) -> int:
        """The number of data files (``prefix.data-NNNNN-of-<num_shards>``)."""
        return self._bundle.num_shards

    def has_tensor(self, name: str) -> bool:
        """Whether ``name`` is a key of the checkpoint (exact match, as in TF)."""
        return name in self._bundle

    def get_tensor(
        self, name: str, *, out: np.ndarray | None = None, verify: bool | None = None
    ) -> np.ndarray:
        """The value of tensor ``name`` as a NumPy array.

        Args:
            name: the tensor's key.
            out: an existing C-contiguous array of the tensor's shape and dtype to fill instead
                of allocating one; it is left untouched if verification fails.
            verify: check the CRC32C (default: the reader's setting).

        Strings come back as object arrays of ``bytes``.
        """
        return self._bundle.read(name, out=out, verify=verify)

    def get_slice(self, name: str, index: Index, *, verify: bool | None = None) -> np.ndarray:
        """Read part of a tensor, given NumPy basic indexing (ints and step-1 slices).

        Only the stored pieces the region touches are read; with verification each of those
        pieces is checksummed whole (from the memory map, without copying it).
        """
        entry = self._bundle.entry(name)
        bounds, dropped = _index_to_bounds(index, entry.shape, name)
        result = self._bundle.read_region(name, bounds, verify=verify)
        return (
            result.reshape([n for axis, n in enumerate(result.shape) if axis not in dropped])
            if dropped
            else result
        )

    def bytes_to_read(
        self, name: str, index: Index | None = None, *, verify: bool | None = None
    ) -> int:
        """Bytes of the data files that reading ``name`` (or region ``index`` of it) touches.

        With verification, each stored piece the region intersects is read whole, since its
        CRC32C covers all of it; ``verify=False`` reads only the region's elements.
        """
        entry = self._bundle.entry(name)
        if index is None:
            bounds = tuple((0, d) for d in entry.shape)
        else:
            bounds, _ = _index_to_bounds(index, entry.shape, name)
        return self._bundle.region_bytes(name, bounds, verify=verify)

    def get_view(self, name: str, *, verify: bool = False) -> np.ndarray:
        """A zero-copy, read-only array over the memory-mapped data.

        For numeric tensors stored whole; the view stays valid after :meth:`close`. It is
        **not verified** unless ``verify=True``, which checks the CRC32C first (reading every
        byte once) and raises :class:`~ckpt.errors.ChecksumMismatchError` on damage.
        """
        return self._bundle.view(name, verify=verify)

    def verify(self, name: str | None = None) -> None:
        """Check the CRC32C of one tensor, or of every tensor if ``name`` is ``None``.

        Raises the first :class:`~ckpt.errors.CheckpointError` found.
        """
        for key in [name] if name is not None else self._bundle.keys():
            self._bundle.verify_tensor(key)

    def get_tensor_info(self, name: str) -> TensorInfo:
        """Shape, dtype, size and layout of tensor ``name``, from the index alone."""
        entry = self._bundle.entry(name)
        if not entry.is_sliced:
            return TensorInfo(
                name,
                entry.shape,
                entry.dtype.numpy,
                entry.dtype.name,
                entry.shard_id,
                entry.size,
                (),
            )
        pieces = self._bundle.slice_entries(name)
        return TensorInfo(
            name,
            entry.shape,
            entry.dtype.numpy,
            entry.dtype.name,
            None,
            sum(p.size for p in pieces),
            tuple(str(s) for s in entry.slices),
        )

    def get_variable_to_shape_map(self) -> dict[str, list[int]]:
        """``{name: shape}`` for every tensor (sliced tensors with their full shape)."""
        shape = self._bundle.shape
        return {k: list(shape(k)) for k in self._bundle}

    def get_variable_to_dtype_map(self) -> dict[str, np.dtype[Any]]:
        """``{name: numpy dtype}``; ``ml_dtypes`` for bfloat16/float8/int4, ``object`` for strings.

        Entries of a dtype ckpt cannot read (resource, variant) are left out.
        """
        result = {}
        for k in self._bundle:
            dtype = self._bundle.entry(k).dtype.numpy
            if dtype is not None:
                result[k] = dtype
        return result

    def get_variable_to_tf_dtype_map(self) -> dict[str, str]:
        """``{name: TF dtype name}`` (``"float32"``, ``"bfloat16"``, ``"string"``, ...)."""
        return {k: self._bundle.entry(k).dtype.name for k in self._bundle}

    def debug_string(self) -> str:
        """One line per tensor: ``name (DT_NAME) [d0,d1]``."""
        lines = []
        for k in self._bundle:
            entry = self._bundle.entry(k)
            dims = ",".join(str(d) for d in entry.shape)
            lines.append(f"{k} ({entry.dtype.enum_name}) [{dims}]")
        return "\n".join(lines) + ("\n" if lines else "")

    def keys(self) -> list[str]:
        """Tensor names in index (bytewise) order."""
        return self._bundle.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self._bundle)

    def __contains__(self, name: object) -> bool:
        return name in self._bundle

    def __len__(self) -> int:
        return len(self._bundle)

    def close(self) -> None:
        """Release the memory maps of the data files."""
        self._bundle.close()

    def __enter__(self) -> CheckpointReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CheckpointReader({self.prefix!r}, {len(self)} tensors)"


def load_checkpoint(
    ckpt_dir_or_file: str | os.PathLike[str], *, verify: bool = True
) -> CheckpointReader:
    """Open a checkpoint (a prefix, or a directory meaning its latest checkpoint)."""
    return CheckpointReader(ckpt_dir_or_file, verify=verify)


def load_variable(ckpt_dir_or_file: str | os.PathLike[str], name: str) -> np.ndarray:
    """The value of one tensor; a trailing ``:0`` on ``name`` is ignored, as in TF."""
    if name.endswith(":0"):
        name = name[:-2]
    with load_checkpoint(ckpt_dir_or_file) as reader:
        return reader.get_tensor(name)


def list_variables(ckpt_dir_or_file: str | os.PathLike[str]) -> list[tuple[str, list[int]]]:
    """Sorted ``(name, shape)`` pairs of every tensor in the checkpoint."""
    with load_checkpoint(ckpt_dir_or_file) as reader:
        return sorted(reader.get_variable_to_shape_map().items())
