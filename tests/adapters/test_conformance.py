"""One conformance suite for every adapter: native ckpt objects, torch and JAX.

Each harness (see ``harness.py``) builds the same state; every harness must save it under the
same keys, restore it bit for bit (into a state made with another seed too), pass
``assert_consumed``, refuse a shape mismatch before assigning anything, report a value the
checkpoint lacks, be readable by TensorFlow's ``tf.train.load_checkpoint``, and restore what
any other harness saved.

Harnesses come from ``harness.py``, ``harness_torch.py`` and, if the file exists,
``harness_jax.py``. A harness whose framework is not installed is skipped; a harness file that
exists but fails to import fails the suite.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from harness import Harness, expected_values, native_tree

import ckpt
from ckpt.errors import CheckpointAssertionError, ShapeMismatchError

sys.path.insert(0, str(Path(__file__).parents[1] / "compat"))
from tf_support import import_tensorflow

HERE = Path(__file__).parent
# harness module -> the framework it needs (None: none beyond ckpt).
HARNESS_MODULES = {"harness": None, "harness_torch": "torch", "harness_jax": "jax"}


def _collect() -> list[Any]:
    found = []
    for module_name, framework in HARNESS_MODULES.items():
        if not (HERE / f"{module_name}.py").exists():
            continue  # the adapter has no harness (yet)
        if framework is not None and importlib.util.find_spec(framework) is None:
            found.append(pytest.param(None, id=module_name, marks=pytest.mark.skip(
                reason=f"{framework} is not installed")))
            continue
        harness = importlib.import_module(module_name).HARNESS  # a broken file fails here
        found.append(pytest.param(harness, id=harness.name))
    return found


HARNESSES = _collect()
PAIRS = [
    pytest.param(a.values[0], b.values[0], id=f"{a.id}->{b.id}", marks=[*a.marks, *b.marks])
    for a, b in itertools.product(HARNESSES, repeat=2)
]


def bits(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array).tobytes()


def assert_same(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    """Same paths, shapes, dtypes and bytes (bitwise: NaN payloads and bfloat16 included)."""
    assert sorted(got) == sorted(expected)
    for path, value in expected.items():
        assert got[path].shape == value.shape, path
        assert got[path].dtype == value.dtype, path
        assert bits(got[path]) == bits(value), path


def key(path: str) -> str:
    return f"state/{path}/.ATTRIBUTES/VARIABLE_VALUE"


def values_of(harness: Harness, seed: int) -> dict[str, np.ndarray]:
    return harness.to_numpy(harness.make(seed))


@pytest.fixture
def saved(tmp_path: Path) -> Any:
    """``saved(harness, seed)``: write a state made with ``seed``; return the prefix."""

    def save(harness: Harness, seed: int = 1) -> str:
        state = harness.make(seed)
        return harness.checkpoint(state).write(str(tmp_path / f"{harness.name}-{seed}"))

    return save


def test_every_harness_file_is_collected() -> None:
    names = {p.id for p in HARNESSES}
    expected = {"ckpt", "torch"} | ({"jax"} if (HERE / "harness_jax.py").exists() else set())
    assert names == expected


# --- each harness on its own ---------------------------------------------------------------


@pytest.mark.parametrize("harness", HARNESSES)
def test_builds_the_shared_state(harness: Harness) -> None:
    """Every harness holds LEAVES with expected_values(seed): what makes pairs comparable."""
    assert_same(values_of(harness, 1), expected_values(1))
    assert_same(values_of(harness, 2), expected_values(2))


@pytest.mark.parametrize("harness", HARNESSES)
def test_make_is_deterministic_and_seeded(harness: Harness) -> None:
    one = values_of(harness, 1)
    assert_same(values_of(harness, 1), one)
    two = values_of(harness, 2)
    assert {p: (v.shape, v.dtype) for p, v in two.items()} == {
        p: (v.shape, v.dtype) for p, v in one.items()
    }
    assert all(bits(one[p]) != bits(two[p]) for p in one)


@pytest.mark.parametrize("harness", HARNESSES)
def test_round_trip_is_bitwise_exact(harness: Harness, saved: Any) -> None:
    prefix = saved(harness, 1)
    restored = harness.restore(harness.make(1), prefix)
    assert_same(harness.to_numpy(restored), values_of(harness, 1))


@pytest.mark.parametrize("harness", HARNESSES)
def test_restore_into_another_seed_gives_saved_values(harness: Harness, saved: Any) -> None:
    prefix = saved(harness, 1)
    restored = harness.restore(harness.make(2), prefix)
    assert_same(harness.to_numpy(restored), values_of(harness, 1))


@pytest.mark.parametrize("harness", HARNESSES)
def test_checkpoint_keys_name_every_leaf(harness: Harness, saved: Any) -> None:
    prefix = saved(harness, 1)
    leaves = values_of(harness, 1)
    with ckpt.load_checkpoint(prefix) as reader:
        shapes = reader.get_variable_to_shape_map()
        dtypes = reader.get_variable_to_dtype_map()
        stored = {k for k in reader if k != "_CHECKPOINTABLE_OBJECT_GRAPH"}
        values = {path: reader.get_tensor(key(path)) for path in leaves}
    assert stored == {key(path) for path in leaves}
    for path, value in leaves.items():
        assert shapes[key(path)] == list(value.shape)
        assert dtypes[key(path)] == value.dtype
    assert_same(values, leaves)


@pytest.mark.parametrize("harness", HARNESSES)
def test_assert_consumed_passes(harness: Harness, saved: Any) -> None:
    prefix = saved(harness, 1)
    status = harness.checkpoint(harness.make(2)).read(prefix)
    assert status.assert_consumed() is status
    status.assert_existing_objects_matched()


@pytest.mark.parametrize("harness", HARNESSES)
def test_shape_mismatch_raises_and_assigns_nothing(harness: Harness, tmp_path: Path) -> None:
    values = values_of(harness, 1)
    path = next(p for p, v in values.items() if v.ndim)
    wrong = dict(values)
    wrong[path] = np.zeros((values[path].shape[0] + 2, *values[path].shape[1:]), values[path].dtype)
    prefix = ckpt.Checkpoint(state=native_tree(wrong)).write(str(tmp_path / "wrong"))
    state = harness.make(2)
    with pytest.raises(ShapeMismatchError) as info:
        harness.restore(state, prefix)
    assert isinstance(info.value, ValueError)
    assert path.split("/")[-1] in str(info.value)
    assert_same(harness.to_numpy(state), values_of(harness, 2))  # nothing was assigned


@pytest.mark.parametrize("harness", HARNESSES)
def test_missing_value_fails_assert_consumed(harness: Harness, tmp_path: Path) -> None:
    values = values_of(harness, 1)
    missing = sorted(values)[-1]
    del values[missing]
    prefix = ckpt.Checkpoint(state=native_tree(values)).write(str(tmp_path / "partial"))
    status = harness.checkpoint(harness.make(2)).read(prefix)
    with pytest.raises(CheckpointAssertionError, match=missing.split("/")[-1]):
        status.assert_consumed()
    with pytest.raises(CheckpointAssertionError):
        status.assert_existing_objects_matched()


@pytest.mark.tf
@pytest.mark.parametrize("harness", HARNESSES)
def test_tensorflow_reads_every_leaf(harness: Harness, saved: Any) -> None:
    tf, missing = import_tensorflow()
    if tf is None:
        pytest.skip(missing)
    prefix = saved(harness, 1)
    reader = tf.train.load_checkpoint(prefix)
    expected = values_of(harness, 1)
    assert set(reader.get_variable_to_shape_map()) == {key(p) for p in expected} | {
        "_CHECKPOINTABLE_OBJECT_GRAPH"
    }
    for path, value in expected.items():
        got = np.asarray(reader.get_tensor(key(path)))
        assert got.shape == value.shape, path
        assert got.dtype.itemsize == value.dtype.itemsize, path
        assert bits(got) == bits(value), path
        tf_dtype = reader.get_variable_to_dtype_map()[key(path)]
        assert tf_dtype.name == value.dtype.name.replace("float16", "half").replace(
            "float32", "float"
        ).replace("float64", "double") or tf_dtype.as_numpy_dtype == value.dtype, path


# --- every pair of harnesses ---------------------------------------------------------------


@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_cross_harness_restore(source: Harness, target: Harness, saved: Any) -> None:
    """What one adapter saves, another restores: same names, same values, nothing left over."""
    prefix = saved(source, 3)
    status = target.checkpoint(target.make(4)).read(prefix)
    status.assert_consumed()
    restored = target.restore(target.make(4), prefix)
    assert_same(target.to_numpy(restored), values_of(source, 3))
