"""Varints and fixed-width little-endian integers (format doc, conventions)."""

from __future__ import annotations

import pytest

from ckpt.format.coding import (
    decode_fixed32,
    decode_fixed64,
    decode_varint,
    encode_fixed32,
    encode_fixed64,
    encode_varint,
)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "00"),
        (1, "01"),
        (127, "7f"),
        (128, "8001"),
        (300, "ac02"),
        (16383, "ff7f"),
        (16384, "808001"),
        (2**32 - 1, "ffffffff0f"),
        (2**63, "80808080808080808001"),
        (2**64 - 1, "ffffffffffffffffff01"),
    ],
)
def test_varint_known_encodings(value: int, encoded: str) -> None:
    raw = bytes.fromhex(encoded)
    assert encode_varint(value) == raw
    assert decode_varint(raw, 0, len(raw)) == (value, len(raw))


def test_varint_decodes_at_offset_and_stops_at_end_of_value() -> None:
    buf = b"\xff" + encode_varint(300) + b"\x05"
    assert decode_varint(buf, 1, len(buf)) == (300, 3)
    assert decode_varint(buf, 3, len(buf)) == (5, 4)


def test_varint_negative_is_rejected() -> None:
    with pytest.raises(ValueError):
        encode_varint(-1)


@pytest.mark.parametrize("buf", [b"", b"\x80", b"\xff\xff", b"\x80\x80\x80"])
def test_varint_truncated(buf: bytes) -> None:
    with pytest.raises(ValueError):
        decode_varint(buf, 0, len(buf))


def test_varint_limit_is_respected() -> None:
    buf = encode_varint(300)  # two bytes
    with pytest.raises(ValueError):
        decode_varint(buf, 0, 1)


def test_varint_overlong() -> None:
    buf = b"\x80" * 10 + b"\x01"
    with pytest.raises(ValueError):
        decode_varint(buf, 0, len(buf))
    # varint32 (TF's GetVarint32Ptr) allows at most 5 bytes.
    six = b"\x80" * 5 + b"\x01"
    with pytest.raises(ValueError):
        decode_varint(six, 0, len(six), 5)
    five = b"\x80" * 4 + b"\x01"
    assert decode_varint(five, 0, len(five), 5) == (1 << 28, 5)


def test_fixed_width_little_endian() -> None:
    assert encode_fixed32(0x8B80FB57) == bytes.fromhex("57fb808b")
    assert encode_fixed64(0xDB4775248B80FB57) == bytes.fromhex("57fb808b247547db")
    assert decode_fixed32(b"\x00\x01\x00\x00\x00", 1) == 1
    assert decode_fixed64(bytes.fromhex("57fb808b247547db"), 0) == 0xDB4775248B80FB57
