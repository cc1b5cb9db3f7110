"""The tensor bundle: writer output to the byte, reader of crafted bundles (format doc §2-§5).

Mirrors ``bundle_reader.py`` and ``bundle_writer.py``.
"""

from __future__ import annotations

import os
import pathlib
import struct
from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ckpt.errors import (
    ChecksumMismatchError,
    CorruptCheckpointError,
    InvalidTensorError,
    UnsupportedCheckpointError,
)
from ckpt.format import protos
from ckpt.format.bundle_reader import BundleReader, _simple_dims, decode_key, encode_key
from ckpt.format.bundle_writer import BundleWriter
from ckpt.format.crc import crc32c, mask
from ckpt.format.slices import TensorSlice, encode_slice_key
from ckpt.format.table import read_table

H = bytes.fromhex

GOLDEN_INDEX = (
    H(
        "000006" "08011a020801"
        "00011173" "08071204120208022008280935d530d85f"
        "00010f78" "0801120412020802280835593ce535"
        "0000000001000000"
        "00c926a028"
        "0000000001000000" "00c0f2a1b0"
        "0001027900390000000001000000" "00704c70b5"
        "3e084b0e"
    )
    + bytes(36)
    + H("57fb808b247547db")
)
GOLDEN_DATA = H("0000803f00000040" "020103717c67616263")


def data_path(prefix: str, shard: int = 0, num_shards: int = 1) -> str:
    return f"{prefix}.data-{shard:05d}-of-{num_shards:05d}"


def index_entries(prefix: str) -> dict[bytes, bytes]:
    with open(prefix + ".index", "rb") as f:
        return dict(read_table(f.read(), prefix + ".index"))


def write(prefix: str, tensors: list[tuple[str, Any]], **kwargs: Any) -> str:
    writer = BundleWriter(prefix, **kwargs)
    for name, value in tensors:
        writer.add(name, value)
    return writer.finish()


# --- §2.8 golden checkpoint ------------------------------------------------------------------


def test_writer_reproduces_golden_checkpoint(prefix: str) -> None:
    write(prefix, [("x", np.array([1, 2], np.float32)), ("s", np.array([b"ab", b"c"]))])
    assert pathlib.Path(prefix + ".index").read_bytes() == GOLDEN_INDEX
    assert pathlib.Path(data_path(prefix)).read_bytes() == GOLDEN_DATA
    assert sorted(os.listdir(os.path.dirname(prefix))) == [
        "ckpt-1.data-00000-of-00001", "ckpt-1.index",
    ]


def test_reader_reads_golden_checkpoint(prefix: str) -> None:
    pathlib.Path(prefix + ".index").write_bytes(GOLDEN_INDEX)
    pathlib.Path(data_path(prefix)).write_bytes(GOLDEN_DATA)
    reader = BundleReader(prefix)
    assert reader.keys() == ["s", "x"]
    assert reader.num_shards == 1
    assert not reader.big_endian
    x = reader.read("x")
    assert x.dtype == np.float32
    assert x.tolist() == [1.0, 2.0]
    s = reader.read("s")
    assert s.dtype == object
    assert s.tolist() == [b"ab", b"c"]
    entry = reader.entry("s")
    assert (entry.offset, entry.size, entry.crc32c, entry.shape) == (8, 9, 0x5FD830D5, (2,))
    reader.close()


# --- entries to the byte (§3.2, §4.3) --------------------------------------------------------


def test_int32_scalar_entry(prefix: str) -> None:
    write(prefix, [("v", np.int32(3))])
    assert index_entries(prefix)[b"v"] == H("08031200280435633f7f28")


def test_float32_matrix_entry_at_offset_12(prefix: str) -> None:
    b = np.arange(6, dtype=np.float32).reshape(2, 3)
    write(prefix, [("a", np.zeros(3, np.int32)), ("b", b)])
    assert index_entries(prefix)[b"b"] == H("080112081202080212020803200c281835c0db3d17")


def test_empty_float32_entry(prefix: str) -> None:
    write(prefix, [("a", np.zeros(283, np.uint8)), ("e", np.zeros((0, 3), np.float32))])
    assert index_entries(prefix)[b"e"] == H("08011206120012020803209b0235d8ea82a2")
    assert os.path.getsize(data_path(prefix)) == 283


