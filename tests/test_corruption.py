"""Damaged and hostile checkpoints: every failure is a CheckpointError, never wrong data.

Each case opens the checkpoint, lists it, reads every tensor whole and in part, and verifies it
(the ``reads_all`` fixture). The outcome must be either the original values exactly or a
:class:`ckpt.errors.CheckpointError`; any other exception, wrong value, big allocation or hang
fails the test.
"""

from __future__ import annotations

import os
import pathlib
import random
import shutil
import tempfile
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import ckpt
from ckpt.errors import (
    CheckpointError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    UnsupportedCheckpointError,
)
from ckpt.format.crc import crc32c, mask
from ckpt.format.dtypes import from_enum
from ckpt.format.slices import FULL, TensorSlice, encode_slice_key

ORIGINAL = {
    "a/float": np.array([1.5, -2.0, 3.25], np.float32),
    "b/step": np.array(42, np.int64),
    "c/strings": np.array([b"hello", b"", b"w\x00rld"], dtype=object),
    "d/empty": np.zeros((0, 2), np.float64),
    "e/bool": np.array([True, False, True]),
    "f/bf16": np.array([1.0, -0.5], ml_dtypes.bfloat16),
    "g/sliced": np.arange(8, dtype=np.int16).reshape(4, 2),
    "h/sliced_strings": np.array([b"x", b"yy", b"zzz", b"q"], dtype=object),
}


def write_original(prefix: str, num_shards: int = 1) -> None:
    with ckpt.CheckpointWriter(prefix, num_shards=num_shards) as writer:
        for name, value in ORIGINAL.items():
            if name == "g/sliced":
                writer.add_slice(name, value[2:], full_shape=[4, 2], offset=[2, 0])
                writer.add_slice(name, value[:2], full_shape=[4, 2], offset=[0, 0])
            elif name == "h/sliced_strings":
                writer.add_slice(name, value[:1], full_shape=[4], offset=[0])
                writer.add_slice(name, value[1:], full_shape=[4], offset=[1])
            else:
                writer.add(name, value)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    directory = tmp_path_factory.mktemp("pristine")
    prefix = str(directory / "m")
    write_original(prefix)
    return {
        "index": pathlib.Path(prefix + ".index").read_bytes(),
        "data": pathlib.Path(prefix + ".data-00000-of-00001").read_bytes(),
    }


@pytest.fixture
def damage(
    tmp_path: pathlib.Path, pristine: dict[str, bytes], reads_all: Callable[..., str]
) -> Callable[[bytes | None, bytes | None], str]:
    """Write a (possibly damaged) index and data file; return the outcome of reading it all."""
    prefix = str(tmp_path / "m")
    paths = {"index": prefix + ".index", "data": prefix + ".data-00000-of-00001"}

    def run(index: bytes | None = None, data: bytes | None = None) -> str:
        for kind, content in (("index", index), ("data", data)):
            with open(paths[kind], "wb") as f:
                f.write(pristine[kind] if content is None else content)
        return reads_all(prefix, ORIGINAL)

    return run


def test_pristine_checkpoint_reads_back(damage: Callable[..., str]) -> None:
    assert damage() == "ok"


