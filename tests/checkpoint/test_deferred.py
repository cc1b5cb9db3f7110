"""Deferred restoration: dependencies created after ``restore()`` receive checkpointed values."""

from __future__ import annotations

import numpy as np
import pytest

import ckpt
from ckpt.errors import ShapeMismatchError


def f32(value) -> np.ndarray:
    return np.asarray(value, np.float32)


class Encoder(ckpt.Module):
    """A module whose variables exist only after ``build``."""

    def build(self) -> None:
        self.w = ckpt.Variable(np.zeros((2, 2), np.float32))
        self.blocks = []
        for _ in range(2):
            block = ckpt.Module()
            self.blocks.append(block)
            block.scale = ckpt.Variable(np.float32(0))


def built_encoder(offset: float) -> Encoder:
    encoder = Encoder()
    encoder.build()
    encoder.w.assign(np.eye(2) + offset)
    for i, block in enumerate(encoder.blocks):
        block.scale.assign(offset + i)
    return encoder


def save_encoder(tmp_path, offset: float, name: str) -> str:
    checkpoint = ckpt.Checkpoint(model=ckpt.Module())
    checkpoint.model.encoder = built_encoder(offset)
    checkpoint.model.head = ckpt.Variable(f32([offset, offset]))
    return checkpoint.save(str(tmp_path / name))


def test_attribute_assignment(tmp_path) -> None:
    prefix = ckpt.Checkpoint(v=ckpt.Variable(f32([1, 2, 3]))).write(str(tmp_path / "a"))
    module = ckpt.Module()
    status = ckpt.CheckpointableSaver(module).restore(prefix)
    module.v = ckpt.Variable(f32([0, 0, 0]))
    assert module.v.numpy().tolist() == [1, 2, 3]
    status.assert_consumed()


def test_checkpoint_attribute_assignment(tmp_path) -> None:
    prefix = ckpt.Checkpoint(v=ckpt.Variable(f32(7))).save(str(tmp_path / "a"))
    checkpoint = ckpt.Checkpoint()
    status = checkpoint.restore(prefix)
    checkpoint.v = ckpt.Variable(f32(0))
    assert checkpoint.v.numpy() == 7
    status.assert_consumed()


def test_nested_module_whose_children_come_later(tmp_path) -> None:
    prefix = save_encoder(tmp_path, 10.0, "n")
    checkpoint = ckpt.Checkpoint(model=ckpt.Module())
    status = checkpoint.restore(prefix)
    pending = status.report().pending
    assert pending == ["(root).model.encoder", "(root).model.head"]
    encoder = Encoder()
    checkpoint.model.encoder = encoder  # empty: its children are deferred again
    assert sorted(status.report().pending) == [
        "(root).model.encoder.blocks",
        "(root).model.encoder.w",
        "(root).model.head",
    ]
    encoder.build()
    assert np.array_equal(encoder.w.numpy(), np.eye(2) + 10)
    assert [b.scale.numpy().item() for b in encoder.blocks] == [10.0, 11.0]
    with pytest.raises(AssertionError):
        status.assert_consumed()
    checkpoint.model.head = ckpt.Variable(f32([0, 0]))
    assert checkpoint.model.head.numpy().tolist() == [10, 10]
    status.assert_consumed()
    assert status.report().pending == []


def test_subtree_assigned_whole(tmp_path) -> None:
    prefix = save_encoder(tmp_path, 3.0, "s")
    checkpoint = ckpt.Checkpoint(model=ckpt.Module())
    status = checkpoint.restore(prefix)
    checkpoint.model.encoder = built_encoder(-100)  # already built: restored in one go
    assert np.array_equal(checkpoint.model.encoder.w.numpy(), np.eye(2) + 3)
    assert checkpoint.model.encoder.blocks[1].scale.numpy() == 4
    status.assert_existing_objects_matched()


def test_list_of_modules_appended_later(tmp_path) -> None:
    root = ckpt.Module()
    root.layers = [ckpt.Module(), ckpt.Module()]
    for i, layer in enumerate(root.layers):
        layer.k = ckpt.Variable(f32(i + 1))
    prefix = ckpt.CheckpointableSaver(root).save(str(tmp_path / "l"))
    fresh = ckpt.Module()
    fresh.layers = []
    status = ckpt.CheckpointableSaver(fresh).restore(prefix)
    for _ in range(2):
        layer = ckpt.Module()
        fresh.layers.append(layer)
        layer.k = ckpt.Variable(f32(0))
    assert [layer.k.numpy().item() for layer in fresh.layers] == [1, 2]
    status.assert_consumed()


def test_newest_restore_wins(tmp_path) -> None:
    old = ckpt.Checkpoint(v=ckpt.Variable(f32(1))).write(str(tmp_path / "old"))
    new = ckpt.Checkpoint(v=ckpt.Variable(f32(2))).write(str(tmp_path / "new"))
    for first, second, expected in ((old, new, 2), (new, old, 1)):
        module = ckpt.Module()
        saver = ckpt.CheckpointableSaver(module)
        saver.restore(first)
        status = saver.restore(second)
        module.v = ckpt.Variable(f32(0))
        assert module.v.numpy() == expected
        status.assert_consumed()