def test_empty_string_tensor_entry(prefix: str) -> None:
    write(prefix, [("s", np.array([], dtype=object))])
    entry = protos.BundleEntryProto.FromString(index_entries(prefix)[b"s"])
    assert (entry.dtype, entry.size, entry.crc32c) == (7, 4, 0x640CC1F6)
    assert pathlib.Path(data_path(prefix)).read_bytes() == H("d8ea82a2")
    assert BundleReader(prefix).read("s").shape == (0,)


def test_single_empty_string_entry(prefix: str) -> None:
    write(prefix, [("s", np.array([b""]))])
    entry = protos.BundleEntryProto.FromString(index_entries(prefix)[b"s"])
    assert entry.size == 5
    data = pathlib.Path(data_path(prefix)).read_bytes()
    assert data == b"\x00" + struct.pack("<I", mask(crc32c(bytes(4))))
    assert BundleReader(prefix).read("s").tolist() == [b""]


def test_defaults_are_left_out_and_shape_always_set(prefix: str) -> None:
    write(prefix, [("z", np.zeros((), np.float64))])
    raw = index_entries(prefix)[b"z"]
    # dtype 2, empty shape, size 8 (field 5), crc; no shard_id (3) and no offset (4).
    assert raw[:6] == H("080212002808")
    assert raw[6] == 0x35
    assert len(raw) == 11


def test_header_num_shards(prefix: str) -> None:
    write(prefix, [("a", np.ones(2))], num_shards=2)
    assert index_entries(prefix)[b""] == H("08021a020801")


# --- data layout (§4.1, §4.2) ----------------------------------------------------------------


def test_data_is_in_argument_order_without_padding(prefix: str) -> None:
    write(prefix, [("z", np.array([1], np.int8)), ("a", np.array([2, 3], np.int16)),
                   ("m", np.array([4.0], np.float64))])
    assert pathlib.Path(data_path(prefix)).read_bytes() == (
        b"\x01" + struct.pack("<hh", 2, 3) + struct.pack("<d", 4.0)
    )
    entries = {k: protos.BundleEntryProto.FromString(v) for k, v in index_entries(prefix).items()}
    assert [entries[k].offset for k in (b"z", b"a", b"m")] == [0, 1, 5]


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (np.array([1.0], np.float16), "003c"),
        (np.array([1.0], ml_dtypes.bfloat16), "803f"),
        (np.array([True, False, True]), "010001"),
        (np.array([1 + 2j], np.complex64), "0000803f00000040"),
        (np.array([1 - 1j], np.complex128), "000000000000f03f000000000000f0bf"),
        (np.array([-2], np.int64), "feffffffffffffff"),
        (np.array([1.0], np.float32).astype(">f4"), "0000803f"),
        (np.array([258], ">u4"), "02010000"),
        (np.array([[1, 2], [3, 4]], np.uint8).T, "01030204"),  # C order of the transposed view
    ],
)
def test_element_encodings(prefix: str, value: np.ndarray, encoded: str) -> None:
    write(prefix, [("v", value)])
    assert pathlib.Path(data_path(prefix)).read_bytes() == H(encoded)
    entry = protos.BundleEntryProto.FromString(index_entries(prefix)[b"v"])
    assert entry.crc32c == mask(crc32c(H(encoded)))
    back = BundleReader(prefix).read("v")
    assert back.dtype == value.dtype.newbyteorder("=")
    np.testing.assert_array_equal(back, value)


# --- sliced tensors (§5.1) -------------------------------------------------------------------


