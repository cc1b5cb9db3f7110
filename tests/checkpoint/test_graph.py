"""The object graph a save writes (format doc §6.2): node order, paths, containers, slots."""

from __future__ import annotations

import os

import numpy as np
import pytest

import ckpt
from ckpt.errors import InvalidTensorError


def var(value: float = 0.0, **kwargs) -> ckpt.Variable:
    return ckpt.Variable(np.float32(value), **kwargs)


def children(graph, node: int) -> list[tuple[int, str]]:
    return [(c.node_id, c.local_name) for c in graph.nodes[node].children]


def attribute_keys(graph, node: int) -> list[str]:
    return [a.checkpoint_key for a in graph.nodes[node].attributes]


def save(root, tmp_path, name: str = "g") -> str:
    return ckpt.CheckpointableSaver(root).save(str(tmp_path / name))


# --- node order --------------------------------------------------------------------------------


def test_breadth_first_order_children_in_assignment_order(tmp_path, read_graph) -> None:
    root = ckpt.Module()
    root.z = ckpt.Module()
    root.a = var(1)
    root.z.y = var(2)
    root.z.b = var(3)
    root.m = ckpt.Module()
    root.m.k = var(4)
    graph = read_graph(save(root, tmp_path))
    assert len(graph.nodes) == 7
    assert children(graph, 0) == [(1, "z"), (2, "a"), (3, "m")]
    assert children(graph, 1) == [(4, "y"), (5, "b")]
    assert children(graph, 2) == []
    assert children(graph, 3) == [(6, "k")]
    assert attribute_keys(graph, 2) == ["a/.ATTRIBUTES/VARIABLE_VALUE"]
    assert attribute_keys(graph, 4) == ["z/y/.ATTRIBUTES/VARIABLE_VALUE"]
    assert attribute_keys(graph, 5) == ["z/b/.ATTRIBUTES/VARIABLE_VALUE"]
    assert attribute_keys(graph, 6) == ["m/k/.ATTRIBUTES/VARIABLE_VALUE"]
    for node in (0, 1, 3):
        assert attribute_keys(graph, node) == []


def test_reassignment_keeps_position_and_deletion_removes(tmp_path, read_graph) -> None:
    root = ckpt.Module()
    root.a = var(1)
    root.b = var(2)
    root.c = var(3)
    root.a = var(10)  # same name, new object: keeps its place
    del root.b
    root.d = 5  # not trackable: no dependency
    graph = read_graph(save(root, tmp_path))
    assert [name for _, name in children(graph, 0)] == ["a", "c"]


def test_checkpoint_kwargs_sorted_then_save_counter(tmp_path, read_graph) -> None:
    # tf.train.Checkpoint sorts its keyword dependencies by name (checked against TF 2.21).
    checkpoint = ckpt.Checkpoint(zeta=var(1), alpha=var(2))
    graph = read_graph(checkpoint.save(str(tmp_path / "c")))
    assert [name for _, name in children(graph, 0)] == ["alpha", "zeta", "save_counter"]


def test_checkpoint_root_children_then_sorted_keywords_with_root(tmp_path, read_graph) -> None:
    # TF: the root's own children, then the keywords sorted with a "root" self-edge among them.
    root = ckpt.Module()
    root.b = var(1)
    checkpoint = ckpt.Checkpoint(root=root, z=var(2), a=var(3))
    graph = read_graph(checkpoint.save(str(tmp_path / "c")))
    assert [(node, name) for node, name in children(graph, 0)][:5] == [
        (1, "b"), (2, "a"), (0, "root"), (3, "z"), (4, "save_counter")
    ]


def test_shared_object_keeps_first_shortest_path(tmp_path, read_graph, read_tensors) -> None:
    root = ckpt.Module()
    shared = var(7)
    root.a = ckpt.Module()
    root.a.b = ckpt.Module()
    root.a.b.v = shared  # assigned first, but deeper
    root.c = shared  # shallower: BFS reaches it first
    prefix = save(root, tmp_path)
    graph = read_graph(prefix)
    # 0 root, 1 a, 2 c (= shared), 3 b; b's child "v" points back at node 2.
    assert len(graph.nodes) == 4
    assert children(graph, 0) == [(1, "a"), (2, "c")]
    assert children(graph, 1) == [(3, "b")]
    assert children(graph, 3) == [(2, "v")]
    assert attribute_keys(graph, 2) == ["c/.ATTRIBUTES/VARIABLE_VALUE"]
    assert list(read_tensors(prefix)) == ["c/.ATTRIBUTES/VARIABLE_VALUE"]


