"""``ckpt.CheckpointManager`` against ``tf.train.CheckpointManager`` (TensorFlow 2.21), both ways.

* TF's manager opened on a ckpt-managed directory lists the same checkpoints, keeps the same
  ``last_preserved_timestamp`` and restores the latest into an equivalent ``tf.Module``;
* ckpt's manager picks up a directory TF's manager wrote (kept list, latest, timestamps), and
  restores it;
* with the same fake clock, the same saves give byte-identical state files (retention with
  ``max_to_keep`` and ``keep_checkpoint_every_n_hours`` included) and the same files on disk.

Skipped without TensorFlow unless ``CKPT_REQUIRE_TF`` is set.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tf_support import import_tensorflow

import ckpt
from ckpt.checkpoint import manager as manager_module
from ckpt.checkpoint.manager import CheckpointManager

tf, TF_MISSING = import_tensorflow()
if tf is not None:
    from tensorflow.python.checkpoint import checkpoint_management as tf_management

pytestmark = [pytest.mark.tf, pytest.mark.skipif(tf is None, reason=TF_MISSING)]


def ckpt_objects(value: float = 0.0) -> tuple[ckpt.Checkpoint, ckpt.Module]:
    net = ckpt.Module()
    net.w = ckpt.Variable(np.full((2, 3), value, dtype=np.float32))
    net.b = ckpt.Variable(np.float64(value))
    return ckpt.Checkpoint(model=net), net


def tf_objects(value: float = 0.0) -> tuple[Any, Any]:
    net = tf.Module()
    net.w = tf.Variable(np.full((2, 3), value, dtype=np.float32))
    net.b = tf.Variable(np.float64(value))
    return tf.train.Checkpoint(model=net), net


def state_text(directory: Path) -> str:
    return (directory / "checkpoint").read_text()


def checkpoint_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("ckpt-"))


def test_tf_manager_reads_ckpt_directory(tmp_path: Path) -> None:
    c, net = ckpt_objects()
    with CheckpointManager(c, tmp_path, max_to_keep=2) as m:
        for n in range(4):
            net.w.assign(np.full((2, 3), n, dtype=np.float32))
            net.b.assign(np.float64(n))
            m.save()
        ours = m.checkpoints
        preserved = m._last_preserved_timestamp
    t, tnet = tf_objects(-1.0)
    tm = tf.train.CheckpointManager(t, str(tmp_path), max_to_keep=2)
    assert tm.checkpoints == ours
    assert tm.latest_checkpoint == ours[-1]
    assert tm._last_preserved_timestamp == preserved
    assert tm.restore_or_initialize() == ours[-1]
    np.testing.assert_array_equal(tnet.w.numpy(), np.full((2, 3), 3, dtype=np.float32))
    assert tnet.b.numpy() == 3.0
    assert int(t.save_counter.numpy()) == 4
    # TF carries on from there: numbering and retention continue, ckpt's files are deleted.
    assert tm.save() == str(tmp_path / "ckpt-5")
    assert checkpoint_files(tmp_path) == [
        "ckpt-4.data-00000-of-00001",
        "ckpt-4.index",
        "ckpt-5.data-00000-of-00001",
        "ckpt-5.index",
    ]


def test_ckpt_manager_reads_tf_directory(tmp_path: Path) -> None:
    t, tnet = tf_objects()
    tm = tf.train.CheckpointManager(t, str(tmp_path), max_to_keep=3)
    for n in range(5):
        tnet.w.assign(np.full((2, 3), n, dtype=np.float32))
        tm.save()
    before = ckpt.get_checkpoint_state(tmp_path)
    assert before is not None and len(before.all_model_checkpoint_timestamps) == 3
    c, net = ckpt_objects(-1.0)
    with CheckpointManager(c, tmp_path, max_to_keep=3) as m:
        assert m.checkpoints == tm.checkpoints
        assert m.latest_checkpoint == tm.latest_checkpoint
        assert m._last_preserved_timestamp == tm._last_preserved_timestamp
        assert m.restore_or_initialize() == tm.latest_checkpoint
        assert m.skipped == []
        np.testing.assert_array_equal(net.w.numpy(), np.full((2, 3), 4, dtype=np.float32))
        assert m.save() == str(tmp_path / "ckpt-6")
    after = ckpt.get_checkpoint_state(tmp_path)
    assert after is not None
    # TF's timestamps of the checkpoints still kept are carried over unchanged.
    assert after.all_model_checkpoint_timestamps[:2] == before.all_model_checkpoint_timestamps[1:]
    assert after.last_preserved_timestamp == before.last_preserved_timestamp
    assert after.all_model_checkpoint_paths == [str(tmp_path / f"ckpt-{n}") for n in (4, 5, 6)]


def run_both(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kwargs: dict[str, Any],
    steps: list[tuple[float, Callable[[Any], Any]]],
) -> tuple[Path, Path]:
    """Run the same saves with TF's and ckpt's managers under the same fake clock."""
    now = [0.0]
    monkeypatch.setattr(manager_module, "_now", lambda: now[0])
    monkeypatch.setattr(tf_management, "time", types.SimpleNamespace(time=lambda: now[0]))
    ours, theirs = tmp_path / "ckpt", tmp_path / "tf"
    now[0] = 1_700_000_000.25
    t, _ = tf_objects()
    tm = tf.train.CheckpointManager(t, str(theirs), **kwargs)
    c, _ = ckpt_objects()
    m = CheckpointManager(c, ours, **kwargs)
    for at, action in steps:
        now[0] = at
        action(tm)
        action(m)
    m.close()
    return ours, theirs


def test_same_state_files_as_tf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = 1_700_000_000.25
    steps: list[tuple[float, Callable[[Any], Any]]] = [
        (base + minutes * 60 + 0.123456789, lambda mgr: mgr.save()) for minutes in range(0, 301, 25)
    ]
    steps.append((base + 99_999.5, lambda mgr: mgr.save(checkpoint_number=3)))
    ours, theirs = run_both(
        tmp_path, monkeypatch, {"max_to_keep": 3, "keep_checkpoint_every_n_hours": 1.5}, steps
    )
    assert state_text(ours) == state_text(theirs)
    assert checkpoint_files(ours) == checkpoint_files(theirs)
    assert "all_model_checkpoint_timestamps" in state_text(ours)


def test_same_state_files_keep_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[tuple[float, Callable[[Any], Any]]] = [
        (1_700_000_010.0 + n, lambda mgr: mgr.save()) for n in range(4)
    ]
    ours, theirs = run_both(tmp_path, monkeypatch, {"max_to_keep": None}, steps)
    assert state_text(ours) == state_text(theirs)
    assert checkpoint_files(ours) == checkpoint_files(theirs)
