"""The ``.index`` file: TF's LevelDB-style sorted string table, read and written to the byte.

Layout (format doc §2): data blocks with prefix-compressed keys and restart points, each followed
by a 5-byte trailer (type byte + masked CRC32C of block and type), an always-empty metaindex
block, an index block (restart interval 1) mapping separator keys to block handles, and a 48-byte
footer ending in the magic ``0xdb4775248b80fb57``. TF's table options: 256 KiB blocks, restart
interval 16, no compression, plus TF's rule that an entry of at least two blocks' size flushes
the current block first.
"""

from __future__ import annotations

from collections.abc import Iterator

from ckpt.errors import ChecksumMismatchError, CorruptCheckpointError, UnsupportedCheckpointError
from ckpt.format.coding import decode_fixed32, decode_varint, encode_fixed32, encode_varint
from ckpt.format.crc import crc32c, mask

MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
TRAILER_SIZE = 5
BLOCK_SIZE = 262144
RESTART_INTERVAL = 16
_MAX_HANDLE_SIZE = 20  # two varint64s
_NO_COMPRESSION = 0
_SNAPPY = 1


# --- writing ----------------------------------------------------------------------------------


class _BlockBuilder:
    """Accumulates one block's entries with prefix compression and restart points."""

    def __init__(self, restart_interval: int) -> None:
        self._interval = restart_interval
        self.reset()

    def reset(self) -> None:
        self._buf = bytearray()
        self._restarts = [0]
        self._counter = 0
        self._last_key = b""
        self.empty = True

    def add(self, key: bytes, value: bytes) -> None:
        shared = 0
        if self._counter < self._interval:
            limit = min(len(self._last_key), len(key))
            while shared < limit and self._last_key[shared] == key[shared]:
                shared += 1
        else:
            self._restarts.append(len(self._buf))
            self._counter = 0
        self._buf += encode_varint(shared)
        self._buf += encode_varint(len(key) - shared)
        self._buf += encode_varint(len(value))
        self._buf += key[shared:]
        self._buf += value
        self._last_key = key
        self._counter += 1
        self.empty = False

    def size_estimate(self) -> int:
        return len(self._buf) + 4 * len(self._restarts) + 4

    def finish(self) -> bytes:
        out = self._buf
        for restart in self._restarts:
            out += encode_fixed32(restart)
        out += encode_fixed32(len(self._restarts))
        return bytes(out)


def _shortest_separator(start: bytes, limit: bytes) -> bytes:
    n = min(len(start), len(limit))
    d = 0
    while d < n and start[d] == limit[d]:
        d += 1
    if d < n:
        byte = start[d]
        if byte < 0xFF and byte + 1 < limit[d]:
            return start[:d] + bytes((byte + 1,))
    return start


def _short_successor(key: bytes) -> bytes:
    for i, byte in enumerate(key):
        if byte != 0xFF:
            return key[:i] + bytes((byte + 1,))
    return key


def _encode_handle(offset: int, size: int) -> bytes:
    return encode_varint(offset) + encode_varint(size)


def build_table(
    entries: Iterator[tuple[bytes, bytes]] | list[tuple[bytes, bytes]],
    *,
    block_size: int = BLOCK_SIZE,
) -> bytes:
    """Serialise sorted, unique ``(key, value)`` pairs into TF's table bytes.

    Reproduces ``tsl::table::TableBuilder`` with TF's bundle options (format doc §2.5, §2.6).
    Raises ``ValueError`` if keys are not strictly increasing.
    """
    out = bytearray()
    data = _BlockBuilder(RESTART_INTERVAL)
    index = _BlockBuilder(1)
    pending_handle: bytes | None = None
    last_key: bytes | None = None

    def write_block(block: _BlockBuilder) -> bytes:
        contents = block.finish()
        block.reset()
        handle = _encode_handle(len(out), len(contents))
        out.extend(contents)
        out.append(_NO_COMPRESSION)
        out.extend(encode_fixed32(mask(crc32c(contents + bytes((_NO_COMPRESSION,))))))
        return handle

    for key, value in entries:
        if last_key is not None and key <= last_key:
            raise ValueError(f"table keys must be strictly increasing: {key!r} after {last_key!r}")
        # TF extension: an entry of >= 2 blocks flushes the current block before it is added.
        if last_key is not None and len(key) + len(value) >= 2 * block_size and not data.empty:
            pending_handle = write_block(data)
        if pending_handle is not None:
            assert last_key is not None
            index.add(_shortest_separator(last_key, key), pending_handle)
            pending_handle = None
        data.add(key, value)
        last_key = key
        if data.size_estimate() >= block_size:
            pending_handle = write_block(data)

    if not data.empty:
        pending_handle = write_block(data)
    meta_handle = write_block(_BlockBuilder(RESTART_INTERVAL))
    if pending_handle is not None:
        assert last_key is not None
        index.add(_short_successor(last_key), pending_handle)
    index_handle = write_block(index)
    footer = bytearray(meta_handle + index_handle)
    footer.extend(bytes(40 - len(footer)))
    footer.extend(encode_fixed32(MAGIC & 0xFFFFFFFF))
    footer.extend(encode_fixed32(MAGIC >> 32))
    out.extend(footer)
    return bytes(out)


