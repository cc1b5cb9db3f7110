"""Damaged object graphs: every failure is a ckpt CheckpointError, never another exception."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ckpt
from ckpt.errors import CheckpointError, CorruptCheckpointError
from ckpt.format import protos

GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
V_KEY = "v/.ATTRIBUTES/VARIABLE_VALUE"
SLOT_KEY = "v/.OPTIMIZER_SLOT/opt/m/.ATTRIBUTES/VARIABLE_VALUE"
STRING_KEY = "label/.ATTRIBUTES/VARIABLE_VALUE"
DATA = {
    V_KEY: np.arange(3, dtype=np.float32),
    SLOT_KEY: np.full(3, 7, np.float32),
    STRING_KEY: np.array([b"a", b"b", b"c"], dtype=object),
}


def valid_graph():
    """root -> v (variable), opt (optimizer with a slot m for v), items (list) -> 0."""
    graph = protos.TrackableObjectGraph()
    root = graph.nodes.add()
    root.children.add(node_id=1, local_name="v")
    root.children.add(node_id=2, local_name="opt")
    root.children.add(node_id=3, local_name="items")
    v = graph.nodes.add()
    v.attributes.add(name="VARIABLE_VALUE", full_name="Variable", checkpoint_key=V_KEY)
    opt = graph.nodes.add()
    opt.slot_variables.add(original_variable_node_id=1, slot_name="m", slot_variable_node_id=4)
    items = graph.nodes.add()
    items.children.add(node_id=1, local_name="0")
    slot = graph.nodes.add()
    slot.attributes.add(name="VARIABLE_VALUE", full_name="m", checkpoint_key=SLOT_KEY)
    for node in graph.nodes:
        node.has_checkpoint_values.value = True
    return graph


def write(tmp_path, graph, name: str = "g") -> str:
    raw = graph.SerializeToString() if hasattr(graph, "SerializeToString") else graph
    value = raw if isinstance(raw, np.ndarray) else np.array(raw, dtype=object)
    return ckpt.write_tensors(str(tmp_path / name), {**DATA, GRAPH_KEY: value})


def fresh_root(*, lazy: bool = False) -> ckpt.Module:
    root = ckpt.Module()
    if not lazy:
        root.v = ckpt.Variable(np.zeros(3, np.float32))
        root.opt = ckpt.Optimizer()
        root.items = [root.v]
    return root


def exercise(prefix: str, *, lazy: bool = False) -> ckpt.Module:
    """Restore, run every status method and build the lazy parts; only CheckpointErrors."""
    root = fresh_root(lazy=lazy)
    try:
        status = ckpt.CheckpointableSaver(root).restore(prefix)
    except CheckpointError:
        return root
    for method in ("assert_consumed", "assert_existing_objects_matched", "assert_nontrivial_match"):
        with contextlib.suppress(CheckpointError):
            getattr(status, method)()
    str(status.report())
    if lazy:
        for name, make in (
            ("v", lambda: ckpt.Variable(np.zeros(3, np.float32))),
            ("opt", ckpt.Optimizer),
            ("items", list),
            ("label", lambda: ckpt.Variable(np.zeros(3, np.float32))),
        ):
            with contextlib.suppress(CheckpointError):
                setattr(root, name, make())
        str(status.report())
    return root


def test_valid_graph_restores(tmp_path) -> None:
    prefix = write(tmp_path, valid_graph())
    root = fresh_root()
    ckpt.CheckpointableSaver(root).restore(prefix).assert_consumed()
    assert root.v.numpy().tolist() == [0, 1, 2]
    assert root.opt.get_slot(root.v, "m").numpy().tolist() == [7, 7, 7]


@pytest.mark.parametrize(
    "raw",
    [b"\xff\xff\xff garbage", b"\x0a\x05\x0a\x03", b"\x08" * 7, b"\x12\xff\xff\xff\xff\x0f"],
    ids=["garbage", "truncated", "varints", "huge-length"],
)
def test_garbage_bytes(tmp_path, raw) -> None:
    prefix = write(tmp_path, raw)
    with pytest.raises(CorruptCheckpointError):
        ckpt.CheckpointableSaver(fresh_root()).restore(prefix)


def test_empty_graph(tmp_path) -> None:
    prefix = write(tmp_path, b"")
    with pytest.raises(CorruptCheckpointError):
        ckpt.CheckpointableSaver(fresh_root()).restore(prefix)


def test_graph_not_a_scalar_string(tmp_path) -> None:
    raw = valid_graph().SerializeToString()
    prefix = write(tmp_path, np.array([raw, raw], dtype=object), "vector")
    with pytest.raises(CorruptCheckpointError):
        ckpt.CheckpointableSaver(fresh_root()).restore(prefix)
    numeric = ckpt.write_tensors(str(tmp_path / "numeric"), {**DATA, GRAPH_KEY: np.float32(1)})
    with pytest.raises(CheckpointError):
        ckpt.CheckpointableSaver(fresh_root()).restore(numeric)


def corrupt(field: str, value: int):
    graph = valid_graph()
    if field == "child":
        graph.nodes[0].children[0].node_id = value
    elif field == "slot":
        graph.nodes[2].slot_variables[0].slot_variable_node_id = value
    elif field == "original":
        graph.nodes[2].slot_variables[0].original_variable_node_id = value
    return graph


@pytest.mark.parametrize("field", ["child", "slot", "original"])
@pytest.mark.parametrize("value", [5, -1])
def test_node_id_out_of_range(tmp_path, field, value) -> None:
    """Node ids must index the graph's nodes; the restore reports a corrupt graph."""
    prefix = write(tmp_path, corrupt(field, value))
    with pytest.raises(CheckpointError) as info:
        ckpt.CheckpointableSaver(fresh_root()).restore(prefix)
    assert not isinstance(info.value, AssertionError)


