"""``convert_checkpoint`` and ``ckpt convert`` with fsspec URLs (``s3://`` on moto, ``memory://``)."""

from __future__ import annotations

import json
from pathlib import Path

import fsspec
import numpy as np
import pytest

import ckpt
from ckpt.cli.main import main as cli_main
from ckpt.convert import convert_checkpoint
from ckpt.format import storage

pytest.importorskip("safetensors")
pytest.importorskip("torch")

TF1_SAVER = str(Path(__file__).resolve().parents[1] / "fixtures" / "tf" / "tf1_saver")

TENSORS = {
    "dense/kernel": np.arange(12, dtype=np.float32).reshape(3, 4),
    "dense/bias": np.linspace(-1, 1, 4).astype(np.float64),
    "step": np.array(7, dtype=np.int64),
    "mask": np.array([True, False, True]),
}


def _read(path: str) -> dict[str, np.ndarray]:
    """Every tensor of a TF checkpoint (prefix, directory or URL)."""
    with ckpt.load_checkpoint(path) as reader:
        return {key: reader.get_tensor(key) for key in reader}


def _assert_same(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert sorted(actual) == sorted(expected)
    for key, value in expected.items():
        assert actual[key].dtype == value.dtype, key
        assert actual[key].shape == value.shape, key
        np.testing.assert_array_equal(actual[key], value, err_msg=key)


def _files(url: str) -> list[str]:
    fs, inner = fsspec.core.url_to_fs(url)
    if not fs.exists(inner):
        return []
    return sorted(p.rsplit("/", 1)[-1] for p in fs.find(inner))


def _local_tf(tmp_path: Path, tensors: dict[str, np.ndarray]) -> str:
    return ckpt.write_tensors(str(tmp_path / "src" / "model"), tensors)


def test_tf_to_s3_safetensors_to_memory_tf_to_local(
    s3_root: str, mem_root: str, tmp_path: Path
) -> None:
    expected = _read(TF1_SAVER)
    st = convert_checkpoint(TF1_SAVER, f"{s3_root}/model.safetensors")
    assert st == f"{s3_root}/model.safetensors"
    assert _files(s3_root) == ["model.safetensors"]

    prefix = convert_checkpoint(st, f"{mem_root}/tf/ckpt-1")
    assert prefix == f"{mem_root}/tf/ckpt-1"
    _assert_same(_read(prefix), expected)

    # A directory URL as a TF source: its `checkpoint` state file names the latest prefix.
    ckpt.update_checkpoint_state(f"{mem_root}/tf", prefix)
    local = convert_checkpoint(f"{mem_root}/tf", str(tmp_path / "back.safetensors"))
    back = convert_checkpoint(local, str(tmp_path / "back" / "ckpt"))
    _assert_same(_read(back), expected)


def test_tf_into_existing_directory_url(mem_root: str) -> None:
    storage.write_bytes(f"{mem_root}/run/README", b"an existing directory")
    prefix = convert_checkpoint(TF1_SAVER, f"{mem_root}/run")
    assert prefix == f"{mem_root}/run/ckpt"
    assert "checkpoint" in _files(f"{mem_root}/run")
    _assert_same(_read(f"{mem_root}/run"), _read(TF1_SAVER))


@pytest.mark.parametrize("suffix", ["npz", "pt"])
def test_npz_and_torch_to_and_from_s3(suffix: str, s3_root: str, tmp_path: Path) -> None:
    source = _local_tf(tmp_path, TENSORS)
    url = convert_checkpoint(source, f"{s3_root}/weights.{suffix}")
    assert _files(s3_root) == [f"weights.{suffix}"]

    # S3 -> S3 in the same format family, then back to a local TF checkpoint.
    other = "pt" if suffix == "npz" else "npz"
    url2 = convert_checkpoint(url, f"{s3_root}/copy.{other}")
    back = convert_checkpoint(url2, str(tmp_path / "back" / "ckpt"))
    _assert_same(_read(back), TENSORS)

    # S3 -> local file of the same format.
    local = convert_checkpoint(url, str(tmp_path / f"local.{suffix}"))
    _assert_same(_read(convert_checkpoint(local, str(tmp_path / "again" / "ckpt"))), TENSORS)


def test_sharded_safetensors_on_s3(s3_root: str, tmp_path: Path) -> None:
    source = _local_tf(tmp_path, TENSORS)
    index = convert_checkpoint(
        source, f"{s3_root}/sharded/", dst_format="safetensors", max_shard_bytes=40
    )
    assert index == f"{s3_root}/sharded/model.safetensors.index.json"
    names = _files(f"{s3_root}/sharded")
    shards = [n for n in names if n.endswith(".safetensors")]
    assert len(shards) >= 2
    assert names == sorted([*shards, "model.safetensors.index.json"])
    fs, inner = fsspec.core.url_to_fs(index)
    weight_map = json.loads(fs.cat_file(inner))["weight_map"]
    assert sorted(weight_map) == sorted(TENSORS)
    assert set(weight_map.values()) == set(shards)

    # Read back from the index, from its directory, and from a single-file destination.
    for src in (index, f"{s3_root}/sharded"):
        _assert_same(_read(convert_checkpoint(src, str(tmp_path / "b" / "ckpt"))), TENSORS)
    single = convert_checkpoint(index, f"{s3_root}/one.safetensors")
    assert single == f"{s3_root}/one.safetensors"
    _assert_same(_read(convert_checkpoint(single, str(tmp_path / "c" / "ckpt"))), TENSORS)


def test_failed_conversion_leaves_nothing_on_s3(s3_root: str, tmp_path: Path) -> None:
    source = _local_tf(tmp_path, {**TENSORS, "words": np.array([b"a", b"b"], dtype=object)})
    for dst in ("model.safetensors", "sharded/model.safetensors.index.json", "w.pt"):
        with pytest.raises(ckpt.errors.InvalidTensorError):
            convert_checkpoint(source, f"{s3_root}/{dst}", max_shard_bytes=40)
    assert _files(s3_root) == []


def test_missing_url_source(s3_root: str) -> None:
    with pytest.raises(ckpt.errors.CheckpointNotFoundError):
        convert_checkpoint(f"{s3_root}/nothing.npz", f"{s3_root}/out")
    with pytest.raises(ckpt.errors.CheckpointNotFoundError):
        convert_checkpoint(f"{s3_root}/nothing", f"{s3_root}/out.npz")


def test_cli_convert_to_s3(s3_root: str, capsys: pytest.CaptureFixture[str]) -> None:
    dst = f"{s3_root}/cli/model.safetensors"
    code = cli_main(["convert", TF1_SAVER, dst, "--map", "scope/=layer/"])
    assert code == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == dst
    expected = {k.replace("scope/", "layer/"): v for k, v in _read(TF1_SAVER).items()}
    _assert_same(_read(convert_checkpoint(dst, f"{s3_root}/cli/tf/ckpt")), expected)


def test_sharded_upload_order_and_cleanup(
    s3_root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _local_tf(tmp_path, TENSORS)
    real_upload = storage.upload
    order: list[str] = []

    def upload(local: str, url: str) -> None:
        order.append(url.rsplit("/", 1)[-1])
        if url.endswith(".index.json") and fail:
            raise OSError("connection lost")
        real_upload(local, url)

    monkeypatch.setattr(storage, "upload", upload)
    fail = True
    dst = f"{s3_root}/m/model.safetensors.index.json"
    with pytest.raises(OSError, match="connection lost"):
        convert_checkpoint(source, dst, max_shard_bytes=40)
    assert _files(s3_root) == []  # the shards already uploaded were removed again

    fail, order[:] = False, []
    assert convert_checkpoint(source, dst, max_shard_bytes=40) == dst
    assert len(order) >= 3 and order[-1] == "model.safetensors.index.json"
    assert all(name.endswith(".safetensors") for name in order[:-1])