def test_sliced_tensor_matches_tf_layout(prefix: str) -> None:
    full = np.arange(30, dtype=np.float32).reshape(10, 3)
    writer = BundleWriter(prefix)
    writer.add("global_step", np.int64(7))
    writer.add_slice("scope/w", full[0:4], full_shape=[10, 3], offset=[0, 0])
    writer.add_slice("scope/w", full[4:7], full_shape=[10, 3], offset=[4, 0])
    writer.add_slice("scope/w", full[7:10], full_shape=[10, 3], offset=[7, 0])
    writer.finish()
    entries = index_entries(prefix)
    keys = list(entries)
    slice_keys = [
        b"\x00scope/w\x00\x01\x01\x02\x80\x84\x80\x83",
        b"\x00scope/w\x00\x01\x01\x02\x84\x83\x80\x83",
        b"\x00scope/w\x00\x01\x01\x02\x87\x83\x80\x83",
    ]
    # Header, then slice keys (they start with 00), then names in byte order.
    assert keys == [b"", *slice_keys, b"global_step", b"scope/w"]
    for key, (offset, size, rows) in zip(
        slice_keys, [(8, 48, (0, 4)), (56, 36, (4, 7)), (92, 36, (7, 10))], strict=True
    ):
        e = protos.BundleEntryProto.FromString(entries[key])
        assert (e.dtype, e.offset, e.size, e.shard_id) == (1, offset, size, 0)
        assert [d.size for d in e.shape.dim] == [rows[1] - rows[0], 3]
        assert e.crc32c == mask(crc32c(full[rows[0] : rows[1]].tobytes()))
    # The full entry: dtype, shape and slices with explicit extents; nothing else on the wire.
    slices = b"".join(
        b"\x3a" + bytes((len(s),)) + s
        for s in (H("0a0210040a021003"), H("0a04080410030a021003"), H("0a04080710030a021003"))
    )
    assert entries[b"scope/w"] == H("0801" "1208" "1202080a" "12020803") + slices
    reader = BundleReader(prefix)
    assert reader.keys() == ["global_step", "scope/w"]
    assert [decode_key(k) for k in slice_keys] == [k for k in reader.raw_keys() if k[0] == "\x00"]
    np.testing.assert_array_equal(reader.read("scope/w"), full)


def test_full_slice_is_stored_as_plain_entry(prefix: str) -> None:
    writer = BundleWriter(prefix)
    writer.add_slice("w", np.ones((2, 3), np.float32), full_shape=[2, 3], offset=[0, 0])
    writer.finish()
    entries = index_entries(prefix)
    assert list(entries) == [b"", b"w"]
    assert not protos.BundleEntryProto.FromString(entries[b"w"]).slices


def test_slices_listed_in_the_order_added(prefix: str) -> None:
    writer = BundleWriter(prefix)
    writer.add_slice("w", np.ones(2, np.int32), full_shape=[6], offset=[4])
    writer.add_slice("w", np.ones(4, np.int32), full_shape=[6], offset=[0])
    writer.finish()
    entry = protos.BundleEntryProto.FromString(index_entries(prefix)[b"w"])
    assert [TensorSlice.from_proto(s) for s in entry.slices] == [
        TensorSlice(((4, 2),)), TensorSlice(((0, 4),)),
    ]
    # Data in the order added.
    assert protos.BundleEntryProto.FromString(
        index_entries(prefix)[encode_slice_key(b"w", TensorSlice(((0, 4),)))]
    ).offset == 8


# --- the reader on crafted bundles -----------------------------------------------------------


def test_big_endian_bundle(
    prefix: str, raw_checkpoint: Callable[..., str], entry_bytes: Callable[..., bytes],
    header_bytes: Callable[..., bytes],
) -> None:
    f = np.array([1.5, -2.0], ">f4").tobytes()
    c = np.array([1 + 2j], ">c8").tobytes()
    i = np.array([1, 2, 3], ">i2").tobytes()
    elements = [b"ab", b"c"]
    c1 = crc32c(struct.pack(">II", 2, 1))
    stored = struct.pack(">I", mask(c1))
    s = b"\x02\x01" + stored + b"abc"
    s_crc = mask(crc32c(stored + b"abc", c1))
    data = f + c + i + s
    raw_checkpoint(
        prefix,
        {
            b"f": entry_bytes(1, [2], offset=0, size=8, crc32c=mask(crc32c(f))),
            b"c": entry_bytes(8, [1], offset=8, size=8, crc32c=mask(crc32c(c))),
            b"i": entry_bytes(5, [3], offset=16, size=6, crc32c=mask(crc32c(i))),
            b"s": entry_bytes(7, [2], offset=22, size=len(s), crc32c=s_crc),
        },
        [data],
        header=header_bytes(1, endianness=1),
    )
    reader = BundleReader(prefix)
    assert reader.big_endian
    assert reader.read("f").tolist() == [1.5, -2.0]
    assert reader.read("c").tolist() == [1 + 2j]
    assert reader.read("i").tolist() == [1, 2, 3]
    assert reader.read("s").tolist() == elements
    assert reader.read_region("i", ((1, 3),)).tolist() == [2, 3]
    out = np.zeros(2, np.float32)
    reader.read("f", out=out)
    assert out.tolist() == [1.5, -2.0]
    with pytest.raises(InvalidTensorError):
        reader.view("f")


