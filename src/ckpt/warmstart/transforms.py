"""Per-tensor transforms for warm starts: transpose, reshape, cast and slice a checkpoint value.

A transform maps a checkpoint tensor to the value a target variable receives, e.g. a Keras
``kernel`` ``[in, out]`` into a torch ``weight`` ``[out, in]`` with :class:`Transpose`. Each one
knows its output shape and dtype from the input's (so a plan is checked before anything is
read), and :class:`Transpose`, :class:`Cast` and :class:`Slice` also know which input region
an output region comes from, so a warm start reads only the bytes it assigns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ckpt.errors import InvalidTensorError

__all__ = [
    "Cast",
    "Reshape",
    "Slice",
    "Transform",
    "TransformLike",
    "Transpose",
    "as_chain",
    "describe_chain",
]

Bounds = tuple[tuple[int, int], ...]


class Transform:
    """Base class of the built-in transforms."""

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        raise NotImplementedError

    def output_dtype(self, dtype: np.dtype[Any]) -> np.dtype[Any]:
        return dtype

    def apply(self, value: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def source_bounds(self, bounds: Bounds, shape: tuple[int, ...]) -> Bounds | None:
        """The input region (of an input of ``shape``) that output region ``bounds`` comes
        from, or ``None`` when only the whole input will do."""
        return None

    def on_region(self, value: np.ndarray) -> np.ndarray:
        """Apply to a region already cut by :meth:`source_bounds` (default: :meth:`apply`)."""
        return self.apply(value)

    def describe(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class Transpose(Transform):
    """Permute axes as ``np.transpose``: ``axes=None`` reverses them (``[in, out]`` ->
    ``[out, in]``)."""

    axes: tuple[int, ...] | None = None

    def _axes(self, rank: int) -> tuple[int, ...]:
        if self.axes is None:
            return tuple(reversed(range(rank)))
        axes = tuple(a + rank if a < 0 else a for a in self.axes)
        if sorted(axes) != list(range(rank)):
            raise InvalidTensorError(
                f"Transpose(axes={list(self.axes)}) is not a permutation of {rank} axes"
            )
        return axes

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(shape[a] for a in self._axes(len(shape)))

    def apply(self, value: np.ndarray) -> np.ndarray:
        return np.transpose(value, self._axes(value.ndim))

    def source_bounds(self, bounds: Bounds, shape: tuple[int, ...]) -> Bounds | None:
        axes = self._axes(len(shape))
        source = [(0, 0)] * len(shape)
        for out_axis, in_axis in enumerate(axes):
            source[in_axis] = bounds[out_axis]
        return tuple(source)

    def describe(self) -> str:
        return "transpose" if self.axes is None else f"transpose{list(self.axes)}"


@dataclass(frozen=True)
class Reshape(Transform):
    """Reshape as ``np.reshape`` (one ``-1`` allowed); the element count must not change."""

    shape: tuple[int, ...]

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        size = int(np.prod(shape, dtype=np.int64))
        target = [int(d) for d in self.shape]
        if target.count(-1) > 1:
            raise InvalidTensorError(f"Reshape({list(self.shape)}) has more than one -1")
        known = int(np.prod([d for d in target if d != -1], dtype=np.int64))
        if -1 in target:
            if known == 0 or size % known:
                raise InvalidTensorError(f"cannot reshape {list(shape)} into {list(self.shape)}")
            target[target.index(-1)] = size // known
        elif known != size:
            raise InvalidTensorError(f"cannot reshape {list(shape)} into {list(self.shape)}")
        return tuple(target)

    def apply(self, value: np.ndarray) -> np.ndarray:
        return value.reshape(self.output_shape(value.shape))

    def describe(self) -> str:
        return f"reshape{list(self.shape)}"


@dataclass(frozen=True)
class Cast(Transform):
    """Convert to ``dtype`` (any NumPy or ``ml_dtypes`` dtype) as ``ndarray.astype`` does."""

    dtype: Any

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape

    def output_dtype(self, dtype: np.dtype[Any]) -> np.dtype[Any]:
        out: np.dtype[Any] = np.dtype(self.dtype)
        return out

    def apply(self, value: np.ndarray) -> np.ndarray:
        return value.astype(np.dtype(self.dtype))

    def source_bounds(self, bounds: Bounds, shape: tuple[int, ...]) -> Bounds | None:
        return bounds

    def describe(self) -> str:
        return f"cast({np.dtype(self.dtype).name})"


@dataclass(frozen=True)
class Slice(Transform):
    """Take part of the value with basic indexing: ints and step-1 slices per axis.

    Example: ``Slice((slice(0, 512), slice(None)))`` or ``Slice(np.s_[:512])`` keeps the first
    512 rows (a smaller vocabulary); an int drops its axis as in NumPy.
    """

    index: Any

    def _items(self, shape: tuple[int, ...]) -> list[tuple[int, int, bool]]:
        """``(start, stop, keeps_axis)`` per input axis."""
        raw = self.index if isinstance(self.index, tuple) else (self.index,)
        if len(raw) > len(shape):
            raise InvalidTensorError(f"Slice{raw} has more indices than rank {len(shape)}")
        items = []
        for axis, dim in enumerate(shape):
            item = raw[axis] if axis < len(raw) else slice(None)
            if isinstance(item, slice):
                start, stop, step = item.indices(dim)
                if step != 1:
                    raise InvalidTensorError("Slice supports step-1 slices only")
                items.append((start, max(start, stop), True))
            elif isinstance(item, (int, np.integer)):
                i = int(item) + dim if int(item) < 0 else int(item)
                if not 0 <= i < dim:
                    raise InvalidTensorError(f"Slice index {int(item)} is out of range {dim}")
                items.append((i, i + 1, False))
            else:
                raise InvalidTensorError(f"Slice takes ints and slices, got {item!r}")
        return items

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(stop - start for start, stop, keep in self._items(shape) if keep)

    def apply(self, value: np.ndarray) -> np.ndarray:
        items = self._items(value.shape)
        index = tuple(slice(a, b) if keep else a for a, b, keep in items)
        return value[index]

    def source_bounds(self, bounds: Bounds, shape: tuple[int, ...]) -> Bounds | None:
        source = []
        kept = iter(bounds)
        for start, stop, keep in self._items(shape):
            if keep:
                lo, hi = next(kept)
                source.append((start + lo, start + hi))
            else:
                source.append((start, stop))
        return tuple(source)

    def on_region(self, value: np.ndarray) -> np.ndarray:
        # The region is already cut; only the int indices' axes remain to drop.
        raw = self.index if isinstance(self.index, tuple) else (self.index,)
        dropped = tuple(a for a, item in enumerate(raw) if not isinstance(item, slice))
        return value.reshape([n for a, n in enumerate(value.shape) if a not in dropped])

    def describe(self) -> str:
        raw = self.index if isinstance(self.index, tuple) else (self.index,)
        parts = []
        for item in raw:
            if isinstance(item, slice):
                parts.append(f"{'' if item.start is None else item.start}:"
                             f"{'' if item.stop is None else item.stop}")
            else:
                parts.append(str(item))
        return f"slice[{','.join(parts)}]"


class _Function(Transform):
    """A user function ``array -> array``: its output shape is known only once applied."""

    def __init__(self, fn: Callable[[np.ndarray], Any]) -> None:
        self.fn = fn

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        raise _Opaque

    def apply(self, value: np.ndarray) -> np.ndarray:
        return np.asarray(self.fn(value))

    def describe(self) -> str:
        return getattr(self.fn, "__name__", "function")


class _Opaque(Exception):
    """Raised by :meth:`_Function.output_shape`: the shape is unknown until applied."""


TransformLike = Transform | Callable[[np.ndarray], Any] | Sequence[Any]


def as_chain(spec: TransformLike | None) -> tuple[Transform, ...]:
    """Normalise a transform, a function, or a sequence of them into a tuple of transforms."""
    if spec is None:
        return ()
    if isinstance(spec, Transform):
        return (spec,)
    if isinstance(spec, (list, tuple)):
        chain: list[Transform] = []
        for item in spec:
            chain.extend(as_chain(item))
        return tuple(chain)
    if callable(spec):
        return (_Function(spec),)
    raise InvalidTensorError(
        f"a transform must be a ckpt.transforms.Transform, a function or a list of them, "
        f"got {spec!r}"
    )


def describe_chain(chain: Sequence[Transform]) -> str:
    return " | ".join(t.describe() for t in chain) if chain else ""


def chain_output(
    chain: Sequence[Transform], shape: tuple[int, ...], dtype: np.dtype[Any]
) -> tuple[tuple[int, ...] | None, np.dtype[Any] | None]:
    """Shape and dtype after the chain, or ``None`` for what a user function hides."""
    out_shape: tuple[int, ...] | None = shape
    out_dtype: np.dtype[Any] | None = dtype
    for transform in chain:
        if isinstance(transform, _Function):
            return None, None
        assert out_shape is not None and out_dtype is not None
        out_shape = transform.output_shape(out_shape)
        out_dtype = transform.output_dtype(out_dtype)
    return out_shape, out_dtype


def source_region(
    chain: Sequence[Transform], bounds: Bounds, shape: tuple[int, ...]
) -> Bounds | None:
    """The region of the checkpoint tensor (of ``shape``) that output region ``bounds`` of the
    chain needs, or ``None`` if the chain needs the whole tensor."""
    shapes = [shape]
    for transform in chain:
        if isinstance(transform, _Function):
            return None
        shapes.append(transform.output_shape(shapes[-1]))
    region: Bounds | None = bounds
    for transform, in_shape in zip(reversed(chain), reversed(shapes[:-1]), strict=True):
        assert region is not None
        region = transform.source_bounds(region, in_shape)
        if region is None:
            return None
    return region
