"""``ckpt.jax.restore``: mismatches, the status and report, no-target reads, shardings."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from jax_helpers import assert_trees_exact, exact

import ckpt
import ckpt.jax
from ckpt.errors import (
    CheckpointAssertionError,
    DtypeMismatchError,
    ShapeMismatchError,
    TensorNotFoundError,
)


def params(seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "dense": {
            "kernel": jnp.asarray(rng.standard_normal((3, 2)), jnp.float32),
            "bias": jnp.asarray(rng.standard_normal(2), jnp.bfloat16),
        },
        "steps": jnp.int32(seed),
    }


@pytest.fixture
def saved(tmp_path: Any) -> str:
    return ckpt.Checkpoint(params=params(0), extra={"e": jnp.ones(2)}).save(str(tmp_path / "ckpt"))


# --- mismatches --------------------------------------------------------------------------------


def test_shape_mismatch(saved: str) -> None:
    target = params(1)
    target["dense"]["kernel"] = jnp.zeros((2, 3))
    with pytest.raises(ShapeMismatchError) as info:
        ckpt.jax.restore(saved, target, name="params")
    assert "(root).params.dense.kernel" in str(info.value)
    assert info.value.checkpoint_key == "params/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"


def test_dtype_mismatch_and_cast(saved: str) -> None:
    target = params(1)
    target["dense"]["bias"] = jnp.zeros(2, jnp.float32)
    with pytest.raises(DtypeMismatchError, match="bfloat16 in the checkpoint"):
        ckpt.jax.restore(saved, target, name="params")
    cast = ckpt.jax.restore(
        saved, target, name="params", options=ckpt.CheckpointOptions(allow_dtype_cast=True)
    )
    assert cast["dense"]["bias"].dtype == jnp.float32
    np.testing.assert_array_equal(
        cast["dense"]["bias"], np.asarray(params(0)["dense"]["bias"]).astype(np.float32)
    )


def test_a_mismatch_restores_nothing(saved: str) -> None:
    checkpoint = ckpt.Checkpoint(params={**params(1), "steps": jnp.zeros(3, jnp.int32)})
    before = checkpoint.params.tree
    with pytest.raises(ShapeMismatchError):
        checkpoint.restore(saved)
    assert_trees_exact(checkpoint.params.tree, before)


def test_python_number_leaves_check_kind(tmp_path: Any) -> None:
    path = ckpt.Checkpoint(p={"f": jnp.float32(1.5), "i": jnp.int32(3)}).write(
        str(tmp_path / "ckpt")
    )
    restored = ckpt.jax.restore(path, {"f": 0.0, "i": 0}, name="p")
    assert restored == {"f": 1.5, "i": 3} and type(restored["i"]) is int
    with pytest.raises(DtypeMismatchError, match="type int"):
        ckpt.jax.restore(path, {"f": 0, "i": 0}, name="p")
    with pytest.raises(ShapeMismatchError):
        ckpt.jax.restore(path, {"f": 0.0, "i": jnp.zeros(2, jnp.int32)}, name="p")


# --- status and report ----------------------------------------------------------------------


def test_status_assertions(saved: str) -> None:
    tree, status = ckpt.jax.restore_with_status(saved, params(1), name="params")
    assert_trees_exact(tree, params(0))
    status.assert_existing_objects_matched()
    # The checkpoint's "extra" tree was not asked for.
    with pytest.raises(
        CheckpointAssertionError, match=r"Unresolved object in checkpoint \(root\).extra"
    ):
        status.assert_consumed()
    report = status.report()
    assert report.unused_in_checkpoint == ["extra/e/.ATTRIBUTES/VARIABLE_VALUE"]
    assert ("(root).params.dense.kernel", "params/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE") in (
        report.matched
    )
    assert not report.pending
    # Everything asked for, everything used.
    tree, status = ckpt.jax.restore_with_status(
        saved, {"params": params(1), "extra": {"e": 0.0 * jnp.ones(2)}}
    )
    status.assert_consumed()
    assert status.report().complete


def test_a_leaf_missing_from_the_checkpoint(saved: str) -> None:
    target = {**params(1), "new": jnp.full(2, 7.0)}
    with pytest.raises(CheckpointAssertionError, match=r"\(root\).params.new") as info:
        ckpt.jax.restore(saved, target, name="params")
    assert info.value.report.missing_from_checkpoint == ["(root).params.new"]
    # A partial restore keeps the target's leaf for what the checkpoint lacks.
    tree, status = ckpt.jax.restore_with_status(saved, target, name="params")
    with pytest.raises(CheckpointAssertionError):
        status.assert_consumed()
    with pytest.raises(CheckpointAssertionError):
        status.assert_existing_objects_matched()
    np.testing.assert_array_equal(tree["new"], [7.0, 7.0])
    assert exact(tree["dense"]["kernel"], params(0)["dense"]["kernel"])


def test_written_and_saved_checkpoints_consume_fully(tmp_path: Any) -> None:
    tree = params(0)
    for path in [
        ckpt.Checkpoint(params=tree).write(str(tmp_path / "written")),
        ckpt.Checkpoint(params=tree).save(str(tmp_path / "saved")),
    ]:
        _, status = ckpt.jax.restore_with_status(path, {"params": params(1)})
        status.assert_consumed()


def test_missing_checkpoint(tmp_path: Any) -> None:
    with pytest.raises(ckpt.errors.CheckpointNotFoundError):
        ckpt.jax.restore(str(tmp_path / "nothing-1"), params())


# --- no target ------------------------------------------------------------------------------


def test_no_target_gives_nested_dicts(saved: str) -> None:
    everything = ckpt.jax.restore(saved)
    assert sorted(everything) == ["extra", "params", "save_counter"]
    assert int(everything["save_counter"]) == 1
    assert_trees_exact(everything["params"], params(0))
    assert isinstance(everything["params"]["dense"]["kernel"], jax.Array)
    assert_trees_exact(ckpt.jax.restore(saved, name="params"), params(0))
    assert exact(ckpt.jax.restore(saved, name="params/dense/bias"), params(0)["dense"]["bias"])
    with pytest.raises(TensorNotFoundError, match="'nope'"):
        ckpt.jax.restore(saved, name="params/nope")


def test_no_target_keeps_64_bit_values_exact(tmp_path: Any) -> None:
    path = ckpt.Checkpoint(
        v=ckpt.Variable(np.array([2**40], np.int64)), s=ckpt.JsonState({"a": 1})
    ).write(str(tmp_path / "ckpt"))
    everything = ckpt.jax.restore(path)
    assert isinstance(everything["v"], np.ndarray) and everything["v"][0] == 2**40
    assert everything["s"].item() == b'{"a": 1}'
    with jax.enable_x64(True):
        value = ckpt.jax.restore(path, name="v")
        assert isinstance(value, jax.Array) and value.dtype == np.int64


def test_no_target_name_based_checkpoint(tmp_path: Any) -> None:
    prefix = str(tmp_path / "tf1")
    ckpt.write_tensors(
        prefix,
        {
            "dense/kernel": np.ones((2, 2), np.float32),
            "dense/kernel/Adam": np.zeros((2, 2), np.float32),
            "dense/bias": np.ones(2, ml_dtypes.bfloat16),
            "global_step": np.int32(5),
        },
    )
    tree = ckpt.jax.restore(prefix)
    assert sorted(tree) == ["dense", "global_step"]
    assert sorted(tree["dense"]["kernel"]) == ["", "Adam"]
    assert tree["dense"]["bias"].dtype == ml_dtypes.bfloat16
    assert sorted(ckpt.jax.restore(prefix, name="dense")) == ["bias", "kernel"]
    assert exact(ckpt.jax.restore(prefix, name="dense/kernel/Adam"), np.zeros((2, 2), np.float32))
    with pytest.raises(TensorNotFoundError):
        ckpt.jax.restore(prefix, name="dense/w")
    # With a target, name-based checkpoints match by path.
    restored = ckpt.jax.restore(prefix, {"dense": {"bias": jnp.zeros(2, jnp.bfloat16)}})
    np.testing.assert_array_equal(np.asarray(restored["dense"]["bias"], np.float32), [1.0, 1.0])


# --- shardings ------------------------------------------------------------------------------


def test_single_device_sharding_is_kept(saved: str) -> None:
    device = jax.devices()[-1]
    target = jax.device_put(params(1), device)
    restored = ckpt.jax.restore(saved, target, name="params")
    for leaf, like in zip(
        jax.tree_util.tree_leaves(restored), jax.tree_util.tree_leaves(target), strict=True
    ):
        assert isinstance(leaf.sharding, jax.sharding.SingleDeviceSharding)
        assert leaf.sharding == like.sharding


_MESH_SCRIPT = """
import sys
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
import ckpt, ckpt.jax

