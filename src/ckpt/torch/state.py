"""Torch objects whose state is Python data: LR schedulers, ``GradScaler``, RNGs, extra state.

Their ``state_dict()`` is saved as JSON in a scalar string tensor (``py_state``), as
``ckpt.JsonState`` and TF's ``PythonState`` do. JSON lacks a few things state dicts hold, so
they are tagged: tuples (``{"__ckpt_tuple__": [...]}``), dicts with non-string keys
(``{"__ckpt_dict__": [[key, value], ...]}``) and tensors (``{"__ckpt_tensor__": {...}}``,
their raw bytes in base64, so every dtype and every bit survives). Floats are written with
``repr`` precision (and ``NaN``/``Infinity``), so they come back bit-identical.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np
import torch

from ckpt.errors import CorruptCheckpointError, InvalidTensorError, ValueMismatchError
from ckpt.torch.dtypes import from_numpy, host_array
from ckpt.trackable.python_state import PythonState, parse_json

__all__ = [
    "ExtraState",
    "GeneratorState",
    "StateDictState",
    "decode",
    "dumps",
    "encode",
    "loads",
]

_TUPLE = "__ckpt_tuple__"
_DICT = "__ckpt_dict__"
_TENSOR = "__ckpt_tensor__"
_TAGS = (_TUPLE, _DICT, _TENSOR)


def encode(value: Any, where: str = "value") -> Any:
    """``value`` as JSON-compatible data, with tuples, odd dicts and tensors tagged."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor):
        array = host_array(value, key=where)
        raw = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        return {
            _TENSOR: {
                "dtype": array.dtype.name,
                "shape": list(array.shape),
                "data": base64.b64encode(raw.tobytes()).decode("ascii"),
            }
        }
    if isinstance(value, (list, tuple)):
        items = [encode(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return {_TUPLE: items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        if all(isinstance(k, str) and k not in _TAGS for k in value):
            return {k: encode(v, f"{where}[{k!r}]") for k, v in value.items()}
        return {_DICT: [[encode(k, where), encode(v, f"{where}[{k!r}]")] for k, v in value.items()]}
    raise InvalidTensorError(
        f"{where} is a {type(value).__name__}, which ckpt cannot save as Python state; state "
        "dicts may hold None, bool, int, float, str, tensors, and lists, tuples and dicts of "
        "them",
        key=where,
    )


def decode(data: Any) -> Any:
    """The inverse of :func:`encode` (tensors come back as CPU tensors)."""
    if isinstance(data, list):
        return [decode(item) for item in data]
    if not isinstance(data, dict):
        return data
    if len(data) == 1:
        (tag, inner), = data.items()
        if tag == _TUPLE:
            return tuple(decode(item) for item in inner)
        if tag == _DICT:
            return {_hashable(decode(k)): decode(v) for k, v in inner}
        if tag == _TENSOR:
            return _decode_tensor(inner)
    return {k: decode(v) for k, v in data.items()}


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def _decode_tensor(spec: Any) -> torch.Tensor:
    try:
        dtype = np.dtype(_named_dtype(spec["dtype"]))
        raw = base64.b64decode(spec["data"], validate=True)
        array = np.frombuffer(raw, dtype).reshape(spec["shape"]).copy()
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptCheckpointError(f"a tensor in Python state is malformed: {exc}") from None
    return from_numpy(array)


def _named_dtype(name: str) -> Any:
    return getattr(ml_dtypes, name) if hasattr(ml_dtypes, name) else np.dtype(name)


def dumps(value: Any, where: str = "value") -> str:
    """``value`` as a JSON string (tagged as :func:`encode` says)."""
    return json.dumps(encode(value, where), allow_nan=True)


def loads(data: bytes) -> Any:
    """The value a :func:`dumps` string holds."""
    parsed = parse_json(data, "Python state")
    try:
        return decode(parsed)
    except CorruptCheckpointError:
        raise
    except (TypeError, ValueError, KeyError, RecursionError) as exc:
        # A tag with the wrong contents (``{"__ckpt_dict__": 5}``), an unhashable key...
        raise CorruptCheckpointError(f"Python state is malformed: {exc!r}") from None


class StateDictState(PythonState):
    """An object's ``state_dict()`` saved as JSON, restored through its ``load_state_dict``.

    Used for LR schedulers and ``torch.amp.GradScaler``; any object with the two methods
    works (wrap it yourself: ``ckpt.Checkpoint(sampler=StateDictState(sampler))``).
    """

    # A ckpt.Module attribute keeps the torch object; this node is tracked beside it.
    _ckpt_restores_in_place = True


    def __init__(self, obj: Any) -> None:
        self._ckpt_target = obj

    def serialize(self) -> str:
        return dumps(self._ckpt_target.state_dict(), type(self._ckpt_target).__name__)

    def deserialize(self, data: bytes) -> None:
        state = loads(data)
        if not isinstance(state, dict):
            raise CorruptCheckpointError(
                f"the state of {type(self._ckpt_target).__name__} must be a dict, got "
                f"{type(state).__name__}"
            )
        self._load(state)

    def _load(self, state: dict[str, Any]) -> None:
        try:
            self._ckpt_target.load_state_dict(state)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueMismatchError(
                f"the checkpoint's state does not fit this {type(self._ckpt_target).__name__}: "
                f"{exc!r}"
            ) from None

    def __repr__(self) -> str:
        return f"<ckpt.torch.StateDictState of {type(self._ckpt_target).__name__}>"


class GradScalerState(StateDictState):
    """A ``GradScaler``: a disabled scaler saves ``{}`` and ignores what it is given."""

    def _load(self, state: dict[str, Any]) -> None:
        scaler = self._ckpt_target
        if not scaler.is_enabled():
            return  # torch's own load_state_dict is a no-op for a disabled scaler too
        if not state:
            raise ValueMismatchError(
                "the checkpoint's GradScaler state is empty: it was saved from a disabled "
                "scaler; restore into a disabled scaler (enabled=False) or drop the scaler "
                "from the Checkpoint"
            )
        try:
            scaler.load_state_dict(state)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ValueMismatchError(
                f"the checkpoint's GradScaler state does not fit this scaler: {exc!r}"
            ) from None


class GeneratorState(PythonState):
    """A ``torch.Generator``'s state (``get_state()``/``set_state()``) as Python state."""

    # A ckpt.Module attribute keeps the torch object; this node is tracked beside it.
    _ckpt_restores_in_place = True


    def __init__(self, generator: torch.Generator) -> None:
        self._ckpt_target = generator

    def serialize(self) -> str:
        return dumps({"state": self._ckpt_target.get_state()}, "torch.Generator")

    def deserialize(self, data: bytes) -> None:
        state = loads(data)
        if not isinstance(state, dict) or not isinstance(state.get("state"), torch.Tensor):
            raise CorruptCheckpointError("the state of a torch.Generator must hold a tensor")
        try:
            self._ckpt_target.set_state(state["state"])
        except RuntimeError as exc:
            raise ValueMismatchError(
                f"the checkpoint's generator state does not fit this generator: {exc}"
            ) from None


class ExtraState(PythonState):
    """An ``nn.Module``'s ``get_extra_state()``, restored by ``set_extra_state()``."""

    def __init__(self, module: torch.nn.Module) -> None:
        self._ckpt_target = module
        self._get: Callable[[], Any] = module.get_extra_state
        self._set: Callable[[Any], None] = module.set_extra_state

    def serialize(self) -> str:
        return dumps(self._get(), f"{type(self._ckpt_target).__name__}.get_extra_state()")

    def deserialize(self, data: bytes) -> None:
        self._set(loads(data))
