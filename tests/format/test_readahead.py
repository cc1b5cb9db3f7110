"""``readahead=False``: a reader fetches exactly the bytes of what it reads, and nothing more."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ckpt
from ckpt.format import bundle_reader


@pytest.fixture
def fetched(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    calls: list[tuple[int, int]] = []
    real = bundle_reader._prefetch

    def record(fd: int, offset: int, size: int) -> None:
        calls.append((offset, size))
        real(fd, offset, size)

    monkeypatch.setattr(bundle_reader, "_prefetch", record)
    return calls


def _checkpoint(tmp_path: Path) -> tuple[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    values = {
        "small": rng.standard_normal(100).astype(np.float32),  # one chunk: the fast path
        "big": rng.standard_normal((3 << 20) // 4 * 4).astype(np.float32),  # 12 MiB
        "other": rng.standard_normal(50).astype(np.float32),
    }
    sliced = rng.standard_normal((8, 4)).astype(np.float32)
    with ckpt.CheckpointWriter(str(tmp_path / "c")) as writer:
        for name, value in values.items():
            writer.add(name, value)
        writer.add_slice("sliced", sliced[:4], full_shape=(8, 4), offset=(0, 0))
        writer.add_slice("sliced", sliced[4:], full_shape=(8, 4), offset=(4, 0))
    values["sliced"] = sliced
    return writer.prefix, values


def test_whole_tensors_fetch_exactly_their_bytes(
    tmp_path: Path, fetched: list[tuple[int, int]]
) -> None:
    prefix, values = _checkpoint(tmp_path)
    reader = ckpt.CheckpointReader(prefix, readahead=False)
    for name in ("small", "big"):
        np.testing.assert_array_equal(reader.get_tensor(name), values[name])
    assert [size for _, size in fetched] == [values["small"].nbytes, values["big"].nbytes]
    assert fetched[0][0] != fetched[1][0]
    fetched.clear()
    np.testing.assert_array_equal(reader.get_tensor("sliced"), values["sliced"])
    assert sorted(size for _, size in fetched) == [64, 64]  # each stored slice, once
    reader.close()


def test_unverified_region_fetches_only_its_rows(
    tmp_path: Path, fetched: list[tuple[int, int]]
) -> None:
    prefix, values = _checkpoint(tmp_path)
    reader = ckpt.CheckpointReader(prefix, readahead=False, verify=False)
    np.testing.assert_array_equal(reader.get_slice("sliced", np.s_[1:3]), values["sliced"][1:3])
    assert [size for _, size in fetched] == [2 * 4 * 4]  # rows 1..2 of the first slice
    reader.close()


def test_default_reader_fetches_nothing_itself(
    tmp_path: Path, fetched: list[tuple[int, int]]
) -> None:
    prefix, values = _checkpoint(tmp_path)
    reader = ckpt.CheckpointReader(prefix)
    np.testing.assert_array_equal(reader.get_tensor("big"), values["big"])
    assert fetched == []  # the kernel's readahead serves the memory map
    reader.close()
