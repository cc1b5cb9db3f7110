"""``ckpt.CheckpointManager``: TF's ``tf.train.CheckpointManager`` — numbered saves, retention.

The manager saves ``directory/<checkpoint_name>-<N>`` through the checkpoint's ``write`` path,
keeps the newest ``max_to_keep`` (plus one every ``keep_checkpoint_every_n_hours``) and records
them, with their save timestamps, in the ``checkpoint`` state file exactly as TF does, so TF's
manager and ckpt's can take over each other's directories.

Differences from TF, all on the side of safety:

* Order of a save: the new checkpoint is committed (data, then index), then the state file is
  replaced atomically listing only the kept checkpoints, and only then are the dropped
  checkpoints' files deleted. TF writes the state file twice around the deletion; the final
  contents are the same. A crash can leave unreferenced files behind, never a state file
  naming deleted ones. ``CheckpointOptions(sync=True)`` fsyncs the checkpoint and the state
  file and their directory.
* Recovering the list from an existing state file drops entries whose ``.index`` is gone
  (TF keeps them, and fails later when it tries to restore one).
* :meth:`CheckpointManager.restore_latest` (and :meth:`~CheckpointManager.restore_or_initialize`)
  verify the checksums of the latest checkpoint before restoring it and fall back to the newest
  intact one; what was skipped, and why, is in :attr:`CheckpointManager.skipped`.
* A local directory is locked by an exclusive lock file from a manager's first save until
  :meth:`CheckpointManager.close`; a second manager saving to it raises
  :class:`~ckpt.errors.CheckpointLockedError` (managers that only restore never lock). A lock
  left by a dead process on the same host is taken over. Directories given as URLs are not locked.
* After each save (once the new checkpoint and the state file are committed) the leftovers of
  interrupted saves in a local directory are deleted: every ``*.tempstate<digits>`` file that
  is not being written by a save in progress in this process (readers never look at those),
  and ``<checkpoint_name>-<N>.data-*`` files whose ``.index`` is missing (an interrupted save
  or deletion) unless ``<checkpoint_name>-<N>`` is one of the manager's checkpoints. Only files
  last modified before this manager took the directory's lock are leftovers: anything newer
  belongs to a writer that is still running. Complete
  checkpoints (with an ``.index``) that the manager no longer lists are never touched.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import glob
import json
import math
import os
import re
import secrets
import socket
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ckpt.checkpoint.saver import CheckpointOptions, Status
from ckpt.checkpoint_management import (
    checkpoint_exists,
    get_checkpoint_state,
    update_checkpoint_state,
)
from ckpt.errors import (
    CheckpointError,
    CheckpointLockedError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    InvalidTensorError,
)
from ckpt.format import naming, storage
from ckpt.reader import CheckpointReader

if TYPE_CHECKING:
    from collections.abc import Callable

    from ckpt.checkpoint.checkpoint import Checkpoint

__all__ = ["LOCK_FILENAME", "METRICS_FILENAME", "CheckpointManager", "SkippedCheckpoint"]

LOCK_FILENAME = ".ckpt-manager.lock"
"""Name of the lock file a manager holds in its (local) directory while it is open."""

METRICS_FILENAME = "checkpoint.metrics.json"
"""Name of the sidecar file recording the metrics given to :meth:`CheckpointManager.save`."""

_TEMP_RE = re.compile(re.escape(naming.TEMP_MARKER) + r"\d+$")
_STATE_TEMP = "checkpoint" + naming.TEMP_MARKER
_DATA_RE = re.compile(r"(.+)\.data-\d{5}-of-\d{5}")


def _now() -> float:
    """The clock used for checkpoint timestamps (tests replace it)."""
    return time.time()


def _evaluate(value: Any) -> int:
    """An int from an int, a numpy scalar, or a variable (anything with ``numpy()``)."""
    if hasattr(value, "numpy"):
        value = value.numpy()
    return int(np.asarray(value))


@dataclass(frozen=True)
class SkippedCheckpoint:
    """A checkpoint a fallback restore passed over: its prefix, why, and the error raised."""

    path: str
    reason: str
    error: CheckpointError | OSError


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


class _DirectoryLock:
    """An exclusive lock file (``O_CREAT | O_EXCL``) naming its holder's pid and hostname."""

    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory or ".", LOCK_FILENAME)
        self._token = secrets.token_hex(8)
        self._held = False

    def _contents(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "hostname": socket.gethostname(), "token": self._token}

    def _try_create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self._contents(), f)
        return True

    def _owner(self) -> dict[str, Any] | None:
        try:
            with open(self.path, encoding="utf-8") as f:
                owner = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return None
        return owner if isinstance(owner, dict) else None

    def acquire(self) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        collected = False
        for _ in range(4):
            if self._try_create():
                self._held = True
                return
            owner = self._owner()
            if owner == {}:
                continue  # released meanwhile: try again
            if (
                not collected
                and owner is not None
                and owner.get("pid") == os.getpid()
                and owner.get("hostname") == socket.gethostname()
            ):
                # Held in this process: perhaps by a manager nothing references any more but
                # a reference cycle keeps uncollected; collecting it releases the lock.
                collected = True
                gc.collect()
                continue
            stale = (
                owner is not None
                and owner.get("hostname") == socket.gethostname()
                and isinstance(owner.get("pid"), int)
                and owner["pid"] != os.getpid()
                and not _pid_alive(owner["pid"])
            )
            if not stale:
                who = (
                    f"process {owner.get('pid')} on host {owner.get('hostname')}"
                    if owner
                    else "an unknown owner (unreadable lock file)"
                )
                raise CheckpointLockedError(
                    f"the checkpoint directory {os.path.dirname(self.path) or '.'} is in use by "
                    f"another CheckpointManager ({who}); two managers writing one directory "
                    "would delete each other's checkpoints. Close the other manager, or, if it "
                    f"is certainly gone, delete {self.path}",
                    path=self.path,
                    owner=owner,
                )
            # The holder died without releasing: take the lock over.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        raise CheckpointLockedError(
            f"could not take the lock {self.path}: another process keeps taking it",
            path=self.path,
        )

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        owner = self._owner()
        if owner and owner.get("token") == self._token:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


