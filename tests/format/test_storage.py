"""Local-file helpers of ``storage.py``: block reservation before large writes."""

from __future__ import annotations

import io
import os
import pathlib
import sys

import numpy as np
import pytest

from ckpt.format import storage
from ckpt.format.bundle_reader import BundleReader
from ckpt.format.bundle_writer import BundleWriter

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fallocate(2)")


@linux_only
def test_reserve_allocates_blocks_without_changing_the_size(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f"
    with open(path, "wb") as f:
        f.write(b"abc")
        f.flush()
        assert storage.reserve(f, 3, 8 << 20)
        assert os.fstat(f.fileno()).st_size == 3
        assert os.fstat(f.fileno()).st_blocks * 512 >= 8 << 20  # the blocks exist already
        f.write(b"d" * 10)
    assert path.read_bytes() == b"abc" + b"d" * 10


def test_reserve_is_a_no_op_where_it_cannot_apply(tmp_path: pathlib.Path) -> None:
    assert not storage.reserve(io.BytesIO(), 0, 1 << 20)  # no file descriptor
    with open(tmp_path / "f", "wb") as f:
        assert not storage.reserve(f, 0, 0)
    closed = open(tmp_path / "g", "wb")  # noqa: SIM115 - closed on purpose
    closed.close()
    assert not storage.reserve(closed, 0, 1 << 20)


@linux_only
def test_reserve_failure_is_only_a_hint(tmp_path: pathlib.Path) -> None:
    with open(tmp_path / "f", "wb") as f:
        assert not storage.reserve(f, -1, 1 << 20)  # EINVAL: nothing reserved, no error
        f.write(b"x")
    assert (tmp_path / "f").read_bytes() == b"x"


def test_writer_output_is_unchanged_by_reservation(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Large tensors interleaved with small, buffered ones: reservations at the logical offset
    # must not disturb what the buffer writes later. The bytes equal an unreserved write.
    rng = np.random.default_rng(0)
    tensors = {
        "a": rng.standard_normal(10).astype(np.float32),
        "b": rng.standard_normal(1 << 19).astype(np.float32),  # 2 MiB
        "c": rng.integers(0, 9, 100).astype(np.int64),
        "d": rng.standard_normal(1 << 18).astype(np.float64),  # 2 MiB
    }

    def write(prefix: str) -> bytes:
        with BundleWriter(prefix, num_shards=2) as w:
            for name, value in tensors.items():
                w.add(name, value, shard=0)
        return pathlib.Path(prefix + ".data-00000-of-00002").read_bytes()

    reserved = write(str(tmp_path / "reserved"))
    monkeypatch.setattr(storage, "_FALLOCATE", None)
    plain = write(str(tmp_path / "plain"))
    assert reserved == plain
    reader = BundleReader(str(tmp_path / "reserved"))
    for name, value in tensors.items():
        assert np.array_equal(reader.read(name), value)
    reader.close()