def test_slot_node_id_out_of_range_with_lazy_variable(tmp_path) -> None:
    prefix = write(tmp_path, corrupt("slot", 2**31 - 1))
    root = fresh_root(lazy=True)
    root.opt = ckpt.Optimizer()
    with pytest.raises(CheckpointError) as info:
        ckpt.CheckpointableSaver(root).restore(prefix)
        root.v = ckpt.Variable(np.zeros(3, np.float32))
    assert not isinstance(info.value, AssertionError)


def test_attribute_key_missing_from_file(tmp_path) -> None:
    graph = valid_graph()
    graph.nodes[1].attributes[0].checkpoint_key = "no/such/key"
    prefix = write(tmp_path, graph)
    with pytest.raises(CheckpointError):
        ckpt.CheckpointableSaver(fresh_root()).restore(prefix)


def test_attribute_key_with_wrong_dtype(tmp_path) -> None:
    graph = valid_graph()
    graph.nodes[1].attributes[0].checkpoint_key = STRING_KEY
    prefix = write(tmp_path, graph)
    root = fresh_root()
    with pytest.raises(CheckpointError):
        ckpt.CheckpointableSaver(root).restore(prefix)
    assert not root.v.numpy().any()
    with pytest.raises(CheckpointError):
        ckpt.CheckpointableSaver(root).restore(
            prefix, options=ckpt.CheckpointOptions(allow_dtype_cast=True)
        )
    assert not root.v.numpy().any()


def test_attribute_key_is_the_graph_itself(tmp_path) -> None:
    graph = valid_graph()
    graph.nodes[1].attributes[0].checkpoint_key = GRAPH_KEY
    prefix = write(tmp_path, graph)
    with pytest.raises(CheckpointError):
        ckpt.CheckpointableSaver(fresh_root()).restore(prefix)


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
def test_cycles_and_self_edges_terminate(tmp_path, lazy, time_limit) -> None:
    graph = valid_graph()
    graph.nodes[0].children.add(node_id=0, local_name="self")
    graph.nodes[1].children.add(node_id=0, local_name="up")
    graph.nodes[3].children.add(node_id=3, local_name="again")
    prefix = write(tmp_path, graph)
    with time_limit(5):
        root = exercise(prefix, lazy=lazy)
    assert root.v.numpy().tolist() == [0, 1, 2]


