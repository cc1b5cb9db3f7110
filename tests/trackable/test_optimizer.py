"""``ckpt.Optimizer``: slots, their checkpoint keys, restore and creation on restore."""

from __future__ import annotations

import numpy as np
import pytest

import ckpt


class Model(ckpt.Module):
    def __init__(self) -> None:
        super().__init__()
        self.kernel = ckpt.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="kernel")
        self.bias = ckpt.Variable(np.arange(3, dtype=np.float32), name="bias")


class Momentum(ckpt.Optimizer):
    def apply(self, variable, grad, lr=0.1, beta=0.9) -> None:
        m = self.get_slot(variable, "m") or self.add_slot(variable, "m")
        m.assign(beta * m.numpy() + grad)
        variable.assign(variable.numpy() - lr * m.numpy())


def trained(steps: int = 3):
    model, opt = Model(), Momentum()
    for step in range(steps):
        for v in (model.kernel, model.bias):
            opt.apply(v, np.full(v.shape, step + 1, np.float32))
    return model, opt


def test_add_get_slot_names() -> None:
    model, opt = Model(), ckpt.Optimizer()
    assert opt.get_slot_names() == []
    assert opt.get_slot(model.kernel, "m") is None
    m = opt.add_slot(model.kernel, "m")
    assert isinstance(m, ckpt.Variable)
    assert m.shape == (2, 3) and m.dtype == np.float32
    assert not m.numpy().any()  # zeros by default
    assert opt.get_slot(model.kernel, "m") is m
    assert opt.get_slot(model.bias, "m") is None
    assert opt.add_slot(model.kernel, "m", np.ones((2, 3))) is m  # existing slot returned
    v = opt.add_slot(model.bias, "v", np.full(3, 2.0, np.float32))
    assert v.numpy().tolist() == [2, 2, 2]
    opt.add_slot(model.bias, "m")
    assert opt.get_slot_names() == ["m", "v"]  # first-created order
    assert m.name == "kernel/m"


def test_slots_are_not_children() -> None:
    model, opt = Model(), ckpt.Optimizer(name="adam")
    opt.add_slot(model.kernel, "m")
    from ckpt.trackable.base import children_of

    assert dict(children_of(opt)) == {}
    assert opt.name == "adam"
    assert isinstance(opt, ckpt.Module)


def test_slot_keys_in_checkpoint(tmp_path) -> None:
    model, opt = trained()
    prefix = ckpt.Checkpoint(net=model, opt=opt).write(str(tmp_path / "t"))
    with ckpt.CheckpointReader(prefix) as reader:
        keys = set(reader.keys())
        assert "net/kernel/.OPTIMIZER_SLOT/opt/m/.ATTRIBUTES/VARIABLE_VALUE" in keys
        assert "net/bias/.OPTIMIZER_SLOT/opt/m/.ATTRIBUTES/VARIABLE_VALUE" in keys
        stored = reader.get_tensor("net/bias/.OPTIMIZER_SLOT/opt/m/.ATTRIBUTES/VARIABLE_VALUE")
    assert np.array_equal(stored, opt.get_slot(model.bias, "m").numpy())


def test_existing_slots_restored(tmp_path) -> None:
    model, opt = trained()
    prefix = ckpt.Checkpoint(net=model, opt=opt).write(str(tmp_path / "t"))
    model2, opt2 = Model(), Momentum()
    m_kernel = opt2.add_slot(model2.kernel, "m")
    m_bias = opt2.add_slot(model2.bias, "m")
    ckpt.Checkpoint(net=model2, opt=opt2).read(prefix).assert_consumed()
    assert opt2.get_slot(model2.kernel, "m") is m_kernel
    assert np.array_equal(m_kernel.numpy(), opt.get_slot(model.kernel, "m").numpy())
    assert np.array_equal(m_bias.numpy(), opt.get_slot(model.bias, "m").numpy())
    assert np.array_equal(model2.kernel.numpy(), model.kernel.numpy())


def test_missing_slots_created_on_restore(tmp_path) -> None:
    model, opt = trained()
    prefix = ckpt.Checkpoint(net=model, opt=opt).write(str(tmp_path / "t"))
    model2, opt2 = Model(), Momentum()
    ckpt.Checkpoint(net=model2, opt=opt2).read(prefix).assert_consumed()
    assert opt2.get_slot_names() == ["m"]
    for v, v2 in ((model.kernel, model2.kernel), (model.bias, model2.bias)):
        slot = opt2.get_slot(v2, "m")
        assert slot is not None
        assert slot.dtype == np.float32
        assert np.array_equal(slot.numpy(), opt.get_slot(v, "m").numpy())


