"""The leaves of a pytree that hold values: how each kind goes to host memory and comes back.

A checkpoint stores NumPy arrays; a pytree's leaves are ``jax.Array``\\s (with a sharding,
possibly PRNG keys), abstract ``jax.ShapeDtypeStruct``\\s (restore targets only), NumPy arrays
and scalars, and Python numbers. :func:`spec` says what a leaf stores, :func:`to_host` gives
the array to save, and :func:`from_host` turns a restored array back into a leaf of the same
kind, placed as the original was. Every other leaf (``None``, strings, functions) is static:
it is neither saved nor restored.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np

from ckpt.errors import InvalidTensorError

__all__ = [
    "from_host",
    "is_jax_leaf",
    "is_python_scalar",
    "is_value_leaf",
    "python_scalar_accepts",
    "spec",
    "to_host",
]

_PYTHON_SCALARS = (bool, int, float, complex)


def is_jax_leaf(leaf: Any) -> bool:
    """A ``jax.Array`` (PRNG key arrays included) or an abstract ``jax.ShapeDtypeStruct``."""
    return isinstance(leaf, (jax.Array, jax.ShapeDtypeStruct))


def is_python_scalar(leaf: Any) -> bool:
    return isinstance(leaf, _PYTHON_SCALARS)


def is_value_leaf(leaf: Any) -> bool:
    """Whether a leaf is saved (an array, an abstract array or a Python number)."""
    return is_jax_leaf(leaf) or isinstance(leaf, (np.ndarray, np.generic, *_PYTHON_SCALARS))


def _is_key(leaf: Any) -> bool:
    return bool(jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key))


def spec(leaf: Any) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """Shape and dtype of what ``leaf`` stores (a PRNG key stores its ``uint32`` key data)."""
    if is_jax_leaf(leaf):
        if _is_key(leaf):
            data = jax.eval_shape(jax.random.key_data, leaf)
            return tuple(data.shape), np.dtype(data.dtype)
        return tuple(int(d) for d in leaf.shape), np.dtype(leaf.dtype)
    array = np.asarray(leaf)
    if array.dtype.kind in "SUO":
        raise InvalidTensorError(
            f"a pytree leaf of dtype {array.dtype} cannot be saved by the JAX adapter: use "
            "numeric arrays, or keep strings in a ckpt.JsonState"
        )
    return tuple(array.shape), array.dtype


def to_host(leaf: Any, name: str) -> np.ndarray:
    """The NumPy array saved for ``leaf`` (copied from its devices if it is a ``jax.Array``)."""
    if isinstance(leaf, jax.ShapeDtypeStruct):
        raise InvalidTensorError(
            f"pytree leaf {name!r} is an abstract jax.ShapeDtypeStruct: it has no value to "
            "save (abstract trees are restore targets only)",
            key=name,
        )
    if isinstance(leaf, jax.Array):
        if _is_key(leaf):
            leaf = jax.random.key_data(leaf)
        return np.asarray(jax.device_get(leaf))
    return np.asarray(leaf)


def _sharding(like: Any) -> Any:
    return getattr(like, "sharding", None)


def from_host(value: np.ndarray, like: Any) -> Any:
    """A new leaf of ``like``'s kind holding ``value`` (already of ``spec(like)``).

    A ``jax.Array`` (or ``ShapeDtypeStruct`` with a sharding) target gets a ``jax.Array`` with
    the target's sharding; a PRNG key target gets a key of the same implementation; NumPy and
    Python targets get NumPy arrays, NumPy scalars and Python numbers.
    """
    if is_jax_leaf(like):
        sharding = _sharding(like)
        if _is_key(like):
            impl = jax.random.key_impl(
                like if isinstance(like, jax.Array) else jnp.zeros((), like.dtype)
            )
            return jax.random.wrap_key_data(jax.device_put(value, sharding), impl=impl)
        if jax.dtypes.canonicalize_dtype(value.dtype) != value.dtype:
            # A 64-bit target with 64-bit JAX off: such a leaf exists only if it was made in
            # ``jax.enable_x64``; device_put outside it would silently truncate to 32 bits.
            with jax.enable_x64(True):
                return jax.device_put(value, sharding)
        return jax.device_put(value, sharding)
    if isinstance(like, np.generic):
        return value[()]
    if isinstance(like, np.ndarray):
        return value
    if isinstance(like, bool):
        return bool(value)
    return type(like)(value.item())


def _is_float(dtype: np.dtype[Any]) -> bool:
    if dtype.kind == "f":
        return True
    try:
        ml_dtypes.finfo(dtype)  # type: ignore[no-untyped-call]  # bfloat16, float8 (kind V)
    except (TypeError, ValueError):
        return False
    return True


def python_scalar_accepts(like: Any, dtype: np.dtype[Any]) -> bool:
    """Whether a Python number target takes a checkpoint scalar of ``dtype``.

    Python numbers have no dtype, so the kind decides: a ``bool`` takes bools, an ``int``
    integers, a ``float`` floats and integers, a ``complex`` any number.
    """
    if isinstance(like, bool):
        return dtype.kind == "b"
    if isinstance(like, int):
        return dtype.kind in "iu"
    if isinstance(like, float):
        return dtype.kind in "iu" or _is_float(dtype)
    return dtype.kind in "iuc" or _is_float(dtype)
