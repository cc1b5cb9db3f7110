"""Crash soak: SIGKILL a process saving with CheckpointManager many times; check every survivor.

Each round starts a child that saves a checkpoint in a loop (every variable holds the step
number), kills it with SIGKILL at a random instant after its first save, then checks that the
directory's latest checkpoint verifies, restores with ``assert_consumed()`` and holds one
consistent step, and that a new manager takes the dead process's lock over and cleans up.

    python benchmarks/soak_kill.py --kills 200 --seed 1
"""

from __future__ import annotations

import argparse
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import ckpt

SIZE = 1 << 20  # float32 elements per variable: 4 MiB
NUM_VARS = 4

CHILD = f"""
import sys
import numpy as np
import ckpt
variables = {{f"v{{i}}": ckpt.Variable(np.zeros({SIZE}, np.float32)) for i in range({NUM_VARS})}}
manager = ckpt.CheckpointManager(ckpt.Checkpoint(**variables), sys.argv[1], max_to_keep=3)
latest = manager.latest_checkpoint
step = int(latest.rsplit("-", 1)[1]) if latest else 0
while True:
    step += 1
    for v in variables.values():
        v.assign(np.full({SIZE}, step, np.float32))
    manager.save(checkpoint_number=step)
    print(step, flush=True)
"""


def check(directory: Path) -> int:
    """Verify and restore the latest checkpoint; return its step (raises if anything is off)."""
    latest = ckpt.latest_checkpoint(directory)
    if latest is None:
        raise AssertionError("no latest checkpoint")
    step = int(latest.rsplit("-", 1)[1])
    variables = {f"v{i}": ckpt.Variable(np.zeros(SIZE, np.float32)) for i in range(NUM_VARS)}
    ckpt.load_checkpoint(latest).verify()
    ckpt.Checkpoint(**variables).restore(latest).assert_consumed()
    for v in variables.values():
        if not np.all(v.numpy() == step):
            raise AssertionError(f"{latest}: values are not all {step}")
    return step


def leftovers(directory: Path) -> int:
    return sum(1 for p in directory.iterdir() if ".tempstate" in p.name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-delay", type=float, default=0.5, help="seconds after a save")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    start = time.monotonic()
    dirty = failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for _ in range(args.kills):
            child = subprocess.Popen([sys.executable, "-c", CHILD, tmp], stdout=subprocess.PIPE,
                                     text=True)
            try:
                assert child.stdout is not None
                if not select.select([child.stdout], [], [], 30.0)[0]:
                    raise RuntimeError("the child made no save in 30 s")
                child.stdout.readline()
                time.sleep(rng.uniform(0.0, args.max_delay))
            finally:
                os.kill(child.pid, signal.SIGKILL)
                child.wait()
                if child.stdout is not None:
                    child.stdout.close()
            dirty += leftovers(directory) > 0
            try:
                check(directory)
            except Exception as exc:  # count and report every failure
                failures += 1
                print(f"FAILED after kill: {exc}", file=sys.stderr)
    elapsed = time.monotonic() - start
    print(f"kills: {args.kills}, seed {args.seed}, delays 0-{args.max_delay} s after a save")
    print(f"kills that left an interrupted save behind: {dirty}")
    print(f"latest checkpoint not restorable or inconsistent: {failures}")
    print(f"elapsed: {elapsed:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
