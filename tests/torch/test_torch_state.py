"""Python state of torch objects: the tagged JSON codec and ``StateDictState``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import ckpt
from ckpt.errors import CorruptCheckpointError, InvalidTensorError
from ckpt.torch import StateDictState
from ckpt.torch.state import decode, dumps, encode, loads


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types, recursively; tensors bitwise with dtype and shape."""
    if isinstance(a, torch.Tensor):
        return (
            isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and a.reshape(-1).view(torch.uint8).equal(b.reshape(-1).view(torch.uint8))
        )
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


VALUES = {
    "scalars": {"a": 1, "b": 0.1 + 0.2, "c": None, "d": True, "e": "text", "f": -0.0},
    "floats": [float("inf"), float("-inf"), float("nan"), 5e-324, 1.7976931348623157e308],
    "tuples": (0.9, (0.999, [1, (2,)])),
    "int keys": {0: "a", 3: {"x": (1, 2)}, (1, 2): "tuple key"},
    "tag-like key": {"__ckpt_tuple__": 1},
    "tensors": [
        torch.tensor(0.5, dtype=torch.bfloat16),
        torch.arange(6, dtype=torch.int64).reshape(2, 3).t(),
        torch.tensor([1 + 2j]),
        torch.tensor([True, False]),
        torch.full((2,), float("nan")),
    ],
    "numpy scalar": np.float32(1.5),
}


@pytest.mark.parametrize("name", list(VALUES))
def test_codec_round_trips(name: str) -> None:
    value = VALUES[name]
    expected = value.item() if isinstance(value, np.generic) else value
    assert same(loads(dumps(value).encode()), expected)
    assert same(decode(encode(value)), expected)


def test_unsupported_values_are_refused() -> None:
    with pytest.raises(InvalidTensorError, match=r"state\['fn'\] is a function"):
        dumps({"fn": lambda: 0}, "state")
    with pytest.raises(InvalidTensorError, match="set"):
        dumps({1, 2})


def test_corrupt_state_is_reported() -> None:
    with pytest.raises(CorruptCheckpointError, match="JSON"):
        loads(b"{not json")
    bad = b'{"__ckpt_tensor__": {"dtype": "float32", "shape": [3], "data": "AAAA"}}'
    with pytest.raises(CorruptCheckpointError, match="malformed"):
        loads(bad)


class Sampler:
    """Any object with state_dict/load_state_dict can be wrapped explicitly."""

    def __init__(self) -> None:
        self.epoch = 0
        self.order = torch.randperm(5)

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "order": self.order}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.order = state["epoch"], state["order"]


def test_state_dict_state_wraps_any_stateful_object(tmp_path: Path) -> None:
    sampler = Sampler()
    sampler.epoch = 4
    path = ckpt.Checkpoint(sampler=StateDictState(sampler)).write(str(tmp_path / "s"))
    assert ckpt.load_variable(path, "sampler/.ATTRIBUTES/py_state").dtype == object
    other = Sampler()
    ckpt.Checkpoint(sampler=StateDictState(other)).read(path).assert_consumed()
    assert other.epoch == 4 and torch.equal(other.order, sampler.order)
