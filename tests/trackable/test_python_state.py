"""Python state (``py_state`` scalar strings): PythonState, JsonState, NumpyRNGState."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ckpt
from ckpt.errors import CheckpointError


class Counter(ckpt.PythonState):
    def __init__(self, count: int = 0) -> None:
        self.count = count

    def serialize(self) -> str:
        return str(self.count)

    def deserialize(self, data: bytes) -> None:
        self.count = int(data.decode())


class Blob(ckpt.PythonState):
    def __init__(self, data: bytes = b"") -> None:
        self.data = data

    def serialize(self) -> bytes:
        return self.data

    def deserialize(self, data: bytes) -> None:
        self.data = data


def save(tmp_path, name: str, **deps) -> str:
    return ckpt.Checkpoint(**deps).write(str(tmp_path / name))


def test_stored_as_scalar_string_under_py_state(tmp_path) -> None:
    prefix = save(tmp_path, "c", counter=Counter(41), blob=Blob(b"\x00\xffraw"))
    with ckpt.CheckpointReader(prefix) as reader:
        counter = reader.get_tensor("counter/.ATTRIBUTES/py_state")
        blob = reader.get_tensor("blob/.ATTRIBUTES/py_state")
    assert counter.shape == () and counter.item() == b"41"
    assert blob.shape == () and blob.item() == b"\x00\xffraw"


def test_custom_state_round_trip(tmp_path) -> None:
    prefix = save(tmp_path, "c", counter=Counter(41), blob=Blob(b"\x00\xffraw"))
    counter, blob = Counter(), Blob()
    ckpt.Checkpoint(counter=counter, blob=blob).read(prefix).assert_consumed()
    assert counter.count == 41
    assert blob.data == b"\x00\xffraw"


def test_serialize_is_called_at_save_time(tmp_path) -> None:
    counter = Counter(1)
    checkpoint = ckpt.Checkpoint(counter=counter)
    counter.count = 2
    first = checkpoint.save(str(tmp_path / "c"))
    counter.count = 3
    second = checkpoint.save(str(tmp_path / "c"))
    for path, expected in ((first, b"2"), (second, b"3")):
        with ckpt.CheckpointReader(path) as reader:
            assert reader.get_tensor("counter/.ATTRIBUTES/py_state").item() == expected


@pytest.mark.parametrize(
    "value",
    [
        {"epoch": 3, "lr": 0.1, "tags": ["a", "b"], "nested": {"x": None}},
        [1, 2.5, "three", True],
        "unicode \u2603",
        0,
        None,
    ],
)
def test_json_state_round_trip(tmp_path, value) -> None:
    prefix = save(tmp_path, "j", state=ckpt.JsonState(value))
    fresh = ckpt.JsonState("placeholder")
    ckpt.Checkpoint(state=fresh).read(prefix).assert_consumed()
    assert fresh.value == value


def test_json_state_non_finite_floats(tmp_path) -> None:
    prefix = save(tmp_path, "j", state=ckpt.JsonState({"inf": math.inf, "nan": math.nan}))
    fresh = ckpt.JsonState()
    ckpt.Checkpoint(state=fresh).read(prefix)
    assert fresh.value["inf"] == math.inf
    assert math.isnan(fresh.value["nan"])


def test_json_state_mutation_is_saved(tmp_path) -> None:
    state = ckpt.JsonState({"epoch": 3})
    checkpoint = ckpt.Checkpoint(state=state)
    state.value["epoch"] += 1
    prefix = checkpoint.write(str(tmp_path / "j"))
    fresh = ckpt.JsonState({})
    ckpt.Checkpoint(state=fresh).read(prefix)
    assert fresh.value == {"epoch": 4}


def test_numpy_rng_continues_identically(tmp_path) -> None:
    generator = np.random.default_rng(1234)
    generator.normal(size=10)  # advance it
    prefix = save(tmp_path, "rng", rng=ckpt.NumpyRNGState(generator))
    expected = generator.normal(size=5)
    expected_ints = generator.integers(0, 1000, size=5)

    other = np.random.default_rng(999)
    ckpt.Checkpoint(rng=ckpt.NumpyRNGState(other)).read(prefix).assert_consumed()
    assert np.array_equal(other.normal(size=5), expected)
    assert np.array_equal(other.integers(0, 1000, size=5), expected_ints)


@pytest.mark.parametrize(
    "bit_generator", [np.random.PCG64, np.random.Philox, np.random.MT19937, np.random.SFC64]
)
def test_numpy_rng_bit_generators(tmp_path, bit_generator) -> None:
    generator = np.random.Generator(bit_generator(7))
    generator.random(3)
    prefix = save(tmp_path, "rng", rng=ckpt.NumpyRNGState(generator))
    expected = generator.random(4)
    other = np.random.Generator(bit_generator(8))
    ckpt.Checkpoint(rng=ckpt.NumpyRNGState(other)).read(prefix)
    assert np.array_equal(other.random(4), expected)


def test_numpy_rng_wrong_bit_generator_is_a_checkpoint_error(tmp_path) -> None:
    prefix = save(tmp_path, "rng", rng=ckpt.NumpyRNGState(np.random.default_rng(1)))
    other = np.random.Generator(np.random.MT19937(1))
    with pytest.raises(CheckpointError):
        ckpt.Checkpoint(rng=ckpt.NumpyRNGState(other)).read(prefix)


def test_invalid_json_is_a_checkpoint_error(tmp_path) -> None:
    prefix = save(tmp_path, "bad", state=Blob(b"{not json"))
    with pytest.raises(CheckpointError):
        ckpt.Checkpoint(state=ckpt.JsonState()).read(prefix)


class FakeState:
    """Saves a float under ``py_state``: a damaged Python state."""

    def _serialize_to_tensors(self):
        return {"py_state": np.float32(1)}


def test_non_string_value_is_a_checkpoint_error(tmp_path) -> None:
    prefix = save(tmp_path, "bad", state=FakeState())
    with pytest.raises(CheckpointError):
        ckpt.Checkpoint(state=ckpt.JsonState()).read(prefix)


def test_attribute_name_mismatch_is_unused_not_a_crash(tmp_path) -> None:
    root = ckpt.Module()
    root.state = ckpt.Variable(np.float32(3))
    written = ckpt.CheckpointableSaver(root).save(str(tmp_path / "f"))
    fresh = ckpt.Module()
    fresh.state = ckpt.JsonState("kept")
    status = ckpt.CheckpointableSaver(fresh).restore(written)
    with pytest.raises(AssertionError, match="not assigned a value"):
        status.assert_existing_objects_matched()
    with pytest.raises(AssertionError):
        status.assert_consumed()
    assert fresh.state.value == "kept"


def test_python_state_base_is_abstract() -> None:
    state = ckpt.PythonState()
    with pytest.raises(NotImplementedError):
        state.serialize()
    with pytest.raises(NotImplementedError):
        state.deserialize(b"")
