"""ckpt reads the checkpoints real TensorFlow wrote (tests/fixtures/tf), without importing TF.

Every key, shape, dtype and value is checked against the formulas in
``tests/fixtures/tf/spec.py``; the fixtures are regenerated with ``generate.py``.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fixture_spec import FIXTURES, spec

import ckpt
from ckpt.errors import (
    CheckpointError,
    ChecksumMismatchError,
    TensorNotFoundError,
    UnsupportedCheckpointError,
)
from ckpt.format import protos

FIXTURE_LIST = list(spec.FIXTURES.values())
TENSORS = [(f, t) for f in FIXTURE_LIST for t in f.tensors]
SLICED = [(f, t) for f, t in TENSORS if t.slices]


Readers = dict[str, ckpt.CheckpointReader]


def _prefix(fixture: Any) -> str:
    return str(FIXTURES / fixture.directory / fixture.prefix)


def _ids(items: list[tuple[Any, Any]]) -> list[str]:
    return [f"{f.name}:{t.key}" for f, t in items]


@pytest.fixture(scope="module")
def readers() -> Iterator[Readers]:
    """One open reader per fixture checkpoint, shared by the module."""
    opened = {f.name: ckpt.load_checkpoint(_prefix(f)) for f in FIXTURE_LIST}
    yield opened
    for reader in opened.values():
        reader.close()


@pytest.mark.parametrize("fixture", FIXTURE_LIST, ids=lambda f: f.name)
def test_keys_are_exactly_the_spec(fixture: Any, readers: Readers) -> None:
    reader = readers[fixture.name]
    expected = {t.key for t in fixture.tensors}
    assert set(reader.keys()) == expected
    assert len(reader) == len(expected)
    # Index order is bytewise order of the UTF-8 keys (slice keys hidden).
    assert reader.keys() == sorted(expected, key=lambda k: k.encode())
    assert ckpt.list_variables(_prefix(fixture)) == sorted(
        (t.key, list(t.shape)) for t in fixture.tensors
    )
    for i in range(fixture.num_shards):
        assert os.path.isfile(f"{_prefix(fixture)}.data-{i:05d}-of-{fixture.num_shards:05d}")


@pytest.mark.parametrize(("fixture", "tensor"), TENSORS, ids=_ids(TENSORS))
def test_tensor_metadata_and_value(fixture: Any, tensor: Any, readers: Readers) -> None:
    reader = readers[fixture.name]
    assert reader.has_tensor(tensor.key)
    assert tensor.key in reader
    assert reader.get_variable_to_shape_map()[tensor.key] == list(tensor.shape)
    assert reader.get_variable_to_tf_dtype_map()[tensor.key] == tensor.dtype
    assert reader.get_variable_to_dtype_map()[tensor.key] == spec.numpy_dtype(tensor.dtype)
    value = reader.get_tensor(tensor.key)
    if tensor.opaque:  # the serialized object graph: a scalar string
        assert value.shape == () and value.dtype == object
        assert isinstance(value.item(), bytes) and value.item()
        return
    expected = tensor.value()
    assert spec.difference(value, expected) is None, spec.difference(value, expected)
    unverified = reader.get_tensor(tensor.key, verify=False)
    assert spec.difference(unverified, expected) is None


NUMERIC_WHOLE = [(f, t) for f, t in TENSORS if t.dtype != "string" and not t.slices]


@pytest.mark.parametrize(("fixture", "tensor"), NUMERIC_WHOLE, ids=_ids(NUMERIC_WHOLE))
def test_out_and_view(fixture: Any, tensor: Any, readers: Readers) -> None:
    reader = readers[fixture.name]
    expected = tensor.value()
    out = np.empty(tensor.shape, dtype=expected.dtype)
    result = reader.get_tensor(tensor.key, out=out)
    assert spec.difference(out, expected) is None
    assert spec.difference(result, expected) is None
    assert spec.difference(reader.get_view(tensor.key), expected) is None


def test_views_are_read_only(readers: Readers) -> None:
    # get_view documents a read-only array over the memory map; zero-size tensors included.
    writeable = [f"{f.name}:{t.key}" for f, t in NUMERIC_WHOLE
                 if readers[f.name].get_view(t.key).flags.writeable]
    assert writeable == []


@pytest.mark.parametrize(("fixture", "tensor"), SLICED, ids=_ids(SLICED))
def test_partitioned_tensor_regions(fixture: Any, tensor: Any, readers: Readers) -> None:
    """TF-written partitioned tensors: each stored part, and regions across parts."""
    reader = readers[fixture.name]
    full = tensor.value()
    for offset, shape in tensor.slices:
        index = spec.region(offset, shape)
        assert spec.difference(reader.get_slice(tensor.key, index), full[index]) is None
    # Every 2x2 (or length-2) window; many of them straddle part boundaries.
    for start in itertools.product(*(range(d - 1) for d in tensor.shape)):
        index = spec.region(start, (2,) * len(start))
        assert spec.difference(reader.get_slice(tensor.key, index), full[index]) is None
    last = tensor.shape[0] - 1
    assert spec.difference(reader.get_slice(tensor.key, last), full[last]) is None
    column = (slice(None),) * (len(tensor.shape) - 1) + (-1,)
    assert spec.difference(reader.get_slice(tensor.key, column), full[column]) is None
    # Slice entries are internal: their encoded keys are not tensors of the checkpoint.
    assert not any(k.startswith("\x00") for k in reader)


@pytest.mark.parametrize("fixture", FIXTURE_LIST, ids=lambda f: f.name)
def test_verify_every_crc(fixture: Any, readers: Readers) -> None:
    readers[fixture.name].verify()


def test_load_variable_strips_colon_zero() -> None:
    tensor = spec.FIXTURES["tf1_saver"].tensor("scope/w")
    value = ckpt.load_variable(FIXTURES / spec.TF1_DIR, "scope/w:0")
    assert spec.difference(value, tensor.value()) is None
    with pytest.raises(TensorNotFoundError):
        ckpt.load_variable(FIXTURES / spec.TF1_DIR, "scope/w/part_0")


# --- the object graph TF wrote ----------------------------------------------------------------


def _object_graph(reader: ckpt.CheckpointReader) -> Any:
    return protos.TrackableObjectGraph.FromString(
        reader.get_tensor(spec.OBJECT_GRAPH_KEY).item()
    )


def _children(graph: Any, node: int) -> dict[str, int]:
    return {c.local_name: c.node_id for c in graph.nodes[node].children}


@pytest.mark.parametrize("name", ["tf2_object_1", "tf2_object_2", "tf2_sharded",
                                  "tf2_shard_policy"])
def test_object_graph_attributes_match_keys(name: str, readers: Readers) -> None:
    reader = readers[name]
    graph = _object_graph(reader)
    attribute_keys = {a.checkpoint_key for n in graph.nodes for a in n.attributes}
    variable_keys = {k for k in reader if k != spec.OBJECT_GRAPH_KEY}
    assert attribute_keys == variable_keys
    for node in graph.nodes:
        for attribute in node.attributes:
            assert attribute.name == "VARIABLE_VALUE"


def test_object_graph_structure(readers: Readers) -> None:
    graph = _object_graph(readers["tf2_object_2"])
    root = _children(graph, 0)
    assert sorted(root) == sorted(spec.OBJECT_ROOT_CHILDREN)
    model = _children(graph, root["model"])
    assert sorted(model) == sorted(spec.OBJECT_MODEL_CHILDREN)
    table = _children(graph, model["table"])
    assert sorted(table) == sorted(spec.OBJECT_TABLE_CHILDREN)  # local names are unescaped
    assert sorted(_children(graph, model["layers"])) == ["0", "1"]
    weird = graph.nodes[table["a/b.c"]].attributes
    assert [a.checkpoint_key for a in weird] == ["model/table/a.Sb..c/.ATTRIBUTES/VARIABLE_VALUE"]


def test_sharded_variable_graph(readers: Readers) -> None:
    graph = _object_graph(readers["tf2_sharded"])
    emb = graph.nodes[_children(graph, _children(graph, 0)["m"])["emb"]]
    assert [(a.name, a.full_name) for a in emb.attributes] == [
        ("VARIABLE_VALUE", "ShardedVariable")
    ]


# --- the `checkpoint` state file ------------------------------------------------------------


def test_latest_checkpoint_object_dir() -> None:
    directory = str(FIXTURES / spec.OBJECT_DIR)
    latest = os.path.join(directory, "ckpt-2")
    assert ckpt.latest_checkpoint(directory) == latest
    state = ckpt.get_checkpoint_state(directory)
    assert state is not None
    assert state.model_checkpoint_path == latest
    assert state.all_model_checkpoint_paths == [latest]
    assert state.all_model_checkpoint_timestamps == []
    assert state.last_preserved_timestamp == 0.0
    with ckpt.load_checkpoint(directory) as reader:
        assert reader.prefix == latest
        assert reader.get_tensor("save_counter/.ATTRIBUTES/VARIABLE_VALUE").item() == 2


def test_latest_checkpoint_tf1_dir() -> None:
    directory = str(FIXTURES / spec.TF1_DIR)
    assert ckpt.latest_checkpoint(directory) == os.path.join(directory, "model.ckpt-7")
    assert ckpt.latest_checkpoint(directory, latest_filename="nope") is None


def test_relative_state_survives_a_move(tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    shutil.copytree(FIXTURES / spec.OBJECT_DIR, moved)
    assert ckpt.latest_checkpoint(moved) == os.path.join(moved, "ckpt-2")
    with ckpt.load_checkpoint(moved) as reader:
        tensor = spec.FIXTURES["tf2_object_2"].tensor("model/label/.ATTRIBUTES/VARIABLE_VALUE")
        assert spec.difference(reader.get_tensor(tensor.key), tensor.value()) is None


# --- legacy V1 ------------------------------------------------------------------------------


def test_v1_checkpoint_is_refused_clearly() -> None:
    directory = FIXTURES / spec.V1_DIR
    prefix = str(directory / spec.V1_PREFIX)
    # Like TF, the state file resolves to the V1 prefix (its file exists).
    assert ckpt.latest_checkpoint(directory) == prefix
    for target in (prefix, directory):
        with pytest.raises(UnsupportedCheckpointError) as info:
            ckpt.load_checkpoint(target)
        assert "V1" in str(info.value)
    with pytest.raises(UnsupportedCheckpointError):
        ckpt.list_variables(prefix)
    with pytest.raises(UnsupportedCheckpointError):
        ckpt.load_variable(prefix, spec.V1_TENSORS[0].key)


# --- damage to TF-written files is detected --------------------------------------------------


def _copy_dtypes(tmp_path: Path) -> str:
    for path in (FIXTURES / spec.DTYPES_DIR).iterdir():
        shutil.copy(path, tmp_path / path.name)
    return str(tmp_path / "dtypes")


@pytest.mark.parametrize("where", [0.0, 0.5, 1.0])
def test_flipped_data_byte_is_detected(tmp_path: Path, where: float) -> None:
    prefix = _copy_dtypes(tmp_path)
    data = Path(prefix + ".data-00000-of-00001")
    raw = bytearray(data.read_bytes())
    position = min(int(len(raw) * where), len(raw) - 1)
    raw[position] ^= 0x20
    data.write_bytes(bytes(raw))
    with ckpt.load_checkpoint(prefix) as reader, pytest.raises(ChecksumMismatchError):
        reader.verify()


def test_flipped_index_byte_is_detected(tmp_path: Path) -> None:
    prefix = _copy_dtypes(tmp_path)
    index = Path(prefix + ".index")
    raw = bytearray(index.read_bytes())
    raw[20] ^= 0x01
    index.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError):
        ckpt.load_checkpoint(prefix)
