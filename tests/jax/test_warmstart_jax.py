"""``ckpt.jax.init_from_checkpoint``: warm-starting pytrees by name, through the core warm start.

Includes the demonstration: a torch-trained MLP, saved with ``ckpt.Checkpoint(model=...)``,
loaded into equivalent Flax Linen and NNX MLPs through an assignment map with transposes; the
three give the same outputs on the same inputs.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax_helpers import assert_trees_exact, exact

import ckpt
import ckpt.jax


def old_checkpoint(tmp_path: Any) -> tuple[str, dict[str, np.ndarray]]:
    """A name-based checkpoint (plain tensor names, as TF1's Saver writes them)."""
    rng = np.random.default_rng(0)
    tensors = {
        "old/fc1/w": rng.standard_normal((3, 8)).astype(np.float32),
        "old/fc1/b": rng.standard_normal(8).astype(np.float32),
        "old/fc2/w": rng.standard_normal((8, 2)).astype(np.float32),
        "old/fc2/b": rng.standard_normal(2).astype(np.float32),
        "torchlike/weight": rng.standard_normal((8, 3)).astype(np.float32),
    }
    prefix = str(tmp_path / "old")
    ckpt.write_tensors(prefix, tensors)
    return prefix, tensors


class FlaxMLP(nn.Module):
    hidden: int = 8

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return nn.Dense(2, name="fc2")(nn.relu(nn.Dense(self.hidden, name="fc1")(x)))


def test_exact_names(tmp_path: Any) -> None:
    prefix, tensors = old_checkpoint(tmp_path)
    variables = FlaxMLP().init(jax.random.key(0), jnp.ones((1, 3)))
    new = ckpt.jax.init_from_checkpoint(
        prefix, {"old/fc1/w": "params/fc1/kernel", "old/fc1/b": "params/fc1/bias"}, variables
    )
    assert exact(new["params"]["fc1"]["kernel"], tensors["old/fc1/w"])
    assert exact(new["params"]["fc1"]["bias"], tensors["old/fc1/b"])
    # Unmapped leaves keep their values; the target is untouched.
    assert exact(new["params"]["fc2"]["kernel"], variables["params"]["fc2"]["kernel"])
    assert not exact(variables["params"]["fc1"]["kernel"], tensors["old/fc1/w"])
    assert isinstance(new["params"]["fc1"]["kernel"], jax.Array)
    assert new["params"]["fc1"]["kernel"].sharding == variables["params"]["fc1"]["kernel"].sharding


def test_globs_and_transforms(tmp_path: Any) -> None:
    prefix, tensors = old_checkpoint(tmp_path)
    variables = FlaxMLP().init(jax.random.key(0), jnp.ones((1, 3)))
    new = ckpt.jax.init_from_checkpoint(
        prefix,
        {"old/*/w": "params/*/kernel", "old/*/b": "params/*/bias"},
        variables,
    )
    for layer in ("fc1", "fc2"):
        assert exact(new["params"][layer]["kernel"], tensors[f"old/{layer}/w"])
        assert exact(new["params"][layer]["bias"], tensors[f"old/{layer}/b"])
    # A torch-layout [out, in] weight into a Flax [in, out] kernel.
    new = ckpt.jax.init_from_checkpoint(
        prefix,
        {"torchlike/weight": "params/fc1/kernel"},
        variables,
        transforms={"torchlike/weight": ckpt.transforms.Transpose()},
    )
    assert exact(new["params"]["fc1"]["kernel"], tensors["torchlike/weight"].T)


def test_shape_mismatch_is_refused(tmp_path: Any) -> None:
    prefix, _ = old_checkpoint(tmp_path)
    variables = FlaxMLP().init(jax.random.key(0), jnp.ones((1, 3)))
    with pytest.raises(ckpt.errors.CheckpointError) as info:
        ckpt.jax.init_from_checkpoint(prefix, {"old/fc1/w": "params/fc2/kernel"}, variables)
    assert isinstance(info.value, ValueError)


def test_nnx_state(tmp_path: Any) -> None:
    prefix, tensors = old_checkpoint(tmp_path)
    model = nnx.Linear(3, 8, rngs=nnx.Rngs(0))
    state = ckpt.jax.init_from_checkpoint(
        prefix, {"old/fc1/w": "kernel", "old/fc1/b": "bias"}, nnx.state(model)
    )
    nnx.update(model, state)
    assert exact(model.kernel[...], tensors["old/fc1/w"])


# --- the demonstration: torch -> Flax ---------------------------------------------------------


def trained_torch_mlp(tmp_path: Any) -> tuple[Any, str]:
    torch = pytest.importorskip("torch")

    class TorchMLP(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = torch.nn.Linear(3, 16)
            self.fc2 = torch.nn.Linear(16, 2)

        def forward(self, x: Any) -> Any:
            return self.fc2(torch.relu(self.fc1(x)))

    torch.manual_seed(0)
    model = TorchMLP()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    inputs = torch.randn(32, 3)
    targets = torch.randn(32, 2)
    for _ in range(5):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(inputs), targets)
        loss.backward()
        optimizer.step()
    path = ckpt.Checkpoint(model=model).save(str(tmp_path / "torch"))
    return model, path


def torch_outputs(model: Any, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()  # type: ignore[no-any-return]


def test_torch_mlp_into_flax_linen(tmp_path: Any) -> None:
    model, path = trained_torch_mlp(tmp_path)
    flax_model = FlaxMLP(hidden=16)
    variables = flax_model.init(jax.random.key(0), jnp.ones((1, 3)))
    variables = ckpt.jax.init_from_checkpoint(
        path,
        {"model/*/weight": "params/*/kernel", "model/*/bias": "params/*/bias"},
        variables,
        transforms={"**/weight": ckpt.transforms.Transpose()},
    )
    x = np.random.default_rng(1).standard_normal((10, 3)).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(flax_model.apply(variables, x)), torch_outputs(model, x), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_array_equal(
        variables["params"]["fc1"]["kernel"], model.fc1.weight.detach().numpy().T
    )


def test_torch_mlp_into_flax_nnx(tmp_path: Any) -> None:
    class NnxMLP(nnx.Module):
        def __init__(self, rngs: nnx.Rngs) -> None:
            self.fc1 = nnx.Linear(3, 16, rngs=rngs)
            self.fc2 = nnx.Linear(16, 2, rngs=rngs)

        def __call__(self, x: jax.Array) -> jax.Array:
            return self.fc2(nnx.relu(self.fc1(x)))

    model, path = trained_torch_mlp(tmp_path)
    flax_model = NnxMLP(nnx.Rngs(0))
    before = nnx.state(flax_model)
    state = ckpt.jax.init_from_checkpoint(
        path,
        {"model/*/weight": "*/kernel", "model/*/bias": "*/bias"},
        before,
        transforms={"**/weight": ckpt.transforms.Transpose()},
    )
    nnx.update(flax_model, state)
    x = np.random.default_rng(2).standard_normal((10, 3)).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(flax_model(jnp.asarray(x))), torch_outputs(model, x), rtol=1e-5, atol=1e-6
    )
    # And the warm-started state round-trips through a JAX checkpoint.
    saved = ckpt.Checkpoint(model=nnx.state(flax_model)).save(str(tmp_path / "flax"))
    assert_trees_exact(ckpt.jax.restore(saved, before, name="model"), nnx.state(flax_model))