def test_slot_variable_that_is_an_ordinary_node(tmp_path) -> None:
    graph = valid_graph()
    graph.nodes[2].slot_variables[0].slot_variable_node_id = 1  # the variable itself
    prefix = write(tmp_path, graph)
    exercise(prefix)
    exercise(prefix, lazy=True)


def test_missing_has_checkpoint_values_falls_back(tmp_path) -> None:
    graph = valid_graph()
    for node in graph.nodes:
        node.ClearField("has_checkpoint_values")
    prefix = write(tmp_path, graph)
    root = ckpt.Module()
    status = ckpt.CheckpointableSaver(root).restore(prefix)
    root.v = ckpt.Variable(np.zeros(3, np.float32))
    assert root.v.numpy().tolist() == [0, 1, 2]
    root.opt = ckpt.Optimizer()
    root.items = [root.v]
    status.assert_consumed()


# --- fuzzing -------------------------------------------------------------------------------------

NAMES = ["v", "opt", "items", "0", "1", "label", "x"]
KEYS = [V_KEY, SLOT_KEY, STRING_KEY, GRAPH_KEY, "missing"]
ATTRIBUTE_NAMES = ["VARIABLE_VALUE", "VARIABLE_VALUE_x", "py_state", "OTHER"]


@st.composite
def random_graphs(draw):
    n = draw(st.integers(1, 6))
    node_id = st.integers(-2, n + 1)
    graph = protos.TrackableObjectGraph()
    for _ in range(n):
        node = graph.nodes.add()
        for _ in range(draw(st.integers(0, 3))):
            node.children.add(node_id=draw(node_id), local_name=draw(st.sampled_from(NAMES)))
        for _ in range(draw(st.integers(0, 2))):
            node.attributes.add(
                name=draw(st.sampled_from(ATTRIBUTE_NAMES)),
                checkpoint_key=draw(st.sampled_from(KEYS)),
            )
        for _ in range(draw(st.integers(0, 2))):
            node.slot_variables.add(
                original_variable_node_id=draw(node_id),
                slot_name=draw(st.sampled_from(["m", "v"])),
                slot_variable_node_id=draw(node_id),
            )
        flag = draw(st.sampled_from([None, True, False]))
        if flag is not None:
            node.has_checkpoint_values.value = flag
    return graph


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(graph=random_graphs(), lazy=st.booleans())
def test_random_graphs_raise_only_checkpoint_errors(tmp_path, graph, lazy) -> None:
    prefix = write(tmp_path, graph, "fuzz")
    exercise(prefix, lazy=lazy)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), lazy=st.booleans())
def test_mutated_graph_bytes_raise_only_checkpoint_errors(tmp_path, data, lazy) -> None:
    raw = bytearray(valid_graph().SerializeToString())
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if action == "flip":
            raw[position] ^= data.draw(st.integers(1, 255))
        elif action == "insert":
            raw.insert(position, data.draw(st.integers(0, 255)))
        elif action == "delete" and len(raw) > 1:
            del raw[position]
        elif action == "truncate":
            del raw[max(position, 1) :]
    prefix = write(tmp_path, bytes(raw), "mutated")
    exercise(prefix, lazy=lazy)


