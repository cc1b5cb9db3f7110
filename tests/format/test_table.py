"""The ``.index`` table (format doc §2): golden bytes, TF's builder rules, and a hostile reader.

Structure is checked with a small spec-based parser written here, independently of
``ckpt.format.table``, so the builder is held to the document rather than to itself.
"""

from __future__ import annotations

import struct

import pytest

from ckpt.errors import (
    CheckpointError,
    ChecksumMismatchError,
    CorruptCheckpointError,
    UnsupportedCheckpointError,
)
from ckpt.format.crc import crc32c, mask
from ckpt.format.table import BLOCK_SIZE, FOOTER_SIZE, MAGIC, build_table, read_table

# --- the §2.8 golden vector ------------------------------------------------------------------

HEADER = bytes.fromhex("08011a020801")
ENTRY_S = bytes.fromhex("08071204120208022008280935d530d85f")
ENTRY_X = bytes.fromhex("0801120412020802280835593ce535")
GOLDEN_INDEX = (
    bytes.fromhex(
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
    + bytes.fromhex("57fb808b247547db")
)
GOLDEN_ENTRIES = [(b"", HEADER), (b"s", ENTRY_S), (b"x", ENTRY_X)]


def test_golden_vector_length() -> None:
    assert len(GOLDEN_INDEX) == 142


def test_reader_parses_golden_index() -> None:
    assert read_table(GOLDEN_INDEX, "golden.index") == GOLDEN_ENTRIES


def test_writer_reproduces_golden_index() -> None:
    assert build_table(GOLDEN_ENTRIES) == GOLDEN_INDEX


def test_writer_accepts_an_iterator() -> None:
    assert build_table(iter(GOLDEN_ENTRIES)) == GOLDEN_INDEX


# --- an independent parser following the spec ------------------------------------------------


def varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def parse_block(block: bytes) -> tuple[list[dict[str, object]], list[int]]:
    """Entries (with their raw shared/non_shared/offset) and the restart array of a block."""
    (count,) = struct.unpack_from("<I", block, len(block) - 4)
    restarts = list(struct.unpack_from(f"<{count}I", block, len(block) - 4 - 4 * count))
    end = len(block) - 4 - 4 * count
    entries = []
    pos = 0
    key = b""
    while pos < end:
        start = pos
        shared, pos = varint(block, pos)
        non_shared, pos = varint(block, pos)
        value_len, pos = varint(block, pos)
        key = key[:shared] + block[pos : pos + non_shared]
        pos += non_shared
        value = block[pos : pos + value_len]
        pos += value_len
        entries.append(
            {"key": key, "value": value, "shared": shared, "offset": start, "length": pos - start}
        )
    assert pos == end
    return entries, restarts


def read_raw_block(buf: bytes, offset: int, size: int) -> bytes:
    block = buf[offset : offset + size]
    block_type = buf[offset + size]
    (stored,) = struct.unpack_from("<I", buf, offset + size + 1)
    assert block_type == 0, "TF bundle writers never compress"
    assert stored == mask(crc32c(block + bytes((block_type,))))
    return block


def parse_table(buf: bytes) -> dict[str, object]:
    """Footer, metaindex, index entries and data blocks of a table, per §2.1-§2.5."""
    footer = buf[-FOOTER_SIZE:]
    assert footer[40:] == bytes.fromhex("57fb808b247547db")
    meta_off, pos = varint(footer, 0)
    meta_size, pos = varint(footer, pos)
    index_off, pos = varint(footer, pos)
    index_size, pos = varint(footer, pos)
    assert footer[pos:40] == bytes(40 - pos)
    meta = read_raw_block(buf, meta_off, meta_size)
    assert meta == bytes.fromhex("0000000001000000")
    index_entries, index_restarts = parse_block(read_raw_block(buf, index_off, index_size))
    blocks = []
    expected_offset = 0
    for item in index_entries:
        value = item["value"]
        assert isinstance(value, bytes)
        off, p = varint(value, 0)
        size, p = varint(value, p)
        assert p == len(value)
        assert off == expected_offset, "blocks follow each other with no gaps"
        expected_offset = off + size + 5
        blocks.append(read_raw_block(buf, off, size))
    # After the data blocks: metaindex, then index, then the footer.
    assert meta_off == expected_offset
    assert index_off == meta_off + meta_size + 5
    assert index_off + index_size + 5 + FOOTER_SIZE == len(buf)
    return {
        "index": index_entries,
        "index_restarts": index_restarts,
        "blocks": [parse_block(b) for b in blocks],
        "block_sizes": [len(b) for b in blocks],
    }


def shortest_separator(start: bytes, limit: bytes) -> bytes:
    n = min(len(start), len(limit))
    d = 0
    while d < n and start[d] == limit[d]:
        d += 1
    if d >= n:
        return start
    if start[d] < 0xFF and start[d] + 1 < limit[d]:
        return start[:d] + bytes((start[d] + 1,))
    return start


def short_successor(key: bytes) -> bytes:
    for i, byte in enumerate(key):
        if byte != 0xFF:
            return key[:i] + bytes((byte + 1,))
    return key


def test_golden_index_structure_by_spec_parser() -> None:
    parsed = parse_table(GOLDEN_INDEX)
    assert [e["key"] for e in parsed["index"]] == [b"y"]
    assert parsed["block_sizes"] == [57]


# --- builder rules ---------------------------------------------------------------------------


def test_empty_table() -> None:
    buf = build_table([])
    parsed = parse_table(buf)
    assert parsed["index"] == []
    assert read_table(buf, "empty") == []
    # metaindex at 0 (8 bytes), index at 13 (8 bytes, empty), footer: 41 bytes of blocks + 48.
    assert buf[:13] == bytes.fromhex("0000000001000000") + buf[8:13]
    assert len(buf) == 13 + 13 + FOOTER_SIZE


def test_restart_interval_16_and_prefix_compression() -> None:
    entries = [(f"tensor/{i:04d}".encode(), b"v" * (i % 7)) for i in range(40)]
    parsed = parse_table(build_table(entries))
    (block_entries, restarts) = parsed["blocks"][0]
    assert [e["key"] for e in block_entries] == [k for k, _ in entries]
    assert [e["value"] for e in block_entries] == [v for _, v in entries]
    assert restarts == [block_entries[i]["offset"] for i in (0, 16, 32)]
    for i, item in enumerate(block_entries):
        if i % 16 == 0:
            assert item["shared"] == 0, i
        else:
            previous = entries[i - 1][0]
            key = entries[i][0]
            common = 0
            while common < min(len(previous), len(key)) and previous[common] == key[common]:
                common += 1
            assert item["shared"] == common, i
    assert read_table(build_table(entries), "t") == entries


def test_shared_can_be_zero_without_a_restart() -> None:
    entries = [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")]
    parsed = parse_table(build_table(entries))
    block_entries, restarts = parsed["blocks"][0]
    assert restarts == [0]
    assert [e["shared"] for e in block_entries] == [0, 0, 0]


def test_many_entries_span_multiple_256k_blocks() -> None:
    entries = [(f"layer_{i:06d}/kernel".encode(), bytes([i % 251]) * 100) for i in range(6001)]
    buf = build_table(entries)
    parsed = parse_table(buf)
    blocks = parsed["blocks"]
    assert len(blocks) >= 3
    # Index block: restart interval 1, so every entry is a restart with shared == 0.
    index = parsed["index"]
    assert parsed["index_restarts"] == [e["offset"] for e in index]
    assert all(e["shared"] == 0 for e in index)
    all_keys = [e["key"] for block_entries, _ in blocks for e in block_entries]
    assert all_keys == [k for k, _ in entries]
    for i, ((block_entries, restarts), size) in enumerate(
        zip(blocks, parsed["block_sizes"], strict=True)
    ):
        last = block_entries[-1]
        # Restarts every 16 entries within each block.
        assert restarts == [block_entries[j]["offset"] for j in range(0, len(block_entries), 16)]
        if i < len(blocks) - 1:
            # A block is cut as soon as its size estimate reaches the block size...
            assert size >= BLOCK_SIZE
            # ...and not one entry earlier.
            last_was_restart = (len(block_entries) - 1) % 16 == 0
            before = size - last["length"] - (4 if last_was_restart else 0)
            assert before < BLOCK_SIZE
            next_first = blocks[i + 1][0][0]["key"]
            assert index[i]["key"] == shortest_separator(last["key"], next_first)
            assert last["key"] <= index[i]["key"] < next_first
        else:
            assert size < BLOCK_SIZE
            assert index[i]["key"] == short_successor(last["key"])
    assert read_table(buf, "big") == entries


@pytest.mark.parametrize(
    ("start", "limit", "separator"),
    [
        (b"abc", b"abzzz", b"abd"),  # bump the first differing byte and cut
        (b"ab", b"abc", b"ab"),  # start is a prefix of limit: unchanged
        (b"abc1", b"abd", b"abc1"),  # start[d] + 1 == limit[d]: unchanged
        (b"a\xff\x01", b"b", b"a\xff\x01"),  # 'a' + 1 is not < 'b'
        (b"a\xff\x01", b"c", b"b"),
        (b"\xff\x01zz", b"\xff\x05", b"\xff\x02"),
        (b"\xff\xff", b"\xff\xff\x00", b"\xff\xff"),
        (b"layer_000123/kernel", b"layer_000200/bias", b"layer_000123/kernel"),
        (b"layer_000123/kernel", b"layer_000300/bias", b"layer_0002"),
    ],
)
def test_index_key_is_shortest_separator(start: bytes, limit: bytes, separator: bytes) -> None:
    # block_size=1 cuts a block after every entry, so each index key separates two keys.
    buf = build_table([(start, b"1"), (limit, b"2")], block_size=1)
    index = parse_table(buf)["index"]
    assert [e["key"] for e in index] == [separator, short_successor(limit)]
    assert read_table(buf, "t") == [(start, b"1"), (limit, b"2")]


@pytest.mark.parametrize(
    ("last", "successor"),
    [
        (b"x", b"y"),
        (b"we.Sird..name/.ATTRIBUTES/VARIABLE_VALUE", b"x"),
        (b"\xff\xffa", b"\xff\xffb"),
        (b"\xff\xff", b"\xff\xff"),
        (b"\x00\x01", b"\x01"),
        (b"", b""),
    ],
)
def test_final_index_key_is_short_successor(last: bytes, successor: bytes) -> None:
    buf = build_table([(last, b"v")])
    assert [e["key"] for e in parse_table(buf)["index"]] == [successor]
    assert read_table(buf, "t") == [(last, b"v")]


def _block_keys(buf: bytes) -> list[list[bytes]]:
    return [[e["key"] for e in block] for block, _ in parse_table(buf)["blocks"]]


def test_oversized_entry_flushes_the_current_block_first() -> None:
    # len(key) + len(value) = 1 + 127 = 128 = 2 x block_size: "a" gets its own block.
    buf = build_table([(b"a", b"x" * 10), (b"b", b"y" * 127), (b"c", b"z")], block_size=64)
    assert _block_keys(buf) == [[b"a"], [b"b"], [b"c"]]
    # One byte less and the TF rule does not apply: "b" joins "a" (then the block is full).
    buf = build_table([(b"a", b"x" * 10), (b"b", b"y" * 126), (b"c", b"z")], block_size=64)
    assert _block_keys(buf) == [[b"a", b"b"], [b"c"]]


def test_oversized_first_entry_does_not_flush_an_empty_block() -> None:
    buf = build_table([(b"big", b"y" * 500), (b"small", b"z")], block_size=64)
    assert _block_keys(buf) == [[b"big"], [b"small"]]
    sizes = parse_table(buf)["block_sizes"]
    assert all(size > 0 for size in sizes)


def test_oversized_entry_right_after_a_flush() -> None:
    # "a" fills a block by itself; the oversized "b" then must not emit an empty block.
    buf = build_table([(b"a", b"x" * 70), (b"b", b"y" * 200)], block_size=64)
    assert _block_keys(buf) == [[b"a"], [b"b"]]


def test_huge_keys_with_default_block_size() -> None:
    # Keys of ~600 KB take TF's "overly large entry" path (format doc §0).
    small = (b"a/small", b"1" * 10)
    huge_key = b"b/" + b"k" * 600_000
    entries = [small, (huge_key, b"2"), (b"c/after", b"3")]
    buf = build_table(entries)
    assert _block_keys(buf) == [[small[0]], [huge_key], [b"c/after"]]
    index = [e["key"] for e in parse_table(buf)["index"]]
    assert index[0] == b"a/small"  # 'a' + 1 == 'b': separator keeps the start key
    assert index[1] == shortest_separator(huge_key, b"c/after")
    assert read_table(buf, "huge") == entries


def test_keys_of_120kb_stay_in_shared_blocks() -> None:
    entries = [(bytes([65 + i]) + b"k" * 120_000, b"v") for i in range(5)]
    buf = build_table(entries)
    assert read_table(buf, "t") == entries
    # Two 120 KB entries stay under 256 KiB; the third crosses it and cuts the block.
    assert [len(keys) for keys in _block_keys(buf)] == [3, 2]


@pytest.mark.parametrize(
    "entries",
    [
        [(b"b", b""), (b"a", b"")],
        [(b"a", b""), (b"a", b"")],
        [(b"", b""), (b"", b"")],
        [(b"ab", b""), (b"a", b"")],
        [(b"a", b""), (b"b", b""), (b"b\x00", b""), (b"b", b"")],
    ],
)
def test_keys_must_be_strictly_increasing(entries: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises(ValueError):
        build_table(entries)


def test_bytewise_unsigned_order() -> None:
    entries = [(b"", b"h"), (b"\x00slice", b"s"), (b"A", b""), (b"a", b""), (b"\x7f", b""),
               (b"\x80", b""), (b"\xff", b""), (b"\xff\x00", b"")]
    assert read_table(build_table(entries), "t") == entries


# --- hostile tables --------------------------------------------------------------------------


def raw_block(contents: bytes, block_type: int = 0, *, crc: int | None = None) -> bytes:
    masked = mask(crc32c(contents + bytes((block_type,)))) if crc is None else crc
    return contents + bytes((block_type,)) + struct.pack("<I", masked)


def block_of(entries: list[tuple[int, bytes, bytes]], restarts: list[int] | None = None) -> bytes:
    """A block from raw (shared, key_delta, value) triples, restart array at offset 0."""
    out = bytearray()
    for shared, delta, value in entries:
        out += bytes((shared, len(delta), len(value))) + delta + value
    restarts = [0] if restarts is None else restarts
    for r in restarts:
        out += struct.pack("<I", r)
    out += struct.pack("<I", len(restarts))
    return bytes(out)


def handle(offset: int, size: int) -> bytes:
    def enc(v: int) -> bytes:
        out = bytearray()
        while v >= 0x80:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        out.append(v)
        return bytes(out)

    return enc(offset) + enc(size)


def assemble(data_blocks: list[bytes], index_keys: list[bytes] | None = None,
             *, index_block: bytes | None = None) -> bytes:
    """A table from raw data blocks (contents only), each given a valid trailer."""
    out = bytearray()
    handles = []
    for contents in data_blocks:
        handles.append(handle(len(out), len(contents)))
        out += raw_block(contents)
    meta = handle(len(out), 8)
    out += raw_block(bytes.fromhex("0000000001000000"))
    if index_block is None:
        keys = index_keys or [bytes((0x7A, i)) for i in range(len(data_blocks))]
        index_block = block_of([(0, k, h) for k, h in zip(keys, handles, strict=True)],
                               restarts=None)
    index = handle(len(out), len(index_block))
    out += raw_block(index_block)
    footer = meta + index
    out += footer + bytes(40 - len(footer)) + struct.pack("<Q", MAGIC)
    return bytes(out)


def test_assembler_builds_readable_tables() -> None:
    buf = assemble([block_of([(0, b"k", b"v")])])
    assert read_table(buf, "t") == [(b"k", b"v")]


@pytest.mark.parametrize("size", [0, 1, 20, 47])
def test_too_short(size: int) -> None:
    with pytest.raises(CorruptCheckpointError, match="too short"):
        read_table(GOLDEN_INDEX[-size:] if size else b"", "t")


def test_bad_magic() -> None:
    bad = GOLDEN_INDEX[:-1] + b"\xdc"
    with pytest.raises(CorruptCheckpointError, match="magic"):
        read_table(bad, "t")


def test_block_checksum_mismatch() -> None:
    bad = bytearray(GOLDEN_INDEX)
    bad[10] ^= 0x01  # inside the data block
    with pytest.raises(ChecksumMismatchError):
        read_table(bytes(bad), "t")
    bad = bytearray(GOLDEN_INDEX)
    bad[57 + 1] ^= 0x01  # the stored trailer crc
    with pytest.raises(ChecksumMismatchError):
        read_table(bytes(bad), "t")


def test_snappy_block_is_unsupported() -> None:
    contents = block_of([(0, b"k", b"v")])
    buf = bytearray(assemble([contents]))
    # Re-type the data block as Snappy (1), with a crc that is valid for that type byte.
    buf[: len(contents) + 5] = raw_block(contents, 1)
    with pytest.raises(UnsupportedCheckpointError):
        read_table(bytes(buf), "t")


@pytest.mark.parametrize("block_type", [2, 7, 0xFF])
def test_bad_block_type(block_type: int) -> None:
    contents = block_of([(0, b"k", b"v")])
    buf = bytearray(assemble([contents]))
    buf[: len(contents) + 5] = raw_block(contents, block_type)
    with pytest.raises(CorruptCheckpointError):
        read_table(bytes(buf), "t")


def test_bad_block_handle_in_footer() -> None:
    buf = bytearray(GOLDEN_INDEX)
    footer = len(buf) - FOOTER_SIZE
    buf[footer : footer + 40] = b"\xff" * 40  # varints that never end
    with pytest.raises(CorruptCheckpointError):
        read_table(bytes(buf), "t")


@pytest.mark.parametrize(
    ("offset", "size"), [(0, 10_000), (10_000, 8), (2**62, 8), (0, 2**63), (140, 1)]
)
def test_index_handle_out_of_range(offset: int, size: int) -> None:
    buf = bytearray(GOLDEN_INDEX)
    footer = len(buf) - FOOTER_SIZE
    new = handle(62, 8) + handle(offset, size)
    buf[footer : footer + 40] = new + bytes(40 - len(new))
    with pytest.raises(CorruptCheckpointError):
        read_table(bytes(buf), "t")


def test_data_block_handle_out_of_range() -> None:
    index = block_of([(0, b"z", handle(5, 10**9))])
    buf = assemble([], index_block=index)
    with pytest.raises(CorruptCheckpointError):
        read_table(buf, "t")


@pytest.mark.parametrize(
    "contents",
    [
        b"",  # too small for a restart count
        b"\x00\x00",
        block_of([(0, b"k", b"v")])[:-4] + struct.pack("<I", 1000),  # restart count too big
        block_of([(0, b"k", b"v"), (5, b"x", b"v")]),  # shares more than the previous key
        block_of([(1, b"k", b"v")]),  # first key shares with nothing
        bytes((0, 50, 1)) + b"k" + block_of([])[0:8],  # key runs past the entries
        bytes((0, 1, 200)) + b"kv" + block_of([])[0:8],  # value runs past the entries
        b"\xff\xff\xff\xff\xff\xff" + block_of([]),  # unterminated varint
    ],
)
def test_malformed_data_blocks(contents: bytes) -> None:
    buf = assemble([contents])
    with pytest.raises(CorruptCheckpointError):
        read_table(buf, "t")


def test_keys_out_of_order_across_blocks() -> None:
    first = block_of([(0, b"b", b"1")])
    second = block_of([(0, b"a", b"2")])
    with pytest.raises(CorruptCheckpointError):
        read_table(assemble([first, second]), "t")


def test_same_block_listed_twice() -> None:
    contents = block_of([(0, b"k", b"v")])
    h = handle(0, len(contents))
    index = block_of([(0, b"l", h), (0, b"m", h)], restarts=[0, 3 + 1 + len(h)])
    with pytest.raises(CorruptCheckpointError):
        read_table(assemble([contents], index_block=index), "t")


def test_every_truncation_of_golden_index_fails_cleanly() -> None:
    for n in range(len(GOLDEN_INDEX)):
        with pytest.raises(CheckpointError):
            read_table(GOLDEN_INDEX[:n], "t")


def test_every_bit_flip_of_golden_index_fails_or_is_harmless() -> None:
    for bit in range(len(GOLDEN_INDEX) * 8):
        bad = bytearray(GOLDEN_INDEX)
        bad[bit // 8] ^= 1 << (bit % 8)
        try:
            parsed = read_table(bytes(bad), "t")
        except CheckpointError:
            continue
        # Only bytes nobody reads may change: the metaindex block (offset 62, 8 + 5 bytes; TF
        # never reads it), the metaindex handle and the footer padding.
        assert parsed == GOLDEN_ENTRIES, bit
        assert 62 <= bit // 8 < 75 or bit // 8 >= len(GOLDEN_INDEX) - FOOTER_SIZE, bit
