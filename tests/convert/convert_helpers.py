"""Shared by the conversion tests: the TF-written fixtures and exact array comparison."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import ckpt

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tf"
DTYPES = str(FIXTURES / "tf_dtypes" / "dtypes")
OBJECT = str(FIXTURES / "tf2_object")
GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


def read_tf(path: str) -> dict[str, np.ndarray]:
    """Every tensor of a TF checkpoint (prefix or directory)."""
    with ckpt.load_checkpoint(path) as reader:
        return {key: reader.get_tensor(key) for key in reader}


def assert_same(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    """Same keys, dtypes, shapes and exact bytes (strings: same bytes objects)."""
    assert sorted(actual) == sorted(expected)
    for key, want in expected.items():
        got = actual[key]
        assert got.dtype == want.dtype, key
        assert got.shape == want.shape, key
        if want.dtype.kind == "O":
            assert got.tolist() == want.tolist(), key
        else:
            assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(want).tobytes(), key