def test_graph_naming_a_missing_tensor_restores_nothing(tmp_path) -> None:
    source = ckpt.Module()
    source.a = ckpt.Variable(np.float32(1))
    source.b = ckpt.Variable(np.float32(2))
    reader = ckpt.load_checkpoint(ckpt.Checkpoint(m=source).write(str(tmp_path / "good")))
    graph = protos.TrackableObjectGraph.FromString(
        reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH").item()
    )
    for node in graph.nodes:
        for attribute in node.attributes:
            if attribute.checkpoint_key.startswith("m/b/"):
                attribute.checkpoint_key = "m/b/.ATTRIBUTES/elsewhere"
    tensors = {k: reader.get_tensor(k) for k in reader if k != "_CHECKPOINTABLE_OBJECT_GRAPH"}
    tensors["_CHECKPOINTABLE_OBJECT_GRAPH"] = np.array(graph.SerializeToString(), dtype=object)
    bad = ckpt.write_tensors(str(tmp_path / "bad"), tensors)
    target = ckpt.Module()
    target.a = ckpt.Variable(np.float32(0))
    target.b = ckpt.Variable(np.float32(0))
    with pytest.raises(ckpt.errors.TensorNotFoundError, match="elsewhere"):
        ckpt.Checkpoint(m=target).read(bad)
    assert target.a.numpy() == 0  # checked before anything was assigned


@pytest.mark.parametrize("name", ["\u00b2", "\u0661", "0" * 5000 + "1"])
def test_list_element_names_are_ascii_digits_only(tmp_path, name) -> None:
    # "²" and thousands of digits make int() raise; "١" (another script's one) would silently
    # stand for element 1. None of them names a list element.
    graph = valid_graph()
    graph.nodes[3].children[0].local_name = name
    root = fresh_root()
    root.items = [ckpt.Variable(np.zeros(3, np.float32)), ckpt.Variable(np.zeros(3, np.float32))]
    status = ckpt.CheckpointableSaver(root).restore(write(tmp_path, graph))
    assert not root.items[0].numpy().any() and not root.items[1].numpy().any()
    assert "(root).items.1" in status.report().missing_from_checkpoint


@pytest.mark.parametrize("payload", [b"[" * 100_000, b"1" * 5000, b"\xff\xfe", b"{"])
def test_hostile_json_state_is_a_typed_error(tmp_path, payload) -> None:
    key = "cfg/.ATTRIBUTES/py_state"
    graph = protos.TrackableObjectGraph()
    graph.nodes.add().children.add(node_id=1, local_name="cfg")
    graph.nodes.add().attributes.add(name="py_state", full_name="", checkpoint_key=key)
    prefix = ckpt.write_tensors(
        str(tmp_path / "j"),
        {
            key: np.array(payload, dtype=object),
            GRAPH_KEY: np.array(graph.SerializeToString(), dtype=object),
        },
    )
    for state in (ckpt.JsonState({"a": 1}), ckpt.NumpyRNGState(np.random.default_rng(0))):
        with pytest.raises(CorruptCheckpointError, match=r"restoring \(root\)\.cfg"):
            ckpt.Checkpoint(cfg=state).read(prefix)


def chain_graph(length: int, name_length: int) -> protos.TrackableObjectGraph:
    """root -> n0 -> n1 -> ... with a value at the end."""
    graph = protos.TrackableObjectGraph()
    for i in range(length):
        graph.nodes.add().children.add(node_id=i + 1, local_name=f"{i:0{name_length}d}")
    graph.nodes.add().attributes.add(name="VARIABLE_VALUE", full_name="v", checkpoint_key=V_KEY)
    return graph


def test_naming_a_deep_chain_of_long_names_is_refused_not_exhausting_memory(tmp_path) -> None:
    # 100,000 nodes of 100-character names: 1 MB of graph, 500 GB of paths.
    prefix = write(tmp_path, chain_graph(100_000, 100))
    with pytest.raises(CorruptCheckpointError, match="too deep to name"):
        ckpt.object_graph(prefix)
    status = ckpt.Checkpoint(v=ckpt.Variable(np.zeros(3, np.float32))).read(prefix)
    with pytest.raises(CorruptCheckpointError, match="too deep to name"):
        status.report()


def test_a_deep_but_small_chain_is_named(tmp_path) -> None:
    nodes = ckpt.object_graph(write(tmp_path, chain_graph(3000, 1)))
    assert nodes[-1].path.count("/") == 2999
