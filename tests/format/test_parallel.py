"""Parallel checksums and copies: the same results as one thread, chunk callbacks, the pool."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from ckpt.format import parallel
from ckpt.format.crc import crc32c

SIZES = [0, 1, parallel.MIN_PARALLEL_BYTES - 1, parallel.MIN_PARALLEL_BYTES, 3 * (4 << 20) + 17]


def random_bytes(size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8)


@pytest.fixture(params=["1", "2", "3"])
def threads(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("CKPT_IO_THREADS", request.param)
    return int(request.param)


@pytest.mark.parametrize("size", SIZES)
def test_checksum_equals_one_thread(threads: int, size: int) -> None:
    data = random_bytes(size)
    assert parallel.checksum(data) == crc32c(data)


@pytest.mark.parametrize("size", SIZES)
def test_copy_copies_every_byte(threads: int, size: int) -> None:
    src = random_bytes(size, seed=1)
    dst = np.zeros_like(src)
    parallel.copy(dst, src)
    assert np.array_equal(dst, src)


def test_copy_rejects_size_mismatch() -> None:
    with pytest.raises(ValueError, match="copy of 3 bytes into 2"):
        parallel.copy(np.zeros(2, np.uint8), np.zeros(3, np.uint8))


def test_chunks_cover_the_buffer_exactly_once(threads: int) -> None:
    size = 5 * parallel.CHUNK_BYTES + 123
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def record(start: int, stop: int) -> None:
        with lock:
            seen.append((start, stop))

    parallel.checksum(random_bytes(size), on_chunk=record)
    seen.sort()
    assert seen[0][0] == 0 and seen[-1][1] == size
    assert all(a[1] == b[0] for a, b in itertools.pairwise(seen))
    assert all(stop - start <= parallel.CHUNK_BYTES for start, stop in seen)


def test_large_buffers_use_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CKPT_IO_THREADS", "2")
    names = set()
    both_running = threading.Barrier(2, timeout=30)  # breaks unless two parts run at once

    def record(start: int, stop: int) -> None:
        names.add(threading.current_thread().name)
        if start in (0, 8 << 20):
            both_running.wait()

    parallel.copy(np.zeros(16 << 20, np.uint8), random_bytes(16 << 20), on_chunk=record)
    assert len(names) == 2 and all(n.startswith("ckpt-io") for n in names)


def test_small_buffers_stay_on_the_calling_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CKPT_IO_THREADS", "4")
    names = set()
    parallel.checksum(random_bytes(1000), on_chunk=lambda a, b: names.add(threading.get_ident()))
    assert names == {threading.get_ident()}


def test_an_error_in_one_part_is_raised_after_every_part_ended(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CKPT_IO_THREADS", "2")
    finished = []

    def fail_first(start: int, stop: int) -> None:
        if start == 0:
            raise OSError("disk gone")
        finished.append(stop)

    size = 2 * parallel.MIN_PARALLEL_BYTES
    with pytest.raises(OSError, match="disk gone"):
        parallel.copy(np.zeros(size, np.uint8), random_bytes(size), on_chunk=fail_first)
    assert finished and finished[-1] == size  # the other part ran to its end


def test_nested_calls_from_a_callback_do_not_deadlock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CKPT_IO_THREADS", "2")
    inner = random_bytes(2 * parallel.MIN_PARALLEL_BYTES, seed=3)
    results = []

    def nested(start: int, stop: int) -> None:
        results.append(parallel.checksum(inner))  # runs inline inside a worker

    size = 2 * parallel.MIN_PARALLEL_BYTES
    parallel.checksum(random_bytes(size), on_chunk=nested)
    assert results and set(results) == {crc32c(inner)}


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_invalid_thread_setting_warns_and_uses_the_default(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.delenv("CKPT_IO_THREADS", raising=False)
    default = parallel.workers()
    monkeypatch.setenv("CKPT_IO_THREADS", value)
    monkeypatch.setattr(parallel, "_warned", set())
    with pytest.warns(RuntimeWarning, match="CKPT_IO_THREADS"):
        assert parallel.workers() == default
    data = random_bytes(2 * parallel.MIN_PARALLEL_BYTES)
    assert parallel.checksum(data) == crc32c(data)  # reads keep working


def test_default_is_bounded_by_the_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CKPT_IO_THREADS", raising=False)
    assert 1 <= parallel.workers() <= min(8, os.cpu_count() or 1)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_child_gets_its_own_pool() -> None:
    # The parent's pool threads do not exist in a child; using the inherited pool would hang.
    script = (
        "import os, numpy as np\n"
        "os.environ['CKPT_IO_THREADS'] = '2'\n"
        "from ckpt.format import parallel\n"
        "from ckpt.format.crc import crc32c\n"
        "data = np.arange(16 << 20, dtype=np.uint32).view(np.uint8)[: 16 << 20]\n"
        "expected = parallel.checksum(data)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os._exit(0 if parallel.checksum(data) == expected == crc32c(data) else 1)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "raise SystemExit(os.waitstatus_to_exitcode(status))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], timeout=60, check=False)
    assert result.returncode == 0


def test_changing_the_setting_never_breaks_a_call_in_another_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = random_bytes(2 * parallel.MIN_PARALLEL_BYTES, seed=5)
    expected = crc32c(data)
    failures: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                assert parallel.checksum(data) == expected
            except BaseException as exc:  # collected for the assertion below
                failures.append(exc)
                return

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for n in range(400):
        monkeypatch.setenv("CKPT_IO_THREADS", str(2 + n % 2))
        time.sleep(0.001)
    stop.set()
    for thread in threads:
        thread.join()
    assert failures == []


def test_arrays_of_any_dtype_are_split_by_bytes(threads: int) -> None:
    values = np.random.default_rng(1).standard_normal(3 << 20).astype(np.float32)
    assert parallel.checksum(values) == crc32c(values)
    out = np.zeros_like(values)
    parallel.copy(out, values)
    assert np.array_equal(out, values)


def test_interrupted_wait_still_waits_for_every_part(monkeypatch: pytest.MonkeyPatch) -> None:
    # A Ctrl-C while waiting must not let a worker keep writing into the caller's array after
    # the call has raised: the interrupted wait is resumed before anything is raised.
    import signal

    monkeypatch.setenv("CKPT_IO_THREADS", "2")
    size = 2 * parallel.CHUNK_BYTES
    src, dst = random_bytes(size), np.zeros(size, np.uint8)
    finished: list[float] = []

    def slow_first_part(start: int, stop: int) -> None:
        if start == 0:
            time.sleep(0.6)
            finished.append(time.monotonic())

    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        parallel.copy(dst, src, on_chunk=slow_first_part)
    raised_at = time.monotonic()
    timer.join()
    assert finished and finished[0] <= raised_at


def test_parts_run_on_the_calling_thread_when_the_pool_refuses_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # After interpreter shutdown has begun (an atexit handler saving), submit() raises.
    monkeypatch.setenv("CKPT_IO_THREADS", "2")

    class Closed:
        def submit(self, *args: object) -> None:
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    monkeypatch.setattr(parallel, "_executor", lambda: Closed())
    data = random_bytes(2 * parallel.MIN_PARALLEL_BYTES, seed=9)
    assert parallel.checksum(data) == crc32c(data)
