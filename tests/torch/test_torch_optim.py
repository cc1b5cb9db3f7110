"""Optimizers, LR schedulers, ``GradScaler`` and generators through ``ckpt.Checkpoint``.

The issue's demonstration first: an MLP with LayerNorm trained with AdamW, saved, restored into
a freshly initialised model and optimizer, continues with exactly the losses of uninterrupted
training; TensorFlow reads every parameter and optimizer slot.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.optim import lr_scheduler
from torch_models import (
    GRAPH_KEY,
    MLP,
    batches,
    bits,
    optimizer_bits,
    seeded,
    state_bits,
    train,
)

import ckpt
from ckpt.errors import CheckpointAssertionError, ValueMismatchError

sys.path.insert(0, str(Path(__file__).parents[1] / "compat"))
from tf_support import import_tensorflow

SLOT = "/.OPTIMIZER_SLOT/optimizer/"


def adamw(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05)


def trained_and_saved(tmp_path: Path, steps: int = 5) -> tuple[nn.Module, Any, str]:
    model = seeded(MLP, 0)
    optimizer = adamw(model)
    train(model, optimizer, batches(1, steps))
    checkpoint = ckpt.Checkpoint(model=model, optimizer=optimizer, step=ckpt.Variable(steps))
    return model, optimizer, checkpoint.save(str(tmp_path / "ckpt"))


# --- the demonstration ---------------------------------------------------------------------


def test_adamw_layernorm_mlp_continues_bit_identically(tmp_path: Path) -> None:
    data = batches(1, 12)
    # Uninterrupted: 12 steps in one go.
    reference = seeded(MLP, 0)
    reference_optimizer = adamw(reference)
    uninterrupted = train(reference, reference_optimizer, data)

    # Interrupted: 6 steps, save, and carry on from a fresh process's point of view.
    model = seeded(MLP, 0)
    optimizer = adamw(model)
    assert train(model, optimizer, data[:6]) == uninterrupted[:6]
    path = ckpt.Checkpoint(model=model, optimizer=optimizer, step=ckpt.Variable(6)).save(
        str(tmp_path / "ckpt")
    )

    fresh = seeded(MLP, 123)  # other initial values, and an optimizer that never stepped
    fresh_optimizer = adamw(fresh)
    assert state_bits(fresh) != state_bits(model)
    assert not fresh_optimizer.state
    step = ckpt.Variable(0)
    status = ckpt.Checkpoint(model=fresh, optimizer=fresh_optimizer, step=step).restore(path)
    status.assert_consumed()
    assert int(step.numpy()) == 6
    assert state_bits(fresh) == state_bits(model)
    assert optimizer_bits(fresh_optimizer) == optimizer_bits(optimizer)

    resumed = train(fresh, fresh_optimizer, data[6:])
    assert resumed == uninterrupted[6:]  # exact float equality, step by step
    assert state_bits(fresh) == state_bits(reference)
    assert optimizer_bits(fresh_optimizer) == optimizer_bits(reference_optimizer)


@pytest.mark.tf
def test_tensorflow_reads_every_parameter_and_slot(tmp_path: Path) -> None:
    tf, missing = import_tensorflow()
    if tf is None:
        pytest.skip(missing)
    model, optimizer, path = trained_and_saved(tmp_path)
    reader = tf.train.load_checkpoint(path)
    keys = set(reader.get_variable_to_shape_map())
    names = ckpt.torch.state_dict_names(model)
    expected = {GRAPH_KEY, "save_counter/.ATTRIBUTES/VARIABLE_VALUE"}
    expected |= {"step/.ATTRIBUTES/VARIABLE_VALUE"}
    expected |= {f"optimizer/{n}/.ATTRIBUTES/py_state" for n in ("param_groups", "state")}
    params = dict(model.named_parameters())
    for name, tensor in model.state_dict().items():
        key = f"model/{names[name]}"
        expected.add(f"{key}/.ATTRIBUTES/VARIABLE_VALUE")
        assert bits(torch.from_numpy(reader.get_tensor(f"{key}/.ATTRIBUTES/VARIABLE_VALUE"))) == (
            bits(tensor)
        )
        if name not in params:
            continue
        for slot, value in optimizer.state[params[name]].items():
            slot_key = f"{key}{SLOT}{slot}/.ATTRIBUTES/VARIABLE_VALUE"
            expected.add(slot_key)
            stored = reader.get_tensor(slot_key)
            assert np.asarray(stored).dtype == np.float32, slot_key
            assert bits(torch.from_numpy(np.asarray(stored))) == bits(value), slot_key
    assert keys == expected
    # TF's own object-graph reader sees the slots as slot variables of the optimizer node.
    from tensorflow.core.protobuf.trackable_object_graph_pb2 import TrackableObjectGraph

    proto = TrackableObjectGraph.FromString(reader.get_tensor(GRAPH_KEY))
    slot_names = {s.slot_name for node in proto.nodes for s in node.slot_variables}
    assert slot_names == {"step", "exp_avg", "exp_avg_sq"}


# --- slots ---------------------------------------------------------------------------------


def test_state_tensors_are_slot_variables(tmp_path: Path) -> None:
    model, _optimizer, path = trained_and_saved(tmp_path)
    keys = {k for k, _ in ckpt.list_variables(path)}
    slot_keys = {k for k in keys if ".OPTIMIZER_SLOT" in k}
    per_param = {"step", "exp_avg", "exp_avg_sq"}
    names = ckpt.torch.state_dict_names(model)
    assert slot_keys == {
        f"model/{names[n]}{SLOT}{s}/.ATTRIBUTES/VARIABLE_VALUE"
        for n, _ in model.named_parameters()
        for s in per_param
    }
    graph = ckpt.object_graph(path)
    assert graph is not None


def test_restore_creates_state_where_torch_would(tmp_path: Path) -> None:
    model, optimizer, path = trained_and_saved(tmp_path)
    fresh = seeded(MLP, 1)
    fresh_optimizer = adamw(fresh)
    ckpt.Checkpoint(model=fresh, optimizer=fresh_optimizer).read(path).expect_partial()
    for p, q in zip(model.parameters(), fresh.parameters(), strict=True):
        old, new = optimizer.state[p], fresh_optimizer.state[q]
        assert list(new) == list(old)
        for name in old:
            assert new[name].dtype == old[name].dtype
            assert new[name].device == old[name].device
            assert new[name].shape == old[name].shape
            assert new[name].stride() == old[name].stride()
            assert bits(new[name]) == bits(old[name])
        assert new["step"].dim() == 0 and new["step"].device.type == "cpu"


def test_restore_into_existing_state_is_in_place(tmp_path: Path) -> None:
    _model, optimizer, path = trained_and_saved(tmp_path)
    other = seeded(MLP, 1)
    other_optimizer = adamw(other)
    train(other, other_optimizer, batches(7, 2))
    pointers = {
        (i, k): v.data_ptr()
        for i, p in enumerate(other.parameters())
        for k, v in other_optimizer.state[p].items()
    }
    ckpt.Checkpoint(model=other, optimizer=other_optimizer).read(path).expect_partial()
    assert optimizer_bits(other_optimizer) == optimizer_bits(optimizer)
    after = {
        (i, k): v.data_ptr()
        for i, p in enumerate(other.parameters())
        for k, v in other_optimizer.state[p].items()
    }
    assert after == pointers


def test_param_group_settings_are_restored(tmp_path: Path) -> None:
    model = seeded(MLP, 0)
    decay = [p for n, p in model.named_parameters() if n.endswith("weight")]
    no_decay = [p for n, p in model.named_parameters() if not n.endswith("weight")]
    optimizer = torch.optim.Adam(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "lr": 0.5}],
        lr=0.01, betas=(0.8, 0.95), amsgrad=True,
    )  # fmt: skip
    optimizer.param_groups[0]["lr"] = 0.125
    train(model, optimizer, batches(1, 2))
    path = ckpt.Checkpoint(model=model, optimizer=optimizer).write(str(tmp_path / "groups"))

    fresh = seeded(MLP, 0)
    fresh_decay = [p for n, p in fresh.named_parameters() if n.endswith("weight")]
    fresh_rest = [p for n, p in fresh.named_parameters() if not n.endswith("weight")]
    fresh_optimizer = torch.optim.Adam([{"params": fresh_decay}, {"params": fresh_rest}])
    ckpt.Checkpoint(model=fresh, optimizer=fresh_optimizer).read(path).assert_consumed()
    for got, want in zip(fresh_optimizer.param_groups, optimizer.param_groups, strict=True):
        assert {k: v for k, v in got.items() if k != "params"} == {
            k: v for k, v in want.items() if k != "params"
        }
        assert type(got["betas"]) is tuple
    assert optimizer_bits(fresh_optimizer) == optimizer_bits(optimizer)
    assert "max_exp_avg_sq" in fresh_optimizer.state[fresh_decay[0]]


def test_param_group_count_mismatch_is_refused(tmp_path: Path) -> None:
    _model, _optimizer, path = trained_and_saved(tmp_path)
    fresh = seeded(MLP, 0)
    params = list(fresh.parameters())
    two_groups = torch.optim.AdamW([{"params": params[:2]}, {"params": params[2:]}])
    with pytest.raises(ValueMismatchError, match="parameter group"):
        ckpt.Checkpoint(model=fresh, optimizer=two_groups).read(path)


def test_param_group_size_mismatch_is_refused_before_anything_changes(tmp_path: Path) -> None:
    model = seeded(MLP, 0)
    params = list(model.parameters())
    optimizer = torch.optim.AdamW([{"params": params[:2]}, {"params": params[2:], "lr": 0.1}])
    train(model, optimizer, batches(0, 1))
    path = ckpt.Checkpoint(model=model, optimizer=optimizer).write(str(tmp_path / "c"))
    fresh = seeded(MLP, 1)
    fresh_params = list(fresh.parameters())
    regrouped = torch.optim.AdamW(
        [{"params": fresh_params[:3]}, {"params": fresh_params[3:], "lr": 0.5}]
    )
    with pytest.raises(ValueMismatchError, match="group 0 of the checkpoint's AdamW has 2"):
        ckpt.Checkpoint(model=fresh, optimizer=regrouped).read(path)
    assert regrouped.param_groups[1]["lr"] == 0.5


OPTIMIZERS = {
    "sgd-nesterov": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    "adam-amsgrad": lambda ps: torch.optim.Adam(ps, lr=1e-2, amsgrad=True),
    "adamw-foreach": lambda ps: torch.optim.AdamW(ps, lr=1e-2, foreach=True),
    "adamw-fused": lambda ps: torch.optim.AdamW(ps, lr=1e-2, fused=True),
    "rmsprop-centered": lambda ps: torch.optim.RMSprop(ps, lr=1e-3, centered=True, momentum=0.5),
    "adagrad": lambda ps: torch.optim.Adagrad(ps, lr=0.05),
    "adamax": lambda ps: torch.optim.Adamax(ps, lr=1e-2),
    "nadam": lambda ps: torch.optim.NAdam(ps, lr=1e-2, decoupled_weight_decay=True),
    "radam": lambda ps: torch.optim.RAdam(ps, lr=1e-2),
    "adadelta": lambda ps: torch.optim.Adadelta(ps),
}


@pytest.mark.parametrize("kind", list(OPTIMIZERS))
def test_every_torch_optimizer_continues_bit_identically(kind: str, tmp_path: Path) -> None:
    make = OPTIMIZERS[kind]
    data = batches(5, 8)
    reference = seeded(MLP, 0)
    reference_optimizer = make(reference.parameters())
    uninterrupted = train(reference, reference_optimizer, data)

    model = seeded(MLP, 0)
    optimizer = make(model.parameters())
    train(model, optimizer, data[:4])
    path = ckpt.Checkpoint(model=model, optimizer=optimizer).write(str(tmp_path / kind))
    fresh = seeded(MLP, 9)
    fresh_optimizer = make(fresh.parameters())
    ckpt.Checkpoint(model=fresh, optimizer=fresh_optimizer).read(path).assert_consumed()
    assert train(fresh, fresh_optimizer, data[4:]) == uninterrupted[4:]
    assert state_bits(fresh) == state_bits(reference)


class Counting(torch.optim.SGD):
    """Keeps non-tensor per-parameter state, as some third-party optimizers do."""

    def step(self, closure: Any = None) -> Any:
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["updates"] = state.get("updates", 0) + 1
                state["trace"] = (*state.get("trace", ()), round(float(p.detach().sum()), 3))
        return super().step(closure)


def test_non_tensor_parameter_state_round_trips(tmp_path: Path) -> None:
    model = seeded(MLP, 0)
    optimizer = Counting(model.parameters(), lr=0.1, momentum=0.9)
    train(model, optimizer, batches(1, 3))
    path = ckpt.Checkpoint(model=model, optimizer=optimizer).write(str(tmp_path / "count"))
    fresh = seeded(MLP, 2)
    fresh_optimizer = Counting(fresh.parameters(), lr=0.1, momentum=0.9)
    ckpt.Checkpoint(model=fresh, optimizer=fresh_optimizer).read(path).assert_consumed()
    assert optimizer_bits(fresh_optimizer) == optimizer_bits(optimizer)
    first = fresh_optimizer.state[next(fresh.parameters())]
    assert first["updates"] == 3 and isinstance(first["trace"], tuple)


def test_state_of_a_parameter_the_optimizer_does_not_hold_stays_unused(tmp_path: Path) -> None:
    # As in TF, where such slot values wait until the optimizer makes slots for the variable:
    # they are not consumed, and the status says so. (Groups of equal size: torch's rule.)
    model = seeded(lambda: nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3)), 0)
    first_only = torch.optim.Adam(model[0].parameters())
    train(model, first_only, [(torch.randn(4, 3), torch.randn(4, 3))])
    path = ckpt.Checkpoint(model=model, optimizer=first_only).write(str(tmp_path / "c"))
    fresh = seeded(lambda: nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3)), 1)
    second_only = torch.optim.Adam(fresh[1].parameters())
    status = ckpt.Checkpoint(model=fresh, optimizer=second_only).read(path)
    status.assert_existing_objects_matched()
    with pytest.raises(CheckpointAssertionError, match="Unresolved slot"):
        status.assert_consumed()
    unused = status.report().unused_in_checkpoint
    assert len(unused) == 6 and all(k.startswith("model/0/") for k in unused)
    assert second_only.state_dict()["state"] == {}


def test_restore_replaces_the_state_of_an_optimizer_that_has_stepped(tmp_path: Path) -> None:
    # As Optimizer.load_state_dict does: state the checkpoint does not have is dropped, so
    # rolling back to a checkpoint saved before any step gives an optimizer that never stepped.
    model = seeded(MLP, 0)
    optimizer = adamw(model)
    checkpoint = ckpt.Checkpoint(model=model, optimizer=optimizer)
    before_any_step = checkpoint.write(str(tmp_path / "start"))
    expected = train(model, optimizer, batches(3, 1))
    restarted = seeded(MLP, 0)
    resumed = adamw(restarted)
    train(restarted, resumed, batches(2, 2))  # moments for every parameter
    ckpt.Checkpoint(model=restarted, optimizer=resumed).read(before_any_step).assert_consumed()
    assert resumed.state_dict()["state"] == {}
    assert train(restarted, resumed, batches(3, 1)) == expected


def test_optimizer_without_its_model_saves_no_slots(tmp_path: Path) -> None:
    model = seeded(MLP, 0)
    optimizer = adamw(model)
    train(model, optimizer, batches(1, 1))
    path = ckpt.Checkpoint(optimizer=optimizer).write(str(tmp_path / "alone"))
    keys = {k for k, _ in ckpt.list_variables(path)}
    assert keys == {GRAPH_KEY} | {
        f"optimizer/{n}/.ATTRIBUTES/py_state" for n in ("param_groups", "state")
    }


# --- schedulers, scalers, generators ---------------------------------------------------------

SCHEDULERS = {
    "step": lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.5),
    "one-cycle": lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=20),
    "cosine-restarts": lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=3),
    "sequential": lambda o: lr_scheduler.SequentialLR(
        o, [lr_scheduler.LinearLR(o, 0.1, total_iters=3), lr_scheduler.ExponentialLR(o, 0.9)],
        milestones=[3],
    ),
    "lambda": lambda o: lr_scheduler.LambdaLR(o, lambda epoch: 0.9**epoch),
}


@pytest.mark.parametrize("kind", list(SCHEDULERS))
def test_scheduler_state_round_trips(kind: str, tmp_path: Path) -> None:
    make = SCHEDULERS[kind]
    data = batches(3, 10)
    reference = seeded(MLP, 0)
    reference_optimizer = torch.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9)
    reference_scheduler = make(reference_optimizer)
    uninterrupted = train(reference, reference_optimizer, data, reference_scheduler)

    model = seeded(MLP, 0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = make(optimizer)
    train(model, optimizer, data[:5], scheduler)
    checkpoint = ckpt.Checkpoint(model=model, optimizer=optimizer, scheduler=scheduler)
    path = checkpoint.write(str(tmp_path / kind))

    fresh = seeded(MLP, 0)
    fresh_optimizer = torch.optim.SGD(fresh.parameters(), lr=0.05, momentum=0.9)
    fresh_scheduler = make(fresh_optimizer)
    restored = ckpt.Checkpoint(model=fresh, optimizer=fresh_optimizer, scheduler=fresh_scheduler)
    restored.read(path).assert_consumed()
    assert fresh_scheduler.get_last_lr() == scheduler.get_last_lr()
    assert train(fresh, fresh_optimizer, data[5:], fresh_scheduler) == uninterrupted[5:]
    assert fresh_scheduler.state_dict().keys() == reference_scheduler.state_dict().keys()


def test_reduce_on_plateau_keeps_infinity(tmp_path: Path) -> None:
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(2))], lr=1.0)
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, patience=0)
    path = ckpt.Checkpoint(scheduler=scheduler).write(str(tmp_path / "fresh"))
    other = lr_scheduler.ReduceLROnPlateau(torch.optim.SGD([nn.Parameter(torch.zeros(2))]))
    other.best = 0.0
    ckpt.Checkpoint(scheduler=other).read(path).assert_consumed()
    assert other.best == float("inf")
    for metric in (3.0, 2.0, 5.0, 6.0):
        scheduler.step(metric)
    path = ckpt.Checkpoint(scheduler=scheduler).write(str(tmp_path / "stepped"))
    ckpt.Checkpoint(scheduler=other).read(path).assert_consumed()
    assert other.state_dict() == scheduler.state_dict()


def test_grad_scaler_state_round_trips(tmp_path: Path) -> None:
    model = seeded(MLP, 0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=2)
    for x, y in batches(1, 5):
        optimizer.zero_grad()
        scaler.scale(nn.functional.mse_loss(model(x), y)).backward()
        scaler.step(optimizer)
        scaler.update()
    assert scaler.get_scale() != 2.0**10  # it grew: there is state to restore
    path = ckpt.Checkpoint(scaler=scaler).write(str(tmp_path / "scaler"))
    fresh = torch.amp.GradScaler("cpu")
    ckpt.Checkpoint(scaler=fresh).read(path).assert_consumed()
    assert fresh.state_dict() == scaler.state_dict()
    assert fresh.get_scale() == scaler.get_scale()


def test_disabled_grad_scaler(tmp_path: Path) -> None:
    disabled = torch.amp.GradScaler("cpu", enabled=False)
    path = ckpt.Checkpoint(scaler=disabled).write(str(tmp_path / "off"))
    ckpt.Checkpoint(scaler=torch.amp.GradScaler("cpu", enabled=False)).read(path)
    with pytest.raises(ValueMismatchError, match="disabled"):
        ckpt.Checkpoint(scaler=torch.amp.GradScaler("cpu")).read(path)


def test_generator_state_round_trips(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(7)
    torch.rand(5, generator=generator)
    path = ckpt.Checkpoint(rng=generator).write(str(tmp_path / "rng"))
    expected = torch.rand(5, generator=generator)
    other = torch.Generator().manual_seed(99)
    ckpt.Checkpoint(rng=other).read(path).assert_consumed()
    assert torch.equal(torch.rand(5, generator=other), expected)


def test_missing_optimizer_state_is_reported(tmp_path: Path) -> None:
    model = seeded(MLP, 0)
    path = ckpt.Checkpoint(model=model).write(str(tmp_path / "model-only"))
    optimizer = adamw(model)
    status = ckpt.Checkpoint(model=model, optimizer=optimizer).read(path)
    with pytest.raises(CheckpointAssertionError, match="param_groups"):
        status.assert_existing_objects_matched()


def test_a_mismatch_leaves_a_fresh_optimizer_without_state(tmp_path: Path) -> None:
    # Slots are created only once every value has been checked: nothing is assigned.
    def net(width: int) -> nn.Module:
        return nn.Sequential(nn.Linear(3, 2), nn.Linear(2, width))

    model = seeded(lambda: net(4), 0)
    optimizer = torch.optim.Adam(model.parameters())
    train(model, optimizer, [(torch.randn(4, 3), torch.randn(4, 4))])
    path = ckpt.Checkpoint(model=model, optimizer=optimizer).write(str(tmp_path / "c"))
    other = seeded(lambda: net(5), 1)
    fresh = torch.optim.Adam(other.parameters())
    with pytest.raises(ckpt.errors.ShapeMismatchError):
        ckpt.Checkpoint(model=other, optimizer=fresh).read(path)
    assert fresh.state_dict()["state"] == {}


def test_a_slot_of_the_wrong_shape_is_refused_before_anything_changes(tmp_path: Path) -> None:
    # Adam's moments have their parameter's shape: a checkpoint saying otherwise would only
    # fail at the next step() (torch creates the state lazily, so nothing else checks it).
    model = seeded(lambda: nn.Linear(3, 2), 0)
    optimizer = torch.optim.Adam(model.parameters())
    train(model, optimizer, [(torch.randn(4, 3), torch.randn(4, 2))])
    path = ckpt.Checkpoint(model=model, optimizer=optimizer).write(str(tmp_path / "c"))
    key = "model/weight/.OPTIMIZER_SLOT/optimizer/exp_avg/.ATTRIBUTES/VARIABLE_VALUE"
    with ckpt.load_checkpoint(path) as reader:
        tensors = {k: reader.get_tensor(k) for k in reader}
    tensors[key] = np.zeros(1000, np.float32)
    bad = ckpt.write_tensors(str(tmp_path / "bad"), tensors)
    fresh = seeded(lambda: nn.Linear(3, 2), 1)
    before = state_bits(fresh)
    fresh_optimizer = torch.optim.Adam(fresh.parameters())
    with pytest.raises(ckpt.errors.ShapeMismatchError, match=r"exp_avg.*\(1000,\)"):
        ckpt.Checkpoint(model=fresh, optimizer=fresh_optimizer).read(bad)
    assert fresh_optimizer.state_dict()["state"] == {} and state_bits(fresh) == before


def test_fresh_state_takes_the_parameters_dtype_as_load_state_dict_does(tmp_path: Path) -> None:
    model = seeded(lambda: nn.Linear(3, 2), 0)
    optimizer = torch.optim.Adam(model.parameters())
    train(model, optimizer, [(torch.randn(4, 3), torch.randn(4, 2))])
    path = ckpt.Checkpoint(model=model, optimizer=optimizer).write(str(tmp_path / "c"))
    half = seeded(lambda: nn.Linear(3, 2), 1).to(torch.bfloat16)
    fresh = torch.optim.Adam(half.parameters())
    options = ckpt.CheckpointOptions(allow_dtype_cast=True)
    ckpt.Checkpoint(model=half, optimizer=fresh).read(path, options=options)
    assert {s["exp_avg"].dtype for s in fresh.state.values()} == {torch.bfloat16}
    half(torch.randn(4, 3, dtype=torch.bfloat16)).sum().backward()
    fresh.step()  # works: the state has the parameters' dtype


def test_a_deferred_optimizer_refused_for_its_groups_can_be_retried(tmp_path: Path) -> None:
    holder = ckpt.Module()
    holder.net = seeded(lambda: nn.Linear(3, 2), 0)
    holder.opt = torch.optim.Adam(holder.net.parameters(), lr=0.01)
    train(holder.net, holder.opt, [(torch.randn(4, 3), torch.randn(4, 2))])
    path = ckpt.Checkpoint(h=holder).write(str(tmp_path / "c"))
    fresh = ckpt.Module()
    status = ckpt.Checkpoint(h=fresh).read(path)
    fresh.net = seeded(lambda: nn.Linear(3, 2), 1)
    weight, bias = fresh.net.parameters()
    with pytest.raises(ValueMismatchError, match="parameter group"):
        fresh.opt = torch.optim.Adam([{"params": [weight]}, {"params": [bias]}], lr=0.5)
    fresh.opt = torch.optim.Adam(fresh.net.parameters(), lr=0.5)  # fits: restored now
    assert fresh.opt.param_groups[0]["lr"] == 0.01 and len(fresh.opt.state) == 2
    status.assert_consumed()
