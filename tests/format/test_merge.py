"""One-shard writers and the index merge of distributed saves (``bundle_writer`` partial mode,
``ckpt.distributed.merge``): the merged checkpoint is byte-identical to a single writer's."""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest

import ckpt
from ckpt.distributed.merge import merge_partial_indexes, merge_records, read_partial_index
from ckpt.errors import InvalidTensorError
from ckpt.format import naming
from ckpt.format.bundle_writer import BundleWriter

RNG = np.random.default_rng(7)
W = RNG.standard_normal((7, 5)).astype(np.float32)
B = np.arange(6, dtype=np.int64)
S = np.array([b"ab", b"c"], dtype=object)

# What each of two processes writes: rank 0 rows 0..3 of "w" and "b"; rank 1 rows 4..6, "s".
PLAN: list[list[tuple[str, object, tuple[int, ...] | None]]] = [
    [("w", W[:4], (0, 0)), ("b", B, None)],
    [("w", W[4:], (4, 0)), ("s", S, None)],
]


def _add(writer: BundleWriter, shard: int, key: str, value: object, offset: object) -> None:
    if offset is None:
        writer.add(key, value, shard=shard)
    else:
        writer.add_slice(key, value, full_shape=W.shape, offset=offset, shard=shard)


def _distributed(prefix: str, temp_id: int = 42) -> list[BundleWriter]:
    writers = []
    for rank, items in enumerate(PLAN):
        writer = BundleWriter(prefix, num_shards=2, shard_id=rank, temp_id=temp_id)
        for key, value, offset in items:
            _add(writer, rank, key, value, offset)
        writer.finish_partial()
        writers.append(writer)
    return writers


def _files(prefix: str) -> list[str]:
    directory = os.path.dirname(prefix)
    return sorted(os.listdir(directory))


def test_merged_checkpoint_equals_single_writer_bytes(tmp_path: pathlib.Path) -> None:
    prefix = str(tmp_path / "dist" / "ckpt")
    writers = _distributed(prefix)
    for writer in writers:
        writer.commit_partial()
    merge_partial_indexes(prefix, 2, 42)
    for writer in writers:
        writer.release()
    assert not naming.active_temps()
    single = str(tmp_path / "single" / "ckpt")
    with BundleWriter(single, num_shards=2) as writer:
        for rank, items in enumerate(PLAN):
            for key, value, offset in items:
                _add(writer, rank, key, value, offset)
    for suffix in (".index", ".data-00000-of-00002", ".data-00001-of-00002"):
        assert pathlib.Path(prefix + suffix).read_bytes() == pathlib.Path(
            single + suffix
        ).read_bytes(), suffix
    # Partial indexes and temporary files are gone; only the checkpoint remains.
    assert _files(prefix) == ["ckpt.data-00000-of-00002", "ckpt.data-00001-of-00002", "ckpt.index"]
    reader = ckpt.CheckpointReader(prefix)
    np.testing.assert_array_equal(reader.get_tensor("w"), W)
    np.testing.assert_array_equal(reader.get_slice("w", (slice(2, 6), 1)), W[2:6, 1])
    assert reader.get_tensor("s").tolist() == [b"ab", b"c"]


def test_partial_writer_hides_its_files_until_committed(tmp_path: pathlib.Path) -> None:
    prefix = str(tmp_path / "ckpt")
    writers = _distributed(prefix)
    names = _files(prefix)
    assert all(".tempstate42" in name for name in names), names
    assert not os.path.exists(prefix + ".index")
    shards, records = read_partial_index(writers[1].partial_index_path())
    assert shards == 2 and b"s" in records
    writers[0].abort()
    writers[1].commit_partial()
    writers[1].abort()  # committed data without a merged index is deleted too
    assert _files(prefix) == []


def test_one_shard_writer_refuses_plain_finish(tmp_path: pathlib.Path) -> None:
    writer = BundleWriter(str(tmp_path / "c"), num_shards=3, shard_id=2)
    writer.add("x", np.zeros(2), shard=2)
    with pytest.raises(InvalidTensorError, match="finish_partial"):
        writer.finish()
    with pytest.raises(InvalidTensorError, match="not one of"):
        writer.add("y", np.zeros(2), shard=0)
    writer.abort()
    with pytest.raises(InvalidTensorError, match="outside"):
        BundleWriter(str(tmp_path / "c"), num_shards=2, shard_id=2)


Items = list[tuple[str, object, tuple[int, ...] | None]]


def _records(items: Items, tmp: pathlib.Path, rank: int) -> dict[bytes, bytes]:
    writer = BundleWriter(str(tmp / f"r{rank}"), num_shards=2, shard_id=rank)
    for key, value, offset in items:
        _add(writer, rank, key, value, offset)
    records = writer.records()
    writer.abort()
    return records


def test_merge_refuses_duplicates_overlaps_and_gaps(tmp_path: pathlib.Path) -> None:
    dup = [_records([("b", B, None)], tmp_path, 0), _records([("b", B, None)], tmp_path, 1)]
    with pytest.raises(InvalidTensorError, match="duplicate key"):
        merge_records(dup)
    overlap = [
        _records([("w", W[:4], (0, 0))], tmp_path, 0),
        _records([("w", W[3:], (3, 0))], tmp_path, 1),
    ]
    with pytest.raises(InvalidTensorError, match="overlaps"):
        merge_records(overlap)
    gap = [
        _records([("w", W[:3], (0, 0))], tmp_path, 0),
        _records([("w", W[4:], (4, 0))], tmp_path, 1),
    ]
    with pytest.raises(InvalidTensorError, match="cover 30 of its 35"):
        merge_records(gap)


@pytest.mark.tf
def test_tensorflow_assembles_the_merged_slices(tmp_path: pathlib.Path) -> None:
    tf = pytest.importorskip("tensorflow")
    prefix = str(tmp_path / "ckpt")
    writers = _distributed(prefix)
    for writer in writers:
        writer.commit_partial()
    merge_partial_indexes(prefix, 2, 42)
    for writer in writers:
        writer.release()
    reader = tf.train.load_checkpoint(prefix)
    np.testing.assert_array_equal(reader.get_tensor("w"), W)
    np.testing.assert_array_equal(reader.get_tensor("b"), B)
    assert sorted(reader.get_variable_to_shape_map()) == ["b", "s", "w"]