def test_unknown_entry_fields_are_skipped(
    prefix: str, raw_checkpoint: Callable[..., str], entry_bytes: Callable[..., bytes]
) -> None:
    data = np.array([1, 2], np.int32).tobytes()
    entry = entry_bytes(3, [2], size=8, crc32c=mask(crc32c(data))) + H("7801")
    raw_checkpoint(prefix, {b"v": entry}, [data])
    assert BundleReader(prefix).read("v").tolist() == [1, 2]


@pytest.mark.parametrize(
    ("producer", "min_consumer", "bad", "ok"),
    [
        (1, 0, (), True),
        (0, 0, (), True),
        (7, 1, (), True),
        (1, 0, (2, 3), True),
        (-1, 0, (), False),
        (1, 2, (), False),
        (1, 0, (1,), False),
    ],
)
def test_version_check(
    prefix: str, raw_checkpoint: Callable[..., str], header_bytes: Callable[..., bytes],
    producer: int, min_consumer: int, bad: tuple[int, ...], ok: bool,
) -> None:
    header = header_bytes(1, producer=producer, min_consumer=min_consumer, bad_consumers=bad)
    raw_checkpoint(prefix, {}, [b""], header=header)
    if ok:
        assert BundleReader(prefix).keys() == []
    else:
        with pytest.raises(UnsupportedCheckpointError):
            BundleReader(prefix)


def test_zero_size_string_entry_is_accepted(
    prefix: str, raw_checkpoint: Callable[..., str], entry_bytes: Callable[..., bytes]
) -> None:
    # §4.3: TF's reader returns early on size == 0 for strings; the entry crc is then Mask(0).
    raw_checkpoint(prefix, {b"s": entry_bytes(7, [0], size=0, crc32c=mask(0))}, [b""])
    assert BundleReader(prefix).read("s").shape == (0,)


@pytest.mark.parametrize("dtype", [20, 21, 101, 99, 0])
def test_unreadable_dtypes_are_listed_but_not_read(
    prefix: str, raw_checkpoint: Callable[..., str], entry_bytes: Callable[..., bytes],
    dtype: int,
) -> None:
    raw_checkpoint(prefix, {b"r": entry_bytes(dtype, [], size=4)}, [b"\x00" * 4])
    reader = BundleReader(prefix)
    assert reader.keys() == ["r"]
    with pytest.raises(UnsupportedCheckpointError):
        reader.read("r")
    with pytest.raises(UnsupportedCheckpointError):
        reader.view("r")


def test_orphan_slice_entries_stay_visible(
    prefix: str, raw_checkpoint: Callable[..., str], entry_bytes: Callable[..., bytes]
) -> None:
    data = np.ones(2, np.float32).tobytes()
    key = encode_slice_key(b"w", TensorSlice(((0, 2),)))
    raw_checkpoint(prefix, {key: entry_bytes(1, [2], size=8, crc32c=mask(crc32c(data)))}, [data])
    reader = BundleReader(prefix)
    assert reader.keys() == [decode_key(key)]
    assert reader.read(decode_key(key)).tolist() == [1.0, 1.0]


def test_non_utf8_keys_roundtrip_through_surrogates(
    prefix: str, raw_checkpoint: Callable[..., str], entry_bytes: Callable[..., bytes]
) -> None:
    data = b"\x07"
    raw_checkpoint(prefix, {b"\xff\xfe": entry_bytes(4, [], size=1, crc32c=mask(crc32c(data)))},
                   [data])
    reader = BundleReader(prefix)
    (name,) = reader.keys()
    assert encode_key(name) == b"\xff\xfe"
    assert reader.read(name).tolist() == 7


def test_checksum_verified_and_optional(prefix: str) -> None:
    write(prefix, [("v", np.arange(4, dtype=np.int32))])
    raw = bytearray(pathlib.Path(data_path(prefix)).read_bytes())
    raw[0] ^= 0xFF
    pathlib.Path(data_path(prefix)).write_bytes(bytes(raw))
    with pytest.raises(ChecksumMismatchError):
        BundleReader(prefix).read("v")
    with pytest.raises(ChecksumMismatchError):
        BundleReader(prefix).verify_tensor("v")
    assert BundleReader(prefix, verify=False).read("v")[0] == 0 ^ 0xFF
    assert BundleReader(prefix).read("v", verify=False)[1] == 1


def test_missing_index(tmp_path: pathlib.Path) -> None:
    from ckpt.errors import CheckpointNotFoundError

    with pytest.raises(CheckpointNotFoundError):
        BundleReader(str(tmp_path / "nothing"))
    (tmp_path / "dir.index").mkdir()
    with pytest.raises(CheckpointNotFoundError):
        BundleReader(str(tmp_path / "dir"))


