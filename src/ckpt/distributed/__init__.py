"""Sharded saves and resharding restores across processes, on ``torch.distributed``.

Import it explicitly (``import ckpt.distributed``; ``import ckpt`` never imports torch). Every
process of the group calls the same function with the same arguments; the result is one TF
checkpoint (``prefix.index`` + ``prefix.data-<rank>-of-<world>``) that TensorFlow and a
single-process ckpt read, and that restores onto any number of processes with any
partitioning::

    import torch.distributed as dist
    import ckpt, ckpt.distributed

    dist.init_process_group("gloo")                # torchrun or mp.spawn sets the env
    r, n = dist.get_rank(), dist.get_world_size()
    rows = 1000 // n                                # this rank's rows of a (1000, 64) table
    emb = ckpt.distributed.ShardedVariable(
        torch.zeros(rows, 64), full_shape=(1000, 64), offsets=(r * rows, 0), name="emb")
    checkpoint = ckpt.Checkpoint(model=model, emb=emb)
    path = ckpt.distributed.save(checkpoint, "runs/exp/ckpt")        # runs/exp/ckpt-1
    ckpt.distributed.restore(checkpoint, "runs/exp").assert_consumed()

* :class:`ShardedVariable` — this process's piece ``(full_shape, offsets, local)`` of a
  sharded tensor, one variable in the object graph (:meth:`ShardedVariable.from_dtensor`
  for a ``DTensor``). Unsharded values are replicated: each is written by one rank.
* :func:`save` / :func:`write` — the commit protocol of :mod:`ckpt.distributed.save`; a
  failure on any rank raises :class:`DistributedCheckpointError` on every rank and leaves the
  previous checkpoint the latest. ``CheckpointOptions(enable_async=True)`` writes in the
  background on a gloo group of its own; :func:`sync` waits.
* :func:`restore` — resharding restore; its status asserts identically on every rank.
"""

from __future__ import annotations

from ckpt.distributed.restore import DistributedLoadStatus, restore
from ckpt.distributed.save import DistributedCheckpointError, save, sync, write
from ckpt.distributed.sharded import ShardedVariable

__all__ = [
    "DistributedCheckpointError",
    "DistributedLoadStatus",
    "ShardedVariable",
    "restore",
    "save",
    "sync",
    "write",
]