assert len(jax.devices()) == 2, jax.devices()
mesh = Mesh(np.array(jax.devices()), ("x",))
rows = NamedSharding(mesh, P("x"))
cols = NamedSharding(mesh, P(None, "x"))
value = jnp.arange(24.0).reshape(4, 6)
replicated = NamedSharding(mesh, P())
tree = {"w": jax.device_put(value, rows), "b": jax.device_put(jnp.ones(6), replicated)}
path = ckpt.Checkpoint(params=tree).save(sys.argv[1])
# The same checkpoint into another layout, and into an abstract target carrying one.
for sharding in (rows, cols):
    target = {"w": jax.ShapeDtypeStruct((4, 6), jnp.float32, sharding=sharding),
              "b": jax.device_put(jnp.zeros(6), replicated)}
    restored = ckpt.jax.restore(path, target, name="params")
    assert restored["w"].sharding == sharding, restored["w"].sharding
    assert restored["b"].sharding == target["b"].sharding
    assert len(restored["w"].addressable_shards) == 2
    np.testing.assert_array_equal(np.asarray(restored["w"]), np.asarray(value))
print("ok")
"""


def test_named_shardings_on_two_devices(tmp_path: Any) -> None:
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "JAX_PLATFORMS": "cpu",
    }
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_MESH_SCRIPT), str(tmp_path / "ckpt")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


def test_a_target_found_nowhere_is_told_where_the_values_are(tmp_path: Any) -> None:
    params = {"w": jnp.ones((2, 2)), "b": jnp.zeros(2)}
    path = ckpt.Checkpoint(params=params, opt_state={"mu": jnp.zeros(2)}).save(
        str(tmp_path / "c")
    )
    hint = r"\['opt_state', 'params'\]: pass name="
    for name in (None, "parms"):
        with pytest.raises(CheckpointAssertionError, match=hint):
            ckpt.jax.restore(path, params, name=name)
    partial = {"w": jnp.ones((2, 2)), "extra": jnp.ones(3)}
    with pytest.raises(CheckpointAssertionError) as info:  # part matched: no hint
        ckpt.jax.restore(path, partial, name="params")
    assert "pass name=" not in str(info.value)
    np.testing.assert_array_equal(ckpt.jax.restore(path, params, name="params")["w"], params["w"])


def test_nested_dicts_of_a_deep_graph_and_of_a_tensor_named_many_times(tmp_path: Any) -> None:
    # No recursion per level, and one read per tensor however many objects name it.
    from ckpt.format import protos

    graph = protos.TrackableObjectGraph()
    for i in range(3000):
        graph.nodes.add().children.add(node_id=i + 1, local_name="n")
    graph.nodes.add().attributes.add(name="VARIABLE_VALUE", full_name="x", checkpoint_key="x")
    for i in range(200):  # 200 more objects, each naming the same tensor
        graph.nodes[0].children.add(node_id=len(graph.nodes), local_name=f"alias{i}")
        graph.nodes.add().attributes.add(name="VARIABLE_VALUE", full_name="x", checkpoint_key="x")
    value = np.arange(5, dtype=np.float32)
    path = ckpt.write_tensors(
        str(tmp_path / "deep"),
        {"x": value, "_CHECKPOINTABLE_OBJECT_GRAPH": np.array(graph.SerializeToString(), object)},
    )
    tree = ckpt.jax.restore(path)
    node = tree
    for _ in range(3000):
        node = node["n"]
    np.testing.assert_array_equal(np.asarray(node), value)
    assert len({id(tree[f"alias{i}"]) for i in range(200)}) == 1  # read once, shared
