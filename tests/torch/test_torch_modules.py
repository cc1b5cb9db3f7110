"""``nn.Module`` through ``ckpt.Checkpoint``: names, sharing, buffers, in-place restore, deferred
and lazy restoration, warm starts, and errors."""

from __future__ import annotations

import copy
import gc
import pickle
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch_models import GRAPH_KEY, MLP, bits, seeded, state_bits

import ckpt
import ckpt.torch
from ckpt.errors import (
    CheckpointAssertionError,
    DtypeMismatchError,
    InvalidTensorError,
    ShapeMismatchError,
)
from ckpt.format import protos
from ckpt.torch import ModuleTrackable, TensorVariable
from ckpt.trackable.base import children_of

VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"


def stored_keys(path: str) -> set[str]:
    return {k for k, _ in ckpt.list_variables(path)} - {GRAPH_KEY}


def graph_of(path: str) -> Any:
    with ckpt.load_checkpoint(path) as reader:
        return protos.TrackableObjectGraph.FromString(reader.get_tensor(GRAPH_KEY).item())


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4, bias=False)])
        self.norm = nn.BatchNorm1d(4)
        self.register_buffer("scale", torch.tensor(2.0))
        self.register_buffer("cache", torch.zeros(3), persistent=False)
        self.register_buffer("nothing", None)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = Encoder()
        self.decoder = nn.Sequential(nn.Linear(4, 2), nn.ReLU(), nn.Linear(2, 1))


# --- names ----------------------------------------------------------------------------------


def test_keys_are_state_dict_names_with_slashes(tmp_path: Path) -> None:
    net = seeded(Net, 0)
    path = ckpt.Checkpoint(model=net).write(str(tmp_path / "net"))
    assert stored_keys(path) == {
        f"model/{name.replace('.', '/')}{VALUE}" for name in net.state_dict()
    }
    assert f"model/decoder/0/weight{VALUE}" in stored_keys(path)  # Sequential: "0", "1", ...
    assert f"model/encoder/layer/1/weight{VALUE}" in stored_keys(path)
    assert f"model/encoder/norm/num_batches_tracked{VALUE}" in stored_keys(path)
    with ckpt.load_checkpoint(path) as reader:
        for name, tensor in net.state_dict().items():
            value = reader.get_tensor(f"model/{name.replace('.', '/')}{VALUE}")
            assert bits(torch.from_numpy(value)) == bits(tensor), name


def test_state_dict_names() -> None:
    names = ckpt.torch.state_dict_names(seeded(Net, 0))
    assert names["encoder.layer.0.weight"] == "encoder/layer/0/weight"
    assert names["decoder.2.bias"] == "decoder/2/bias"
    assert list(names) == list(seeded(Net, 0).state_dict())  # same keys, same order
    assert "encoder.cache" not in names


def test_full_names_are_state_dict_paths(tmp_path: Path) -> None:
    path = ckpt.Checkpoint(model=seeded(Net, 0)).write(str(tmp_path / "net"))
    full_names = {
        a.checkpoint_key: a.full_name for node in graph_of(path).nodes for a in node.attributes
    }
    assert full_names[f"model/encoder/layer/0/weight{VALUE}"] == "encoder/layer/0/weight"


def test_one_node_per_object() -> None:
    net = seeded(Net, 0)
    node = ckpt.torch.adapt(net)
    assert isinstance(node, ModuleTrackable)
    assert ckpt.torch.adapt(net) is node
    weight = net.encoder.layer[0].weight
    first = children_of(children_of(children_of(node)["encoder"])["layer"])["0"]
    assert children_of(first)["weight"] is ckpt.torch.adapt(weight)
    assert isinstance(ckpt.torch.adapt(weight), TensorVariable)
    assert ckpt.torch.adapt(weight).name == "encoder/layer/0/weight"
    assert ckpt.torch.adapt(object()) is None
    assert ckpt.torch.adapt([weight]) is None  # containers are ckpt's business


