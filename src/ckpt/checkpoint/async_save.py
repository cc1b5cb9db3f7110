"""Background writer for ``CheckpointOptions(enable_async=True)`` saves.

Each :class:`ckpt.Checkpoint` owns at most one :class:`AsyncSaver`, created on its first
asynchronous save: a single-worker thread pool plus the one pending job. Submitting a job first
waits for the previous one, so at most one snapshot (one copy of the model in host memory) is
ever pending. A failed job's exception is kept and raised by the next :meth:`AsyncSaver.wait`
(every save, write, restore, read and ``sync`` call of the checkpoint waits first). At
interpreter exit every pending job is waited for (``atexit``); the commit protocol of
:class:`ckpt.writer.CheckpointWriter` means an interrupted write is never visible anyway.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from ckpt.errors import CheckpointError

__all__ = ["AsyncSaver"]

_live: weakref.WeakSet[AsyncSaver] = weakref.WeakSet()
_live_lock = threading.Lock()


class AsyncSaver:
    """One background thread writing one checkpoint's snapshots, one at a time."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ckpt-async-save")
        self._pending: Future[None] | None = None
        self._pending_path = ""
        self._error: BaseException | None = None
        self._error_path = ""
        with _live_lock:
            _live.add(self)

    @property
    def pending(self) -> bool:
        """Whether a submitted job has not been waited for yet."""
        return self._pending is not None

    def submit(self, path: str, job: Callable[[], None]) -> None:
        """Wait for the previous job (raising its error), then run ``job`` in the background."""
        self.wait()
        self._pending = self._executor.submit(job)
        self._pending_path = path

    def _join(self) -> None:
        """Wait for the pending job; keep its exception for :meth:`wait` to raise."""
        future, self._pending = self._pending, None
        if future is None:
            return
        exc = future.exception()
        if exc is not None and self._error is None:
            self._error, self._error_path = exc, self._pending_path

    def wait(self) -> None:
        """Wait for the pending job; raise (once) the error of a failed one.

        Raises:
            CheckpointError: the background save failed. A ckpt error is raised as it is (a
                distributed save's ``DistributedCheckpointError`` stays one); any other is
                chained as ``__cause__`` of a ``CheckpointError``.
        """
        self._join()
        exc, self._error = self._error, None
        if isinstance(exc, CheckpointError):
            raise exc
        if exc is not None:
            raise CheckpointError(
                f"the asynchronous save of {self._error_path} failed: "
                f"{type(exc).__name__}: {exc}",
                path=self._error_path,
            ) from exc


def _wait_all_at_exit() -> None:
    """Let every pending asynchronous save finish before the interpreter exits."""
    with _live_lock:
        savers = list(_live)
    for saver in savers:
        with contextlib.suppress(Exception):
            saver._join()
        if saver._error is not None:
            # Nobody is left to raise it to: report it the way an unhandled error would be.
            import sys
            import traceback

            print(
                f"ckpt: the asynchronous save of {saver._error_path} failed:", file=sys.stderr
            )
            traceback.print_exception(saver._error, file=sys.stderr)
            saver._error = None


atexit.register(_wait_all_at_exit)
