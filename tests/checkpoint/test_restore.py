"""Restore matching (format doc §6.3): immediate assignment, checks before assigning, sharing."""

from __future__ import annotations

import numpy as np
import pytest

import ckpt
from ckpt.errors import CheckpointError, DtypeMismatchError, ShapeMismatchError


class Net(ckpt.Module):
    def __init__(self, a=(1, 2), b=(3, 4, 5), c=6.0, dtype=np.float32) -> None:
        super().__init__()
        self.a = ckpt.Variable(np.array(a, dtype))
        self.sub = ckpt.Module()
        self.sub.b = ckpt.Variable(np.array(b, dtype))
        self.c = ckpt.Variable(np.array(c, dtype))


def saved(tmp_path, root=None, name: str = "r") -> str:
    return ckpt.CheckpointableSaver(root if root is not None else Net()).save(str(tmp_path / name))


def values(net: Net) -> tuple:
    return (net.a.numpy().tolist(), net.sub.b.numpy().tolist(), net.c.numpy().tolist())


def test_immediate_assignment(tmp_path) -> None:
    prefix = saved(tmp_path)
    fresh = Net(a=(0, 0), b=(0, 0, 0), c=0.0)
    status = ckpt.CheckpointableSaver(fresh).restore(prefix)
    assert values(fresh) == ([1, 2], [3, 4, 5], 6.0)
    status.assert_consumed()


def test_restore_overwrites_later_changes(tmp_path) -> None:
    net = Net()
    prefix = saved(tmp_path, net)
    net.a.assign([10, 20])
    ckpt.CheckpointableSaver(net).restore(prefix)
    assert net.a.numpy().tolist() == [1, 2]


def test_shape_mismatch_assigns_nothing(tmp_path) -> None:
    prefix = saved(tmp_path)
    fresh = Net(a=(0, 0), b=(0, 0), c=0.0)  # b has the wrong shape
    with pytest.raises(ShapeMismatchError) as info:
        ckpt.CheckpointableSaver(fresh).restore(prefix)
    error = info.value
    assert isinstance(error, ValueError) and isinstance(error, CheckpointError)
    assert error.checkpoint_key == "sub/b/.ATTRIBUTES/VARIABLE_VALUE"
    assert error.key is not None and "sub" in error.key and "b" in error.key
    assert len(error.mismatches) == 1
    mismatch = error.mismatches[0]
    assert mismatch.kind == "shape"
    assert mismatch.checkpoint_key == "sub/b/.ATTRIBUTES/VARIABLE_VALUE"
    assert "3" in mismatch.found and "2" in mismatch.expected
    # Variables before and after the bad one in BFS order are untouched.
    assert values(fresh) == ([0, 0], [0, 0], 0.0)


def test_all_mismatches_reported(tmp_path) -> None:
    prefix = saved(tmp_path)
    fresh = Net(a=(0, 0, 0), b=(0,), c=0.0)
    with pytest.raises(ShapeMismatchError) as info:
        ckpt.CheckpointableSaver(fresh).restore(prefix)
    assert sorted(m.checkpoint_key for m in info.value.mismatches) == [
        "a/.ATTRIBUTES/VARIABLE_VALUE",
        "sub/b/.ATTRIBUTES/VARIABLE_VALUE",
    ]
    assert values(fresh) == ([0, 0, 0], [0], 0.0)


def test_dtype_mismatch_assigns_nothing(tmp_path) -> None:
    prefix = saved(tmp_path)
    fresh = Net(a=(0, 0), b=(0, 0, 0), c=0.0)
    fresh.c = ckpt.Variable(np.float64(0))  # float32 in the checkpoint
    with pytest.raises(DtypeMismatchError) as info:
        ckpt.CheckpointableSaver(fresh).restore(prefix)
    error = info.value
    assert isinstance(error, ValueError)
    assert error.checkpoint_key == "c/.ATTRIBUTES/VARIABLE_VALUE"
    assert [m.kind for m in error.mismatches] == ["dtype"]
    assert "float32" in error.mismatches[0].found
    assert "float64" in error.mismatches[0].expected
    assert values(fresh) == ([0, 0], [0, 0, 0], 0.0)


def test_allow_dtype_cast(tmp_path) -> None:
    root = ckpt.Module()
    root.x = ckpt.Variable(np.array([1.75, -2.5], np.float64))
    root.flag = ckpt.Variable(np.array([True, False]))
    prefix = saved(tmp_path, root)
    fresh = ckpt.Module()
    fresh.x = ckpt.Variable(np.zeros(2, np.int32))
    fresh.flag = ckpt.Variable(np.zeros(2, np.float32))
    options = ckpt.CheckpointOptions(allow_dtype_cast=True)
    ckpt.CheckpointableSaver(fresh).restore(prefix, options=options).assert_consumed()
    assert fresh.x.dtype == np.int32 and fresh.x.numpy().tolist() == [1, -2]
    assert fresh.flag.dtype == np.float32 and fresh.flag.numpy().tolist() == [1.0, 0.0]


def test_allow_dtype_cast_still_checks_shapes(tmp_path) -> None:
    prefix = saved(tmp_path)
    fresh = Net(a=(0, 0, 0), dtype=np.float64)
    with pytest.raises(ShapeMismatchError):
        ckpt.CheckpointableSaver(fresh).restore(
            prefix, options=ckpt.CheckpointOptions(allow_dtype_cast=True)
        )
    assert fresh.sub.b.numpy().tolist() == [3, 4, 5]  # its initial value, not restored


