"""TF <-> npz conversion: exact round trips (strings included) and what npz cannot hold."""

from __future__ import annotations

import numpy as np
import pytest
from convert_helpers import DTYPES, OBJECT, assert_same, read_tf

import ckpt
from ckpt.convert import convert_checkpoint
from ckpt.errors import InvalidTensorError, UnsupportedCheckpointError


def _numpy_dtype(key: str, array: np.ndarray) -> bool:
    return array.dtype.type.__module__ == "numpy"  # not an ml_dtypes type


@pytest.mark.parametrize("fixture", [DTYPES, OBJECT])
def test_round_trip_of_numpy_dtypes_and_strings(fixture, subset_checkpoint, tmp_path):
    source = subset_checkpoint(fixture, _numpy_dtype)
    expected = read_tf(source)
    assert any(v.dtype.kind == "O" for v in expected.values())
    assert any(v.dtype.kind == "c" for v in expected.values())
    npz = convert_checkpoint(source, str(tmp_path / "a.npz"))
    assert_same(read_tf(convert_checkpoint(npz, str(tmp_path / "back"))), expected)


def test_bfloat16_goes_to_npz_with_a_cast(tmp_path):
    npz = convert_checkpoint(OBJECT, str(tmp_path / "model.npz"), dtype="float32")
    with np.load(npz, allow_pickle=False) as archive:
        assert archive["model/label/.ATTRIBUTES/VARIABLE_VALUE"].dtype.kind == "S"
        scale = archive["model/decoder/norm/scale/.ATTRIBUTES/VARIABLE_VALUE"]
    expected = read_tf(OBJECT)["model/decoder/norm/scale/.ATTRIBUTES/VARIABLE_VALUE"]
    assert scale.dtype == np.float32
    np.testing.assert_array_equal(scale, expected.astype(np.float32))
    back = read_tf(convert_checkpoint(npz, str(tmp_path / "back")))
    assert back["model/step/.ATTRIBUTES/VARIABLE_VALUE"].dtype == np.int64  # ints untouched


def test_ml_dtypes_need_a_cast(tmp_path):
    with pytest.raises(InvalidTensorError, match="dtype=float32") as info:
        convert_checkpoint(DTYPES, str(tmp_path / "a.npz"))
    assert info.value.key == "bfloat16/empty"
    assert not (tmp_path / "a.npz").exists()


def test_strings_ending_in_nul_are_refused(tmp_path):
    ckpt.write_tensors(str(tmp_path / "s"), {"s": np.array([b"a\0"], dtype=object)})
    with pytest.raises(InvalidTensorError, match="NUL"):
        convert_checkpoint(str(tmp_path / "s"), str(tmp_path / "s.npz"))


def test_pickled_object_arrays_are_refused(tmp_path):
    np.savez(tmp_path / "obj.npz", ok=np.arange(3), bad=np.array([{"x": 1}], dtype=object))
    with pytest.raises(UnsupportedCheckpointError, match="without pickle"):
        convert_checkpoint(str(tmp_path / "obj.npz"), str(tmp_path / "out"))
    assert not (tmp_path / "out.index").exists()


def test_unicode_arrays_become_utf8_bytes(tmp_path):
    np.savez(tmp_path / "u.npz", names=np.array(["é", "b"]))
    out = convert_checkpoint(str(tmp_path / "u.npz"), str(tmp_path / "out"))
    assert read_tf(out)["names"].tolist() == ["é".encode(), b"b"]


def test_a_header_declaring_more_than_the_member_holds_is_refused(tmp_path):
    # NumPy allocates what the header declares before reading any data.
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
    )
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.npy", header.getvalue() + b"\0" * 64)
    with pytest.raises(ckpt.errors.CorruptCheckpointError, match="declares 8000000000000 bytes"):
        convert_checkpoint(str(path), str(tmp_path / "out"))
