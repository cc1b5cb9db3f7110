"""The ``checkpoint`` state file text (format doc §1.2, §3.9)."""

from __future__ import annotations

import pytest
from google.protobuf import text_format

from ckpt.format.state import CheckpointState, parse, serialize

CHECKPOINT_SAVE_TEXT = 'model_checkpoint_path: "ckpt-1"\nall_model_checkpoint_paths: "ckpt-1"\n'
MANAGER_TEXT = (
    'model_checkpoint_path: "ckpt-3"\n'
    'all_model_checkpoint_paths: "ckpt-2"\n'
    'all_model_checkpoint_paths: "ckpt-3"\n'
    "all_model_checkpoint_timestamps: 1795239916.2832897\n"
    "all_model_checkpoint_timestamps: 1795239916.2871265\n"
    "last_preserved_timestamp: 1795239915.2294335\n"
)


def test_serialize_checkpoint_save_output() -> None:
    assert serialize(CheckpointState("ckpt-1", ["ckpt-1"])) == CHECKPOINT_SAVE_TEXT


def test_serialize_manager_output() -> None:
    state = CheckpointState(
        "ckpt-3",
        ["ckpt-2", "ckpt-3"],
        [1795239916.2832897, 1795239916.2871265],
        1795239915.2294335,
    )
    assert serialize(state) == MANAGER_TEXT


@pytest.mark.parametrize("text", [CHECKPOINT_SAVE_TEXT, MANAGER_TEXT])
def test_parse_roundtrip(text: str) -> None:
    assert serialize(parse(text)) == text


def test_parse_values() -> None:
    state = parse(MANAGER_TEXT)
    assert state.model_checkpoint_path == "ckpt-3"
    assert state.all_model_checkpoint_paths == ["ckpt-2", "ckpt-3"]
    assert state.all_model_checkpoint_timestamps == [1795239916.2832897, 1795239916.2871265]
    assert state.last_preserved_timestamp == 1795239915.2294335


def test_defaults() -> None:
    state = CheckpointState("a")
    assert state.all_model_checkpoint_paths == []
    assert state.all_model_checkpoint_timestamps == []
    assert state.last_preserved_timestamp == 0.0
    assert serialize(state) == 'model_checkpoint_path: "a"\n'


@pytest.mark.parametrize(
    "path", ['we"ird', "back\\slash", "ünïcødé/ckpt-1", "new\nline", "/abs/path/ckpt-7"]
)
def test_paths_needing_escapes_roundtrip(path: str) -> None:
    text = serialize(CheckpointState(path, [path]))
    assert text.endswith("\n")
    assert parse(text) == CheckpointState(path, [path])


@pytest.mark.parametrize(
    "text", ["garbage", "model_checkpoint_path: 5", 'unknown_field: "x"', "{", "model_checkpoint"]
)
def test_parse_garbage(text: str) -> None:
    with pytest.raises(text_format.ParseError):
        parse(text)
