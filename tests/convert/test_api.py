"""convert_checkpoint's options and errors: detection, rename, dtype, progress, extras."""

from __future__ import annotations

import sys

import ml_dtypes
import numpy as np
import pytest
from convert_helpers import OBJECT, read_tf

import ckpt
from ckpt.convert import convert_checkpoint
from ckpt.convert.api import rename_key
from ckpt.convert.formats import detect_destination, detect_source
from ckpt.errors import CheckpointNotFoundError, UnsupportedCheckpointError


def test_detection(tmp_path):
    for name, fmt in [("a.safetensors", "safetensors"), ("a.npz", "npz"), ("a.pt", "torch"),
                      ("a.pth", "torch"), ("pytorch_model.bin", "torch"),
                      ("model.safetensors.index.json", "safetensors")]:  # fmt: skip
        (tmp_path / name).write_bytes(b"")
        assert detect_source(str(tmp_path / name)) == fmt
        assert detect_destination(str(tmp_path / "out" / name)) == fmt
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "model.safetensors.index.json").write_text("{}")
    assert detect_source(str(tmp_path / "hf")) == "safetensors"
    assert detect_source(OBJECT) == "tf"
    assert detect_destination(str(tmp_path / "run" / "ckpt-1")) == "tf"
    with pytest.raises(CheckpointNotFoundError, match="cannot tell the format"):
        detect_source(str(tmp_path / "nothing"))
    with pytest.raises(CheckpointNotFoundError):
        detect_source(str(tmp_path / "missing.npz"))


def test_unknown_format_name(tmp_path):
    with pytest.raises(UnsupportedCheckpointError, match="choose one of tf, safetensors"):
        convert_checkpoint(OBJECT, str(tmp_path / "x"), dst_format="onnx")


def test_rename_first_matching_prefix():
    pairs = [("model/encoder/", "enc/"), ("model/", "net/"), ("encoder.", "enc.")]
    assert rename_key("model/encoder/kernel", pairs) == "enc/kernel"
    assert rename_key("model/step", pairs) == "net/step"
    assert rename_key("encoder.layer.0.weight", pairs) == "enc.layer.0.weight"
    assert rename_key("save_counter", pairs) == "save_counter"


def test_rename_and_cast_in_a_conversion(tmp_path):
    out = convert_checkpoint(
        OBJECT, str(tmp_path / "out"), rename=[("model/", "net/")], dtype="bfloat16"
    )
    values = read_tf(out)
    original = read_tf(OBJECT)
    assert sorted(values) == sorted(
        k.replace("model/", "net/", 1) for k in original if k != "_CHECKPOINTABLE_OBJECT_GRAPH"
    )
    for key, value in values.items():
        before = original[key.replace("net/", "model/", 1)]
        if before.dtype.kind == "f" or before.dtype == ml_dtypes.bfloat16:
            assert value.dtype == ml_dtypes.bfloat16, key
            with np.errstate(over="ignore"):
                assert value.tobytes() == before.astype(ml_dtypes.bfloat16).tobytes(), key
        else:  # ints, bools, complex and strings are never cast
            assert value.dtype == before.dtype, key


def test_bad_cast_dtype(tmp_path):
    with pytest.raises(UnsupportedCheckpointError, match="floating dtype"):
        convert_checkpoint(OBJECT, str(tmp_path / "x"), dtype="int8")


def test_renaming_two_keys_to_one_is_refused(tmp_path):
    with pytest.raises(ValueError, match="model/x"):
        convert_checkpoint(
            OBJECT, str(tmp_path / "x.npz"), rename=[("model/", "model/x"), ("save", "model/x")]
        )


def test_progress_reports_every_byte(tmp_path):
    tensors = {f"t{i}": np.zeros(100 * (i + 1), np.float32) for i in range(5)}
    ckpt.write_tensors(str(tmp_path / "src"), tensors)
    seen: list[int] = []
    convert_checkpoint(str(tmp_path / "src"), str(tmp_path / "a.npz"), progress=seen.append)
    assert sorted(seen) == sorted(t.nbytes for t in tensors.values())


def test_directory_destination_is_a_loadable_tf_directory(tmp_path):
    (tmp_path / "run").mkdir()
    prefix = convert_checkpoint(OBJECT, str(tmp_path / "run"))
    assert prefix == str(tmp_path / "run" / "ckpt")
    assert ckpt.latest_checkpoint(str(tmp_path / "run")) == prefix


def test_same_path_is_refused(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros(2))
    with pytest.raises(ValueError, match="same path"):
        convert_checkpoint(str(tmp_path / "a.npz"), str(tmp_path / "a.npz"))


@pytest.mark.parametrize(("module", "dst"), [("safetensors", "m.safetensors"), ("torch", "m.pt")])
def test_missing_optional_package_names_it(module, dst, tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(UnsupportedCheckpointError, match=f"pip install {module}"):
        convert_checkpoint(OBJECT, str(tmp_path / dst), dtype="float32")


@pytest.mark.parametrize("remote", [False, True])
def test_tf_target_ending_in_a_slash_is_a_new_directory(tmp_path, remote):
    source = ckpt.write_tensors(str(tmp_path / "src"), {"a": np.arange(3)})
    target = "memory://convert-slash/new/" if remote else str(tmp_path / "new") + "/"
    out = convert_checkpoint(source, target)
    assert out == target + "ckpt"
    assert ckpt.latest_checkpoint(target.rstrip("/")) == out
    np.testing.assert_array_equal(ckpt.load_variable(target.rstrip("/"), "a"), np.arange(3))


@pytest.mark.parametrize("target", ["made/deeper/out.safetensors", "made/deeper/", "made/tf/m"])
def test_failed_conversion_leaves_no_directories_behind(tmp_path, target):
    source = ckpt.write_tensors(str(tmp_path / "src"), {"a": np.arange(3), "b": np.ones(4)})
    data = tmp_path / "src.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[-1] ^= 1  # "b" is corrupt: the conversion fails after it has started writing
    data.write_bytes(bytes(raw))
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "file").write_text("mine")
    with pytest.raises(ckpt.errors.ChecksumMismatchError):
        convert_checkpoint(source, str(tmp_path / target))
    assert not (tmp_path / "made").exists()
    with pytest.raises(ckpt.errors.ChecksumMismatchError):
        convert_checkpoint(source, str(tmp_path / "keep" / "out.npz"))
    assert sorted(p.name for p in (tmp_path / "keep").iterdir()) == ["file"]
