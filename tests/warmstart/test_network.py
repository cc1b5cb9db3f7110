"""``ckpt.save_network_checkpoint`` / ``ckpt.restore_network_checkpoint`` (format doc §7.4):
name-based checkpoints of one network restored into another, now and into variables created
later (deferred restoration)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import ckpt
from ckpt.errors import (
    AssignmentMapError,
    CheckpointNotFoundError,
    ShapeMismatchError,
    TensorNotFoundError,
)


class Dense(ckpt.Module):
    def __init__(self, n_in: int, n_out: int, fill: float = -1.0) -> None:
        super().__init__()
        self.kernel = ckpt.Variable(np.full((n_in, n_out), fill, np.float32), name="kernel")
        self.bias = ckpt.Variable(np.full((n_out,), fill, np.float32), name="bias")


class MyNetwork(ckpt.Module):
    def __init__(self, name: str, *, fill: float = -1.0, layers: int = 2) -> None:
        super().__init__(name=name)
        if layers >= 1:
            self.dense_1 = Dense(2, 3, fill)
        if layers >= 2:
            self.dense_2 = Dense(3, 1, fill)


def _trained(name: str = "my_network_1") -> MyNetwork:
    """A network with distinct values in every variable."""
    net = MyNetwork(name)
    for i, (_, v) in enumerate(net.named_variables()):
        v.assign(np.arange(v.numpy().size, dtype=np.float32).reshape(v.shape) + 10 * (i + 1))
    return net


def _values(net: ckpt.Module) -> dict[str, np.ndarray]:
    """Variables by path without the network's own name, copied."""
    prefix = net.name + "/"
    return {name[len(prefix) :]: v.numpy().copy() for name, v in net.named_variables()}


def _assert_same(a: ckpt.Module, b: ckpt.Module) -> None:
    va, vb = _values(a), _values(b)
    assert va.keys() == vb.keys()
    for key in va:
        np.testing.assert_array_equal(va[key], vb[key], err_msg=key)


def test_restore_into_a_network_of_another_name(tmp_path: Path) -> None:
    source = _trained("my_network_1")
    prefix = ckpt.save_network_checkpoint(source, tmp_path / "ckpt")
    assert prefix == str(tmp_path / "ckpt")
    # The network's own scope is stripped from the checkpoint names.
    assert [name for name, _ in ckpt.list_variables(prefix)] == [
        "dense_1/bias",
        "dense_1/kernel",
        "dense_2/bias",
        "dense_2/kernel",
    ]
    assert ckpt.latest_checkpoint(str(tmp_path)) == prefix
    target = MyNetwork("my_network_2")
    result = ckpt.restore_network_checkpoint(target, prefix)
    _assert_same(source, target)
    assert isinstance(result, ckpt.NetworkRestore)
    assert result.deferred == []
    assert [a.target_name for a in result.plan.assignments] == [
        "my_network_2/dense_1/bias",
        "my_network_2/dense_1/kernel",
        "my_network_2/dense_2/bias",
        "my_network_2/dense_2/kernel",
    ]
    assert "my_network_2/dense_1/kernel" in str(result)


def test_default_name_is_the_class_name(tmp_path: Path) -> None:
    class Tiny(ckpt.Module):
        def __init__(self) -> None:
            self.w = ckpt.Variable(np.float32(3))  # no super().__init__(): name "tiny"

    prefix = ckpt.save_network_checkpoint(Tiny(), tmp_path)
    assert prefix == str(tmp_path / "tiny")
    assert ckpt.list_variables(prefix) == [("w", [])]


def test_custom_map_func(tmp_path: Path) -> None:
    source = _trained("my_network_1")
    seen: list[str] = []

    def to_ckpt(name: str) -> str:
        seen.append(name)
        return "model/" + name.split("/", 1)[1].replace("dense_", "layer")

    prefix = ckpt.save_network_checkpoint(source, tmp_path / "c", map_func=to_ckpt)
    assert "my_network_1/dense_1/kernel" in seen
    assert "model/layer1/kernel" in dict(ckpt.list_variables(prefix))
    target = MyNetwork("other")
    ckpt.restore_network_checkpoint(target, prefix, map_func=to_ckpt)
    _assert_same(source, target)
    # without the map_func the names do not match: nothing is assigned
    fresh = MyNetwork("fresh")
    with pytest.raises(TensorNotFoundError):
        ckpt.restore_network_checkpoint(fresh, prefix)
    assert all((v == -1).all() for v in _values(fresh).values())


