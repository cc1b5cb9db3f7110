"""The public reading API: ``CheckpointReader``, ``load_checkpoint``, ``load_variable``, ..."""

from __future__ import annotations

import itertools
import os
import pathlib
import shutil
import struct
from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np
import pytest

import ckpt
from ckpt.errors import (
    CheckpointError,
    CheckpointNotFoundError,
    ChecksumMismatchError,
    CorruptCheckpointError,
    InvalidTensorError,
    TensorNotFoundError,
    UnsupportedCheckpointError,
)
from ckpt.format import dtypes, protos
from ckpt.format.crc import crc32c, mask
from ckpt.format.slices import TensorSlice, encode_slice_key
from ckpt.format.table import build_table

RNG = np.random.default_rng(1234)


def data_path(prefix: str, shard: int = 0, num_shards: int = 1) -> str:
    return f"{prefix}.data-{shard:05d}-of-{num_shards:05d}"


def sample(dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Deterministic values valid for ``dtype`` (sub-byte types stay within their range)."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape))
    if dtype == np.bool_:
        return (RNG.integers(0, 2, n) == 1).reshape(shape)
    if dtype.kind == "c":
        return (RNG.standard_normal(n) + 1j * RNG.standard_normal(n)).astype(dtype).reshape(shape)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return RNG.integers(info.min, info.max, n, dtype=dtype, endpoint=True).reshape(shape)
    name = dtype.name
    if name in ("int4", "int2"):
        bits = 4 if name == "int4" else 2
        return RNG.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), n).astype(dtype).reshape(shape)
    if name in ("uint4", "uint2"):
        bits = 4 if name == "uint4" else 2
        return RNG.integers(0, 2**bits, n).astype(dtype).reshape(shape)
    if name == "float4_e2m1fn":
        return RNG.integers(0, 16, n, dtype=np.uint8).view(dtype).reshape(shape)
    if dtype.itemsize == 1:  # float8 variants: any bit pattern (incl. NaN) must round-trip
        return RNG.integers(0, 256, n, dtype=np.uint8).view(dtype).reshape(shape)
    return (RNG.standard_normal(n) * 100).astype(dtype).reshape(shape)


NUMERIC_DTYPES = [
    np.float16, np.float32, np.float64, ml_dtypes.bfloat16,
    ml_dtypes.float8_e5m2, ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e4m3fnuz,
    ml_dtypes.float8_e4m3b11fnuz, ml_dtypes.float8_e5m2fnuz,
    ml_dtypes.int4, ml_dtypes.uint4, ml_dtypes.int2, ml_dtypes.uint2, ml_dtypes.float4_e2m1fn,
    np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
    np.bool_, np.complex64, np.complex128,
]
@pytest.mark.parametrize("dtype", NUMERIC_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", [(), (0,), (5,), (3, 4), (2, 0, 3), (2, 3, 1, 2)], ids=str)
def test_every_dtype_and_shape_roundtrips(
    prefix: str, same: Callable[..., bool], dtype: Any, shape: tuple[int, ...]
) -> None:
    value = sample(dtype, shape)
    ckpt.write_tensors(prefix, {"v": value})
    with ckpt.CheckpointReader(prefix) as reader:
        back = reader.get_tensor("v")
        assert back.dtype == np.dtype(dtype)
        assert back.shape == shape
        assert same(back, value)
        assert reader.get_variable_to_shape_map() == {"v": list(shape)}
        assert reader.get_variable_to_dtype_map() == {"v": np.dtype(dtype)}
        assert reader.get_variable_to_tf_dtype_map() == {"v": np.dtype(dtype).name}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.array([b"ab", b"", b"\x00\xff"]), [b"ab", b"", b"\x00\xff"]),
        (np.array(["héllo", "wörld", ""]), ["héllo".encode(), "wörld".encode(), b""]),
        (np.array([b"x", "ÿ"], dtype=object), [b"x", "ÿ".encode()]),
        (np.array([], dtype=object), []),
        (np.array([], dtype="S1").reshape(0, 2), []),
        (np.array([b""]), [b""]),
        ([b"list", b"of", b"bytes"], [b"list", b"of", b"bytes"]),
        (["a", "list"], [b"a", b"list"]),
    ],
)
def test_strings_come_back_as_object_arrays_of_bytes(
    prefix: str, value: Any, expected: list[bytes]
) -> None:
    ckpt.write_tensors(prefix, {"s": value})
    back = ckpt.load_variable(prefix, "s")
    assert back.dtype == object
    assert back.shape == np.asarray(value).shape
    assert back.reshape(-1).tolist() == expected
    assert all(type(x) is bytes for x in back.reshape(-1).tolist())


