"""``ShardedVariable`` in one process: the saver writes its slice, restores read its region only
(the ``saver``/``restore`` support for sliced nodes), and the replicated-value plan."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
import torch

import ckpt
from ckpt.checkpoint.saver import SaveItem
from ckpt.distributed import ShardedVariable
from ckpt.distributed.save import assign_owners
from ckpt.errors import CorruptCheckpointError, ShapeMismatchError

FULL = np.arange(40, dtype=np.float32).reshape(10, 4)
KEY = "emb/.ATTRIBUTES/VARIABLE_VALUE"


def piece(rows: tuple[int, int], cols: tuple[int, int] = (0, 4)) -> ShardedVariable:
    local = np.zeros((rows[1] - rows[0], cols[1] - cols[0]), np.float32)
    return ShardedVariable(local, full_shape=FULL.shape, offsets=(rows[0], cols[0]), name="emb")


def test_whole_piece_is_a_plain_entry_and_restores_by_region(tmp_path: pathlib.Path) -> None:
    path = ckpt.Checkpoint(emb=ShardedVariable(FULL.copy(), full_shape=(10, 4), offsets=(0, 0)))
    prefix = path.write(str(tmp_path / "c"))
    info = ckpt.CheckpointReader(prefix).get_tensor_info(KEY)
    assert info.slices == () and info.shape == (10, 4)
    target = piece((3, 7), (1, 3))
    status = ckpt.Checkpoint(emb=target).read(prefix)
    status.assert_consumed()
    np.testing.assert_array_equal(target.local, FULL[3:7, 1:3])


def test_piece_is_saved_as_a_slice_with_tf_layout(tmp_path: pathlib.Path) -> None:
    source = piece((2, 5))
    source.local[...] = FULL[2:5]
    prefix = ckpt.Checkpoint(emb=source).write(str(tmp_path / "c"))
    reader = ckpt.CheckpointReader(prefix)
    info = reader.get_tensor_info(KEY)
    assert info.shape == (10, 4) and info.slices == ("2,3:0,4",)
    same = piece((3, 5))
    ckpt.Checkpoint(emb=same).read(prefix).assert_consumed()
    np.testing.assert_array_equal(same.local, FULL[3:5])
    # A region the checkpoint does not hold cannot be assembled.
    with pytest.raises(CorruptCheckpointError, match="sufficient slices"):
        ckpt.Checkpoint(emb=piece((0, 3))).read(prefix)


def test_full_shape_is_checked_not_the_piece_shape(tmp_path: pathlib.Path) -> None:
    prefix = ckpt.Checkpoint(emb=ShardedVariable(FULL, full_shape=(10, 4), offsets=(0, 0))).write(
        str(tmp_path / "c")
    )
    wrong = ShardedVariable(np.zeros((2, 4), np.float32), full_shape=(12, 4), offsets=(0, 0))
    with pytest.raises(ShapeMismatchError, match=r"\(10, 4\) in the checkpoint, \(12, 4\)"):
        ckpt.Checkpoint(emb=wrong).read(prefix)
    assert not wrong.local.any()  # nothing assigned


def test_torch_piece_restores_in_place_and_async_snapshot_keeps_slices(
    tmp_path: pathlib.Path,
) -> None:
    source = ShardedVariable(
        torch.from_numpy(FULL[5:].copy()), full_shape=(10, 4), offsets=(5, 0), name="emb"
    )
    root = ckpt.Checkpoint(emb=source)
    prefix = root.write(str(tmp_path / "c"), options=ckpt.CheckpointOptions(enable_async=True))
    root.sync()
    assert ckpt.CheckpointReader(prefix).get_tensor_info(KEY).slices == ("5,5:0,4",)
    tensor = torch.zeros(3, 2)
    ckpt.Checkpoint(
        emb=ShardedVariable(tensor, full_shape=(10, 4), offsets=(6, 2), name="emb")
    ).read(prefix).assert_consumed()
    assert torch.equal(tensor, torch.from_numpy(FULL[6:9, 2:4]))


def test_replicated_values_are_balanced_by_bytes_deterministically() -> None:
    sizes = [800, 100, 400, 400, 300, 8]
    items = [SaveItem(f"k{i}", np.zeros(n, np.uint8)) for i, n in enumerate(sizes)]
    items.append(SaveItem("sliced", np.zeros(4), piece((0, 1)).info))
    owners = assign_owners(items, 3, graph_bytes=50)
    # LPT: 800 -> rank 1 (rank 0 starts with the graph), 400 -> 2, 400 -> 0, 300 -> 2, ...
    assert owners == [1, 0, 2, 0, 2, 0, -1]
    loads = [50, 0, 0]
    for item, owner in zip(items, owners, strict=True):
        if owner >= 0:
            loads[owner] += item.value.nbytes
    assert max(loads) - min(loads) <= 400
    assert assign_owners(items, 3, graph_bytes=50) == owners
