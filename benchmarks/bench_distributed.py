"""Distributed save/restore: ckpt.distributed against torch.distributed.checkpoint (DCP).

Two gloo processes (``torch.multiprocessing.spawn``) hold a sharded state (default 1 GiB of
float32 in total: 8 tensors of shape ``(rows, 1024)``, each split along axis 0, as
``DTensor``s with ``Shard(0)``). In one run, best of ``--repeat``, with a warm page cache and
no fsync on either side:

* **ckpt**: ``ckpt.distributed.save(Checkpoint(**ShardedVariable.from_dtensor(...)))`` and
  ``ckpt.distributed.restore`` into zeroed DTensors (CRC32C of every piece verified);
* **DCP**: ``dcp.save(state, storage_writer=FileSystemWriter(dir, sync_files=False))`` and
  ``dcp.load`` into zeroed DTensors.

Throughput = total bytes of the state / wall time (barrier to barrier). Each rank's peak
resident memory (``VmHWM``, reset before each operation; anonymous memory and mapped file
pages alike) above its resident memory before the operation is reported: the shard itself
is already resident, so this is the extra memory the checkpointer needs. Restored values are
checked against the saved ones (untimed).

Usage::

    python benchmarks/bench_distributed.py                 # 1 GiB, best of 3
    python benchmarks/bench_distributed.py --size-mib 64   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
import torch.multiprocessing as mp
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import DTensor, Shard

import ckpt
import ckpt.distributed
from bench_common import proc_status, reset_peak_rss
from ckpt.distributed import ShardedVariable

TENSORS = 8
WIDTH = 1024


class PeakMemory:
    """Peak resident memory during the block (``VmHWM``, reset at the start: anonymous memory
    and mapped file pages alike) above the resident memory at the start."""

    def __enter__(self) -> PeakMemory:
        self.measured = reset_peak_rss()
        self.base = proc_status()["VmRSS"]
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak = proc_status()["VmHWM"]

    @property
    def extra(self) -> int:
        return max(self.peak - self.base, 0) if self.measured else -1


def state(mesh: Any, rows: int, fill: bool) -> dict[str, DTensor]:
    world, rank = dist.get_world_size(), dist.get_rank()
    local_rows = rows // world
    out = {}
    for i in range(TENSORS):
        if fill:
            g = torch.Generator().manual_seed(1000 * i + rank)
            local = torch.rand(local_rows, WIDTH, generator=g)
        else:
            local = torch.zeros(local_rows, WIDTH)
        out[f"t{i}"] = DTensor.from_local(
            local, mesh, [Shard(0)], run_check=False, shape=(rows, WIDTH),
            stride=(WIDTH, 1),
        )
    return out


def as_checkpoint(tensors: dict[str, DTensor]) -> ckpt.Checkpoint:
    return ckpt.Checkpoint(
        **{k: ShardedVariable.from_dtensor(v, name=k) for k, v in tensors.items()}
    )


def timed(fn: Callable[[], Any]) -> tuple[float, int]:
    dist.barrier()
    with PeakMemory() as memory:
        start = time.perf_counter()
        fn()
        dist.barrier()
        elapsed = time.perf_counter() - start
    return elapsed, memory.extra


def worker(rank: int, world: int, directory: str, size_mib: int, repeat: int) -> None:
    dist.init_process_group(
        "gloo", init_method=f"file://{directory}/rendezvous", rank=rank, world_size=world
    )
    torch.set_num_threads(1)
    mesh = init_device_mesh("cpu", (world,))
    rows = max(world, size_mib * 2**20 // (TENSORS * WIDTH * 4) // world * world)
    total = TENSORS * rows * WIDTH * 4
    source = state(mesh, rows, fill=True)
    results: dict[str, list[tuple[float, int]]] = {}

    def record(name: str, fn: Callable[[], Any]) -> None:
        results.setdefault(name, []).append(timed(fn))

    for it in range(repeat):
        ckpt_dir = os.path.join(directory, f"ckpt{it}")
        dcp_dir = os.path.join(directory, f"dcp{it}")
        record("ckpt save", lambda: ckpt.distributed.save(
            as_checkpoint(source), os.path.join(ckpt_dir, "ckpt")))  # noqa: B023
        record("dcp save", lambda: dcp.save(
            source, storage_writer=dcp.FileSystemWriter(dcp_dir, sync_files=False)))  # noqa: B023
        target = state(mesh, rows, fill=False)
        record("ckpt load", lambda: ckpt.distributed.restore(
            as_checkpoint(target), ckpt_dir).assert_consumed())  # noqa: B023
        for k in source:
            assert torch.equal(target[k].to_local(), source[k].to_local()), k
        target = state(mesh, rows, fill=False)
        record("dcp load", lambda: dcp.load(target, checkpoint_id=dcp_dir))  # noqa: B023
        for k in source:
            assert torch.equal(target[k].to_local(), source[k].to_local()), k
        dist.barrier()
        if rank == 0:
            shutil.rmtree(ckpt_dir)
            shutil.rmtree(dcp_dir)
    shard_bytes = total // world
    summary = {
        name: {
            "seconds": min(t for t, _ in runs),
            "mib_per_s": total / 2**20 / min(t for t, _ in runs),
            "peak_extra_mib": max(m for _, m in runs) / 2**20,
        }
        for name, runs in results.items()
    }
    with open(os.path.join(directory, f"rank{rank}.json"), "w") as f:
        json.dump({"total_mib": total / 2**20, "shard_mib": shard_bytes / 2**20, **summary}, f)
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="total state size")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="bench-dist-", dir=args.dir)
    try:
        mp.spawn(
            worker, args=(args.ranks, directory, args.size_mib, args.repeat),
            nprocs=args.ranks, join=True,
        )
        ranks = []
        for r in range(args.ranks):
            with open(os.path.join(directory, f"rank{r}.json")) as f:
                ranks.append(json.load(f))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    first = ranks[0]
    print(f"{args.ranks} ranks, {first['total_mib']:.0f} MiB sharded state "
          f"({first['shard_mib']:.0f} MiB per rank), best of {args.repeat}")
    print(f"{'operation':<10} {'seconds':>8} {'MiB/s':>9}   peak extra MiB per rank")
    for name in ("ckpt save", "dcp save", "ckpt load", "dcp load"):
        s = first[name]
        peaks = ", ".join(f"{r[name]['peak_extra_mib']:.0f}" for r in ranks)
        print(f"{name:<10} {s['seconds']:>8.3f} {s['mib_per_s']:>9.0f}   {peaks}")
    ratios = {
        op: first[f"ckpt {op}"]["mib_per_s"] / first[f"dcp {op}"]["mib_per_s"]
        for op in ("save", "load")
    }
    for op, ratio in ratios.items():
        verdict = "meets" if ratio >= 1.5 else "misses"
        print(f"ckpt / DCP {op} throughput: {ratio:.2f}x ({verdict} the 1.5x goal)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ranks": ranks, "ratios": ratios}, f, indent=2)


if __name__ == "__main__":
    main()
