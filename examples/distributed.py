"""Sharded save and resharding restore across processes with ckpt.distributed (gloo, CPU).

Run with either:

    torchrun --nproc-per-node 2 examples/distributed.py
    python examples/distributed.py            # spawns 2 processes with torch.multiprocessing

Each process holds a slice of the rows of an embedding table plus a replicated torch model.
All processes save one TF-format checkpoint together (each writes its own data shard), then
restore it split along columns instead of rows, and a single process (or TensorFlow) reads
the whole table back.
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import ckpt
import ckpt.distributed
from ckpt.distributed import ShardedVariable

FULL_SHAPE = (10, 4)
TABLE = np.arange(40, dtype=np.float32).reshape(FULL_SHAPE)


def split(dim: int, rank: int, world: int) -> tuple[int, int]:
    """This rank's [start, stop) of an axis of size ``dim`` (the first parts one larger)."""
    base, extra = divmod(dim, world)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


def run(directory: str) -> None:
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)  # replicated: the same on every rank, written once

    # Save: rank r holds rows [start, stop) of the table.
    start, stop = split(FULL_SHAPE[0], rank, world)
    rows = ShardedVariable(
        torch.from_numpy(TABLE[start:stop].copy()),
        full_shape=FULL_SHAPE, offsets=(start, 0), name="table",
    )
    checkpoint = ckpt.Checkpoint(model=model, table=rows)
    path = ckpt.distributed.save(checkpoint, os.path.join(directory, "ckpt"))

    # Restore into a different partitioning: rank r now holds columns [start, stop).
    start, stop = split(FULL_SHAPE[1], rank, world)
    columns = ShardedVariable(
        torch.zeros(FULL_SHAPE[0], stop - start),
        full_shape=FULL_SHAPE, offsets=(0, start), name="table",
    )
    fresh = ckpt.Checkpoint(model=torch.nn.Linear(4, 2), table=columns)
    ckpt.distributed.restore(fresh, directory).assert_consumed()  # every rank agrees
    assert np.array_equal(columns.local.numpy(), TABLE[:, start:stop])
    print(f"rank {rank}/{world}: saved {path}, restored columns {start}:{stop}", flush=True)

    dist.barrier()
    if rank == 0:
        # One ordinary TF checkpoint: any single process (or tf.train.load_checkpoint) reads it.
        reader = ckpt.CheckpointReader(path)
        assert np.array_equal(reader.get_tensor("table/.ATTRIBUTES/VARIABLE_VALUE"), TABLE)
        print("files:", sorted(os.listdir(directory)))
        print("single-process read of the whole table: OK")


def spawned(rank: int, world: int, directory: str) -> None:
    dist.init_process_group(
        "gloo", init_method=f"file://{directory}/rendezvous", rank=rank, world_size=world
    )
    try:
        run(directory)
    finally:
        dist.destroy_process_group()


def main() -> None:
    if "RANK" in os.environ:  # started by torchrun: the environment describes the group
        dist.init_process_group("gloo")
        directory = os.environ.get("CKPT_EXAMPLE_DIR", "/tmp/ckpt-distributed-example")
        try:
            if dist.get_rank() == 0:
                os.makedirs(directory, exist_ok=True)
                for name in os.listdir(directory):
                    os.unlink(os.path.join(directory, name))
            dist.barrier()
            run(directory)
        finally:
            dist.destroy_process_group()
        return
    world = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    with tempfile.TemporaryDirectory() as directory:
        mp.spawn(spawned, args=(world, directory), nprocs=world, join=True)


if __name__ == "__main__":
    main()
