"""TF ``DataType`` values and their NumPy dtypes (``ml_dtypes`` for bfloat16, float8, int4, ...).

TF stores every numeric dtype as the raw little-endian element buffer (format doc §4.2); strings
are encoded separately (:mod:`ckpt.format.strings`). Quantized types read as their underlying
integers. ``DT_RESOURCE`` and ``DT_VARIANT`` can be listed but not read.
"""

from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np

from ckpt.errors import InvalidTensorError, UnsupportedCheckpointError


@dataclass(frozen=True)
class DType:
    """One TF ``DataType``: its enum value, TF name, and NumPy dtype (``None`` if unreadable)."""

    value: int
    name: str
    numpy: np.dtype | None

    @property
    def enum_name(self) -> str:
        """TF's ``DataType`` enum name: ``DT_FLOAT``, ``DT_HALF``, ``DT_BFLOAT16``, ..."""
        return _ENUM_NAMES.get(self.value, f"DT_INVALID({self.value})")

    @property
    def is_string(self) -> bool:
        return self.value == DT_STRING

    @property
    def itemsize(self) -> int:
        """Bytes per element on disk (numeric dtypes only)."""
        if self.numpy is None or self.is_string:
            raise UnsupportedCheckpointError(f"{self.name} has no fixed element size")
        return self.numpy.itemsize

    def __repr__(self) -> str:
        return f"DType({self.name})"


DT_STRING = 7
DT_RESOURCE = 20
DT_VARIANT = 21


def _ml(name: str) -> np.dtype | None:
    kind = getattr(ml_dtypes, name, None)
    return np.dtype(kind) if kind is not None else None


_TABLE: list[tuple[int, str, np.dtype | None]] = [
    (1, "float32", np.dtype(np.float32)),
    (2, "float64", np.dtype(np.float64)),
    (3, "int32", np.dtype(np.int32)),
    (4, "uint8", np.dtype(np.uint8)),
    (5, "int16", np.dtype(np.int16)),
    (6, "int8", np.dtype(np.int8)),
    (7, "string", np.dtype(object)),
    (8, "complex64", np.dtype(np.complex64)),
    (9, "int64", np.dtype(np.int64)),
    (10, "bool", np.dtype(np.bool_)),
    # Quantized types share their bytes with the plain integers (format doc §4.2).
    (11, "qint8", np.dtype(np.int8)),
    (12, "quint8", np.dtype(np.uint8)),
    (13, "qint32", np.dtype(np.int32)),
    (14, "bfloat16", _ml("bfloat16")),
    (15, "qint16", np.dtype(np.int16)),
    (16, "quint16", np.dtype(np.uint16)),
    (17, "uint16", np.dtype(np.uint16)),
    (18, "complex128", np.dtype(np.complex128)),
    (19, "float16", np.dtype(np.float16)),
    (20, "resource", None),
    (21, "variant", None),
    (22, "uint32", np.dtype(np.uint32)),
    (23, "uint64", np.dtype(np.uint64)),
    (24, "float8_e5m2", _ml("float8_e5m2")),
    (25, "float8_e4m3fn", _ml("float8_e4m3fn")),
    (26, "float8_e4m3fnuz", _ml("float8_e4m3fnuz")),
    (27, "float8_e4m3b11fnuz", _ml("float8_e4m3b11fnuz")),
    (28, "float8_e5m2fnuz", _ml("float8_e5m2fnuz")),
    (29, "int4", _ml("int4")),
    (30, "uint4", _ml("uint4")),
    (31, "int2", _ml("int2")),
    (32, "uint2", _ml("uint2")),
    (33, "float4_e2m1fn", _ml("float4_e2m1fn")),
]

# TF's enum names differ from the NumPy-style names for a few types.
_ENUM_OVERRIDES = {1: "DT_FLOAT", 2: "DT_DOUBLE", 19: "DT_HALF"}
_ENUM_NAMES: dict[int, str] = {v: _ENUM_OVERRIDES.get(v, "DT_" + n.upper()) for v, n, _ in _TABLE}
_ENUM_NAMES.update({v + 100: name + "_REF" for v, name in list(_ENUM_NAMES.items())})

_BY_VALUE: dict[int, DType] = {v: DType(v, n, d) for v, n, d in _TABLE}

# NumPy dtype -> TF value. Quantized types are left out: a plain int8 array is DT_INT8.
_QUANTIZED = {11, 12, 13, 15, 16}
_BY_NUMPY: dict[np.dtype, DType] = {
    d.numpy: d
    for d in _BY_VALUE.values()
    if d.numpy is not None and d.value not in _QUANTIZED and not d.is_string
}


def from_enum(value: int) -> DType:
    """Return the :class:`DType` of a ``DataType`` enum value found in a checkpoint."""
    dtype = _BY_VALUE.get(value)
    if dtype is None:
        base = value - 100 if value > 100 else value
        name = _BY_VALUE[base].name + "_ref" if base in _BY_VALUE else f"DataType({value})"
        return DType(value, name, None)
    return dtype


def from_numpy(dtype: np.dtype) -> DType:
    """Return the TF dtype used to store NumPy arrays of ``dtype``.

    Byte strings, unicode strings (stored as UTF-8) and object arrays of them map to ``string``.
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "SUO":
        return _BY_VALUE[DT_STRING]
    found = _BY_NUMPY.get(dtype.newbyteorder("=") if dtype.byteorder == ">" else dtype)
    if found is None:
        raise InvalidTensorError(
            f"dtype {dtype} has no TensorFlow equivalent; cast to a supported dtype "
            "(float16/32/64, bfloat16, float8, int/uint 4-64, bool, complex, bytes/str)"
        )
    return found


def from_name(name: str) -> DType:
    """Return the :class:`DType` for a TF-style name such as ``"float32"`` or ``"bfloat16"``."""
    for dtype in _BY_VALUE.values():
        if dtype.name == name:
            return dtype
    raise InvalidTensorError(f"unknown dtype name {name!r}")


def all_dtypes() -> list[DType]:
    """Every TF dtype ckpt can read and write (resource and variant excluded)."""
    return [d for d in _BY_VALUE.values() if d.numpy is not None]
