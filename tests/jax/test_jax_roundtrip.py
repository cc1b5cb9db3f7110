"""Pytrees saved with ``ckpt.Checkpoint`` and restored with ``ckpt.jax.restore``: exact values."""

from __future__ import annotations

import dataclasses
from collections import namedtuple
from typing import Any

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from flax import struct
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jax_helpers import assert_trees_exact, exact, variable_names

import ckpt
import ckpt.jax

DTYPES_32 = [
    np.float32,
    np.float16,
    ml_dtypes.bfloat16,
    ml_dtypes.float8_e4m3fn,
    ml_dtypes.float8_e5m2,
    np.int8,
    np.int16,
    np.int32,
    np.uint8,
    np.uint32,
    np.bool_,
    np.complex64,
]
DTYPES_64 = [np.int64, np.uint64, np.float64, np.complex128]


def random_array(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Random bits of ``dtype`` (NaNs and infinities included: the round trip must be exact)."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    raw = rng.integers(0, 256, (*shape, dtype.itemsize), dtype=np.uint8)
    return raw.view(dtype).reshape(shape)


def mixed_tree(seed: int, dtypes: list[Any]) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "arrays": {
            np.dtype(dtype).name: jnp.asarray(random_array(rng, (2, 3), dtype)) for dtype in dtypes
        },
        "scalars": [jnp.asarray(random_array(rng, (), dtype)) for dtype in dtypes],
        "empty": jnp.zeros((0, 4), jnp.float32),
    }


def test_mixed_dtypes_round_trip_exactly(tmp_path: Any) -> None:
    tree = mixed_tree(0, DTYPES_32)
    path = ckpt.Checkpoint(params=tree).save(str(tmp_path / "ckpt"))
    with ckpt.CheckpointReader(path) as reader:
        key = "params/arrays/bfloat16/.ATTRIBUTES/VARIABLE_VALUE"
        assert reader.get_variable_to_tf_dtype_map()[key] == "bfloat16"
        assert exact(reader.get_tensor(key), tree["arrays"]["bfloat16"])
    restored = ckpt.jax.restore(path, mixed_tree(1, DTYPES_32), name="params")
    assert_trees_exact(restored, tree)
    for leaf in jax.tree_util.tree_leaves(restored):
        assert isinstance(leaf, jax.Array)


def test_64_bit_dtypes_round_trip_with_x64(tmp_path: Any) -> None:
    with jax.enable_x64(True):
        tree = mixed_tree(0, DTYPES_64)
        assert tree["arrays"]["int64"].dtype == np.int64
        path = ckpt.Checkpoint(params=tree).save(str(tmp_path / "ckpt"))
        restored = ckpt.jax.restore(path, mixed_tree(1, DTYPES_64), name="params")
        assert_trees_exact(restored, tree)
        assert restored["arrays"]["float64"].dtype == np.float64


def test_restore_does_not_touch_the_target(tmp_path: Any) -> None:
    tree = {"w": jnp.arange(4.0)}
    path = ckpt.Checkpoint(p=tree).save(str(tmp_path / "ckpt"))
    target = {"w": jnp.zeros(4)}
    restored = ckpt.jax.restore(path, target, name="p")
    np.testing.assert_array_equal(target["w"], np.zeros(4))
    np.testing.assert_array_equal(restored["w"], np.arange(4.0))


Adam = namedtuple("Adam", ["count", "mu", "nu"])


@struct.dataclass
class TrainState:
    step: jax.Array
    params: dict[str, jax.Array]
    name: str = struct.field(pytree_node=False, default="run")


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class Registered:
    weights: list[jax.Array]
    scale: float
    tag: str = dataclasses.field(default="t", metadata={"static": True})


def test_containers_round_trip(tmp_path: Any) -> None:
    def make(seed: int) -> Any:
        rng = np.random.default_rng(seed)
        w = jnp.asarray(rng.standard_normal((3, 2)), jnp.float32)
        return {
            "adam": Adam(jnp.int32(seed), {"w": w}, {"w": w * 2}),
            "train": TrainState(jnp.int32(seed), {"w": w + 1}, name=f"run{seed}"),
            "registered": Registered([w, w.T], float(seed) + 0.5, tag=f"t{seed}"),
            "list": [w, (w, w[0])],
            "python": {"int": seed, "float": seed / 3, "bool": seed % 2 == 0},
            "numpy": {"array": np.full(3, seed, np.int16), "scalar": np.float32(seed)},
        }

    tree = make(3)
    path = ckpt.Checkpoint(state=tree).save(str(tmp_path / "ckpt"))
    assert "state/train/params/w" in variable_names(path)
    assert "state/registered/weights/1" in variable_names(path)
    restored = ckpt.jax.restore(path, make(4), name="state")
    # Static fields come from the target; everything saved comes from the checkpoint.
    assert restored["train"].name == "run4" and restored["registered"].tag == "t4"
    restored["train"] = restored["train"].replace(name="run3")
    restored["registered"].tag = "t3"
    assert_trees_exact(restored, tree)
    assert type(restored["python"]["int"]) is int and restored["python"]["int"] == 3
    assert type(restored["python"]["bool"]) is bool
    assert type(restored["numpy"]["array"]) is np.ndarray
    assert type(restored["numpy"]["scalar"]) is np.float32