def test_shared_object_at_equal_depth_keeps_first_visited(tmp_path, read_graph) -> None:
    root = ckpt.Module()
    shared = var(1)
    root.x = ckpt.Module()
    root.y = ckpt.Module()
    root.y.s = shared
    root.x.s = shared
    graph = read_graph(save(root, tmp_path))
    # x is visited before y, so the variable's path is x/s.
    assert children(graph, 1) == [(3, "s")]
    assert children(graph, 2) == [(3, "s")]
    assert attribute_keys(graph, 3) == ["x/s/.ATTRIBUTES/VARIABLE_VALUE"]


def test_cycles(tmp_path, read_graph) -> None:
    root = ckpt.Module()
    root.a = ckpt.Module()
    root.a.back = root
    root.a.me = root.a
    root.a.v = var(3)
    prefix = save(root, tmp_path)
    graph = read_graph(prefix)
    assert len(graph.nodes) == 3
    assert children(graph, 0) == [(1, "a")]
    assert children(graph, 1) == [(0, "back"), (1, "me"), (2, "v")]
    assert attribute_keys(graph, 2) == ["a/v/.ATTRIBUTES/VARIABLE_VALUE"]

    fresh = ckpt.Module()
    fresh.a = ckpt.Module()
    fresh.a.back = fresh
    fresh.a.me = fresh.a
    fresh.a.v = var(0)
    ckpt.CheckpointableSaver(fresh).restore(prefix).assert_consumed()
    assert fresh.a.v.numpy() == 3


# --- containers --------------------------------------------------------------------------------


def test_list_with_non_trackable_elements_keeps_indices(tmp_path, read_graph, paths_of) -> None:
    root = ckpt.Module()
    root.layers = [var(1), "not trackable", 3, var(2), None]
    graph = read_graph(save(root, tmp_path))
    assert [name for _, name in children(graph, 1)] == ["0", "3"]
    paths = paths_of(graph)
    keys = sorted(k for n in range(len(graph.nodes)) for k in attribute_keys(graph, n))
    assert keys == ["layers/0/.ATTRIBUTES/VARIABLE_VALUE", "layers/3/.ATTRIBUTES/VARIABLE_VALUE"]
    assert sorted(paths.values()) == ["", "layers", "layers/0", "layers/3"]


def test_dict_tuple_and_nested_containers(tmp_path, read_graph, read_tensors) -> None:
    root = ckpt.Module()
    root.d = {"k": var(1), "skip": 2.5, 7: "non-str key, non-trackable value is fine"}
    root.t = (var(2), "x", var(3))
    root.n = {"outer": [var(4), {"inner": var(5)}, (var(6),)]}
    prefix = save(root, tmp_path)
    assert sorted(read_tensors(prefix)) == sorted(
        [
            "d/k/.ATTRIBUTES/VARIABLE_VALUE",
            "t/0/.ATTRIBUTES/VARIABLE_VALUE",
            "t/2/.ATTRIBUTES/VARIABLE_VALUE",
            "n/outer/0/.ATTRIBUTES/VARIABLE_VALUE",
            "n/outer/1/inner/.ATTRIBUTES/VARIABLE_VALUE",
            "n/outer/2/0/.ATTRIBUTES/VARIABLE_VALUE",
        ]
    )
    graph = read_graph(prefix)
    assert [name for _, name in children(graph, 0)] == ["d", "t", "n"]
    values = read_tensors(prefix)
    assert values["n/outer/1/inner/.ATTRIBUTES/VARIABLE_VALUE"] == np.float32(5)


def test_containers_are_wrapped() -> None:
    from ckpt.trackable.containers import TrackableDict, TrackableList, TrackableTuple

    root = ckpt.Module()
    root.l = [1, [2]]
    root.d = {"a": {"b": 1}}
    root.t = (1, [2])
    assert isinstance(root.l, TrackableList) and isinstance(root.l[1], TrackableList)
    assert isinstance(root.d, TrackableDict) and isinstance(root.d["a"], TrackableDict)
    assert isinstance(root.t, TrackableTuple) and isinstance(root.t[1], TrackableList)
    assert root.l == [1, [2]] and root.d == {"a": {"b": 1}} and root.t == (1, [2])


def test_non_string_dict_key_holding_trackable_is_refused(tmp_path) -> None:
    root = ckpt.Module()
    root.d = {1: var(1)}
    with pytest.raises(InvalidTensorError):
        save(root, tmp_path, "bad")
    assert not os.path.exists(str(tmp_path / "bad.index"))


def test_empty_containers_are_nodes(tmp_path, read_graph) -> None:
    root = ckpt.Module()
    root.empty_list = []
    root.empty_dict = {}
    root.plain = [1, 2]
    graph = read_graph(save(root, tmp_path))
    assert [name for _, name in children(graph, 0)] == ["empty_list", "empty_dict", "plain"]
    assert len(graph.nodes) == 4


