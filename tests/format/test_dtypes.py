"""TF DataType <-> NumPy dtype mapping (format doc §3.5, §4.2)."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from ckpt.errors import InvalidTensorError, UnsupportedCheckpointError
from ckpt.format import dtypes

# (enum value, numpy dtype, bytes per element) per §3.5/§4.2.
NUMERIC = [
    (1, np.float32, 4),
    (2, np.float64, 8),
    (3, np.int32, 4),
    (4, np.uint8, 1),
    (5, np.int16, 2),
    (6, np.int8, 1),
    (8, np.complex64, 8),
    (9, np.int64, 8),
    (10, np.bool_, 1),
    (14, ml_dtypes.bfloat16, 2),
    (17, np.uint16, 2),
    (18, np.complex128, 16),
    (19, np.float16, 2),
    (22, np.uint32, 4),
    (23, np.uint64, 8),
    (24, ml_dtypes.float8_e5m2, 1),
    (25, ml_dtypes.float8_e4m3fn, 1),
    (26, ml_dtypes.float8_e4m3fnuz, 1),
    (27, ml_dtypes.float8_e4m3b11fnuz, 1),
    (28, ml_dtypes.float8_e5m2fnuz, 1),
    (29, ml_dtypes.int4, 1),
    (30, ml_dtypes.uint4, 1),
    (31, ml_dtypes.int2, 1),
    (32, ml_dtypes.uint2, 1),
    (33, ml_dtypes.float4_e2m1fn, 1),
]
QUANTIZED = [(11, np.int8, 1), (12, np.uint8, 1), (13, np.int32, 4), (15, np.int16, 2),
             (16, np.uint16, 2)]


@pytest.mark.parametrize(("value", "numpy", "itemsize"), NUMERIC + QUANTIZED)
def test_from_enum(value: int, numpy: type, itemsize: int) -> None:
    dtype = dtypes.from_enum(value)
    assert dtype.value == value
    assert dtype.numpy == np.dtype(numpy)
    assert dtype.itemsize == itemsize
    assert not dtype.is_string


@pytest.mark.parametrize(("value", "numpy", "itemsize"), NUMERIC)
def test_from_numpy_is_inverse(value: int, numpy: type, itemsize: int) -> None:
    assert dtypes.from_numpy(np.dtype(numpy)).value == value


def test_quantized_types_are_not_chosen_for_plain_ints() -> None:
    assert dtypes.from_numpy(np.dtype(np.int8)).value == 6
    assert dtypes.from_numpy(np.dtype(np.uint8)).value == 4
    assert dtypes.from_numpy(np.dtype(np.int16)).value == 5
    assert dtypes.from_numpy(np.dtype(np.uint16)).value == 17
    assert dtypes.from_numpy(np.dtype(np.int32)).value == 3


@pytest.mark.parametrize("kind", ["S5", "U3", "O", np.bytes_, np.str_, object])
def test_strings(kind: object) -> None:
    dtype = dtypes.from_numpy(np.dtype(kind))
    assert dtype.value == 7
    assert dtype.is_string
    assert dtype.name == "string"
    with pytest.raises(UnsupportedCheckpointError):
        _ = dtype.itemsize


@pytest.mark.parametrize("kind", [">f4", ">i8", ">c8", "<f4", "=u2"])
def test_byte_order_does_not_matter(kind: str) -> None:
    assert dtypes.from_numpy(np.dtype(kind)).numpy == np.dtype(kind).newbyteorder("=")


@pytest.mark.parametrize(
    "kind", ["M8[s]", "m8[ns]", np.longdouble, "V4", [("a", "<i4"), ("b", "<f4")]]
)
def test_unsupported_numpy_dtypes(kind: object) -> None:
    if np.dtype(kind) == np.dtype(np.float64):  # longdouble is float64 on some platforms
        pytest.skip("longdouble is float64 here")
    with pytest.raises(InvalidTensorError):
        dtypes.from_numpy(np.dtype(kind))


def test_names() -> None:
    assert dtypes.from_enum(1).name == "float32"
    assert dtypes.from_enum(19).name == "float16"
    assert dtypes.from_enum(14).name == "bfloat16"
    assert dtypes.from_name("bfloat16").value == 14
    assert dtypes.from_name("string").value == 7
    with pytest.raises(InvalidTensorError):
        dtypes.from_name("float128")


@pytest.mark.parametrize(("value", "name"), [(20, "resource"), (21, "variant")])
def test_unreadable_types(value: int, name: str) -> None:
    dtype = dtypes.from_enum(value)
    assert dtype.name == name
    assert dtype.numpy is None
    with pytest.raises(UnsupportedCheckpointError):
        _ = dtype.itemsize


@pytest.mark.parametrize(("value", "name"), [(101, "float32_ref"), (133, "float4_e2m1fn_ref")])
def test_reference_types_are_known_but_unreadable(value: int, name: str) -> None:
    dtype = dtypes.from_enum(value)
    assert dtype.name == name
    assert dtype.numpy is None


@pytest.mark.parametrize("value", [0, 34, 99, 100, 200, -1, 2**31 - 1])
def test_unknown_enum_values_do_not_raise(value: int) -> None:
    dtype = dtypes.from_enum(value)
    assert dtype.value == value
    assert dtype.numpy is None


def test_all_dtypes() -> None:
    values = {d.value for d in dtypes.all_dtypes()}
    assert values == {v for v, _, _ in NUMERIC + QUANTIZED} | {7}
    assert 20 not in values
    assert 21 not in values
    assert 0 not in values


def test_repr() -> None:
    assert "float32" in repr(dtypes.from_enum(1))
