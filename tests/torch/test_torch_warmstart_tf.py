"""A torch model warm-started from a TensorFlow-written TF1 checkpoint by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

import ckpt

TF1_SAVER = Path(__file__).resolve().parents[1] / "fixtures" / "tf" / "tf1_saver"


class Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 4)


def test_tf1_dense_kernel_into_linear_weight_with_a_transpose() -> None:
    kernel = ckpt.load_variable(TF1_SAVER, "dense/kernel")  # [in, out], written by TF
    bias = ckpt.load_variable(TF1_SAVER, "dense/bias")
    model = Model()
    weight = model.fc.weight
    plan = ckpt.init_from_checkpoint(
        TF1_SAVER,  # a directory: its latest checkpoint
        {"dense/kernel": "fc/weight", "dense/bias": "fc/bias"},
        root=model,
        transforms={"dense/kernel": ckpt.transforms.Transpose()},
    )
    assert [(a.checkpoint_key, a.target_name) for a in plan.assignments] == [
        ("dense/bias", "fc/bias"),
        ("dense/kernel", "fc/weight"),
    ]
    assert model.fc.weight is weight  # assigned in place
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    with torch.no_grad():
        out = model.fc(torch.from_numpy(x))
    np.testing.assert_allclose(out.numpy(), x @ kernel + bias, rtol=1e-6, atol=1e-6)


def test_glob_map_and_dry_run_on_a_torch_root() -> None:
    model = Model()
    before = model.fc.weight.detach().clone()
    plan = ckpt.init_from_checkpoint(
        TF1_SAVER,
        {"dense/kernel": "fc/weight", "dense/b*": "fc/b*"},
        root=model,
        transforms={"dense/kernel": ckpt.transforms.Transpose()},
        dry_run=True,
    )
    assert torch.equal(model.fc.weight, before)  # nothing assigned
    table = str(plan)
    assert "dense/kernel" in table and "fc/weight" in table and "transpose" in table
    assert "scope/w" in plan.unmatched_checkpoint
