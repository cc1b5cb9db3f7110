"""Flax (Linen and NNX) and optax state through ``ckpt.Checkpoint`` and ``ckpt.jax.restore``."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax_helpers import assert_trees_exact, variable_names

import ckpt
import ckpt.jax


class LinenMLP(nn.Module):
    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.relu(nn.Dense(8, name="fc1")(x))
        x = nn.Dense(2, name="fc2", param_dtype=jnp.bfloat16)(x)
        return nn.BatchNorm(use_running_average=True, name="bn")(x)


class NnxMLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs) -> None:
        self.fc1 = nnx.Linear(3, 8, rngs=rngs)
        self.bn = nnx.BatchNorm(8, rngs=rngs)
        self.drop = nnx.Dropout(0.5, rngs=rngs)
        self.fc2 = nnx.Linear(8, 2, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.fc2(self.drop(nnx.relu(self.bn(self.fc1(x)))))


def train_steps(params: Any, steps: int = 3) -> tuple[Any, Any]:
    optimizer = optax.adamw(1e-2)
    state = optimizer.init(params)
    for i in range(steps):
        grads = jax.tree_util.tree_map(lambda p, i=i: jnp.full_like(p, 0.1 * (i + 1)), params)
        updates, state = optimizer.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    return params, state


def test_optax_adamw_state(tmp_path: Any) -> None:
    params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2, jnp.bfloat16)}
    params, opt_state = train_steps(params)
    assert int(opt_state[0].count) == 3
    path = ckpt.Checkpoint(params=params, opt_state=opt_state).save(str(tmp_path / "ckpt"))
    names = variable_names(path)
    assert "opt_state/0/count" in names and "opt_state/0/mu/w" in names
    assert "opt_state/0/nu/b" in names
    fresh = {"w": jnp.zeros((3, 2)), "b": jnp.ones(2, jnp.bfloat16)}
    target = {"params": fresh, "opt_state": optax.adamw(1e-2).init(fresh)}
    restored, status = ckpt.jax.restore_with_status(path, target)
    status.assert_consumed()
    assert_trees_exact(restored["opt_state"], opt_state)
    assert_trees_exact(restored["params"], params)
    # The restored state keeps working with the optimizer.
    new_params, _ = train_steps(restored["params"], 1)
    assert new_params["w"].shape == (3, 2)


def test_linen_variables(tmp_path: Any) -> None:
    model = LinenMLP()
    x = jnp.linspace(-1, 1, 12).reshape(4, 3)
    variables = model.init(jax.random.key(0), x)
    path = ckpt.Checkpoint(model=variables).save(str(tmp_path / "ckpt"))
    names = variable_names(path)
    assert "model/params/fc1/kernel" in names
    assert "model/batch_stats/bn/mean" in names
    other = model.init(jax.random.key(1), x)
    restored = ckpt.jax.restore(path, other, name="model")
    assert_trees_exact(restored, variables)
    np.testing.assert_array_equal(model.apply(restored, x), model.apply(variables, x))


def test_linen_partitioned_params_have_no_value_component(tmp_path: Any) -> None:
    class Boxed(nn.Module):
        @nn.compact
        def __call__(self, x: jax.Array) -> jax.Array:
            init = nn.with_partitioning(nn.initializers.lecun_normal(), (None, "model"))
            return nn.Dense(4, kernel_init=init, name="dense")(x)

    variables = Boxed().init(jax.random.key(0), jnp.ones((1, 3)))
    path = ckpt.Checkpoint(model=variables).save(str(tmp_path / "ckpt"))
    assert variable_names(path) == [
        "model/params/dense/bias",
        "model/params/dense/kernel",
        "save_counter",
    ]
    restored = ckpt.jax.restore(
        path, Boxed().init(jax.random.key(1), jnp.ones((1, 3))), name="model"
    )
    assert isinstance(restored["params"]["dense"]["kernel"], nn.Partitioned)
    assert restored["params"]["dense"]["kernel"].names == (None, "model")
    assert_trees_exact(restored, variables)


def test_nnx_state_and_update(tmp_path: Any) -> None:
    model = NnxMLP(nnx.Rngs(0))
    x = jnp.linspace(-1, 1, 12).reshape(4, 3)
    model.train()
    model(x)  # moves batch statistics and the dropout RNG counter
    model.eval()
    path = ckpt.Checkpoint(model=nnx.state(model)).save(str(tmp_path / "ckpt"))
    names = variable_names(path)
    assert "model/fc1/kernel" in names  # no ".value" component
    assert "model/bn/mean" in names
    assert "model/drop/rngs/key" in names and "model/drop/rngs/count" in names

    other = NnxMLP(nnx.Rngs(1))
    other.eval()
    assert not np.array_equal(other(x), model(x))
    state = nnx.state(other)
    restored = ckpt.jax.restore(path, state, name="model")
    assert isinstance(restored, nnx.State)
    # Nothing was modified in place: ``state`` shares its Variables with ``other``.
    assert not np.array_equal(other.fc1.kernel[...], model.fc1.kernel[...])
    nnx.update(other, restored)
    np.testing.assert_array_equal(other(x), model(x))
    assert_trees_exact(nnx.state(other), nnx.state(model))


def test_nnx_abstract_model(tmp_path: Any) -> None:
    """Restore without building the model's values: ``nnx.eval_shape`` then ``nnx.merge``."""
    model = NnxMLP(nnx.Rngs(0))
    path = ckpt.Checkpoint(model=nnx.state(model)).save(str(tmp_path / "ckpt"))
    abstract = nnx.eval_shape(lambda: NnxMLP(nnx.Rngs(5)))
    graphdef, abstract_state = nnx.split(abstract)
    restored = nnx.merge(graphdef, ckpt.jax.restore(path, abstract_state, name="model"))
    x = jnp.ones((2, 3))
    model.eval()
    restored.eval()
    np.testing.assert_array_equal(restored(x), model(x))


