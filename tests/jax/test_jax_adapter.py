"""The JAX adapter's claim and naming rules: which values become graph nodes, and their names."""

from __future__ import annotations

import dataclasses
from collections import namedtuple
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax_helpers import exact, variable_names

import ckpt
import ckpt.jax
from ckpt.errors import DtypeMismatchError, InvalidTensorError, ShapeMismatchError
from ckpt.jax.adapter import adapt, build
from ckpt.trackable.adapters import adapt as core_adapt
from ckpt.trackable.containers import TrackableDict, wrap

Point = namedtuple("Point", ["x", "y"])


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class Layer:
    kernel: jax.Array
    bias: jax.Array
    label: str = dataclasses.field(default="layer", metadata={"static": True})


def test_claims_jax_values() -> None:
    assert isinstance(adapt(jnp.ones(2)), ckpt.jax.Leaf)
    assert isinstance(adapt({"w": jnp.ones(2), "n": np.ones(2)}), ckpt.jax.PyTree)
    assert isinstance(adapt([1, (2.0, jnp.ones(1))]), ckpt.jax.PyTree)
    assert isinstance(adapt(Point(jnp.ones(1), 2)), ckpt.jax.PyTree)
    assert isinstance(adapt(Layer(jnp.ones(2), jnp.zeros(1))), ckpt.jax.PyTree)
    assert isinstance(adapt({"s": jax.ShapeDtypeStruct((2,), jnp.float32)}), ckpt.jax.PyTree)
    # Optax states, also empty ones (nothing to save, but state all the same).
    params = {"w": jnp.ones(3)}
    assert isinstance(adapt(optax.adamw(1e-3).init(params)), ckpt.jax.PyTree)
    empty = adapt(optax.sgd(0.1).init(params))
    assert isinstance(empty, ckpt.jax.PyTree)
    assert empty.leaves() == []


def test_refuses_everything_else() -> None:
    torch = pytest.importorskip("torch")
    for value in [
        np.ones(2),
        np.float32(1),
        {"a": np.ones(2), "b": [1, 2.0]},
        [1, 2, 3],
        (1, "x"),
        "text",
        5,
        None,
        ckpt.Variable(1.0),
        TrackableDict({"v": ckpt.Variable(1.0)}),
        torch.ones(2),
        torch.nn.Linear(2, 2),
        {"t": torch.ones(2)},
        optax.adam(1e-3),  # a transformation, not its state: nothing to save
    ]:
        assert adapt(value) is None, value


def test_core_hook_hands_jax_values_to_the_adapter() -> None:
    """``wrap`` (what Checkpoint keywords and Module attributes go through) adapts JAX trees."""
    assert isinstance(core_adapt({"w": jnp.ones(2)}), ckpt.jax.PyTree)
    assert isinstance(wrap({"w": jnp.ones(2)}), ckpt.jax.PyTree)
    assert isinstance(wrap({"w": np.ones(2)}), TrackableDict)
    assert isinstance(wrap(optax.adamw(1e-3).init({"w": jnp.ones(3)})), ckpt.jax.PyTree)


def test_names_follow_key_paths(tmp_path: Any) -> None:
    tree = {
        "dense": {"kernel": jnp.ones((2, 3)), "bias": jnp.zeros(3)},
        "layers": [jnp.ones(1), (jnp.ones(2), None)],
        "point": Point(x=jnp.ones(1), y=jnp.ones(1)),
        "layer": Layer(jnp.ones(2), jnp.zeros(2)),
        "we/ird.name": jnp.ones(1),
        "ints": {7: jnp.ones(1), 10: jnp.ones(1)},
    }
    path = ckpt.Checkpoint(params=tree).write(str(tmp_path / "names"))
    assert variable_names(path) == [
        "params/dense/bias",
        "params/dense/kernel",
        "params/ints/10",
        "params/ints/7",
        "params/layer/bias",
        "params/layer/kernel",
        "params/layers/0",
        "params/layers/1/0",
        "params/point/x",
        "params/point/y",
        "params/we.Sird..name",  # TF's escaping of "/" and "."
    ]


def test_leaf_is_a_variable_node() -> None:
    tree = build({"a": {"b": jnp.ones((2, 3), jnp.bfloat16)}, "n": 3, "f": 2.5})
    assert isinstance(tree, ckpt.jax.PyTree)
    leaves = {leaf.name: leaf for leaf in tree.leaves()}
    assert sorted(leaves) == ["a/b", "f", "n"]
    kernel = leaves["a/b"]
    assert kernel.shape == (2, 3)
    assert kernel.dtype == jnp.bfloat16
    assert kernel._restore_targets()["VARIABLE_VALUE"].shape == (2, 3)
    assert kernel._serialize_to_tensors()["VARIABLE_VALUE"].dtype == jnp.bfloat16
    assert leaves["n"].dtype == np.int64 and leaves["n"].shape == ()
    assert leaves["n"]._restore_targets() == {"VARIABLE_VALUE": None}
    assert leaves["f"].dtype == np.float64