def test_torch_values_inside_ckpt_objects(tmp_path: Path) -> None:
    holder = ckpt.Module()
    holder.layers = [nn.Linear(2, 2), nn.Linear(2, 3)]
    holder.extra = {"w": torch.arange(4.0)}
    path = ckpt.Checkpoint(holder=holder).write(str(tmp_path / "mixed"))
    assert f"holder/layers/1/weight{VALUE}" in stored_keys(path)
    assert f"holder/extra/w{VALUE}" in stored_keys(path)
    other = ckpt.Module()
    w, layers = torch.zeros(4), [nn.Linear(2, 2), nn.Linear(2, 3)]
    other.layers = layers
    other.extra = {"w": w}
    ckpt.Checkpoint(holder=other).read(path).assert_consumed()
    assert torch.equal(w, torch.arange(4.0))
    assert torch.equal(layers[1].weight, holder.layers[1].module.weight)
    # ckpt's containers hold the adapter nodes; the torch objects are one attribute away.
    assert other.extra["w"].tensor is w and other.layers[0].module is layers[0]


# --- sharing and buffers ----------------------------------------------------------------------


class Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(4, 4)
        self.decoder = nn.Linear(4, 4)
        self.decoder.weight = self.encoder.weight


def test_tied_parameters_are_saved_once_and_restored_to_both(tmp_path: Path) -> None:
    model = seeded(Tied, 0)
    path = ckpt.Checkpoint(model=model).write(str(tmp_path / "tied"))
    keys = stored_keys(path)
    assert f"model/encoder/weight{VALUE}" in keys
    assert f"model/decoder/weight{VALUE}" not in keys  # an edge to the same node instead
    graph = graph_of(path)
    edges = {
        (parent, ref.local_name): ref.node_id
        for parent, node in enumerate(graph.nodes)
        for ref in node.children
    }
    weights = {node for (_, name), node in edges.items() if name == "weight"}
    assert len(weights) == 1

    fresh = seeded(Tied, 1)
    ckpt.Checkpoint(model=fresh).read(path).assert_consumed()
    assert fresh.decoder.weight is fresh.encoder.weight
    assert bits(fresh.decoder.weight) == bits(model.encoder.weight)
    assert state_bits(fresh) == state_bits(model)


def test_untied_model_gets_the_tied_value_once(tmp_path: Path) -> None:
    """As in TF: the checkpoint node binds to the first object reached; the second path's
    object is left unrestored and reported."""
    model = seeded(Tied, 0)
    path = ckpt.Checkpoint(model=model).write(str(tmp_path / "tied"))
    untied = nn.Module()
    untied.encoder = nn.Linear(4, 4)
    untied.decoder = nn.Linear(4, 4)
    status = ckpt.Checkpoint(model=untied).read(path)
    assert bits(untied.encoder.weight) == bits(model.encoder.weight)
    assert bits(untied.decoder.weight) != bits(model.encoder.weight)
    with pytest.raises(CheckpointAssertionError, match=r"model\.decoder\.weight"):
        status.assert_existing_objects_matched()


def test_non_persistent_buffers_are_not_saved_or_touched(tmp_path: Path) -> None:
    net = seeded(Net, 0)
    net.encoder.cache.fill_(5)
    path = ckpt.Checkpoint(model=net).write(str(tmp_path / "net"))
    assert not any("cache" in k or "nothing" in k for k in stored_keys(path))
    fresh = seeded(Net, 1)
    fresh.encoder.cache.fill_(7)
    ckpt.Checkpoint(model=fresh).read(path).assert_consumed()
    assert fresh.encoder.cache.tolist() == [7, 7, 7]


class WithExtraState(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 2)
        self.vocab: dict[str, Any] = {"words": ["a", "b"], "size": (2, 3), "mask": torch.ones(2)}

    def get_extra_state(self) -> Any:
        return self.vocab

    def set_extra_state(self, state: Any) -> None:
        self.vocab = state


def test_extra_state_round_trips(tmp_path: Path) -> None:
    model = WithExtraState()
    model.vocab["words"].append("c")
    path = ckpt.Checkpoint(model=model).write(str(tmp_path / "extra"))
    assert "model/_extra_state/.ATTRIBUTES/py_state" in stored_keys(path)
    fresh = WithExtraState()
    ckpt.Checkpoint(model=fresh).read(path).assert_consumed()
    assert fresh.vocab["words"] == ["a", "b", "c"]
    assert fresh.vocab["size"] == (2, 3)
    assert torch.equal(fresh.vocab["mask"], torch.ones(2))


# --- in place --------------------------------------------------------------------------------


