"""``ckpt.transforms`` (:mod:`ckpt.warmstart.transforms`): shapes, dtypes, values and the input
region each output region comes from, checked against NumPy doing the same thing whole."""

from __future__ import annotations

import itertools
from typing import Any

import ml_dtypes
import numpy as np
import pytest

import ckpt
from ckpt.errors import InvalidTensorError
from ckpt.warmstart.transforms import (
    Cast,
    Reshape,
    Slice,
    Transform,
    Transpose,
    as_chain,
    chain_output,
    describe_chain,
    source_region,
)

Bounds = tuple[tuple[int, int], ...]


def _value(shape: tuple[int, ...]) -> np.ndarray:
    return np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)


def _cut(value: np.ndarray, bounds: Bounds) -> np.ndarray:
    return value[tuple(slice(a, b) for a, b in bounds)]


def test_public_module_is_the_same() -> None:
    assert ckpt.transforms.Transpose is Transpose
    assert ckpt.transforms.Slice is Slice
    assert issubclass(Cast, Transform) and issubclass(Reshape, Transform)


# --- Transpose ---------------------------------------------------------------------------------


def test_transpose_default_reverses_axes() -> None:
    value = _value((2, 3, 4))
    t = Transpose()
    assert t.output_shape((2, 3, 4)) == (4, 3, 2)
    np.testing.assert_array_equal(t.apply(value), value.T)
    assert t.output_dtype(np.dtype(np.int8)) == np.int8
    assert t.describe() == "transpose"


def test_transpose_with_axes_and_negative_axes() -> None:
    value = _value((2, 3, 4))
    t = Transpose((1, -1, 0))
    assert t.output_shape((2, 3, 4)) == (3, 4, 2)
    np.testing.assert_array_equal(t.apply(value), np.transpose(value, (1, 2, 0)))
    assert t.describe() == "transpose[1, -1, 0]"


@pytest.mark.parametrize("axes", [(0, 0), (0, 1, 2), (0, 5)])
def test_transpose_rejects_a_non_permutation(axes: tuple[int, ...]) -> None:
    with pytest.raises(InvalidTensorError, match="is not a permutation of 2 axes"):
        Transpose(axes).output_shape((2, 3))


def test_transpose_source_bounds_permute_the_region() -> None:
    # Output [out, in] rows 1..3 of a stored [in, out] kernel come from its columns 1..3.
    assert Transpose().source_bounds(((1, 3), (0, 4)), (4, 5)) == ((0, 4), (1, 3))
    t = Transpose((2, 0, 1))
    # output axis k is input axis axes[k]: out (d2, d0, d1)
    assert t.source_bounds(((0, 1), (2, 3), (4, 6)), (5, 6, 7)) == ((2, 3), (4, 6), (0, 1))


# --- Reshape -----------------------------------------------------------------------------------


def test_reshape() -> None:
    value = _value((2, 6))
    t = Reshape((3, -1))
    assert t.output_shape((2, 6)) == (3, 4)
    np.testing.assert_array_equal(t.apply(value), value.reshape(3, 4))
    assert Reshape((12,)).output_shape((2, 6)) == (12,)
    assert t.describe() == "reshape[3, -1]"
    assert t.source_bounds(((0, 1), (0, 4)), (2, 6)) is None  # needs the whole input


@pytest.mark.parametrize(
    ("shape", "match"),
    [((5,), "cannot reshape"), ((5, -1), "cannot reshape"), ((-1, -1), "more than one -1")],
)
def test_reshape_errors(shape: tuple[int, ...], match: str) -> None:
    with pytest.raises(InvalidTensorError, match=match):
        Reshape(shape).output_shape((2, 6))


# --- Cast --------------------------------------------------------------------------------------


def test_cast() -> None:
    t = Cast("float16")
    assert t.output_dtype(np.dtype(np.float64)) == np.float16
    assert t.output_shape((2, 3)) == (2, 3)
    out = t.apply(np.array([1.5, 2.25]))
    assert out.dtype == np.float16 and out.tolist() == [1.5, 2.25]
    assert t.source_bounds(((0, 1), (1, 2)), (2, 3)) == ((0, 1), (1, 2))
    assert t.describe() == "cast(float16)"


def test_cast_to_ml_dtypes() -> None:
    t = Cast(ml_dtypes.bfloat16)
    assert t.output_dtype(np.dtype(np.float32)) == ml_dtypes.bfloat16
    assert t.apply(np.array([1.0, 3.0], np.float32)).dtype == ml_dtypes.bfloat16
    assert t.describe() == "cast(bfloat16)"


# --- Slice -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "index",
    [
        np.s_[:2],
        np.s_[1:3, 2:],
        np.s_[-2:, :-1],
        np.s_[1],
        np.s_[:, 3],
        np.s_[-1, 1:4],
        (slice(None), slice(None)),
        np.s_[3:1],  # empty, as in NumPy
        (np.int64(2), slice(1, 3)),
    ],
)
def test_slice_matches_numpy(index: Any) -> None:
    value = _value((4, 5))
    t = Slice(index)
    expected = value[index]
    assert t.output_shape((4, 5)) == expected.shape
    np.testing.assert_array_equal(t.apply(value), expected)


