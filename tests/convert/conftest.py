"""Fixtures of the conversion tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from convert_helpers import GRAPH_KEY, read_tf

import ckpt


@pytest.fixture
def subset_checkpoint(tmp_path: Path) -> Callable[[str, Callable[[str, np.ndarray], bool]], str]:
    """Copy the tensors of a fixture that ``keep(key, array)`` accepts into a new TF checkpoint."""

    def make(source: str, keep: Callable[[str, np.ndarray], bool]) -> str:
        tensors = {k: v for k, v in read_tf(source).items() if k != GRAPH_KEY and keep(k, v)}
        return ckpt.write_tensors(str(tmp_path / "subset" / "ckpt"), tensors)

    return make
