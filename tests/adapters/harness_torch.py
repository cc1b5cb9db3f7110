"""The torch harness of the adapter conformance suite: the shared state as nested ``nn.Module``s.

Float leaves are ``nn.Parameter``s, the int64 scalar a buffer (parameters must be floating
point); ``ckpt.Checkpoint(state=module)`` goes through the torch adapter.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from harness import LEAVES, expected_values

import ckpt
from ckpt.torch.dtypes import from_numpy, host_array

__all__ = ["HARNESS", "TorchHarness"]


def _submodule(root: torch.nn.Module, parts: list[str]) -> torch.nn.Module:
    node = root
    for part in parts:
        if part not in node._modules:
            node.add_module(part, torch.nn.Module())
        node = node._modules[part]  # type: ignore[assignment]
    return node


class TorchHarness:
    """Nested ``torch.nn.Module``s holding parameters and a buffer."""

    name = "torch"

    def make(self, seed: int) -> torch.nn.Module:
        root = torch.nn.Module()
        for path, value in expected_values(seed).items():
            *parents, leaf = path.split("/")
            module = _submodule(root, parents)
            tensor = from_numpy(value.copy())
            if tensor.is_floating_point():
                module.register_parameter(leaf, torch.nn.Parameter(tensor))
            else:
                module.register_buffer(leaf, tensor)
        assert set(self.to_numpy(root)) == set(LEAVES)
        return root

    def checkpoint(self, state: Any) -> ckpt.Checkpoint:
        return ckpt.Checkpoint(state=state)

    def restore(self, state: Any, prefix: str) -> Any:
        self.checkpoint(state).read(prefix)
        return state

    def to_numpy(self, state: Any) -> dict[str, np.ndarray]:
        return {
            key.replace(".", "/"): np.array(host_array(tensor), copy=True)
            for key, tensor in state.state_dict().items()
        }


HARNESS = TorchHarness()