def test_string_scalar_and_matrix(prefix: str) -> None:
    matrix = np.array([[b"a", b"bb"], [b"ccc", bytes(range(256))]], dtype=object)
    ckpt.write_tensors(prefix, {"scalar": b"just one", "unicode": "ünï", "m": matrix})
    with ckpt.CheckpointReader(prefix) as reader:
        scalar = reader.get_tensor("scalar")
        assert scalar.shape == ()
        assert scalar[()] == b"just one"
        assert reader.get_tensor("unicode")[()] == "ünï".encode()
        assert reader.get_tensor("m").tolist() == matrix.tolist()
        assert reader.get_variable_to_tf_dtype_map()["m"] == "string"
        assert reader.get_variable_to_dtype_map()["m"] == np.dtype(object)


def test_python_scalars_and_lists(prefix: str) -> None:
    ckpt.write_tensors(prefix, {"i": 3, "f": 1.5, "b": True, "l": [[1, 2], [3, 4]], "c": 1j})
    with ckpt.CheckpointReader(prefix) as reader:
        assert reader.get_tensor("i").shape == ()
        assert reader.get_tensor("i")[()] == 3
        assert reader.get_tensor("f")[()] == 1.5
        assert reader.get_tensor("b").dtype == np.bool_
        assert reader.get_tensor("l").tolist() == [[1, 2], [3, 4]]
        assert reader.get_tensor("c")[()] == 1j


# --- listing ---------------------------------------------------------------------------------


KEYS = ["b", "a/c", "A", "a.b", "é", "a", "z" * 3, "layer/0/kernel", "日本"]


def test_keys_listing_and_membership(prefix: str) -> None:
    ckpt.write_tensors(prefix, {k: np.full(i + 1, i, np.int32) for i, k in enumerate(KEYS)})
    with ckpt.CheckpointReader(prefix) as reader:
        assert reader.keys() == sorted(KEYS, key=lambda k: k.encode())
        assert list(reader) == reader.keys()
        assert len(reader) == len(KEYS)
        for k in KEYS:
            assert k in reader
            assert reader.has_tensor(k)
        assert "nope" not in reader
        assert not reader.has_tensor("nope")
        assert not reader.has_tensor("a/")  # exact match only
        assert reader.prefix == prefix
        assert prefix in repr(reader)
        assert "9" in repr(reader)
    listed = ckpt.list_variables(prefix)
    assert listed == sorted((k, [i + 1]) for i, k in enumerate(KEYS))
    assert [k for k, _ in listed] == sorted(KEYS)


def test_debug_string_uses_tf_type_names(prefix: str) -> None:
    ckpt.write_tensors(prefix, {"x": np.zeros((2, 2), np.float32), "y": np.int32(1),
                                "h": np.zeros(1, np.float16), "d": np.zeros(3, np.float64)})
    text = ckpt.CheckpointReader(prefix).debug_string()
    # TF prints DataType enum names (§7.3): `x (DT_FLOAT) [2,2]`, `y (DT_INT32) []`.
    assert text == "d (DT_DOUBLE) [3]\nh (DT_HALF) [1]\nx (DT_FLOAT) [2,2]\ny (DT_INT32) []\n"


def test_debug_string_names_every_dtype_by_its_enum(prefix: str) -> None:
    enum = protos.BundleEntryProto.DESCRIPTOR.fields_by_name["dtype"].enum_type
    tensors = {f"t{i:02d}": sample(d, (1,)) for i, d in enumerate(NUMERIC_DTYPES)}
    tensors["zs"] = np.array([b"s"])
    ckpt.write_tensors(prefix, tensors)
    with ckpt.CheckpointReader(prefix) as reader:
        lines = reader.debug_string().splitlines()
        tf_dtypes = reader.get_variable_to_tf_dtype_map()
    assert len(lines) == len(tensors)
    for line, name in zip(lines, sorted(tensors), strict=True):
        value = dtypes.from_name(tf_dtypes[name]).value
        assert line == f"{name} ({enum.values_by_number[value].name}) [1]"