# --- reading ----------------------------------------------------------------------------------


def _corrupt(path: str, what: str) -> CorruptCheckpointError:
    return CorruptCheckpointError(
        f"{path} is not a valid checkpoint index: {what}. The file is damaged or was not "
        "written by TensorFlow or ckpt; restore it from a good copy.",
        path=path,
    )


def _decode_handle(buf: bytes, pos: int, limit: int, path: str) -> tuple[int, int, int]:
    try:
        offset, pos = decode_varint(buf, pos, limit)
        size, pos = decode_varint(buf, pos, limit)
    except ValueError:
        raise _corrupt(path, "bad block handle") from None
    return offset, size, pos


def _read_block(buf: bytes, offset: int, size: int, end: int, path: str) -> bytes:
    """Return a block's contents after checking bounds, type byte and CRC."""
    if offset < 0 or size < 0 or offset + size + TRAILER_SIZE > end:
        raise _corrupt(path, f"block handle (offset {offset}, size {size}) points past the data")
    contents = memoryview(buf)[offset : offset + size + 1]  # contents plus type byte
    stored = decode_fixed32(buf, offset + size + 1)
    if mask(crc32c(contents)) != stored:
        raise ChecksumMismatchError(
            f"{path}: block checksum mismatch in the index block at offset {offset}; "
            "the index file is corrupt",
            path=path,
        )
    block_type = buf[offset + size]
    if block_type == _SNAPPY:
        raise UnsupportedCheckpointError(
            f"{path}: Snappy-compressed index blocks are not supported (TF never writes them)",
            path=path,
        )
    if block_type != _NO_COMPRESSION:
        raise _corrupt(path, f"bad block type {block_type}")
    return bytes(contents[:size])


def _iter_block(block: bytes, path: str) -> Iterator[tuple[bytes, bytes]]:
    """Yield the ``(key, value)`` pairs of one block, validating every length."""
    size = len(block)
    if size < 4:
        raise _corrupt(path, "block too small")
    num_restarts = decode_fixed32(block, size - 4)
    if num_restarts > (size - 4) // 4:
        raise _corrupt(path, "bad restart count")
    end = size - 4 - 4 * num_restarts
    p = 0
    key = b""
    while p < end:
        # Fast path: all three varints fit in one byte each (as TF's DecodeEntry checks).
        if p + 3 <= end and (block[p] | block[p + 1] | block[p + 2]) < 0x80:
            shared, non_shared, value_len = block[p], block[p + 1], block[p + 2]
            p += 3
        else:
            try:
                shared, p = decode_varint(block, p, end, 5)
                non_shared, p = decode_varint(block, p, end, 5)
                value_len, p = decode_varint(block, p, end, 5)
            except ValueError:
                raise _corrupt(path, "bad entry in block") from None
        if shared > len(key) or p + non_shared + value_len > end:
            raise _corrupt(path, "bad entry in block")
        key = key[:shared] + block[p : p + non_shared]
        p += non_shared
        yield key, block[p : p + value_len]
        p += value_len


def read_table(buf: bytes, path: str) -> list[tuple[bytes, bytes]]:
    """Parse a whole table; return its entries in key order.

    Every block's CRC is verified and every length bounds-checked, so a damaged or hostile file
    raises :class:`~ckpt.errors.CorruptCheckpointError` rather than misreading.
    """
    size = len(buf)
    if size < FOOTER_SIZE:
        raise _corrupt(path, "file is too short to be an sstable")
    footer = size - FOOTER_SIZE
    magic = decode_fixed32(buf, size - 8) | (decode_fixed32(buf, size - 4) << 32)
    if magic != MAGIC:
        raise _corrupt(path, "not an sstable (bad magic number)")
    _, _, pos = _decode_handle(buf, footer, footer + _MAX_HANDLE_SIZE, path)
    index_offset, index_size, _ = _decode_handle(buf, pos, footer + 40, path)
    index_block = _read_block(buf, index_offset, index_size, footer, path)
    entries: list[tuple[bytes, bytes]] = []
    previous = b""
    for _, handle in _iter_block(index_block, path):
        offset, block_size, _ = _decode_handle(handle, 0, len(handle), path)
        for key, value in _iter_block(_read_block(buf, offset, block_size, footer, path), path):
            if entries and key <= previous:
                raise _corrupt(path, "keys out of order")
            entries.append((key, value))
            previous = key
    return entries