def test_global_step(tmp_path: Path) -> None:
    prefix = ckpt.save_network_checkpoint(_trained(), tmp_path / "c", global_step=7)
    assert prefix == str(tmp_path / "c-7")
    assert ckpt.latest_checkpoint(str(tmp_path)) == prefix


def test_directory_save_path(tmp_path: Path) -> None:
    source = _trained("my_network_1")
    prefix = ckpt.save_network_checkpoint(source, tmp_path)
    assert prefix == os.path.join(tmp_path, "my_network_1")
    target = MyNetwork("my_network_2")
    # no <dir>/my_network_2: the directory's latest checkpoint
    result = ckpt.restore_network_checkpoint(target, tmp_path)
    assert result.plan.checkpoint == prefix
    _assert_same(source, target)


def test_directory_prefers_the_networks_own_checkpoint(tmp_path: Path) -> None:
    mine = _trained("net")
    ckpt.save_network_checkpoint(mine, tmp_path)
    other = MyNetwork("other", fill=5.0)
    latest = ckpt.save_network_checkpoint(other, tmp_path)
    assert ckpt.latest_checkpoint(str(tmp_path)) == latest
    target = MyNetwork("net")
    result = ckpt.restore_network_checkpoint(target, tmp_path)
    assert result.plan.checkpoint == os.path.join(tmp_path, "net")
    _assert_same(mine, target)


def test_directory_without_checkpoints(tmp_path: Path) -> None:
    with pytest.raises(CheckpointNotFoundError, match="no checkpoint for network 'n'"):
        ckpt.restore_network_checkpoint(MyNetwork("n"), tmp_path)


def test_shared_layer_restores_through_either_network(tmp_path: Path) -> None:
    source = _trained("src")
    prefix = ckpt.save_network_checkpoint(source, tmp_path / "c")
    shared = Dense(2, 3)
    first = MyNetwork("first", layers=0)
    first.dense_1 = shared
    second = MyNetwork("second", layers=0)
    second.dense_1 = shared
    second.dense_2 = Dense(3, 1)
    ckpt.restore_network_checkpoint(second, prefix)
    np.testing.assert_array_equal(first.dense_1.kernel.numpy(), source.dense_1.kernel.numpy())
    np.testing.assert_array_equal(second.dense_2.bias.numpy(), source.dense_2.bias.numpy())


def test_layer_created_after_restore_gets_its_value(tmp_path: Path) -> None:
    source = _trained("src")
    prefix = ckpt.save_network_checkpoint(source, tmp_path / "c")
    target = MyNetwork("target", layers=1)
    result = ckpt.restore_network_checkpoint(target, prefix)
    np.testing.assert_array_equal(target.dense_1.kernel.numpy(), source.dense_1.kernel.numpy())
    assert result.deferred == ["dense_2/bias", "dense_2/kernel"]
    assert result.plan.unmatched_checkpoint == ["dense_2/bias", "dense_2/kernel"]
    assert "kept for variables created later (2):" in str(result)
    target.dense_2 = Dense(3, 1)
    _assert_same(source, target)


def test_deferred_variable_of_a_submodule_created_later(tmp_path: Path) -> None:
    source = _trained("src")
    prefix = ckpt.save_network_checkpoint(source, tmp_path / "c")
    target = MyNetwork("target", layers=1)
    ckpt.restore_network_checkpoint(target, prefix)
    target.dense_2 = ckpt.Module()  # empty for now
    target.dense_2.kernel = ckpt.Variable(np.zeros((3, 1), np.float32))
    np.testing.assert_array_equal(target.dense_2.kernel.numpy(), source.dense_2.kernel.numpy())
    target.dense_2.bias = ckpt.Variable(np.zeros((1,), np.float32))
    np.testing.assert_array_equal(target.dense_2.bias.numpy(), source.dense_2.bias.numpy())


