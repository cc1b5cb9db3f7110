"""Checkpoints on fsspec URLs: ``s3://`` against a local moto server, and ``memory://``."""

from __future__ import annotations

import fsspec
import numpy as np
import pytest
from fsspec.implementations.memory import MemoryFileSystem

import ckpt
from ckpt.cli.main import main as cli_main
from ckpt.format import storage

TENSORS = {
    "dense/kernel": np.arange(12, dtype=np.float32).reshape(3, 4),
    "dense/bias": np.linspace(-1, 1, 4).astype(np.float64),
    "step": np.int64(7),
    "names": np.array([b"alpha", b"", b"gamma" * 40], dtype=object),
}


def _assert_equal(actual, expected) -> None:
    assert np.asarray(actual).shape == np.asarray(expected).shape
    if np.asarray(expected).dtype == object:
        assert list(np.asarray(actual).reshape(-1)) == list(np.asarray(expected).reshape(-1))
    else:
        np.testing.assert_array_equal(actual, expected)
        assert np.asarray(actual).dtype == np.asarray(expected).dtype


def _files(url: str) -> list[str]:
    fs, inner = fsspec.core.url_to_fs(url)
    if not fs.exists(inner):
        return []
    return sorted(p.rsplit("/", 1)[-1] for p in fs.find(inner))


def _write_sliced(prefix: str) -> np.ndarray:
    emb = np.arange(40, dtype=np.float32).reshape(10, 4)
    with ckpt.CheckpointWriter(prefix, num_shards=3) as writer:
        for name, value in TENSORS.items():
            writer.add(name, value)
        writer.add_slice("emb", emb[:6], full_shape=[10, 4], offset=[0, 0])
        writer.add_slice("emb", emb[6:], full_shape=[10, 4], offset=[6, 0], shard=2)
    return emb


@pytest.fixture(params=["s3", "memory"])
def root(request: pytest.FixtureRequest) -> str:
    fixture = "s3_root" if request.param == "s3" else "mem_root"
    return str(request.getfixturevalue(fixture))


# --- round trips -----------------------------------------------------------------------------


def test_write_tensors_round_trip(root: str) -> None:
    prefix = ckpt.write_tensors(f"{root}/plain/model", TENSORS, num_shards=2)
    assert prefix == f"{root}/plain/model"
    assert _files(f"{root}/plain") == [
        "model.data-00000-of-00002",
        "model.data-00001-of-00002",
        "model.index",
    ]
    with ckpt.load_checkpoint(prefix) as reader:
        assert sorted(reader) == sorted(TENSORS)
        for name, value in TENSORS.items():
            _assert_equal(reader.get_tensor(name), value)


def test_writer_sliced_multi_shard_round_trip(root: str) -> None:
    prefix = f"{root}/sliced/model"
    emb = _write_sliced(prefix)
    assert dict(ckpt.list_variables(prefix))["emb"] == [10, 4]
    _assert_equal(ckpt.load_variable(prefix, "emb"), emb)
    _assert_equal(ckpt.load_variable(prefix, "names"), TENSORS["names"])
    with ckpt.load_checkpoint(prefix) as reader:
        _assert_equal(reader.get_slice("emb", (slice(5, 8), 1)), emb[5:8, 1])
        view = reader.get_view("dense/kernel")
        _assert_equal(view, TENSORS["dense/kernel"])
        assert not view.flags.writeable


def test_file_url_is_local(tmp_path) -> None:
    prefix = ckpt.write_tensors(f"file://{tmp_path}/model", TENSORS)
    assert prefix == f"{tmp_path}/model"
    assert (tmp_path / "model.index").is_file()
    loaded = ckpt.load_variable(f"file://{tmp_path}/model", "dense/bias")
    _assert_equal(loaded, TENSORS["dense/bias"])


