"""JAX-saved checkpoints read by real TensorFlow, and TF-saved ones restored into pytrees.

Marked ``tf``; skipped without TensorFlow unless ``CKPT_REQUIRE_TF`` is set.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from jax_helpers import exact

import ckpt
import ckpt.jax

sys.path.insert(0, str(Path(__file__).parents[1] / "compat"))
from tf_support import import_tensorflow

tf, TF_MISSING = import_tensorflow()
pytestmark = [pytest.mark.tf, pytest.mark.skipif(tf is None, reason=TF_MISSING or "")]

VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"


def params(seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "dense": {
            "kernel": jnp.asarray(rng.standard_normal((3, 2)), jnp.float32),
            "bias": jnp.asarray(rng.standard_normal(2), jnp.bfloat16),
        },
        "layers": [jnp.asarray(rng.standard_normal(4), jnp.float16)],
        "steps": jnp.int32(seed + 10),
    }


def tf_params(tree: dict[str, Any]) -> dict[str, Any]:
    """The same structure as TF variables (dicts and lists of ``tf.Variable``)."""

    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        array = np.asarray(value)
        return tf.Variable(tf.constant(array, dtype=tf.as_dtype(array.dtype)))

    return convert(tree)


def test_tf_restores_a_jax_checkpoint(tmp_path: Any) -> None:
    tree = params(0)
    path = ckpt.Checkpoint(params=tree).save(str(tmp_path / "ckpt"))
    variables = tf_params(params(1))
    checkpoint = tf.train.Checkpoint(params=variables)
    checkpoint.restore(path).assert_consumed()
    assert int(checkpoint.save_counter.numpy()) == 1
    assert exact(variables["dense"]["kernel"].numpy(), tree["dense"]["kernel"])
    assert exact(variables["dense"]["bias"].numpy(), tree["dense"]["bias"])
    assert exact(variables["layers"][0].numpy(), tree["layers"][0])
    assert exact(variables["steps"].numpy(), tree["steps"])


def test_tf_reads_every_dtype(tmp_path: Any) -> None:
    rng = np.random.default_rng(0)
    dtypes = [
        np.float32, np.float16, ml_dtypes.bfloat16, ml_dtypes.float8_e4m3fn,
        ml_dtypes.float8_e5m2, np.int8, np.int16, np.int32, np.uint8, np.uint32, np.bool_,
        np.complex64,
    ]  # fmt: skip
    tree = {
        np.dtype(d).name: jnp.asarray((rng.standard_normal((2, 3)) * 4).astype(d)) for d in dtypes
    }
    path = ckpt.Checkpoint(params=tree).write(str(tmp_path / "dtypes"))
    reader = tf.train.load_checkpoint(path)
    for name, value in tree.items():
        key = f"params/{name}{VALUE}"
        got = reader.get_tensor(key)
        assert exact(got, value), name
        assert tf.as_dtype(reader.get_variable_to_dtype_map()[key]).name == name


def test_jax_restores_a_tf_checkpoint(tmp_path: Any) -> None:
    tree = params(2)
    checkpoint = tf.train.Checkpoint(params=tf_params(tree))
    path = checkpoint.save(str(tmp_path / "tf"))
    restored, status = ckpt.jax.restore_with_status(path, {"params": params(3)})
    status.assert_consumed()
    for got, want in zip(
        jax.tree_util.tree_leaves(restored["params"]), jax.tree_util.tree_leaves(tree), strict=True
    ):
        assert isinstance(got, jax.Array)
        assert exact(got, want)
    everything = ckpt.jax.restore(path)
    assert exact(everything["params"]["dense"]["bias"], tree["dense"]["bias"])