def test_slice_source_bounds_and_on_region() -> None:
    value = _value((6, 5))
    t = Slice(np.s_[2, 1:4])  # -> shape (3,)
    assert t.output_shape((6, 5)) == (3,)
    # output elements 1..3 are input row 2, columns 2..4
    source = t.source_bounds(((1, 3),), (6, 5))
    assert source == ((2, 3), (2, 4))
    np.testing.assert_array_equal(t.on_region(_cut(value, source)), value[2, 1:4][1:3])


@pytest.mark.parametrize(
    ("index", "match"),
    [
        (np.s_[::2], "step-1"),
        (np.s_[7], "out of range"),
        (np.s_[-7], "out of range"),
        (np.s_[0, 0, 0], "more indices than rank"),
        (np.s_[[0, 1]], "ints and slices"),
        (np.s_[None], "ints and slices"),
    ],
)
def test_slice_errors(index: Any, match: str) -> None:
    with pytest.raises(InvalidTensorError, match=match):
        Slice(index).output_shape((6, 5))


def test_slice_describe() -> None:
    assert Slice(np.s_[:512]).describe() == "slice[:512]"
    assert Slice(np.s_[1:3, 2]).describe() == "slice[1:3,2]"
    assert Slice((slice(None), slice(4, None))).describe() == "slice[:,4:]"


# --- chains ------------------------------------------------------------------------------------


def test_as_chain_normalises() -> None:
    t = Transpose()
    assert as_chain(None) == ()
    assert as_chain(t) == (t,)
    assert as_chain([t, [Cast("int32"), Slice(0)]]) == (t, Cast("int32"), Slice(0))
    (fn,) = as_chain(np.negative)
    np.testing.assert_array_equal(fn.apply(np.array([1, -2])), [-1, 2])
    assert fn.describe() == "negative"
    assert describe_chain([Transpose(), Cast("int8")]) == "transpose | cast(int8)"
    assert describe_chain([]) == ""


def test_as_chain_refuses_other_things() -> None:
    with pytest.raises(InvalidTensorError, match="a transform must be"):
        as_chain("transpose")  # type: ignore[arg-type]
    with pytest.raises(InvalidTensorError, match="a transform must be"):
        as_chain([Transpose(), 3])


def test_chain_output() -> None:
    chain = as_chain([Slice(np.s_[:2]), Transpose(), Cast("float16")])
    assert chain_output(chain, (4, 3), np.dtype(np.float32)) == ((3, 2), np.dtype(np.float16))
    assert chain_output((), (4, 3), np.dtype(np.int32)) == ((4, 3), np.dtype(np.int32))


def test_function_output_is_unknown_until_applied() -> None:
    chain = as_chain([Transpose(), lambda a: a[:1]])
    assert chain_output(chain, (4, 3), np.dtype(np.float32)) == (None, None)
    assert source_region(chain, ((0, 1), (0, 4)), (4, 3)) is None


def test_source_region_through_reshape_is_the_whole_input() -> None:
    assert source_region(as_chain(Reshape((-1,))), ((0, 3),), (2, 3)) is None


CHAINS = [
    (),
    (Transpose(),),
    (Cast("float64"),),
    (Slice(np.s_[1:5, 2:]),),
    (Slice(np.s_[1:5]), Transpose()),
    (Transpose(), Slice(np.s_[1:, :4])),
    (Slice(np.s_[2]), Cast("int32")),
    (Transpose((1, 0)), Slice(np.s_[:, 3]), Cast("float16")),
]


@pytest.mark.parametrize("chain", CHAINS, ids=lambda c: describe_chain(c) or "identity")
def test_region_read_equals_cutting_the_whole_result(chain: tuple[Transform, ...]) -> None:
    """Every output region: read the source region, apply ``on_region`` -> same values as
    applying the chain to the whole tensor and cutting the region (what a bounded warm start
    relies on)."""
    stored = _value((6, 5))
    whole = stored
    for t in chain:
        whole = t.apply(whole)
    out_shape, _ = chain_output(chain, stored.shape, stored.dtype)
    assert out_shape == whole.shape
    per_axis = [
        [(a, b) for a, b in itertools.combinations(range(d + 1), 2)][::3] or [(0, d)]
        for d in whole.shape
    ]
    checked = 0
    for region in itertools.product(*per_axis):
        source = source_region(chain, tuple(region), stored.shape)
        assert source is not None
        assert all(0 <= a <= b <= d for (a, b), d in zip(source, stored.shape, strict=True))
        value = _cut(stored, source)
        for t in chain:
            value = t.on_region(value)
        np.testing.assert_array_equal(value, _cut(whole, tuple(region)))
        checked += 1
    assert checked > 0