def test_overwrite_existing_checkpoint(root: str) -> None:
    prefix = f"{root}/again/model"
    ckpt.write_tensors(prefix, {"a": np.zeros(3)})
    ckpt.write_tensors(prefix, {"b": np.ones(2)})
    assert ckpt.list_variables(prefix) == [("b", [2])]
    _assert_equal(ckpt.load_variable(prefix, "b"), np.ones(2))


# --- checkpoint state and discovery -----------------------------------------------------------


def test_state_file_and_latest_checkpoint(root: str) -> None:
    directory = f"{root}/runs"
    first = ckpt.write_tensors(f"{directory}/ckpt-1", {"x": np.zeros(2)})
    second = ckpt.write_tensors(f"{directory}/ckpt-2", {"x": np.ones(2)})
    assert ckpt.latest_checkpoint(directory) is None
    path = ckpt.update_checkpoint_state(directory, second, [first, second])
    assert path == f"{directory}/checkpoint"
    text = storage.read_bytes(path).decode()
    assert 'model_checkpoint_path: "ckpt-2"' in text  # relative, as TF writes it
    state = ckpt.get_checkpoint_state(directory)
    assert state is not None
    assert state.all_model_checkpoint_paths == [first, second]
    assert ckpt.latest_checkpoint(directory) == second
    assert ckpt.checkpoint_exists(first)
    assert not ckpt.checkpoint_exists(f"{directory}/ckpt-3")
    # A directory URL resolves to its latest checkpoint.
    assert ckpt.list_variables(directory) == [("x", [2])]
    _assert_equal(ckpt.load_variable(directory, "x"), np.ones(2))


def test_missing_checkpoint_raises(root: str) -> None:
    with pytest.raises(ckpt.errors.CheckpointNotFoundError):
        ckpt.load_checkpoint(f"{root}/nothing/here")
    assert ckpt.latest_checkpoint(f"{root}/nothing") is None


# --- object-based checkpoints -----------------------------------------------------------------


def _model(value: float) -> ckpt.Checkpoint:
    model = ckpt.Module()
    model.w = ckpt.Variable(np.full((2, 3), value, np.float32))
    model.b = ckpt.Variable(np.full(3, value, np.float64))
    return ckpt.Checkpoint(model=model)


def test_object_checkpoint_save_and_restore(root: str) -> None:
    saved = _model(2.5)
    path = saved.save(f"{root}/obj/ckpt")
    assert path == f"{root}/obj/ckpt-1"
    assert saved.save(f"{root}/obj/ckpt") == f"{root}/obj/ckpt-2"
    assert ckpt.latest_checkpoint(f"{root}/obj") == f"{root}/obj/ckpt-2"
    restored = _model(0.0)
    restored.restore(f"{root}/obj").assert_consumed()
    np.testing.assert_array_equal(restored.model.w.numpy(), np.full((2, 3), 2.5, np.float32))
    np.testing.assert_array_equal(restored.model.b.numpy(), np.full(3, 2.5))
    assert int(restored.save_counter.numpy()) == 2
    other = _model(0.0)
    other.restore(path).assert_consumed()
    written = _model(4.0).write(f"{root}/obj/exact")
    _model(0.0).read(written).assert_consumed()


# --- failure safety ---------------------------------------------------------------------------


class _Boom(Exception):
    pass


def test_failed_write_leaves_nothing(root: str) -> None:
    prefix = f"{root}/fail/model"
    with pytest.raises(_Boom), ckpt.CheckpointWriter(prefix, num_shards=2) as writer:
        writer.add("a", np.arange(1000, dtype=np.float32))
        writer.add("b", np.arange(10, dtype=np.int32))
        assert not storage.exists(f"{prefix}.index")  # not visible while being written
        raise _Boom
    assert _files(f"{root}/fail") == []
    assert not ckpt.checkpoint_exists(prefix)