def test_restore_writes_into_the_existing_tensors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = seeded(MLP, 0)
    path = ckpt.Checkpoint(model=model).write(str(tmp_path / "mlp"))
    fresh = seeded(MLP, 1)
    tensors = dict(fresh.state_dict(keep_vars=True))
    pointers = {name: t.data_ptr() for name, t in tensors.items()}

    def no_copy(*args: Any) -> None:
        raise AssertionError("the value was copied, not read in place")

    monkeypatch.setattr(TensorVariable, "_assign", no_copy)
    versions = {name: t._version for name, t in tensors.items()}
    ckpt.Checkpoint(model=fresh).read(path).assert_consumed()
    assert state_bits(fresh) == state_bits(model)
    assert {name: t.data_ptr() for name, t in fresh.state_dict(keep_vars=True).items()} == pointers
    assert all(t is tensors[name] for name, t in fresh.state_dict(keep_vars=True).items())
    # Autograd is told about the in-place write.
    assert all(t._version > versions[name] for name, t in tensors.items())


def test_restore_makes_no_second_copy_of_the_model(tmp_path: Path) -> None:
    big = nn.Sequential(*(nn.Linear(512, 512) for _ in range(8)))  # 8 MiB of float32
    path = ckpt.Checkpoint(model=big).write(str(tmp_path / "big"))
    fresh = nn.Sequential(*(nn.Linear(512, 512) for _ in range(8)))
    model_bytes = sum(p.numel() * p.element_size() for p in fresh.parameters())
    checkpoint = ckpt.Checkpoint(model=fresh)
    tracemalloc.start()
    try:
        checkpoint.read(path).assert_consumed()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < model_bytes / 8, (peak, model_bytes)  # NumPy allocations are traced
    assert state_bits(fresh) == state_bits(big)


