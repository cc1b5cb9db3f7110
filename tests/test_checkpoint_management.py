"""The ``checkpoint`` state file and ``latest_checkpoint`` with TF's path rules (§1.2, §7.3)."""

from __future__ import annotations

import os
import pathlib
import shutil
from typing import Any

import numpy as np
import pytest

import ckpt
from ckpt.errors import CheckpointError, CorruptCheckpointError


def make(prefix: pathlib.Path | str) -> str:
    return ckpt.write_tensors(str(prefix), {"v": np.arange(3)})


def state_text(directory: pathlib.Path, name: str = "checkpoint") -> str:
    return (directory / name).read_text()


def test_checkpoint_save_text(tmp_path: pathlib.Path) -> None:
    # tf.train.Checkpoint.save: only the newest path, relative, no timestamps.
    path = ckpt.update_checkpoint_state(str(tmp_path), str(tmp_path / "ckpt-1"))
    assert path == str(tmp_path / "checkpoint")
    assert state_text(tmp_path) == (
        'model_checkpoint_path: "ckpt-1"\nall_model_checkpoint_paths: "ckpt-1"\n'
    )


def test_checkpoint_manager_text(tmp_path: pathlib.Path) -> None:
    ckpt.update_checkpoint_state(
        str(tmp_path),
        str(tmp_path / "ckpt-3"),
        [str(tmp_path / "ckpt-2"), str(tmp_path / "ckpt-3")],
        all_model_checkpoint_timestamps=[1795239916.2832897, 1795239916.2871265],
        last_preserved_timestamp=1795239915.2294335,
    )
    assert state_text(tmp_path) == (
        'model_checkpoint_path: "ckpt-3"\n'
        'all_model_checkpoint_paths: "ckpt-2"\n'
        'all_model_checkpoint_paths: "ckpt-3"\n'
        "all_model_checkpoint_timestamps: 1795239916.2832897\n"
        "all_model_checkpoint_timestamps: 1795239916.2871265\n"
        "last_preserved_timestamp: 1795239915.2294335\n"
    )
    state = ckpt.get_checkpoint_state(str(tmp_path))
    assert state is not None
    assert state.model_checkpoint_path == str(tmp_path / "ckpt-3")
    assert state.all_model_checkpoint_paths == [str(tmp_path / "ckpt-2"), str(tmp_path / "ckpt-3")]
    assert state.all_model_checkpoint_timestamps == [1795239916.2832897, 1795239916.2871265]
    assert state.last_preserved_timestamp == 1795239915.2294335


def test_model_path_appended_when_not_last(tmp_path: pathlib.Path) -> None:
    d = str(tmp_path)
    ckpt.update_checkpoint_state(d, os.path.join(d, "c-3"), [os.path.join(d, "c-1")])
    state = ckpt.get_checkpoint_state(d)
    assert state is not None
    assert state.all_model_checkpoint_paths == [os.path.join(d, "c-1"), os.path.join(d, "c-3")]
    # Already last: not duplicated.
    ckpt.update_checkpoint_state(d, os.path.join(d, "c-3"), [os.path.join(d, "c-3")])
    state = ckpt.get_checkpoint_state(d)
    assert state is not None
    assert state.all_model_checkpoint_paths == [os.path.join(d, "c-3")]


def test_timestamp_count_must_match(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError):
        ckpt.update_checkpoint_state(
            str(tmp_path), str(tmp_path / "c-2"), [str(tmp_path / "c-1")],
            all_model_checkpoint_timestamps=[1.0],
        )
    assert not (tmp_path / "checkpoint").exists()


def test_state_file_may_not_be_the_checkpoint(tmp_path: pathlib.Path) -> None:
    with pytest.raises(CheckpointError):
        ckpt.update_checkpoint_state(str(tmp_path), str(tmp_path / "checkpoint"))
    with pytest.raises(CheckpointError):
        ckpt.update_checkpoint_state(str(tmp_path), str(tmp_path / "state"),
                                     latest_filename="state")


