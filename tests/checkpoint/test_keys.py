"""Key construction of object-based checkpoints (format doc §6.1)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import ckpt
from ckpt.checkpoint import keys


def unescape(escaped: str) -> str:
    """Inverse of escape_local_name, written independently: ``..`` -> ``.``, ``.S`` -> ``/``."""
    out = []
    i = 0
    while i < len(escaped):
        if escaped[i] == ".":
            nxt = escaped[i + 1]
            assert nxt in ".S", escaped
            out.append("." if nxt == "." else "/")
            i += 2
        else:
            out.append(escaped[i])
            i += 1
    return "".join(out)


def test_constants() -> None:
    assert keys.OBJECT_GRAPH_PROTO_KEY == "_CHECKPOINTABLE_OBJECT_GRAPH"
    assert keys.OBJECT_ATTRIBUTES_NAME == ".ATTRIBUTES"
    assert keys.OPTIMIZER_SLOT_NAME == ".OPTIMIZER_SLOT"


def test_escape_examples_from_the_format_doc() -> None:
    assert keys.escape_local_name("we/ird.name") == "we.Sird..name"
    assert keys.escape_local_name("b/c") == "b.Sc"
    assert keys.escape_local_name("plain_name0") == "plain_name0"
    assert keys.escape_local_name("") == ""


def test_escape_dots_before_slashes() -> None:
    # "a/" and "a.S" must not collide: dots are doubled first.
    assert keys.escape_local_name("a/") == "a.S"
    assert keys.escape_local_name("a.S") == "a..S"
    assert keys.escape_local_name("./") == "...S"
    assert keys.escape_local_name("..") == "...."


@given(st.text(alphabet=st.sampled_from("ab./S"), max_size=12))
def test_escape_is_invertible_and_has_no_slash(name: str) -> None:
    escaped = keys.escape_local_name(name)
    assert "/" not in escaped
    assert unescape(escaped) == name


@given(
    st.text(alphabet=st.sampled_from("a./S"), max_size=6),
    st.text(alphabet=st.sampled_from("a./S"), max_size=6),
)
def test_escape_is_injective(a: str, b: str) -> None:
    if a != b:
        assert keys.escape_local_name(a) != keys.escape_local_name(b)


def test_join_path() -> None:
    assert keys.join_path("", "model") == "model"
    assert keys.join_path("", "b/c") == "b.Sc"
    assert keys.join_path("model", "dense") == "model/dense"
    assert keys.join_path("m/d", "we/ird.name") == "m/d/we.Sird..name"


def test_checkpoint_key() -> None:
    assert (
        keys.checkpoint_key("model/dense/kernel", "VARIABLE_VALUE")
        == "model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"
    )
    # The root's own attribute: empty path, leading slash (verified with TF).
    assert keys.checkpoint_key("", "VARIABLE_VALUE") == "/.ATTRIBUTES/VARIABLE_VALUE"
    # Attribute names are escaped like path components.
    assert keys.checkpoint_key("t", "a/b.c") == "t/.ATTRIBUTES/a.Sb..c"


def test_slot_variable_key() -> None:
    slot_path = keys.slot_variable_key("net/dense/kernel", "opt", "m")
    assert slot_path == "net/dense/kernel/.OPTIMIZER_SLOT/opt/m"
    assert (
        keys.checkpoint_key(slot_path, "VARIABLE_VALUE")
        == "net/dense/kernel/.OPTIMIZER_SLOT/opt/m/.ATTRIBUTES/VARIABLE_VALUE"
    )
    assert keys.slot_variable_key("v", "o/p", "we/ird.s") == "v/.OPTIMIZER_SLOT/o/p/we.Sird..s"


def test_saved_keys_escape_names_and_keep_raw_local_names(tmp_path, read_graph) -> None:
    module = ckpt.Module()
    module.d = {"we/ird.name": ckpt.Variable(np.float32(1)), "b/c": ckpt.Variable(np.float32(2))}
    module.layers = [ckpt.Variable(np.float32(3))]
    prefix = ckpt.CheckpointableSaver(module).save(str(tmp_path / "k"))
    with ckpt.CheckpointReader(prefix) as reader:
        assert sorted(reader.keys()) == sorted(
            [
                "_CHECKPOINTABLE_OBJECT_GRAPH",
                "d/we.Sird..name/.ATTRIBUTES/VARIABLE_VALUE",
                "d/b.Sc/.ATTRIBUTES/VARIABLE_VALUE",
                "layers/0/.ATTRIBUTES/VARIABLE_VALUE",
            ]
        )
        assert reader.get_tensor("d/b.Sc/.ATTRIBUTES/VARIABLE_VALUE") == np.float32(2)
    graph = read_graph(prefix)
    d_node = graph.nodes[graph.nodes[0].children[0].node_id]
    # The graph stores the raw, unescaped local names.
    assert [c.local_name for c in d_node.children] == ["we/ird.name", "b/c"]

    fresh = ckpt.Module()
    fresh.d = {"we/ird.name": ckpt.Variable(np.float32(0)), "b/c": ckpt.Variable(np.float32(0))}
    fresh.layers = [ckpt.Variable(np.float32(0))]
    ckpt.CheckpointableSaver(fresh).restore(prefix).assert_consumed()
    assert fresh.d["we/ird.name"].numpy() == 1
    assert fresh.d["b/c"].numpy() == 2
    assert fresh.layers[0].numpy() == 3


def test_root_attribute_key(tmp_path) -> None:
    root = ckpt.Variable(np.float32(5))
    prefix = ckpt.CheckpointableSaver(root).save(str(tmp_path / "r"))
    with ckpt.CheckpointReader(prefix) as reader:
        assert sorted(reader.keys()) == [
            "/.ATTRIBUTES/VARIABLE_VALUE",
            "_CHECKPOINTABLE_OBJECT_GRAPH",
        ]
    fresh = ckpt.Variable(np.float32(0))
    ckpt.CheckpointableSaver(fresh).restore(prefix).assert_consumed()
    assert fresh.numpy() == 5


def test_checkpoint_with_variable_root_saves_root_attribute(tmp_path) -> None:
    """TF: ``Checkpoint(root=tf.Variable(1.))`` writes ``/.ATTRIBUTES/VARIABLE_VALUE``."""
    checkpoint = ckpt.Checkpoint(root=ckpt.Variable(np.float32(1)))
    prefix = checkpoint.save(str(tmp_path / "r"))
    with ckpt.CheckpointReader(prefix) as reader:
        assert sorted(reader.keys()) == [
            "/.ATTRIBUTES/VARIABLE_VALUE",
            "_CHECKPOINTABLE_OBJECT_GRAPH",
            "save_counter/.ATTRIBUTES/VARIABLE_VALUE",
        ]
        assert reader.get_tensor("/.ATTRIBUTES/VARIABLE_VALUE") == np.float32(1)