def test_deferred_variables_in_a_list(tmp_path: Path) -> None:
    class Stack(ckpt.Module):
        def __init__(self, name: str, n: int) -> None:
            super().__init__(name=name)
            self.layers = [Dense(2, 2, fill=float(i)) for i in range(n)]

    prefix = ckpt.save_network_checkpoint(Stack("a", 3), tmp_path / "c")
    target = Stack("b", 1)
    ckpt.restore_network_checkpoint(target, prefix)
    target.layers.append(Dense(2, 2))
    target.layers.append(Dense(2, 2))
    assert [layer.kernel.numpy()[0, 0] for layer in target.layers] == [0, 1, 2]


def test_a_variable_created_later_that_is_not_in_the_checkpoint(tmp_path: Path) -> None:
    prefix = ckpt.save_network_checkpoint(_trained("src"), tmp_path / "c")
    target = MyNetwork("target", layers=1)
    ckpt.restore_network_checkpoint(target, prefix)
    target.extra = ckpt.Variable(np.full(2, -1, np.float32))
    assert (target.extra.numpy() == -1).all()


def test_newest_restore_wins_for_deferred_variables(tmp_path: Path) -> None:
    old = ckpt.save_network_checkpoint(MyNetwork("a", fill=1.0), tmp_path / "old")
    new = ckpt.save_network_checkpoint(MyNetwork("b", fill=2.0), tmp_path / "new")
    target = MyNetwork("t", layers=1)
    ckpt.restore_network_checkpoint(target, old)
    ckpt.restore_network_checkpoint(target, new)
    target.dense_2 = Dense(3, 1)
    assert (target.dense_2.kernel.numpy() == 2).all()
    assert (target.dense_1.kernel.numpy() == 2).all()
    # and the other way round
    other = MyNetwork("u", layers=1)
    ckpt.restore_network_checkpoint(other, new)
    ckpt.restore_network_checkpoint(other, old)
    other.dense_2 = Dense(3, 1)
    assert (other.dense_2.kernel.numpy() == 1).all()


def test_older_restore_applies_when_the_newest_lacks_the_name(tmp_path: Path) -> None:
    full = ckpt.save_network_checkpoint(MyNetwork("a", fill=1.0), tmp_path / "full")
    partial = ckpt.save_network_checkpoint(MyNetwork("b", fill=2.0, layers=1), tmp_path / "p")
    target = MyNetwork("t", layers=1)
    ckpt.restore_network_checkpoint(target, full)
    ckpt.restore_network_checkpoint(target, partial)
    target.dense_2 = Dense(3, 1)
    assert (target.dense_2.kernel.numpy() == 1).all()
    assert (target.dense_1.kernel.numpy() == 2).all()


def test_map_func_naming_two_variables_alike(tmp_path: Path) -> None:
    def last(name: str) -> str:
        return name.rsplit("/", 1)[1]

    with pytest.raises(AssignmentMapError) as info:
        ckpt.save_network_checkpoint(_trained(), tmp_path / "c", map_func=last)
    assert "save_network_checkpoint" in str(info.value)
    assert "resulted in two variables named 'kernel'" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert not list(tmp_path.iterdir())  # nothing written
    prefix = ckpt.save_network_checkpoint(_trained(), tmp_path / "c")
    target = MyNetwork("t")
    with pytest.raises(AssignmentMapError, match=r"restore_network_checkpoint.*'kernel'"):
        ckpt.restore_network_checkpoint(target, prefix, map_func=last)
    assert all((v == -1).all() for v in _values(target).values())


def test_map_func_must_return_a_name(tmp_path: Path) -> None:
    with pytest.raises(AssignmentMapError, match="not a name"):
        ckpt.save_network_checkpoint(_trained(), tmp_path / "c", map_func=lambda n: "")


