"""``ckpt.CheckpointableSaver``: save to a prefix (optionally numbered), restore onto a root."""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest

import ckpt
from ckpt.checkpoint.status import CheckpointLoadStatus, InitializationOnlyStatus


def net() -> ckpt.Module:
    module = ckpt.Module()
    module.w = ckpt.Variable(np.arange(4, dtype=np.float32))
    return module


def test_save_plain_prefix(tmp_path) -> None:
    prefix = ckpt.CheckpointableSaver(net()).save(str(tmp_path / "model"))
    assert prefix == str(tmp_path / "model")
    assert os.path.exists(prefix + ".index")
    assert os.path.exists(prefix + ".data-00000-of-00001")
    assert not os.path.exists(tmp_path / "checkpoint")  # no state file


def test_save_with_checkpoint_number(tmp_path) -> None:
    saver = ckpt.CheckpointableSaver(net())
    assert saver.save(str(tmp_path / "model"), checkpoint_number=7) == str(tmp_path / "model-7")
    assert saver.save(tmp_path / "model", 0) == str(tmp_path / "model-0")
    assert os.path.exists(str(tmp_path / "model-7") + ".index")
    assert not os.path.exists(tmp_path / "checkpoint")
    with ckpt.CheckpointReader(str(tmp_path / "model-7")) as reader:
        # the saver never adds a save counter
        assert sorted(reader.keys()) == [
            "_CHECKPOINTABLE_OBJECT_GRAPH",
            "w/.ATTRIBUTES/VARIABLE_VALUE",
        ]


def test_save_accepts_pathlike_and_creates_directories(tmp_path) -> None:
    target = pathlib.Path(tmp_path) / "deep" / "er" / "ck"
    prefix = ckpt.CheckpointableSaver(net()).save(target)
    assert prefix == str(target)
    assert ckpt.checkpoint_exists(prefix)


def test_save_overwrites(tmp_path) -> None:
    module = net()
    saver = ckpt.CheckpointableSaver(module)
    prefix = saver.save(str(tmp_path / "m"))
    module.w.assign(np.full(4, 9, np.float32))
    assert saver.save(str(tmp_path / "m")) == prefix
    assert ckpt.load_variable(prefix, "w/.ATTRIBUTES/VARIABLE_VALUE").tolist() == [9, 9, 9, 9]


def test_restore_statuses(tmp_path) -> None:
    prefix = ckpt.CheckpointableSaver(net()).save(str(tmp_path / "m"))
    fresh = net()
    fresh.w.assign(np.zeros(4, np.float32))
    status = ckpt.CheckpointableSaver(fresh).restore(prefix)
    assert isinstance(status, CheckpointLoadStatus)
    status.assert_consumed()
    assert fresh.w.numpy().tolist() == [0, 1, 2, 3]
    assert isinstance(ckpt.CheckpointableSaver(fresh).restore(None), InitializationOnlyStatus)


def test_restore_accepts_pathlike_and_index_path(tmp_path) -> None:
    prefix = ckpt.CheckpointableSaver(net()).save(str(tmp_path / "m"))
    fresh = net()
    fresh.w.assign(np.zeros(4, np.float32))
    ckpt.CheckpointableSaver(fresh).restore(pathlib.Path(prefix)).assert_consumed()
    assert fresh.w.numpy()[3] == 3
    fresh.w.assign(np.zeros(4, np.float32))
    ckpt.CheckpointableSaver(fresh).restore(prefix + ".index").assert_consumed()
    assert fresh.w.numpy()[3] == 3


def test_restore_missing_prefix(tmp_path) -> None:
    with pytest.raises(ckpt.errors.CheckpointNotFoundError) as info:
        ckpt.CheckpointableSaver(net()).restore(str(tmp_path / "ckpt"))
    message = str(info.value)
    assert str(tmp_path / "ckpt") in message
    assert "the '-1' in 'path/to/ckpt-1'" in message


def test_save_does_not_leave_files_on_error(tmp_path) -> None:
    module = net()
    module.bad = {3: ckpt.Variable(np.float32(1))}
    with pytest.raises(ckpt.errors.InvalidTensorError):
        ckpt.CheckpointableSaver(module).save(str(tmp_path / "bad"))
    assert os.listdir(tmp_path) == []


def test_sync_option(tmp_path) -> None:
    prefix = ckpt.CheckpointableSaver(net()).save(
        str(tmp_path / "s"), options=ckpt.CheckpointOptions(sync=True)
    )
    assert ckpt.load_variable(prefix, "w/.ATTRIBUTES/VARIABLE_VALUE").tolist() == [0, 1, 2, 3]


def test_options_defaults() -> None:
    options = ckpt.CheckpointOptions()
    assert options.allow_dtype_cast is False
    assert options.sync is False


def test_saved_values_are_a_snapshot(tmp_path) -> None:
    module = net()
    prefix = ckpt.CheckpointableSaver(module).save(str(tmp_path / "m"))
    module.w.numpy()[:] = -1
    assert ckpt.load_variable(prefix, "w/.ATTRIBUTES/VARIABLE_VALUE").tolist() == [0, 1, 2, 3]