# --- has_checkpoint_values ---------------------------------------------------------------------


def test_has_checkpoint_values_on_every_node(tmp_path, read_graph, paths_of) -> None:
    root = ckpt.Module()
    root.empty = ckpt.Module()
    root.empty.deeper = ckpt.Module()
    root.empty_list = []
    root.ints = [1, 2]
    root.holder = ckpt.Module()
    root.holder.inner = ckpt.Module()
    root.holder.inner.v = var(1)
    root.state = ckpt.JsonState({"a": 1})
    graph = read_graph(save(root, tmp_path))
    paths = paths_of(graph)
    by_path = {paths[n]: graph.nodes[n] for n in paths}
    assert len(by_path) == len(graph.nodes)
    expected = {
        "": True,
        "empty": False,
        "empty/deeper": False,
        "empty_list": False,
        "ints": False,
        "holder": True,
        "holder/inner": True,
        "holder/inner/v": True,
        "state": True,
    }
    assert set(by_path) == set(expected)
    for path, value in expected.items():
        node = by_path[path]
        assert node.HasField("has_checkpoint_values"), path
        assert node.has_checkpoint_values.value is value, path


def test_has_checkpoint_values_through_slots_only(tmp_path, read_graph) -> None:
    model = ckpt.Module()
    model.v = var(1)
    opt = ckpt.Optimizer()
    opt.add_slot(model.v, "m")
    root = ckpt.Module()
    root.model = model
    root.opt = opt
    graph = read_graph(save(root, tmp_path))
    opt_node = graph.nodes[children(graph, 0)[1][0]]
    assert not opt_node.children and not opt_node.attributes
    assert opt_node.has_checkpoint_values.value is True


def test_empty_root(tmp_path, read_graph) -> None:
    graph = read_graph(save(ckpt.Module(), tmp_path))
    assert len(graph.nodes) == 1
    assert graph.nodes[0].HasField("has_checkpoint_values")
    assert graph.nodes[0].has_checkpoint_values.value is False


# --- attributes --------------------------------------------------------------------------------


def test_attribute_names_and_full_names(tmp_path, read_graph) -> None:
    root = ckpt.Module()
    root.named = var(1, name="dense/kernel")
    root.unnamed = var(2)
    root.state = ckpt.JsonState(3)
    graph = read_graph(save(root, tmp_path))
    named, unnamed, state = (graph.nodes[i] for i, _ in children(graph, 0))
    assert [(a.name, a.full_name) for a in named.attributes] == [("VARIABLE_VALUE", "dense/kernel")]
    assert [(a.name, a.full_name) for a in unnamed.attributes] == [("VARIABLE_VALUE", "Variable")]
    assert [(a.name, a.full_name, a.checkpoint_key) for a in state.attributes] == [
        ("py_state", "", "state/.ATTRIBUTES/py_state")
    ]


# --- slot variables ----------------------------------------------------------------------------


def adam_like(tmp_path):
    """Two variables, slots m and v created in an order unlike the node order."""
    model = ckpt.Module()
    model.k = var(1)
    model.b = var(2)
    opt = ckpt.Optimizer()
    opt.add_slot(model.b, "m", np.float32(21))
    opt.add_slot(model.k, "m", np.float32(11))
    opt.add_slot(model.b, "v", np.float32(22))
    opt.add_slot(model.k, "v", np.float32(12))
    checkpoint = ckpt.Checkpoint(net=model, opt=opt)
    return checkpoint.write(str(tmp_path / "adam"))


def test_slot_variables_order_keys_and_no_incoming_edges(tmp_path, read_graph) -> None:
    prefix = adam_like(tmp_path)
    graph = read_graph(prefix)
    # BFS: 0 root, 1 net, 2 opt, 3 net/k, 4 net/b; slots appended: 5.. in TF order:
    # optimizer -> slot name (creation order: m, v) -> variable node order (k before b).
    assert children(graph, 0) == [(1, "net"), (2, "opt")]
    assert children(graph, 1) == [(3, "k"), (4, "b")]
    slots = [
        (s.original_variable_node_id, s.slot_name, s.slot_variable_node_id)
        for s in graph.nodes[2].slot_variables
    ]
    assert slots == [(3, "m", 5), (4, "m", 6), (3, "v", 7), (4, "v", 8)]
    assert len(graph.nodes) == 9
    targets = {c.node_id for node in graph.nodes for c in node.children}
    assert targets.isdisjoint({5, 6, 7, 8})
    assert attribute_keys(graph, 5) == ["net/k/.OPTIMIZER_SLOT/opt/m/.ATTRIBUTES/VARIABLE_VALUE"]
    assert attribute_keys(graph, 6) == ["net/b/.OPTIMIZER_SLOT/opt/m/.ATTRIBUTES/VARIABLE_VALUE"]
    assert attribute_keys(graph, 7) == ["net/k/.OPTIMIZER_SLOT/opt/v/.ATTRIBUTES/VARIABLE_VALUE"]
    assert attribute_keys(graph, 8) == ["net/b/.OPTIMIZER_SLOT/opt/v/.ATTRIBUTES/VARIABLE_VALUE"]
    for node in graph.nodes:
        assert node.has_checkpoint_values.value is True
    with ckpt.CheckpointReader(prefix) as reader:
        assert reader.get_tensor(attribute_keys(graph, 6)[0]) == np.float32(21)
        assert reader.get_tensor(attribute_keys(graph, 7)[0]) == np.float32(12)