def test_nnx_module_as_a_tree(tmp_path: Any) -> None:
    """An NNX module is a pytree too: saving it directly gives the same names as its state."""
    model = NnxMLP(nnx.Rngs(0))
    by_module = ckpt.Checkpoint(model=model).write(str(tmp_path / "module"))
    by_state = ckpt.Checkpoint(model=nnx.state(model)).write(str(tmp_path / "state"))
    assert variable_names(by_module) == variable_names(by_state)
    restored = ckpt.jax.restore(by_module, NnxMLP(nnx.Rngs(3)), name="model")
    assert isinstance(restored, NnxMLP)
    assert_trees_exact(nnx.state(restored), nnx.state(model))


def test_train_state_with_a_manager(tmp_path: Any) -> None:
    """The usual loop: a Flax TrainState, reassigned after each step, saved by a manager."""
    from flax.training import train_state

    model = LinenMLP()
    x = jnp.ones((2, 3))
    variables = model.init(jax.random.key(0), x)

    def create(seed: int) -> train_state.TrainState:
        params = model.init(jax.random.key(seed), x)["params"]
        return train_state.TrainState.create(
            apply_fn=model.apply, params=params, tx=optax.adamw(1e-2)
        )

    state = create(0)
    checkpoint = ckpt.Checkpoint(state=state)
    with ckpt.CheckpointManager(checkpoint, str(tmp_path), max_to_keep=2) as manager:
        for _ in range(3):
            grads = jax.tree_util.tree_map(jnp.ones_like, state.params)
            state = state.apply_gradients(grads=grads)
            checkpoint.state = state  # the checkpoint saves the tree it holds
            manager.save()
        latest = manager.latest_checkpoint
    assert latest is not None and latest.endswith("-3")
    assert "state/opt_state/0/mu/fc1/kernel" in variable_names(latest)
    restored = ckpt.jax.restore(str(tmp_path), create(1), name="state")
    assert int(restored.step) == 3
    assert restored.apply_fn is not None and restored.tx is not None
    assert_trees_exact(restored.params, state.params)
    assert_trees_exact(restored.opt_state, state.opt_state)
    batch_stats = variables["batch_stats"]
    np.testing.assert_array_equal(
        model.apply({"params": restored.params, "batch_stats": batch_stats}, x),
        model.apply({"params": state.params, "batch_stats": batch_stats}, x),
    )
