"""Shared fixtures for the unit, property and corruption tests.

Helpers are exposed as fixtures (``raw_checkpoint``, ``entry_bytes``, ``read_all``,
``time_limit``) so test modules in ``tests/`` and ``tests/format/`` can use them without
importing this file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pytest

import ckpt
from ckpt.errors import CheckpointError
from ckpt.format import protos
from ckpt.format.table import build_table

# --- crafting checkpoints byte by byte -------------------------------------------------------


def make_entry(
    dtype: int,
    shape: Sequence[int] | None,
    *,
    shard_id: int = 0,
    offset: int = 0,
    size: int = 0,
    crc32c: int = 0,
    slices: Sequence[Any] = (),
    unknown_rank: bool = False,
) -> bytes:
    """A serialized ``BundleEntryProto`` built with ckpt's own protos (no validation)."""
    entry = protos.BundleEntryProto(
        dtype=dtype, shard_id=shard_id, offset=offset, size=size, crc32c=crc32c
    )
    if shape is not None:
        entry.shape.SetInParent()
        for d in shape:
            entry.shape.dim.add(size=d)
    if unknown_rank:
        entry.shape.unknown_rank = True
    for s in slices:
        entry.slices.append(s.to_proto() if hasattr(s, "to_proto") else s)
    return bytes(entry.SerializeToString())


def make_header(
    num_shards: int = 1,
    *,
    producer: int = 1,
    min_consumer: int = 0,
    bad_consumers: Sequence[int] = (),
    endianness: int = 0,
) -> bytes:
    header = protos.BundleHeaderProto(num_shards=num_shards, endianness=endianness)
    header.version.producer = producer
    header.version.min_consumer = min_consumer
    header.version.bad_consumers.extend(bad_consumers)
    return bytes(header.SerializeToString())


def write_raw_checkpoint(
    prefix: str,
    entries: Mapping[bytes, bytes],
    shards: Sequence[bytes] = (b"",),
    *,
    header: bytes | None = None,
    num_shards: int | None = None,
    with_header: bool = True,
) -> str:
    """Write an index built with ``build_table`` from raw entries, plus raw data shards.

    ``num_shards`` is what the file names say (defaults to ``len(shards)``); ``header`` defaults
    to a valid header declaring that many shards.
    """
    n = len(shards) if num_shards is None else num_shards
    items = dict(entries)
    if with_header:
        items[b""] = make_header(max(n, 1)) if header is None else header
    directory = os.path.dirname(prefix)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(prefix + ".index", "wb") as f:
        f.write(build_table(sorted(items.items())))
    for i, data in enumerate(shards):
        with open(f"{prefix}.data-{i:05d}-of-{max(n, 1):05d}", "wb") as f:
            f.write(data)
    return prefix


# --- reading everything, checking for data or a CheckpointError ------------------------------


def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype == object:
        pairs = zip(a.reshape(-1).tolist(), b.reshape(-1).tolist(), strict=True)
        return all(x == y for x, y in pairs)
    return bool(np.array_equal(a.reshape(-1).view(np.uint8), b.reshape(-1).view(np.uint8)))


def arrays_equal(a: Any, b: Any) -> bool:
    """Exact equality: same shape, dtype and bytes (object arrays element by element)."""
    return _equal(np.asarray(a), np.asarray(b))


def read_all(prefix: str, expected: Mapping[str, np.ndarray] | None = None) -> str:
    """Open ``prefix`` and read everything; return ``"ok"`` or ``"error"``.

    Every failure must be a :class:`ckpt.errors.CheckpointError`; any other exception
    propagates (failing the test). Each operation is tried on its own, so one bad tensor does
    not hide another. If ``expected`` is given, everything that did not fail must be
    identical to it: a corrupt file may fail, never return wrong data.
    """
    failed = False

    def attempt(operation: Callable[[], Any]) -> Any:
        nonlocal failed
        try:
            return operation()
        except CheckpointError:
            failed = True
            return None

    try:
        reader = ckpt.CheckpointReader(prefix)
    except CheckpointError:
        return "error"
    with reader:
        keys = reader.keys()
        if expected is not None:
            assert sorted(keys) == sorted(expected), (keys, sorted(expected))
        shapes = attempt(reader.get_variable_to_shape_map)
        attempt(reader.get_variable_to_dtype_map)
        attempt(reader.get_variable_to_tf_dtype_map)
        attempt(reader.debug_string)
        for key in keys:
            assert reader.has_tensor(key)
            value = attempt(lambda key=key: reader.get_tensor(key))
            if value is None:
                continue
            if shapes is not None:
                assert list(value.shape) == shapes[key]
            if expected is not None:
                assert arrays_equal(value, expected[key]), f"wrong data for {key!r}"
            if value.ndim:
                half = max(1, value.shape[0] // 2)
                part = attempt(lambda key=key, half=half: reader.get_slice(key, slice(0, half)))
                if part is not None:
                    assert arrays_equal(part, value[:half]), key
        for key in keys:
            attempt(lambda key=key: reader.verify(key))
        attempt(reader.verify)
    return "error" if failed else "ok"


# --- guarding against hangs ------------------------------------------------------------------


class TimeLimitExceeded(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`TimeLimitExceeded` if the block runs longer than ``seconds`` (main thread)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "setitimer"
    ):
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise TimeLimitExceeded(f"operation took longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def prefix(tmp_path: Any) -> str:
    """A fresh checkpoint prefix inside a temporary directory."""
    return str(tmp_path / "ckpt-1")


@pytest.fixture
def raw_checkpoint() -> Callable[..., str]:
    return write_raw_checkpoint


@pytest.fixture
def entry_bytes() -> Callable[..., bytes]:
    return make_entry


@pytest.fixture
def header_bytes() -> Callable[..., bytes]:
    return make_header


@pytest.fixture
def reads_all() -> Callable[..., str]:
    return read_all


@pytest.fixture
def same() -> Callable[[Any, Any], bool]:
    return arrays_equal


@pytest.fixture
def time_limit() -> Callable[[float], contextlib.AbstractContextManager[None]]:
    return _time_limit