def test_relative_save_dir(tmp_path: pathlib.Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    os.mkdir("run")
    make("run/ckpt-1")
    ckpt.update_checkpoint_state("run", "run/ckpt-1")
    assert state_text(tmp_path / "run") == (
        'model_checkpoint_path: "ckpt-1"\nall_model_checkpoint_paths: "ckpt-1"\n'
    )
    assert ckpt.latest_checkpoint("run") == os.path.join("run", "ckpt-1")
    assert ckpt.load_variable("run", "v").tolist() == [0, 1, 2]


def test_absolute_paths_stored_relative_by_default(tmp_path: pathlib.Path) -> None:
    make(tmp_path / "ckpt-1")
    ckpt.update_checkpoint_state(str(tmp_path), str(tmp_path / "ckpt-1"))
    assert str(tmp_path) not in state_text(tmp_path)
    assert ckpt.latest_checkpoint(str(tmp_path)) == str(tmp_path / "ckpt-1")


def test_absolute_paths_kept_when_asked(tmp_path: pathlib.Path) -> None:
    make(tmp_path / "ckpt-1")
    ckpt.update_checkpoint_state(str(tmp_path), str(tmp_path / "ckpt-1"),
                                 save_relative_paths=False)
    assert f'model_checkpoint_path: "{tmp_path / "ckpt-1"}"' in state_text(tmp_path)
    assert ckpt.latest_checkpoint(str(tmp_path)) == str(tmp_path / "ckpt-1")


def test_tf1_absolute_paths_are_read_as_is(tmp_path: pathlib.Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    make(elsewhere / "model.ckpt-100")
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "checkpoint").write_text(
        f'model_checkpoint_path: "{elsewhere / "model.ckpt-100"}"\n'
        f'all_model_checkpoint_paths: "{elsewhere / "model.ckpt-100"}"\n'
    )
    assert ckpt.latest_checkpoint(str(state_dir)) == str(elsewhere / "model.ckpt-100")


def test_relative_paths_joined_with_directory(tmp_path: pathlib.Path) -> None:
    (tmp_path / "sub").mkdir()
    make(tmp_path / "sub" / "c-1")
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "sub/c-1"\n')
    state = ckpt.get_checkpoint_state(tmp_path)
    assert state is not None
    assert state.model_checkpoint_path == os.path.join(str(tmp_path), "sub/c-1")
    assert state.all_model_checkpoint_paths == []
    assert ckpt.latest_checkpoint(tmp_path) == os.path.join(str(tmp_path), "sub/c-1")


def test_portability_after_moving_the_directory(tmp_path: pathlib.Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    for i in (1, 2):
        make(old / f"ckpt-{i}")
    ckpt.update_checkpoint_state(str(old), str(old / "ckpt-2"), [str(old / "ckpt-1")],
                                 all_model_checkpoint_timestamps=[1.5, 2.5])
    new = tmp_path / "moved" / "new"
    shutil.move(str(old), str(new))
    assert ckpt.latest_checkpoint(str(new)) == str(new / "ckpt-2")
    state = ckpt.get_checkpoint_state(str(new))
    assert state is not None
    assert state.all_model_checkpoint_paths == [str(new / "ckpt-1"), str(new / "ckpt-2")]
    assert state.all_model_checkpoint_timestamps == [1.5, 2.5]
    assert ckpt.list_variables(str(new)) == [("v", [3])]


def test_missing_state_file(tmp_path: pathlib.Path) -> None:
    assert ckpt.get_checkpoint_state(str(tmp_path)) is None
    assert ckpt.latest_checkpoint(str(tmp_path)) is None
    assert ckpt.get_checkpoint_state(str(tmp_path / "no" / "such" / "dir")) is None
    assert ckpt.latest_checkpoint(str(tmp_path / "no" / "such" / "dir")) is None
    (tmp_path / "file").write_text("x")
    assert ckpt.get_checkpoint_state(str(tmp_path / "file")) is None  # not a directory


@pytest.mark.parametrize(
    "content",
    [
        b"this is not a checkpoint state",
        b"model_checkpoint_path: 3\n",
        b'model_checkpoint_path: "a"\nbogus_field: 1\n',
        b'model_checkpoint_path: "unterminated\n',
        b"\xff\xfe\x00garbage",
        bytes(range(256)),
        b"",  # parses, but has no model_checkpoint_path
        b'all_model_checkpoint_paths: "ckpt-1"\n',
        b'model_checkpoint_path: ""\n',
    ],
)
def test_garbage_state_file(tmp_path: pathlib.Path, content: bytes) -> None:
    (tmp_path / "checkpoint").write_bytes(content)
    with pytest.raises(CorruptCheckpointError) as info:
        ckpt.get_checkpoint_state(str(tmp_path))
    assert info.value.path == str(tmp_path / "checkpoint")
    with pytest.raises(CorruptCheckpointError):
        ckpt.latest_checkpoint(str(tmp_path))


def test_latest_pointing_at_missing_checkpoint(tmp_path: pathlib.Path) -> None:
    ckpt.update_checkpoint_state(str(tmp_path), str(tmp_path / "ckpt-9"))
    assert ckpt.latest_checkpoint(str(tmp_path)) is None
    state = ckpt.get_checkpoint_state(str(tmp_path))
    assert state is not None
    assert state.model_checkpoint_path == str(tmp_path / "ckpt-9")
    # Once the checkpoint appears, it is found.
    make(tmp_path / "ckpt-9")
    assert ckpt.latest_checkpoint(str(tmp_path)) == str(tmp_path / "ckpt-9")


def test_latest_accepts_v1_checkpoint_files(tmp_path: pathlib.Path) -> None:
    (tmp_path / "model.ckpt").write_bytes(b"v1 data")
    ckpt.update_checkpoint_state(str(tmp_path), str(tmp_path / "model.ckpt"))
    assert ckpt.latest_checkpoint(str(tmp_path)) == str(tmp_path / "model.ckpt")


def test_custom_latest_filename(tmp_path: pathlib.Path) -> None:
    make(tmp_path / "a-1")
    make(tmp_path / "b-1")
    ckpt.update_checkpoint_state(str(tmp_path), str(tmp_path / "a-1"))
    ckpt.update_checkpoint_state(str(tmp_path), str(tmp_path / "b-1"), latest_filename="other")
    assert ckpt.latest_checkpoint(str(tmp_path)) == str(tmp_path / "a-1")
    assert ckpt.latest_checkpoint(str(tmp_path), "other") == str(tmp_path / "b-1")
    state = ckpt.get_checkpoint_state(str(tmp_path), latest_filename="other")
    assert state is not None
    assert state.model_checkpoint_path == str(tmp_path / "b-1")


def test_update_overwrites_atomically_and_leaves_no_temp(tmp_path: pathlib.Path) -> None:
    for i in range(1, 4):
        make(tmp_path / f"ckpt-{i}")
        ckpt.update_checkpoint_state(str(tmp_path), str(tmp_path / f"ckpt-{i}"))
    assert ckpt.latest_checkpoint(str(tmp_path)) == str(tmp_path / "ckpt-3")
    assert not [n for n in os.listdir(tmp_path) if "tempstate" in n or n.startswith("checkpoint.")]


def test_update_creates_the_directory(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "new" / "dir"
    ckpt.update_checkpoint_state(str(target), str(target / "c-1"))
    assert (target / "checkpoint").is_file()


def test_unicode_and_quote_paths(tmp_path: pathlib.Path) -> None:
    directory = tmp_path / 'dïr "quoted"'
    directory.mkdir()
    make(directory / "ckpt-1")
    ckpt.update_checkpoint_state(str(directory), str(directory / "ckpt-1"))
    assert ckpt.latest_checkpoint(str(directory)) == str(directory / "ckpt-1")


def test_checkpoint_exists(tmp_path: pathlib.Path) -> None:
    assert not ckpt.checkpoint_exists(str(tmp_path / "m"))
    make(tmp_path / "m")
    assert ckpt.checkpoint_exists(str(tmp_path / "m"))
    assert ckpt.checkpoint_exists(tmp_path / "m")
    (tmp_path / "v1-00000-of-00001").write_bytes(b"x")
    assert ckpt.checkpoint_exists(str(tmp_path / "v1"))


def test_state_dataclass_is_exported() -> None:
    state = ckpt.CheckpointState("a", ["a"])
    assert state.model_checkpoint_path == "a"
    assert state.all_model_checkpoint_timestamps == []