def flips(buf: bytes, step: int = 1) -> Iterator[tuple[int, bytes]]:
    for bit in range(0, len(buf) * 8, step):
        bad = bytearray(buf)
        bad[bit // 8] ^= 1 << (bit % 8)
        yield bit, bytes(bad)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def test_flip_every_bit_of_the_index(
    pristine: dict[str, bytes], damage: Callable[..., str]
) -> None:
    index = pristine["index"]
    footer = len(index) - 48
    meta_offset, _ = _varint(index, footer)
    unread = set(range(meta_offset, meta_offset + 8 + 5))  # the metaindex block: never read
    unread |= set(range(footer, footer + 40))  # handles and padding: read, but may survive
    for bit, bad in flips(index):
        outcome = damage(index=bad)
        if bit // 8 not in unread:
            # Data blocks, index block (checksummed) and the magic number.
            assert outcome == "error", bit


def test_flip_every_bit_of_the_data(pristine: dict[str, bytes], damage: Callable[..., str]) -> None:
    for bit, bad in flips(pristine["data"]):
        assert damage(data=bad) == "error", bit  # every data byte belongs to some tensor


@pytest.mark.parametrize("kind", ["index", "data"])
def test_truncate_at_every_length(
    pristine: dict[str, bytes], damage: Callable[..., str], kind: str
) -> None:
    content = pristine[kind]
    for n in range(len(content)):
        assert damage(**{kind: content[:n]}) == "error", n


@pytest.mark.parametrize("garbage", [b"\x00", b"\xff" * 7, bytes(range(256)), b"x" * 100_000])
def test_append_garbage(
    pristine: dict[str, bytes], damage: Callable[..., str], garbage: bytes
) -> None:
    assert damage(index=pristine["index"] + garbage) == "error"
    # Extra bytes after the last tensor belong to nothing: the data still reads back.
    assert damage(data=pristine["data"] + garbage) == "ok"


def test_random_bytes(pristine: dict[str, bytes], damage: Callable[..., str]) -> None:
    rng = random.Random(5)
    for size in (0, 1, 47, 48, 49, 100, len(pristine["index"]), 5000):
        junk = bytes(rng.getrandbits(8) for _ in range(size))
        assert damage(index=junk) == "error", size
        assert damage(data=junk) == "error", size


def test_random_bytes_with_valid_magic(
    pristine: dict[str, bytes], damage: Callable[..., str]
) -> None:
    rng = random.Random(6)
    magic = bytes.fromhex("57fb808b247547db")
    for size in (48, 60, 200, 1000):
        for _ in range(20):
            junk = bytes(rng.getrandbits(8) for _ in range(size - 8)) + magic
            assert damage(index=junk) == "error"


def test_zero_length_files(damage: Callable[..., str]) -> None:
    assert damage(index=b"") == "error"
    assert damage(data=b"") == "error"


def test_shuffled_data(pristine: dict[str, bytes], damage: Callable[..., str]) -> None:
    data = pristine["data"]
    assert damage(data=data[::-1]) == "error"
    assert damage(data=data[1:] + data[:1]) == "error"


def test_strided_flips_in_a_multi_block_index(
    tmp_path: pathlib.Path, reads_all: Callable[..., str]
) -> None:
    prefix = str(tmp_path / "big")
    tensors = {f"layer_{i:05d}/" + "k" * 120: np.array([i], np.int32) for i in range(2500)}
    ckpt.write_tensors(prefix, tensors)
    index = pathlib.Path(prefix + ".index").read_bytes()
    assert len(index) > 262144  # more than one data block
    rng = random.Random(9)
    positions = sorted(rng.sample(range(len(index)), 40)) + list(range(len(index) - 80, len(index)))
    for pos in positions:
        bad = bytearray(index)
        bad[pos] ^= 1 << rng.randrange(8)
        pathlib.Path(prefix + ".index").write_bytes(bytes(bad))
        try:
            reader = ckpt.CheckpointReader(prefix)
        except CheckpointError:
            continue
        with reader:
            assert reader.keys() == list(tensors), pos
            for name in (reader.keys()[0], reader.keys()[1234], reader.keys()[-1]):
                assert reader.get_tensor(name).tolist() == tensors[name].tolist()
    pathlib.Path(prefix + ".index").write_bytes(index)
    assert reads_all(prefix) == "ok"


def test_missing_data_shard(tmp_path: pathlib.Path, reads_all: Callable[..., str]) -> None:
    prefix = str(tmp_path / "m")
    write_original(prefix, num_shards=3)
    assert reads_all(prefix, ORIGINAL) == "ok"
    for shard in range(3):
        path = f"{prefix}.data-{shard:05d}-of-00003"
        if os.path.getsize(path) == 0:
            continue
        shutil.move(path, path + ".bak")
        assert reads_all(prefix, ORIGINAL) == "error"
        with pytest.raises(CheckpointNotFoundError):
            ckpt.CheckpointReader(prefix).verify()
        shutil.move(path + ".bak", path)


def test_data_shard_is_a_directory(tmp_path: pathlib.Path, reads_all: Callable[..., str]) -> None:
    prefix = str(tmp_path / "m")
    write_original(prefix)
    os.unlink(prefix + ".data-00000-of-00001")
    os.mkdir(prefix + ".data-00000-of-00001")
    assert reads_all(prefix, ORIGINAL) == "error"


def test_index_is_a_directory(tmp_path: pathlib.Path) -> None:
    os.mkdir(tmp_path / "m.index")
    with pytest.raises(CheckpointError):
        ckpt.CheckpointReader(str(tmp_path / "m"))


# --- hostile indexes built with the library's own protos -------------------------------------

F32 = 1
STR = 7
U8 = 4
BIG = 2**40


def crc(data: bytes) -> int:
    return mask(crc32c(data))


def string_data(elements: list[bytes]) -> bytes:
    from ckpt.format import strings

    return strings.encode(elements)[0]


def hostile_cases(entry: Callable[..., bytes], header: Callable[..., bytes]) -> dict[str, Any]:
    """name -> (entries, shards, header or None)."""
    eight = np.array([1.0, 2.0], np.float32).tobytes()
    ok = {b"ok": entry(F32, [2], size=8, crc32c=crc(eight))}
    s = string_data([b"ab", b"c"])
    half = TensorSlice(((0, 1),))
    other = TensorSlice(((1, 1),))
    big_a = TensorSlice(((0, 2**19), (0, 2**20)))
    big_b = TensorSlice(((2**19, 2**19), (0, 2**20)))
    cases: dict[str, Any] = {
        "huge-shape-float": ({b"h": entry(F32, [BIG, BIG], size=16)}, [eight * 2], None),
        "huge-shape-consistent-size": (
            {b"h": entry(U8, [2**31, 2**31], size=2**62)}, [eight], None),
        "huge-shape-string": ({b"h": entry(STR, [BIG, BIG], size=len(s))}, [s], None),
        "huge-string-1d": ({b"h": entry(STR, [2**62], size=len(s))}, [s], None),
        "string-length-over-64-bits": (
            {b"h": entry(STR, [1], size=14)}, [b"\xff" * 9 + b"\x7f" + bytes(4)], None),
        "string-count-exceeds-bytes": ({b"h": entry(STR, [100], size=len(s))}, [s], None),
        "size-past-eof": ({b"h": entry(F32, [4], size=16)}, [eight], None),
        "offset-past-eof": ({b"h": entry(F32, [2], offset=2**62, size=8)}, [eight], None),
        "offset-max": ({b"h": entry(F32, [2], offset=2**63 - 1, size=8)}, [eight], None),
        "negative-offset": ({b"h": entry(F32, [2], offset=-8, size=8)}, [eight], None),
        "negative-size": ({b"h": entry(STR, [0], size=-4)}, [eight], None),
        "string-size-past-eof": ({b"h": entry(STR, [2], size=1000)}, [s], None),
        "size-mismatch": ({b"h": entry(F32, [3], size=8, crc32c=crc(eight))}, [eight], None),
        "shard-out-of-range": ({b"h": entry(F32, [2], shard_id=1, size=8)}, [eight], None),
        "negative-shard": ({b"h": entry(F32, [2], shard_id=-1, size=8)}, [eight], None),
        "negative-dim": ({b"h": entry(F32, [-2], size=8)}, [eight], None),
        "negative-dim-zero-size": ({b"h": entry(F32, [-1, 0], size=0)}, [b""], None),
        "max-dim": ({b"h": entry(U8, [2**63 - 1], size=8)}, [eight], None),
        # Zero elements, so size 0 is consistent, but NumPy cannot represent the shape.
        "zero-size-huge-dims": ({b"h": entry(F32, [0, 2**31, 2**31], crc32c=crc(b""))},
                                [b""], None),
        "rank-255": ({b"h": entry(U8, [1] * 255, size=1)}, [b"\x00"], None),
        "rank-100": ({b"h": entry(U8, [1] * 100, size=1, crc32c=crc(b"\x00"))}, [b"\x00"], None),
        "unknown-rank": ({b"h": entry(F32, [2], size=8, unknown_rank=True)}, [eight], None),
        "not-a-proto": ({b"h": b"\xff\xff\xff"}, [eight], None),
        "truncated-proto": ({b"h": entry(F32, [2], size=8)[:-2]}, [eight], None),
        "bad-crc": ({b"h": entry(F32, [2], size=8, crc32c=123)}, [eight], None),
        "dtype-invalid": ({b"h": entry(0, [2], size=8)}, [eight], None),
        "dtype-resource": ({b"h": entry(20, [], size=8)}, [eight], None),
        "dtype-variant": ({b"h": entry(21, [1], size=8)}, [eight], None),
        "dtype-ref": ({b"h": entry(101, [2], size=8, crc32c=crc(eight))}, [eight], None),
        "dtype-unknown": ({b"h": entry(999, [2], size=8)}, [eight], None),
        "dtype-negative": ({b"h": entry(-5, [2], size=8)}, [eight], None),
        "slice-entries-missing": ({b"h": entry(F32, [2], slices=[half, other])}, [eight], None),
        "one-slice-entry-missing": (
            {b"h": entry(F32, [2], slices=[half, other]),
             encode_slice_key(b"h", half): entry(F32, [1], size=4, crc32c=crc(eight[:4]))},
            [eight], None),
        "slice-wrong-shape": (
            {b"h": entry(F32, [2], slices=[half, other]),
             encode_slice_key(b"h", half): entry(F32, [2], size=8, crc32c=crc(eight)),
             encode_slice_key(b"h", other): entry(F32, [1], size=4, crc32c=crc(eight[:4]))},
            [eight], None),
        "slice-wrong-dtype": (
            {b"h": entry(F32, [2], slices=[half, other]),
             encode_slice_key(b"h", half): entry(U8, [1], size=1, crc32c=crc(b"\x01")),
             encode_slice_key(b"h", other): entry(F32, [1], size=4, crc32c=crc(eight[:4]))},
            [eight], None),
        "slice-entry-is-sliced": (
            {b"h": entry(F32, [2], slices=[half, other]),
             encode_slice_key(b"h", half): entry(F32, [1], slices=[TensorSlice(((0, 1),))]),
             encode_slice_key(b"h", other): entry(F32, [1], size=4, crc32c=crc(eight[:4]))},
            [eight], None),
        "slice-out-of-range": ({b"h": entry(F32, [2], slices=[TensorSlice(((1, 5),))])},
                               [eight], None),
        "slice-negative-start": ({b"h": entry(F32, [2], slices=[TensorSlice(((-1, 2),))])},
                                 [eight], None),
        "slice-negative-length": ({b"h": entry(F32, [2], slices=[TensorSlice(((0, -3),))])},
                                  [eight], None),
        "slice-rank-mismatch": ({b"h": entry(F32, [2], slices=[TensorSlice(((0, 1), (0, 1)))])},
                                [eight], None),
        "slice-full-with-start": ({b"h": entry(F32, [2], slices=[TensorSlice(((1, FULL),))])},
                                  [eight], None),
        "slice-gap-huge-shape": (
            {b"h": entry(F32, [BIG, BIG], slices=[TensorSlice(((0, 1), (0, 1)))]),
             encode_slice_key(b"h", TensorSlice(((0, 1), (0, 1)))): entry(
                 F32, [1, 1], size=4, crc32c=crc(eight[:4]))},
            [eight], None),
        "sliced-huge-pieces-past-eof": (
            {b"h": entry(F32, [2**20, 2**20], slices=[big_a, big_b]),
             encode_slice_key(b"h", big_a): entry(F32, [2**19, 2**20], size=2**41),
             encode_slice_key(b"h", big_b): entry(F32, [2**19, 2**20], size=2**41)},
            [eight], None),
        "sliced-huge-strings": (
            {b"h": entry(STR, [2**40], slices=[TensorSlice(((0, 2**39),)),
                                               TensorSlice(((2**39, 2**39),))]),
             encode_slice_key(b"h", TensorSlice(((0, 2**39),))): entry(STR, [2**39], size=len(s)),
             encode_slice_key(b"h", TensorSlice(((2**39, 2**39),))): entry(
                 STR, [2**39], offset=0, size=len(s))},
            [s], None),
        "num-shards-zero": (ok, [eight], header(0)),
        "num-shards-negative": (ok, [eight], header(-3)),
        "num-shards-huge": (ok, [eight], header(2**31 - 1)),
        "version-producer-negative": (ok, [eight], header(1, producer=-1)),
        "version-min-consumer": (ok, [eight], header(1, min_consumer=2)),
        "version-bad-consumer": (ok, [eight], header(1, bad_consumers=[1])),
        "endianness-unknown": (ok, [eight], header(1, endianness=5)),
        "header-garbage": (ok, [eight], b"\xff\xff\xff\xff"),
        "header-missing": (ok, [eight], False),
    }
    return cases


CASE_NAMES = list(hostile_cases(lambda *a, **k: b"", lambda *a, **k: b""))


@pytest.mark.parametrize("case", CASE_NAMES)
def test_hostile_index(
    tmp_path: pathlib.Path,
    raw_checkpoint: Callable[..., str],
    entry_bytes: Callable[..., bytes],
    header_bytes: Callable[..., bytes],
    reads_all: Callable[..., str],
    time_limit: Callable[[float], AbstractContextManager[None]],
    case: str,
) -> None:
    entries, shards, header = hostile_cases(entry_bytes, header_bytes)[case]
    prefix = str(tmp_path / "m")
    if header is False:
        raw_checkpoint(prefix, entries, shards, with_header=False)
    else:
        raw_checkpoint(prefix, entries, shards, header=header)
    tracemalloc.start()
    try:
        with time_limit(10):
            outcome = reads_all(prefix)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome == "error"
    assert peak < 64 << 20, f"peak allocation {peak} bytes"


def test_hostile_header_errors_are_specific(
    tmp_path: pathlib.Path, raw_checkpoint: Callable[..., str], entry_bytes: Callable[..., bytes],
    header_bytes: Callable[..., bytes],
) -> None:
    prefix = str(tmp_path / "m")
    raw_checkpoint(prefix, {}, [b""], header=header_bytes(1, min_consumer=9))
    with pytest.raises(UnsupportedCheckpointError):
        ckpt.CheckpointReader(prefix)
    raw_checkpoint(prefix, {}, [b""], header=header_bytes(0))
    with pytest.raises(CorruptCheckpointError):
        ckpt.CheckpointReader(prefix)
    raw_checkpoint(prefix, {}, [b""], with_header=False)
    with pytest.raises(CorruptCheckpointError):
        ckpt.CheckpointReader(prefix)


def test_many_overlapping_slices_do_not_hang(
    tmp_path: pathlib.Path, raw_checkpoint: Callable[..., str], entry_bytes: Callable[..., bytes],
    time_limit: Callable[[float], AbstractContextManager[None]],
) -> None:
    """Row strips plus column strips: far more coverage work than a cell-by-cell check allows."""
    n = 300
    row = np.ones(n, np.uint8).tobytes()
    crc_row = crc(row)
    slices = [TensorSlice(((i, 1), (0, n))) for i in range(n)]
    slices += [TensorSlice(((0, n), (j, 1))) for j in range(n)]
    entries = {b"h": entry_bytes(U8, [n, n], slices=slices)}
    for s in slices:
        shape = [e[1] for e in s.extents]
        entries[encode_slice_key(b"h", s)] = entry_bytes(U8, shape, size=n, crc32c=crc_row)
    prefix = str(tmp_path / "m")
    raw_checkpoint(prefix, entries, [row])
    with time_limit(10), ckpt.CheckpointReader(prefix) as reader:
        assert reader.keys() == ["h"]
        assert (reader.get_tensor("h") == 1).all()
        assert reader.get_slice("h", (slice(10, 20), slice(5, 7))).shape == (10, 2)


def test_gap_hidden_behind_overlaps_is_detected(
    tmp_path: pathlib.Path, raw_checkpoint: Callable[..., str], entry_bytes: Callable[..., bytes],
    time_limit: Callable[[float], AbstractContextManager[None]],
) -> None:
    """Strips cover all but one element while their total volume exceeds the tensor's."""
    n = 300
    row = np.full(n, 7, np.uint8).tobytes()
    slices = [TensorSlice(((i, 1), (0, n))) for i in range(n - 1)]
    slices += [TensorSlice(((0, n), (j, 1))) for j in range(n - 1)]
    entries = {b"h": entry_bytes(U8, [n, n], slices=slices)}
    for s in slices:
        shape = [e[1] for e in s.extents]
        entries[encode_slice_key(b"h", s)] = entry_bytes(U8, shape, size=n, crc32c=crc(row))
    prefix = str(tmp_path / "m")
    raw_checkpoint(prefix, entries, [row])
    with time_limit(10), ckpt.CheckpointReader(prefix) as reader:
        with pytest.raises(CorruptCheckpointError):
            reader.get_tensor("h")
        assert (reader.get_slice("h", (slice(0, n - 1),)) == 7).all()


def test_many_tiny_slices_of_a_huge_tensor(
    tmp_path: pathlib.Path, raw_checkpoint: Callable[..., str], entry_bytes: Callable[..., bytes],
    time_limit: Callable[[float], AbstractContextManager[None]],
) -> None:
    """Enough pieces to leave the cell-by-cell coverage check, on a shape nobody can allocate."""
    slices = [TensorSlice(((i, 1), (0, 1))) for i in range(750)]
    # 2**62 elements: a valid TF shape (under 2**63), but no machine can hold it.
    entries = {b"h": entry_bytes(U8, [2**31, 2**31], slices=slices)}
    for s in slices:
        entries[encode_slice_key(b"h", s)] = entry_bytes(U8, [1, 1], size=1, crc32c=crc(b"\x01"))
    prefix = str(tmp_path / "m")
    raw_checkpoint(prefix, entries, [b"\x01"])
    with ckpt.CheckpointReader(prefix) as reader:
        tracemalloc.start()
        try:
            with time_limit(10):
                for read in (
                    lambda: reader.get_tensor("h"),
                    lambda: reader.get_slice("h", (slice(0, 751), slice(0, 1))),
                    lambda: reader.get_slice("h", (slice(0, 10**6),)),
                ):
                    with pytest.raises(CorruptCheckpointError):
                        read()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 64 << 20
        assert reader.get_slice("h", (slice(0, 750), 0)).tolist() == [1] * 750


def test_hostile_cases_can_fail(
    tmp_path: pathlib.Path, raw_checkpoint: Callable[..., str], entry_bytes: Callable[..., bytes],
    reads_all: Callable[..., str],
) -> None:
    """The helper itself: a valid crafted checkpoint reads "ok", wrong data is caught."""
    eight = np.array([1.0, 2.0], np.float32).tobytes()
    prefix = str(tmp_path / "m")
    raw_checkpoint(prefix, {b"ok": entry_bytes(F32, [2], size=8, crc32c=crc(eight))}, [eight])
    assert reads_all(prefix, {"ok": np.array([1.0, 2.0], np.float32)}) == "ok"
    with pytest.raises(AssertionError):
        reads_all(prefix, {"ok": np.array([1.0, 2.5], np.float32)})
    with pytest.raises(AssertionError):
        reads_all(prefix, {"ok": np.array([1.0, 2.0], np.float64)})


# --- fuzzing entries field by field ----------------------------------------------------------

DIMS = st.sampled_from([0, 1, 2, 3, 5, 2**31, 2**40, 2**62, 2**63 - 1, -1, -(2**40)])
OFFSETS = st.sampled_from([0, 1, 4, 7, 16, 2**40, 2**63 - 1, -1])
SIZES = st.sampled_from([0, 1, 2, 4, 8, 9, 16, 64, 2**40, 2**62, -1, -8])
DTYPES = st.sampled_from([*range(0, 34), 99, 101, 119, -1])


@st.composite
def fuzzed_entry(draw: st.DrawFn) -> dict[str, Any]:
    rank = draw(st.sampled_from([0, 1, 2, 3, 70]))
    shape = [1] * rank if rank == 70 else draw(st.lists(DIMS, min_size=rank, max_size=rank))
    fields: dict[str, Any] = {
        "dtype": draw(DTYPES),
        "shape": shape,
        "shard_id": draw(st.sampled_from([0, 0, 0, 1, 2, -1])),
        "offset": draw(OFFSETS),
        "size": draw(SIZES),
        "crc32c": draw(st.integers(0, 2**32 - 1)),
        "slices": [],
    }
    numpy_dtype = from_enum(fields["dtype"]).numpy
    volume = int(np.prod(shape, dtype=object)) if shape else 1
    numeric = numpy_dtype is not None and numpy_dtype.kind != "O"
    if draw(st.booleans()) and numeric and min(shape, default=0) >= 0 and volume < 2**20:
        fields["size"] = volume * numpy_dtype.itemsize  # passes the size check
    if draw(st.booleans()):
        for _ in range(draw(st.integers(1, 3))):
            ext = draw(st.lists(st.tuples(st.sampled_from([0, 1, 2, -1, 2**40]),
                                          st.sampled_from([-1, 0, 1, 2, 2**40])),
                                min_size=len(shape), max_size=len(shape) + (rank == 0)))
            fields["slices"].append(TensorSlice(tuple(ext)))
    return fields


_PINNED = {"dtype": U8, "shard_id": 0, "offset": 0, "size": 1, "crc32c": 0, "slices": []}


@settings(max_examples=150, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@example(entries=[dict(_PINNED, shape=[1] * 70)], slice_entries=False, fix_crcs=True,
         shards=[b"x"])
@example(entries=[dict(_PINNED, shape=[0, 2**40, 2**40], size=0)], slice_entries=False,
         fix_crcs=True, shards=[b""])
@given(
    entries=st.lists(fuzzed_entry(), min_size=1, max_size=4),
    slice_entries=st.booleans(),
    fix_crcs=st.booleans(),
    shards=st.lists(st.binary(max_size=64), min_size=1, max_size=3),
)
def test_fuzzed_entries(
    entries: list[dict[str, Any]], slice_entries: bool, fix_crcs: bool, shards: list[bytes],
    raw_checkpoint: Callable[..., str], entry_bytes: Callable[..., bytes],
    reads_all: Callable[..., str], time_limit: Callable[[float], AbstractContextManager[None]],
) -> None:
    def fixed(fields: dict[str, Any]) -> dict[str, Any]:
        """With ``fix_crcs``, give entries pointing inside a shard the right checksum."""
        shard, offset, size = fields["shard_id"], fields["offset"], fields["size"]
        inside = 0 <= shard < len(shards) and offset >= 0 and size >= 0
        if fix_crcs and inside and offset + size <= len(shards[shard]):
            return dict(fields, crc32c=crc(shards[shard][offset : offset + size]))
        return fields

    raw: dict[bytes, bytes] = {}
    for i, fields in enumerate(entries):
        name = f"t{i}".encode()
        raw[name] = entry_bytes(**fixed(fields))
        if slice_entries:
            for s in fields["slices"]:
                piece = dict(fields, slices=[], shape=[max(0, e[1]) for e in s.extents])
                raw[encode_slice_key(name, s)] = entry_bytes(**fixed(piece))
    with tempfile.TemporaryDirectory() as directory:
        prefix = os.path.join(directory, "m")
        raw_checkpoint(prefix, raw, shards)
        with time_limit(10):
            reads_all(prefix)
