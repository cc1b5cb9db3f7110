"""``CheckpointOptions(enable_async=True)``: snapshot in the caller, write in the background."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ckpt
from ckpt.checkpoint import saver as saver_module
from ckpt.errors import CheckpointError

ASYNC = ckpt.CheckpointOptions(enable_async=True)
KEY = "v/.ATTRIBUTES/VARIABLE_VALUE"


def value_in(prefix: str, key: str = KEY) -> np.ndarray:
    with ckpt.CheckpointReader(prefix) as reader:
        return reader.get_tensor(key)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Background writes wait until the returned event is set (set on teardown too)."""
    event = threading.Event()
    original = saver_module.Snapshot.write

    def gated(self: Any, prefix: str, options: Any) -> str:
        assert event.wait(10), "test forgot to open the gate"
        return original(self, prefix, options)

    monkeypatch.setattr(saver_module.Snapshot, "write", gated)
    yield event
    event.set()


def failing_write(exc: BaseException) -> Callable[..., str]:
    def write(self: Any, prefix: str, options: Any) -> str:
        raise exc

    return write


def test_values_changed_after_save_do_not_leak(tmp_path: Path, gate: threading.Event) -> None:
    var = ckpt.Variable(np.zeros(1000, np.float32))
    obj = ckpt.Checkpoint(v=var)
    path = obj.save(str(tmp_path / "ckpt"), options=ASYNC)
    assert path == str(tmp_path / "ckpt-1")
    var.assign(np.ones(1000, np.float32))
    assert not os.path.exists(path + ".index")  # still pending: nothing visible yet
    assert ckpt.latest_checkpoint(str(tmp_path)) is None
    gate.set()
    obj.sync()
    np.testing.assert_array_equal(value_in(path), np.zeros(1000, np.float32))
    assert ckpt.latest_checkpoint(str(tmp_path)) == path
    assert value_in(path, "save_counter/.ATTRIBUTES/VARIABLE_VALUE") == 1


def test_write_async_is_byte_identical_to_sync(tmp_path: Path) -> None:
    var = ckpt.Variable(np.arange(12, dtype=np.float64).reshape(3, 4))
    obj = ckpt.Checkpoint(v=var, state=ckpt.Checkpoint(w=ckpt.Variable(np.int32(7))))
    obj.write(str(tmp_path / "sync"))
    async_path = obj.write(str(tmp_path / "async"), options=ASYNC)
    assert async_path == str(tmp_path / "async")
    obj.sync()
    for suffix in (".index", ".data-00000-of-00001"):
        assert (tmp_path / f"sync{suffix}").read_bytes() == (
            tmp_path / f"async{suffix}"
        ).read_bytes()
    assert not (tmp_path / "checkpoint").exists()  # write never touches the state file


def test_sync_without_pending_save_is_a_noop(tmp_path: Path) -> None:
    obj = ckpt.Checkpoint(v=ckpt.Variable(np.zeros(3)))
    obj.sync()
    path = obj.save(str(tmp_path / "ckpt"))  # synchronous: complete on return
    assert os.path.exists(path + ".index")
    assert obj._ckpt_async is None  # the default never starts a background thread
    obj.sync()


def test_at_most_one_pending_save(tmp_path: Path, gate: threading.Event) -> None:
    obj = ckpt.Checkpoint(v=ckpt.Variable(np.zeros(3)))
    obj.save(str(tmp_path / "ckpt"), options=ASYNC)
    second = threading.Thread(target=obj.save, args=(str(tmp_path / "ckpt"),))
    second.start()
    second.join(0.3)
    assert second.is_alive()  # waits for the first save before snapshotting
    gate.set()
    second.join(10)
    assert not second.is_alive()
    obj.sync()
    assert ckpt.latest_checkpoint(str(tmp_path)) == str(tmp_path / "ckpt-2")
    assert os.path.exists(str(tmp_path / "ckpt-1.index"))