def test_prng_keys_round_trip(tmp_path: Any) -> None:
    keys = {"new": jax.random.key(7), "split": jax.random.split(jax.random.key(3), 4)}
    path = ckpt.Checkpoint(rng=keys).save(str(tmp_path / "ckpt"))
    assert ckpt.load_variable(path, "rng/split/.ATTRIBUTES/VARIABLE_VALUE").shape == (4, 2)
    target = {"new": jax.random.key(0), "split": jax.random.split(jax.random.key(0), 4)}
    restored = ckpt.jax.restore(path, target, name="rng")
    for name in keys:
        assert restored[name].dtype == keys[name].dtype
        assert exact(jax.random.key_data(restored[name]), jax.random.key_data(keys[name]))
    # Also into an abstract target, as ``jax.eval_shape`` makes them.
    abstract = jax.eval_shape(lambda: target)
    restored = ckpt.jax.restore(path, abstract, name="rng")
    assert exact(jax.random.key_data(restored["split"]), jax.random.key_data(keys["split"]))


def test_abstract_target(tmp_path: Any) -> None:
    tree = {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(3, jnp.bfloat16)}
    path = ckpt.Checkpoint(params=tree).save(str(tmp_path / "ckpt"))
    abstract = jax.eval_shape(lambda: tree)
    assert isinstance(abstract["w"], jax.ShapeDtypeStruct)
    restored = ckpt.jax.restore(path, abstract, name="params")
    assert_trees_exact(restored, tree)


def test_single_array_targets(tmp_path: Any) -> None:
    w = jnp.arange(3, dtype=jnp.int8)
    path = ckpt.Checkpoint(w=w).save(str(tmp_path / "one"))
    assert exact(ckpt.jax.restore(path, jnp.zeros(3, jnp.int8), name="w"), w)
    assert exact(ckpt.jax.restore(path, {"w": jnp.zeros(3, jnp.int8)})["w"], w)
    # A checkpoint whose root itself holds the value.
    path = ckpt.Checkpoint(root=ckpt.Variable(np.arange(3, dtype=np.int8))).write(
        str(tmp_path / "root")
    )
    assert exact(ckpt.jax.restore(path, jnp.zeros(3, jnp.int8)), w)


def test_checkpoint_restore_in_place_of_the_node(tmp_path: Any) -> None:
    """Through ``Checkpoint.restore``: the node's ``tree`` is the restored tree."""
    tree = {"w": jnp.arange(3.0)}
    path = ckpt.Checkpoint(params=tree).save(str(tmp_path / "ckpt"))
    checkpoint = ckpt.Checkpoint(params={"w": jnp.zeros(3)})
    checkpoint.restore(path).assert_consumed()
    assert_trees_exact(checkpoint.params.tree, tree)
    # A later save writes the restored values.
    again = checkpoint.save(str(tmp_path / "again"))
    assert exact(ckpt.load_variable(again, "params/w/.ATTRIBUTES/VARIABLE_VALUE"), tree["w"])


def test_async_save(tmp_path: Any) -> None:
    tree = {"w": jnp.arange(5.0)}
    checkpoint = ckpt.Checkpoint(params=tree)
    path = checkpoint.save(
        str(tmp_path / "ckpt"), options=ckpt.CheckpointOptions(enable_async=True)
    )
    checkpoint.sync()
    assert_trees_exact(ckpt.jax.restore(path, {"w": jnp.zeros(5)}, name="params"), tree)


@st.composite
def trees(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.text("abc./_", min_size=1, max_size=4), min_size=1, max_size=4))
    tree: dict[str, Any] = {}
    for name in dict.fromkeys(names):
        shape = tuple(draw(st.lists(st.integers(0, 3), max_size=3)))
        dtype = draw(st.sampled_from(DTYPES_32))
        seed = draw(st.integers(0, 2**32 - 1))
        leaf = jnp.asarray(random_array(np.random.default_rng(seed), shape, dtype))
        tree[name] = {"leaf": leaf} if draw(st.booleans()) else leaf
    return tree


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tree=trees())
def test_random_trees_round_trip(tmp_path: Any, tree: dict[str, Any]) -> None:
    path = ckpt.Checkpoint(params=tree).write(str(tmp_path / "prop"))
    target = jax.tree_util.tree_map(jnp.zeros_like, tree)
    assert_trees_exact(ckpt.jax.restore(path, target, name="params"), tree)


def test_directory_means_latest(tmp_path: Any) -> None:
    checkpoint = ckpt.Checkpoint(params={"w": jnp.ones(2)})
    checkpoint.save(str(tmp_path / "ckpt"))
    checkpoint.params = {"w": jnp.full(2, 2.0)}
    checkpoint.save(str(tmp_path / "ckpt"))
    restored = ckpt.jax.restore(str(tmp_path), {"w": jnp.zeros(2)}, name="params")
    np.testing.assert_array_equal(restored["w"], [2.0, 2.0])


@pytest.mark.parametrize("dtype", [ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2])
def test_float8_special_values(tmp_path: Any, dtype: Any) -> None:
    values = np.array(
        [0.0, -0.0, 1.5, -448.0 if dtype == ml_dtypes.float8_e4m3fn else 57344.0, np.nan],
        dtype=dtype,
    )
    path = ckpt.Checkpoint(x=jnp.asarray(values)).write(str(tmp_path / "f8"))
    restored = ckpt.jax.restore(path, jnp.zeros(5, dtype), name="x")
    assert exact(restored, values)


def test_64_bit_leaf_restored_without_x64(tmp_path: Any) -> None:
    """A 64-bit leaf made in ``enable_x64`` stays 64-bit when restored outside it."""
    with jax.enable_x64(True):
        step = jnp.asarray(2**40, jnp.int64)
    path = ckpt.Checkpoint(s={"step": step}).write(str(tmp_path / "ckpt"))
    restored = ckpt.jax.restore(path, {"step": step}, name="s")
    assert restored["step"].dtype == np.int64
    with jax.enable_x64(True):
        assert int(restored["step"]) == 2**40