def test_two_optimizers_in_bfs_order(tmp_path, read_graph) -> None:
    root = ckpt.Module()
    root.v = var(1)
    root.second = ckpt.Module()
    root.second.opt = ckpt.Optimizer()
    root.first = ckpt.Optimizer()
    root.second.opt.add_slot(root.v, "s2")
    root.first.add_slot(root.v, "s1")
    graph = read_graph(save(root, tmp_path))
    # 0 root, 1 v, 2 second, 3 first, 4 second/opt; slots: first (node 3) before node 4.
    assert children(graph, 0) == [(1, "v"), (2, "second"), (3, "first")]
    assert [(s.slot_name, s.slot_variable_node_id) for s in graph.nodes[3].slot_variables] == [
        ("s1", 5)
    ]
    assert [(s.slot_name, s.slot_variable_node_id) for s in graph.nodes[4].slot_variables] == [
        ("s2", 6)
    ]
    assert attribute_keys(graph, 5) == ["v/.OPTIMIZER_SLOT/first/s1/.ATTRIBUTES/VARIABLE_VALUE"]
    assert attribute_keys(graph, 6) == [
        "v/.OPTIMIZER_SLOT/second/opt/s2/.ATTRIBUTES/VARIABLE_VALUE"
    ]


def test_slot_of_unreachable_variable_is_not_saved(tmp_path, read_tensors) -> None:
    root = ckpt.Module()
    root.v = var(1)
    root.opt = ckpt.Optimizer()
    root.opt.add_slot(root.v, "m")
    root.opt.add_slot(var(5), "m")  # a variable not in the graph
    prefix = save(root, tmp_path)
    assert sorted(read_tensors(prefix)) == [
        "v/.ATTRIBUTES/VARIABLE_VALUE",
        "v/.OPTIMIZER_SLOT/opt/m/.ATTRIBUTES/VARIABLE_VALUE",
    ]


# --- data layout -------------------------------------------------------------------------------


def test_data_order_bfs_then_slots_then_graph(tmp_path, order_of_data) -> None:
    prefix = adam_like(tmp_path)
    assert order_of_data(prefix) == [
        "net/k/.ATTRIBUTES/VARIABLE_VALUE",
        "net/b/.ATTRIBUTES/VARIABLE_VALUE",
        "net/k/.OPTIMIZER_SLOT/opt/m/.ATTRIBUTES/VARIABLE_VALUE",
        "net/b/.OPTIMIZER_SLOT/opt/m/.ATTRIBUTES/VARIABLE_VALUE",
        "net/k/.OPTIMIZER_SLOT/opt/v/.ATTRIBUTES/VARIABLE_VALUE",
        "net/b/.OPTIMIZER_SLOT/opt/v/.ATTRIBUTES/VARIABLE_VALUE",
        "_CHECKPOINTABLE_OBJECT_GRAPH",
    ]


class TwoTensors:
    """A protocol-only object (no base class) saving two tensors."""

    def __init__(self, a, b) -> None:
        self.a = np.asarray(a, np.float32)
        self.b = np.asarray(b, np.float32)

    def _serialize_to_tensors(self):
        return {"second": self.b, "first": self.a}

    def _restore_from_tensors(self, tensors) -> None:
        self.a = tensors["first"]
        self.b = tensors["second"]


def test_data_order_follows_bfs_and_attribute_order(tmp_path, order_of_data) -> None:
    root = ckpt.Module()
    root.deep = ckpt.Module()
    root.deep.v = var(1)
    root.pair = TwoTensors([1, 2], [3])
    root.top = var(2)
    prefix = save(root, tmp_path)
    assert order_of_data(prefix) == [
        "pair/.ATTRIBUTES/second",
        "pair/.ATTRIBUTES/first",
        "top/.ATTRIBUTES/VARIABLE_VALUE",
        "deep/v/.ATTRIBUTES/VARIABLE_VALUE",
        "_CHECKPOINTABLE_OBJECT_GRAPH",
    ]
