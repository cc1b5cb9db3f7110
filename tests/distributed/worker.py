"""One process of a multi-process test: ``python worker.py SCENARIO RANK WORLD DIR ARGS_JSON``.

Run by ``test_multiprocess.py`` (never collected by pytest). Joins a gloo group through a
file rendezvous in DIR, runs the scenario, prints ``OK`` (or what it found) and exits 0.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import time
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

import ckpt
import ckpt.distributed
from ckpt.distributed import DistributedCheckpointError, ShardedVariable
from ckpt.errors import CheckpointAssertionError
from ckpt.trackable.partitioned import partition_bounds

EMB_SHAPE = (13, 6)
PROJ_SHAPE = (8, 5)


def truth() -> dict[str, np.ndarray]:
    """The single-process values every partitioning must reproduce."""
    rng = np.random.default_rng(1234)
    return {
        "emb": rng.standard_normal(EMB_SHAPE).astype(np.float32),
        "proj": rng.standard_normal(PROJ_SHAPE),
        "bias": np.arange(7, dtype=np.int32) * 3,
    }


def bounds(shape: tuple[int, ...], axis: int, rank: int, world: int) -> tuple[int, ...]:
    start, stop = partition_bounds(shape[axis], world)[rank]
    return (*tuple(start if a == axis else 0 for a in range(len(shape))), stop - start)


def pieces(
    rank: int, world: int, axis: int, values: dict[str, np.ndarray] | None
) -> tuple[ShardedVariable, ShardedVariable]:
    """``emb`` (torch, split along ``axis``) and ``proj`` (NumPy, the other axis)."""
    out = []
    for name, shape, ax in (("emb", EMB_SHAPE, axis), ("proj", PROJ_SHAPE, 1 - axis)):
        *offsets, length = bounds(shape, ax, rank, world)
        local_shape = tuple(length if a == ax else d for a, d in enumerate(shape))
        index = tuple(slice(o, o + n) for o, n in zip(offsets, local_shape, strict=True))
        dtype = np.float32 if name == "emb" else np.float64
        local = values[name][index].copy() if values else np.zeros(local_shape, dtype)
        value: Any = torch.from_numpy(local) if name == "emb" else local
        out.append(ShardedVariable(value, full_shape=shape, offsets=offsets, name=name))
    return out[0], out[1]


def model(values: dict[str, np.ndarray] | None) -> torch.nn.Module:
    torch.manual_seed(0 if values else 99)
    net = torch.nn.Linear(3, 2)
    if not values:
        with torch.no_grad():
            for p in net.parameters():
                p.zero_()
    return net


NETS: dict[int, torch.nn.Module] = {}  # id(checkpoint) -> its torch model (wrapped inside)


def root(rank: int, world: int, axis: int, values: dict[str, np.ndarray] | None) -> Any:
    emb, proj = pieces(rank, world, axis, values)
    bias = ckpt.Variable(values["bias"] if values else np.zeros(7, np.int32), name="bias")
    net = model(values)
    checkpoint = ckpt.Checkpoint(model=net, emb=emb, proj=proj, bias=bias)
    NETS[id(checkpoint)] = net
    return checkpoint


def check(checkpoint: Any, rank: int, world: int, axis: int) -> None:
    expected = root(rank, world, axis, truth())
    for name in ("emb", "proj"):
        got, want = getattr(checkpoint, name).local, getattr(expected, name).local
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=name)
    np.testing.assert_array_equal(checkpoint.bias.numpy(), truth()["bias"])
    net, want_net = NETS[id(checkpoint)], NETS[id(expected)]
    for p, q in zip(net.parameters(), want_net.parameters(), strict=True):
        assert torch.equal(p, q)


def scenario_save(rank: int, world: int, directory: str, args: dict[str, Any]) -> None:
    checkpoint = root(rank, world, args["axis"], truth())
    path = ckpt.distributed.save(checkpoint, os.path.join(directory, "ckpt"))
    print(json.dumps({"path": path}))


def scenario_restore(rank: int, world: int, directory: str, args: dict[str, Any]) -> None:
    for source, axis in args["sources"]:
        checkpoint = root(rank, world, axis, None)
        status = ckpt.distributed.restore(checkpoint, source)
        status.assert_consumed()
        check(checkpoint, rank, world, axis)
        assert int(checkpoint.save_counter.numpy()) == 1


def scenario_failures(rank: int, world: int, directory: str, args: dict[str, Any]) -> None:
    prefix = os.path.join(directory, "ckpt")
    checkpoint = root(rank, world, 0, truth())
    first = ckpt.distributed.save(checkpoint, prefix)
    # A rank that raises: every rank raises, naming it; nothing is left behind.
    if rank == 1:
        checkpoint.extra = ShardedVariable(
            np.zeros((2, 2), np.complex64).astype(object), full_shape=(4, 2), offsets=(2, 0)
        )
    try:
        ckpt.distributed.save(checkpoint, prefix)
        raise AssertionError("the save should have failed")
    except DistributedCheckpointError as exc:
        assert list(exc.failures) == [1], exc.failures
    dist.barrier()
    assert ckpt.latest_checkpoint(directory) == first
    assert sorted(os.listdir(directory)) == [
        "checkpoint", "ckpt-1.data-00000-of-00002", "ckpt-1.data-00001-of-00002", "ckpt-1.index",
    ], os.listdir(directory)
    if rank == 1:
        del checkpoint.extra
    # A rank whose state raises while the values are gathered (user code, before any
    # collective): every rank raises at once instead of waiting for it until the timeout.
    if rank == 1:

        class Broken(ShardedVariable):
            def _serialize_to_tensors(self) -> Any:
                raise RuntimeError("state unavailable")

        checkpoint.broken = Broken(np.zeros((2, 2), np.float32), full_shape=(4, 2), offsets=(2, 0))
    started = time.monotonic()
    try:
        ckpt.distributed.save(checkpoint, prefix)
        raise AssertionError("the save should have failed")
    except DistributedCheckpointError as exc:
        assert list(exc.failures) == [1] and "state unavailable" in exc.failures[1], exc.failures
    assert time.monotonic() - started < 20  # not the 30 s timeout
    if rank == 1:
        del checkpoint.broken
    assert ckpt.latest_checkpoint(directory) == first
    # Every rank learns what any rank found missing.
    target = root(rank, world, 1, None)
    if rank == 0:
        target.only_here = ckpt.Variable(np.zeros(2), name="only_here")
    status = ckpt.distributed.restore(target, first)
    try:
        status.assert_consumed()
        raise AssertionError("assert_consumed should fail on every rank")
    except CheckpointAssertionError as exc:
        assert "rank 0:" in str(exc) and "rank 1:" not in str(exc), str(exc)
        assert exc.report.missing_from_checkpoint == ["(root).only_here"]
    status.assert_nontrivial_match()
    check(target, rank, world, 1)
    # Asynchronous saves: the protocol runs on a background gloo group.
    options = ckpt.CheckpointOptions(enable_async=True)
    second = ckpt.distributed.save(checkpoint, prefix, options=options)
    third = ckpt.distributed.save(checkpoint, prefix, options=options)  # waits for second
    ckpt.distributed.sync(checkpoint)
    dist.barrier()
    assert ckpt.latest_checkpoint(directory) == third != second
    # An asynchronous save that fails raises the distributed error itself from sync().
    if rank == 1:
        checkpoint.extra = ShardedVariable(
            np.zeros((2, 2), np.float32), full_shape=(4, 2), offsets=(2, 0)
        )
        from ckpt.format.bundle_writer import BundleWriter

        original = BundleWriter.finish_partial

        def fail(self: Any) -> str:
            raise OSError("disk full")

        BundleWriter.finish_partial = fail  # type: ignore[method-assign]
    ckpt.distributed.save(checkpoint, prefix, options=options)
    try:
        ckpt.distributed.sync(checkpoint)
        raise AssertionError("the asynchronous save should have failed")
    except DistributedCheckpointError as exc:
        assert list(exc.failures) == [1] and "disk full" in exc.failures[1], exc.failures
    if rank == 1:
        BundleWriter.finish_partial = original  # type: ignore[method-assign]
        del checkpoint.extra
    dist.barrier()
    assert ckpt.latest_checkpoint(directory) == third
    fresh = root(rank, world, 1, None)
    ckpt.distributed.restore(fresh, second).assert_consumed()
    check(fresh, rank, world, 1)


def scenario_kill(rank: int, world: int, directory: str, args: dict[str, Any]) -> None:
    prefix = os.path.join(directory, "ckpt")
    checkpoint = root(rank, world, 0, truth())
    ckpt.distributed.save(checkpoint, prefix)
    dist.barrier()
    if rank == 1:
        from ckpt.format.bundle_writer import BundleWriter

        def die(*_: Any, **__: Any) -> None:
            os._exit(17)  # killed in the middle of writing its shard

        BundleWriter.add_slice = die  # type: ignore[method-assign]
    try:
        ckpt.distributed.save(checkpoint, prefix)
    except DistributedCheckpointError as exc:
        print(json.dumps({"error": str(exc)}))
        return
    raise AssertionError("the save should have failed")


def main() -> None:
    scenario, rank, world, directory, args = (
        sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], json.loads(sys.argv[5])
    )
    dist.init_process_group(
        "gloo",
        init_method=f"file://{args['rendezvous']}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=30),
    )
    globals()[f"scenario_{scenario}"](rank, world, directory, args)
    dist.destroy_process_group()
    print("OK")


if __name__ == "__main__":
    main()