def test_empty_checkpoint(prefix: str) -> None:
    ckpt.write_tensors(prefix, {})
    with ckpt.CheckpointReader(prefix) as reader:
        assert reader.keys() == []
        assert len(reader) == 0
        assert reader.debug_string() == ""
        reader.verify()
    assert ckpt.list_variables(prefix) == []


# --- paths -----------------------------------------------------------------------------------


def test_index_path_pathlib_and_directory(tmp_path: pathlib.Path) -> None:
    prefix = str(tmp_path / "model-5")
    ckpt.write_tensors(prefix, {"v": np.arange(3)})
    ckpt.update_checkpoint_state(str(tmp_path), prefix)
    for path in (prefix, prefix + ".index", tmp_path / "model-5", str(tmp_path), tmp_path):
        with ckpt.load_checkpoint(path) as reader:
            assert reader.prefix == prefix
            assert reader.get_tensor("v").tolist() == [0, 1, 2]
    assert ckpt.load_variable(tmp_path, "v").tolist() == [0, 1, 2]
    assert ckpt.list_variables(tmp_path) == [("v", [3])]


def test_directory_without_state_file(tmp_path: pathlib.Path) -> None:
    ckpt.write_tensors(str(tmp_path / "m"), {"v": np.arange(3)})
    with pytest.raises(CheckpointNotFoundError):
        ckpt.load_checkpoint(tmp_path)


def test_directory_whose_latest_is_gone(tmp_path: pathlib.Path) -> None:
    prefix = str(tmp_path / "m")
    ckpt.write_tensors(prefix, {"v": np.arange(3)})
    ckpt.update_checkpoint_state(str(tmp_path), prefix)
    os.unlink(prefix + ".index")
    with pytest.raises(CheckpointNotFoundError):
        ckpt.load_checkpoint(tmp_path)


def test_missing_checkpoint(tmp_path: pathlib.Path) -> None:
    with pytest.raises(CheckpointNotFoundError) as info:
        ckpt.CheckpointReader(str(tmp_path / "nope"))
    assert isinstance(info.value, FileNotFoundError)
    assert info.value.path == str(tmp_path / "nope")
    with pytest.raises(CheckpointNotFoundError):
        ckpt.load_variable(str(tmp_path / "nope"), "v")


def test_v1_checkpoint_is_unsupported(tmp_path: pathlib.Path) -> None:
    # A V1 checkpoint is the same table format, under the prefix itself or P-?????-of-?????.
    table = build_table([(b"", b"\x0a\x00")])
    (tmp_path / "v1").write_bytes(table)
    with pytest.raises(UnsupportedCheckpointError):
        ckpt.CheckpointReader(str(tmp_path / "v1"))
    (tmp_path / "sharded-00000-of-00002").write_bytes(table)
    with pytest.raises(UnsupportedCheckpointError):
        ckpt.CheckpointReader(str(tmp_path / "sharded"))
    # A random file at the prefix is not a V1 checkpoint, just no checkpoint.
    (tmp_path / "notes").write_bytes(b"hello")
    with pytest.raises(CheckpointNotFoundError):
        ckpt.CheckpointReader(str(tmp_path / "notes"))


def test_missing_key(prefix: str) -> None:
    ckpt.write_tensors(prefix, {"v": np.arange(3)})
    with ckpt.CheckpointReader(prefix) as reader:
        with pytest.raises(TensorNotFoundError) as info:
            reader.get_tensor("nope")
        assert isinstance(info.value, KeyError)
        assert info.value.key == "nope"
        assert "nope" in str(info.value)
        with pytest.raises(TensorNotFoundError):
            reader.get_slice("nope", 0)
        with pytest.raises(TensorNotFoundError):
            reader.get_view("nope")
        with pytest.raises(TensorNotFoundError):
            reader.verify("nope")


def test_load_variable_strips_one_colon_zero(prefix: str) -> None:
    ckpt.write_tensors(prefix, {"dense/kernel": np.ones(2), "odd:0": np.zeros(1)})
    assert ckpt.load_variable(prefix, "dense/kernel:0").tolist() == [1.0, 1.0]
    assert ckpt.load_variable(prefix, "dense/kernel").tolist() == [1.0, 1.0]
    with pytest.raises(TensorNotFoundError):
        ckpt.load_variable(prefix, "dense/kernel:0:0")
    with pytest.raises(TensorNotFoundError):
        ckpt.load_variable(prefix, "dense/kernel:1")


