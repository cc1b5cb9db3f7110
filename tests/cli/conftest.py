"""Fixtures of the CLI tests: the TF-written fixtures, and the CLI run in-process or installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from ckpt.cli.main import main

FIXTURES = Path(__file__).parents[1] / "fixtures" / "tf"


class Result(NamedTuple):
    code: int
    out: str
    err: str


def _installed_ckpt() -> str:
    """The console script installed next to this interpreter (or on PATH)."""
    beside = Path(sys.executable).parent / "ckpt"
    found = str(beside) if beside.exists() else shutil.which("ckpt")
    if found is None:
        pytest.skip("the ckpt console script is not installed (pip install -e .)")
    return found


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    """Run ``main(argv)`` in this process; usage errors (SystemExit) become exit codes."""
    monkeypatch.setenv("NO_COLOR", "1")

    def run(*argv: Any) -> Result:
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def ckpt_command() -> Callable[..., Result]:
    """Run the installed ``ckpt`` command in a subprocess, piped (so never coloured)."""
    executable = _installed_ckpt()

    def run(*argv: Any) -> Result:
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
        proc = subprocess.run(
            [executable, *(str(a) for a in argv)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run
