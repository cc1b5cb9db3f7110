"""``ckpt.Module``: names, tracked attributes, named_variables, variables, submodules."""

from __future__ import annotations

import numpy as np

import ckpt
from ckpt.trackable.base import children_of
from ckpt.trackable.module import camel_to_snake


class Dense(ckpt.Module):
    def __init__(self, n_in: int, n_out: int, name: str | None = None) -> None:
        super().__init__(name=name)
        self.kernel = ckpt.Variable(np.zeros((n_in, n_out), np.float32), name="kernel")
        self.bias = ckpt.Variable(np.zeros(n_out, np.float32), name="bias")


class MyNetwork(ckpt.Module):
    def __init__(self, name: str | None = None) -> None:
        super().__init__(name=name)
        self.d1 = Dense(2, 3)
        self.layers = [Dense(3, 4), "activation", Dense(4, 1)]
        self.heads = {"main": Dense(1, 1)}


def test_default_names_are_snake_case() -> None:
    assert MyNetwork().name == "my_network"
    assert Dense(1, 1).name == "dense"
    assert ckpt.Module().name == "module"
    assert camel_to_snake("MyNetwork") == "my_network"
    assert camel_to_snake("HTTPServer") == "http_server"
    assert camel_to_snake("ResNet50Block") == "res_net50_block"
    assert camel_to_snake("lower") == "lower"


def test_explicit_name() -> None:
    assert MyNetwork(name="net").name == "net"
    assert Dense(1, 1, name="d").name == "d"


def test_name_without_super_init() -> None:
    class NoInit(ckpt.Module):
        def __init__(self) -> None:
            self.v = ckpt.Variable(1.0)

    module = NoInit()
    assert module.name == "no_init"
    assert list(children_of(module)) == ["v"]


def test_named_variables_fully_qualified() -> None:
    net = MyNetwork(name="net")
    names = [name for name, _ in net.named_variables()]
    assert names == [
        "net/d1/kernel",
        "net/d1/bias",
        "net/layers/0/kernel",
        "net/layers/0/bias",
        "net/layers/2/kernel",
        "net/layers/2/bias",
        "net/heads/main/kernel",
        "net/heads/main/bias",
    ]
    pairs = dict(net.named_variables())
    assert pairs["net/layers/2/bias"] is net.layers[2].bias
    assert pairs["net/heads/main/kernel"] is net.heads["main"].kernel


def test_named_variables_default_name_and_submodule_names_ignored() -> None:
    net = MyNetwork()
    net.d1 = Dense(1, 1, name="ignored_in_paths")
    assert next(iter(net.named_variables()))[0] == "my_network/d1/kernel"
    assert [n for n, _ in net.d1.named_variables()] == [
        "ignored_in_paths/kernel",
        "ignored_in_paths/bias",
    ]


def test_named_variables_dedup_shared() -> None:
    root = ckpt.Module(name="root")
    shared = ckpt.Variable(1.0)
    root.a = shared
    root.sub = ckpt.Module()
    root.sub.again = shared
    root.sub.own = ckpt.Variable(2.0)
    root.twin = root.sub  # the whole submodule again
    assert [n for n, _ in root.named_variables()] == ["root/a", "root/sub/own"]
    assert root.variables == (shared, root.sub.own)


def test_named_variables_cycle() -> None:
    root = ckpt.Module(name="r")
    root.child = ckpt.Module()
    root.child.parent = root
    root.child.v = ckpt.Variable(1.0)
    assert [n for n, _ in root.named_variables()] == ["r/child/v"]


def test_variables_and_submodules() -> None:
    net = MyNetwork()
    assert len(net.variables) == 8
    assert all(isinstance(v, ckpt.Variable) for v in net.variables)
    assert net.variables[0] is net.d1.kernel
    subs = net.submodules
    # breadth first, not including itself, each once
    assert subs == (net.d1, net.layers[0], net.layers[2], net.heads["main"])
    shared = Dense(1, 1)
    outer = ckpt.Module()
    outer.a = shared
    outer.b = [shared]
    assert outer.submodules == (shared,)


def test_private_attributes_are_not_tracked(tmp_path) -> None:
    module = ckpt.Module()
    module._ckpt_cache = ckpt.Variable(1.0)
    module._other = ckpt.Variable(2.0)  # only the _ckpt_ prefix is reserved
    module.plain = 3
    assert list(children_of(module)) == ["_other"]
    assert isinstance(module._ckpt_cache, ckpt.Variable)
    prefix = ckpt.CheckpointableSaver(module).save(str(tmp_path / "p"))
    with ckpt.CheckpointReader(prefix) as reader:
        assert "_other/.ATTRIBUTES/VARIABLE_VALUE" in reader
        assert all("_ckpt_cache" not in key for key in reader)


def test_containers_are_wrapped_and_tracked_even_without_trackables() -> None:
    module = ckpt.Module()
    module.config = {"lr": 0.1}
    module.sizes = [1, 2]
    assert list(children_of(module)) == ["config", "sizes"]
    assert module.config == {"lr": 0.1}


def test_module_repr() -> None:
    assert repr(Dense(1, 1, name="d")) == "<Dense 'd'>"