# --- out=, views, verification ---------------------------------------------------------------


def test_get_tensor_into_out(prefix: str) -> None:
    value = np.arange(12, dtype=np.float32).reshape(3, 4)
    ckpt.write_tensors(prefix, {"v": value, "s": np.array([b"a", b"b"])})
    with ckpt.CheckpointReader(prefix) as reader:
        out = np.full((3, 4), -1, np.float32)
        result = reader.get_tensor("v", out=out)
        assert result is out
        np.testing.assert_array_equal(out, value)
        # A non-contiguous but correctly shaped out is filled too.
        backing = np.zeros((4, 3), np.float32)
        reader.get_tensor("v", out=backing.T)
        np.testing.assert_array_equal(backing.T, value)
        strings_out = np.empty(2, dtype=object)
        assert reader.get_tensor("s", out=strings_out) is strings_out
        assert strings_out.tolist() == [b"a", b"b"]


@pytest.mark.parametrize(
    "out",
    [
        np.zeros((4, 3), np.float32),
        np.zeros(12, np.float32),
        np.zeros((3, 4), np.float64),
        np.zeros((3, 4), np.int32),
        [[0.0] * 4] * 3,
    ],
    ids=["transposed-shape", "flat", "float64", "int32", "list"],
)
def test_get_tensor_out_must_match(prefix: str, out: Any) -> None:
    ckpt.write_tensors(prefix, {"v": np.zeros((3, 4), np.float32)})
    with ckpt.CheckpointReader(prefix) as reader, pytest.raises(InvalidTensorError):
        reader.get_tensor("v", out=out)


def test_get_tensor_out_read_only(prefix: str) -> None:
    ckpt.write_tensors(prefix, {"v": np.zeros(3, np.float32)})
    out = np.ones(3, np.float32)
    out.flags.writeable = False
    with ckpt.CheckpointReader(prefix) as reader, pytest.raises(InvalidTensorError):
        reader.get_tensor("v", out=out)


def flip_data_byte(prefix: str, position: int, shard: int = 0, num_shards: int = 1) -> None:
    path = data_path(prefix, shard, num_shards)
    raw = bytearray(pathlib.Path(path).read_bytes())
    raw[position] ^= 0x5A
    pathlib.Path(path).write_bytes(bytes(raw))


def test_out_untouched_on_checksum_failure(prefix: str) -> None:
    ckpt.write_tensors(prefix, {"v": np.arange(100, dtype=np.float64)})
    flip_data_byte(prefix, 799)
    out = np.full(100, 7.0)
    with ckpt.CheckpointReader(prefix) as reader:
        with pytest.raises(ChecksumMismatchError):
            reader.get_tensor("v", out=out)
        assert (out == 7.0).all()


def test_out_untouched_on_checksum_failure_of_strings(prefix: str) -> None:
    ckpt.write_tensors(prefix, {"s": np.array([b"abc", b"def"])})
    flip_data_byte(prefix, os.path.getsize(data_path(prefix)) - 1)
    out = np.array([b"keep", b"me"], dtype=object)
    with ckpt.CheckpointReader(prefix) as reader:
        with pytest.raises(ChecksumMismatchError):
            reader.get_tensor("s", out=out)
        assert out.tolist() == [b"keep", b"me"]


def test_out_untouched_on_checksum_failure_of_a_later_slice(prefix: str) -> None:
    with ckpt.CheckpointWriter(prefix) as writer:
        writer.add_slice("v", np.ones((2, 3), np.float32), full_shape=[4, 3], offset=[0, 0])
        writer.add_slice("v", np.full((2, 3), 2, np.float32), full_shape=[4, 3], offset=[2, 0])
    flip_data_byte(prefix, 47)  # the last byte of the second slice
    out = np.full((4, 3), -1, np.float32)
    with ckpt.CheckpointReader(prefix) as reader:
        with pytest.raises(ChecksumMismatchError):
            reader.get_tensor("v", out=out)
        assert (out == -1).all()


