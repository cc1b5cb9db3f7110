"""Tensor slices: protos, OrderedCode slice keys and spec strings (format doc §3.6, §5)."""

from __future__ import annotations

import pytest

from ckpt.format import protos
from ckpt.format.slices import (
    FULL,
    TensorSlice,
    decode_slice_key,
    encode_slice_key,
    format_spec,
    parse_spec,
)

H = bytes.fromhex

# SignedNumIncreasing examples of §5.3.
SIGNED = [
    (0, "80"),
    (3, "83"),
    (-1, "7f"),
    (-64, "40"),
    (63, "bf"),
    (64, "c040"),
    (-65, "3fbf"),
    (300, "c12c"),
    (8191, "dfff"),
    (8192, "e02000"),
    (70000, "e11170"),
    (2**62, "ffc04000000000000000"),
    (2**63 - 1, "ffc07fffffffffffffff"),
    (-(2**63), "003f8000000000000000"),
]


def signed_encoding(value: int) -> bytes:
    """The SignedNumIncreasing bytes of ``value``, read out of a rank-1 slice key."""
    key = encode_slice_key("a", TensorSlice(((value, 1),)))
    prefix = b"\x00a\x00\x01\x01\x01"
    assert key.startswith(prefix)
    assert key.endswith(b"\x81")
    return key[len(prefix) : -1]


@pytest.mark.parametrize(("value", "encoded"), SIGNED)
def test_signed_num_increasing_examples(value: int, encoded: str) -> None:
    assert signed_encoding(value) == H(encoded)
    # Decoding a key built from the spec's bytes gives the value back, as start and as length.
    key = b"\x00a\x00\x01\x01\x02" + H(encoded) + b"\x81" + b"\x80" + H(encoded)
    assert decode_slice_key(key) == (b"a", TensorSlice(((value, 1), (0, value))))


@pytest.mark.parametrize(
    ("bits", "length"),
    [(7, 2), (13, 2), (14, 3), (20, 3), (21, 4), (27, 4), (28, 5), (34, 5), (35, 6), (41, 6),
     (42, 7), (48, 7), (49, 8), (55, 8), (56, 9), (62, 9), (63, 10)],
)
def test_signed_num_increasing_length_table(bits: int, length: int) -> None:
    smallest = 1 << (bits - 1)
    largest = (1 << bits) - 1
    for x in (smallest, largest):
        assert len(signed_encoding(x)) == length, x
        assert len(signed_encoding(~x)) == length, ~x  # negative: bit length of ~v
    header = {2: "c000", 3: "e000", 4: "f000", 5: "f800", 6: "fc00", 7: "fe00", 8: "ff00",
              9: "ff80", 10: "ffc0"}[length]
    raw = smallest.to_bytes(10, "big")[-length:]
    expected = bytes((raw[0] ^ H(header)[0], raw[1] ^ H(header)[1])) + raw[2:]
    assert signed_encoding(smallest) == expected


def test_signed_one_byte_range() -> None:
    for v in range(-64, 64):
        assert signed_encoding(v) == bytes(((0x80 ^ v) & 0xFF,))


# Slice keys of §5.1 and §7.3, §8.
KEYS = [
    ("scope/w", [(0, 4), (0, 3)], "\x00scope/w\x00\x01\x01\x02\x80\x84\x80\x83"),
    ("scope/w", [(4, 3), (0, 3)], "\x00scope/w\x00\x01\x01\x02\x84\x83\x80\x83"),
    ("scope/w", [(7, 3), (0, 3)], "\x00scope/w\x00\x01\x01\x02\x87\x83\x80\x83"),
    ("x", [(0, 2), (0, FULL)], "\x00x\x00\x01\x01\x02\x80\x82\x80\x7f"),
    ("a", [(0, FULL)], "\x00a\x00\x01\x01\x01\x80\x7f"),
]


@pytest.mark.parametrize(("name", "extents", "key"), KEYS)
def test_spec_slice_keys(name: str, extents: list[tuple[int, int]], key: str) -> None:
    raw = key.encode("latin-1")
    tensor_slice = TensorSlice(tuple(extents))
    assert encode_slice_key(name, tensor_slice) == raw
    assert encode_slice_key(name.encode(), tensor_slice) == raw
    assert decode_slice_key(raw) == (name.encode(), tensor_slice)


def test_tf2_sharded_variable_key_prefix() -> None:
    key = encode_slice_key("m/emb/.ATTRIBUTES/VARIABLE_VALUE", TensorSlice(((2, 1), (0, 3))))
    assert key.startswith(b"\x00m/emb/.ATTRIBUTES/VARIABLE_VALUE\x00\x01\x01\x02")
    assert key.endswith(b"\x82\x81\x80\x83")


def test_name_escaping() -> None:
    key = encode_slice_key(b"a\x00b\xff", TensorSlice(((0, 1),)))
    assert key == b"\x00" + H("6100ff62ff00") + b"\x00\x01" + b"\x01\x01\x80\x81"
    assert decode_slice_key(key)[0] == b"a\x00b\xff"


def test_unicode_name_is_utf8() -> None:
    key = encode_slice_key("ünï", TensorSlice(((0, 1),)))
    assert "ünï".encode() in key
    assert decode_slice_key(key)[0] == "ünï".encode()


