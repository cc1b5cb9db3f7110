"""The README's demo and the benchmark script run end to end (smoke tests, no timing asserted)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_quickstart_runs_and_reads_tf_fixture() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "dense/kernel" in result.stdout
    assert "TensorFlow-written checkpoint" in result.stdout
    assert "tensorflow" not in result.stderr.lower()


def test_warmstart_example_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "warmstart.py")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "float64->float32" in result.stdout  # the plan table shows the cast
    assert "encoder/emb/part_3" in result.stdout
    assert "created after the restore: [1. 1. 1.]" in result.stdout


def test_benchmark_quick_mode(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_io.py"), "--quick",
         "--skip", "tf,torch,safetensors", "--dir", str(tmp_path), "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data, "the benchmark wrote no results"
