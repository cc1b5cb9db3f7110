"""The JAX harness of the adapter conformance suite: the shared state as a pytree.

The state is nested dicts of ``jax.Array``\\s holding :data:`harness.LEAVES` with
:func:`harness.expected_values`, restored with ``ckpt.jax.restore`` into a new tree. The
``int64`` step needs 64-bit JAX: it is created, and restored, inside ``jax.enable_x64``.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from harness import expected_values

import ckpt
import ckpt.jax

STATE_NAME = "state"  # the checkpoint keyword the state is saved under


class JaxHarness:
    """Nested dicts of ``jax.Array``\\s, saved by the JAX adapter."""

    name = "jax"

    def make(self, seed: int) -> Any:
        tree: dict[str, Any] = {}
        with jax.enable_x64(True):
            for path, value in expected_values(seed).items():
                *parents, leaf = path.split("/")
                node = tree
                for part in parents:
                    node = node.setdefault(part, {})
                node[leaf] = jax.device_put(value)
        return tree

    def checkpoint(self, state: Any) -> ckpt.Checkpoint:
        return ckpt.Checkpoint(state=state)

    def restore(self, state: Any, prefix: str) -> Any:
        """A new tree like ``state`` holding what ``prefix`` saved under ``state``."""
        return ckpt.jax.restore(prefix, state, name=STATE_NAME)

    def to_numpy(self, state: Any) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}

        def walk(node: Any, path: str) -> None:
            for name, child in node.items():
                child_path = f"{path}/{name}" if path else name
                if isinstance(child, dict):
                    walk(child, child_path)
                else:
                    found[child_path] = np.array(jax.device_get(child))

        walk(state, "")
        return found


HARNESS = JaxHarness()
