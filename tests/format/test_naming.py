"""File names of a V2 checkpoint (format doc §1.1)."""

from __future__ import annotations

import pathlib

from ckpt.format import naming


def test_index_filename() -> None:
    assert naming.index_filename("/dir/ckpt-3") == "/dir/ckpt-3.index"


def test_data_filename_zero_padding() -> None:
    assert naming.data_filename("/d/p", 0, 1) == "/d/p.data-00000-of-00001"
    assert naming.data_filename("p", 1, 2) == "p.data-00001-of-00002"
    assert naming.data_filename("p", 41, 100) == "p.data-00041-of-00100"
    # %05d is a minimum width: wider numbers are not truncated.
    assert naming.data_filename("p", 123456, 200000) == "p.data-123456-of-200000"


def test_is_v2(tmp_path: pathlib.Path) -> None:
    prefix = str(tmp_path / "model")
    assert not naming.is_v2(prefix)
    (tmp_path / "model.index").write_bytes(b"")
    assert naming.is_v2(prefix)
    (tmp_path / "dir.index").mkdir()
    assert not naming.is_v2(str(tmp_path / "dir"))


def test_v1_files(tmp_path: pathlib.Path) -> None:
    prefix = tmp_path / "model"
    assert naming.v1_files(str(prefix)) == []
    for i in (1, 0):
        (tmp_path / f"model-{i:05d}-of-00002").write_bytes(b"x")
    (tmp_path / "model-extra").write_bytes(b"x")
    assert naming.v1_files(str(prefix)) == [
        str(tmp_path / "model-00000-of-00002"),
        str(tmp_path / "model-00001-of-00002"),
    ]
    prefix.write_bytes(b"x")
    assert naming.v1_files(str(prefix)) == [str(prefix)]


def test_v1_files_escapes_glob_characters(tmp_path: pathlib.Path) -> None:
    (tmp_path / "m-00000-of-00001").write_bytes(b"x")
    assert naming.v1_files(str(tmp_path / "[m]")) == []
    (tmp_path / "[m]-00000-of-00001").write_bytes(b"x")
    assert naming.v1_files(str(tmp_path / "[m]")) == [str(tmp_path / "[m]-00000-of-00001")]
    assert naming.v1_files(str(tmp_path / "*")) == []


def test_temp_marker_is_tfs() -> None:
    assert naming.TEMP_MARKER == ".tempstate"
    assert naming.INDEX_SUFFIX == ".index"
