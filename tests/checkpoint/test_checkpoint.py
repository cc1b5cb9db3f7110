"""``ckpt.Checkpoint``: save numbering, the state file, write, restore, read, save_counter."""

from __future__ import annotations

import os

import numpy as np
import pytest

import ckpt
from ckpt.checkpoint.status import (
    CheckpointLoadStatus,
    InitializationOnlyStatus,
    NameBasedSaverStatus,
)
from ckpt.errors import InvalidTensorError


def f32(value) -> np.ndarray:
    return np.asarray(value, np.float32)


def make(value: float = 1.0) -> ckpt.Checkpoint:
    model = ckpt.Module()
    model.w = ckpt.Variable(f32([value, value]))
    return ckpt.Checkpoint(model=model)


def test_save_numbering(tmp_path) -> None:
    checkpoint = make()
    base = str(tmp_path / "ckpt")
    assert checkpoint.save(base) == base + "-1"
    assert checkpoint.save(base) == base + "-2"
    assert checkpoint.save_counter.numpy() == 2
    assert checkpoint.save_counter.dtype == np.int64 and checkpoint.save_counter.shape == ()
    assert checkpoint.save_counter.name == "save_counter"
    for n in (1, 2):
        with ckpt.CheckpointReader(f"{base}-{n}") as reader:
            assert reader.get_tensor("save_counter/.ATTRIBUTES/VARIABLE_VALUE") == n
            assert reader.get_tensor("save_counter/.ATTRIBUTES/VARIABLE_VALUE").dtype == np.int64


def test_state_file_lists_only_the_newest_relative_path(tmp_path) -> None:
    checkpoint = make()
    checkpoint.save(str(tmp_path / "ckpt"))
    checkpoint.save(str(tmp_path / "ckpt"))
    with open(tmp_path / "checkpoint", encoding="utf-8") as f:
        text = f.read()
    assert text == 'model_checkpoint_path: "ckpt-2"\nall_model_checkpoint_paths: "ckpt-2"\n'
    state = ckpt.get_checkpoint_state(str(tmp_path))
    assert state.model_checkpoint_path == str(tmp_path / "ckpt-2")
    assert list(state.all_model_checkpoint_paths) == [str(tmp_path / "ckpt-2")]
    assert ckpt.latest_checkpoint(str(tmp_path)) == str(tmp_path / "ckpt-2")


def test_save_into_subdirectory_writes_state_there(tmp_path) -> None:
    checkpoint = make()
    path = checkpoint.save(str(tmp_path / "runs" / "a" / "ck"))
    assert path == str(tmp_path / "runs" / "a" / "ck-1")
    assert os.path.exists(tmp_path / "runs" / "a" / "checkpoint")
    assert not os.path.exists(tmp_path / "checkpoint")