def test_missing_variable_assigns_nothing(tmp_path: Path) -> None:
    prefix = ckpt.save_network_checkpoint(_trained("src"), tmp_path / "c")
    target = MyNetwork("target")
    target.extra = ckpt.Variable(np.zeros(2, np.float32))
    with pytest.raises(TensorNotFoundError) as info:
        ckpt.restore_network_checkpoint(target, prefix)
    assert "target/extra (as extra)" in str(info.value)
    assert info.value.key == "extra"
    assert all((v == -1).all() for name, v in _values(target).items() if name != "extra")


def test_shape_mismatch_assigns_nothing(tmp_path: Path) -> None:
    prefix = ckpt.save_network_checkpoint(_trained("src"), tmp_path / "c")
    target = MyNetwork("target")
    target.dense_2 = Dense(3, 2)
    with pytest.raises(ShapeMismatchError):
        ckpt.restore_network_checkpoint(target, prefix)
    assert all((v == -1).all() for v in _values(target).values())


class Embedding(ckpt.Module):
    def __init__(self, name: str, value: np.ndarray, parts: int, axis: int = 0) -> None:
        super().__init__(name=name)
        self.table = ckpt.PartitionedVariable(value, num_partitions=parts, axis=axis,
                                              name=f"{name}/table")
        self.bias = ckpt.Variable(np.zeros(value.shape[1], np.float32))


def test_partitioned_variable_is_saved_as_slices(tmp_path: Path) -> None:
    value = np.arange(40, dtype=np.float32).reshape(10, 4)
    prefix = ckpt.save_network_checkpoint(Embedding("e1", value, 3), tmp_path / "c")
    assert ckpt.list_variables(prefix) == [("bias", [4]), ("table", [10, 4])]
    np.testing.assert_array_equal(ckpt.load_variable(prefix, "table"), value)
    with ckpt.load_checkpoint(prefix) as reader:
        assert reader.get_tensor_info("table").slices == ("0,4:0,4", "4,3:0,4", "7,3:0,4")
    # restored into another partitioning, and into one plain variable
    target = Embedding("e2", np.zeros((10, 4), np.float32), 2, axis=1)
    ckpt.restore_network_checkpoint(target, prefix)
    np.testing.assert_array_equal(target.table.numpy(), value)
    whole = ckpt.Variable(np.zeros((10, 4), np.float32))
    ckpt.init_from_checkpoint(prefix, {"table": whole})
    np.testing.assert_array_equal(whole.numpy(), value)


def test_partitioned_variable_created_later(tmp_path: Path) -> None:
    value = np.arange(40, dtype=np.float32).reshape(10, 4)
    prefix = ckpt.save_network_checkpoint(Embedding("e1", value, 3), tmp_path / "c")
    target = MyNetwork("e2", layers=0)
    target.bias = ckpt.Variable(np.zeros(4, np.float32))
    result = ckpt.restore_network_checkpoint(target, prefix)
    assert result.deferred == ["table"]
    target.table = ckpt.PartitionedVariable(np.zeros((10, 4), np.float32), num_partitions=4,
                                            name="e2/table")
    np.testing.assert_array_equal(target.table.numpy(), value)


def test_torch_network_restores_a_layer_created_later(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self, second: bool = True) -> None:
            super().__init__()
            self.fc1 = nn.Linear(3, 4)
            if second:
                self.fc2 = nn.Linear(4, 2)

    saved = Net()
    prefix = ckpt.save_network_checkpoint(saved, str(tmp_path))
    assert [name for name, _ in ckpt.list_variables(prefix)] == [
        "fc1/bias", "fc1/weight", "fc2/bias", "fc2/weight"
    ]
    target = Net(second=False)
    result = ckpt.restore_network_checkpoint(target, prefix)
    assert result.deferred == ["fc2/bias", "fc2/weight"]
    assert torch.equal(target.fc1.weight, saved.fc1.weight)
    target.fc2 = nn.Linear(4, 2)  # created after the restore: receives the kept values
    assert torch.equal(target.fc2.weight, saved.fc2.weight)
    assert torch.equal(target.fc2.bias, saved.fc2.bias)