def test_verify(prefix: str) -> None:
    with ckpt.CheckpointWriter(prefix) as writer:
        writer.add("a", np.arange(10, dtype=np.int32))
        writer.add("s", np.array([b"x", b"yz"]))
        writer.add_slice("p", np.ones(3, np.int16), full_shape=[6], offset=[0])
        writer.add_slice("p", np.zeros(3, np.int16), full_shape=[6], offset=[3])
    with ckpt.CheckpointReader(prefix) as reader:
        reader.verify()
        for name in ("a", "s", "p"):
            reader.verify(name)
    size = os.path.getsize(data_path(prefix))
    for position, broken in [(0, "a"), (41, "s"), (size - 1, "p")]:
        flip_data_byte(prefix, position)
        with ckpt.CheckpointReader(prefix) as reader:
            with pytest.raises(CorruptCheckpointError):
                reader.verify()
            with pytest.raises(CorruptCheckpointError):
                reader.verify(broken)
            for other in {"a", "s", "p"} - {broken}:
                reader.verify(other)
        flip_data_byte(prefix, position)  # repair


def test_verify_false_skips_the_checksum(prefix: str) -> None:
    ckpt.write_tensors(prefix, {"v": np.zeros(4, np.uint8)})
    flip_data_byte(prefix, 2)
    with ckpt.CheckpointReader(prefix, verify=False) as reader:
        assert reader.get_tensor("v").tolist() == [0, 0, 0x5A, 0]
        with pytest.raises(ChecksumMismatchError):
            reader.get_tensor("v", verify=True)
    with ckpt.load_checkpoint(prefix, verify=False) as reader:
        assert reader.get_tensor("v")[2] == 0x5A
    with ckpt.CheckpointReader(prefix) as reader:
        assert reader.get_tensor("v", verify=False)[2] == 0x5A
        with pytest.raises(ChecksumMismatchError):
            reader.get_tensor("v")


def test_get_view(prefix: str) -> None:
    value = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    ckpt.write_tensors(prefix, {"v": value, "s": np.array([b"a"]), "e": np.zeros((0, 2))})
    reader = ckpt.CheckpointReader(prefix)
    view = reader.get_view("v")
    assert view.dtype == np.int16
    np.testing.assert_array_equal(view, value)
    assert not view.flags.writeable
    with pytest.raises(ValueError):
        view[0, 0, 0] = 5
    assert reader.get_view("e").shape == (0, 2)
    with pytest.raises(InvalidTensorError):
        reader.get_view("s")
    reader.close()
    np.testing.assert_array_equal(view, value)  # still valid after close


def test_get_view_of_sliced_tensor_is_refused(prefix: str) -> None:
    with ckpt.CheckpointWriter(prefix) as writer:
        writer.add_slice("p", np.ones(3), full_shape=[6], offset=[0])
        writer.add_slice("p", np.ones(3), full_shape=[6], offset=[3])
    with ckpt.CheckpointReader(prefix) as reader, pytest.raises(InvalidTensorError):
        reader.get_view("p")


# --- get_slice -------------------------------------------------------------------------------


def test_get_slice_basic_indexing(prefix: str) -> None:
    value = np.arange(60, dtype=np.int32).reshape(3, 4, 5)
    ckpt.write_tensors(prefix, {"v": value})
    with ckpt.CheckpointReader(prefix) as reader:
        for index in [
            (slice(None),),
            (slice(1, 3),),
            1,
            -1,
            (0, slice(1, 3), slice(None, None, 1)),
            (slice(1, 2), 2, 4),
            (slice(2, 1),),
            (slice(-2, None), slice(0, 100)),
            np.int64(2),
            (),
        ]:
            np.testing.assert_array_equal(reader.get_slice("v", index), value[index])
        bad_indexes = [(0, 0, 0, 0), 3, -4, (slice(None, None, 2),), (..., 1), ([0, 1],), 1.5]
        bad_indexes.append([0, 1])  # NumPy's fancy indexing, not the tuple (0, 1)
        for bad in bad_indexes:
            with pytest.raises(InvalidTensorError):
                reader.get_slice("v", bad)  # type: ignore[arg-type]


def test_get_slice_of_scalar_and_strings(prefix: str) -> None:
    ckpt.write_tensors(prefix, {"x": np.float32(2.5), "s": np.array([b"a", b"b", b"c"])})
    with ckpt.CheckpointReader(prefix) as reader:
        assert reader.get_slice("x", ()).shape == ()
        assert reader.get_slice("x", ())[()] == 2.5
        assert reader.get_slice("s", slice(1, 3)).tolist() == [b"b", b"c"]
        assert reader.get_slice("s", 0) == b"a"


