"""Shared helpers of the JAX adapter tests: exact comparison of pytrees and checkpoint keys."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

import ckpt

VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"


def exact(a: Any, b: Any) -> bool:
    """Same shape, dtype and bytes (NaN payloads included); PRNG keys by their key data."""
    x, y = (np.asarray(jax.device_get(_key_data(v))) for v in (a, b))
    if x.shape != y.shape or x.dtype != y.dtype:
        return False
    return bool(np.array_equal(x.reshape(-1).view(np.uint8), y.reshape(-1).view(np.uint8)))


def _key_data(value: Any) -> Any:
    if isinstance(value, jax.Array) and jax.numpy.issubdtype(value.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(value)
    return value


def assert_trees_exact(a: Any, b: Any) -> None:
    """Same structure, leaf types and exact values."""
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for (path, x), y in zip(
        jax.tree_util.tree_flatten_with_path(a)[0], jax.tree_util.tree_leaves(b), strict=True
    ):
        assert type(x) is type(y), (jax.tree_util.keystr(path), type(x), type(y))
        assert exact(x, y), jax.tree_util.keystr(path)


def variable_names(path: str) -> list[str]:
    """The object paths of the variables in a checkpoint (``params/dense/kernel``)."""
    return sorted(k[: -len(VALUE)] for k, _ in ckpt.list_variables(path) if k.endswith(VALUE))