def test_string_into_number_is_refused_even_with_cast(tmp_path) -> None:
    root = ckpt.Module()
    root.n = ckpt.Variable(np.float32(1))
    root.s = ckpt.Variable(np.array([b"x", b"y"], object))
    prefix = saved(tmp_path, root)
    fresh = ckpt.Module()
    fresh.n = ckpt.Variable(np.float32(0))
    fresh.s = ckpt.Variable(np.zeros(2, np.float32))
    with pytest.raises(CheckpointError):
        ckpt.CheckpointableSaver(fresh).restore(
            prefix, options=ckpt.CheckpointOptions(allow_dtype_cast=True)
        )
    assert fresh.n.numpy() == 0 and fresh.s.numpy().tolist() == [0, 0]


class Counting(ckpt.Variable):
    calls = 0

    def _restore_from_tensors(self, tensors) -> None:
        type(self).calls += 1
        super()._restore_from_tensors(tensors)


def test_shared_python_object_restored_once_with_first_node(tmp_path) -> None:
    """TF binds both checkpoint nodes but restores the object once, from the first (BFS)."""
    root = ckpt.Module()
    root.a = ckpt.Variable(np.float32(1))
    root.b = ckpt.Variable(np.float32(2))
    prefix = saved(tmp_path, root)
    fresh = ckpt.Module()
    Counting.calls = 0
    shared = Counting(np.float32(0))
    fresh.a = shared
    fresh.b = shared
    status = ckpt.CheckpointableSaver(fresh).restore(prefix)
    assert shared.numpy() == 1  # TF 2.21 gives 1.0 here
    assert Counting.calls == 1
    status.assert_consumed()
    # b's value was not used: the report says so.
    assert status.report().unused_in_checkpoint == ["b/.ATTRIBUTES/VARIABLE_VALUE"]


def test_shared_checkpoint_object_restored_once(tmp_path) -> None:
    root = ckpt.Module()
    shared = ckpt.Variable(np.float32(5))
    root.a = shared
    root.deep = ckpt.Module()
    root.deep.again = shared
    prefix = saved(tmp_path, root)
    fresh = ckpt.Module()
    Counting.calls = 0
    target = Counting(np.float32(0))
    fresh.a = target
    fresh.deep = ckpt.Module()
    fresh.deep.again = target
    ckpt.CheckpointableSaver(fresh).restore(prefix).assert_consumed()
    assert target.numpy() == 5
    assert Counting.calls == 1


def test_inconsistent_binding_keeps_first(tmp_path) -> None:
    """Checkpoint shares one variable under two names; Python has two variables."""
    root = ckpt.Module()
    shared = ckpt.Variable(np.float32(1))
    root.a = shared
    root.b = shared
    prefix = saved(tmp_path, root)
    fresh = ckpt.Module()
    fresh.a = ckpt.Variable(np.float32(0))
    fresh.b = ckpt.Variable(np.float32(0))
    status = ckpt.CheckpointableSaver(fresh).restore(prefix)
    assert fresh.a.numpy() == 1
    assert fresh.b.numpy() == 0  # the node is already bound to fresh.a
    with pytest.raises(AssertionError, match="Found 1 Python objects"):
        status.assert_existing_objects_matched()
    status.assert_nontrivial_match()


def test_extra_python_objects_keep_their_values(tmp_path) -> None:
    prefix = saved(tmp_path)
    fresh = Net(a=(0, 0), b=(0, 0, 0), c=0.0)
    fresh.extra = ckpt.Variable(np.float32(42))
    ckpt.CheckpointableSaver(fresh).restore(prefix)
    assert fresh.extra.numpy() == 42
    assert values(fresh) == ([1, 2], [3, 4, 5], 6.0)


def test_restore_is_by_name_not_by_order(tmp_path) -> None:
    prefix = saved(tmp_path)
    fresh = ckpt.Module()
    fresh.c = ckpt.Variable(np.float32(0))
    fresh.sub = ckpt.Module()
    fresh.sub.b = ckpt.Variable(np.zeros(3, np.float32))
    fresh.a = ckpt.Variable(np.zeros(2, np.float32))
    ckpt.CheckpointableSaver(fresh).restore(prefix).assert_consumed()
    assert fresh.a.numpy().tolist() == [1, 2]
    assert fresh.c.numpy() == 6


def test_restore_by_different_root_type(tmp_path) -> None:
    """Only names matter: a Checkpoint's dependencies restore into a Module's attributes."""
    prefix = ckpt.Checkpoint(x=ckpt.Variable(np.float32(3))).write(str(tmp_path / "c"))
    module = ckpt.Module()
    module.x = ckpt.Variable(np.float32(0))
    ckpt.CheckpointableSaver(module).restore(prefix).assert_consumed()
    assert module.x.numpy() == 3


def test_checkpoint_root_argument_restores_through_root(tmp_path) -> None:
    net = Net()
    prefix = ckpt.Checkpoint(root=net).write(str(tmp_path / "root"))
    with ckpt.CheckpointReader(prefix) as reader:
        assert "sub/b/.ATTRIBUTES/VARIABLE_VALUE" in reader
    fresh = Net(a=(0, 0), b=(0, 0, 0), c=0.0)
    ckpt.Checkpoint(root=fresh).read(prefix).assert_consumed()
    assert values(fresh) == ([1, 2], [3, 4, 5], 6.0)


def test_missing_checkpoint_error(tmp_path) -> None:
    with pytest.raises(ckpt.errors.CheckpointNotFoundError) as info:
        ckpt.CheckpointableSaver(Net()).restore(str(tmp_path / "nothing-1"))
    assert isinstance(info.value, FileNotFoundError)
    assert "checkpoint suffix" in str(info.value)