def test_header_must_be_first(
    prefix: str, raw_checkpoint: Callable[..., str], entry_bytes: Callable[..., bytes]
) -> None:
    raw_checkpoint(prefix, {b"a": entry_bytes(1, [0])}, [b""], with_header=False)
    with pytest.raises(CorruptCheckpointError):
        BundleReader(prefix)


# --- the writer's own checks -----------------------------------------------------------------


def test_writer_temp_files_use_tempstate_and_vanish(prefix: str) -> None:
    writer = BundleWriter(prefix, num_shards=2)
    writer.add("a", np.ones(3))
    names = os.listdir(os.path.dirname(prefix))
    assert len(names) == 2
    assert all(".tempstate" in n for n in names)
    writer.finish()
    assert sorted(os.listdir(os.path.dirname(prefix))) == [
        "ckpt-1.data-00000-of-00002", "ckpt-1.data-00001-of-00002", "ckpt-1.index",
    ]


def test_writer_emptiest_shard_placement(prefix: str) -> None:
    writer = BundleWriter(prefix, num_shards=3)
    for name, n in [("a", 10), ("b", 4), ("c", 6), ("d", 1), ("e", 2)]:
        writer.add(name, np.zeros(n, np.uint8))
    writer.finish()
    shards = {
        k.decode(): protos.BundleEntryProto.FromString(v).shard_id
        for k, v in index_entries(prefix).items() if k
    }
    # a->0 (all empty), b->1, c->2, d->1 (4 bytes), e->1 (5 bytes < 6, 10).
    assert shards == {"a": 0, "b": 1, "c": 2, "d": 1, "e": 1}
    assert [os.path.getsize(data_path(prefix, i, 3)) for i in range(3)] == [10, 7, 6]


def test_slice_of_dtype_mismatch_rejected(prefix: str) -> None:
    writer = BundleWriter(prefix)
    writer.add_slice("w", np.ones(2, np.float32), full_shape=[4], offset=[0])
    with pytest.raises(InvalidTensorError):
        writer.add_slice("w", np.ones(2, np.float64), full_shape=[4], offset=[2])
    with pytest.raises(InvalidTensorError):
        writer.add_slice("w", np.ones(2, np.float32), full_shape=[5], offset=[2])
    writer.abort()


# --- the listing shortcut for shapes agrees with protobuf ------------------------------------

_dims = st.lists(
    st.one_of(st.integers(0, 300), st.integers(0, 2**63 - 1)), min_size=0, max_size=8
)


@settings(max_examples=200, deadline=None)
@given(dims=_dims)
def test_simple_dims_agree_with_protobuf(dims: list[int]) -> None:
    shape = protos.TensorShapeProto()
    for d in dims:
        shape.dim.add(size=d)
    raw = shape.SerializeToString()
    assert _simple_dims(raw) == tuple(d.size for d in protos.TensorShapeProto.FromString(raw).dim)


@pytest.mark.parametrize(
    "build",
    [
        lambda s: s.dim.add(size=3, name="rows"),  # a dim name: not the simple layout
        lambda s: setattr(s, "unknown_rank", True),
        lambda s: s.dim.add(size=-1),  # negative sizes are 10-byte varints: still decoded
    ],
)
def test_simple_dims_fall_back_or_match(build: Callable[[Any], Any]) -> None:
    shape = protos.TensorShapeProto()
    build(shape)
    raw = shape.SerializeToString()
    found = _simple_dims(raw)
    if found is not None:
        # Whatever the shortcut decodes must be what protobuf decodes (as unsigned 64-bit).
        assert found == tuple(d.size % 2**64 for d in shape.dim)


def test_listing_an_unusual_shape_layout_uses_protobuf(prefix: str) -> None:
    # dtype omitted (0) puts the shape first: no shortcut, same answer.
    entry = protos.BundleEntryProto(dtype=1, size=24)
    entry.shape.dim.add(size=2)
    entry.shape.dim.add(size=3, name="cols")
    BundleWriter(prefix).finish()
    reader = BundleReader(prefix)
    reader._raw["odd"] = entry.SerializeToString()
    assert reader.shape("odd") == (2, 3)
    assert reader.entry("odd").shape == (2, 3)


