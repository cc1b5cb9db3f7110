"""Torch tensors as NumPy arrays and back, bit for bit, without converting any value.

Every torch dtype that a TF checkpoint can carry has a NumPy (or ``ml_dtypes``) twin. NumPy
has no bfloat16 or float8, so ``Tensor.numpy()`` refuses those; they cross as integers of the
same width (``tensor.view(torch.int16)``) reinterpreted as the ``ml_dtypes`` type, which moves
no bytes and changes no bits (NaN payloads included).
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np
import torch
from torch.nn.parameter import UninitializedTensorMixin  # type: ignore[attr-defined]

from ckpt.errors import InvalidTensorError

__all__ = [
    "from_numpy",
    "has_lazy_tensors",
    "host_array",
    "host_view",
    "is_lazy",
    "non_overlapping",
    "numpy_dtype",
    "torch_dtype",
]

# torch dtype -> NumPy dtype, for every dtype both torch and TF's format have.
_NUMPY: dict[torch.dtype, np.dtype[Any]] = {
    torch.float32: np.dtype(np.float32),
    torch.float64: np.dtype(np.float64),
    torch.float16: np.dtype(np.float16),
    torch.bfloat16: np.dtype(ml_dtypes.bfloat16),
    torch.complex64: np.dtype(np.complex64),
    torch.complex128: np.dtype(np.complex128),
    torch.bool: np.dtype(np.bool_),
    torch.int8: np.dtype(np.int8),
    torch.int16: np.dtype(np.int16),
    torch.int32: np.dtype(np.int32),
    torch.int64: np.dtype(np.int64),
    torch.uint8: np.dtype(np.uint8),
}
# Types that exist only in newer torch releases (getattr keeps older ones importable).
for _torch_name, _numpy_type in [
    ("uint16", np.uint16),
    ("uint32", np.uint32),
    ("uint64", np.uint64),
    ("float8_e4m3fn", ml_dtypes.float8_e4m3fn),
    ("float8_e5m2", ml_dtypes.float8_e5m2),
    ("float8_e4m3fnuz", ml_dtypes.float8_e4m3fnuz),
    ("float8_e5m2fnuz", ml_dtypes.float8_e5m2fnuz),
]:
    if hasattr(torch, _torch_name):
        _NUMPY[getattr(torch, _torch_name)] = np.dtype(_numpy_type)

_TORCH: dict[np.dtype[Any], torch.dtype] = {v: k for k, v in _NUMPY.items()}

# Types Tensor.numpy() refuses: viewed as the integer type of the same width first.
_VIA_INT: dict[torch.dtype, torch.dtype] = {
    t: torch.int16 if n.itemsize == 2 else torch.uint8
    for t, n in _NUMPY.items()
    if n.type.__module__.startswith("ml_dtypes")
}


def numpy_dtype(dtype: torch.dtype, *, key: str | None = None) -> np.dtype[Any]:
    """The NumPy dtype a checkpoint stores ``dtype`` as; InvalidTensorError if TF has none."""
    found = _NUMPY.get(dtype)
    if found is None:
        raise InvalidTensorError(
            f"torch dtype {dtype} has no TensorFlow checkpoint equivalent"
            + (f" (tensor {key!r})" if key else "")
            + "; cast the tensor to a supported dtype (float16/32/64, bfloat16, float8, "
            "complex, bool, int8-64, uint8-64)",
            key=key,
        )
    return found


def torch_dtype(dtype: np.dtype[Any], *, key: str | None = None) -> torch.dtype:
    """The torch dtype holding values of NumPy ``dtype``; InvalidTensorError if none does."""
    found = _TORCH.get(np.dtype(dtype))
    if found is None:
        raise InvalidTensorError(
            f"checkpoint dtype {dtype} has no torch equivalent"
            + (f" (tensor {key!r})" if key else ""),
            key=key,
        )
    return found


def is_lazy(tensor: torch.Tensor) -> bool:
    """Whether ``tensor`` is a lazy module's not-yet-materialised parameter or buffer."""
    return isinstance(tensor, UninitializedTensorMixin)


def has_lazy_tensors(module: torch.nn.Module) -> bool:
    """Whether any of the module's own parameters or buffers is still uninitialised."""
    tensors = [*module._parameters.values(), *module._buffers.values()]
    return any(t is not None and is_lazy(t) for t in tensors)


def non_overlapping(tensor: torch.Tensor) -> bool:
    """No two elements share memory (so writing every element of a view is well defined).

    Sorting the dimensions by stride, each stride must exceed the span of the smaller ones;
    an expanded tensor (stride 0) fails, a transposed or sliced one passes.
    """
    dims = zip(tensor.stride(), tensor.shape, strict=True)
    span = 0
    for stride, size in sorted((st, sz) for st, sz in dims if sz > 1):
        if stride <= span:
            return False
        span += stride * (size - 1)
    return True


def _plain(tensor: torch.Tensor, key: str | None) -> torch.Tensor:
    """The tensor's values as a plain strided tensor without autograd or lazy conj/neg bits."""
    if tensor.layout is not torch.strided:
        raise InvalidTensorError(
            f"{tensor.layout} tensors cannot be checkpointed"
            + (f" (tensor {key!r})" if key else "")
            + "; convert to a dense tensor (.to_dense()) first",
            key=key,
        )
    return tensor.detach().resolve_conj().resolve_neg()


def _numpy_view(plain: torch.Tensor, key: str | None) -> np.ndarray:
    numpy_dtype(plain.dtype, key=key)
    via = _VIA_INT.get(plain.dtype)
    if via is None:
        array: np.ndarray = plain.numpy()
        return array
    return np.asarray(plain.view(via).numpy()).view(_NUMPY[plain.dtype])


def host_view(tensor: torch.Tensor, *, key: str | None = None) -> np.ndarray:
    """A NumPy view of a CPU tensor's own memory, with its strides (writes reach the tensor)."""
    return _numpy_view(_plain(tensor, key), key)


def host_array(tensor: torch.Tensor, *, key: str | None = None) -> np.ndarray:
    """The tensor's values in host memory: a view for CPU tensors, one copy from a device."""
    plain = _plain(tensor, key)
    if plain.device.type != "cpu":
        plain = plain.cpu()
    return _numpy_view(plain, key)


def from_numpy(array: np.ndarray, *, key: str | None = None) -> torch.Tensor:
    """A CPU tensor with the array's values, sharing its memory when the array is writable."""
    array = np.asarray(array)
    dtype = torch_dtype(array.dtype, key=key)
    if not array.flags.writeable or any(stride < 0 for stride in array.strides):
        # torch.from_numpy warns about read-only memory and cannot take negative strides.
        array = array.copy()
    via = _VIA_INT.get(dtype)
    if via is None:
        return torch.from_numpy(array)
    integer = np.dtype(np.int16) if via is torch.int16 else np.dtype(np.uint8)
    return torch.from_numpy(array.view(integer)).view(dtype)
