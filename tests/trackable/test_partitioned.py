"""``ckpt.PartitionedVariable`` and ``ckpt.SaveSliceInfo`` (:mod:`ckpt.trackable.partitioned`):
TF's fixed-size partitioning, slice info and spec strings (format doc §5.1, §5.2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ckpt
from ckpt.errors import InvalidTensorError
from ckpt.trackable.partitioned import partition_bounds

# --- SaveSliceInfo ----------------------------------------------------------------------------


def test_spec_matches_tf() -> None:
    # Format doc §5.2: full [4,3,5], offset [0,1,3], shape [4,1,2] -> "4 3 5 0,4:1,1:3,2";
    # TF's Python savers give an explicit offset,length for every dimension.
    info = ckpt.SaveSliceInfo("a", (4, 3, 5), (0, 1, 3), (4, 1, 2))
    assert info.spec == "4 3 5 0,4:1,1:3,2"
    assert ckpt.SaveSliceInfo("w", [10, 4], [0, 0], [5, 4]).spec == "10 4 0,5:0,4"


def test_bounds_and_normalised_fields() -> None:
    info = ckpt.SaveSliceInfo("a", [4, np.int64(3)], (0, 1), (4, 2))
    assert info.full_shape == (4, 3) and type(info.full_shape[1]) is int
    assert info.bounds == ((0, 4), (1, 3))
    assert info == ckpt.SaveSliceInfo("a", (4, 3), (0, 1), (4, 2))


@pytest.mark.parametrize(
    ("full", "offset", "shape", "match"),
    [
        ((4, 3), (0,), (4, 3), "must have the rank"),
        ((4, 3), (0, 0), (4,), "must have the rank"),
        ((4, 3), (1, 0), (4, 3), "does not fit"),
        ((4, 3), (-1, 0), (2, 3), "does not fit"),
        ((4, 3), (0, 0), (2, -1), "does not fit"),
    ],
)
def test_slice_info_must_fit(
    full: tuple[int, ...], offset: tuple[int, ...], shape: tuple[int, ...], match: str
) -> None:
    with pytest.raises(InvalidTensorError, match=match):
        ckpt.SaveSliceInfo("a", full, offset, shape)


def test_variable_checks_its_slice_info() -> None:
    info = ckpt.SaveSliceInfo("w", (4, 3), (0, 0), (2, 3))
    v = ckpt.Variable(np.zeros((2, 3)), save_slice_info=info, name="w/part_0")
    assert v.save_slice_info is info
    with pytest.raises(InvalidTensorError, match="says shape"):
        ckpt.Variable(np.zeros((3, 3)), save_slice_info=info)
    assert ckpt.Variable(1.0).save_slice_info is None


# --- partition_bounds -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dim", "n", "expected"),
    [
        (10, 3, [(0, 4), (4, 7), (7, 10)]),  # the first dim % n parts are one larger
        (12, 4, [(0, 3), (3, 6), (6, 9), (9, 12)]),
        (5, 5, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]),
        (7, 1, [(0, 7)]),
        (0, 1, [(0, 0)]),
    ],
)
def test_partition_bounds(dim: int, n: int, expected: list[tuple[int, int]]) -> None:
    assert partition_bounds(dim, n) == expected


@pytest.mark.parametrize(("dim", "n"), [(3, 4), (4, 0), (0, 2)])
def test_partition_bounds_errors(dim: int, n: int) -> None:
    with pytest.raises(InvalidTensorError):
        partition_bounds(dim, n)


# --- PartitionedVariable ----------------------------------------------------------------------


def test_parts_like_fixed_size_partitioner() -> None:
    value = np.arange(30, dtype=np.float32).reshape(10, 3)
    pv = ckpt.PartitionedVariable(value, num_partitions=3, name="scope/w")
    assert len(pv) == 3
    assert [p.name for p in pv] == ["scope/w/part_0", "scope/w/part_1", "scope/w/part_2"]
    assert [p.shape for p in pv.parts] == [(4, 3), (3, 3), (3, 3)]
    assert [p.save_slice_info for p in pv] == [
        ckpt.SaveSliceInfo("scope/w", (10, 3), (0, 0), (4, 3)),
        ckpt.SaveSliceInfo("scope/w", (10, 3), (4, 0), (3, 3)),
        ckpt.SaveSliceInfo("scope/w", (10, 3), (7, 0), (3, 3)),
    ]
    np.testing.assert_array_equal(pv[1].numpy(), value[4:7])
    assert (pv.name, pv.shape, pv.dtype, pv.axis) == ("scope/w", (10, 3), np.float32, 0)
    np.testing.assert_array_equal(pv.numpy(), value)
    assert repr(pv) == (
        "<ckpt.PartitionedVariable 'scope/w' shape=(10, 3) dtype=float32 parts=3 axis=0>"
    )


def test_axis_and_negative_axis() -> None:
    value = np.arange(24).reshape(2, 3, 4)
    pv = ckpt.PartitionedVariable(value, num_partitions=2, axis=-1, dtype=np.int16, name="t")
    assert pv.axis == 2
    assert pv.dtype == np.int16
    assert [p.shape for p in pv] == [(2, 3, 2), (2, 3, 2)]
    assert pv[1].save_slice_info.var_offset == (0, 0, 2)
    np.testing.assert_array_equal(pv.numpy(), value)


def test_zeros_from_shape() -> None:
    pv = ckpt.PartitionedVariable(shape=(6, 2), num_partitions=2)
    assert pv.name == "PartitionedVariable"
    assert pv.dtype == np.float32
    assert (pv.numpy() == 0).all() and pv.numpy().shape == (6, 2)
    assert ckpt.PartitionedVariable(shape=(2,), num_partitions=2, dtype="int64").dtype == np.int64


def test_initial_value_is_copied() -> None:
    value = np.zeros((4, 2), np.float32)
    pv = ckpt.PartitionedVariable(value, num_partitions=2)
    value[:] = 5
    assert (pv.numpy() == 0).all()


def test_numpy_is_a_new_array() -> None:
    pv = ckpt.PartitionedVariable(np.zeros((4, 2)), num_partitions=2)
    pv.numpy()[:] = 3
    assert (pv.numpy() == 0).all()


def test_assign_fills_the_parts() -> None:
    pv = ckpt.PartitionedVariable(shape=(5, 2), num_partitions=2, axis=0)
    value = np.arange(10).reshape(5, 2)
    assert pv.assign(value) is pv
    np.testing.assert_array_equal(pv[0].numpy(), value[:3])
    np.testing.assert_array_equal(pv[1].numpy(), value[3:])
    with pytest.raises(InvalidTensorError, match="cannot assign a value of shape"):
        pv.assign(np.zeros((2, 5)))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"initial_value": None}, "needs initial_value or shape"),
        ({"initial_value": 3.0}, "cannot partition the scalar"),
        ({"initial_value": np.zeros((4, 2)), "axis": 2}, "out of range"),
        ({"initial_value": np.zeros((4, 2)), "axis": -3}, "out of range"),
        ({"initial_value": np.zeros((2, 2)), "num_partitions": 3}, "non-empty parts"),
        ({"initial_value": np.zeros((2, 2)), "num_partitions": 0}, "at least 1"),
    ],
)
def test_construction_errors(kwargs: dict[str, object], match: str) -> None:
    kwargs = {"num_partitions": 2} | kwargs
    with pytest.raises(InvalidTensorError, match=match):
        ckpt.PartitionedVariable(**kwargs)  # type: ignore[arg-type]


def test_children_are_the_parts() -> None:
    pv = ckpt.PartitionedVariable(shape=(4, 2), num_partitions=2)
    assert isinstance(pv, ckpt.Trackable)
    assert dict(pv._trackable_children()) == {"part_0": pv[0], "part_1": pv[1]}
    assert list(pv) == list(pv.parts)


def test_module_names_and_object_based_round_trip(tmp_path: Path) -> None:
    class Model(ckpt.Module):
        def __init__(self, value: np.ndarray) -> None:
            super().__init__()
            self.emb = ckpt.PartitionedVariable(value, num_partitions=2, name="emb")

    value = np.arange(12, dtype=np.float32).reshape(6, 2)
    model = Model(value)
    assert [name for name, _ in model.named_variables()] == ["model/emb/part_0",
                                                             "model/emb/part_1"]
    prefix = ckpt.Checkpoint(model=model).write(tmp_path / "c")
    target = Model(np.zeros((6, 2), np.float32))
    ckpt.Checkpoint(model=target).read(prefix).assert_consumed()
    np.testing.assert_array_equal(target.emb.numpy(), value)
