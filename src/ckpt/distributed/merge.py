"""Merging the partial indexes of a distributed save into one ``prefix.index`` (TF's MergeBundles).

Each process of a distributed save writes its entries to a partial index (a table in the index
format, next to its data shard). One process merges them: a sliced tensor's full entry may
appear in several partial indexes, and its ``slices`` are concatenated in shard order; any other
duplicate key is an error (format doc §5.1, ``MergeOneBundle``). Before the merged index is
written, every sliced tensor is checked to be covered exactly once by its slices, so no reader
ever meets a tensor it cannot assemble. Pure format code: no collectives, no torch.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Mapping, Sequence

from ckpt.errors import CorruptCheckpointError, InvalidTensorError
from ckpt.format import protos
from ckpt.format.bundle_reader import decode_key
from ckpt.format.bundle_writer import (
    _SlicedTensor,
    partial_index_filename,
    write_index,
)
from ckpt.format.dtypes import from_enum
from ckpt.format.naming import TEMP_MARKER
from ckpt.format.slices import TensorSlice
from ckpt.format.table import read_table

__all__ = ["merge_partial_indexes", "merge_records", "partial_index_path", "read_partial_index"]


def partial_index_path(prefix: str, shard: int, num_shards: int, temp_id: int) -> str:
    """Where process ``shard`` of a distributed save left its entries."""
    return f"{partial_index_filename(prefix, shard, num_shards)}{TEMP_MARKER}{temp_id}"


def read_partial_index(path: str) -> tuple[int, dict[bytes, bytes]]:
    """A partial index's ``num_shards`` (from its header) and its entries by raw key."""
    with open(path, "rb") as f:
        rows = read_table(f.read(), path)
    if not rows or rows[0][0] != b"":
        raise CorruptCheckpointError(f"{path}: partial index without a header", path=path)
    header = protos.BundleHeaderProto.FromString(rows[0][1])
    return int(header.num_shards), dict(rows[1:])


def _is_full_entry(entry: protos.BundleEntryProto) -> bool:
    return len(entry.slices) > 0


def merge_records(partials: Sequence[Mapping[bytes, bytes]]) -> dict[bytes, bytes]:
    """Merge per-shard entries: full entries of sliced tensors concatenate their slices.

    Raises :class:`~ckpt.errors.InvalidTensorError` for a key written by two shards, slices
    that disagree on dtype or full shape, overlap, or leave part of their tensor uncovered.
    """
    merged: dict[bytes, bytes] = {}
    full: dict[bytes, protos.BundleEntryProto] = {}
    for records in partials:
        for key, value in records.items():
            if key not in merged and key not in full:
                entry = protos.BundleEntryProto.FromString(value)
                if _is_full_entry(entry):
                    full[key] = entry
                else:
                    merged[key] = value
                continue
            name = decode_key(key)
            earlier = full.get(key)
            entry = protos.BundleEntryProto.FromString(value)
            if earlier is None or not _is_full_entry(entry):
                raise InvalidTensorError(
                    f"Adding duplicate key: {name!r} is written by two processes; a tensor "
                    "that is not sharded must be saved by one process only",
                    key=name,
                )
            if earlier.dtype != entry.dtype or earlier.shape != entry.shape:
                raise InvalidTensorError(
                    f"the slices of {name!r} disagree on dtype or full shape between processes",
                    key=name,
                )
            earlier.slices.extend(entry.slices)
    for key, entry in full.items():
        _check_cover(decode_key(key), entry)
        merged[key] = entry.SerializeToString()
    return merged


def _check_cover(name: str, entry: protos.BundleEntryProto) -> None:
    """Every element of the sliced tensor lies in exactly one slice."""
    shape = tuple(int(d.size) for d in entry.shape.dim)
    slices = [TensorSlice.from_proto(s) for s in entry.slices]
    first = slices[0].bounds(shape)
    axis = next((i for i, (a, b) in enumerate(first) if (a, b) != (0, shape[i])), 0)
    index = _SlicedTensor(from_enum(entry.dtype), shape, axis)
    covered = 0
    for s in slices:
        bounds = s.bounds(shape)
        if index.overlapping(bounds):
            raise InvalidTensorError(
                f"slice {s} of {name!r} overlaps another process's slice: give each piece "
                "to one replica only (replica_id=0)",
                key=name,
            )
        index.record(s, bounds, entry.shard_id)
        covered += math.prod(b - a for a, b in bounds)
    if covered != math.prod(shape):
        raise InvalidTensorError(
            f"the slices of {name!r} cover {covered} of its {math.prod(shape)} elements "
            f"(full shape {list(shape)}): some part of the tensor is owned by no process",
            key=name,
        )


def merge_partial_indexes(
    prefix: str, num_shards: int, temp_id: int, *, sync: bool = False
) -> str:
    """Merge the ``num_shards`` partial indexes of a save into ``prefix.index``; delete them.

    Writing the index (temp name, then rename) is the commit point of the distributed save.
    """
    paths = [partial_index_path(prefix, r, num_shards, temp_id) for r in range(num_shards)]
    partials = []
    for path in paths:
        shards, records = read_partial_index(path)
        if shards != num_shards:
            raise CorruptCheckpointError(
                f"{path}: written for {shards} shards, expected {num_shards}", path=path
            )
        partials.append(records)
    write_index(prefix, merge_records(partials), num_shards=num_shards, sync=sync)
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    return prefix
