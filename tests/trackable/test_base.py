"""The trackable protocol: plain objects take part without inheriting; Trackable adds deferral."""

from __future__ import annotations

import numpy as np
import pytest

import ckpt
from ckpt.trackable.base import children_of, is_trackable, lookup_dependency, tensors_of


class Plain:
    """Saves two tensors through the protocol only; no ckpt base class."""

    def __init__(self, a=0.0, b=(0, 0)) -> None:
        self.a = np.asarray(a, np.float64)
        self.b = np.asarray(b, np.int32)
        self.restored: list[dict] = []

    def _serialize_to_tensors(self):
        return {"a": self.a, "b": self.b}

    def _restore_from_tensors(self, tensors) -> None:
        self.restored.append(dict(tensors))
        self.a = np.asarray(tensors["a"])
        self.b = np.asarray(tensors["b"])


class Parent:
    """Children through the protocol only."""

    def __init__(self, **children) -> None:
        self.children = children

    def _trackable_children(self):
        return dict(self.children)


class InPlace:
    """Offers its array through ``_restore_targets`` so restores can read into it."""

    def __init__(self, n: int) -> None:
        self.value = np.zeros(n, np.float32)
        self.received = None

    def _serialize_to_tensors(self):
        return {"VALUE": self.value}

    def _restore_targets(self):
        return {"VALUE": self.value}

    def _restore_from_tensors(self, tensors) -> None:
        self.received = tensors["VALUE"]
        if tensors["VALUE"] is not self.value:
            self.value[...] = tensors["VALUE"]


def test_is_trackable() -> None:
    assert is_trackable(ckpt.Variable(1.0))
    assert is_trackable(ckpt.Module())
    assert is_trackable(Plain())
    assert is_trackable(Parent())
    assert not is_trackable(Plain)  # classes are not instances
    assert not is_trackable(3)
    assert not is_trackable(np.zeros(2))
    assert not is_trackable(None)


def test_helpers() -> None:
    p = Plain()
    parent = Parent(p=p, n=5, none=None)
    assert dict(children_of(parent)) == {"p": p}
    assert lookup_dependency(parent, "p") is p
    assert lookup_dependency(parent, "n") is None
    assert lookup_dependency(parent, "missing") is None
    assert set(tensors_of(p)) == {"a", "b"}
    assert dict(children_of(p)) == {}
    assert tensors_of(parent) == {}


def test_default_trackable_is_empty() -> None:
    t = ckpt.Trackable()
    assert dict(t._trackable_children()) == {}
    assert dict(t._serialize_to_tensors()) == {}
    t._restore_from_tensors({})
    with pytest.raises(NotImplementedError):
        t._restore_from_tensors({"x": np.zeros(1)})


def test_protocol_only_objects_round_trip(tmp_path) -> None:
    root = Parent(p=Plain(1.5, (3, 4)), inner=Parent(q=Plain(2.5, (5, 6))))
    prefix = ckpt.CheckpointableSaver(root).save(str(tmp_path / "plain"))
    with ckpt.CheckpointReader(prefix) as reader:
        assert sorted(reader.keys()) == [
            "_CHECKPOINTABLE_OBJECT_GRAPH",
            "inner/q/.ATTRIBUTES/a",
            "inner/q/.ATTRIBUTES/b",
            "p/.ATTRIBUTES/a",
            "p/.ATTRIBUTES/b",
        ]
    fresh = Parent(p=Plain(), inner=Parent(q=Plain()))
    ckpt.CheckpointableSaver(fresh).restore(prefix).assert_consumed()
    p, q = fresh.children["p"], fresh.children["inner"].children["q"]
    assert p.a == 1.5 and p.b.tolist() == [3, 4]
    assert q.a == 2.5 and q.b.tolist() == [5, 6]
    assert len(p.restored) == 1 and set(p.restored[0]) == {"a", "b"}
    assert all(isinstance(v, np.ndarray) for v in p.restored[0].values())


def test_restore_targets_read_in_place(tmp_path) -> None:
    source = InPlace(3)
    source.value[:] = [1, 2, 3]
    prefix = ckpt.CheckpointableSaver(Parent(x=source)).save(str(tmp_path / "t"))
    target = InPlace(3)
    array = target.value
    ckpt.CheckpointableSaver(Parent(x=target)).restore(prefix).assert_consumed()
    assert target.value is array
    assert array.tolist() == [1, 2, 3]


def test_protocol_only_parent_cannot_defer(tmp_path) -> None:
    """Without Trackable there is nowhere to park a value: it stays unused, no crash."""
    prefix = ckpt.CheckpointableSaver(Parent(p=Plain(1.0))).save(str(tmp_path / "nd"))
    root = Parent()
    status = ckpt.CheckpointableSaver(root).restore(prefix)
    root.children["p"] = Plain()
    assert root.children["p"].a == 0
    with pytest.raises(AssertionError):
        status.assert_consumed()


def test_trackable_subclass_defers_through_track(tmp_path) -> None:
    class Holder(ckpt.Trackable):
        def __init__(self) -> None:
            self.deps: dict = {}

        def _trackable_children(self):
            return dict(self.deps)

        def add(self, name, child) -> None:
            self.deps[name] = child
            self._track(name, child)

    source = Holder()
    source.add("x", ckpt.Variable(np.float32(4)))
    prefix = ckpt.CheckpointableSaver(source).save(str(tmp_path / "h"))
    target = Holder()
    status = ckpt.CheckpointableSaver(target).restore(prefix)
    assert target._deferred_names() == ["x"]
    target.add("x", ckpt.Variable(np.float32(0)))
    assert target.deps["x"].numpy() == 4
    assert target._deferred_names() == []
    status.assert_consumed()


def test_track_ignores_names_without_deferred_values() -> None:
    holder = ckpt.Module()
    holder._track("nothing", ckpt.Variable(1.0))  # no restore pending: a no-op
    assert holder._deferred_names() == []