class CheckpointManager:
    """Saves numbered checkpoints of a :class:`ckpt.Checkpoint` and keeps only some of them.

    Args:
        checkpoint: the :class:`ckpt.Checkpoint` to save and restore.
        directory: where checkpoints and the ``checkpoint`` state file live.
        max_to_keep: how many checkpoints to keep (oldest deleted first); ``None`` keeps all.
        keep_checkpoint_every_n_hours: a checkpoint dropped from the kept set is preserved
            (never deleted, no longer listed) if it is at least this many hours newer than the
            last preserved one.
        checkpoint_name: the prefix's base name: checkpoints are ``directory/<name>-<N>``.
        step_counter: a variable (or anything with ``numpy()``) giving the current step;
            required with ``checkpoint_interval``.
        checkpoint_interval: save only when at least this many steps passed since the last save.
        init_fn: called by :meth:`restore_or_initialize` when there is no checkpoint.
        last_checkpoint_step: the step of the last save, the start for ``checkpoint_interval``.
        keep_every_k_steps: checkpoints whose number is a multiple of this are kept forever
            (never deleted; like ``keep_checkpoint_every_n_hours``, no longer listed in the
            state file once they leave the newest ``max_to_keep``).
        keep_best: also keep the this-many best checkpoints by the ``metric`` given to
            :meth:`save`, in addition to the newest ``max_to_keep``.
        mode: ``"min"`` (the default; lower is better, e.g. a loss) or ``"max"``.

    Retention: a checkpoint leaving the newest ``max_to_keep`` (the ones listed in the state
    file, as in TF) is deleted unless one of the rules keeps it: it is preserved by
    ``keep_checkpoint_every_n_hours`` (TF's rule, forever), its number is a multiple of
    ``keep_every_k_steps`` (forever), or it is among the ``keep_best`` best by metric (for as
    long as it stays among them: when better checkpoints arrive, it is deleted then). The best
    are chosen among all existing checkpoints saved with a metric, including the recent and the
    forever-kept ones (ties go to the older checkpoint); checkpoints saved without a metric are
    never among them. Checkpoints kept by these rules are not listed in the state file, so
    :meth:`restore_latest` never falls back to them; :attr:`metrics` and
    :attr:`best_checkpoints` name them. The metrics (and which checkpoints TF's hour rule
    preserved) are kept in ``checkpoint.metrics.json`` next to the state file, written
    atomically just before it, so a new manager recovers them; TF ignores that file.

    A new manager on a directory that has a state file picks up its checkpoints, timestamps
    and ``last_preserved_timestamp``. It locks a local directory until :meth:`close` (also
    called by ``with`` and at interpreter exit).

    Raises:
        InvalidTensorError: ``max_to_keep`` is not positive, or ``checkpoint_interval`` is
            given without ``step_counter``.
        CheckpointLockedError: another open manager holds the directory.
    """

    def __init__(
        self,
        checkpoint: Checkpoint,
        directory: str | os.PathLike[str],
        max_to_keep: int | None = 5,
        *,
        keep_checkpoint_every_n_hours: float | None = None,
        checkpoint_name: str = "ckpt",
        step_counter: Any = None,
        checkpoint_interval: int | None = None,
        init_fn: Callable[[], object] | None = None,
        last_checkpoint_step: int | None = None,
        keep_every_k_steps: int | None = None,
        keep_best: int | None = None,
        mode: str = "min",
    ) -> None:
        if max_to_keep is not None and max_to_keep <= 0:
            raise InvalidTensorError(
                f"Expected a positive integer or `None` for `max_to_keep`, got {max_to_keep}."
            )
        if checkpoint_interval is not None and step_counter is None:
            raise InvalidTensorError(
                "`step_counter` should be passed if `checkpoint_interval` is not None."
            )
        for name, value in (("keep_every_k_steps", keep_every_k_steps), ("keep_best", keep_best)):
            if value is not None and (isinstance(value, bool) or value <= 0):
                raise InvalidTensorError(
                    f"Expected a positive integer or `None` for `{name}`, got {value!r}."
                )
        if mode not in ("min", "max"):
            raise InvalidTensorError(f'`mode` must be "min" or "max", got {mode!r}.')
        self._keep_every_k_steps = keep_every_k_steps
        self._keep_best = keep_best
        self._mode = mode
        self._checkpoint = checkpoint
        self._max_to_keep = max_to_keep
        self._keep_every_n_hours = keep_checkpoint_every_n_hours
        self._directory = storage.normalize(directory)
        self._prefix = storage.join(self._directory, checkpoint_name)
        self._init_fn = init_fn
        self._step_counter = step_counter
        self._checkpoint_interval = checkpoint_interval
        self._last_checkpoint_step = last_checkpoint_step
        self.skipped: list[SkippedCheckpoint] = []
        """Checkpoints the last :meth:`restore_latest` passed over, newest first."""
        self.restore_status: Status | None = None
        """The status of the last restore made by this manager, for assertions."""

        # Taken by the first save, so jobs that only restore (evaluation) are never refused.
        self._lock: _DirectoryLock | None = None
        self._exit_hook: Callable[[], None] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        if not storage.is_url(self._directory):
            self._lock = _DirectoryLock(self._directory)
        self._closed = False
        self._recover()

    def _recover(self) -> None:
        """TF's recovery of the kept list from the state file (plus: drop missing checkpoints)."""
        self._recover_metrics()
        state = get_checkpoint_state(self._directory)
        clock = _now()
        self._maybe_delete: OrderedDict[str, float] = OrderedDict()
        if state is None:
            self._latest_checkpoint: str | None = None
            # As TF: slightly in the past, so a quickly re-created manager does not race.
            self._last_preserved_timestamp = clock - 1.0
            return
        self._last_preserved_timestamp = state.last_preserved_timestamp
        if clock < self._last_preserved_timestamp:
            # The clock went backwards; never let that delete old checkpoints.
            self._last_preserved_timestamp = clock
        paths = state.all_model_checkpoint_paths
        timestamps = state.all_model_checkpoint_timestamps or [
            self._last_preserved_timestamp
        ] * len(paths)
        for path, stamp in zip(paths, timestamps, strict=False):
            stamp = min(stamp, clock)
            if stamp > self._last_preserved_timestamp and checkpoint_exists(path):
                self._maybe_delete[path] = stamp
        latest: str | None = state.model_checkpoint_path
        if latest is None or not checkpoint_exists(latest):
            latest = next(reversed(self._maybe_delete), None)
        self._latest_checkpoint = latest

    def _metrics_path(self) -> str:
        return storage.join(self._directory, METRICS_FILENAME)

    def _relative(self, path: str) -> str:
        base = self._directory.rstrip("/" if storage.is_url(self._directory) else os.sep)
        if base:
            for sep in {"/", os.sep}:
                if path.startswith(base + sep):
                    return path[len(base) + 1 :]
        return path

    def _inside(self, prefix: str) -> bool:
        """Whether checkpoint ``prefix`` lies directly in this manager's directory."""
        if storage.is_url(prefix) or storage.is_url(self._directory):
            return storage.dirname(prefix).rstrip("/") == self._directory.rstrip("/")
        here = os.path.realpath(self._directory or ".")
        return os.path.dirname(os.path.realpath(prefix)) == here

    def _resolve(self, name: str) -> str:
        if storage.is_url(name) or os.path.isabs(name) or not self._directory:
            return name
        return storage.join(self._directory, name)

    def _recover_metrics(self) -> None:
        """Read the metrics sidecar; forget checkpoints that no longer exist."""
        self._metrics: dict[str, float] = {}
        self._preserved: set[str] = set()
        path = self._metrics_path()
        try:
            raw = storage.read_bytes(path, 64 << 20)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            self._has_sidecar = False
            return
        self._has_sidecar = True
        try:
            data = json.loads(raw.decode("utf-8"))
            metrics = {str(k): float(v) for k, v in data.get("metrics", {}).items()}
            preserved = {str(k) for k in data.get("preserved", [])}
        except (ValueError, TypeError, AttributeError, RecursionError, OverflowError) as exc:
            raise CorruptCheckpointError(
                f"{path} is not a valid checkpoint metrics file: {exc}", path=path
            ) from None
        for name, value in metrics.items():
            prefix = self._resolve(name)
            if self._inside(prefix) and checkpoint_exists(prefix):
                self._metrics[prefix] = value
                if name in preserved:
                    self._preserved.add(prefix)

    def _write_metrics(self, sync: bool) -> None:
        """Replace the sidecar atomically (temporary file, then rename)."""
        self._preserved &= set(self._metrics)
        data = {
            "mode": self._mode,
            "metrics": {self._relative(p): v for p, v in self._metrics.items()},
            "preserved": sorted(self._relative(p) for p in self._preserved),
        }
        raw = (json.dumps(data, indent=1, sort_keys=True) + "\n").encode("utf-8")
        path = self._metrics_path()
        self._has_sidecar = True
        storage.replace_atomically(path, raw, sync=sync)

    def _number(self, path: str) -> int | None:
        head, _, tail = path.rpartition("-")
        return int(tail) if head == self._prefix and tail.isascii() and tail.isdigit() else None

    def _kept_forever(self, path: str) -> bool:
        if path in self._preserved:
            return True
        if self._keep_every_k_steps is None:
            return False
        number = self._number(path)
        return number is not None and number % self._keep_every_k_steps == 0

    def _best(self) -> list[str]:
        """The ``keep_best`` best checkpoints by metric, best first (ties: older first)."""
        if not self._keep_best:
            return []
        sign = 1.0 if self._mode == "min" else -1.0
        order = sorted(self._metrics, key=lambda p: sign * self._metrics[p])
        return order[: self._keep_best]

    # --- properties -----------------------------------------------------------------------

    @property
    def checkpoint(self) -> Checkpoint:
        """The managed :class:`ckpt.Checkpoint`."""
        return self._checkpoint

    @property
    def directory(self) -> str:
        """The directory the checkpoints and the state file are in."""
        return self._directory

    @property
    def checkpoint_interval(self) -> int | None:
        """The minimum number of steps between saves, or ``None``."""
        return self._checkpoint_interval

    @property
    def latest_checkpoint(self) -> str | None:
        """The prefix of the newest checkpoint, or ``None``."""
        return self._latest_checkpoint

    @property
    def checkpoints(self) -> list[str]:
        """The kept checkpoints' prefixes, oldest first (preserved ones are not listed)."""
        return list(self._maybe_delete)

    @property
    def metrics(self) -> dict[str, float]:
        """The metric of each existing checkpoint saved with one, by prefix."""
        return dict(self._metrics)

    @property
    def best_checkpoints(self) -> list[str]:
        """The ``keep_best`` best checkpoints by metric, best first (empty without it)."""
        return self._best()

    # --- saving ---------------------------------------------------------------------------

    def save(
        self,
        checkpoint_number: Any = None,
        check_interval: bool = True,
        *,
        options: CheckpointOptions | None = None,
        metric: Any = None,
    ) -> str | None:
        """Save a new checkpoint, record it, and apply the retention rules.

        Args:
            checkpoint_number: the number in the prefix (an int or integer variable); by
                default the checkpoint's ``save_counter`` after incrementing it (which is
                incremented either way).
            check_interval: with ``checkpoint_interval``, save only if that many steps passed
                since the last save; if false, save unless this step was already saved.
            options: saves fsync the checkpoint's files, the state file and the directory by
                default; ``CheckpointOptions(sync=False)`` skips that, and
                ``enable_async=True`` writes in the background.
            metric: a finite number (or scalar variable) ranking this checkpoint for
                ``keep_best``; recorded in ``checkpoint.metrics.json``.

        With ``CheckpointOptions(enable_async=True)`` the values are copied before this
        returns; the checkpoint is written in the background and only then is it recorded
        (:attr:`latest_checkpoint`, :attr:`checkpoints`, the state file, retention deletions).
        ``manager.checkpoint.sync()`` waits for that; the next save, and the restore methods,
        wait for it first. A failed background save raises on that next call.

        Returns:
            The new checkpoint's prefix, or ``None`` if the interval said not to save.
        """
        if self._closed:
            raise CheckpointError(
                f"this CheckpointManager for {self._directory} is closed", path=self._directory
            )
        self._checkpoint.sync()  # a pending asynchronous save is recorded first
        if self._lock is not None and not self._lock._held:
            # Become the directory's only writer, then re-read what earlier writers left (a
            # directory still without a state file keeps the state this manager started with).
            self._lock.acquire()
            self._writer_since = time.time()
            # Neither hook holds the manager: one it no longer reachable releases the lock
            # when collected (and frees what it references); one alive at exit is closed.
            self._exit_hook = functools.partial(_close_at_exit, weakref.ref(self))
            atexit.register(self._exit_hook)
            self._finalizer = weakref.finalize(self, _release, self._lock, self._exit_hook)
            if get_checkpoint_state(self._directory) is not None:
                self._recover()
        if self._checkpoint_interval is not None:
            step = _evaluate(self._step_counter)
            if self._last_checkpoint_step is not None:
                if step == self._last_checkpoint_step:
                    return None
                if check_interval and step < self._last_checkpoint_step + self._checkpoint_interval:
                    return None
            self._last_checkpoint_step = step
        value: float | None = None
        if metric is not None:
            raw = np.asarray(metric.numpy() if hasattr(metric, "numpy") else metric)
            try:
                if raw.size != 1 or raw.dtype.kind not in "biuf":
                    raise ValueError
                value = float(raw.reshape(()))
            except (TypeError, ValueError):
                value = math.nan
            if not math.isfinite(value):
                raise InvalidTensorError(
                    f"`metric` must be one finite number (or a scalar variable), got {metric!r:.80}"
                )
        # A manager's saves are durable by default: files, then the directory, are fsynced
        # before each rename (CheckpointOptions(sync=False) trades that for speed).
        options = options or CheckpointOptions(sync=True)
        counter = self._checkpoint.save_counter
        counter.assign(counter.numpy() + 1)
        number = _evaluate(counter if checkpoint_number is None else checkpoint_number)
        prefix = f"{self._prefix}-{number}"
        if options.enable_async:
            # Values are copied now; the write, then the bookkeeping below, run in the
            # checkpoint's background job (a failed write leaves the manager's state untouched).
            stamp = _now()
            return self._checkpoint._save_async(
                prefix, options, lambda path: self._record(path, stamp, value, options)
            )
        path = self._checkpoint.write(prefix, options=options)
        self._record(path, _now(), value, options)
        return path

    def _record(
        self, path: str, stamp: float, value: float | None, options: CheckpointOptions
    ) -> None:
        """After ``path`` is committed: list it, apply retention, update the state file."""
        self._maybe_delete.pop(path, None)
        self._maybe_delete[path] = stamp
        self._latest_checkpoint = path
        self._preserved.discard(path)
        if value is None:
            self._metrics.pop(path, None)
        else:
            self._metrics[path] = value
        dropped = self._sweep()
        if self._metrics or self._has_sidecar:
            self._write_metrics(options.sync)
        update_checkpoint_state(
            self._directory,
            path,
            list(self._maybe_delete),
            all_model_checkpoint_timestamps=list(self._maybe_delete.values()),
            last_preserved_timestamp=self._last_preserved_timestamp,
            sync=options.sync,
        )
        for prefix in dropped:  # only now that the new state is committed
            if self._inside(prefix):
                # (A prefix elsewhere came from an edited state or metrics file: a manager
                # deletes only in its own directory.)
                _delete_checkpoint_files(prefix)
        self._clean_leftovers()

    def _sweep(self) -> list[str]:
        """Apply the retention rules (see the class docstring); return the prefixes to delete."""
        left: list[str] = []
        if self._max_to_keep:
            while len(self._maybe_delete) > self._max_to_keep:
                path, stamp = self._maybe_delete.popitem(last=False)
                # A preserved checkpoint is kept on disk but no longer listed, as in TF.
                if (
                    self._keep_every_n_hours
                    and stamp - self._keep_every_n_hours * 3600.0 >= self._last_preserved_timestamp
                ):
                    self._last_preserved_timestamp = stamp
                    self._preserved.add(path)
                    continue
                left.append(path)
        # Checkpoints held only by keep_best may have been displaced by the new one.
        left += [p for p in self._metrics if p not in self._maybe_delete and p not in left]
        best = set(self._best())
        dropped = [p for p in left if p not in best and not self._kept_forever(p)]
        for path in dropped:
            self._metrics.pop(path, None)
        return dropped

    def _clean_leftovers(self) -> None:
        """Delete temporary files and index-less data files of interrupted saves (local only)."""
        directory = self._directory or "."
        if storage.is_url(directory):
            return
        try:
            names = os.listdir(directory)
        except OSError:
            return
        active = naming.active_temps()
        busy = set(active.values())
        keep = set(self._maybe_delete) | set(self._metrics) | busy
        if self._latest_checkpoint:
            keep.add(self._latest_checkpoint)
        base = os.path.basename(self._prefix)
        since = getattr(self, "_writer_since", None)
        for name in names:
            path = os.path.join(self._directory, name) if self._directory else name
            try:
                if since is None or os.stat(path).st_mtime >= since:
                    continue  # written since this manager became the writer: not a leftover
            except OSError:
                continue
            temp = _TEMP_RE.search(name)
            if temp is not None or name.startswith(_STATE_TEMP):
                if temp is not None and temp.group(0) in active:
                    continue  # a save in progress in this process
                with contextlib.suppress(OSError):
                    os.unlink(path)
                continue
            data = _DATA_RE.fullmatch(name)
            if data is None:
                continue
            head, _, number = data.group(1).rpartition("-")
            if head != base or not (number.isascii() and number.isdigit()):
                continue
            prefix = path[: -len(name)] + data.group(1)
            if prefix in keep or os.path.exists(naming.index_filename(prefix)):
                continue
            with contextlib.suppress(OSError):
                os.unlink(path)

    # --- restoring ------------------------------------------------------------------------

    def _candidates(self) -> list[str]:
        """Checkpoints to try, newest first: the latest, then the kept list backwards."""
        order = [self._latest_checkpoint] if self._latest_checkpoint else []
        order += [p for p in reversed(self._maybe_delete) if p not in order]
        return order

    def restore_latest(
        self, *, fallback: bool = True, options: CheckpointOptions | None = None
    ) -> str | None:
        """Restore the newest intact checkpoint; return its prefix, or ``None`` if there is none.

        With ``fallback`` (the default), each candidate, newest first, is checked first: every
        tensor's checksum is verified and every data file must be present. A damaged or
        incomplete one is recorded in :attr:`skipped` (prefix, reason, error) and the next
        older one is tried. Without ``fallback`` the latest is restored as TF does, unchecked.
        The restore's status is kept in :attr:`restore_status`.

        Raises:
            CorruptCheckpointError: there are checkpoints but none of them is intact.
        """
        self._checkpoint.sync()
        self.skipped = []
        self.restore_status = None
        candidates = self._candidates()
        if not candidates:
            return None
        if not fallback:
            return self._restore(candidates[0], options)
        for path in candidates:
            try:
                with CheckpointReader(path) as reader:
                    reader.verify()
            except (CheckpointError, OSError) as exc:
                self.skipped.append(SkippedCheckpoint(path, _reason(exc), exc))
                continue
            return self._restore(path, options)
        listing = "; ".join(f"{s.path}: {s.reason}" for s in self.skipped)
        raise CorruptCheckpointError(
            f"no intact checkpoint in {self._directory} (skipped {listing})",
            path=self._directory,
        )

    def _restore(self, path: str, options: CheckpointOptions | None) -> str:
        self.restore_status = self._checkpoint.restore(path, options=options)
        if self._checkpoint_interval is not None:
            self._last_checkpoint_step = _evaluate(self._step_counter)
        return path

    def restore_or_initialize(
        self, *, fallback: bool = True, options: CheckpointOptions | None = None
    ) -> str | None:
        """Restore the latest checkpoint, or call ``init_fn`` when there is none.

        Returns the restored prefix, or ``None`` if there was nothing to restore. With
        ``fallback`` (the default), a damaged latest checkpoint is skipped in favour of the
        newest intact one, as in :meth:`restore_latest`; if none is intact that raises
        :class:`~ckpt.errors.CorruptCheckpointError` rather than silently starting over.
        """
        path = self.restore_latest(fallback=fallback, options=options)
        if path is None and self._init_fn is not None:
            self._init_fn()
        return path

    # --- lifetime -------------------------------------------------------------------------

    def close(self) -> None:
        """Release the directory lock (idempotent); the manager can no longer save.

        A pending asynchronous save is waited for first (its error, if any, is raised after
        the lock is released).
        """
        self._closed = True
        try:
            self._checkpoint.sync()
        finally:
            if self._lock is not None and self._lock._held:
                _release(self._lock, self._exit_hook)
                if self._finalizer is not None:
                    self._finalizer.detach()

    def __enter__(self) -> CheckpointManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<ckpt.CheckpointManager {self._directory!r} latest={self._latest_checkpoint!r} "
            f"kept={len(self._maybe_delete)}>"
        )


def _close_at_exit(manager: weakref.ref[CheckpointManager]) -> None:
    """At interpreter exit: close a manager still alive (its pending save is recorded)."""
    alive = manager()
    if alive is not None:
        alive.close()


def _release(lock: _DirectoryLock, exit_hook: Callable[[], None] | None) -> None:
    lock.release()
    if exit_hook is not None:
        atexit.unregister(exit_hook)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, CheckpointNotFoundError | FileNotFoundError):
        kind = "missing file"
    elif isinstance(exc, CorruptCheckpointError):
        kind = "corrupt"
    else:
        kind = "unreadable"
    return f"{kind}: {exc}"


def _delete_checkpoint_files(prefix: str) -> None:
    """Delete ``prefix.index`` then its data shards (TF's globs)."""
    storage.delete(naming.index_filename(prefix))
    for path in storage.glob(glob.escape(prefix) + ".data-?????-of-?????"):
        storage.delete(path)
