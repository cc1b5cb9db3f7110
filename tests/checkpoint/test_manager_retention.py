"""``ckpt.CheckpointManager``: cleanup of interrupted saves, keep_every_k_steps, keep_best."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

import ckpt
from ckpt.checkpoint.manager import METRICS_FILENAME, CheckpointManager
from ckpt.errors import InvalidTensorError
from ckpt.format import naming
from ckpt.format.bundle_writer import BundleWriter


def make() -> ckpt.Checkpoint:
    return ckpt.Checkpoint(v=ckpt.Variable(np.array([1.0, 2.0], dtype=np.float32)))


def on_disk(directory: Path) -> list[int]:
    """Numbers of the complete checkpoints (with an index) in ``directory``."""
    return sorted(
        int(p.name[len("ckpt-") : -len(".index")]) for p in directory.glob("ckpt-*.index")
    )


def temps(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if naming.TEMP_MARKER in p.name)


# --- leftovers of interrupted saves --------------------------------------------------------


def plant_leftovers(directory: Path) -> None:
    (directory / "ckpt-9.data-00000-of-00001.tempstate123456").write_bytes(b"x" * 10)
    (directory / "ckpt-9.index.tempstate99").write_bytes(b"x")
    (directory / "checkpoint.tempstate42").write_text("model_checkpoint_path: 'ckpt-9'\n")
    (directory / "other.tempstate7").write_bytes(b"x")
    # Renamed data of a save interrupted before its index was written.
    (directory / "ckpt-8.data-00000-of-00001").write_bytes(b"y" * 10)


def test_readers_ignore_leftovers(tmp_path: Path) -> None:
    c = make()
    with CheckpointManager(c, tmp_path) as m:
        path = m.save()
    plant_leftovers(tmp_path)
    assert ckpt.latest_checkpoint(tmp_path) == path
    reader = ckpt.load_checkpoint(path)
    reader.verify()
    fresh = make()
    fresh.restore(path).assert_consumed()
    assert not ckpt.checkpoint_management.checkpoint_exists(str(tmp_path / "ckpt-8"))


def test_save_cleans_leftovers(tmp_path: Path) -> None:
    c = make()
    (tmp_path / "unrelated.data-00000-of-00001").write_bytes(b"z")  # not our name: untouched
    (tmp_path / "notes.txt").write_text("keep me")
    plant_leftovers(tmp_path)  # an interrupted earlier run, before this manager existed
    with CheckpointManager(c, tmp_path, max_to_keep=2) as m:
        m.save()
        m.save()
        assert temps(tmp_path) == []
        assert not (tmp_path / "ckpt-8.data-00000-of-00001").exists()
        assert (tmp_path / "unrelated.data-00000-of-00001").exists()
        assert (tmp_path / "notes.txt").exists()
        assert on_disk(tmp_path) == [1, 2]
        for prefix in m.checkpoints:
            ckpt.load_checkpoint(prefix).verify()


def test_cleanup_spares_kept_checkpoints_and_saves_in_progress(tmp_path: Path) -> None:
    c = make()
    with CheckpointManager(c, tmp_path, max_to_keep=3) as m:
        first = m.save()
        m.save()
        # A kept checkpoint whose index went missing keeps its data (restore_latest reports it).
        Path(first + ".index").unlink()
        writer = BundleWriter(str(tmp_path / "ckpt-50"))  # a save in progress in this process
        writer.add("a", np.zeros(3, np.float32))
        in_progress = temps(tmp_path)
        assert in_progress
        m.save()
        assert temps(tmp_path) == in_progress
        assert Path(first + ".data-00000-of-00001").exists()
        writer.finish()
        assert temps(tmp_path) == []
        ckpt.load_checkpoint(str(tmp_path / "ckpt-50")).verify()


def test_state_temp_of_concurrent_update_is_registered() -> None:
    seen: list[dict[str, str]] = []
    naming.register_temp(".tempstate1", "x")
    t = threading.Thread(target=lambda: seen.append(naming.active_temps()))
    t.start()
    t.join()
    naming.unregister_temp(".tempstate1")
    assert seen == [{".tempstate1": "x"}]
    assert ".tempstate1" not in naming.active_temps()


# --- keep_every_k_steps --------------------------------------------------------------------


def test_keep_every_k_steps(tmp_path: Path) -> None:
    c = make()
    with CheckpointManager(c, tmp_path, max_to_keep=2, keep_every_k_steps=3) as m:
        for _ in range(8):
            m.save()
        assert [Path(p).name for p in m.checkpoints] == ["ckpt-7", "ckpt-8"]
    assert on_disk(tmp_path) == [3, 6, 7, 8]
    # A new manager keeps them too (they are never deleted).
    with CheckpointManager(c, tmp_path, max_to_keep=2, keep_every_k_steps=3) as m:
        for _ in range(2):
            m.save()
    assert on_disk(tmp_path) == [3, 6, 9, 10]


def test_keep_every_k_steps_with_explicit_numbers(tmp_path: Path) -> None:
    c = make()
    with CheckpointManager(c, tmp_path, max_to_keep=1, keep_every_k_steps=100) as m:
        for step in (50, 100, 150, 200, 250):
            m.save(checkpoint_number=step)
    assert on_disk(tmp_path) == [100, 200, 250]


# --- keep_best -----------------------------------------------------------------------------


def test_keep_best_min(tmp_path: Path) -> None:
    c = make()
    losses = [5.0, 1.0, 4.0, 0.5, 3.0, 2.0, 6.0]
    with CheckpointManager(c, tmp_path, max_to_keep=2, keep_best=2) as m:
        for loss in losses:
            m.save(metric=loss)
        assert [Path(p).name for p in m.best_checkpoints] == ["ckpt-4", "ckpt-2"]
        assert [Path(p).name for p in m.checkpoints] == ["ckpt-6", "ckpt-7"]
        assert m.metrics == {str(tmp_path / f"ckpt-{n}"): losses[n - 1] for n in (2, 4, 6, 7)}
    assert on_disk(tmp_path) == [2, 4, 6, 7]
    data = json.loads((tmp_path / METRICS_FILENAME).read_text())
    assert data["metrics"] == {"ckpt-2": 1.0, "ckpt-4": 0.5, "ckpt-6": 2.0, "ckpt-7": 6.0}
    assert data["mode"] == "min"
    # The state file lists only the recent ones, as TF would.
    assert ckpt.get_checkpoint_state(tmp_path).all_model_checkpoint_paths == [  # type: ignore[union-attr]
        str(tmp_path / "ckpt-6"),
        str(tmp_path / "ckpt-7"),
    ]


def test_keep_best_max_and_recovery(tmp_path: Path) -> None:
    c = make()
    with CheckpointManager(c, tmp_path, max_to_keep=1, keep_best=1, mode="max") as m:
        for acc in (0.1, 0.9, 0.3):
            m.save(metric=np.float32(acc))
    assert on_disk(tmp_path) == [2, 3]
    # A new manager recovers the metrics: ckpt-2 stays best until something beats it.
    with CheckpointManager(c, tmp_path, max_to_keep=1, keep_best=1, mode="max") as m:
        assert [Path(p).name for p in m.best_checkpoints] == ["ckpt-2"]
        m.save(metric=0.5)
        assert on_disk(tmp_path) == [2, 4]
        m.save(metric=ckpt.Variable(np.float32(0.95)))
        assert on_disk(tmp_path) == [5]
        m.save(metric=0.2)
        assert on_disk(tmp_path) == [5, 6]


def test_keep_best_composes_with_k_steps_and_no_metric(tmp_path: Path) -> None:
    c = make()
    with CheckpointManager(c, tmp_path, max_to_keep=1, keep_best=1, keep_every_k_steps=4) as m:
        m.save(metric=1.0)  # 1
        m.save()  # 2: no metric, never best
        m.save(metric=3.0)  # 3
        m.save(metric=0.1)  # 4: best and a multiple of 4
        m.save(metric=0.05)  # 5: new best; 4 stays as a multiple of 4
        m.save()  # 6
        assert on_disk(tmp_path) == [4, 5, 6]
        for _ in range(3):
            m.save()  # 7, 8, 9
    assert on_disk(tmp_path) == [4, 5, 8, 9]


def test_keep_best_with_hours_preserved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ckpt.checkpoint import manager as manager_module

    now = [1_000_000.0]
    monkeypatch.setattr(manager_module, "_now", lambda: now[0])
    c = make()
    kw = {"max_to_keep": 1, "keep_best": 1, "keep_checkpoint_every_n_hours": 1.0}
    with CheckpointManager(c, tmp_path, **kw) as m:  # type: ignore[arg-type]
        now[0] += 7200
        m.save(metric=1.0)  # 1
        now[0] += 10
        m.save(metric=2.0)  # 2: 1 is preserved by the hour rule (and best)
    data = json.loads((tmp_path / METRICS_FILENAME).read_text())
    assert data["preserved"] == ["ckpt-1"]
    with CheckpointManager(c, tmp_path, **kw) as m:  # type: ignore[arg-type]
        now[0] += 10
        m.save(metric=0.5)  # 3: new best; 1 stays (preserved), 2 goes
    assert on_disk(tmp_path) == [1, 3]


def test_resave_without_metric_forgets_it(tmp_path: Path) -> None:
    c = make()
    with CheckpointManager(c, tmp_path, max_to_keep=3, keep_best=1) as m:
        m.save(checkpoint_number=1, metric=1.0)
        m.save(checkpoint_number=1)
        assert m.metrics == {}
        assert json.loads((tmp_path / METRICS_FILENAME).read_text())["metrics"] == {}


def test_no_sidecar_without_metrics(tmp_path: Path) -> None:
    c = make()
    with CheckpointManager(c, tmp_path, keep_best=2) as m:
        m.save()
    assert not (tmp_path / METRICS_FILENAME).exists()


def test_invalid_retention_arguments(tmp_path: Path) -> None:
    c = make()
    for kwargs in ({"keep_every_k_steps": 0}, {"keep_best": -1}, {"mode": "best"}):
        with pytest.raises(InvalidTensorError):
            CheckpointManager(c, tmp_path, **kwargs)  # type: ignore[arg-type]
    with CheckpointManager(c, tmp_path, keep_best=1) as m, pytest.raises(InvalidTensorError):
        m.save(metric=float("nan"))