def test_negative_dim_is_corrupt_through_both_paths(prefix: str) -> None:
    entry = protos.BundleEntryProto(dtype=1)
    entry.shape.dim.add(size=-1)
    BundleWriter(prefix).finish()
    reader = BundleReader(prefix)
    reader._raw["neg"] = entry.SerializeToString()
    with pytest.raises(CorruptCheckpointError):
        reader.shape("neg")
    with pytest.raises(CorruptCheckpointError):
        reader.entry("neg")


@pytest.mark.parametrize(
    "raw",
    [
        b"\x12\x01\x08",  # size tag with no varint
        b"\x12\x03\x08\x80\x80",  # varint never ends
        b"\x12\x05\x08\x03\x12\x01a",  # a dim name after the size
        b"\x12",  # truncated dim header
        b"\x12\x04\x08\x01",  # dim longer than the shape
        b"\x18\x01",  # unknown_rank
    ],
)
def test_simple_dims_refuse_what_they_do_not_understand(raw: bytes) -> None:
    assert _simple_dims(raw) is None


@pytest.mark.parametrize("threads", ["1", "2"])
@pytest.mark.parametrize("flip_at", [0, 5 << 20, (12 << 20) - 1])
def test_large_tensor_checked_on_several_threads_leaves_out_untouched(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, threads: str, flip_at: int
) -> None:
    # 12 MiB: above the size at which checksum and copy are split across threads.
    monkeypatch.setenv("CKPT_IO_THREADS", threads)
    value = np.random.default_rng(7).standard_normal(3 << 20).astype(np.float32)
    prefix = str(tmp_path / "big")
    with BundleWriter(prefix) as w:
        w.add("w", value)
    out = np.zeros_like(value)
    reader = BundleReader(prefix)
    assert np.array_equal(reader.read("w", out=out), value)
    reader.close()

    data = tmp_path / "big.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[flip_at] ^= 0x10
    data.write_bytes(bytes(raw))
    out = np.zeros_like(value)
    reader = BundleReader(prefix)
    with pytest.raises(ChecksumMismatchError, match="'w'"):
        reader.read("w", out=out)
    assert not out.any()
    with pytest.raises(ChecksumMismatchError):
        reader.view("w", verify=True)
    assert np.count_nonzero(reader.read("w", verify=False) != value) == 1
    reader.close()


@pytest.mark.parametrize("elements", [4, 3 << 20])  # one small, one checked on several threads
def test_every_read_checks_again(prefix: str, elements: int) -> None:
    # A reader that verified a tensor once must not trust it later: the bytes are read from
    # the file again, and the file may have changed in place since.
    write(prefix, [("v", np.zeros(elements, np.float32))])
    reader = BundleReader(prefix)
    assert not reader.read("v").any()
    assert not reader.view("v", verify=True).any()
    with open(data_path(prefix), "r+b") as f:
        f.seek(8)
        f.write(b"\x01")
    with pytest.raises(ChecksumMismatchError):
        reader.read("v")
    with pytest.raises(ChecksumMismatchError):
        reader.verify_tensor("v")
    with pytest.raises(ChecksumMismatchError):
        reader.view("v", verify=True)
    reader.close()



@pytest.mark.parametrize("elements", [300_000, 3 << 20])  # the fast path and the parallel one
def test_data_file_truncated_while_open_raises_instead_of_crashing(
    prefix: str, elements: int
) -> None:
    # Reading mapped pages past the end of a file shrunk in place would be SIGBUS: large reads
    # ask for the file's size again first.
    write(prefix, [("small", np.ones(4, np.float32)), ("v", np.ones(elements, np.float32))])
    reader = BundleReader(prefix)
    reader.read("small")
    os.truncate(data_path(prefix), 100)
    with pytest.raises(CorruptCheckpointError, match="truncated"):
        reader.read("v")
    with pytest.raises(CorruptCheckpointError, match="truncated"):
        reader.view("v", verify=True)
    reader.close()


def test_an_interrupt_while_the_checksum_finishes_aborts_the_writer(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bytes are in the file but not yet their entry: going on would shift every later
    # offset. The writer aborts instead, leaving nothing behind.
    from ckpt.format import bundle_writer

    def interrupted(data: Any, crc: int = 0) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(bundle_writer, "crc32c_nogil", interrupted)
    writer = BundleWriter(str(tmp_path / "w"))
    with pytest.raises(KeyboardInterrupt):
        writer.add("big", np.zeros(1 << 20, np.float32))
    with pytest.raises(InvalidTensorError, match="finished or aborted"):
        writer.add("next", np.zeros(4, np.float32))
    assert list(tmp_path.iterdir()) == []