def test_save_relative_prefix(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    checkpoint = make()
    assert checkpoint.save("out/ck") == os.path.join("out", "ck-1")
    with open(tmp_path / "out" / "checkpoint", encoding="utf-8") as f:
        assert f.read().startswith('model_checkpoint_path: "ck-1"\n')
    assert checkpoint.save("plain") == "plain-2"
    with open(tmp_path / "checkpoint", encoding="utf-8") as f:
        assert f.read().startswith('model_checkpoint_path: "plain-2"\n')


def test_write_has_no_counter_and_no_state_file(tmp_path) -> None:
    checkpoint = make()
    prefix = checkpoint.write(str(tmp_path / "exact"))
    assert prefix == str(tmp_path / "exact")
    assert not os.path.exists(tmp_path / "checkpoint")
    with ckpt.CheckpointReader(prefix) as reader:
        assert sorted(reader.keys()) == [
            "_CHECKPOINTABLE_OBJECT_GRAPH",
            "model/w/.ATTRIBUTES/VARIABLE_VALUE",
        ]
    assert "save_counter" not in checkpoint.__dict__


def test_write_after_save_includes_existing_counter(tmp_path) -> None:
    checkpoint = make()
    checkpoint.save(str(tmp_path / "s"))
    prefix = checkpoint.write(str(tmp_path / "w"))
    with ckpt.CheckpointReader(prefix) as reader:
        assert reader.get_tensor("save_counter/.ATTRIBUTES/VARIABLE_VALUE") == 1
    assert checkpoint.save_counter.numpy() == 1  # write does not increment
    with open(tmp_path / "checkpoint", encoding="utf-8") as f:
        assert '"s-1"' in f.read()


def test_restore_then_save_continues_numbering(tmp_path) -> None:
    first = make(3.0)
    first.save(str(tmp_path / "ck"))
    path = first.save(str(tmp_path / "ck"))
    second = make(0.0)
    status = second.restore(path)
    assert isinstance(status, CheckpointLoadStatus)
    status.assert_consumed()
    assert second.save_counter.numpy() == 2
    assert second.model.w.numpy().tolist() == [3, 3]
    assert second.save(str(tmp_path / "ck")) == str(tmp_path / "ck-3")


def test_restore_from_directory_uses_latest(tmp_path) -> None:
    checkpoint = make(1.0)
    checkpoint.save(str(tmp_path / "ck"))
    checkpoint.model.w.assign([5, 5])
    checkpoint.save(str(tmp_path / "ck"))
    fresh = make(0.0)
    fresh.restore(str(tmp_path)).assert_consumed()
    assert fresh.model.w.numpy().tolist() == [5, 5]
    assert fresh.save_counter.numpy() == 2


def test_restore_from_directory_without_checkpoints(tmp_path) -> None:
    with pytest.raises(ckpt.errors.CheckpointNotFoundError):
        make().restore(str(tmp_path))


def test_restore_none(tmp_path) -> None:
    checkpoint = make(4.0)
    status = checkpoint.restore(None)
    assert isinstance(status, InitializationOnlyStatus)
    assert checkpoint.model.w.numpy().tolist() == [4, 4]
    assert isinstance(checkpoint.read(None), InitializationOnlyStatus)


def test_read_does_not_create_the_counter(tmp_path) -> None:
    path = make(2.0).save(str(tmp_path / "ck"))
    fresh = make(0.0)
    fresh.read(path)
    assert "save_counter" not in fresh.__dict__
    assert fresh.model.w.numpy().tolist() == [2, 2]
    # created later, it receives the deferred value
    assert fresh.save_counter.numpy() == 1


def test_restore_creates_the_counter_first(tmp_path) -> None:
    path = make().save(str(tmp_path / "ck"))
    fresh = make(0.0)
    fresh.restore(path)
    assert "save_counter" in fresh.__dict__
    assert fresh.save_counter.numpy() == 1


def test_restore_written_checkpoint_leaves_counter_at_zero(tmp_path) -> None:
    path = make().write(str(tmp_path / "w"))
    fresh = make(0.0)
    fresh.restore(path)
    assert fresh.save_counter.numpy() == 0
    assert fresh.save(str(tmp_path / "ck")) == str(tmp_path / "ck-1")


def test_attributes_set_later_are_tracked(tmp_path) -> None:
    checkpoint = ckpt.Checkpoint()
    checkpoint.extra = ckpt.Variable(f32(3))
    checkpoint.items = [ckpt.Variable(f32(4))]
    path = checkpoint.write(str(tmp_path / "later"))
    with ckpt.CheckpointReader(path) as reader:
        assert sorted(reader.keys()) == [
            "_CHECKPOINTABLE_OBJECT_GRAPH",
            "extra/.ATTRIBUTES/VARIABLE_VALUE",
            "items/0/.ATTRIBUTES/VARIABLE_VALUE",
        ]


def test_non_trackable_keyword_is_refused() -> None:
    with pytest.raises(InvalidTensorError):
        ckpt.Checkpoint(lr=0.1)


def test_name_based_status_from_checkpoint(tmp_path) -> None:
    path = ckpt.write_tensors(str(tmp_path / "tf1"), {"w": f32([1, 2])})
    model = ckpt.Module()
    model.w = ckpt.Variable(f32([0, 0]))
    status = ckpt.Checkpoint(model=model).restore(path)
    assert isinstance(status, NameBasedSaverStatus)


def test_repr_lists_dependencies() -> None:
    text = repr(ckpt.Checkpoint(model=ckpt.Module(), opt=ckpt.Optimizer()))
    assert "model" in text and "opt" in text
