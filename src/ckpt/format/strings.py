"""Encoding of ``DT_STRING`` tensors in data files, with their two checksums.

Layout (format doc §4.3): the varint64 length of every element, a fixed32 masked CRC32C of the
lengths (each hashed as a 4-byte LE integer, or 8 bytes if it does not fit), then the bytes of
every element. The entry's CRC continues the length CRC over the 4 stored checksum bytes and the
element bytes; the varint bytes themselves are not hashed.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Literal

import numpy as np

from ckpt.format.coding import decode_varint, encode_varint
from ckpt.format.crc import crc32c, mask

_U32_MAX = 0xFFFFFFFF


def _length_bytes(length: int, byteorder: Literal["little", "big"]) -> bytes:
    if length <= _U32_MAX:
        return length.to_bytes(4, byteorder)
    return length.to_bytes(8, byteorder)


def encode(elements: Sequence[bytes]) -> tuple[bytes, int]:
    """Return ``(data, masked_entry_crc)`` for string elements in C order."""
    lengths = [len(e) for e in elements]
    varints = b"".join(encode_varint(n) for n in lengths)
    length_crc = crc32c(b"".join(_length_bytes(n, "little") for n in lengths))
    checksum = struct.pack("<I", mask(length_crc))
    body = b"".join(elements)
    entry_crc = crc32c(body, crc32c(checksum, length_crc))
    return varints + checksum + body, mask(entry_crc)


class StringDecodeError(ValueError):
    """A string tensor's bytes are inconsistent; the caller names the file and key."""


def decode(
    data: bytes | memoryview | np.ndarray,
    count: int,
    *,
    big_endian: bool = False,
    verify: bool = True,
) -> tuple[list[bytes], int]:
    """Decode ``count`` elements from ``data``; return ``(elements, masked_entry_crc)``.

    Raises :class:`StringDecodeError` if lengths run past the data or the length checksum does
    not match (when ``verify``). The caller compares the returned entry CRC with the stored one.
    """
    data = bytes(
        data
    )  # one copy; indexing bytes yields ints (a uint8 array would yield numpy scalars)
    size = len(data)
    if count > size:  # every element needs at least one varint byte
        raise StringDecodeError(f"{count} string elements cannot fit in {size} bytes")
    byteorder: Literal["little", "big"] = "big" if big_endian else "little"
    lengths = []
    pos = 0
    for _ in range(count):
        try:
            length, pos = decode_varint(data, pos, size)
        except ValueError:
            raise StringDecodeError("truncated string lengths") from None
        if length > size:
            raise StringDecodeError(f"string lengths run past the entry's {size} bytes")
        lengths.append(length)
    if pos + 4 > size:
        raise StringDecodeError("string tensor is missing its length checksum")
    stored = data[pos : pos + 4]
    stored_value = int.from_bytes(stored, byteorder)
    pos += 4
    length_crc = crc32c(b"".join(_length_bytes(n, byteorder) for n in lengths))
    if verify and mask(length_crc) != stored_value:
        raise StringDecodeError(
            f"the length checksum does not match: stored {stored_value:#010x}, "
            f"computed {mask(length_crc):#010x}"
        )
    total = sum(lengths)
    if pos + total > size:
        raise StringDecodeError(f"string lengths ({total} bytes) run past the entry's {size} bytes")
    body = data[pos : pos + total]
    entry_crc = crc32c(body, crc32c(stored, length_crc))
    elements = []
    start = 0
    for length in lengths:
        elements.append(body[start : start + length])
        start += length
    return elements, mask(entry_crc)


def to_elements(array: np.ndarray) -> list[bytes]:
    """Flatten a bytes/str/object array into a list of ``bytes`` (``str`` as UTF-8)."""
    out = []
    for item in array.reshape(-1).tolist():
        if isinstance(item, bytes):
            out.append(item)
        elif isinstance(item, str):
            out.append(item.encode("utf-8"))
        else:
            raise TypeError(
                f"string tensor elements must be bytes or str, got {type(item).__name__}"
            )
    return out


def to_array(elements: list[bytes], shape: tuple[int, ...]) -> np.ndarray:
    """An object array of ``bytes`` with ``shape``, as TF's reader returns strings."""
    array = np.empty(len(elements), dtype=object)
    array[:] = elements
    return array.reshape(shape)
