"""Partitioned variables: a tensor kept as parts, each knowing its place in the full tensor.

:class:`SaveSliceInfo` is TF's record of where a part sits (``full_name``, ``full_shape``,
``var_offset``, ``var_shape``); :class:`PartitionedVariable` splits a value into ``part_0``,
``part_1``, … the way TF's ``fixed_size_partitioner`` does, so name-based warm starts, TF1
savers and the object graph all see the names TF users know (``emb/part_0``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ckpt.errors import InvalidTensorError
from ckpt.format.slices import TensorSlice
from ckpt.trackable.base import Trackable
from ckpt.trackable.variables import Variable

__all__ = ["PartitionedVariable", "SaveSliceInfo", "partition_bounds"]


@dataclass(frozen=True)
class SaveSliceInfo:
    """Where one part of a partitioned tensor sits in the full tensor (TF's ``SaveSliceInfo``).

    Attributes:
        full_name: the name of the full tensor, which name-based checkpoints store.
        full_shape: the full tensor's shape.
        var_offset: the part's offset along every axis.
        var_shape: the part's shape.
    """

    full_name: str
    full_shape: tuple[int, ...]
    var_offset: tuple[int, ...]
    var_shape: tuple[int, ...]

    def __post_init__(self) -> None:
        for field in ("full_shape", "var_offset", "var_shape"):
            object.__setattr__(self, field, tuple(int(d) for d in getattr(self, field)))
        rank = len(self.full_shape)
        if len(self.var_offset) != rank or len(self.var_shape) != rank:
            raise InvalidTensorError(
                f"slice info of {self.full_name!r}: offset {list(self.var_offset)} and shape "
                f"{list(self.var_shape)} must have the rank of full shape {list(self.full_shape)}",
                key=self.full_name,
            )
        extents = zip(self.var_offset, self.var_shape, self.full_shape, strict=True)
        for start, length, dim in extents:
            if start < 0 or length < 0 or start + length > dim:
                raise InvalidTensorError(
                    f"slice info of {self.full_name!r}: part at offset {list(self.var_offset)} "
                    f"with shape {list(self.var_shape)} does not fit in {list(self.full_shape)}",
                    key=self.full_name,
                )

    @property
    def bounds(self) -> tuple[tuple[int, int], ...]:
        """``(start, stop)`` per axis of the full tensor."""
        return tuple(
            (start, start + length)
            for start, length in zip(self.var_offset, self.var_shape, strict=True)
        )

    @property
    def spec(self) -> str:
        """TF's ``shape_and_slice`` string, e.g. ``"10 4 0,5:0,4"`` (``SaveSliceInfo.spec``)."""
        full = " ".join(str(d) for d in self.full_shape)
        part = TensorSlice.from_offsets(self.var_offset, self.var_shape)
        return f"{full} {part}"


def partition_bounds(dim: int, num_partitions: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of each part when ``dim`` is split as TF's fixed-size partitioner does.

    The first ``dim % num_partitions`` parts are one element larger than the others.
    """
    if num_partitions < 1:
        raise InvalidTensorError(f"num_partitions must be at least 1, got {num_partitions}")
    if num_partitions > max(dim, 1):
        raise InvalidTensorError(
            f"cannot split an axis of size {dim} into {num_partitions} non-empty parts"
        )
    base, extra = divmod(dim, num_partitions)
    bounds = []
    start = 0
    for k in range(num_partitions):
        size = base + (1 if k < extra else 0)
        bounds.append((start, start + size))
        start += size
    return bounds


class PartitionedVariable(Trackable):
    """A variable stored as ``num_partitions`` parts along ``axis``: ``part_0``, ``part_1``, ….

    Each part is a :class:`ckpt.Variable` named ``<name>/part_<k>`` whose ``save_slice_info``
    places it in the full tensor, as TF1's partitioned variables do.

    Args:
        initial_value: the full value to split (or ``None`` with ``shape`` for zeros).
        num_partitions: how many parts (TF's ``fixed_size_partitioner(num_partitions, axis)``).
        axis: the axis to split.
        shape: the full shape when ``initial_value`` is ``None``.
        dtype: the dtype (defaults to the value's, or float32 for zeros).
        name: the full tensor's name.

    Example::

        emb = ckpt.PartitionedVariable(np.zeros((100, 8), np.float32), num_partitions=4,
                                       name="emb")
        emb.parts[0].shape        # (25, 8)
        emb.numpy().shape         # (100, 8): the parts concatenated
    """

    def __init__(
        self,
        initial_value: Any = None,
        *,
        num_partitions: int,
        axis: int = 0,
        shape: Sequence[int] | None = None,
        dtype: Any = None,
        name: str = "PartitionedVariable",
    ) -> None:
        if initial_value is None:
            if shape is None:
                raise InvalidTensorError("PartitionedVariable needs initial_value or shape")
            value = np.zeros(tuple(shape), dtype=dtype if dtype is not None else np.float32)
        else:
            value = np.asarray(initial_value, dtype=dtype)
        if value.ndim == 0:
            raise InvalidTensorError(f"cannot partition the scalar {name!r}", key=name)
        axis = axis + value.ndim if axis < 0 else axis
        if not 0 <= axis < value.ndim:
            raise InvalidTensorError(
                f"axis {axis} is out of range for {name!r} of rank {value.ndim}", key=name
            )
        self._name = name
        self._axis = axis
        self._shape = tuple(value.shape)
        parts = []
        for k, (start, stop) in enumerate(partition_bounds(value.shape[axis], num_partitions)):
            index = tuple(
                slice(start, stop) if a == axis else slice(None) for a in range(value.ndim)
            )
            piece = value[index]
            offset = tuple(start if a == axis else 0 for a in range(value.ndim))
            info = SaveSliceInfo(name, self._shape, offset, piece.shape)
            parts.append(Variable(piece, name=f"{name}/part_{k}", save_slice_info=info))
        self._parts = tuple(parts)

    @property
    def name(self) -> str:
        return self._name

    @property
    def shape(self) -> tuple[int, ...]:
        """The full tensor's shape."""
        return self._shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._parts[0].dtype

    @property
    def axis(self) -> int:
        return self._axis

    @property
    def parts(self) -> tuple[Variable, ...]:
        return self._parts

    def __iter__(self) -> Iterator[Variable]:
        return iter(self._parts)

    def __len__(self) -> int:
        return len(self._parts)

    def __getitem__(self, k: int) -> Variable:
        return self._parts[k]

    def numpy(self) -> np.ndarray:
        """The full value: a new array, the parts concatenated along :attr:`axis`."""
        return np.concatenate([part.numpy() for part in self._parts], axis=self._axis)

    def assign(self, value: Any) -> PartitionedVariable:
        """Copy a full value into the parts. Returns ``self``."""
        array = np.asarray(value)
        if array.shape != self._shape:
            raise InvalidTensorError(
                f"cannot assign a value of shape {array.shape} to partitioned variable "
                f"{self._name!r} of shape {self._shape}",
                key=self._name,
            )
        for part in self._parts:
            info = part.save_slice_info
            assert info is not None
            part.assign(array[tuple(slice(a, b) for a, b in info.bounds)])
        return self

    def __repr__(self) -> str:
        return (
            f"<ckpt.PartitionedVariable {self._name!r} shape={self._shape} dtype={self.dtype} "
            f"parts={len(self._parts)} axis={self._axis}>"
        )

    def _trackable_children(self) -> Mapping[str, Any]:
        return {f"part_{k}": part for k, part in enumerate(self._parts)}