def test_error_surfaces_on_sync(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    obj = ckpt.Checkpoint(v=ckpt.Variable(np.zeros(3)))
    bad = str(tmp_path / "file" / "ckpt")
    assert obj.write(bad, options=ASYNC) == bad  # returns: the failure is in the background
    with pytest.raises(CheckpointError, match="asynchronous save") as info:
        obj.sync()
    assert info.value.path == bad
    assert isinstance(info.value.__cause__, OSError)
    obj.sync()  # reported once
    path = obj.write(str(tmp_path / "good"), options=ASYNC)
    obj.sync()
    assert os.path.exists(path + ".index")


@pytest.mark.parametrize("call", ["save", "write", "restore", "read"])
def test_error_surfaces_on_next_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    var = ckpt.Variable(np.zeros(3))
    obj = ckpt.Checkpoint(v=var)
    good = obj.save(str(tmp_path / "ckpt"))
    monkeypatch.setattr(saver_module.Snapshot, "write", failing_write(RuntimeError("boom")))
    obj.save(str(tmp_path / "ckpt"), options=ASYNC)
    with pytest.raises(CheckpointError, match="boom") as info:
        if call in ("save", "write"):
            getattr(obj, call)(str(tmp_path / "next"), options=ASYNC)
        else:
            getattr(obj, call)(good)
    monkeypatch.undo()
    assert isinstance(info.value.__cause__, RuntimeError)
    # The failed save never became visible; the state file still names the good one.
    assert not os.path.exists(str(tmp_path / "ckpt-2.index"))
    assert ckpt.latest_checkpoint(str(tmp_path)) == good
    obj.sync()  # the error was raised once


def test_restore_after_async_save(tmp_path: Path) -> None:
    net = ckpt.Module(name="net")
    net.w = ckpt.Variable(np.arange(6, dtype=np.float32).reshape(2, 3))
    net.b = ckpt.Variable(np.ones(3, np.float32))
    obj = ckpt.Checkpoint(model=net)
    path = obj.save(str(tmp_path / "ckpt"), options=ASYNC)
    net.w.assign(np.zeros((2, 3), np.float32))

    other = ckpt.Module(name="net")
    other.w = ckpt.Variable(np.zeros((2, 3), np.float32))
    other.b = ckpt.Variable(np.zeros(3, np.float32))
    restored = ckpt.Checkpoint(model=other)
    obj.sync()
    restored.restore(path).assert_consumed()
    np.testing.assert_array_equal(other.w.numpy(), np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(other.b.numpy(), np.ones(3, np.float32))
    assert int(restored.save_counter.numpy()) == 1
    # Restoring onto the saving object waits for its own pending save.
    obj.save(str(tmp_path / "ckpt"), options=ASYNC)
    obj.restore(path).assert_consumed()
    np.testing.assert_array_equal(net.w.numpy(), np.arange(6, dtype=np.float32).reshape(2, 3))


def test_manager_back_to_back_saves(tmp_path: Path) -> None:
    var = ckpt.Variable(np.zeros(4, np.float32))
    obj = ckpt.Checkpoint(v=var)
    manager = ckpt.CheckpointManager(obj, str(tmp_path), max_to_keep=2)
    paths = []
    for step in range(5):
        var.assign(np.full(4, step, np.float32))
        paths.append(manager.save(options=ASYNC))
        var.assign(np.full(4, -1, np.float32))  # must not leak into the pending save
    assert paths == [str(tmp_path / f"ckpt-{n}") for n in range(1, 6)]
    obj.sync()
    assert manager.checkpoints == paths[-2:]
    assert manager.latest_checkpoint == paths[-1]
    state = ckpt.get_checkpoint_state(str(tmp_path))
    assert state is not None
    assert state.model_checkpoint_path == paths[-1]
    assert list(state.all_model_checkpoint_paths) == paths[-2:]
    for n, path in enumerate(paths):
        assert os.path.exists(path + ".index") == (n >= 3)
    for n in (3, 4):
        np.testing.assert_array_equal(value_in(paths[n]), np.full(4, n, np.float32))
    manager.close()


def test_manager_records_only_after_commit(tmp_path: Path, gate: threading.Event) -> None:
    obj = ckpt.Checkpoint(v=ckpt.Variable(np.zeros(3)))
    manager = ckpt.CheckpointManager(obj, str(tmp_path), max_to_keep=1)
    first = manager.save()  # synchronous
    second = manager.save(options=ASYNC)
    assert manager.latest_checkpoint == first  # not recorded until written
    assert ckpt.latest_checkpoint(str(tmp_path)) == first
    assert os.path.exists(first + ".index")
    gate.set()
    assert manager.restore_latest() == second  # waits for the pending save
    assert manager.checkpoints == [second]
    assert not os.path.exists(first + ".index")
    manager.close()


def test_manager_failed_async_save(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    obj = ckpt.Checkpoint(v=ckpt.Variable(np.zeros(3)))
    manager = ckpt.CheckpointManager(obj, str(tmp_path), max_to_keep=2)
    first = manager.save(options=ASYNC)
    obj.sync()
    monkeypatch.setattr(saver_module.Snapshot, "write", failing_write(OSError("disk full")))
    manager.save(options=ASYNC)
    with pytest.raises(CheckpointError, match="disk full"):
        manager.save(options=ASYNC)
    monkeypatch.undo()
    assert manager.checkpoints == [first]  # the failed save was never recorded
    third = manager.save(options=ASYNC)
    assert third == str(tmp_path / "ckpt-3")  # the failed attempt used number 2
    manager.close()  # waits for the pending save
    state = ckpt.get_checkpoint_state(str(tmp_path))
    assert state is not None
    assert list(state.all_model_checkpoint_paths) == [first, third]


def test_interpreter_exit_waits_for_pending_save(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import time
        import numpy as np
        import ckpt
        from ckpt.checkpoint import saver

        original = saver.Snapshot.write

        def slow(self, prefix, options):
            time.sleep(1.0)
            return original(self, prefix, options)

        saver.Snapshot.write = slow
        var = ckpt.Variable(np.arange(1000, dtype=np.float32))
        obj = ckpt.Checkpoint(v=var)
        manager = ckpt.CheckpointManager(obj, {str(tmp_path / "m")!r}, max_to_keep=3)
        manager.save(options=ckpt.CheckpointOptions(enable_async=True))
        path = obj.save({str(tmp_path / "c" / "ckpt")!r},
                        options=ckpt.CheckpointOptions(enable_async=True))
        var.assign(np.zeros(1000, dtype=np.float32))
        print(path, flush=True)
        """
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 1.0
    path = result.stdout.strip()
    assert path == str(tmp_path / "c" / "ckpt-2")
    assert ckpt.latest_checkpoint(str(tmp_path / "c")) == path
    np.testing.assert_array_equal(value_in(path), np.arange(1000, dtype=np.float32))
    managed = ckpt.latest_checkpoint(str(tmp_path / "m"))
    assert managed == str(tmp_path / "m" / "ckpt-1")
    np.testing.assert_array_equal(value_in(managed), np.arange(1000, dtype=np.float32))
    assert not (tmp_path / "m" / ".ckpt-manager.lock").exists()


def test_options_default_and_docs() -> None:
    assert ckpt.CheckpointOptions().enable_async is False
    assert "enable_async" in (ckpt.CheckpointOptions.__doc__ or "")
