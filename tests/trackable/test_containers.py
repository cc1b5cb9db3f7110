"""Trackable lists, dicts and tuples: children, names, wrapping, deferred restoration hooks."""

from __future__ import annotations

import numpy as np
import pytest

import ckpt
from ckpt.errors import InvalidTensorError, ShapeMismatchError
from ckpt.trackable.base import children_of, lookup_dependency
from ckpt.trackable.containers import TrackableDict, TrackableList, TrackableTuple, wrap


def var(value: float = 0.0) -> ckpt.Variable:
    return ckpt.Variable(np.float32(value))


def test_wrap_only_plain_builtins() -> None:
    assert isinstance(wrap([1]), TrackableList)
    assert isinstance(wrap({"a": 1}), TrackableDict)
    # As TF's _should_wrap_tuple: only tuples holding trackables or containers become nodes.
    assert type(wrap((1,))) is tuple
    assert isinstance(wrap((1, [2])), TrackableTuple)
    assert isinstance(wrap((var(1),)), TrackableTuple)
    already = TrackableList([1])
    assert wrap(already) is already
    assert wrap("text") == "text"
    assert wrap(5) == 5

    class MyList(list):
        pass

    custom = MyList([1])
    assert wrap(custom) is custom


def test_list_children_skip_non_trackables_and_keep_indices() -> None:
    a, b = var(1), var(2)
    items = TrackableList([a, "x", 3, b])
    assert dict(children_of(items)) == {"0": a, "3": b}
    assert list(children_of(items)) == ["0", "3"]
    assert lookup_dependency(items, "0") is a
    assert lookup_dependency(items, "1") is None  # not trackable
    assert lookup_dependency(items, "3") is b
    assert lookup_dependency(items, "4") is None
    assert lookup_dependency(items, "nope") is None


def test_list_behaves_like_a_list() -> None:
    items = TrackableList([1, 2])
    items.append(3)
    items.extend([4])
    items += [5]
    items.insert(0, 0)
    items[1] = 10
    assert items == [0, 10, 2, 3, 4, 5]
    assert isinstance(items, list)
    items.append([6])
    assert isinstance(items[-1], TrackableList)
    items[0] = {"k": 1}
    assert isinstance(items[0], TrackableDict)
    items[1:3] = [[7]]
    assert isinstance(items[1], TrackableList)


def test_dict_children_by_string_key() -> None:
    a, b = var(1), var(2)
    mapping = TrackableDict({"b": b, "a": a, "n": 3})
    assert list(children_of(mapping)) == ["b", "a"]
    assert lookup_dependency(mapping, "a") is a
    assert lookup_dependency(mapping, "n") is None
    assert lookup_dependency(mapping, "missing") is None


def test_dict_non_string_key_with_trackable_raises() -> None:
    mapping = TrackableDict({1: var(1)})
    with pytest.raises(InvalidTensorError):
        children_of(mapping)
    ok = TrackableDict({1: "plain", (2, 3): 4.0})
    assert dict(children_of(ok)) == {}


def test_dict_wraps_values_on_every_path() -> None:
    mapping = TrackableDict({"a": [1]}, b={"x": 1})
    mapping["c"] = (1, {"k": 1})
    mapping.update({"d": [2]})
    mapping.setdefault("e", [3])
    assert isinstance(mapping["a"], TrackableList)
    assert isinstance(mapping["b"], TrackableDict)
    assert isinstance(mapping["c"], TrackableTuple)
    assert isinstance(mapping["d"], TrackableList)
    assert isinstance(mapping["e"], TrackableList)
    assert mapping.setdefault("e", None) == [3]


def test_tuple_children() -> None:
    a = var(1)
    items = TrackableTuple([a, 2, [var(3)]])
    assert list(children_of(items)) == ["0", "2"]
    assert isinstance(items[2], TrackableList)
    assert lookup_dependency(items, "0") is a
    assert lookup_dependency(items, "5") is None
    assert items == (a, 2, items[2])


