"""``ckpt.CheckpointManager``: numbering, the state file, retention, intervals, fallback, lock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ckpt
from ckpt.checkpoint import manager as manager_module
from ckpt.checkpoint.manager import LOCK_FILENAME, METRICS_FILENAME, CheckpointManager
from ckpt.errors import CheckpointLockedError, CorruptCheckpointError, InvalidTensorError
from ckpt.format import state as state_format


class Clock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(manager_module, "_now", fake)
    return fake


def make() -> tuple[ckpt.Checkpoint, ckpt.Variable]:
    v = ckpt.Variable(np.array([1.0, 2.0], dtype=np.float32))
    return ckpt.Checkpoint(v=v), v


def read_state(directory: Path) -> state_format.CheckpointState:
    return state_format.parse((directory / "checkpoint").read_text())


def files_of(prefix: str) -> list[str]:
    p = Path(prefix)
    return sorted(f.name for f in p.parent.glob(p.name + ".*"))


def test_save_numbers_and_state_file(tmp_path: Path, clock: Clock) -> None:
    c, _ = make()
    with CheckpointManager(c, tmp_path, max_to_keep=2) as m:
        assert m.latest_checkpoint is None and m.checkpoints == []
        paths = []
        for _ in range(3):
            clock.now += 10
            paths.append(m.save())
        assert paths == [str(tmp_path / f"ckpt-{n}") for n in (1, 2, 3)]
        assert m.checkpoints == paths[1:]
        assert m.latest_checkpoint == paths[2]
        assert m.directory == str(tmp_path)
        assert int(c.save_counter.numpy()) == 3
    state = read_state(tmp_path)
    assert state.model_checkpoint_path == "ckpt-3"
    assert state.all_model_checkpoint_paths == ["ckpt-2", "ckpt-3"]
    assert state.all_model_checkpoint_timestamps == [1_000_020.0, 1_000_030.0]
    assert state.last_preserved_timestamp == 999_999.0  # TF: creation time minus one second
    assert files_of(paths[0]) == []
    assert files_of(paths[2]) == ["ckpt-3.data-00000-of-00001", "ckpt-3.index"]
    assert ckpt.latest_checkpoint(tmp_path) == paths[2]


def test_explicit_number_and_name(tmp_path: Path) -> None:
    c, _ = make()
    step = ckpt.Variable(np.int64(700))
    with CheckpointManager(c, tmp_path, checkpoint_name="model") as m:
        assert m.save(checkpoint_number=42) == str(tmp_path / "model-42")
        assert m.save(checkpoint_number=step) == str(tmp_path / "model-700")
    assert int(c.save_counter.numpy()) == 2  # incremented even with a number given


def test_resaving_a_number_moves_it_to_the_end(tmp_path: Path) -> None:
    c, _ = make()
    with CheckpointManager(c, tmp_path, max_to_keep=3) as m:
        m.save(1)
        m.save(2)
        m.save(1)
        assert [Path(p).name for p in m.checkpoints] == ["ckpt-2", "ckpt-1"]


def test_max_to_keep_none_keeps_everything(tmp_path: Path) -> None:
    c, _ = make()
    with CheckpointManager(c, tmp_path, max_to_keep=None) as m:
        paths = [m.save() for _ in range(7)]
        assert m.checkpoints == paths
    assert all(files_of(p) for p in paths)


def test_invalid_arguments(tmp_path: Path) -> None:
    c, _ = make()
    with pytest.raises(InvalidTensorError, match="max_to_keep"):
        CheckpointManager(c, tmp_path, max_to_keep=0)
    with pytest.raises(InvalidTensorError, match="step_counter"):
        CheckpointManager(c, tmp_path, checkpoint_interval=3)
    assert not (tmp_path / LOCK_FILENAME).exists()


def test_keep_checkpoint_every_n_hours(tmp_path: Path, clock: Clock) -> None:
    c, _ = make()
    with CheckpointManager(c, tmp_path, max_to_keep=2, keep_checkpoint_every_n_hours=1) as m:
        saved = {}
        for minutes in range(0, 181, 20):  # one save every 20 minutes for 3 hours
            clock.now = 1_000_000.0 + minutes * 60
            saved[minutes] = m.save()
        preserved = sorted(
            minutes for minutes, p in saved.items() if files_of(p) and p not in m.checkpoints
        )
        # Preserved: the first save at least 1 h after the manager's start (clock - 1 s), then
        # one at least 1 h after the previous preserved one; the last two are still listed.
        assert preserved == [60, 120]
        assert [saved[160], saved[180]] == m.checkpoints
        state = read_state(tmp_path)
        assert state.last_preserved_timestamp == 1_000_000.0 + 120 * 60
    # A new manager carries on with the preserved timestamp and never lists the preserved ones.
    with CheckpointManager(c, tmp_path, max_to_keep=2, keep_checkpoint_every_n_hours=1) as m2:
        assert m2.checkpoints == [saved[160], saved[180]]
        assert m2._last_preserved_timestamp == 1_000_000.0 + 120 * 60


def test_recovers_from_state_file_and_drops_missing(tmp_path: Path, clock: Clock) -> None:
    c, _ = make()
    with CheckpointManager(c, tmp_path, max_to_keep=3) as m:
        paths = []
        for _ in range(3):
            clock.now += 1
            paths.append(m.save())
    os.unlink(paths[0] + ".index")
    with CheckpointManager(c, tmp_path, max_to_keep=3) as m2:
        assert m2.checkpoints == paths[1:]
        assert m2.latest_checkpoint == paths[2]
        clock.now += 1
        m2.save()
        clock.now += 1
        m2.save()
        assert [Path(p).name for p in m2.checkpoints] == ["ckpt-3", "ckpt-4", "ckpt-5"]
    os.unlink(str(tmp_path / "ckpt-5.index"))
    with CheckpointManager(c, tmp_path, max_to_keep=3) as m3:
        assert m3.latest_checkpoint == str(tmp_path / "ckpt-4")


def test_state_without_timestamps_like_tf(tmp_path: Path) -> None:
    """A directory written by ``Checkpoint.save`` has no timestamps: TF lists nothing."""
    c, _ = make()
    path = c.save(tmp_path / "ckpt")
    with CheckpointManager(c, tmp_path) as m:
        assert m.latest_checkpoint == path
        assert m.checkpoints == []
        assert m.restore_or_initialize() == path


def test_deletes_only_after_state_is_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c, _ = make()
    seen: list[tuple[list[str], bool]] = []
    real = manager_module.update_checkpoint_state

    def spy(directory: Any, path: str, paths: list[str], **kwargs: Any) -> str:
        seen.append((paths, os.path.exists(str(tmp_path / "ckpt-1.index"))))
        return real(directory, path, paths, **kwargs)

    monkeypatch.setattr(manager_module, "update_checkpoint_state", spy)
    with CheckpointManager(c, tmp_path, max_to_keep=1) as m:
        m.save()
        m.save()
    # The state file written with ckpt-2 already omits ckpt-1, whose files still exist then.
    assert seen[-1] == ([str(tmp_path / "ckpt-2")], True)
    assert not (tmp_path / "ckpt-1.index").exists()


def test_sync_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c, _ = make()
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    with CheckpointManager(c, tmp_path) as m:
        m.save()  # durable by default: data, index, directory, state file, directory
        default = len(calls)
        m.save(options=ckpt.CheckpointOptions(sync=False))
        opted_out = len(calls) - default
    assert default >= 4 and opted_out == 0


def test_checkpoint_interval(tmp_path: Path) -> None:
    c, _ = make()
    step = ckpt.Variable(np.int64(0))
    with CheckpointManager(
        c, tmp_path, max_to_keep=None, step_counter=step, checkpoint_interval=5
    ) as m:
        assert m.checkpoint_interval == 5
        saved = []
        for s in range(0, 13):
            step.assign(np.int64(s))
            if m.save() is not None:
                saved.append(s)
        assert saved == [0, 5, 10]
        step.assign(np.int64(11))
        assert m.save(check_interval=False) is not None
        assert m.save(check_interval=False) is None  # this step is already saved
        assert len(m.checkpoints) == 4


def test_restore_or_initialize(tmp_path: Path) -> None:
    c, v = make()
    calls = []
    with CheckpointManager(c, tmp_path, init_fn=lambda: calls.append(1)) as m:
        assert m.restore_or_initialize() is None
        assert calls == [1]
        v.assign(np.array([5.0, 6.0], dtype=np.float32))
        path = m.save()
    c2, v2 = make()
    with CheckpointManager(c2, tmp_path, init_fn=lambda: calls.append(2)) as m2:
        assert m2.restore_or_initialize() == path
        assert calls == [1]
        np.testing.assert_array_equal(v2.numpy(), [5.0, 6.0])
        assert int(c2.save_counter.numpy()) == 1
        assert m2.restore_status is not None
        m2.restore_status.assert_consumed()
        assert m2.save() == str(tmp_path / "ckpt-2")


def three_saves(tmp_path: Path) -> list[str]:
    c, v = make()
    paths = []
    with CheckpointManager(c, tmp_path) as m:
        for n in range(3):
            v.assign(np.array([n, n], dtype=np.float32))
            paths.append(m.save())
    return paths


def flip_byte(path: str, offset: int = 0) -> None:
    data = bytearray(Path(path).read_bytes())
    data[offset] ^= 0xFF
    Path(path).write_bytes(bytes(data))


def test_fallback_past_corrupt_and_missing(tmp_path: Path) -> None:
    paths = three_saves(tmp_path)
    flip_byte(paths[2] + ".data-00000-of-00001")
    os.unlink(paths[1] + ".data-00000-of-00001")
    c, v = make()
    with CheckpointManager(c, tmp_path) as m:
        assert m.restore_or_initialize() == paths[0]
        np.testing.assert_array_equal(v.numpy(), [0.0, 0.0])
        assert [s.path for s in m.skipped] == [paths[2], paths[1]]
        assert m.skipped[0].reason.startswith("corrupt")
        assert isinstance(m.skipped[0].error, CorruptCheckpointError)
        assert m.skipped[1].reason.startswith("missing file")
        # Without fallback the damaged latest is restored unchecked, and fails (as in TF).
        with pytest.raises(ckpt.errors.CheckpointError):
            m.restore_latest(fallback=False)


@pytest.mark.parametrize("damage", ["truncated data", "truncated index"])
def test_fallback_past_a_truncated_newest(tmp_path: Path, damage: str) -> None:
    paths = three_saves(tmp_path)
    target = Path(paths[2] + (".data-00000-of-00001" if damage == "truncated data" else ".index"))
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    c, v = make()
    with CheckpointManager(c, tmp_path) as m:
        assert m.restore_or_initialize() == paths[1]
        assert [s.path for s in m.skipped] == [paths[2]]
        assert isinstance(m.skipped[0].error, CorruptCheckpointError)
    np.testing.assert_array_equal(v.numpy(), [1.0, 1.0])  # the second save's values


def test_fallback_with_nothing_intact_raises(tmp_path: Path) -> None:
    paths = three_saves(tmp_path)
    for p in paths:
        flip_byte(p + ".data-00000-of-00001")
    c, _ = make()
    calls = []
    with CheckpointManager(c, tmp_path, init_fn=lambda: calls.append(1)) as m:
        with pytest.raises(CorruptCheckpointError, match="no intact checkpoint"):
            m.restore_or_initialize()
        assert len(m.skipped) == 3
    assert calls == []


def test_lock_refuses_second_manager(tmp_path: Path) -> None:
    c, _ = make()
    m = CheckpointManager(c, tmp_path)
    lock = tmp_path / LOCK_FILENAME
    assert not lock.exists()  # taken by the first save: restore-only managers never lock
    m.save()
    assert lock.exists()
    reader = CheckpointManager(c, tmp_path)  # a second manager may read...
    assert reader.latest_checkpoint == m.latest_checkpoint
    assert reader.restore_latest() == m.latest_checkpoint
    with pytest.raises(CheckpointLockedError, match="in use by another CheckpointManager") as err:
        reader.save()  # ...but not write
    assert err.value.owner["pid"] == os.getpid()
    assert err.value.path == str(lock)
    m.close()
    m.close()
    assert not lock.exists()
    with pytest.raises(ckpt.errors.CheckpointError, match="closed"):
        m.save()
    with CheckpointManager(c, tmp_path) as m2:
        m2.save()
    assert not lock.exists()


def test_lock_of_live_other_process_and_stale_lock(tmp_path: Path) -> None:
    c, _ = make()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    lock = tmp_path / LOCK_FILENAME
    import json
    import socket

    try:
        lock.write_text(json.dumps({"pid": child.pid, "hostname": socket.gethostname()}))
        with pytest.raises(CheckpointLockedError, match=f"process {child.pid}"):
            CheckpointManager(c, tmp_path).save()
    finally:
        child.kill()
        child.wait()
    # The holder is dead now: its lock is taken over.
    with CheckpointManager(c, tmp_path) as m:
        m.save()
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    # An unreadable lock is not taken over.
    lock.write_text("garbage")
    with pytest.raises(CheckpointLockedError, match="unknown owner"):
        CheckpointManager(c, tmp_path).save()


def test_lock_released_at_interpreter_exit(tmp_path: Path) -> None:
    code = (
        "import numpy as np, ckpt\n"
        "from ckpt.checkpoint.manager import CheckpointManager\n"
        "c = ckpt.Checkpoint(v=ckpt.Variable(np.float32(1)))\n"
        f"m = CheckpointManager(c, {str(tmp_path)!r})\n"
        "m.save()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert not (tmp_path / LOCK_FILENAME).exists()
    assert (tmp_path / "ckpt-1.index").exists()


def test_a_manager_nothing_references_releases_its_lock_and_its_model(tmp_path) -> None:
    # Re-running a notebook cell or a train() function builds a new manager for the same
    # directory: the old one, unreachable, must not keep the lock (or the model) alive.
    import gc
    import weakref

    variables = []

    def run() -> str:
        variable = ckpt.Variable(np.zeros(1000, np.float32))
        variables.append(weakref.ref(variable))
        manager = ckpt.CheckpointManager(ckpt.Checkpoint(v=variable), tmp_path, max_to_keep=2)
        return manager.save()

    run()
    run()
    gc.collect()
    assert [ref() for ref in variables] == [None, None]
    assert not (tmp_path / LOCK_FILENAME).exists()  # released when collected
    alive = ckpt.CheckpointManager(ckpt.Checkpoint(v=ckpt.Variable(np.float32(1))), tmp_path)
    alive.save()
    with pytest.raises(CheckpointLockedError):
        ckpt.CheckpointManager(ckpt.Checkpoint(v=ckpt.Variable(np.float32(1))), tmp_path).save()
    alive.close()


def test_edited_metrics_or_state_files_never_make_a_manager_delete_elsewhere(tmp_path) -> None:
    import json

    victim = ckpt.write_tensors(str(tmp_path / "victim" / "precious"), {"a": np.zeros(1)})
    elsewhere = ckpt.write_tensors(str(tmp_path / "other" / "ckpt-9"), {"a": np.zeros(1)})
    run = tmp_path / "run"
    run.mkdir()
    (run / METRICS_FILENAME).write_text(
        json.dumps({"metrics": {"../victim/precious": 1.0, victim: 2.0}})
    )
    ckpt.update_checkpoint_state(
        str(run), elsewhere, [elsewhere], all_model_checkpoint_timestamps=[1.0]
    )
    manager = CheckpointManager(ckpt.Checkpoint(v=ckpt.Variable(np.float32(1))), run, max_to_keep=1)
    manager.save()
    manager.save()
    manager.close()
    assert ckpt.checkpoint_exists(victim) and ckpt.checkpoint_exists(elsewhere)


@pytest.mark.parametrize("payload", ["[" * 100_000, '{"metrics": {"x": 1' + "0" * 400 + "}}"])
def test_hostile_metrics_file_is_a_typed_error(tmp_path, payload: str) -> None:
    (tmp_path / METRICS_FILENAME).write_text(payload)
    with pytest.raises(CorruptCheckpointError, match="metrics file"):
        CheckpointManager(ckpt.Checkpoint(v=ckpt.Variable(np.float32(1))), tmp_path)
