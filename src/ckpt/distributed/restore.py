"""Distributed restores with resharding, and a status every rank agrees on.

Every rank restores the same object graph from the same checkpoint: replicated values are read
by every rank, and each :class:`~ckpt.distributed.ShardedVariable` reads only the stored
pieces intersecting its own region, whatever partitioning and number of processes the
checkpoint was saved with. A failure on one rank is announced to all (one all-reduce), and the
status's assertions and report combine every rank's view, exchanged as bytes (no pickle).
"""

from __future__ import annotations

import json
import os
from typing import Any

from ckpt.checkpoint.checkpoint import Checkpoint
from ckpt.checkpoint.saver import CheckpointableSaver, CheckpointOptions, Status
from ckpt.checkpoint.status import RestoreReport
from ckpt.distributed import collectives
from ckpt.distributed.save import agree, sync
from ckpt.errors import CheckpointAssertionError

__all__ = ["DistributedLoadStatus", "restore"]


def _union(lists: list[list[str]]) -> list[str]:
    return list(dict.fromkeys(item for items in lists for item in items))


class DistributedLoadStatus:
    """The status of a distributed restore; each method is collective (call it on every rank).

    An assertion fails on every rank if it fails on any, with each failing rank's message;
    :meth:`report` lists what any rank found missing, unused or pending.
    """

    def __init__(self, status: Status, group: Any) -> None:
        self._status = status
        self._group = group

    @property
    def local(self) -> Status:
        """This rank's own status (not collective)."""
        return self._status

    def report(self) -> RestoreReport:
        """This rank's report, with the missing/unused/pending lists of all ranks combined."""
        local = self._status.report()
        payload = json.dumps(
            [local.missing_from_checkpoint, local.unused_in_checkpoint, local.pending]
        ).encode("utf-8")
        views = [json.loads(b) for b in collectives.all_gather_bytes(payload, self._group)]
        return RestoreReport(
            local.checkpoint,
            matched=local.matched,
            missing_from_checkpoint=_union([v[0] for v in views]),
            unused_in_checkpoint=sorted(_union([v[1] for v in views])),
            pending=_union([v[2] for v in views]),
            mismatches=local.mismatches,
        )

    def _assert(self, method: str) -> DistributedLoadStatus:
        error = ""
        try:
            getattr(self._status, method)()
        except CheckpointAssertionError as exc:
            error = str(exc)
        if not collectives.any_flags([bool(error)], self._group)[0]:
            return self
        messages = collectives.all_gather_bytes(error.encode("utf-8"), self._group)
        report = self.report()
        lines = "\n".join(f"rank {r}: {m.decode('utf-8')}" for r, m in enumerate(messages) if m)
        raise CheckpointAssertionError(lines, path=report.checkpoint, report=report)

    def assert_consumed(self) -> DistributedLoadStatus:
        """TF's ``assert_consumed`` on every rank; raises everywhere if any rank fails it."""
        return self._assert("assert_consumed")

    def assert_existing_objects_matched(self) -> DistributedLoadStatus:
        return self._assert("assert_existing_objects_matched")

    def assert_nontrivial_match(self) -> DistributedLoadStatus:
        return self._assert("assert_nontrivial_match")

    def expect_partial(self) -> DistributedLoadStatus:
        """Not collective: marks this rank's restore as intentionally partial."""
        self._status.expect_partial()
        return self


def restore(
    root: Any,
    save_path: str | os.PathLike[str] | None,
    *,
    group: Any = None,
    options: CheckpointOptions | None = None,
) -> DistributedLoadStatus:
    """Restore ``save_path`` (a prefix, or a directory: its latest) onto ``root`` on every rank.

    A :class:`ckpt.Checkpoint` root restores its ``save_counter`` as ``Checkpoint.restore``
    does. If the restore fails on any rank, every rank raises: the failing ranks their own
    error, the others :class:`~ckpt.distributed.DistributedCheckpointError` naming them.
    """
    sync(root)
    error = ""
    local: BaseException | None = None
    status: Status | None = None
    try:
        if isinstance(root, Checkpoint):
            status = root.restore(save_path, options=options)
        else:
            status = CheckpointableSaver(root).restore(save_path, options=options)
    except Exception as exc:
        local, error = exc, f"{type(exc).__name__}: {exc}"
    prefix = os.fspath(save_path) if save_path is not None else "(none)"
    try:
        agree("restoring", error, group, prefix)
    except Exception:
        if local is not None:
            raise local from None
        raise
    assert status is not None
    return DistributedLoadStatus(status, group)
