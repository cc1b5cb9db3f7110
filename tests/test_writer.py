"""The public writing API: ``write_tensors`` and ``CheckpointWriter``."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import ckpt
from ckpt.errors import CheckpointError, InvalidTensorError
from ckpt.format import protos
from ckpt.format.table import read_table


def listing(directory: pathlib.Path) -> list[str]:
    return sorted(os.listdir(directory))


class Boom(Exception):
    pass


def test_write_tensors_returns_prefix_and_writes_two_files(tmp_path: pathlib.Path) -> None:
    prefix = tmp_path / "sub" / "dir" / "model"
    result = ckpt.write_tensors(prefix, {"a": np.ones(3)})
    assert result == str(prefix)
    assert listing(prefix.parent) == ["model.data-00000-of-00001", "model.index"]
    assert ckpt.load_variable(str(prefix), "a").tolist() == [1.0, 1.0, 1.0]


def test_writer_is_the_format_writer(tmp_path: pathlib.Path) -> None:
    with ckpt.CheckpointWriter(str(tmp_path / "m")) as writer:
        writer.add("a", np.ones(1))
    assert writer.prefix == str(tmp_path / "m")
    assert writer.num_shards == 1


def test_exception_mid_write_leaves_nothing(tmp_path: pathlib.Path) -> None:
    prefix = str(tmp_path / "m")
    with pytest.raises(Boom), ckpt.CheckpointWriter(prefix, num_shards=3) as writer:
        writer.add("a", np.ones(1000))
        writer.add_slice("s", np.ones(2), full_shape=[4], offset=[0])
        raise Boom
    assert listing(tmp_path) == []


def test_failed_add_inside_write_tensors_leaves_nothing(tmp_path: pathlib.Path) -> None:
    prefix = str(tmp_path / "m")
    with pytest.raises(InvalidTensorError):
        ckpt.write_tensors(prefix, {"a": np.ones(3), "b": np.array([0], dtype="M8[s]")})
    assert listing(tmp_path) == []


def test_failed_write_keeps_the_previous_checkpoint(tmp_path: pathlib.Path) -> None:
    prefix = str(tmp_path / "m")
    ckpt.write_tensors(prefix, {"old": np.arange(4)})
    before = {n: (tmp_path / n).read_bytes() for n in listing(tmp_path)}
    with pytest.raises(Boom), ckpt.CheckpointWriter(prefix) as writer:
        writer.add("new", np.ones(10))
        raise Boom
    assert {n: (tmp_path / n).read_bytes() for n in listing(tmp_path)} == before
    assert ckpt.CheckpointReader(prefix).keys() == ["old"]


def test_overwriting_a_checkpoint(tmp_path: pathlib.Path) -> None:
    prefix = str(tmp_path / "m")
    ckpt.write_tensors(prefix, {"old": np.arange(4), "both": np.zeros(2)})
    ckpt.write_tensors(prefix, {"both": np.ones(3)})
    with ckpt.CheckpointReader(prefix) as reader:
        assert reader.keys() == ["both"]
        assert reader.get_tensor("both").tolist() == [1.0, 1.0, 1.0]
    assert listing(tmp_path) == ["m.data-00000-of-00001", "m.index"]


def test_abort(tmp_path: pathlib.Path) -> None:
    writer = ckpt.CheckpointWriter(str(tmp_path / "m"), num_shards=2)
    writer.add("a", np.ones(5))
    assert len(listing(tmp_path)) == 2  # temporary data files
    writer.abort()
    assert listing(tmp_path) == []
    with pytest.raises(InvalidTensorError):
        writer.add("b", np.ones(1))
    writer.abort()  # idempotent


def test_finished_writer_refuses_more(tmp_path: pathlib.Path) -> None:
    writer = ckpt.CheckpointWriter(str(tmp_path / "m"))
    writer.add("a", np.ones(1))
    assert writer.finish() == str(tmp_path / "m")
    for call in (
        lambda: writer.add("b", np.ones(1)),
        lambda: writer.add_slice("c", np.ones(1), full_shape=[2], offset=[0]),
        writer.finish,
    ):
        with pytest.raises(InvalidTensorError):
            call()
    assert ckpt.CheckpointReader(str(tmp_path / "m")).keys() == ["a"]


def test_sync(tmp_path: pathlib.Path) -> None:
    ckpt.write_tensors(tmp_path / "m", {"a": np.ones(2)}, sync=True)
    assert ckpt.load_variable(str(tmp_path / "m"), "a").tolist() == [1.0, 1.0]


@pytest.mark.parametrize("num_shards", [0, -1])
def test_bad_num_shards(tmp_path: pathlib.Path, num_shards: int) -> None:
    with pytest.raises(InvalidTensorError):
        ckpt.CheckpointWriter(str(tmp_path / "m"), num_shards=num_shards)
    assert listing(tmp_path) == []


def test_prefix_in_current_directory(tmp_path: pathlib.Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    ckpt.write_tensors("plain", {"a": np.ones(2)})
    assert listing(tmp_path) == ["plain.data-00000-of-00001", "plain.index"]
    assert ckpt.load_variable("plain", "a").tolist() == [1.0, 1.0]


# --- keys ------------------------------------------------------------------------------------


def test_duplicate_keys_rejected(tmp_path: pathlib.Path) -> None:
    with ckpt.CheckpointWriter(str(tmp_path / "m")) as writer:
        writer.add("a", np.ones(2))
        with pytest.raises(InvalidTensorError, match="duplicate"):
            writer.add("a", np.ones(2))
        with pytest.raises(InvalidTensorError):
            writer.add_slice("a", np.ones(1), full_shape=[2], offset=[0])
        with pytest.raises(InvalidTensorError):
            writer.add_slice("a", np.ones(2), full_shape=[2], offset=[0])
        writer.add_slice("s", np.ones(1), full_shape=[2], offset=[0])
        with pytest.raises(InvalidTensorError):
            writer.add("s", np.ones(2))
        with pytest.raises(InvalidTensorError):
            writer.add_slice("s", np.ones(1), full_shape=[2], offset=[0])
        writer.add_slice("s", np.full(1, 2.0), full_shape=[2], offset=[1])
    with ckpt.CheckpointReader(str(tmp_path / "m")) as reader:
        assert reader.get_tensor("a").tolist() == [1.0, 1.0]
        assert reader.get_tensor("s").tolist() == [1.0, 2.0]


def test_same_empty_slice_twice_is_a_duplicate_key(tmp_path: pathlib.Path) -> None:
    # Empty slices overlap nothing, but the second one has the same slice key (TF: "Adding
    # duplicate key"); it must not be listed twice in the full entry.
    prefix = str(tmp_path / "m")
    with ckpt.CheckpointWriter(prefix) as writer:
        writer.add_slice("x", np.ones((0, 3)), full_shape=[4, 3], offset=[2, 0])
        with pytest.raises(InvalidTensorError):
            writer.add_slice("x", np.ones((0, 3)), full_shape=[4, 3], offset=[2, 0])
        writer.add_slice("x", np.ones((4, 3)), full_shape=[4, 3], offset=[0, 0])
    entries = dict(read_table(pathlib.Path(prefix + ".index").read_bytes(), prefix))
    assert len(protos.BundleEntryProto.FromString(entries[b"x"]).slices) == 2
    assert ckpt.load_variable(prefix, "x").tolist() == np.ones((4, 3)).tolist()


@pytest.mark.parametrize("key", ["", "\x00", "\x00abc", b"bytes", 3, None, "\ud800"])
def test_invalid_keys_rejected(tmp_path: pathlib.Path, key: Any) -> None:
    with ckpt.CheckpointWriter(str(tmp_path / "m")) as writer:
        with pytest.raises(InvalidTensorError):
            writer.add(key, np.ones(1))
        with pytest.raises(InvalidTensorError):
            writer.add_slice(key, np.ones(1), full_shape=[2], offset=[0])
    assert ckpt.CheckpointReader(str(tmp_path / "m")).keys() == []


@pytest.mark.parametrize(
    "key",
    [
        "dense/kernel",
        "a.b.c",
        "model/.ATTRIBUTES/VARIABLE_VALUE",
        "we.Sird..name/.ATTRIBUTES/VARIABLE_VALUE",
        "日本語/重み",
        "emoji 🎉 key",
        "trailing/",
        "/leading",
        "with\x00nul inside",
        "ctrl\x01\x7f\n",
        "sp ace",
        ":0",
        "k" * 300_000,
    ],
    ids=lambda k: repr(k[:30]),
)
def test_unusual_keys_roundtrip(tmp_path: pathlib.Path, key: str) -> None:
    prefix = str(tmp_path / "m")
    value = np.arange(3, dtype=np.int16)
    with ckpt.CheckpointWriter(prefix) as writer:
        writer.add(key, value)
        writer.add_slice(key + "#sliced", value[:1], full_shape=[3], offset=[0])
        writer.add_slice(key + "#sliced", value[1:], full_shape=[3], offset=[1])
    with ckpt.CheckpointReader(prefix) as reader:
        assert reader.keys() == [key, key + "#sliced"]
        np.testing.assert_array_equal(reader.get_tensor(key), value)
        np.testing.assert_array_equal(reader.get_tensor(key + "#sliced"), value)


def test_many_keys_span_several_index_blocks(tmp_path: pathlib.Path) -> None:
    prefix = str(tmp_path / "m")
    names = [f"model/layer_{i:05d}/" + "x" * 100 for i in range(5000)]
    with ckpt.CheckpointWriter(prefix) as writer:
        for i, name in enumerate(names):
            writer.add(name, np.int32(i))
    assert os.path.getsize(prefix + ".index") > 2 * 262144
    with ckpt.CheckpointReader(prefix) as reader:
        assert reader.keys() == names
        assert reader.get_tensor(names[4321])[()] == 4321


# --- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        np.array(["2020-01-01"], dtype="M8[D]"),
        np.array([1], dtype="m8[s]"),
        np.zeros(2, dtype=[("a", "<i4"), ("b", "<f4")]),
        np.zeros(2, dtype="V3"),
    ],
    ids=["datetime", "timedelta", "structured", "void"],
)
def test_unsupported_dtypes_rejected(tmp_path: pathlib.Path, value: np.ndarray) -> None:
    with ckpt.CheckpointWriter(str(tmp_path / "m")) as writer:
        with pytest.raises(InvalidTensorError):
            writer.add("v", value)
        with pytest.raises(InvalidTensorError):
            writer.add_slice("w", value[:1], full_shape=[2], offset=[0])


@pytest.mark.parametrize(
    "value",
    [None, {"a": 1}, np.array([1, "a"], dtype=object), np.array([b"a", None], dtype=object),
     object()],
    ids=["None", "dict", "object-int", "object-None", "object"],
)
def test_non_string_objects_rejected_with_invalid_tensor_error(
    tmp_path: pathlib.Path, value: Any
) -> None:
    with ckpt.CheckpointWriter(str(tmp_path / "m")) as writer:
        with pytest.raises(InvalidTensorError):
            writer.add("v", value)
        writer.add("ok", np.ones(1))
    assert ckpt.CheckpointReader(str(tmp_path / "m")).keys() == ["ok"]


def test_ragged_input_rejected(tmp_path: pathlib.Path) -> None:
    with ckpt.CheckpointWriter(str(tmp_path / "m")) as writer, pytest.raises(CheckpointError):
        writer.add("v", [[1, 2], [3]])


def test_non_contiguous_and_big_endian_inputs(tmp_path: pathlib.Path) -> None:
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    values = {
        "transposed": base.T,
        "strided": base[::2, ::3],
        "fortran": np.asfortranarray(base),
        "big_endian": base.astype(">f4"),
        "negative_stride": base[::-1],
        "broadcast": np.broadcast_to(np.arange(3), (4, 3)),
    }
    ckpt.write_tensors(tmp_path / "m", values)
    with ckpt.CheckpointReader(str(tmp_path / "m")) as reader:
        for name, value in values.items():
            back = reader.get_tensor(name)
            assert back.dtype == value.dtype.newbyteorder("=")
            np.testing.assert_array_equal(back, value)
    assert values["big_endian"].dtype == np.dtype(">f4")  # the input is not modified


def test_value_is_copied_when_added(tmp_path: pathlib.Path) -> None:
    value = np.arange(4, dtype=np.int32)
    with ckpt.CheckpointWriter(str(tmp_path / "m")) as writer:
        writer.add("v", value)
        value[:] = -1
    assert ckpt.load_variable(str(tmp_path / "m"), "v").tolist() == [0, 1, 2, 3]


# --- add_slice -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "full_shape", "offset"),
    [
        ((2,), [4], [3]),  # runs past the end
        ((2,), [4], [-1]),  # negative offset
        ((2,), [4, 1], [0]),  # rank mismatch with the full shape
        ((2,), [4], [0, 0]),  # offset rank mismatch
        ((5,), [4], [0]),  # larger than the tensor
        ((2, 2), [4], [0]),
    ],
)
def test_add_slice_must_fit(
    tmp_path: pathlib.Path, shape: tuple[int, ...], full_shape: list[int], offset: list[int]
) -> None:
    with ckpt.CheckpointWriter(str(tmp_path / "m")) as writer, pytest.raises(InvalidTensorError):
        writer.add_slice("w", np.ones(shape), full_shape=full_shape, offset=offset)


def test_add_slice_overlap_rejected(tmp_path: pathlib.Path) -> None:
    with ckpt.CheckpointWriter(str(tmp_path / "m")) as writer:
        writer.add_slice("w", np.ones((2, 2)), full_shape=[4, 4], offset=[0, 0])
        for shape, offset in [((2, 2), [1, 1]), ((1, 1), [1, 1]), ((4, 4), [0, 0]),
                              ((2, 2), [0, 0]), ((1, 4), [1, 0])]:
            with pytest.raises(InvalidTensorError):
                writer.add_slice("w", np.ones(shape), full_shape=[4, 4], offset=offset)
        # Touching edges do not overlap.
        writer.add_slice("w", np.ones((2, 2)), full_shape=[4, 4], offset=[0, 2])
        writer.add_slice("w", np.ones((2, 4)), full_shape=[4, 4], offset=[2, 0])
    assert ckpt.load_variable(str(tmp_path / "m"), "w").tolist() == np.ones((4, 4)).tolist()


@pytest.mark.parametrize(
    "bad_slice",
    [
        {"value": np.ones(2, np.float32), "shard": 5},  # shard out of range
        {"value": np.array([1, 2], dtype=object)},  # elements that are not strings
    ],
    ids=["bad-shard", "bad-elements"],
)
def test_failed_add_slice_does_not_corrupt_the_checkpoint(
    tmp_path: pathlib.Path, bad_slice: dict[str, Any]
) -> None:
    prefix = str(tmp_path / "m")
    with ckpt.CheckpointWriter(prefix, num_shards=1) as writer:
        with pytest.raises((InvalidTensorError, TypeError)):
            writer.add_slice("x", full_shape=[4], offset=[0], **bad_slice)
        writer.add("y", np.ones(2))
    with ckpt.CheckpointReader(prefix) as reader:
        assert reader.keys() == ["y"]
        reader.verify()


def test_failed_add_slice_can_be_retried(tmp_path: pathlib.Path) -> None:
    prefix = str(tmp_path / "m")
    with ckpt.CheckpointWriter(prefix) as writer:
        with pytest.raises(InvalidTensorError):
            writer.add_slice("x", np.ones(2, np.float32), full_shape=[4], offset=[0], shard=9)
        writer.add_slice("x", np.ones(2, np.float32), full_shape=[4], offset=[0])
        writer.add_slice("x", np.zeros(2, np.float32), full_shape=[4], offset=[2])
    assert ckpt.load_variable(prefix, "x").tolist() == [1, 1, 0, 0]


def test_slices_to_different_shards(tmp_path: pathlib.Path) -> None:
    prefix = str(tmp_path / "m")
    value = np.arange(12, dtype=np.int32).reshape(4, 3)
    with ckpt.CheckpointWriter(prefix, num_shards=4) as writer:
        for i in range(4):
            writer.add_slice("w", value[i : i + 1], full_shape=[4, 3], offset=[i, 0], shard=3 - i)
    for i in range(4):
        data = (tmp_path / f"m.data-{3 - i:05d}-of-00004").read_bytes()
        assert data == value[i].tobytes()
    np.testing.assert_array_equal(ckpt.load_variable(prefix, "w"), value)


def test_adding_many_slices_is_not_quadratic(
    tmp_path: pathlib.Path, time_limit: Callable[[float], Any]
) -> None:
    n = 3000
    value = np.arange(n, dtype=np.int32).reshape(n, 1)
    with time_limit(3), ckpt.CheckpointWriter(str(tmp_path / "m")) as writer:
        for i in range(n):
            writer.add_slice("emb", value[i : i + 1], full_shape=[n, 1], offset=[i, 0])
    assert os.path.getsize(tmp_path / "m.data-00000-of-00001") == 4 * n
