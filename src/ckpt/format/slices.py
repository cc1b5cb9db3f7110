"""Tensor slices: ``TensorSliceProto`` conversion, the ordered-code slice keys, and spec strings.

A partitioned tensor is stored as a "full" entry listing its slices plus one entry per slice
under ``EncodeTensorNameSlice(name, slice)`` (format doc §5). The key encoding is TF's
OrderedCode: ``NumIncreasing``, ``String`` and ``SignedNumIncreasing`` (§5.3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ckpt.format import protos

FULL = -1  # ``length`` of an extent that covers its whole dimension.


@dataclass(frozen=True)
class TensorSlice:
    """A hyper-rectangle of a tensor: one ``(start, length)`` extent per dimension.

    ``length == -1`` means "the whole dimension", as in TF's ``TensorSlice``.
    """

    extents: tuple[tuple[int, int], ...]

    @classmethod
    def from_offsets(cls, offsets: Sequence[int], shape: Sequence[int]) -> TensorSlice:
        """The slice starting at ``offsets`` with lengths ``shape``."""
        if len(offsets) != len(shape):
            raise ValueError(f"offsets {list(offsets)} and shape {list(shape)} differ in rank")
        return cls(tuple((int(o), int(s)) for o, s in zip(offsets, shape, strict=True)))

    @classmethod
    def full(cls, rank: int) -> TensorSlice:
        return cls(((0, FULL),) * rank)

    @classmethod
    def from_proto(cls, proto: Any) -> TensorSlice:
        extents = []
        for ext in proto.extent:
            if ext.WhichOneof("has_length_hack") is None:
                extents.append((0, FULL))
            else:
                extents.append((int(ext.start), int(ext.length)))
        return cls(tuple(extents))

    def to_proto(self) -> Any:
        """As ``TensorSlice::AsProto``: a full dimension is an empty ``Extent``."""
        proto = protos.TensorSliceProto()
        for start, length in self.extents:
            ext = proto.extent.add()
            if not (start == 0 and length == FULL):
                ext.start = start
                ext.length = length
        return proto

    @property
    def rank(self) -> int:
        return len(self.extents)

    def bounds(self, full_shape: Sequence[int]) -> tuple[tuple[int, int], ...]:
        """Concrete ``(start, stop)`` per dimension within a tensor of ``full_shape``."""
        return tuple(
            (start, dim if length == FULL else start + length)
            for (start, length), dim in zip(self.extents, full_shape, strict=True)
        )

    def shape(self, full_shape: Sequence[int]) -> tuple[int, ...]:
        return tuple(stop - start for start, stop in self.bounds(full_shape))

    def is_full(self, full_shape: Sequence[int]) -> bool:
        return all(
            start == 0 and stop == dim
            for (start, stop), dim in zip(self.bounds(full_shape), full_shape, strict=True)
        )

    def fits(self, full_shape: Sequence[int]) -> bool:
        """Whether every extent is valid and lies within ``full_shape``."""
        if len(full_shape) != self.rank:
            return False
        for (start, length), dim in zip(self.extents, full_shape, strict=True):
            if length == FULL:
                if start != 0:
                    return False
            elif start < 0 or length < 0 or start + length > dim:
                return False
        return True

    def __str__(self) -> str:
        """TF's text form: ``start,length`` per dim joined by ``:``, ``-`` for a full dim."""
        return ":".join("-" if ln == FULL else f"{st},{ln}" for st, ln in self.extents)


# --- OrderedCode (tf:tensorflow/core/lib/strings/ordered_code.cc) -----------------------------


def _num_increasing(value: int) -> bytes:
    if value < 0:
        raise ValueError("NumIncreasing takes an unsigned value")
    body = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return bytes((len(body),)) + body


def _escape(data: bytes) -> bytes:
    out = bytearray()
    for byte in data:
        if byte == 0x00:
            out += b"\x00\xff"
        elif byte == 0xFF:
            out += b"\xff\x00"
        else:
            out.append(byte)
    return bytes(out)


def _signed_num_increasing(value: int) -> bytes:
    magnitude = value if value >= 0 else ~value
    if magnitude < 64:
        return bytes(((0x80 ^ value) & 0xFF,))
    length = magnitude.bit_length() // 7 + 1  # 2..10 bytes
    raw = bytearray((value & ((1 << (8 * length)) - 1)).to_bytes(length, "big"))
    header = (0xFFFF << (16 - length)) & 0xFFFF  # sign bit then length-1 one-bits
    raw[0] ^= header >> 8
    raw[1] ^= header & 0xFF
    return bytes(raw)