def test_newest_restore_wins_for_nested_deferred(tmp_path) -> None:
    old = save_encoder(tmp_path, 1.0, "old")
    new = save_encoder(tmp_path, 2.0, "new")
    checkpoint = ckpt.Checkpoint(model=ckpt.Module())
    checkpoint.restore(old)
    checkpoint.restore(new)
    encoder = Encoder()
    checkpoint.model.encoder = encoder
    encoder.build()
    assert np.array_equal(encoder.w.numpy(), np.eye(2) + 2)
    assert [b.scale.numpy().item() for b in encoder.blocks] == [2.0, 3.0]


def test_immediate_restore_after_deferred_one_is_not_overwritten(tmp_path) -> None:
    old = ckpt.Checkpoint(v=ckpt.Variable(f32(1))).write(str(tmp_path / "old"))
    new = ckpt.Checkpoint(v=ckpt.Variable(f32(2))).write(str(tmp_path / "new"))
    module = ckpt.Module()
    saver = ckpt.CheckpointableSaver(module)
    saver.restore(old)  # parks v
    module.other = ckpt.Module()
    module.v = ckpt.Variable(f32(0))  # receives old's value
    assert module.v.numpy() == 1
    saver.restore(new)
    assert module.v.numpy() == 2


def test_deferred_value_is_consumed_once(tmp_path) -> None:
    prefix = ckpt.Checkpoint(v=ckpt.Variable(f32(5))).write(str(tmp_path / "once"))
    module = ckpt.Module()
    ckpt.CheckpointableSaver(module).restore(prefix)
    module.v = ckpt.Variable(f32(0))
    assert module.v.numpy() == 5
    module.v.assign(8)
    module.v = ckpt.Variable(f32(0))  # a replacement does not get the value again
    assert module.v.numpy() == 0


def test_nothing_deferred_for_empty_nodes(tmp_path) -> None:
    root = ckpt.Module()
    root.empty = ckpt.Module()
    root.v = ckpt.Variable(f32(1))
    prefix = ckpt.CheckpointableSaver(root).save(str(tmp_path / "e"))
    fresh = ckpt.Module()
    status = ckpt.CheckpointableSaver(fresh).restore(prefix)
    assert fresh._deferred_names() == ["v"]
    assert status.report().pending == ["(root).v"]


def test_deferred_shape_mismatch_raises_on_assignment(tmp_path) -> None:
    prefix = ckpt.Checkpoint(v=ckpt.Variable(f32([1, 2, 3]))).write(str(tmp_path / "m"))
    module = ckpt.Module()
    ckpt.CheckpointableSaver(module).restore(prefix)
    with pytest.raises(ShapeMismatchError):
        module.v = ckpt.Variable(f32([0, 0]))


def test_deferred_through_dict(tmp_path) -> None:
    root = ckpt.Module()
    root.heads = {"cls": ckpt.Module()}
    root.heads["cls"].w = ckpt.Variable(f32([4, 5]))
    prefix = ckpt.CheckpointableSaver(root).save(str(tmp_path / "d"))
    fresh = ckpt.Module()
    status = ckpt.CheckpointableSaver(fresh).restore(prefix)
    fresh.heads = {}
    head = ckpt.Module()
    fresh.heads["cls"] = head
    head.w = ckpt.Variable(f32([0, 0]))
    assert head.w.numpy().tolist() == [4, 5]
    status.assert_consumed()


def test_deferred_through_checkpoint_root_argument(tmp_path) -> None:
    """``Checkpoint(root=m)``: m is the graph's root (as in TF), so values wait on m."""
    source = ckpt.Module()
    source.x = ckpt.Variable(f32(3))
    source.sub = ckpt.Module()
    source.sub.y = ckpt.Variable(f32(4))
    prefix = ckpt.Checkpoint(root=source).save(str(tmp_path / "root"))
    module = ckpt.Module()
    status = ckpt.Checkpoint(root=module).restore(prefix)
    module.x = ckpt.Variable(f32(0))
    assert module.x.numpy() == 3
    module.sub = ckpt.Module()
    module.sub.y = ckpt.Variable(f32(0))
    assert module.sub.y.numpy() == 4
    status.assert_consumed()


def test_failed_deferred_restore_is_reported_and_can_be_retried(tmp_path) -> None:
    model = ckpt.Module()
    model.sub = ckpt.Module()
    model.sub.a = ckpt.Variable(np.arange(2, dtype=np.float32))
    model.sub.b = ckpt.Variable(np.arange(3, dtype=np.float32))
    path = ckpt.Checkpoint(m=model).write(str(tmp_path / "c"))
    fresh = ckpt.Module()
    status = ckpt.Checkpoint(m=fresh).read(path)
    wrong = ckpt.Module()
    wrong.a = ckpt.Variable(np.ones(2, np.float32))
    wrong.b = ckpt.Variable(np.ones(4, np.float32))
    with pytest.raises(ckpt.errors.ShapeMismatchError):
        fresh.sub = wrong
    np.testing.assert_array_equal(wrong.a.numpy(), np.ones(2))  # nothing was assigned
    assert not hasattr(fresh, "sub")  # nor the attribute, as in TF
    report = status.report()
    assert [(m.path, m.kind) for m in report.mismatches] == [("(root).m.sub.b", "shape")]
    assert report.pending == ["(root).m.sub"]
    assert len(report.unused_in_checkpoint) == 2
    right = ckpt.Module()
    right.a = ckpt.Variable(np.ones(2, np.float32))
    right.b = ckpt.Variable(np.ones(3, np.float32))
    fresh.sub = right  # the parked values apply to the next object under that name
    np.testing.assert_array_equal(right.b.numpy(), np.arange(3))
    status.assert_consumed()
    assert status.report().mismatches == []
