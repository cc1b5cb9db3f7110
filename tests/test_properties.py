"""Property tests (hypothesis): round trips over dtypes, shapes, keys, shards and slicings.

Example counts are kept small so the whole module runs in a few seconds.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ckpt
from ckpt.errors import CheckpointError, CorruptCheckpointError
from ckpt.format import strings
from ckpt.format.coding import decode_varint, encode_varint
from ckpt.format.crc import crc32c, mask, unmask
from ckpt.format.slices import FULL, TensorSlice, decode_slice_key, encode_slice_key
from ckpt.format.table import build_table, read_table

FAST = settings(
    max_examples=100, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
QUICK = settings(max_examples=200, deadline=None, database=None)

INT64 = st.integers(-(2**63), 2**63 - 1)


def same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype == object:
        return a.reshape(-1).tolist() == b.reshape(-1).tolist()
    a_bytes = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
    return bool(np.array_equal(a_bytes, np.ascontiguousarray(b).reshape(-1).view(np.uint8)))


# --- arrays of every dtype -------------------------------------------------------------------

STANDARD = [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
            np.uint8, np.uint16, np.uint32, np.uint64, np.bool_, np.complex64, np.complex128]
# ml_dtypes: (dtype, number of meaningful bits); values are built from raw bit patterns.
ML = [(ml_dtypes.bfloat16, 16), (ml_dtypes.float8_e5m2, 8), (ml_dtypes.float8_e4m3fn, 8),
      (ml_dtypes.float8_e4m3fnuz, 8), (ml_dtypes.float8_e4m3b11fnuz, 8),
      (ml_dtypes.float8_e5m2fnuz, 8), (ml_dtypes.float4_e2m1fn, 4)]
ML_INT = [(ml_dtypes.int4, -8, 7), (ml_dtypes.uint4, 0, 15), (ml_dtypes.int2, -2, 1),
          (ml_dtypes.uint2, 0, 3)]

shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)


@st.composite
def any_array(draw: st.DrawFn) -> np.ndarray:
    kind = draw(st.sampled_from(["standard", "ml", "ml_int", "bytes", "str"]))
    shape = draw(shapes)
    if kind == "standard":
        dtype = np.dtype(draw(st.sampled_from(STANDARD)))
        return draw(hnp.arrays(dtype, shape))
    if kind == "ml":
        dtype, bits = draw(st.sampled_from(ML))
        raw_dtype = np.uint16 if bits == 16 else np.uint8
        raw = draw(hnp.arrays(raw_dtype, shape, elements=st.integers(0, 2**bits - 1)))
        return raw.view(dtype)
    if kind == "ml_int":
        dtype, low, high = draw(st.sampled_from(ML_INT))
        return draw(hnp.arrays(np.int8, shape, elements=st.integers(low, high))).astype(dtype)
    if kind == "bytes":
        items = draw(st.lists(st.binary(max_size=20), min_size=int(np.prod(shape)),
                              max_size=int(np.prod(shape))))
        array = np.empty(len(items), dtype=object)
        array[:] = items
        return array.reshape(shape)
    items = draw(st.lists(st.text(max_size=10), min_size=int(np.prod(shape)),
                          max_size=int(np.prod(shape))))
    return np.array(items, dtype=object).reshape(shape) if items else np.empty(shape, object)


def expected_back(value: np.ndarray) -> np.ndarray:
    """What the reader returns: str elements come back as their UTF-8 bytes."""
    if value.dtype != object:
        return value
    out = np.empty(value.shape, dtype=object)
    for index in itertools.product(*[range(d) for d in value.shape]):
        item = value[index]
        out[index] = item.encode("utf-8") if isinstance(item, str) else item
    return out


keys = st.text(min_size=1, max_size=40).filter(
    lambda k: not k.startswith("\x00")
) | st.sampled_from(
    ["a/b/c", "x.y", "we.Sird..name/.ATTRIBUTES/VARIABLE_VALUE", "k" * 2000, "日本/語", "/", "."]
)


@FAST
@given(
    tensors=st.dictionaries(keys, any_array(), min_size=0, max_size=5),
    num_shards=st.integers(1, 4),
)
def test_roundtrip_any_tensors(tensors: dict[str, np.ndarray], num_shards: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        prefix = os.path.join(directory, "m")
        ckpt.write_tensors(prefix, tensors, num_shards=num_shards)
        files = sorted(os.listdir(directory))
        assert files == sorted(
            [f"m.data-{i:05d}-of-{num_shards:05d}" for i in range(num_shards)] + ["m.index"]
        )
        with ckpt.CheckpointReader(prefix) as reader:
            assert reader.keys() == sorted(tensors, key=lambda k: k.encode())
            assert ckpt.list_variables(prefix) == sorted(
                (k, list(v.shape)) for k, v in tensors.items()
            )
            for name, value in tensors.items():
                back = reader.get_tensor(name)
                assert same(back, expected_back(value)), name
            reader.verify()


# --- random slicings -------------------------------------------------------------------------


@st.composite
def sliced_tensor(draw: st.DrawFn) -> tuple[np.ndarray, list[tuple[tuple[int, int], ...]]]:
    rank = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=rank, max_size=rank)))
    dtype = draw(st.sampled_from([np.float32, np.int64, np.uint8, np.bool_, np.complex64,
                                  ml_dtypes.bfloat16, object]))
    n = int(np.prod(shape))
    if dtype is object:
        value = np.array([str(i).encode() * (i % 3) for i in range(n)], dtype=object)
    else:
        value = np.arange(n).astype(dtype)
    value = value.reshape(shape)
    cuts = []
    for dim in shape:
        inner = draw(st.sets(st.integers(1, dim - 1), max_size=3)) if dim > 1 else set()
        cuts.append([0, *sorted(inner), dim])
    pieces = [
        tuple(ranges)
        for ranges in itertools.product(*[list(itertools.pairwise(c)) for c in cuts])
    ]
    pieces = draw(st.permutations(pieces))
    return value, pieces


@st.composite
def region(draw: st.DrawFn, shape: tuple[int, ...]) -> tuple[slice | int, ...]:
    index: list[slice | int] = []
    for dim in shape:
        if draw(st.booleans()):
            index.append(draw(st.integers(-dim, dim - 1)))
        else:
            a = draw(st.integers(0, dim))
            b = draw(st.integers(0, dim))
            index.append(slice(min(a, b), max(a, b)))
    return tuple(index)


@FAST
@given(case=sliced_tensor(), num_shards=st.integers(1, 4), data=st.data())
def test_roundtrip_random_slicings(
    case: tuple[np.ndarray, list[tuple[tuple[int, int], ...]]], num_shards: int, data: Any
) -> None:
    value, pieces = case
    with tempfile.TemporaryDirectory() as directory:
        prefix = os.path.join(directory, "m")
        with ckpt.CheckpointWriter(prefix, num_shards=num_shards) as writer:
            writer.add("other", np.arange(3))
            for bounds in pieces:
                index = tuple(slice(a, b) for a, b in bounds)
                shard = data.draw(st.none() | st.integers(0, num_shards - 1))
                writer.add_slice("w", value[index], full_shape=value.shape,
                                 offset=[a for a, _ in bounds], shard=shard)
        with ckpt.CheckpointReader(prefix) as reader:
            assert reader.keys() == ["other", "w"]
            assert reader.get_variable_to_shape_map()["w"] == list(value.shape)
            assert same(reader.get_tensor("w"), value)
            out = np.empty(value.shape, value.dtype)
            reader.get_tensor("w", out=out)
            assert same(out, value)
            for _ in range(3):
                index = data.draw(region(value.shape))
                expected = np.asarray(value[index], dtype=value.dtype)
                assert same(np.asarray(reader.get_slice("w", index)), expected), index
            reader.verify()


@FAST
@given(case=sliced_tensor(), data=st.data())
def test_missing_piece_is_detected(
    case: tuple[np.ndarray, list[tuple[tuple[int, int], ...]]], data: Any
) -> None:
    value, pieces = case
    assume(len(pieces) > 1)
    dropped = data.draw(st.integers(0, len(pieces) - 1))
    with tempfile.TemporaryDirectory() as directory:
        prefix = os.path.join(directory, "m")
        with ckpt.CheckpointWriter(prefix) as writer:
            for i, bounds in enumerate(pieces):
                if i != dropped:
                    index = tuple(slice(a, b) for a, b in bounds)
                    writer.add_slice("w", value[index], full_shape=value.shape,
                                     offset=[a for a, _ in bounds])
        with ckpt.CheckpointReader(prefix) as reader:
            with pytest.raises(CorruptCheckpointError):
                reader.get_tensor("w")
            hole = tuple(slice(a, b) for a, b in pieces[dropped])
            with pytest.raises(CorruptCheckpointError):
                reader.get_slice("w", hole)
            for i, bounds in enumerate(pieces):
                if i != dropped:
                    index = tuple(slice(a, b) for a, b in bounds)
                    assert same(reader.get_slice("w", index), value[index])


# --- format-level round trips ----------------------------------------------------------------


extents = st.one_of(
    st.tuples(st.just(0), st.just(FULL)),
    st.tuples(INT64, INT64),
    st.tuples(st.integers(0, 2**62), st.integers(0, 2**62)),
)


@QUICK
@given(name=st.binary(max_size=30), ext=st.lists(extents, max_size=6))
def test_slice_key_roundtrip(name: bytes, ext: list[tuple[int, int]]) -> None:
    tensor_slice = TensorSlice(tuple(ext))
    key = encode_slice_key(name, tensor_slice)
    assert key[:1] == b"\x00"
    assert decode_slice_key(key) == (name, tensor_slice)


@QUICK
@given(a=INT64, b=INT64)
def test_signed_encoding_preserves_order(a: int, b: int) -> None:
    ka = encode_slice_key(b"n", TensorSlice(((a, 0),)))
    kb = encode_slice_key(b"n", TensorSlice(((b, 0),)))
    assert (ka < kb) == (a < b)
    assert (ka == kb) == (a == b)


@QUICK
@given(a=st.binary(max_size=8), b=st.binary(max_size=8))
def test_name_encoding_preserves_order(a: bytes, b: bytes) -> None:
    s = TensorSlice(((0, 1),))
    assert (encode_slice_key(a, s) < encode_slice_key(b, s)) == (a < b)


@QUICK
@given(raw=st.binary(max_size=40))
def test_decode_slice_key_only_raises_value_error(raw: bytes) -> None:
    try:
        name, tensor_slice = decode_slice_key(b"\x00" + raw)
    except ValueError:
        return
    assert encode_slice_key(name, tensor_slice) == b"\x00" + raw


@FAST
@given(
    entries=st.dictionaries(st.binary(max_size=30), st.binary(max_size=300), max_size=80),
    block_size=st.sampled_from([1, 16, 64, 256, 4096, 262144]),
)
def test_table_roundtrip(entries: dict[bytes, bytes], block_size: int) -> None:
    items = sorted(entries.items())
    buf = build_table(items, block_size=block_size)
    assert read_table(buf, "t") == items
    if block_size == 262144:
        assert build_table(items) == buf


@QUICK
@given(items=st.lists(st.binary(max_size=5), min_size=2, max_size=6))
def test_table_rejects_unsorted(items: list[bytes]) -> None:
    assume(items != sorted(set(items)))
    with pytest.raises(ValueError):
        build_table([(k, b"") for k in items])


@QUICK
@given(buf=st.binary(max_size=200))
def test_read_table_on_garbage_only_raises_checkpoint_errors(buf: bytes) -> None:
    with contextlib.suppress(CheckpointError):
        read_table(buf + bytes.fromhex("57fb808b247547db"), "t")


@QUICK
@given(value=st.integers(0, 2**64 - 1))
def test_varint_roundtrip(value: int) -> None:
    raw = encode_varint(value)
    assert decode_varint(raw + b"\xff", 0, len(raw) + 1) == (value, len(raw))


@QUICK
@given(value=st.integers(0, 2**32 - 1))
def test_mask_unmask(value: int) -> None:
    assert unmask(mask(value)) == value


@QUICK
@given(data=st.binary(max_size=100), cut=st.integers(0, 100))
def test_crc_extend(data: bytes, cut: int) -> None:
    assert crc32c(data[cut:], crc32c(data[:cut])) == crc32c(data)


@QUICK
@given(elements=st.lists(st.binary(max_size=300), max_size=20))
def test_strings_roundtrip(elements: list[bytes]) -> None:
    data, entry_crc = strings.encode(elements)
    assert strings.decode(data, len(elements)) == (elements, entry_crc)


@QUICK
@given(elements=st.lists(st.binary(max_size=20), max_size=5), junk=st.binary(max_size=30),
       count=st.integers(0, 10))
def test_strings_decode_garbage_raises_value_error_only(
    elements: list[bytes], junk: bytes, count: int
) -> None:
    data = strings.encode(elements)[0]
    with contextlib.suppress(strings.StringDecodeError):
        strings.decode(data[: len(junk) % (len(data) + 1)] + junk, count)


@QUICK
@given(text=st.text(max_size=200))
def test_state_file_garbage_is_none_state_or_corrupt(text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        with open(os.path.join(directory, "checkpoint"), "w", encoding="utf-8") as f:
            f.write(text)
        try:
            state = ckpt.get_checkpoint_state(directory)
        except CorruptCheckpointError:
            return
        assert state is not None
        assert state.model_checkpoint_path
