"""Checksums and copies of large buffers split across a small shared pool of threads.

One core cannot keep up with memory when it must both checksum and copy a tensor: the
CRC32C pass alone costs as much as the copy. The reader and writer therefore hand buffers of
at least :data:`MIN_PARALLEL_BYTES` to :func:`checksum` and :func:`copy`, which cut them into
one contiguous part per worker; each part is processed in chunks by a GIL-free call
(:func:`ckpt.format.crc.crc32c_nogil`, NumPy's copy), and the parts' checksums are joined with
:func:`ckpt.format.crc.crc32c_combine`.

The pool has ``min(8, usable CPUs)`` threads, or ``CKPT_IO_THREADS`` if that environment
variable is set to a positive integer (``1`` turns the parallel paths off; anything else is
ignored with a warning). It is created on first use, is not
inherited across ``fork`` (the child makes its own) and is never entered from its own
threads, so nested calls cannot deadlock.
"""

from __future__ import annotations

import itertools
import os
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from ckpt.format.crc import RELEASES_GIL, crc32c_combine, crc32c_nogil

#: Buffers smaller than this are processed by the calling thread alone.
MIN_PARALLEL_BYTES = 4 << 20
#: Each worker walks its part in chunks of this size (``on_chunk`` is called after each).
CHUNK_BYTES = 8 << 20
_MAX_WORKERS = 8

OnChunk = Callable[[int, int], None]

_pool: ThreadPoolExecutor | None = None
_POOL_LIMIT = 64  # most threads the pool may start (CKPT_IO_THREADS is capped to it)
_pool_lock = threading.Lock()
_in_worker = threading.local()
_warned: set[str] = set()


def workers() -> int:
    """How many threads share a large checksum or copy (1: no parallelism)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    default = max(1, min(_MAX_WORKERS, usable))
    configured = os.environ.get("CKPT_IO_THREADS")
    if configured:
        try:
            count = int(configured)
        except ValueError:
            count = 0
        if count >= 1:
            return min(count, _POOL_LIMIT)
        if configured not in _warned:
            # A bad setting must not break reads: say so once and use the default.
            _warned.add(configured)
            warnings.warn(
                f"CKPT_IO_THREADS={configured!r} is not a positive integer; using {default}",
                RuntimeWarning,
                stacklevel=2,
            )
    return default


def _executor() -> ThreadPoolExecutor:
    """The shared pool. Its threads start on demand, up to :data:`_POOL_LIMIT`; each call
    submits as many parts as :func:`workers` says, so the setting can change at any time
    without replacing a pool another thread may be using."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_POOL_LIMIT, thread_name_prefix="ckpt-io")
        return _pool


def _forget_pool() -> None:
    """In a forked child, the parent's threads do not exist: start from no pool."""
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _parts(size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` byte ranges, one per worker, or one range when not worth splitting."""
    if size < MIN_PARALLEL_BYTES or getattr(_in_worker, "active", False):
        return [(0, size)]
    count = workers()
    if count == 1:
        return [(0, size)]
    count = min(count, max(1, size // (MIN_PARALLEL_BYTES // 2)))
    bounds = [size * k // count for k in range(count + 1)]
    return list(itertools.pairwise(bounds))


def _run(parts: list[tuple[int, int]], task: Callable[[int, int], int]) -> list[int]:
    """``task(start, stop)`` for every part: on the pool if there are several, in order."""
    if len(parts) == 1:
        return [task(*parts[0])]

    def in_worker(start: int, stop: int) -> int:
        _in_worker.active = True
        try:
            return task(start, stop)
        finally:
            _in_worker.active = False

    futures: list[Future[int]] = []
    try:
        pool = _executor()
        for start, stop in parts:
            futures.append(pool.submit(in_worker, start, stop))
    except RuntimeError:
        # The interpreter is shutting down (an atexit handler saving a checkpoint): no new
        # threads; what was not submitted runs here, after the submitted parts.
        pass
    results: list[int] = []
    error: BaseException | None = None
    try:
        results.extend(task(start, stop) for start, stop in parts[len(futures) :])
    except BaseException as exc:
        error = exc
    # Wait for every submitted part, even after a failure or a Ctrl-C, so that no worker
    # still touches the buffers (a caller's ``out``) once this returns or raises.
    done: list[int] = []
    for future in futures:
        while True:
            try:
                done.append(future.result())
                break
            except BaseException as exc:
                if future.done():
                    error = error or exc
                    break
                error = error or exc  # interrupted while waiting: wait again
    if error is not None:
        raise error
    return done + results


def _as_bytes(array: np.ndarray) -> np.ndarray:
    """A C-contiguous array as flat ``uint8`` (parts and chunks are counted in bytes)."""
    if not array.flags.c_contiguous:
        raise ValueError("parallel checksums and copies need C-contiguous arrays")
    return array.reshape(-1).view(np.uint8)


def checksum(data: np.ndarray, *, on_chunk: OnChunk | None = None) -> int:
    """CRC32C of a C-contiguous ``uint8`` array; large ones on several threads.

    ``on_chunk(start, stop)`` is called (from any thread) after each chunk has been read.
    """
    data = _as_bytes(data)
    parts = _parts(data.nbytes) if RELEASES_GIL else [(0, data.nbytes)]

    def part_crc(start: int, stop: int) -> int:
        crc = 0
        for chunk in range(start, stop, CHUNK_BYTES):
            end = min(chunk + CHUNK_BYTES, stop)
            crc = crc32c_nogil(data[chunk:end], crc)
            if on_chunk is not None:
                on_chunk(chunk, end)
        return crc

    crcs = _run(parts, part_crc)
    total = crcs[0]
    for (start, stop), crc in zip(parts[1:], crcs[1:], strict=True):
        total = crc32c_combine(total, crc, stop - start)
    return total


def copy(dst: np.ndarray, src: np.ndarray, *, on_chunk: OnChunk | None = None) -> None:
    """Copy ``src`` into ``dst`` (C-contiguous ``uint8`` arrays of one size); large ones on
    several threads. ``on_chunk(start, stop)`` is called after each chunk is copied."""
    dst, src = _as_bytes(dst), _as_bytes(src)
    if dst.nbytes != src.nbytes:
        raise ValueError(f"copy of {src.nbytes} bytes into {dst.nbytes}")

    def part_copy(start: int, stop: int) -> int:
        for chunk in range(start, stop, CHUNK_BYTES):
            end = min(chunk + CHUNK_BYTES, stop)
            np.copyto(dst[chunk:end], src[chunk:end])
            if on_chunk is not None:
                on_chunk(chunk, end)
        return 0

    _run(_parts(src.nbytes), part_copy)