class Transposed(nn.Module):
    """Parameters that are views with other strides than a contiguous tensor's."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(3, 5).t())  # shape (5, 3), strides (1, 5)
        base = torch.randn(4, 6)
        self.register_buffer("strided", base[:, ::2])  # shape (4, 3), strides (6, 2)


def test_non_contiguous_tensors_save_and_restore_in_place(tmp_path: Path) -> None:
    model = seeded(Transposed, 0)
    assert not model.weight.is_contiguous() and not model.strided.is_contiguous()
    path = ckpt.Checkpoint(model=model).write(str(tmp_path / "t"))
    with ckpt.load_checkpoint(path) as reader:
        np.testing.assert_array_equal(
            reader.get_tensor(f"model/weight{VALUE}"), model.weight.detach().numpy()
        )
        np.testing.assert_array_equal(
            reader.get_tensor(f"model/strided{VALUE}"), model.strided.numpy()
        )
    fresh = seeded(Transposed, 1)
    before = (fresh.weight.data_ptr(), fresh.weight.stride(), fresh.strided.data_ptr())
    ckpt.Checkpoint(model=fresh).read(path).assert_consumed()
    assert (fresh.weight.data_ptr(), fresh.weight.stride(), fresh.strided.data_ptr()) == before
    assert state_bits(fresh) == state_bits(model)


def test_copy_path_when_values_are_cast(tmp_path: Path) -> None:
    """A value that cannot be read in place (here: cast) is copied into the same tensor."""
    model = nn.Linear(3, 2).double()
    path = ckpt.Checkpoint(model=model).write(str(tmp_path / "f64"))
    fresh = nn.Linear(3, 2)
    pointer = fresh.weight.data_ptr()
    options = ckpt.CheckpointOptions(allow_dtype_cast=True)
    ckpt.Checkpoint(model=fresh).read(path, options=options).assert_consumed()
    assert fresh.weight.data_ptr() == pointer
    assert torch.equal(fresh.weight, model.weight.float())


def test_expanded_tensors_cannot_be_restored(tmp_path: Path) -> None:
    module = nn.Module()
    module.register_buffer("row", torch.arange(3.0).expand(2, 3))
    path = ckpt.Checkpoint(model=module).write(str(tmp_path / "expanded"))
    assert ckpt.load_variable(path, f"model/row{VALUE}").tolist() == [[0, 1, 2]] * 2
    with pytest.raises(InvalidTensorError, match="share memory"):
        ckpt.Checkpoint(model=module).read(path)


# --- deferred and lazy ------------------------------------------------------------------------


def test_submodule_added_after_restore_receives_its_values(tmp_path: Path) -> None:
    model = seeded(MLP, 0)
    path = ckpt.Checkpoint(model=model).write(str(tmp_path / "mlp"))

    class Body(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16))

    torch.manual_seed(5)
    partial = Body()
    status = ckpt.Checkpoint(model=partial).read(path)
    with pytest.raises(CheckpointAssertionError):
        status.assert_consumed()
    assert "(root).model.head" in status.report().pending
    assert bits(partial.encoder[0].weight) == bits(model.encoder[0].weight)

    partial.head = nn.Linear(16, 4)  # assigned after the restore
    assert bits(partial.head.weight) == bits(model.head.weight)
    partial.encoder.append(nn.GELU())
    partial.encoder.append(nn.Linear(16, 16))  # Sequential.append: child "3"
    assert bits(partial.encoder[3].weight) == bits(model.encoder[3].weight)
    partial.encoder.append(nn.LayerNorm(16, elementwise_affine=False))  # no weight, no bias
    with pytest.raises(CheckpointAssertionError):
        status.assert_consumed()
    norm = partial.encoder[4]
    norm.weight = nn.Parameter(torch.zeros(16))  # parameters registered later still restore
    norm.register_parameter("bias", nn.Parameter(torch.zeros(16)))
    assert bits(norm.weight) == bits(model.encoder[4].weight)
    partial.encoder.append(nn.GELU())
    status.assert_consumed()
    assert state_bits(partial) == state_bits(model)


def test_deferred_restore_outlives_the_checkpoint_object(tmp_path: Path) -> None:
    model = seeded(MLP, 0)
    path = ckpt.Checkpoint(model=model).write(str(tmp_path / "mlp"))
    partial = nn.Module()
    partial.encoder = seeded(MLP, 1).encoder
    ckpt.Checkpoint(model=partial).read(path)  # checkpoint and status dropped at once
    gc.collect()
    clone = copy.deepcopy(partial)  # copies carry no restore state (and can be made)
    pickle.loads(pickle.dumps(partial))
    partial.head = nn.Linear(16, 4)
    assert bits(partial.head.weight) == bits(model.head.weight)
    assert "_ckpt_node" not in vars(partial)  # nothing waits any more: the pin is gone
    clone.head = nn.Linear(16, 4)
    assert bits(clone.head.weight) != bits(model.head.weight)


class LazyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.LazyLinear(6), nn.ReLU(), nn.LazyLinear(2))
        self.norm = nn.LazyBatchNorm1d()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.body(x))  # type: ignore[no-any-return]


def test_lazy_parameters_receive_values_when_they_materialise(tmp_path: Path) -> None:
    x = torch.randn(5, 3)
    trained = seeded(LazyNet, 0)
    trained(x)  # materialise
    trained.eval()
    expected = trained(x)
    path = ckpt.Checkpoint(model=trained).write(str(tmp_path / "lazy"))

    fresh = seeded(LazyNet, 1)
    assert isinstance(fresh.body[0].weight, nn.parameter.UninitializedParameter)
    status = ckpt.Checkpoint(model=fresh).read(path)
    status.assert_existing_objects_matched()
    # As in TF until a layer is built: the values wait, and the status says so.
    assert "(root).model.body.0.weight" in status.report().pending
    with pytest.raises(CheckpointAssertionError, match="not yet applied"):
        status.assert_consumed()
    gc.collect()  # the pending values outlive the Checkpoint object
    assert isinstance(fresh.body[0].weight, nn.parameter.UninitializedParameter)
    fresh.eval()
    out = fresh(x)  # the first forward materialises, then the restored values apply
    assert torch.equal(out, expected)
    status.assert_consumed()
    assert status.report().pending == []
    assert state_bits(fresh) == state_bits(trained)
    assert not fresh.body[0]._forward_pre_hooks  # the watch removed itself
    assert not any("_ckpt_node" in vars(m) for m in fresh.modules())


def test_restored_lazy_model_saves_its_pending_values(tmp_path: Path) -> None:
    x = torch.randn(5, 3)
    trained = seeded(LazyNet, 0)
    trained(x)
    first = ckpt.Checkpoint(model=trained).write(str(tmp_path / "one"))
    fresh = seeded(LazyNet, 1)
    ckpt.Checkpoint(model=fresh).read(first)
    second = ckpt.Checkpoint(model=fresh).write(str(tmp_path / "two"))
    with ckpt.load_checkpoint(first) as a, ckpt.load_checkpoint(second) as b:
        assert set(a) == set(b)
        for key in a:
            if key != GRAPH_KEY:
                assert a.get_tensor(key).tobytes() == b.get_tensor(key).tobytes(), key


def test_unmaterialised_lazy_parameters_cannot_be_saved(tmp_path: Path) -> None:
    with pytest.raises(InvalidTensorError, match="uninitialised"):
        ckpt.Checkpoint(model=LazyNet()).write(str(tmp_path / "lazy"))


def test_lazy_shape_mismatch_is_raised_on_materialisation(tmp_path: Path) -> None:
    trained = seeded(LazyNet, 0)
    trained(torch.randn(5, 3))
    path = ckpt.Checkpoint(model=trained).write(str(tmp_path / "lazy"))
    fresh = seeded(LazyNet, 1)
    ckpt.Checkpoint(model=fresh).read(path)
    with pytest.raises(ShapeMismatchError):
        fresh(torch.randn(5, 4))  # in_features 4, the checkpoint's are 3


# --- warm starts ---------------------------------------------------------------------------


def test_init_from_checkpoint_with_a_torch_root(tmp_path: Path) -> None:
    model = seeded(MLP, 0)
    path = ckpt.Checkpoint(model=model).write(str(tmp_path / "mlp"))
    fresh = seeded(MLP, 1)
    plan = ckpt.init_from_checkpoint(path, {"model/encoder/": "encoder/"}, root=fresh)
    assert {a.target_name for a in plan.assignments} == {
        ckpt.torch.state_dict_names(fresh)[name]
        for name in fresh.state_dict()
        if name.startswith("encoder.")
    }
    assert bits(fresh.encoder[0].weight) == bits(model.encoder[0].weight)
    assert bits(fresh.head.weight) != bits(model.head.weight)  # not mapped: untouched
    ckpt.init_from_checkpoint(path, {"model/head/weight": "head/weight"}, root=fresh)
    assert bits(fresh.head.weight) == bits(model.head.weight)


def test_init_from_checkpoint_into_a_transposed_parameter(tmp_path: Path) -> None:
    source = ckpt.Module()
    source.kernel = ckpt.Variable(np.arange(15, dtype=np.float32).reshape(3, 5))
    path = ckpt.Checkpoint(net=source).write(str(tmp_path / "kernel"))
    model = nn.Linear(3, 5, bias=False)
    weight = model.weight
    ckpt.init_from_checkpoint(
        path,
        {"net/kernel": "weight"},
        root=model,
        transforms={"net/kernel": ckpt.transforms.Transpose()},
    )
    assert model.weight is weight
    assert torch.equal(model.weight, torch.arange(15.0).reshape(3, 5).t())


def test_network_checkpoints_of_a_torch_module(tmp_path: Path) -> None:
    model = seeded(MLP, 0)
    prefix = ckpt.save_network_checkpoint(model, str(tmp_path / "net"))
    names = {name for name, _ in ckpt.list_variables(prefix)}
    assert names == set(ckpt.torch.state_dict_names(model).values())
    fresh = seeded(MLP, 1)
    ckpt.restore_network_checkpoint(fresh, prefix)
    assert state_bits(fresh) == state_bits(model)


# --- errors ----------------------------------------------------------------------------------


def test_shape_mismatch_assigns_nothing(tmp_path: Path) -> None:
    model = seeded(MLP, 0)
    path = ckpt.Checkpoint(model=model).write(str(tmp_path / "mlp"))
    wrong = seeded(MLP, 1)
    wrong.head = nn.Linear(16, 5)
    before = state_bits(wrong)
    with pytest.raises(ShapeMismatchError) as info:
        ckpt.Checkpoint(model=wrong).read(path)
    assert isinstance(info.value, ValueError)
    assert "head" in str(info.value)
    assert state_bits(wrong) == before


def test_dtype_mismatch_is_refused(tmp_path: Path) -> None:
    path = ckpt.Checkpoint(model=nn.Linear(2, 2)).write(str(tmp_path / "f32"))
    with pytest.raises(DtypeMismatchError):
        ckpt.Checkpoint(model=nn.Linear(2, 2).half()).read(path)


def test_unsavable_tensors_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidTensorError, match="sparse"):
        ckpt.Checkpoint(s=torch.eye(3).to_sparse()).write(str(tmp_path / "sparse"))
    with pytest.raises(InvalidTensorError, match="no TensorFlow checkpoint equivalent"):
        ckpt.Checkpoint(e=torch.zeros(2, dtype=torch.float8_e8m0fnu)).write(str(tmp_path / "e8"))


def test_import_ckpt_does_not_import_torch() -> None:
    code = (
        "import sys, ckpt\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "assert 'ckpt.torch' not in sys.modules\n"
        "import torch, ckpt.trackable.containers as c\n"
        "assert c.wrap(torch.nn.Linear(1, 1)).__class__.__name__ == 'ModuleTrackable'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_torch_module_as_ckpt_module_attribute_stays_a_torch_module(tmp_path: Path) -> None:
    class Holder(ckpt.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Linear(3, 2)

    saved = Holder()
    assert isinstance(saved.net, nn.Linear)  # still callable, not replaced by its node
    prefix = ckpt.Checkpoint(model=saved).write(str(tmp_path / "h"))
    assert "model/net/weight/.ATTRIBUTES/VARIABLE_VALUE" in ckpt.load_checkpoint(prefix)
    restored = Holder()
    ckpt.Checkpoint(model=restored).read(prefix).assert_consumed()
    assert isinstance(restored.net, nn.Linear)
    x = torch.randn(4, 3)
    assert torch.equal(restored.net(x), saved.net(x))


def test_meta_device_models_are_refused_with_advice(tmp_path: Path) -> None:
    # A model built on the meta device has no memory: restoring into it would "succeed" with
    # nothing restored, so both directions raise and say how to materialise it.
    saved = nn.Linear(3, 2)
    path = ckpt.Checkpoint(model=saved).write(str(tmp_path / "c"))
    with torch.device("meta"):
        model = nn.Linear(3, 2)
    with pytest.raises(InvalidTensorError, match=r"'meta' device.*to_empty"):
        ckpt.Checkpoint(model=model).read(path)
    with pytest.raises(InvalidTensorError, match="'meta' device"):
        ckpt.Checkpoint(model=model).write(str(tmp_path / "meta"))
    model.to_empty(device="cpu")
    ckpt.Checkpoint(model=model).read(path).assert_consumed()
    assert state_bits(model) == state_bits(saved)


class _TiedLM(nn.Module):
    """GPT-2-style tying: the output layer uses the embedding declared deeper in the model."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.emb = nn.Embedding(10, 4)
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.encoder.emb.weight


