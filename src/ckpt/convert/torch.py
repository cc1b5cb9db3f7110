"""PyTorch state dicts: loaded with ``weights_only=True`` (no arbitrary unpickling), saved whole.

Tensors cross between torch and NumPy by bit-preserving views: torch's bfloat16 and float8
types travel as integers of the same width and are reinterpreted as their ``ml_dtypes`` twins.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import ml_dtypes
import numpy as np

from ckpt.convert.files import local_copy, staged
from ckpt.convert.formats import require
from ckpt.errors import CorruptCheckpointError, InvalidTensorError, UnsupportedCheckpointError

__all__ = ["from_numpy", "read", "to_numpy", "write"]

# torch dtype name -> (ml_dtypes name, integer dtype of the same width) for the types NumPy
# lacks; every other torch dtype has a NumPy equivalent that Tensor.numpy() gives directly.
_SPECIAL = {
    "bfloat16": ("bfloat16", "int16"),
    "float8_e4m3fn": ("float8_e4m3fn", "uint8"),
    "float8_e5m2": ("float8_e5m2", "uint8"),
    "float8_e4m3fnuz": ("float8_e4m3fnuz", "uint8"),
    "float8_e5m2fnuz": ("float8_e5m2fnuz", "uint8"),
}
_NUMPY_TO_TORCH = {
    "bool", "uint8", "int8", "int16", "int32", "int64", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
}  # fmt: skip


def to_numpy(tensor: Any) -> np.ndarray:
    """A CPU torch tensor as a NumPy array (sharing memory when the tensor is contiguous)."""
    torch = require("torch", "torch")
    tensor = tensor.detach().contiguous()
    name = str(tensor.dtype).removeprefix("torch.")
    if name in _SPECIAL:
        ml_name, int_name = _SPECIAL[name]
        raw = tensor.view(getattr(torch, int_name)).numpy()
        array: np.ndarray = raw.view(getattr(ml_dtypes, ml_name))
        return array
    try:
        result: np.ndarray = tensor.numpy()
    except TypeError as exc:
        raise UnsupportedCheckpointError(
            f"torch dtype {name} has no NumPy equivalent ckpt can convert"
        ) from exc
    return result


def from_numpy(array: np.ndarray, key: str) -> Any:
    """A NumPy array as a torch tensor with the same bits (copied if the array is read-only)."""
    torch = require("torch", "torch")
    if not array.flags.writeable or not array.flags.c_contiguous:
        array = np.array(array, order="C")  # torch.from_numpy wants writable, contiguous memory
    name = array.dtype.name
    if name in _SPECIAL:
        _, int_name = _SPECIAL[name]
        return torch.from_numpy(array.view(int_name)).view(getattr(torch, name))
    if name in _NUMPY_TO_TORCH:
        return torch.from_numpy(array)
    raise InvalidTensorError(
        f"tensor {key!r} has dtype {name}, which torch cannot hold"
        + (" (strings go only to TF or npz)" if array.dtype.kind in "OSU" else "")
        + "; cast it (dtype=..., or --dtype on the command line) or convert to TF or npz instead",
        key=key,
    )


def _flatten(tree: Mapping[Any, Any], prefix: str, path: str) -> Iterator[tuple[str, Any]]:
    """Tensors of a (nested) state dict; nested dicts join their keys with dots, as torch does.

    Walked without recursion: a hostile file may nest dicts thousands deep.
    """
    torch = require("torch", "torch")
    stack: list[Iterator[tuple[str, Any]]] = [
        ((f"{prefix}{k}", v) for k, v in tree.items())
    ]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
            continue
        key, value = item
        if isinstance(value, torch.Tensor):
            yield key, _checked(value, key, path)
        elif isinstance(value, Mapping):
            stack.append(((f"{key}.{k}", v) for k, v in value.items()))
        elif isinstance(value, (bool, int, float)):
            try:
                yield key, torch.tensor(value)  # a scalar such as "epoch", as a 0-d tensor
            except (OverflowError, RuntimeError, ValueError) as exc:
                raise UnsupportedCheckpointError(
                    f"entry {key!r} of {path} is the number {value!r:.40}, which no tensor "
                    f"holds: {exc}",
                    path=path,
                    key=key,
                ) from None
        else:
            raise UnsupportedCheckpointError(
                f"entry {key!r} of {path} is a {type(value).__name__}, not a tensor; only state "
                "dicts of tensors (nested dicts allowed) can be converted",
                path=path,
                key=key,
            )


def _checked(tensor: Any, key: str, path: str) -> Any:
    """Refuse a view whose elements share memory (an ``expand``ed tensor) when copying it out
    would take more than the file holds: 4 bytes on disk could stand for gigabytes."""
    logical = tensor.numel() * tensor.element_size()
    stored = tensor.untyped_storage().nbytes()
    limit = max(2 * os.path.getsize(path), 64 << 20) if os.path.exists(path) else 64 << 20
    if logical > stored and logical > limit:
        raise CorruptCheckpointError(
            f"tensor {key!r} of {path} is a view of {stored} bytes standing for {logical} "
            "(an expanded tensor): converting it would take far more memory than the file "
            "holds",
            path=path,
            key=key,
        )
    return tensor


def read(path: str) -> Iterator[tuple[str, np.ndarray]]:
    """Yield the tensors of a ``torch.save``'d state dict, memory-mapped where possible.

    Only ``torch.load(weights_only=True)`` is used: a file that needs anything but tensors,
    containers and plain values to unpickle is refused, never executed. A URL is first copied
    to a local temporary file, deleted once every tensor is read.
    """
    with local_copy(path) as local:
        yield from _read_local(local, path)


def _read_local(local: str, path: str) -> Iterator[tuple[str, np.ndarray]]:
    torch = require("torch", "torch")
    try:
        state = torch.load(local, weights_only=True, mmap=True, map_location="cpu")
    except FileNotFoundError:
        raise
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, ValueError...
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        error = (
            UnsupportedCheckpointError
            if "weights_only" in str(exc) or "Unsupported global" in str(exc)
            else CorruptCheckpointError
        )
        raise error(
            f"cannot load {path} as a PyTorch state dict with weights_only=True: {message}. "
            "ckpt never unpickles arbitrary objects; re-save the file as a dict of tensors.",
            path=path,
        ) from exc
    if not isinstance(state, Mapping):
        raise UnsupportedCheckpointError(
            f"{path} holds a {type(state).__name__}, not a state dict (a dict of tensors)",
            path=path,
        )
    for key, tensor in _flatten(state, "", path):
        yield key, to_numpy(tensor)


def write(path: str, tensors: Iterable[tuple[str, np.ndarray]]) -> str:
    """``torch.save`` a dict of every tensor: unlike the other writers, it holds all in memory.

    A URL destination is saved to a local temporary file and uploaded once complete.
    """
    torch = require("torch", "torch")
    state: dict[str, Any] = {}
    for key, array in tensors:
        if key in state:
            raise InvalidTensorError(f"two tensors are named {key!r}", path=path, key=key)
        state[key] = from_numpy(array, key)
    with staged(os.fspath(path)) as temp:
        torch.save(state, temp)
    return path
