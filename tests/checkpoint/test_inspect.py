"""``object_graph``: a checkpoint's object graph as plain nodes, paths matching the keys."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ckpt
from ckpt.checkpoint.inspect import object_graph
from ckpt.errors import CorruptCheckpointError, UnsupportedCheckpointError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "tf"


def test_tf2_object_graph():
    nodes = object_graph(FIXTURES / "tf2_object")
    by_path = {n.path: n for n in nodes}
    assert nodes[0].path == "" and [c for c, _ in nodes[0].children] == ["model", "save_counter"]
    assert {c for c, _ in by_path["model"].children} == {
        "decoder",
        "encoder",
        "label",
        "layers",
        "step",
        "table",
    }
    with ckpt.load_checkpoint(FIXTURES / "tf2_object") as reader:
        for node in nodes:
            for name, _, key in node.attributes:
                assert key == f"{node.path}/.ATTRIBUTES/{name}"
                assert reader.has_tensor(key)
    assert "model/table/a.Sb..c" in by_path  # escaped like the keys


def test_slot_variables_get_their_key_paths():
    with ckpt.load_checkpoint(FIXTURES / "tf2_legacy_adam") as reader:
        nodes = object_graph(reader)
    (optimizer,) = [n for n in nodes if n.slot_variables]
    assert optimizer.path == "opt" and len(optimizer.slot_variables) == 10
    for original, slot_name, slot in optimizer.slot_variables:
        path = f"{nodes[original].path}/.OPTIMIZER_SLOT/opt/{slot_name}"
        assert nodes[slot].path == path
        assert nodes[slot].attributes[0][2] == path + "/.ATTRIBUTES/VARIABLE_VALUE"


def test_graph_written_by_ckpt(tmp_path):
    module = ckpt.Module()
    module.w = ckpt.Variable(np.zeros(3, np.float32), name="w")
    path = ckpt.Checkpoint(net=module).save(str(tmp_path / "ckpt"))
    paths = {n.path for n in object_graph(path)}
    assert {"", "net", "net/w", "save_counter"} <= paths


def test_name_based_checkpoint_is_refused():
    with pytest.raises(UnsupportedCheckpointError, match="name-based"):
        object_graph(FIXTURES / "tf1_saver")


@pytest.mark.parametrize("payload", [b"\xff\xff garbage", None])
def test_corrupt_graph(tmp_path, payload):
    prefix = str(tmp_path / "c")
    value = np.array(payload, dtype=object) if payload else np.zeros(2, np.float32)
    ckpt.write_tensors(prefix, {"_CHECKPOINTABLE_OBJECT_GRAPH": value})
    with pytest.raises(CorruptCheckpointError):
        object_graph(prefix)


def test_dangling_node_reference(tmp_path):
    from ckpt.format import protos

    graph = protos.TrackableObjectGraph()
    graph.nodes.add().children.add(node_id=7, local_name="x")
    prefix = str(tmp_path / "c")
    blob = np.array(graph.SerializeToString(), dtype=object)
    ckpt.write_tensors(prefix, {"_CHECKPOINTABLE_OBJECT_GRAPH": blob})
    with pytest.raises(CorruptCheckpointError, match="node"):
        object_graph(prefix)