def test_failed_overwrite_hides_the_old_checkpoint(root: str) -> None:
    prefix = f"{root}/failover/model"
    ckpt.write_tensors(prefix, {"old": np.zeros(4)})
    with pytest.raises(_Boom), ckpt.CheckpointWriter(prefix) as writer:
        # The old index is gone before any new data lands, so no reader mixes the two.
        assert not storage.exists(f"{prefix}.index")
        writer.add("new", np.ones(4))
        raise _Boom
    assert _files(f"{root}/failover") == []
    with pytest.raises(ckpt.errors.CheckpointNotFoundError):
        ckpt.load_checkpoint(prefix)


# --- traffic ----------------------------------------------------------------------------------


class _CountingMemoryFS(MemoryFileSystem):
    """A memory filesystem (own protocol and store) that counts the bytes ``cat_file`` returns."""

    protocol = ("countmem",)
    store: dict = {}  # noqa: RUF012 - fsspec's memory stores are class-level
    pseudo_dirs: list = [""]  # noqa: RUF012
    transferred: list[tuple[str, int]] = []  # noqa: RUF012

    def cat_file(self, path, start=None, end=None, **kwargs):
        data = super().cat_file(path, start, end, **kwargs)
        type(self).transferred.append((path, len(data)))
        return data


def test_reading_one_tensor_transfers_only_its_bytes() -> None:
    fsspec.register_implementation("countmem", _CountingMemoryFS, clobber=True)
    big = {f"t{i}": np.full(50_000, i, np.float32) for i in range(4)}
    prefix = ckpt.write_tensors("countmem://bucket/model", big)
    index_size = storage.size(f"{prefix}.index")
    _CountingMemoryFS.transferred.clear()
    with ckpt.load_checkpoint(prefix) as reader:
        _assert_equal(reader.get_tensor("t2"), big["t2"])
    moved = _CountingMemoryFS.transferred
    assert sum(n for _, n in moved) == index_size + big["t2"].nbytes
    assert len(moved) == 2


def test_s3_ranged_reads(s3_root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    big = {f"t{i}": np.full(30_000, i, np.float64) for i in range(3)}
    prefix = ckpt.write_tensors(f"{s3_root}/model", big)
    index_size = storage.size(f"{prefix}.index")
    moved: list[int] = []
    fs, _ = fsspec.core.url_to_fs(prefix)  # the cached instance ckpt's reads go through
    original = fs.cat_file

    def counting(path, *args, **kwargs):
        data = original(path, *args, **kwargs)
        moved.append(len(data))
        return data

    monkeypatch.setattr(fs, "cat_file", counting)
    with ckpt.load_checkpoint(prefix) as reader:
        _assert_equal(reader.get_tensor("t1"), big["t1"])
    assert sorted(moved) == sorted([index_size, big["t1"].nbytes])


# --- the command line -------------------------------------------------------------------------


def test_cli_ls_and_latest_on_s3(s3_root: str, capsys: pytest.CaptureFixture[str]) -> None:
    prefix = ckpt.write_tensors(f"{s3_root}/cli/ckpt-1", TENSORS, num_shards=2)
    ckpt.update_checkpoint_state(f"{s3_root}/cli", prefix)
    assert cli_main(["ls", prefix]) == 0
    out = capsys.readouterr().out
    for name in TENSORS:
        assert name in out
    assert cli_main(["ls", "--json", f"{s3_root}/cli"]) == 0
    out = capsys.readouterr().out
    assert '"shards": 2' in out
    assert cli_main(["latest", f"{s3_root}/cli"]) == 0
    assert capsys.readouterr().out.strip() == prefix
    assert cli_main(["verify", prefix]) == 0


@pytest.mark.parametrize("url", ["zz://bucket/ckpt", "s3x://bucket/x"])
def test_unknown_protocol_is_a_typed_error(url: str) -> None:
    with pytest.raises(ckpt.errors.UnsupportedCheckpointError, match="Protocol not known"):
        ckpt.load_checkpoint(url)
    with pytest.raises(ckpt.errors.UnsupportedCheckpointError):
        ckpt.write_tensors(url, {"a": np.zeros(1)})
