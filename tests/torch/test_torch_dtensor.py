"""DTensor parameters: each process saves and restores its own piece, as one sliced variable."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import os, sys, torch, numpy as np, ckpt
    import torch.distributed as dist
    from torch import nn
    from torch.distributed.tensor import DeviceMesh, Shard, distribute_tensor
    from ckpt.distributed import ShardedVariable

    d = sys.argv[1]
    dist.init_process_group("gloo", init_method=f"file://{d}/rdv", rank=0, world_size=1)
    mesh = DeviceMesh("cpu", [0])
    model = nn.Linear(4, 3)
    model.weight = nn.Parameter(distribute_tensor(model.weight.detach(), mesh, [Shard(0)]))
    node = ckpt.Checkpoint(model=model).model._lookup_dependency("weight")
    assert isinstance(node, ShardedVariable), type(node)
    full = model.weight.full_tensor().detach().clone()
    prefix = ckpt.Checkpoint(model=model).write(os.path.join(d, "c"))
    stored = ckpt.load_variable(prefix, "model/weight/.ATTRIBUTES/VARIABLE_VALUE")
    assert np.array_equal(stored, full.numpy())
    fresh = nn.Linear(4, 3)
    fresh.weight = nn.Parameter(distribute_tensor(torch.zeros(3, 4), mesh, [Shard(0)]))
    ckpt.Checkpoint(model=fresh).read(prefix).assert_consumed()
    assert torch.equal(fresh.weight.full_tensor(), full)
    dist.destroy_process_group()
    print("ok")
    """
)


def test_dtensor_parameter_round_trip(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