@pytest.mark.parametrize(("rank", "encoded"), [(0, "00"), (2, "0102"), (300, "02012c")])
def test_num_increasing_rank(rank: int, encoded: str) -> None:
    tensor_slice = TensorSlice.full(rank)
    key = encode_slice_key("n", tensor_slice)
    assert key.startswith(b"\x00n\x00\x01" + H(encoded))
    assert key == b"\x00n\x00\x01" + H(encoded) + b"\x80\x7f" * rank
    assert decode_slice_key(key) == (b"n", tensor_slice)


def test_large_starts_roundtrip() -> None:
    tensor_slice = TensorSlice(((2**49, 3), (2**62, 2**63 - 1 - 2**62), (-5, 70000)))
    key = encode_slice_key("big", tensor_slice)
    assert decode_slice_key(key) == (b"big", tensor_slice)


def test_slice_keys_sort_between_header_and_names() -> None:
    key = encode_slice_key("zzz", TensorSlice(((0, 1),)))
    assert b"" < key < b"\x01" < b"A"


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"x\x00\x01\x01\x01\x80\x81",  # does not start with NumIncreasing(0)
        b"\x00abc",  # unterminated name
        b"\x00a\x00\x02\x01\x01\x80\x81",  # bad escape after 00
        b"\x00a\xff\x01\x00\x01\x01\x01\x80\x81",  # bad escape after ff
        b"\x00a\x00\x01",  # no rank
        b"\x00a\x00\x01\x09" + b"\x01" * 9,  # rank longer than 8 bytes
        b"\x00a\x00\x01\x01\x02\x80\x81",  # two dims announced, one given
        b"\x00a\x00\x01\x01\x01\x80",  # missing length
        b"\x00a\x00\x01\x01\x01\x80\x81\x00",  # trailing byte
        b"\x00a\x00\x01\x01\x01\xe0\x20",  # truncated 3-byte number
        b"\x00a\x00\x01\x01\x01\x80\xff\xc0",  # truncated 10-byte number
    ],
)
def test_decode_rejects_malformed_keys(bad: bytes) -> None:
    with pytest.raises(ValueError):
        decode_slice_key(bad)


# --- TensorSlice -----------------------------------------------------------------------------


def test_to_proto_bytes() -> None:
    tensor_slice = TensorSlice(((4, 3), (0, 3)))
    assert tensor_slice.to_proto().SerializeToString() == H("0a04080410030a021003")
    assert TensorSlice.full(2).to_proto().SerializeToString() == H("0a000a00")
    assert TensorSlice(((0, 0),)).to_proto().SerializeToString() == H("0a021000")


def test_from_proto() -> None:
    proto = protos.TensorSliceProto.FromString(H("0a04080410030a000a021000"))
    assert TensorSlice.from_proto(proto) == TensorSlice(((4, 3), (0, FULL), (0, 0)))


def test_geometry() -> None:
    tensor_slice = TensorSlice(((4, 3), (0, FULL)))
    assert tensor_slice.rank == 2
    assert tensor_slice.bounds((10, 5)) == ((4, 7), (0, 5))
    assert tensor_slice.shape((10, 5)) == (3, 5)
    assert not tensor_slice.is_full((10, 5))
    assert TensorSlice(((0, 10), (0, FULL))).is_full((10, 5))
    assert TensorSlice.full(2).is_full((3, 4))
    assert str(tensor_slice) == "4,3:-"


def test_from_offsets() -> None:
    assert TensorSlice.from_offsets([1, 2], [3, 4]) == TensorSlice(((1, 3), (2, 4)))
    with pytest.raises(ValueError):
        TensorSlice.from_offsets([1], [3, 4])


@pytest.mark.parametrize(
    ("extents", "shape", "fits"),
    [
        (((0, 4), (0, 3)), (10, 3), True),
        (((7, 3), (0, FULL)), (10, 3), True),
        (((7, 4), (0, 3)), (10, 3), False),
        (((-1, 2), (0, 3)), (10, 3), False),
        (((0, -2), (0, 3)), (10, 3), False),
        (((1, FULL),), (10,), False),
        (((0, 1),), (10, 3), False),
        (((10, 0),), (10,), True),
    ],
)
def test_fits(extents: tuple[tuple[int, int], ...], shape: tuple[int, ...], fits: bool) -> None:
    assert TensorSlice(extents).fits(shape) is fits


# --- spec strings (§5.2) ---------------------------------------------------------------------


def test_format_spec() -> None:
    assert format_spec((4, 3, 5), TensorSlice(((0, 4), (1, 1), (3, 2)))) == "4 3 5 0,4:1,1:3,2"
    assert format_spec((4,), TensorSlice.full(1)) == "4 0,4"


def test_parse_spec() -> None:
    assert parse_spec("4 3 5 0,4:1,1:3,2") == ((4, 3, 5), TensorSlice(((0, 4), (1, 1), (3, 2))))
    assert parse_spec("4 -") == ((4,), TensorSlice.full(1))
    assert parse_spec("10 3 4,3:-") == ((10, 3), TensorSlice(((4, 3), (0, FULL))))


@pytest.mark.parametrize(
    "spec", ["", "4", "4 -1,2", "4 0,0", "4 3,2", "4 3 0,4", "a 0,1", "4 0,x", "4 5,-1"]
)
def test_parse_spec_rejects(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_spec(spec)
