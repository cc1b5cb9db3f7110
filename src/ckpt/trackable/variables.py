"""``ckpt.Variable``: a mutable, NumPy-backed tensor that checkpoints as ``VARIABLE_VALUE``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ckpt.errors import DtypeMismatchError, InvalidTensorError, ShapeMismatchError
from ckpt.format.dtypes import from_numpy
from ckpt.trackable.base import Trackable

if TYPE_CHECKING:
    from ckpt.trackable.partitioned import SaveSliceInfo

__all__ = ["VARIABLE_VALUE", "Variable"]

VARIABLE_VALUE = "VARIABLE_VALUE"


def _as_stored(array: np.ndarray, name: str | None = None) -> np.ndarray:
    """String values are kept as object arrays of ``bytes`` (``str`` as UTF-8), as TF does."""
    if array.dtype.kind not in "SUO":
        return array
    out = np.empty(array.shape, dtype=object)
    flat = out.reshape(-1)
    for i, item in enumerate(array.reshape(-1).tolist()):
        if isinstance(item, str):
            item = item.encode("utf-8")
        elif not isinstance(item, bytes):
            # Refused now, as tf.Variable refuses it, not when a (background) save fails.
            raise InvalidTensorError(
                f"variable {name or 'Variable'!r} can hold numbers or strings; element {i} of "
                f"its value is a {type(item).__name__} ({item!r:.60})",
                key=name,
            )
        flat[i] = item
    return out


class Variable(Trackable):
    """A named, mutable array that object-based checkpoints save and restore in place.

    Args:
        initial_value: an array-like (NumPy array, scalar, nested lists, bytes/str for strings).
        dtype: cast the initial value to this dtype (any NumPy or ``ml_dtypes`` dtype TF
            stores).
        name: the variable's global name, saved as the object graph's ``full_name`` and used
            by name-based restores (TF's default for unnamed variables is ``"Variable"``).
        save_slice_info: for one part of a partitioned tensor, where it sits in the full
            tensor (a :class:`ckpt.SaveSliceInfo`); warm starts then fill it with its slice.

    The value lives in one NumPy array that restores write into directly, so arrays handed
    out by :meth:`numpy` see restored values.
    """

    def __init__(
        self,
        initial_value: Any,
        *,
        dtype: Any = None,
        name: str | None = None,
        save_slice_info: SaveSliceInfo | None = None,
    ) -> None:
        value = _as_stored(np.array(initial_value, dtype=dtype), name)  # a copy it owns
        from_numpy(value.dtype)  # raises InvalidTensorError for dtypes TF cannot store
        if save_slice_info is not None and tuple(save_slice_info.var_shape) != value.shape:
            raise InvalidTensorError(
                f"save_slice_info of {name!r} says shape {list(save_slice_info.var_shape)}, "
                f"the value has {list(value.shape)}",
                key=name,
            )
        self._value = value
        self._name = name if name is not None else "Variable"
        self.save_slice_info = save_slice_info

    @property
    def name(self) -> str:
        return self._name

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._value.shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._value.dtype

    def numpy(self) -> np.ndarray:
        """The variable's array itself (not a copy): in-place edits change the variable."""
        return self._value

    def assign(self, value: Any) -> Variable:
        """Copy ``value`` into the variable (same shape; cast to its dtype). Returns ``self``."""
        array = np.asarray(value)
        if self._value.dtype == object:
            array = _as_stored(array, self._name)
        if array.shape != self._value.shape:
            raise ShapeMismatchError(
                f"cannot assign a value of shape {array.shape} to variable {self._name!r} of "
                f"shape {self._value.shape}",
                key=self._name,
            )
        self._value[...] = array
        return self

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if dtype is not None and np.dtype(dtype) != self._value.dtype:
            return self._value.astype(dtype)
        return self._value.copy() if copy else self._value

    def __repr__(self) -> str:
        return f"<ckpt.Variable {self._name!r} shape={self.shape} dtype={self.dtype}>"

    # --- the trackable protocol ---

    def _serialize_to_tensors(self) -> Mapping[str, Any]:
        return {VARIABLE_VALUE: self._value}

    def _restore_targets(self) -> Mapping[str, np.ndarray]:
        return {VARIABLE_VALUE: self._value}

    def _restore_from_tensors(self, tensors: Mapping[str, Any]) -> None:
        value = np.asarray(tensors[VARIABLE_VALUE])
        if value is self._value:
            return  # already read in place
        if value.shape != self._value.shape:
            raise ShapeMismatchError(
                f"Received incompatible tensor with shape {value.shape} when attempting to "
                f"restore variable with shape {self._value.shape} and name {self._name}",
                key=self._name,
            )
        if value.dtype != self._value.dtype:
            raise DtypeMismatchError(
                f"cannot restore a {value.dtype} value into variable {self._name!r} of dtype "
                f"{self._value.dtype}",
                key=self._name,
            )
        self._value[...] = value
