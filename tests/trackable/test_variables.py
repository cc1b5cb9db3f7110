"""``ckpt.Variable``: construction, dtype casts, strings, assignment, liveness, round trips."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import ckpt
from ckpt.errors import CheckpointError, InvalidTensorError, ShapeMismatchError


def test_defaults() -> None:
    v = ckpt.Variable([1.0, 2.0])
    assert v.name == "Variable"
    assert v.shape == (2,)
    assert v.dtype == np.float64
    assert ckpt.Variable(3, name="step").name == "step"
    assert isinstance(v, ckpt.Trackable)


def test_initial_value_is_copied() -> None:
    source = np.arange(3, dtype=np.float32)
    v = ckpt.Variable(source)
    source[0] = 100
    assert v.numpy()[0] == 0


def test_dtype_cast_on_construction() -> None:
    v = ckpt.Variable([1.7, -2.2], dtype=np.int32)
    assert v.dtype == np.int32
    assert v.numpy().tolist() == [1, -2]
    b = ckpt.Variable([1, 2], dtype=ml_dtypes.bfloat16)
    assert b.dtype == ml_dtypes.bfloat16
    assert ckpt.Variable(np.float16(1), dtype=np.float32).dtype == np.float32


def test_unsupported_dtype_is_refused() -> None:
    with pytest.raises(InvalidTensorError):
        ckpt.Variable(np.zeros(2, "datetime64[s]"))
    with pytest.raises(InvalidTensorError):
        ckpt.Variable(np.zeros(2, dtype=[("a", np.int32)]))


def test_numpy_is_live() -> None:
    v = ckpt.Variable(np.zeros(3, np.float32))
    array = v.numpy()
    v.assign([1, 2, 3])
    assert array.tolist() == [1, 2, 3]
    array[0] = 9  # in-place edits change the variable
    assert v.numpy()[0] == 9
    assert v.numpy() is array


def test_assign_casts_and_returns_self() -> None:
    v = ckpt.Variable(np.zeros(2, np.int32))
    assert v.assign(np.array([3.9, -1.5])) is v
    assert v.dtype == np.int32
    assert v.numpy().tolist() == [3, -1]
    scalar = ckpt.Variable(np.float32(0))
    scalar.assign(2.5)
    assert scalar.numpy() == np.float32(2.5) and scalar.shape == ()


@pytest.mark.parametrize("value", [[1, 2, 3], [[1, 2]], 5.0, [[1], [2]]])
def test_assign_shape_mismatch(value) -> None:
    v = ckpt.Variable(np.array([7, 8], np.float32))
    with pytest.raises(ShapeMismatchError) as info:
        v.assign(value)
    assert isinstance(info.value, ValueError)
    assert v.numpy().tolist() == [7, 8]


def test_array_protocol() -> None:
    v = ckpt.Variable(np.array([1, 2], np.int64))
    assert np.asarray(v).tolist() == [1, 2]
    as_float = np.asarray(v, dtype=np.float32)
    assert as_float.dtype == np.float32
    copied = np.array(v, copy=True)
    copied[0] = 5
    assert v.numpy()[0] == 1
    assert (np.add(v, 1) == np.array([2, 3])).all()


def test_string_variables_hold_bytes() -> None:
    """TF string variables hold bytes (``tf.Variable("abc").numpy() == b"abc"``)."""
    scalar = ckpt.Variable("abc")
    assert scalar.shape == () and scalar.dtype == object
    assert scalar.numpy().item() == b"abc"
    vector = ckpt.Variable(["x", b"yy"])
    assert vector.numpy().tolist() == [b"x", b"yy"]


def test_string_variable_round_trip(tmp_path) -> None:
    root = ckpt.Module()
    root.s = ckpt.Variable([b"hello", "w\u00f6rld".encode(), b"\x00\xff"])
    root.empty = ckpt.Variable(b"")
    prefix = ckpt.CheckpointableSaver(root).save(str(tmp_path / "s"))
    fresh = ckpt.Module()
    fresh.s = ckpt.Variable([b"", b"", b""])
    fresh.empty = ckpt.Variable(b"x")
    ckpt.CheckpointableSaver(fresh).restore(prefix).assert_consumed()
    assert fresh.s.numpy().tolist() == [b"hello", "w\u00f6rld".encode(), b"\x00\xff"]
    assert fresh.empty.numpy().item() == b""


def test_string_assign() -> None:
    v = ckpt.Variable([b"a", b"b"])
    v.assign([b"cc", b"d"])
    assert v.numpy().tolist() == [b"cc", b"d"]
    with pytest.raises(ShapeMismatchError):
        v.assign([b"a"])


@pytest.mark.parametrize(
    "value",
    [
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.array([1, -2], np.int8),
        np.array([True, False]),
        np.array([1 + 2j], np.complex64),
        np.array([0.5, 1.5], ml_dtypes.bfloat16),
        np.uint64(2**64 - 1),
        np.zeros((0, 3), np.float64),
    ],
    ids=lambda v: str(v.dtype),
)
def test_round_trip_dtypes(tmp_path, value) -> None:
    root = ckpt.Module()
    root.v = ckpt.Variable(value)
    prefix = ckpt.CheckpointableSaver(root).save(str(tmp_path / "d"))
    fresh = ckpt.Module()
    fresh.v = ckpt.Variable(np.zeros_like(value))
    before = fresh.v.numpy()
    ckpt.CheckpointableSaver(fresh).restore(prefix).assert_consumed()
    assert fresh.v.dtype == value.dtype
    assert np.array_equal(fresh.v.numpy(), value)
    assert fresh.v.numpy() is before  # restored in place: earlier numpy() arrays see it
    with ckpt.CheckpointReader(prefix) as reader:
        stored = reader.get_tensor("v/.ATTRIBUTES/VARIABLE_VALUE")
    assert stored.dtype == value.dtype and np.array_equal(stored, value)


def test_restore_reads_into_the_live_array(tmp_path) -> None:
    v = ckpt.Variable(np.arange(4, dtype=np.float32))
    prefix = ckpt.CheckpointableSaver(v).save(str(tmp_path / "live"))
    v.assign(np.zeros(4, np.float32))
    array = v.numpy()
    ckpt.CheckpointableSaver(v).restore(prefix)
    assert array.tolist() == [0, 1, 2, 3]


def test_restore_from_tensors_checks_shape_and_dtype() -> None:
    v = ckpt.Variable(np.zeros(2, np.float32))
    with pytest.raises(ShapeMismatchError):
        v._restore_from_tensors({"VARIABLE_VALUE": np.zeros(3, np.float32)})
    with pytest.raises(CheckpointError):
        v._restore_from_tensors({"VARIABLE_VALUE": np.zeros(2, np.float64)})
    v._restore_from_tensors({"VARIABLE_VALUE": np.ones(2, np.float32)})
    assert v.numpy().tolist() == [1, 1]


def test_repr() -> None:
    r = repr(ckpt.Variable(np.zeros((2, 1), np.int16), name="w"))
    assert "w" in r and "(2, 1)" in r and "int16" in r


@pytest.mark.parametrize(
    "value", [None, {"a": 1}, np.array([object()]), np.array([1.0], dtype=object)]
)
def test_values_that_cannot_be_saved_are_refused_at_construction(value) -> None:
    # As tf.Variable refuses them: not hours later, when a background save fails.
    with pytest.raises(InvalidTensorError, match="'w' can hold numbers or strings"):
        ckpt.Variable(value, name="w")
    text = ckpt.Variable(np.array([b"a", "b"], dtype=object), name="t")
    with pytest.raises(InvalidTensorError, match="element 1"):
        text.assign(np.array([b"c", 3], dtype=object))
    assert text.numpy().tolist() == [b"a", b"b"]
