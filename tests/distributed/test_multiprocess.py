"""Save on N gloo processes, restore on M, for several (N, M) and partition axes; failures.

Each test launches its processes with ``worker.py`` (subprocesses, so a killed rank does not
take the others down with it, as ``mp.spawn`` would).
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import uuid
from typing import Any

import numpy as np
import pytest

import ckpt

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import worker  # noqa: E402

ROOT = HERE.parent.parent


def launch(
    scenario: str, world: int, directory: pathlib.Path, **args: Any
) -> list[subprocess.CompletedProcess[str]]:
    directory.mkdir(parents=True, exist_ok=True)
    args["rendezvous"] = str(directory.parent / f"rdv-{uuid.uuid4().hex}")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "worker.py"), scenario, str(rank), str(world),
             str(directory), json.dumps(args)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for rank in range(world)
    ]
    results = []
    for rank, proc in enumerate(procs):
        try:
            out, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
        del rank
    return results


def ok(results: list[subprocess.CompletedProcess[str]]) -> None:
    for rank, r in enumerate(results):
        assert r.returncode == 0 and r.stdout.rstrip().endswith("OK"), (
            f"rank {rank} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
        )


def value_key(name: str) -> str:
    return f"{name}/.ATTRIBUTES/VARIABLE_VALUE"


SAVES = {4: 0, 2: 1, 3: 0}  # world size -> partition axis of "emb" ("proj" uses the other)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[int, str]:
    base = tmp_path_factory.mktemp("saves")
    paths = {}
    for world, axis in SAVES.items():
        results = launch("save", world, base / f"n{world}", axis=axis)
        ok(results)
        paths[world] = json.loads(results[0].stdout.splitlines()[0])["path"]
    return paths


def test_every_rank_writes_its_shard_and_single_process_reads_it(saved: dict[int, str]) -> None:
    truth = worker.truth()
    for world, prefix in saved.items():
        names = sorted(os.listdir(os.path.dirname(prefix)))
        data = [f"ckpt-1.data-{r:05d}-of-{world:05d}" for r in range(world)]
        assert names == sorted(["checkpoint", "ckpt-1.index", *data])
        reader = ckpt.CheckpointReader(prefix)
        info = reader.get_tensor_info("emb/.ATTRIBUTES/VARIABLE_VALUE")
        assert len(info.slices) == world
        np.testing.assert_array_equal(reader.get_tensor(value_key("emb")), truth["emb"])
        np.testing.assert_array_equal(reader.get_tensor(value_key("proj")), truth["proj"])
        np.testing.assert_array_equal(reader.get_tensor(value_key("bias")), truth["bias"])
        assert ckpt.latest_checkpoint(os.path.dirname(prefix)) == prefix


@pytest.mark.parametrize("world", [1, 2, 4])
def test_restore_on_m_ranks_with_other_partitioning(saved: dict[int, str], world: int) -> None:
    # Each checkpoint is restored split along the other axis than it was saved with.
    sources = [(prefix, 1 - SAVES[n]) for n, prefix in saved.items()]
    base = pathlib.Path(next(iter(saved.values()))).parent.parent
    ok(launch("restore", world, base / f"restore{world}", sources=sources))


@pytest.mark.tf
def test_tensorflow_assembles_the_sharded_checkpoint(saved: dict[int, str]) -> None:
    tf = pytest.importorskip("tensorflow")
    truth = worker.truth()
    reader = tf.train.load_checkpoint(saved[3])
    np.testing.assert_array_equal(reader.get_tensor(value_key("emb")), truth["emb"])
    np.testing.assert_array_equal(reader.get_tensor(value_key("proj")), truth["proj"])
    np.testing.assert_array_equal(reader.get_tensor(value_key("bias")), truth["bias"])


def test_failures_status_and_async(tmp_path: pathlib.Path) -> None:
    ok(launch("failures", 2, tmp_path / "ckpts"))


def test_killed_rank_leaves_previous_checkpoint_latest(tmp_path: pathlib.Path) -> None:
    directory = tmp_path / "ckpts"
    results = launch("kill", 2, directory)
    assert results[1].returncode == 17
    assert results[0].returncode == 0, results[0].stderr
    assert "collective failed" in results[0].stdout or "rank(s) [1]" in results[0].stdout
    assert ckpt.latest_checkpoint(str(directory)) == str(directory / "ckpt-1")
    names = os.listdir(directory)
    assert "ckpt-2.index" not in names
    # Rank 0 cleaned up after itself; only the killed rank's temporary file may remain.
    assert not [n for n in names if n.startswith("ckpt-2") and "00000-of" in n], names
    ckpt.CheckpointReader(str(directory / "ckpt-1")).verify()


@pytest.mark.parametrize("launcher", ["spawn", "torchrun"])
def test_example_runs_with_spawn_and_torchrun(tmp_path: pathlib.Path, launcher: str) -> None:
    script = str(ROOT / "examples" / "distributed.py")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "CKPT_EXAMPLE_DIR": str(tmp_path)}
    if launcher == "spawn":
        command = [sys.executable, script]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   "--nproc-per-node", "2", script]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert "rank 1/2: saved" in result.stdout
    assert "single-process read of the whole table: OK" in result.stdout
