"""torch state dict <-> TF conversion, and refusal of pickles that need more than weights."""

from __future__ import annotations

import os

import ml_dtypes
import numpy as np
import pytest
import torch
from convert_helpers import read_tf

import ckpt
from ckpt.convert import convert_checkpoint
from ckpt.errors import InvalidTensorError, UnsupportedCheckpointError


class Payload:
    """Unpickling this would create a file: proof that the pickle was executed."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _state_dict():
    g = torch.Generator().manual_seed(0)
    return {
        "encoder.layer.0.weight": torch.randn(3, 4, generator=g),
        "encoder.layer.0.bias": torch.randn(4, generator=g).to(torch.bfloat16),
        "encoder.norm.scale": torch.tensor([1.5, -0.0, float("inf")], dtype=torch.float16),
        "head.fp8": torch.randn(5, generator=g).to(torch.float8_e4m3fn),
        "head.steps": torch.tensor(7, dtype=torch.int64),
        "head.mask": torch.tensor([True, False]),
        "head.ids": torch.arange(6, dtype=torch.uint8).reshape(2, 3),
        "head.c": torch.tensor([1 + 2j], dtype=torch.complex128),
    }


def test_state_dict_to_tf_to_torch(tmp_path):
    state = _state_dict()
    pt = tmp_path / "model.pt"
    torch.save(state, pt)

    prefix = convert_checkpoint(str(pt), str(tmp_path / "tf" / "ckpt"))
    tf_values = read_tf(prefix)
    assert tf_values["encoder.layer.0.bias"].dtype == ml_dtypes.bfloat16
    assert tf_values["head.fp8"].dtype == ml_dtypes.float8_e4m3fn
    assert tf_values["head.steps"].shape == ()
    weight = tf_values["encoder.layer.0.weight"]
    np.testing.assert_array_equal(weight, state["encoder.layer.0.weight"].numpy())

    back_path = convert_checkpoint(prefix, str(tmp_path / "back.pth"))
    back = torch.load(back_path, weights_only=True)
    assert sorted(back) == sorted(state)
    for key, tensor in state.items():
        assert back[key].dtype == tensor.dtype, key
        assert back[key].shape == tensor.shape, key
        assert back[key].reshape(-1).view(torch.uint8).equal(tensor.reshape(-1).view(torch.uint8))


def test_nested_dicts_and_scalars_are_flattened(tmp_path):
    torch.save({"model": {"w": torch.ones(2)}, "epoch": 3}, tmp_path / "train.pt")
    values = read_tf(convert_checkpoint(str(tmp_path / "train.pt"), str(tmp_path / "out")))
    assert sorted(values) == ["epoch", "model.w"]
    assert values["epoch"] == 3


def test_pickled_custom_object_is_refused_not_executed(tmp_path):
    marker = tmp_path / "executed"
    torch.save({"w": torch.ones(2), "evil": Payload(str(marker))}, tmp_path / "evil.pt")
    with pytest.raises(UnsupportedCheckpointError, match="weights_only=True"):
        convert_checkpoint(str(tmp_path / "evil.pt"), str(tmp_path / "out"))
    assert not marker.exists()
    assert not (tmp_path / "out.index").exists()


def test_non_tensor_entries_are_refused(tmp_path):
    torch.save({"w": torch.ones(2), "names": ["a", "b"]}, tmp_path / "m.bin")
    with pytest.raises(UnsupportedCheckpointError, match="'names'"):
        convert_checkpoint(str(tmp_path / "m.bin"), str(tmp_path / "out"))


def test_strings_cannot_go_to_torch(tmp_path):
    from convert_helpers import OBJECT

    with pytest.raises(InvalidTensorError, match="strings go only to TF or npz"):
        convert_checkpoint(OBJECT, str(tmp_path / "m.pt"))
    assert os.listdir(tmp_path) == []


def test_an_expanded_view_larger_than_the_file_is_refused(tmp_path):
    path = str(tmp_path / "expand.pt")
    torch.save({"a": torch.zeros(1).expand(100_000_000)}, path)  # 400 MB from 4 bytes
    with pytest.raises(ckpt.errors.CorruptCheckpointError, match="expanded tensor"):
        convert_checkpoint(path, str(tmp_path / "out"))
    small = str(tmp_path / "small.pt")
    torch.save({"b": torch.ones(1).expand(1000)}, small)  # a small one is copied out
    out = convert_checkpoint(small, str(tmp_path / "ok"))
    np.testing.assert_array_equal(ckpt.load_variable(out, "b"), np.ones(1000, np.float32))