def test_warm_start_of_a_model_tied_deeper_than_its_other_use(tmp_path: Path) -> None:
    source = seeded(_TiedLM, 0)
    path = ckpt.Checkpoint(model=source).write(str(tmp_path / "c"))
    for mapping in ({"model/": "/"}, {"model/head/weight": "encoder/emb/weight"}):
        target = seeded(_TiedLM, 1)
        ckpt.init_from_checkpoint(path, mapping, root=target)
        assert torch.equal(target.encoder.emb.weight, source.encoder.emb.weight)
        assert target.head.weight is target.encoder.emb.weight


def test_untied_checkpoint_into_a_tied_model_reports_the_value_it_cannot_use(
    tmp_path: Path,
) -> None:
    untied = seeded(_TiedLM, 0)
    untied.head.weight = nn.Parameter(untied.encoder.emb.weight.detach().clone() + 1)
    path = ckpt.Checkpoint(model=untied).write(str(tmp_path / "c"))
    tied = seeded(_TiedLM, 1)
    status = ckpt.Checkpoint(model=tied).read(path)
    status.assert_existing_objects_matched()
    assert status.report().unused_in_checkpoint == [
        "model/encoder/emb/weight/.ATTRIBUTES/VARIABLE_VALUE"
    ]
    status.assert_consumed()  # as in TF, which restores a shared object from its first node
    assert torch.equal(tied.head.weight, untied.head.weight)  # the one reached first