def partitioned(prefix: str, value: np.ndarray, cuts: list[int], **kwargs: Any) -> None:
    with ckpt.CheckpointWriter(prefix, **kwargs) as writer:
        for start, stop in itertools.pairwise(cuts):
            writer.add_slice("p", value[start:stop], full_shape=value.shape,
                             offset=[start] + [0] * (value.ndim - 1))


def test_sliced_tensor_assembled_and_hidden(prefix: str) -> None:
    value = np.arange(40, dtype=np.float32).reshape(10, 4)
    partitioned(prefix, value, [0, 3, 7, 10])
    with ckpt.CheckpointReader(prefix) as reader:
        assert reader.keys() == ["p"]
        assert reader.get_variable_to_shape_map() == {"p": [10, 4]}
        np.testing.assert_array_equal(reader.get_tensor("p"), value)
        np.testing.assert_array_equal(reader.get_slice("p", slice(2, 8)), value[2:8])
        np.testing.assert_array_equal(reader.get_slice("p", (5, slice(1, 3))), value[5, 1:3])
        out = np.zeros((10, 4), np.float32)
        assert reader.get_tensor("p", out=out) is out
        np.testing.assert_array_equal(out, value)
    assert ckpt.list_variables(prefix) == [("p", [10, 4])]


def test_slice_entries_are_not_tensors(prefix: str) -> None:
    value = np.arange(6, dtype=np.float32)
    partitioned(prefix, value, [0, 2, 6])
    slice_key = encode_slice_key(b"p", TensorSlice(((0, 2),))).decode("utf-8", "surrogateescape")
    with ckpt.CheckpointReader(prefix) as reader:
        # As in TF, whose has_tensor looks names up in the variable map that hides slice keys.
        assert reader.keys() == ["p"]
        assert len(reader) == 1
        assert not reader.has_tensor(slice_key)
        assert slice_key not in reader


def test_get_slice_reads_only_intersecting_slices(prefix: str) -> None:
    value = np.arange(30, dtype=np.int64).reshape(10, 3)
    partitioned(prefix, value, [0, 4, 7, 10])
    flip_data_byte(prefix, 4 * 3 * 8 + 1)  # inside the second slice (rows 4..7)
    with ckpt.CheckpointReader(prefix) as reader:
        np.testing.assert_array_equal(reader.get_slice("p", slice(0, 4)), value[0:4])
        np.testing.assert_array_equal(reader.get_slice("p", slice(7, 10)), value[7:10])
        np.testing.assert_array_equal(reader.get_slice("p", 9), value[9])
        with pytest.raises(ChecksumMismatchError):
            reader.get_slice("p", slice(3, 5))
        with pytest.raises(ChecksumMismatchError):
            reader.get_tensor("p")


def test_get_slice_does_not_need_non_intersecting_shards(tmp_path: pathlib.Path) -> None:
    prefix = str(tmp_path / "m")
    value = np.arange(8, dtype=np.int32)
    with ckpt.CheckpointWriter(prefix, num_shards=2) as writer:
        writer.add_slice("p", value[:4], full_shape=[8], offset=[0], shard=0)
        writer.add_slice("p", value[4:], full_shape=[8], offset=[4], shard=1)
    os.unlink(data_path(prefix, 1, 2))
    with ckpt.CheckpointReader(prefix) as reader:
        np.testing.assert_array_equal(reader.get_slice("p", slice(0, 4)), value[:4])
        with pytest.raises(CheckpointNotFoundError):
            reader.get_tensor("p")


def test_sliced_tensor_with_gap(prefix: str) -> None:
    value = np.arange(12, dtype=np.int32).reshape(6, 2)
    with ckpt.CheckpointWriter(prefix) as writer:
        writer.add_slice("p", value[0:2], full_shape=[6, 2], offset=[0, 0])
        writer.add_slice("p", value[4:6], full_shape=[6, 2], offset=[4, 0])
        writer.add_slice("q", value[:, :1], full_shape=[6, 2], offset=[0, 0])
    with ckpt.CheckpointReader(prefix) as reader:
        for name in ("p", "q"):
            with pytest.raises(CorruptCheckpointError):
                reader.get_tensor(name)
        np.testing.assert_array_equal(reader.get_slice("p", slice(0, 2)), value[0:2])
        np.testing.assert_array_equal(reader.get_slice("p", slice(4, 6)), value[4:6])
        with pytest.raises(CorruptCheckpointError):
            reader.get_slice("p", slice(1, 3))
        np.testing.assert_array_equal(reader.get_slice("q", (slice(None), 0)), value[:, 0])
        with pytest.raises(CorruptCheckpointError):
            reader.get_slice("q", (0, 1))
        assert reader.get_slice("p", slice(2, 2)).shape == (0, 2)  # empty regions need nothing


