"""Asynchronous saves (``CheckpointOptions(enable_async=True)``) against synchronous ones.

Two figures, for a model of ``--variables`` float32 variables of ``--mib`` MiB each (default
64 x 16 MiB = 1 GiB):

* blocked: how long ``CheckpointManager.save`` keeps the caller, async vs sync (async only
  copies the values to host memory; the write happens in a background thread);
* training: total time of ``--steps`` steps of a fake training step (a sleep of ``--step``
  seconds) each followed by a save, async vs sync (the write overlaps the next step).

Usage::

    python benchmarks/bench_async.py
    python benchmarks/bench_async.py --variables 8 --mib 4 --steps 3   # smoke test
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np

import ckpt


def build(variables: int, mib: int) -> tuple[ckpt.Checkpoint, list[ckpt.Variable]]:
    count = mib * (1 << 20) // 4
    rng = np.random.default_rng(0)
    vars_ = [ckpt.Variable(rng.random(count, dtype=np.float32)) for _ in range(variables)]
    return ckpt.Checkpoint(model=vars_), vars_


def blocked(obj: ckpt.Checkpoint, options: ckpt.CheckpointOptions, repeat: int) -> float:
    """Median seconds ``save`` blocks the caller (the async write is waited for, untimed)."""
    times = []
    with tempfile.TemporaryDirectory() as directory:
        manager = ckpt.CheckpointManager(obj, directory, max_to_keep=1)
        for _ in range(repeat):
            start = time.perf_counter()
            manager.save(options=options)
            times.append(time.perf_counter() - start)
            obj.sync()
        manager.close()
    return statistics.median(times)


def training(
    obj: ckpt.Checkpoint,
    vars_: list[ckpt.Variable],
    options: ckpt.CheckpointOptions,
    steps: int,
    step: float,
) -> float:
    """Seconds for ``steps`` x (fake step, save), including the wait for the last save."""
    with tempfile.TemporaryDirectory() as directory:
        manager = ckpt.CheckpointManager(obj, directory, max_to_keep=1)
        start = time.perf_counter()
        for n in range(steps):
            time.sleep(step)  # the "training step"
            vars_[n % len(vars_)].assign(vars_[n % len(vars_)].numpy() + 1.0)
            manager.save(options=options)
        manager.close()  # waits for a pending async save
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variables", type=int, default=64)
    parser.add_argument("--mib", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--step", type=float, default=0.3, help="fake step duration (s)")
    args = parser.parse_args()

    obj, vars_ = build(args.variables, args.mib)
    size = args.variables * args.mib
    sync = ckpt.CheckpointOptions()
    async_ = ckpt.CheckpointOptions(enable_async=True)
    print(f"model: {args.variables} variables x {args.mib} MiB = {size} MiB")

    blocked_sync = blocked(obj, sync, args.repeat)
    blocked_async = blocked(obj, async_, args.repeat)
    print(
        f"caller blocked per save (median of {args.repeat}): sync {blocked_sync:.3f} s, "
        f"async {blocked_async:.3f} s -> async/sync = {blocked_async / blocked_sync:.2f}"
    )

    total_sync = training(obj, vars_, sync, args.steps, args.step)
    total_async = training(obj, vars_, async_, args.steps, args.step)
    print(
        f"{args.steps} steps of {args.step:.2f} s + save each: sync {total_sync:.2f} s, "
        f"async {total_async:.2f} s -> async/sync = {total_async / total_sync:.2f} "
        f"(floor: steps alone {args.steps * args.step:.2f} s)"
    )


if __name__ == "__main__":
    main()
