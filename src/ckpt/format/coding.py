"""Varint and fixed-width integer coding used by the index table and string tensors.

All fixed-width integers are little-endian; varints are base-128, low group first (format doc,
conventions). Decoders raise :class:`ValueError` on truncated or overlong input; callers turn it
into a :class:`~ckpt.errors.CorruptCheckpointError` naming the file.
"""

from __future__ import annotations

import struct

_FIXED32 = struct.Struct("<I")
_FIXED64 = struct.Struct("<Q")


def encode_varint(value: int) -> bytes:
    """Encode a non-negative integer as a base-128 varint."""
    if value < 0:
        raise ValueError(f"varint must be non-negative, got {value}")
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(
    buf: bytes | memoryview, pos: int, limit: int, max_bytes: int = 10
) -> tuple[int, int]:
    """Decode a varint from ``buf[pos:limit]``; return ``(value, new_pos)``.

    ``max_bytes`` is 5 for varint32 and 10 for varint64, as in TF's ``GetVarint32Ptr``.
    """
    result = 0
    shift = 0
    end = min(limit, pos + max_bytes)
    while pos < end:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
    raise ValueError("truncated or overlong varint")


def encode_fixed32(value: int) -> bytes:
    return _FIXED32.pack(value)


def encode_fixed64(value: int) -> bytes:
    return _FIXED64.pack(value)


def decode_fixed32(buf: bytes | memoryview, pos: int) -> int:
    return int(_FIXED32.unpack_from(buf, pos)[0])


def decode_fixed64(buf: bytes | memoryview, pos: int) -> int:
    return int(_FIXED64.unpack_from(buf, pos)[0])