def test_sliced_two_dimensional_grid_in_random_order(prefix: str) -> None:
    value = np.arange(7 * 5, dtype=np.float64).reshape(7, 5)
    pieces = [((r0, r1), (c0, c1)) for r0, r1 in [(0, 3), (3, 7)] for c0, c1 in [(0, 2), (2, 5)]]
    order = [3, 0, 2, 1]
    with ckpt.CheckpointWriter(prefix, num_shards=2) as writer:
        for i in order:
            (r0, r1), (c0, c1) = pieces[i]
            writer.add_slice("g", value[r0:r1, c0:c1], full_shape=[7, 5], offset=[r0, c0])
    with ckpt.CheckpointReader(prefix) as reader:
        np.testing.assert_array_equal(reader.get_tensor("g"), value)
        np.testing.assert_array_equal(reader.get_slice("g", (slice(2, 5), slice(1, 4))),
                                      value[2:5, 1:4])


def test_sliced_strings(prefix: str) -> None:
    value = np.array([[b"a", b"b"], [b"c", b""], [b"e", b"f" * 100]], dtype=object)
    partitioned(prefix, value, [0, 1, 3])
    with ckpt.CheckpointReader(prefix) as reader:
        assert reader.get_tensor("p").tolist() == value.tolist()
        assert reader.get_slice("p", (slice(1, 3), 1)).tolist() == [b"", b"f" * 100]


def test_sliced_sub_byte_dtype(prefix: str, same: Callable[..., bool]) -> None:
    value = sample(ml_dtypes.int4, (6, 2))
    partitioned(prefix, value, [0, 2, 6])
    with ckpt.CheckpointReader(prefix) as reader:
        assert same(reader.get_tensor("p"), value)


def test_sliced_tensor_with_empty_piece(prefix: str) -> None:
    value = np.arange(4, dtype=np.int8)
    partitioned(prefix, value, [0, 2, 2, 4])
    np.testing.assert_array_equal(ckpt.load_variable(prefix, "p"), value)


# --- shards ----------------------------------------------------------------------------------


def test_multi_shard(tmp_path: pathlib.Path) -> None:
    prefix = str(tmp_path / "m")
    tensors = {f"t{i}": np.full(16, i, np.int32) for i in range(6)}
    ckpt.write_tensors(prefix, tensors, num_shards=3)
    names = sorted(os.listdir(tmp_path))
    assert names == ["m.data-00000-of-00003", "m.data-00001-of-00003",
                     "m.data-00002-of-00003", "m.index"]
    assert all(os.path.getsize(tmp_path / n) == 128 for n in names[:3])
    with ckpt.CheckpointReader(prefix) as reader:
        for name, value in tensors.items():
            np.testing.assert_array_equal(reader.get_tensor(name), value)
        reader.verify()


def test_explicit_shard(tmp_path: pathlib.Path) -> None:
    prefix = str(tmp_path / "m")
    with ckpt.CheckpointWriter(prefix, num_shards=3) as writer:
        writer.add("a", np.array([1, 2], np.uint8), shard=2)
        writer.add("b", np.array([3], np.uint8), shard=2)
        writer.add("c", np.array([4], np.uint8))  # emptiest shard: 0
        with pytest.raises(InvalidTensorError):
            writer.add("d", np.array([5]), shard=3)
        with pytest.raises(InvalidTensorError):
            writer.add("e", np.array([5]), shard=-1)
    assert (tmp_path / "m.data-00002-of-00003").read_bytes() == b"\x01\x02\x03"
    assert (tmp_path / "m.data-00000-of-00003").read_bytes() == b"\x04"
    assert (tmp_path / "m.data-00001-of-00003").read_bytes() == b""
    assert ckpt.CheckpointReader(prefix).keys() == ["a", "b", "c"]