def test_static_leaves_are_kept_not_saved(tmp_path: Any) -> None:
    tree = {"w": jnp.arange(3.0), "label": "encoder", "fn": len, "none": None}
    checkpoint = ckpt.Checkpoint(tree=tree)
    path = checkpoint.write(str(tmp_path / "static"))
    assert variable_names(path) == ["tree/w"]
    restored = ckpt.jax.restore(path, {**tree, "w": jnp.zeros(3)}, name="tree")
    assert restored["label"] == "encoder" and restored["fn"] is len and restored["none"] is None
    np.testing.assert_array_equal(restored["w"], [0.0, 1.0, 2.0])


def test_trackable_objects_inside_a_tree_are_children(tmp_path: Any) -> None:
    counter = ckpt.Variable(np.int64(5))
    path = ckpt.Checkpoint(state={"w": jnp.ones(2), "counter": counter}).write(
        str(tmp_path / "mixed")
    )
    assert variable_names(path) == ["state/counter", "state/w"]
    other = ckpt.Variable(np.int64(0))
    restored = ckpt.jax.restore(path, {"w": jnp.zeros(2), "counter": other}, name="state")
    assert restored["counter"] is other and int(other.numpy()) == 5


def test_module_attribute(tmp_path: Any) -> None:
    class Model(ckpt.Module):
        def __init__(self, params: Any) -> None:
            super().__init__()
            self.params = params

    model = Model({"dense": {"kernel": jnp.ones((2, 2))}})
    assert isinstance(model.params, ckpt.jax.PyTree)
    path = ckpt.Checkpoint(model=model).write(str(tmp_path / "module"))
    assert variable_names(path) == ["model/params/dense/kernel"]
    other = Model({"dense": {"kernel": jnp.zeros((2, 2))}})
    ckpt.Checkpoint(model=other).read(path).assert_consumed()
    np.testing.assert_array_equal(other.params.tree["dense"]["kernel"], np.ones((2, 2)))


class Twins:
    """A pytree node whose two children have keys that print the same."""

    def __init__(self, a: Any, b: Any) -> None:
        self.a, self.b = a, b


jax.tree_util.register_pytree_with_keys(
    Twins,
    lambda t: (((jax.tree_util.GetAttrKey("x"), t.a), (jax.tree_util.DictKey("x"), t.b)), None),
    lambda _, children: Twins(*children),
)


def test_colliding_names_are_refused() -> None:
    with pytest.raises(InvalidTensorError, match="both named 'x'"):
        build(Twins(jnp.ones(1), jnp.ones(1)))
    with pytest.raises(InvalidTensorError, match="both named 'x/y'"):
        build(Twins({"y": jnp.ones(1)}, {"y": jnp.ones(1)}))


def test_string_arrays_are_refused() -> None:
    with pytest.raises(InvalidTensorError, match="cannot be saved"):
        build({"w": jnp.ones(1), "s": np.array(["a", "b"])})


def test_abstract_leaves_cannot_be_saved(tmp_path: Any) -> None:
    checkpoint = ckpt.Checkpoint(p={"w": jax.ShapeDtypeStruct((2,), jnp.float32)})
    with pytest.raises(InvalidTensorError, match="abstract"):
        checkpoint.write(str(tmp_path / "abstract"))


def test_trees_jax_cannot_flatten_are_left_to_the_core() -> None:
    """Dict keys of mixed types cannot be sorted by JAX: not claimed, wrapped as usual."""
    mixed = {1: jnp.ones(1), "a": [jnp.ones(2)]}
    assert adapt(mixed) is None
    wrapped = wrap(mixed)
    assert isinstance(wrapped, TrackableDict)
    assert isinstance(wrapped["a"], ckpt.jax.PyTree)


def test_leaf_checks_what_it_is_given() -> None:
    """Callers that bypass the restore's pre-check (a warm start's function transform)."""
    leaf = ckpt.jax.Leaf(jnp.zeros((2, 2), jnp.float32), "w")
    with pytest.raises(ShapeMismatchError, match="'w'"):
        leaf._restore_from_tensors({"VARIABLE_VALUE": np.zeros((2, 3), np.float32)})
    with pytest.raises(DtypeMismatchError, match="float16"):
        leaf._restore_from_tensors({"VARIABLE_VALUE": np.zeros((2, 2), np.float16)})
    assert exact(leaf.value, np.zeros((2, 2), np.float32))
    leaf._restore_from_tensors({"VARIABLE_VALUE": np.ones((2, 2), np.float32)})
    assert isinstance(leaf.value, jax.Array) and exact(leaf.value, np.ones((2, 2), np.float32))
