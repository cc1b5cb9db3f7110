"""The exception tree: one root, natural builtin bases, plain messages, path and key."""

from __future__ import annotations

import inspect
import pathlib
import pickle

import numpy as np
import pytest

import ckpt
from ckpt import errors
from ckpt.errors import (
    AssignmentMapError,
    CheckpointAssertionError,
    CheckpointError,
    CheckpointLockedError,
    CheckpointNotFoundError,
    ChecksumMismatchError,
    CorruptCheckpointError,
    DistributedCheckpointError,
    DtypeMismatchError,
    InvalidTensorError,
    ShapeMismatchError,
    TensorNotFoundError,
    UnsupportedCheckpointError,
    ValueMismatchError,
)

LEAVES = {
    AssignmentMapError: ValueError,
    CheckpointLockedError: RuntimeError,
    DistributedCheckpointError: RuntimeError,
    CheckpointNotFoundError: FileNotFoundError,
    TensorNotFoundError: KeyError,
    CorruptCheckpointError: ValueError,
    ChecksumMismatchError: ValueError,
    UnsupportedCheckpointError: ValueError,
    InvalidTensorError: ValueError,
    ValueMismatchError: ValueError,
    ShapeMismatchError: ValueError,
    DtypeMismatchError: ValueError,
    CheckpointAssertionError: AssertionError,
}


@pytest.mark.parametrize(("cls", "builtin"), list(LEAVES.items()), ids=lambda c: c.__name__)
def test_hierarchy(cls: type[CheckpointError], builtin: type[Exception]) -> None:
    assert issubclass(cls, CheckpointError)
    assert issubclass(cls, builtin)
    err = cls("something went wrong", path="/p", key="k")
    assert isinstance(err, builtin)
    assert str(err) == "something went wrong"
    assert err.path == "/p"
    assert err.key == "k"
    assert err.message == "something went wrong"
    with pytest.raises(builtin):
        raise err


def test_checksum_mismatch_is_corruption() -> None:
    assert issubclass(ChecksumMismatchError, CorruptCheckpointError)


def test_root() -> None:
    assert issubclass(CheckpointError, Exception)
    err = CheckpointError("plain")
    assert err.path is None
    assert err.key is None
    assert str(err) == "plain"


def test_key_error_message_is_not_repr() -> None:
    err = TensorNotFoundError("Key x not found in checkpoint")
    assert str(err) == "Key x not found in checkpoint"
    assert str(KeyError("Key x")) == "'Key x'"  # what a plain KeyError would print


def test_all_lists_exactly_the_error_classes() -> None:
    assert errors.__all__ == sorted(errors.__all__)
    defined = {
        name for name, obj in vars(errors).items()
        if inspect.isclass(obj) and issubclass(obj, CheckpointError)
    }
    assert set(errors.__all__) == defined
    assert defined == {c.__name__ for c in LEAVES} | {"CheckpointError"}


@pytest.mark.parametrize("cls", [CheckpointError, *LEAVES], ids=lambda c: c.__name__)
def test_pickle_roundtrip(cls: type[CheckpointError]) -> None:
    err = cls("boom", path="/p", key="k")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls
    assert str(back) == "boom"
    assert (back.path, back.key) == ("/p", "k")


def test_errors_from_the_api_carry_path_and_key(tmp_path: pathlib.Path) -> None:
    prefix = str(tmp_path / "m")
    ckpt.write_tensors(prefix, {"v": np.arange(4, dtype=np.int32)})
    with ckpt.CheckpointReader(prefix) as reader:
        with pytest.raises(KeyError) as missing:
            reader.get_tensor("nope")
        assert isinstance(missing.value, TensorNotFoundError)
        assert missing.value.key == "nope"
        assert missing.value.path == prefix
        assert str(missing.value).startswith("Key nope not found in checkpoint")
    with pytest.raises(FileNotFoundError) as not_found:
        ckpt.CheckpointReader(str(tmp_path / "absent"))
    assert isinstance(not_found.value, CheckpointNotFoundError)
    assert not_found.value.path == str(tmp_path / "absent")

    data = tmp_path / "m.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[3] ^= 1
    data.write_bytes(bytes(raw))
    with ckpt.CheckpointReader(prefix) as reader, pytest.raises(ValueError) as corrupt:
        reader.get_tensor("v")
    assert isinstance(corrupt.value, ChecksumMismatchError)
    assert corrupt.value.key == "v"
    assert corrupt.value.path == str(data)

    (tmp_path / "m.index").write_bytes(b"\x00" * 100)
    with pytest.raises(CorruptCheckpointError) as bad_index:
        ckpt.CheckpointReader(prefix)
    assert bad_index.value.path == str(tmp_path / "m.index")


def test_checksum_error_of_a_sliced_tensor_names_the_tensor(tmp_path: pathlib.Path) -> None:
    prefix = str(tmp_path / "m")
    with ckpt.CheckpointWriter(prefix) as writer:
        writer.add_slice("emb", np.ones(2, np.float32), full_shape=[4], offset=[0])
        writer.add_slice("emb", np.ones(2, np.float32), full_shape=[4], offset=[2])
    data = tmp_path / "m.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[-1] ^= 1
    data.write_bytes(bytes(raw))
    with ckpt.CheckpointReader(prefix) as reader, pytest.raises(ChecksumMismatchError) as info:
        reader.get_tensor("emb")
    # The caller asked for "emb"; the error should say so rather than give an encoded slice key.
    assert info.value.key == "emb"


def test_writer_errors_carry_the_key(tmp_path: pathlib.Path) -> None:
    with ckpt.CheckpointWriter(str(tmp_path / "m")) as writer:
        writer.add("dup", np.ones(1))
        with pytest.raises(InvalidTensorError) as info:
            writer.add("bad", np.array([0], dtype="M8[s]"))
        assert info.value.key == "bad"
        with pytest.raises(InvalidTensorError) as info:
            writer.add_slice("s", np.ones(3), full_shape=[2], offset=[0])
        assert info.value.key == "s"