def test_missing_shard(tmp_path: pathlib.Path) -> None:
    prefix = str(tmp_path / "m")
    with ckpt.CheckpointWriter(prefix, num_shards=2) as writer:
        writer.add("a", np.ones(2), shard=0)
        writer.add("b", np.ones(2), shard=1)
    os.unlink(data_path(prefix, 1, 2))
    with ckpt.CheckpointReader(prefix) as reader:
        np.testing.assert_array_equal(reader.get_tensor("a"), np.ones(2))
        with pytest.raises(CheckpointNotFoundError):
            reader.get_tensor("b")


def test_moving_a_checkpoint(tmp_path: pathlib.Path) -> None:
    src = tmp_path / "a"
    src.mkdir()
    ckpt.write_tensors(str(src / "m"), {"v": np.arange(5)})
    ckpt.update_checkpoint_state(str(src), str(src / "m"))
    shutil.move(str(src), str(tmp_path / "b"))
    assert ckpt.load_variable(tmp_path / "b", "v").tolist() == [0, 1, 2, 3, 4]


def test_reader_after_close(prefix: str) -> None:
    ckpt.write_tensors(prefix, {"v": np.arange(5)})
    reader = ckpt.CheckpointReader(prefix)
    reader.get_tensor("v")
    reader.close()
    assert reader.keys() == ["v"]
    with pytest.raises(ValueError, match="closed"):
        reader.get_tensor("v")


def test_truncated_string_entry_crafted(
    prefix: str, raw_checkpoint: Callable[..., str], entry_bytes: Callable[..., bytes]
) -> None:
    data = b"\x05" + struct.pack("<I", 0)
    raw_checkpoint(prefix, {b"s": entry_bytes(7, [1], size=len(data), crc32c=0)}, [data])
    with ckpt.CheckpointReader(prefix) as reader, pytest.raises(CheckpointError):
        reader.get_tensor("s")


def test_sliced_piece_with_unexpected_shape(
    prefix: str, raw_checkpoint: Callable[..., str], entry_bytes: Callable[..., bytes]
) -> None:
    s = TensorSlice(((0, 2),))
    t = TensorSlice(((2, 2),))
    data = np.ones(3, np.float32).tobytes() + np.ones(2, np.float32).tobytes()
    raw_checkpoint(
        prefix,
        {
            b"w": entry_bytes(1, [4], slices=[s, t]),
            encode_slice_key(b"w", s): entry_bytes(1, [3], size=12,
                                                   crc32c=mask(crc32c(data[:12]))),
            encode_slice_key(b"w", t): entry_bytes(1, [2], offset=12, size=8,
                                                   crc32c=mask(crc32c(data[12:]))),
        },
        [data],
    )
    with ckpt.CheckpointReader(prefix) as reader, pytest.raises(CorruptCheckpointError):
        reader.get_tensor("w")


def test_opening_a_heavily_partitioned_tensor_is_not_quadratic(
    prefix: str, raw_checkpoint: Callable[..., str], entry_bytes: Callable[..., bytes],
    time_limit: Callable[[float], Any],
) -> None:
    """3000 slices (e.g. a large embedding row-partitioned): opening must stay fast."""
    n = 3000
    value = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    slices = [TensorSlice(((i, 1), (0, 2))) for i in range(n)]
    entries = {b"emb": entry_bytes(1, [n, 2], slices=slices)}
    for i, s in enumerate(slices):
        entries[encode_slice_key(b"emb", s)] = entry_bytes(
            1, [1, 2], offset=8 * i, size=8, crc32c=mask(crc32c(value[i].tobytes()))
        )
    raw_checkpoint(prefix, entries, [value.tobytes()])
    with time_limit(3), ckpt.CheckpointReader(prefix) as reader:
        assert reader.keys() == ["emb"]
        np.testing.assert_array_equal(reader.get_tensor("emb"), value)
        np.testing.assert_array_equal(reader.get_slice("emb", slice(10, 12)), value[10:12])


def test_directory_without_state_file_names_the_checkpoints_it_holds(tmp_path) -> None:
    for n in (1, 2):
        ckpt.write_tensors(str(tmp_path / f"ck-{n}"), {"a": np.ones(1)})
    with pytest.raises(ckpt.errors.CheckpointNotFoundError, match=r"\['ck-1', 'ck-2'\]"):
        ckpt.load_checkpoint(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ckpt.errors.CheckpointNotFoundError) as info:
        ckpt.load_checkpoint(empty)
    assert "holds" not in str(info.value)
