"""``status.report()``: the structured RestoreReport and its printed table."""

from __future__ import annotations

import numpy as np

import ckpt


def f32(value) -> np.ndarray:
    return np.asarray(value, np.float32)


def source_checkpoint(tmp_path) -> str:
    net = ckpt.Module()
    net.layers = [ckpt.Variable(f32([1, 2])), ckpt.Variable(f32(3))]
    net.gone = ckpt.Variable(f32(4))
    net.later = ckpt.Variable(f32(5))
    return ckpt.Checkpoint(model=net).save(str(tmp_path / "src"))


def partial_restore(tmp_path):
    prefix = source_checkpoint(tmp_path)
    net = ckpt.Module()
    net.layers = [ckpt.Variable(f32([0, 0])), ckpt.Variable(f32(0))]
    net.extra = ckpt.Variable(f32(9))
    checkpoint = ckpt.Checkpoint(model=net)
    return prefix, checkpoint, checkpoint.restore(prefix)


def test_report_fields(tmp_path) -> None:
    prefix, _checkpoint, status = partial_restore(tmp_path)
    report = status.report()
    assert isinstance(report, ckpt.RestoreReport)
    assert report.checkpoint == prefix
    assert sorted(report.matched) == sorted(
        [
            ("(root).model.layers.0", "model/layers/0/.ATTRIBUTES/VARIABLE_VALUE"),
            ("(root).model.layers.1", "model/layers/1/.ATTRIBUTES/VARIABLE_VALUE"),
            ("(root).save_counter", "save_counter/.ATTRIBUTES/VARIABLE_VALUE"),
        ]
    )
    assert report.missing_from_checkpoint == ["(root).model.extra"]
    assert report.unused_in_checkpoint == [
        "model/gone/.ATTRIBUTES/VARIABLE_VALUE",
        "model/later/.ATTRIBUTES/VARIABLE_VALUE",
    ]
    assert sorted(report.pending) == ["(root).model.gone", "(root).model.later"]
    assert report.mismatches == []
    assert report.complete is False


def test_report_is_a_snapshot_that_follows_deferred_restores(tmp_path) -> None:
    _, checkpoint, status = partial_restore(tmp_path)
    before = status.report()
    checkpoint.model.later = ckpt.Variable(f32(0))
    after = status.report()
    assert ("(root).model.later", "model/later/.ATTRIBUTES/VARIABLE_VALUE") in after.matched
    assert ("(root).model.later", "model/later/.ATTRIBUTES/VARIABLE_VALUE") not in before.matched
    assert after.pending == ["(root).model.gone"]
    assert after.unused_in_checkpoint == ["model/gone/.ATTRIBUTES/VARIABLE_VALUE"]
    assert checkpoint.model.later.numpy() == 5


def test_complete_report(tmp_path) -> None:
    prefix = source_checkpoint(tmp_path)
    net = ckpt.Module()
    net.layers = [ckpt.Variable(f32([0, 0])), ckpt.Variable(f32(0))]
    net.gone = ckpt.Variable(f32(0))
    net.later = ckpt.Variable(f32(0))
    report = ckpt.Checkpoint(model=net).restore(prefix).report()
    assert report.complete
    assert len(report.matched) == 5
    assert not (report.missing_from_checkpoint or report.unused_in_checkpoint or report.pending)


def test_str_table(tmp_path) -> None:
    prefix, _, status = partial_restore(tmp_path)
    text = str(status.report())
    lines = text.splitlines()
    assert prefix in lines[0]
    for fragment in (
        "3 matched",
        "1 missing from the checkpoint",
        "2 unused in the checkpoint",
        "2 pending",
        "0 mismatched",
    ):
        assert fragment in lines[0]
    body = "\n".join(lines[1:])
    assert "(root).model.layers.0" in body
    assert "model/layers/0/.ATTRIBUTES/VARIABLE_VALUE" in body
    assert "(root).model.extra" in body
    assert "model/gone/.ATTRIBUTES/VARIABLE_VALUE" in body
    assert "(root).model.later" in body
    # one row per entry plus a header row
    assert len(lines) == 1 + 1 + 3 + 1 + 2 + 2
    matched_rows = [line for line in lines if line.strip().startswith("matched")]
    assert len(matched_rows) == 3
    # rows are aligned: the object column starts at the same offset on every row
    columns = {line.index("(root)") for line in lines[2:] if "(root)" in line}
    assert len(columns) == 1


def test_str_of_empty_report() -> None:
    text = str(ckpt.RestoreReport("some/prefix"))
    assert text.splitlines() == [
        "Restore from some/prefix: 0 matched, 0 missing from the checkpoint, "
        "0 unused in the checkpoint, 0 pending, 0 mismatched"
    ]
    assert ckpt.RestoreReport("x").complete


def test_initialization_only_report() -> None:
    net = ckpt.Module()
    net.v = ckpt.Variable(f32(1))
    net.sub = ckpt.Module()
    net.sub.w = ckpt.Variable(f32(2))
    report = ckpt.CheckpointableSaver(net).restore(None).report()
    assert report.matched == []
    assert report.missing_from_checkpoint == ["(root).v", "(root).sub.w"]
    assert not report.complete
