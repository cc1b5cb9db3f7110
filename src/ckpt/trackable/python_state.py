"""Non-tensor Python state in checkpoints: step counters, RNG state, configuration.

Such state is saved as a scalar string tensor under the attribute ``py_state``, exactly as
TF's ``tf.train.experimental.PythonState`` does, so TF can restore it too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from ckpt.errors import CorruptCheckpointError
from ckpt.trackable.base import Trackable

__all__ = ["PYTHON_STATE", "JsonState", "NumpyRNGState", "PythonState"]

PYTHON_STATE = "py_state"


class PythonState(Trackable):
    """Base class for Python state saved as a string: implement ``serialize``/``deserialize``."""

    def serialize(self) -> str | bytes:
        raise NotImplementedError

    def deserialize(self, data: bytes) -> None:
        raise NotImplementedError

    def _serialize_to_tensors(self) -> Mapping[str, Any]:
        data = self.serialize()
        return {
            PYTHON_STATE: np.array(
                data.encode("utf-8") if isinstance(data, str) else data, dtype=object
            )
        }

    def _restore_targets(self) -> Mapping[str, Any]:
        # No array to read into, but it names the attribute without serializing the state.
        return {PYTHON_STATE: None}

    def _restore_from_tensors(self, tensors: Mapping[str, Any]) -> None:
        value = np.asarray(tensors[PYTHON_STATE])
        if value.shape != () or not isinstance(value.item(), bytes):
            raise CorruptCheckpointError(
                f"Python state of {type(self).__name__} must be a scalar string, got "
                f"{value.dtype}{list(value.shape)}"
            )
        self.deserialize(value.item())


class JsonState(PythonState):
    """Any JSON-serialisable value (a dict of settings, a step count, a list), kept in ``value``.

    >>> state = ckpt.JsonState({"epoch": 3, "lr": 0.1})
    >>> state.value["epoch"] += 1
    """

    def __init__(self, value: Any = None) -> None:
        self.value = value

    def serialize(self) -> str:
        return json.dumps(self.value, sort_keys=True, allow_nan=True)

    def deserialize(self, data: bytes) -> None:
        self.value = parse_json(data, "JSON state")

    def __repr__(self) -> str:
        return f"JsonState({self.value!r})"


def parse_json(data: bytes, what: str) -> Any:
    """Python state's JSON text, parsed; anything a checkpoint could hold that is not valid
    JSON (bad UTF-8, bad syntax, nesting deeper than the parser's recursion allows, numbers
    of more digits than Python converts) is a :class:`~ckpt.errors.CorruptCheckpointError`."""
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError too
        raise CorruptCheckpointError(f"{what} is not valid JSON: {exc}") from None


def _jsonable(value: Any) -> Any:
    """Bit-generator states hold NumPy arrays and integers (MT19937's key, Philox's counter)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    return int(value)


class NumpyRNGState(PythonState):
    """The state of a ``numpy.random.Generator``, restored into that same generator."""

    def __init__(self, generator: np.random.Generator) -> None:
        self.generator = generator

    def serialize(self) -> str:
        return json.dumps(self.generator.bit_generator.state, default=_jsonable)

    def deserialize(self, data: bytes) -> None:
        state = parse_json(data, "RNG state")
        try:
            self.generator.bit_generator.state = state
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            raise CorruptCheckpointError(f"RNG state cannot be restored: {exc}") from None
