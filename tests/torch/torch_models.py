"""Small torch models and training loops shared by the torch adapter tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from ckpt.torch.dtypes import host_array

GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


class MLP(nn.Module):
    """Linear -> LayerNorm -> GELU -> Linear -> LayerNorm -> Linear, with a nested encoder."""

    def __init__(self, n_in: int = 8, hidden: int = 16, n_out: int = 4) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(n_in, hidden), nn.LayerNorm(hidden), nn.GELU(),
            nn.Linear(hidden, hidden), nn.LayerNorm(hidden), nn.GELU(),
        )  # fmt: skip
        self.head = nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))  # type: ignore[no-any-return]


def seeded(factory: Callable[[], Any], seed: int) -> Any:
    torch.manual_seed(seed)
    return factory()


def batches(seed: int, count: int, n_in: int = 8, n_out: int = 4) -> list[tuple[torch.Tensor, ...]]:
    generator = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(32, n_in, generator=generator), torch.randn(32, n_out, generator=generator))
        for _ in range(count)
    ]


def train(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Iterable[tuple[torch.Tensor, ...]],
    scheduler: Any = None,
) -> list[float]:
    """One optimizer step per batch; the losses, as Python floats (exact float32 values)."""
    losses = []
    for x, y in data:
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        losses.append(loss.item())
    return losses


def bits(tensor: torch.Tensor) -> bytes:
    """A tensor's values as bytes (exact comparison, NaN payloads included)."""
    return np.ascontiguousarray(host_array(tensor)).tobytes()


def state_bits(model: nn.Module) -> dict[str, bytes]:
    return {name: bits(t) for name, t in model.state_dict().items()}


def optimizer_bits(optimizer: torch.optim.Optimizer) -> dict[tuple[int, str], Any]:
    """Every per-parameter state entry, by (parameter index, name): tensors as bytes."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    found: dict[tuple[int, str], Any] = {}
    for i, p in enumerate(params):
        for name, value in optimizer.state.get(p, {}).items():
            found[(i, name)] = (
                (value.dtype, tuple(value.shape), value.device, bits(value))
                if isinstance(value, torch.Tensor)
                else value
            )
    return found
