"""The harness protocol of the adapter conformance suite, the shared test state, and ckpt's own.

Every adapter (native ``ckpt.Module``/``ckpt.Variable``, torch, JAX) provides a
:class:`Harness` that builds the same state: the leaves of :data:`LEAVES`, under the same
``/``-joined paths, with the values :func:`expected_values` gives for a seed. The suite in
``test_conformance.py`` then checks each harness, and every pair of harnesses, against the
same expectations. A harness module defines ``HARNESS`` (a :class:`Harness` instance);
``test_conformance.py`` collects ``harness.py`` (this file: the native harness),
``harness_torch.py`` and, when the file exists, ``harness_jax.py``.
"""

from __future__ import annotations

from typing import Any, Protocol

import ml_dtypes
import numpy as np

import ckpt
from ckpt.trackable.base import children_of

__all__ = [
    "HARNESS",
    "LEAVES",
    "CkptHarness",
    "Harness",
    "expected_values",
    "native_tree",
]


class Harness(Protocol):
    name: str  # "ckpt", "torch", "jax"

    def make(self, seed: int) -> Any:
        """A fresh state object holding :func:`expected_values` ``(seed)`` under :data:`LEAVES`."""
        ...

    def checkpoint(self, state: Any) -> ckpt.Checkpoint:
        """``ckpt.Checkpoint(state=state)``."""
        ...

    def restore(self, state: Any, prefix: str) -> Any:
        """Restore ``prefix`` into ``state``; return the restored state (JAX: a new tree)."""
        ...

    def to_numpy(self, state: Any) -> dict[str, np.ndarray]:
        """The state's leaves as ``{"a/b/c": array}`` (checkpoint naming), copied."""
        ...


# path -> (shape, dtype): float32 matrices, a bfloat16 tensor, a float16 vector and an int64
# scalar, nested two levels deep.
LEAVES: dict[str, tuple[tuple[int, ...], np.dtype[Any]]] = {
    "encoder/dense/kernel": ((4, 3), np.dtype(np.float32)),
    "encoder/dense/bias": ((3,), np.dtype(np.float32)),
    "encoder/output/kernel": ((3, 2), np.dtype(np.float32)),
    "encoder/embedding": ((5, 4), np.dtype(ml_dtypes.bfloat16)),
    "head/gain": ((6,), np.dtype(np.float16)),
    "head/step": ((), np.dtype(np.int64)),
}


def expected_values(seed: int) -> dict[str, np.ndarray]:
    """The leaf values of a state made with ``seed`` (deterministic; differ between seeds)."""
    rng = np.random.default_rng(seed)
    values = {}
    for path, (shape, dtype) in LEAVES.items():
        if dtype.kind == "i":
            values[path] = np.array(rng.integers(1, 2**40), dtype=dtype).reshape(shape)
        else:
            values[path] = rng.standard_normal(shape).astype(dtype)
    return values


def native_tree(values: dict[str, np.ndarray]) -> ckpt.Module:
    """Nested ``ckpt.Module``s holding a ``ckpt.Variable`` per ``/``-joined path."""
    root = ckpt.Module(name="state")
    for path, value in values.items():
        *parents, leaf = path.split("/")
        node: Any = root
        for part in parents:
            child = getattr(node, part, None)
            if child is None:
                child = ckpt.Module(name=part)
                setattr(node, part, child)
            node = child
        setattr(node, leaf, ckpt.Variable(value, name=path))
    return root


class CkptHarness:
    """ckpt's own objects: nested ``ckpt.Module``s of ``ckpt.Variable``s."""

    name = "ckpt"

    def make(self, seed: int) -> ckpt.Module:
        return native_tree(expected_values(seed))

    def checkpoint(self, state: Any) -> ckpt.Checkpoint:
        return ckpt.Checkpoint(state=state)

    def restore(self, state: Any, prefix: str) -> Any:
        self.checkpoint(state).read(prefix)
        return state

    def to_numpy(self, state: Any) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}

        def walk(obj: Any, path: str) -> None:
            for name, child in children_of(obj).items():
                child_path = f"{path}/{name}" if path else name
                if isinstance(child, ckpt.Variable):
                    found[child_path] = child.numpy().copy()
                else:
                    walk(child, child_path)

        walk(state, "")
        return found


HARNESS = CkptHarness()