def test_nested_round_trip(tmp_path) -> None:
    def build(offset: float) -> ckpt.Module:
        root = ckpt.Module()
        root.data = {
            "list": [var(1 + offset), "skip", (var(2 + offset), {"deep": var(3 + offset)})],
            "tuple": (var(4 + offset),),
        }
        return root

    prefix = ckpt.CheckpointableSaver(build(0)).save(str(tmp_path / "n"))
    fresh = build(100)
    ckpt.CheckpointableSaver(fresh).restore(prefix).assert_consumed()
    data = fresh.data
    assert data["list"][0].numpy() == 1
    assert data["list"][2][0].numpy() == 2
    assert data["list"][2][1]["deep"].numpy() == 3
    assert data["tuple"][0].numpy() == 4


def test_list_append_receives_deferred_value(tmp_path) -> None:
    root = ckpt.Module()
    root.layers = [var(1), var(2)]
    prefix = ckpt.CheckpointableSaver(root).save(str(tmp_path / "l"))
    fresh = ckpt.Module()
    fresh.layers = []
    status = ckpt.CheckpointableSaver(fresh).restore(prefix)
    fresh.layers.append(var(0))
    assert fresh.layers[0].numpy() == 1
    fresh.layers.extend([var(0)])
    assert fresh.layers[1].numpy() == 2
    status.assert_consumed()


def test_list_setitem_receives_deferred_value(tmp_path) -> None:
    root = ckpt.Module()
    root.layers = [var(1), var(2)]
    prefix = ckpt.CheckpointableSaver(root).save(str(tmp_path / "l"))
    fresh = ckpt.Module()
    fresh.layers = [None, None]
    status = ckpt.CheckpointableSaver(fresh).restore(prefix)
    fresh.layers[-1] = var(0)
    assert fresh.layers[1].numpy() == 2
    fresh.layers[0] = var(0)
    assert fresh.layers[0].numpy() == 1
    status.assert_consumed()


def test_dict_setitem_receives_deferred_value(tmp_path) -> None:
    root = ckpt.Module()
    root.d = {"a": var(1), "b/c": var(2)}
    prefix = ckpt.CheckpointableSaver(root).save(str(tmp_path / "d"))
    fresh = ckpt.Module()
    fresh.d = {}
    status = ckpt.CheckpointableSaver(fresh).restore(prefix)
    fresh.d["b/c"] = var(0)
    assert fresh.d["b/c"].numpy() == 2
    fresh.d.update(a=var(0))
    assert fresh.d["a"].numpy() == 1
    status.assert_consumed()


def test_repr() -> None:
    assert repr(TrackableList([1])) == "TrackableList([1])"
    assert repr(TrackableDict({"a": 1})) == "TrackableDict({'a': 1})"


def test_an_item_a_deferred_restore_refuses_is_not_stored(tmp_path) -> None:
    # As for attributes (and in TF): the append or assignment does not happen, and the values
    # stay parked for the next item under that name.
    def dense(n: int) -> ckpt.Module:
        module = ckpt.Module()
        module.kernel = ckpt.Variable(np.zeros((n, n), np.float32))
        return module

    saved = ckpt.Module()
    saved.layers = [dense(2)]
    saved.named = {"k": dense(2)}
    saved.layers[0].kernel.assign(np.full((2, 2), 4, np.float32))
    saved.named["k"].kernel.assign(np.full((2, 2), 6, np.float32))
    path = ckpt.Checkpoint(model=saved).write(str(tmp_path / "c"))
    fresh = ckpt.Module()
    fresh.layers = []
    fresh.named = {}
    ckpt.Checkpoint(model=fresh).read(path)
    with pytest.raises(ShapeMismatchError):
        fresh.layers.append(dense(3))
    with pytest.raises(ShapeMismatchError):
        fresh.named["k"] = dense(3)
    assert len(fresh.layers) == 0 and "k" not in fresh.named
    fresh.layers.append(dense(2))
    fresh.named["k"] = dense(2)
    assert fresh.layers[0].kernel.numpy()[0, 0] == 4 and fresh.named["k"].kernel.numpy()[0, 0] == 6