def test_training_resumes_identically(tmp_path) -> None:
    model, opt = trained(2)
    prefix = ckpt.Checkpoint(net=model, opt=opt).write(str(tmp_path / "t"))
    model2, opt2 = Model(), Momentum()
    ckpt.Checkpoint(net=model2, opt=opt2).read(prefix).assert_consumed()
    for m, o in ((model, opt), (model2, opt2)):
        for v in (m.kernel, m.bias):
            o.apply(v, np.full(v.shape, 5, np.float32))
    assert np.array_equal(model.kernel.numpy(), model2.kernel.numpy())
    assert np.array_equal(model.bias.numpy(), model2.bias.numpy())


def test_slot_created_when_variable_is_created_later(tmp_path) -> None:
    model, opt = trained()
    prefix = ckpt.Checkpoint(net=model, opt=opt).write(str(tmp_path / "t"))
    lazy, opt2 = ckpt.Module(), Momentum()
    status = ckpt.Checkpoint(net=lazy, opt=opt2).read(prefix)
    assert opt2.get_slot_names() == []
    with pytest.raises(AssertionError):
        status.assert_consumed()
    lazy.kernel = ckpt.Variable(np.zeros((2, 3), np.float32))
    slot = opt2.get_slot(lazy.kernel, "m")
    assert slot is not None
    assert np.array_equal(slot.numpy(), opt.get_slot(model.kernel, "m").numpy())
    assert np.array_equal(lazy.kernel.numpy(), model.kernel.numpy())
    lazy.bias = ckpt.Variable(np.zeros(3, np.float32))
    assert np.array_equal(
        opt2.get_slot(lazy.bias, "m").numpy(), opt.get_slot(model.bias, "m").numpy()
    )
    status.assert_consumed()


def test_slot_created_when_optimizer_is_added_later(tmp_path) -> None:
    model, opt = trained()
    prefix = ckpt.Checkpoint(net=model, opt=opt).write(str(tmp_path / "t"))
    model2 = Model()
    checkpoint = ckpt.Checkpoint(net=model2)
    status = checkpoint.read(prefix)
    status.assert_existing_objects_matched()
    with pytest.raises(AssertionError):
        status.assert_consumed()
    checkpoint.opt = Momentum()
    slot = checkpoint.opt.get_slot(model2.bias, "m")
    assert slot is not None
    assert np.array_equal(slot.numpy(), opt.get_slot(model.bias, "m").numpy())
    status.assert_consumed()


def test_protocol_only_slot_provider(tmp_path) -> None:
    """Any object with the three slot methods takes part (no ckpt base class)."""

    class Slots:
        def __init__(self) -> None:
            self.slots: dict[tuple[int, str], ckpt.Variable] = {}
            self.created: list[str] = []

        def _trackable_children(self):
            return {}

        def _checkpoint_slot_names(self):
            return sorted({name for _, name in self.slots})

        def _checkpoint_get_slot(self, variable, name):
            return self.slots.get((id(variable), name))

        def _checkpoint_create_slot(self, variable, name, value):
            self.created.append(name)
            slot = ckpt.Variable(value)
            self.slots[(id(variable), name)] = slot
            return slot

    root = ckpt.Module()
    root.v = ckpt.Variable(np.float32(1))
    root.opt = Slots()
    root.opt.slots[(id(root.v), "acc")] = ckpt.Variable(np.float32(9))
    prefix = ckpt.CheckpointableSaver(root).save(str(tmp_path / "p"))
    with ckpt.CheckpointReader(prefix) as reader:
        assert reader.get_tensor("v/.OPTIMIZER_SLOT/opt/acc/.ATTRIBUTES/VARIABLE_VALUE") == 9
    fresh = ckpt.Module()
    fresh.v = ckpt.Variable(np.float32(0))
    fresh.opt = Slots()
    ckpt.CheckpointableSaver(fresh).restore(prefix).assert_consumed()
    assert fresh.opt.created == ["acc"]
    assert fresh.opt.slots[(id(fresh.v), "acc")].numpy() == 9