def _decode_signed_num_increasing(data: bytes, pos: int) -> tuple[int, int]:
    first = data[pos]
    negative = not first & 0x80
    flip = 0xFF if negative else 0x00
    word = ((first ^ flip) << 8) | ((data[pos + 1] ^ flip) if pos + 1 < len(data) else 0)
    length = 0
    while length < 16 and word & (0x8000 >> length):
        length += 1
    if length == 1:
        raw = first ^ 0x80
    else:
        raw = int.from_bytes(data[pos : pos + length], "big")
        raw ^= ((0xFFFF << (16 - length)) & 0xFFFF) << (8 * (length - 2))
    if len(data) < pos + length:
        raise ValueError("truncated signed number in slice key")
    if negative:
        raw -= 1 << (8 * length)
    return raw, pos + length


def encode_slice_key(name: str | bytes, tensor_slice: TensorSlice) -> bytes:
    """``EncodeTensorNameSlice``: the index key of one stored slice of tensor ``name``."""
    raw_name = name.encode("utf-8") if isinstance(name, str) else name
    parts = [_num_increasing(0), _escape(raw_name), b"\x00\x01", _num_increasing(tensor_slice.rank)]
    for start, length in tensor_slice.extents:
        parts.append(_signed_num_increasing(start))
        parts.append(_signed_num_increasing(length))
    return b"".join(parts)


def decode_slice_key(key: bytes) -> tuple[bytes, TensorSlice]:
    """Invert :func:`encode_slice_key`; raise ``ValueError`` if ``key`` is not a slice key."""
    if not key.startswith(b"\x00"):
        raise ValueError("not a slice key")
    pos = 1
    name = bytearray()
    while True:
        if pos + 1 >= len(key):
            raise ValueError("unterminated name in slice key")
        byte = key[pos]
        if byte == 0x00:
            nxt = key[pos + 1]
            if nxt == 0x01:
                pos += 2
                break
            if nxt != 0xFF:
                raise ValueError("bad escape in slice key")
            name.append(0)
            pos += 2
        elif byte == 0xFF:
            if key[pos + 1] != 0x00:
                raise ValueError("bad escape in slice key")
            name.append(0xFF)
            pos += 2
        else:
            name.append(byte)
            pos += 1
    if pos >= len(key):
        raise ValueError("slice key has no rank")
    nbytes = key[pos]
    if nbytes > 8 or pos + 1 + nbytes > len(key):
        raise ValueError("bad rank in slice key")
    rank = int.from_bytes(key[pos + 1 : pos + 1 + nbytes], "big")
    pos += 1 + nbytes
    extents = []
    for _ in range(rank):
        if pos >= len(key):
            raise ValueError("truncated slice key")
        start, pos = _decode_signed_num_increasing(key, pos)
        if pos >= len(key):
            raise ValueError("truncated slice key")
        length, pos = _decode_signed_num_increasing(key, pos)
        extents.append((start, length))
    if pos != len(key):
        raise ValueError("trailing bytes in slice key")
    return bytes(name), TensorSlice(tuple(extents))


# --- shape_and_slice spec strings (format doc §5.2) ------------------------------------------


def format_spec(full_shape: Sequence[int], tensor_slice: TensorSlice) -> str:
    """``Variable.SaveSliceInfo.spec``: ``"4 3 5 0,4:1,1:3,2"``."""
    dims = "".join(f"{d} " for d in full_shape)
    return dims + ":".join(
        f"{start},{stop - start}" for start, stop in tensor_slice.bounds(full_shape)
    )


def parse_spec(spec: str) -> tuple[tuple[int, ...], TensorSlice]:
    """Parse a shape-and-slice spec into ``(full_shape, slice)``; ``ValueError`` if malformed."""
    tokens = spec.split(" ")
    if len(tokens) < 2:
        raise ValueError(f"shape-and-slice spec {spec!r} needs a shape and a slice")
    shape = tuple(int(t) for t in tokens[:-1])
    extents = []
    for part in tokens[-1].split(":"):
        if part == "-":
            extents.append((0, FULL))
            continue
        start_s, _, length_s = part.partition(",")
        start, length = int(start_s), int(length_s)
        if start < 0 or length <= 0:
            raise ValueError(f"bad extent {part!r} in spec {spec!r}")
        extents.append((start, length))
    tensor_slice = TensorSlice(tuple(extents))
    if not tensor_slice.fits(shape):
        raise ValueError(f"slice in spec {spec!r} does not fit its shape")
    return shape, tensor_slice
