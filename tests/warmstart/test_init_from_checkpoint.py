"""``ckpt.init_from_checkpoint``: every assignment-map rule and error of format doc §7.2, and
what ckpt adds (transforms, dtype checks, dry runs, reads bounded to what is assigned).

Checkpoints are written with ``ckpt.write_tensors`` / ``ckpt.CheckpointWriter`` (TF1-style
names, partitioned tensors as slices) and ``ckpt.Checkpoint.write`` (object-based names).
Every target starts filled with -1, so a value left unchanged is visible; expected values are
cut from the written arrays with NumPy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ckpt
from ckpt.errors import (
    AssignmentMapError,
    CheckpointError,
    CheckpointNotFoundError,
    DtypeMismatchError,
    ShapeMismatchError,
)
from ckpt.format.bundle_reader import BundleReader
from ckpt.warmstart.transforms import Cast, Reshape, Slice, Transpose

OLD_W = np.arange(6, dtype=np.float32).reshape(2, 3)
OLD_B = np.arange(3, dtype=np.float32) + 100
OLD_SUB = np.arange(4, dtype=np.float32) + 200  # old/sub/v
X = np.float32(7)
EMB = np.arange(120, dtype=np.float32).reshape(12, 10)  # sliced: rows 0-3, 4-7, 8-11


def var(shape: tuple[int, ...], dtype: Any = np.float32) -> ckpt.Variable:
    return ckpt.Variable(np.full(shape, -1, dtype=dtype))


def untouched(*variables: ckpt.Variable) -> bool:
    return all((v.numpy() == -1).all() for v in variables)


@pytest.fixture
def prefix(tmp_path: Path) -> str:
    """A name-based checkpoint: plain tensors and ``emb`` saved as 3 slices along axis 0."""
    with ckpt.CheckpointWriter(str(tmp_path / "model.ckpt")) as writer:
        writer.add("old/w", OLD_W)
        writer.add("old/b", OLD_B)
        writer.add("old/sub/v", OLD_SUB)
        writer.add("x", X)
        for start, stop in ((0, 4), (4, 8), (8, 12)):
            writer.add_slice("emb", EMB[start:stop], full_shape=EMB.shape, offset=(start, 0))
    return writer.prefix


class Dense(ckpt.Module):
    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.w = var((n_in, n_out))
        self.b = var((n_out,))


class Net(ckpt.Module):
    def __init__(self) -> None:
        super().__init__(name="net")
        self.new = Dense(2, 3)
        self.other = var((3,))


# --- the forms of the assignment map -----------------------------------------------------------


def test_dict_to_variables(prefix: str) -> None:
    w, b = var((2, 3)), var((3,))
    plan = ckpt.init_from_checkpoint(prefix, {"old/w": w, "old/b": b})
    np.testing.assert_array_equal(w.numpy(), OLD_W)
    np.testing.assert_array_equal(b.numpy(), OLD_B)
    assert isinstance(plan, ckpt.WarmStartPlan)
    assert plan.executed
    assert plan.checkpoint == prefix
    assert [(a.checkpoint_key, a.shape) for a in plan.assignments] == [
        ("old/b", (3,)),
        ("old/w", (2, 3)),
    ]


def test_list_of_pairs_loads_one_tensor_into_two_variables(prefix: str) -> None:
    first, second = var((2, 3)), var((2, 3))
    plan = ckpt.init_from_checkpoint(prefix, [("old/w", first), ["old/w", second]])
    np.testing.assert_array_equal(first.numpy(), OLD_W)
    np.testing.assert_array_equal(second.numpy(), OLD_W)
    assert [a.checkpoint_key for a in plan.assignments] == ["old/w", "old/w"]
    # the two are independent copies
    first.numpy()[0, 0] = 42
    assert second.numpy()[0, 0] == 0


def test_list_items_must_be_pairs(prefix: str) -> None:
    with pytest.raises(AssignmentMapError, match=r"\(checkpoint_name, target\) pairs"):
        ckpt.init_from_checkpoint(prefix, [("old/w", var((2, 3)), "extra")])  # type: ignore[list-item]


def test_scalar_tensor(prefix: str) -> None:
    x = ckpt.Variable(np.float32(-1))
    ckpt.init_from_checkpoint(prefix, {"x": x})
    assert x.numpy() == X


def test_names_resolve_against_a_module_without_its_own_name(prefix: str) -> None:
    net = Net()
    plan = ckpt.init_from_checkpoint(prefix, {"old/w": "new/w", "old/b": "new/b"}, root=net)
    np.testing.assert_array_equal(net.new.w.numpy(), OLD_W)
    np.testing.assert_array_equal(net.new.b.numpy(), OLD_B)
    assert untouched(net.other)
    assert [a.target_name for a in plan.assignments] == ["new/b", "new/w"]
    with pytest.raises(AssignmentMapError):
        ckpt.init_from_checkpoint(prefix, {"old/w": "net/new/w"}, root=Net())


def test_names_resolve_in_module_containers(prefix: str) -> None:
    class Stack(ckpt.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = [Dense(2, 3), Dense(2, 3)]
            self.by_name = {"x": ckpt.Variable(np.float32(-1))}

    stack = Stack()
    ckpt.init_from_checkpoint(
        prefix, {"old/w": "layers/1/w", "x": "by_name/x"}, root=stack
    )
    np.testing.assert_array_equal(stack.layers[1].w.numpy(), OLD_W)
    assert untouched(stack.layers[0].w)
    assert stack.by_name["x"].numpy() == X


def test_names_resolve_against_a_mapping(prefix: str) -> None:
    root = {"a/w": var((2, 3)), "b": var((3,))}
    plan = ckpt.init_from_checkpoint(prefix, {"old/w": "a/w", "old/b": "b"}, root=root)
    np.testing.assert_array_equal(root["a/w"].numpy(), OLD_W)
    np.testing.assert_array_equal(root["b"].numpy(), OLD_B)
    assert plan.unmatched_targets == []


def test_without_root_names_are_not_variables(prefix: str) -> None:
    with pytest.raises(AssignmentMapError, match="scope only"):
        ckpt.init_from_checkpoint(prefix, {"old/w": "new/w"})


def test_root_must_be_a_module_or_a_mapping(prefix: str) -> None:
    with pytest.raises(AssignmentMapError, match="neither a module nor a mapping"):
        ckpt.init_from_checkpoint(prefix, {"old/w": "w"}, root=42)


def test_target_must_be_a_variable(prefix: str) -> None:
    with pytest.raises(AssignmentMapError, match="is not a variable"):
        ckpt.init_from_checkpoint(prefix, {"old/w": object()})
    with pytest.raises(AssignmentMapError, match="empty list"):
        ckpt.init_from_checkpoint(prefix, {"old/w": []})


def test_keys_must_be_names(prefix: str) -> None:
    with pytest.raises(AssignmentMapError, match="keys are checkpoint names"):
        ckpt.init_from_checkpoint(prefix, {3: var((2, 3))})


def test_a_variable_assigned_twice_keeps_the_later_value(prefix: str) -> None:
    # As TF: each pair, in sorted order of the names, replaces the earlier assignment.
    w = var((3,))
    other = var((3,))
    plan = ckpt.init_from_checkpoint(prefix, [("old/b", w), ("old/b", other), ("old/b", w)])
    assert [a.checkpoint_key for a in plan.assignments] == ["old/b", "old/b"]
    assert not untouched(w) and not untouched(other)


def test_path_objects_and_directories(tmp_path: Path) -> None:
    first = ckpt.write_tensors(tmp_path / "ckpt-1", {"v": np.float32(1)})
    second = ckpt.write_tensors(tmp_path / "ckpt-2", {"v": np.float32(2)})
    ckpt.update_checkpoint_state(str(tmp_path), second, all_model_checkpoint_paths=[first, second])
    v = ckpt.Variable(np.float32(-1))
    plan = ckpt.init_from_checkpoint(tmp_path, {"v": v})  # a directory: its latest checkpoint
    assert v.numpy() == 2
    assert plan.checkpoint == second
    ckpt.init_from_checkpoint(Path(first), {"v": v})
    assert v.numpy() == 1


def test_directory_in_error_messages_as_given(tmp_path: Path) -> None:
    prefix = ckpt.write_tensors(tmp_path / "ckpt-1", {"v": np.float32(1)})
    ckpt.update_checkpoint_state(str(tmp_path), prefix)
    with pytest.raises(AssignmentMapError) as info:
        ckpt.init_from_checkpoint(str(tmp_path), {"nope": var(())})
    assert f"Tensor nope is not found in {tmp_path} checkpoint" in str(info.value)


def test_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointNotFoundError):
        ckpt.init_from_checkpoint(tmp_path / "nothing", {"v": var(())})
    with pytest.raises(CheckpointNotFoundError, match="Couldn't find 'checkpoint' file"):
        ckpt.init_from_checkpoint(tmp_path, {"v": var(())})


# --- scope maps ---------------------------------------------------------------------------------


def _scoped_root() -> dict[str, ckpt.Variable]:
    return {
        "new/w": var((2, 3)),
        "new/b": var((3,)),
        "new/sub/v": var((4,)),
        "elsewhere/w": var((2, 3)),
    }


def test_scope_to_scope(prefix: str) -> None:
    root = _scoped_root()
    plan = ckpt.init_from_checkpoint(prefix, {"old/": "new/"}, root=root)
    np.testing.assert_array_equal(root["new/w"].numpy(), OLD_W)
    np.testing.assert_array_equal(root["new/b"].numpy(), OLD_B)
    np.testing.assert_array_equal(root["new/sub/v"].numpy(), OLD_SUB)
    assert untouched(root["elsewhere/w"])
    assert [(a.checkpoint_key, a.target_name) for a in plan.assignments] == [
        ("old/b", "new/b"),
        ("old/sub/v", "new/sub/v"),
        ("old/w", "new/w"),
    ]
    assert plan.unmatched_targets == ["elsewhere/w"]
    assert plan.unmatched_checkpoint == ["emb", "x"]


def test_nested_scope(prefix: str) -> None:
    root = {"a/b/v": var((4,)), "a/w": var((2, 3))}
    ckpt.init_from_checkpoint(prefix, {"old/sub/": "a/b/"}, root=root)
    np.testing.assert_array_equal(root["a/b/v"].numpy(), OLD_SUB)
    assert untouched(root["a/w"])


def test_scope_from_the_checkpoint_root(prefix: str) -> None:
    # {'/': 'sub/'}: sub/x loads the checkpoint's x.
    root = {"sub/x": ckpt.Variable(np.float32(-1)), "sub/old/w": var((2, 3)), "y": var((3,))}
    ckpt.init_from_checkpoint(prefix, {"/": "sub/"}, root=root)
    assert root["sub/x"].numpy() == X
    np.testing.assert_array_equal(root["sub/old/w"].numpy(), OLD_W)
    assert untouched(root["y"])


def test_scope_into_every_variable(prefix: str) -> None:
    # {'old/': '/'}: every variable v loads old/v.
    net = Net()
    del net.other
    net.w = var((2, 3))
    net.sub = {"v": var((4,))}
    with pytest.raises(AssignmentMapError, match=r"Tensor old/new/b \(ew/b in old/\)"):
        # new/b is not old/new/b (TF's rule drops one character of the name in the message)
        ckpt.init_from_checkpoint(prefix, {"old/": "/"}, root=net)
    del net.new
    ckpt.init_from_checkpoint(prefix, {"old/": "/"}, root=net)
    np.testing.assert_array_equal(net.w.numpy(), OLD_W)
    np.testing.assert_array_equal(net.sub["v"].numpy(), OLD_SUB)


def test_scope_of_a_module(prefix: str) -> None:
    net = Net()
    ckpt.init_from_checkpoint(prefix, {"old/": "new/"}, root=net)
    np.testing.assert_array_equal(net.new.w.numpy(), OLD_W)
    np.testing.assert_array_equal(net.new.b.numpy(), OLD_B)
    assert untouched(net.other)


def test_scope_without_trailing_slash_on_the_checkpoint_side(prefix: str) -> None:
    root = _scoped_root()
    with pytest.raises(AssignmentMapError) as info:
        ckpt.init_from_checkpoint(prefix, {"old": "new/"}, root=root)
    assert str(info.value) == (
        "Assignment map with scope only name new should map to scope only old. "
        "Should be 'scope/': 'other_scope/'."
    )
    assert isinstance(info.value, ValueError)
    assert untouched(*root.values())


def test_scope_with_a_tensor_missing(prefix: str) -> None:
    root = _scoped_root()
    root["new/c"] = var((1,))
    with pytest.raises(AssignmentMapError) as info:
        ckpt.init_from_checkpoint(prefix, {"old/": "new/"}, root=root)
    assert str(info.value) == f"Tensor old/c (c in old/) is not found in {prefix} checkpoint"
    assert info.value.key == "old/c"
    assert info.value.path == prefix
    # old/b sorts before old/c, but nothing is assigned when the map fails
    assert untouched(*root.values())


def test_scope_with_nothing_under_it_assigns_nothing(prefix: str) -> None:
    root = _scoped_root()
    plan = ckpt.init_from_checkpoint(prefix, {"old/": "empty/"}, root=root)
    assert plan.assignments == []
    assert untouched(*root.values())


def test_target_without_slash_naming_nothing(prefix: str) -> None:
    with pytest.raises(AssignmentMapError, match="neither a variable nor a scope"):
        ckpt.init_from_checkpoint(prefix, {"old/": "nothing"}, root=_scoped_root())


# --- errors -----------------------------------------------------------------------------------


def test_tensor_missing_from_the_checkpoint(prefix: str) -> None:
    w = var((2, 3))
    with pytest.raises(AssignmentMapError) as info:
        ckpt.init_from_checkpoint(prefix, {"old/ww": w})
    message = str(info.value)
    assert message.startswith(f"Tensor old/ww is not found in {prefix} checkpoint")
    assert "old/w" in message  # a close name is suggested
    assert isinstance(info.value, ValueError) and isinstance(info.value, CheckpointError)
    assert (info.value.key, info.value.path) == ("old/ww", prefix)
    assert untouched(w)


def test_shape_mismatch(prefix: str) -> None:
    root = {"new/w": var((2, 3))}
    with pytest.raises(ShapeMismatchError) as info:
        ckpt.init_from_checkpoint(prefix, {"old/b": "new/w"}, root=root)
    assert str(info.value) == (
        "Shape of variable new/w ((2, 3)) doesn't match with shape of tensor old/b ([3]) "
        "from checkpoint reader."
    )
    assert isinstance(info.value, ValueError)
    assert (info.value.key, info.value.checkpoint_key) == ("new/w", "old/b")
    with pytest.raises(ShapeMismatchError, match=r"variable v \(\(5,\)\)"):
        ckpt.init_from_checkpoint(prefix, {"old/b": ckpt.Variable(np.zeros(5), name="v")})


def test_dtype_mismatch_and_cast(prefix: str) -> None:
    w = var((2, 3), np.float64)
    with pytest.raises(DtypeMismatchError) as info:
        ckpt.init_from_checkpoint(prefix, {"old/w": w})
    assert "is float32 but variable" in str(info.value)
    assert "ckpt.transforms.Cast('float64')" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert untouched(w)
    plan = ckpt.init_from_checkpoint(prefix, {"old/w": w}, transforms={"old/w": Cast("float64")})
    np.testing.assert_array_equal(w.numpy(), OLD_W.astype(np.float64))
    assert "float32->float64" in str(plan)


def test_slices_of_different_tensors(prefix: str) -> None:
    parts = [
        ckpt.Variable(
            np.zeros((6, 10), np.float32),
            save_slice_info=ckpt.SaveSliceInfo(name, (12, 10), (offset, 0), (6, 10)),
        )
        for name, offset in (("a", 0), ("b", 6))
    ]
    with pytest.raises(AssignmentMapError) as info:
        ckpt.init_from_checkpoint(prefix, {"emb": parts})
    assert str(info.value) == "Slices must all be from the same tensor: a != b"
    assert isinstance(info.value, ValueError)


def test_first_error_in_sorted_order_wins(prefix: str) -> None:
    # Inserted missing-first; "old/b" sorts before "old/zz", so the shape error is raised.
    b, zz = var((4,)), var((1,))
    with pytest.raises(ShapeMismatchError):
        ckpt.init_from_checkpoint(prefix, {"old/zz": zz, "old/b": b})
    with pytest.raises(AssignmentMapError, match="Tensor a/missing is not found"):
        ckpt.init_from_checkpoint(prefix, [("old/b", b), ("a/missing", zz)])


def test_nothing_is_assigned_when_a_later_pair_fails(prefix: str) -> None:
    w, b, x = var((2, 3)), var((3,)), ckpt.Variable(np.float32(-1))
    with pytest.raises(ShapeMismatchError):
        ckpt.init_from_checkpoint(prefix, {"old/w": w, "old/b": b, "x": var((2,))})
    assert untouched(w, b)
    with pytest.raises(AssignmentMapError):
        ckpt.init_from_checkpoint(prefix, {"old/w": w, "old/b": b, "x": x, "zz": var(())})
    assert untouched(w, b, x)


# --- partitioned variables ---------------------------------------------------------------------


def test_parts_by_name(prefix: str) -> None:
    root = {f"new/emb/part_{k}": var((4, 10)) for k in range(3)}
    root["new/emb/part_7"] = var((1,))  # not contiguous: not a part
    plan = ckpt.init_from_checkpoint(prefix, {"emb": "new/emb"}, root=root)
    for k in range(3):
        np.testing.assert_array_equal(root[f"new/emb/part_{k}"].numpy(), EMB[4 * k : 4 * k + 4])
    assert [a.region for a in plan.assignments] == [
        ((0, 4), (0, 10)),
        ((4, 8), (0, 10)),
        ((8, 12), (0, 10)),
    ]
    assert plan.unmatched_targets == ["new/emb/part_7"]


def test_parts_by_scope(prefix: str) -> None:
    root = {"new/emb/part_0": var((6, 10)), "new/emb/part_1": var((6, 10))}
    ckpt.init_from_checkpoint(prefix, {"/": "new/"}, root=root)
    np.testing.assert_array_equal(root["new/emb/part_0"].numpy(), EMB[:6])
    np.testing.assert_array_equal(root["new/emb/part_1"].numpy(), EMB[6:])


def test_partitioned_variable(prefix: str) -> None:
    emb = ckpt.PartitionedVariable(shape=(12, 10), num_partitions=5, name="emb")
    ckpt.init_from_checkpoint(prefix, {"emb": emb})
    np.testing.assert_array_equal(emb.numpy(), EMB)
    assert [p.shape[0] for p in emb.parts] == [3, 3, 2, 2, 2]


def test_partitioned_variable_in_a_module_and_a_mapping(prefix: str) -> None:
    class Model(ckpt.Module):
        def __init__(self) -> None:
            super().__init__()
            self.table = ckpt.PartitionedVariable(shape=(12, 10), num_partitions=2, name="t")

    model = Model()
    ckpt.init_from_checkpoint(prefix, {"emb": "table"}, root=model)
    np.testing.assert_array_equal(model.table.numpy(), EMB)
    root = {"t": ckpt.PartitionedVariable(shape=(12, 10), num_partitions=3, axis=1, name="t")}
    plan = ckpt.init_from_checkpoint(prefix, {"emb": "t"}, root=root)
    np.testing.assert_array_equal(root["t"].numpy(), EMB)
    assert [a.target_name for a in plan.assignments] == ["t/part_0", "t/part_1", "t/part_2"]


def test_list_of_parts_with_slice_info(prefix: str) -> None:
    parts = [
        ckpt.Variable(
            np.full((12, 5), -1, np.float32),
            save_slice_info=ckpt.SaveSliceInfo("new/emb", (12, 10), (0, c), (12, 5)),
        )
        for c in (5, 0)  # given in any order: each fills its own place
    ]
    ckpt.init_from_checkpoint(prefix, {"emb": parts})
    np.testing.assert_array_equal(parts[0].numpy(), EMB[:, 5:])
    np.testing.assert_array_equal(parts[1].numpy(), EMB[:, :5])


@pytest.mark.parametrize(
    ("axis", "sizes"), [(0, (5, 7)), (1, (3, 3, 4)), (0, (12,))], ids=["axis0", "axis1", "one"]
)
def test_axis_inferred_from_shapes(prefix: str, axis: int, sizes: tuple[int, ...]) -> None:
    parts = [var((n, 10) if axis == 0 else (12, n)) for n in sizes]
    ckpt.init_from_checkpoint(prefix, {"emb": parts})
    np.testing.assert_array_equal(np.concatenate([p.numpy() for p in parts], axis=axis), EMB)


def test_parts_that_split_no_axis(prefix: str) -> None:
    parts = [var((6, 10)), var((5, 10))]
    with pytest.raises(ShapeMismatchError, match=r"do not split tensor emb \(12, 10\)"):
        ckpt.init_from_checkpoint(prefix, {"emb": parts})
    assert untouched(*parts)


def test_parts_with_and_without_slice_info(prefix: str) -> None:
    info = ckpt.SaveSliceInfo("emb", (12, 10), (0, 0), (6, 10))
    parts = [ckpt.Variable(np.zeros((6, 10), np.float32), save_slice_info=info), var((6, 10))]
    with pytest.raises(AssignmentMapError, match="either all or none"):
        ckpt.init_from_checkpoint(prefix, {"emb": parts})


def test_partitioned_full_shape_mismatch(prefix: str) -> None:
    emb = ckpt.PartitionedVariable(shape=(12, 9), num_partitions=2, name="new/emb")
    with pytest.raises(ShapeMismatchError) as info:
        ckpt.init_from_checkpoint(prefix, {"emb": emb})
    assert str(info.value) == (
        "Shape of partitioned variable new/emb ((12, 9)) doesn't match with shape of tensor "
        "emb ([12, 10]) from checkpoint reader."
    )


def test_resharding_3_parts_on_axis_0_into_4_parts_on_axis_1(tmp_path: Path) -> None:
    value = np.arange(9 * 8, dtype=np.int32).reshape(9, 8)
    with ckpt.CheckpointWriter(str(tmp_path / "p"), num_shards=2) as writer:
        for start in (0, 3, 6):
            writer.add_slice("t", value[start : start + 3], full_shape=(9, 8), offset=(start, 0))
    assert ckpt.load_checkpoint(writer.prefix).get_tensor_info("t").slices  # really sliced
    target = ckpt.PartitionedVariable(shape=(9, 8), num_partitions=4, axis=1, dtype=np.int32)
    plan = ckpt.init_from_checkpoint(writer.prefix, {"t": target})
    np.testing.assert_array_equal(target.numpy(), value)
    assert [p.numpy().shape for p in target.parts] == [(9, 2)] * 4
    # Each of the 4 column parts touches all 3 row slices, each checksummed whole.
    assert plan.read_bytes == 4 * value.nbytes
    unverified = ckpt.PartitionedVariable(shape=(9, 8), num_partitions=4, axis=1, dtype=np.int32)
    plan = ckpt.init_from_checkpoint(writer.prefix, {"t": unverified}, verify=False)
    np.testing.assert_array_equal(unverified.numpy(), value)
    assert plan.read_bytes == value.nbytes


def test_unpartitioned_tensor_into_parts(prefix: str) -> None:
    parts = [var((1, 3)), var((1, 3))]
    ckpt.init_from_checkpoint(prefix, {"old/w": parts})
    np.testing.assert_array_equal(parts[1].numpy(), OLD_W[1:])


def test_partitioned_tensor_into_one_variable(prefix: str) -> None:
    whole = var((12, 10))
    ckpt.init_from_checkpoint(prefix, {"emb": whole})
    np.testing.assert_array_equal(whole.numpy(), EMB)


# --- transforms ---------------------------------------------------------------------------------


def test_transpose_a_keras_kernel_into_a_torch_weight(prefix: str) -> None:
    weight = var((3, 2))  # torch Linear weight [out, in]; the Keras kernel is [in, out]
    plan = ckpt.init_from_checkpoint(prefix, {"old/w": weight}, transforms={"old/w": Transpose()})
    np.testing.assert_array_equal(weight.numpy(), OLD_W.T)
    assert "transpose" in str(plan)
    assert "2x3->3x2" in str(plan)


def test_transform_shape_mismatch_says_how_it_was_stored(prefix: str) -> None:
    with pytest.raises(ShapeMismatchError, match=r"\(stored as \(2, 3\), then transformed\)"):
        ckpt.init_from_checkpoint(prefix, {"old/w": var((2, 3))},
                                  transforms={"old/w": Transpose()})


def test_transform_chain_and_transform_patterns(prefix: str) -> None:
    w, v = var((2, 2), np.float16), var((2, 2))
    ckpt.init_from_checkpoint(
        prefix,
        {"old/w": w, "old/sub/v": v},
        transforms={
            "old/w": [Slice(np.s_[:, 1:]), Transpose(), Cast("float16")],
            "old/sub/*": Reshape((2, 2)),
        },
    )
    np.testing.assert_array_equal(w.numpy(), OLD_W[:, 1:].T.astype(np.float16))
    np.testing.assert_array_equal(v.numpy(), OLD_SUB.reshape(2, 2))


def test_function_transform(prefix: str) -> None:
    b = var((3,))

    def double(a: np.ndarray) -> np.ndarray:
        return a * 2

    plan = ckpt.init_from_checkpoint(prefix, {"old/b": b}, transforms={"old/b": double})
    np.testing.assert_array_equal(b.numpy(), OLD_B * 2)
    assert "double" in str(plan)


def test_function_transform_result_is_checked(prefix: str) -> None:
    b = var((3,))
    with pytest.raises(ShapeMismatchError, match=r"after transforms has shape \[2\]"):
        ckpt.init_from_checkpoint(prefix, {"old/b": b}, transforms={"old/b": lambda a: a[:2]})
    with pytest.raises(DtypeMismatchError, match="after transforms is float64"):
        ckpt.init_from_checkpoint(prefix, {"old/b": b},
                                  transforms={"old/b": lambda a: a.astype(np.float64)})
    assert untouched(b)


def test_function_transform_cannot_feed_parts(prefix: str) -> None:
    with pytest.raises(AssignmentMapError, match="through a function transform"):
        ckpt.init_from_checkpoint(prefix, {"emb": [var((6, 10)), var((6, 10))]},
                                  transforms={"emb": lambda a: a})


def test_transform_reshape_then_parts(prefix: str) -> None:
    parts = [var((10, 6)), var((10, 6))]
    ckpt.init_from_checkpoint(prefix, {"emb": parts}, transforms={"emb": Reshape((10, 12))})
    np.testing.assert_array_equal(parts[1].numpy(), EMB.reshape(10, 12)[:, 6:])


def test_transform_patterns_must_not_overlap(prefix: str) -> None:
    with pytest.raises(AssignmentMapError, match="make them exclusive"):
        ckpt.init_from_checkpoint(prefix, {"old/w": var((3, 2))},
                                  transforms={"old/*": Transpose(), "*/w": Transpose()})
    with pytest.raises(AssignmentMapError, match="transforms keys"):
        ckpt.init_from_checkpoint(prefix, {"old/w": var((3, 2))}, transforms={3: Transpose()})


def test_exact_transform_key_wins_over_a_pattern(prefix: str) -> None:
    w = var((2, 3))
    ckpt.init_from_checkpoint(prefix, {"old/w": w},
                              transforms={"old/*": Transpose(), "old/w": lambda a: a + 1})
    np.testing.assert_array_equal(w.numpy(), OLD_W + 1)


# --- dry runs and plans -----------------------------------------------------------------------


def test_dry_run_assigns_nothing_and_returns_the_plan(prefix: str) -> None:
    root = _scoped_root()
    root["p/emb/part_0"] = var((6, 10))
    root["p/emb/part_1"] = var((6, 10))
    plan = ckpt.init_from_checkpoint(prefix, {"old/": "new/", "emb": "p/emb"}, root=root,
                                     transforms={"old/w": Cast("float32")}, dry_run=True)
    assert untouched(*root.values())
    assert not plan.executed
    assert [(a.checkpoint_key, a.target_name) for a in plan.assignments] == [
        ("emb", "p/emb/part_0"),
        ("emb", "p/emb/part_1"),
        ("old/b", "new/b"),
        ("old/sub/v", "new/sub/v"),
        ("old/w", "new/w"),
    ]
    assert plan.unmatched_checkpoint == ["x"]
    assert plan.unmatched_targets == ["elsewhere/w"]
    table = str(plan)
    assert table == plan.table()
    lines = table.splitlines()
    assert lines[0].split() == ["checkpoint", "tensor", "target", "shape", "dtype", "slice",
                                "transform"]
    assert set(lines[1]) <= {"-", " "}
    row = next(line for line in lines if "p/emb/part_1" in line).split()
    assert row == ["emb", "p/emb/part_1", "12x10->6x10", "float32", "6,6:-", "-"]
    assert next(line for line in lines if "new/w " in line).split()[-1] == "cast(float32)"
    assert "5 to assign from" in table
    assert "checkpoint tensors not used (1):\n  x" in table
    assert "variables not assigned (1):\n  elsewhere/w" in table
    ckpt.init_from_checkpoint(prefix, {"old/": "new/"}, root=root)
    np.testing.assert_array_equal(root["new/w"].numpy(), OLD_W)


def test_dry_run_still_raises(prefix: str) -> None:
    with pytest.raises(ShapeMismatchError):
        ckpt.init_from_checkpoint(prefix, {"old/w": var((3,))}, dry_run=True)


def test_plan_read_bytes(prefix: str) -> None:
    plan = ckpt.init_from_checkpoint(
        prefix,
        {"old/w": var((2, 3)), "emb": [var((4, 10)), var((4, 10)), var((4, 10))]},
        dry_run=True,
    )
    assert plan.read_bytes == OLD_W.nbytes + EMB.nbytes
    assert [a.read_bytes for a in plan.assignments] == [EMB.nbytes // 3] * 3 + [OLD_W.nbytes]
    assert "504 B to read" in str(plan)


# --- object-based checkpoints ------------------------------------------------------------------


class Encoder(ckpt.Module):
    def __init__(self, fill: float) -> None:
        super().__init__()
        self.dense = ckpt.Module()
        self.dense.kernel = ckpt.Variable(np.full((2, 3), fill, np.float32))
        self.dense.bias = ckpt.Variable(np.full((3,), fill + 1, np.float32))
        self.step = ckpt.Variable(np.int64(fill))


def test_object_based_names(tmp_path: Path) -> None:
    prefix = ckpt.Checkpoint(model=Encoder(3.0)).write(tmp_path / "obj")
    target = Encoder(-1.0)
    kernel = "model/dense/kernel"
    plan = ckpt.init_from_checkpoint(prefix, {kernel: "dense/kernel"}, root=target)
    assert (target.dense.kernel.numpy() == 3).all()
    assert plan.assignments[0].checkpoint_key == kernel + "/.ATTRIBUTES/VARIABLE_VALUE"
    assert plan.unmatched_checkpoint == ["model/dense/bias", "model/step"]
    # the full key works as well
    bias = var((3,))
    ckpt.init_from_checkpoint(prefix, {"model/dense/bias/.ATTRIBUTES/VARIABLE_VALUE": bias})
    assert (bias.numpy() == 4).all()


def test_object_based_scope(tmp_path: Path) -> None:
    prefix = ckpt.Checkpoint(model=Encoder(3.0)).write(tmp_path / "obj")
    target = Encoder(-1.0)
    plan = ckpt.init_from_checkpoint(prefix, {"model/": "/"}, root=target)
    assert (target.dense.kernel.numpy() == 3).all()
    assert (target.dense.bias.numpy() == 4).all()
    assert target.step.numpy() == 3
    assert plan.unmatched_checkpoint == []  # the object graph is not a tensor to warm-start
    other = {"enc/dense/kernel": var((2, 3)), "enc/dense/bias": var((3,))}
    ckpt.init_from_checkpoint(prefix, {"model/dense/": "enc/dense/"}, root=other)
    assert (other["enc/dense/bias"].numpy() == 4).all()


def test_object_based_checkpoint_of_a_partitioned_variable(tmp_path: Path) -> None:
    """A module's own object-based checkpoint warm-starts the same module by scope, partitioned
    variables included (TF stores a partitioned variable as slices of one tensor, §5.1)."""

    class Model(ckpt.Module):
        def __init__(self, value: np.ndarray) -> None:
            super().__init__()
            self.emb = ckpt.PartitionedVariable(value, num_partitions=2, name="emb")

    prefix = ckpt.Checkpoint(model=Model(EMB)).write(tmp_path / "obj")
    target = Model(np.full_like(EMB, -1))
    ckpt.init_from_checkpoint(prefix, {"model/": "/"}, root=target)
    np.testing.assert_array_equal(target.emb.numpy(), EMB)


# --- reading only what is assigned ----------------------------------------------------------------


@dataclass
class Reads:
    """What a warm start asked the reader for, and which stored pieces it checksummed (reading
    every byte of them)."""

    whole: list[str] = field(default_factory=list)
    regions: list[tuple[str, tuple[tuple[int, int], ...]]] = field(default_factory=list)
    checksummed: list[int] = field(default_factory=list)  # bytes of each piece

    @property
    def checksummed_bytes(self) -> int:
        return sum(self.checksummed)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[Reads]:
    log = Reads()
    get_tensor = ckpt.CheckpointReader.get_tensor
    get_slice = ckpt.CheckpointReader.get_slice
    verify = BundleReader._verify

    def spy_get_tensor(self: Any, name: str, **kwargs: Any) -> np.ndarray:
        log.whole.append(name)
        return get_tensor(self, name, **kwargs)

    def spy_get_slice(self: Any, name: str, index: Any, **kwargs: Any) -> np.ndarray:
        items = index if isinstance(index, tuple) else (index,)
        log.regions.append((name, tuple((s.start, s.stop) for s in items)))
        return get_slice(self, name, index, **kwargs)

    def spy_verify(self: Any, entry: Any, raw: Any) -> None:
        log.checksummed.append(entry.size)
        verify(self, entry, raw)

    monkeypatch.setattr(ckpt.CheckpointReader, "get_tensor", spy_get_tensor)
    monkeypatch.setattr(ckpt.CheckpointReader, "get_slice", spy_get_slice)
    monkeypatch.setattr(BundleReader, "_verify", spy_verify)
    yield log


def test_a_part_reads_only_its_stored_slice(prefix: str, reads: Reads) -> None:
    info = ckpt.SaveSliceInfo("emb", (12, 10), (4, 0), (4, 10))
    part = ckpt.Variable(np.zeros((4, 10), np.float32), save_slice_info=info)
    plan = ckpt.init_from_checkpoint(prefix, {"emb": [part]})
    np.testing.assert_array_equal(part.numpy(), EMB[4:8])
    assert reads.whole == []
    assert reads.regions == [("emb", ((4, 8), (0, 10)))]
    assert reads.checksummed == [EMB[4:8].nbytes]  # one stored slice of three
    assert plan.read_bytes == EMB[4:8].nbytes


def test_a_part_never_touches_other_stored_slices(prefix: str) -> None:
    # Damage the bytes of the other stored slices (found by their values: float32 data is
    # stored raw): a part that reads only its own slice never sees the damage.
    (data,) = Path(prefix).parent.glob("*.data-*")
    raw = bytearray(data.read_bytes())
    for rows in (EMB[4:8], EMB[8:12]):
        start = raw.find(rows.tobytes())
        assert start >= 0
        raw[start : start + rows.nbytes] = b"\xff" * rows.nbytes
    data.write_bytes(bytes(raw))
    info = ckpt.SaveSliceInfo("emb", (12, 10), (0, 0), (4, 10))
    part = ckpt.Variable(np.zeros((4, 10), np.float32), save_slice_info=info)
    ckpt.init_from_checkpoint(prefix, {"emb": [part]})
    np.testing.assert_array_equal(part.numpy(), EMB[:4])
    with pytest.raises(CheckpointError):  # the damage is real
        ckpt.load_variable(prefix, "emb")


def test_transpose_into_parts_reads_the_matching_stored_slices(
    prefix: str, reads: Reads
) -> None:
    # emb [12, 10] stored as row slices; a transposed [10, 12] target split along axis 1
    # needs, per part, exactly one stored slice.
    parts = [var((10, 4)) for _ in range(3)]
    plan = ckpt.init_from_checkpoint(prefix, {"emb": parts}, transforms={"emb": Transpose()})
    np.testing.assert_array_equal(np.concatenate([p.numpy() for p in parts], axis=1), EMB.T)
    assert reads.regions == [("emb", ((0, 4), (0, 10))), ("emb", ((4, 8), (0, 10))),
                             ("emb", ((8, 12), (0, 10)))]
    assert reads.checksummed_bytes == EMB.nbytes
    assert plan.read_bytes == EMB.nbytes


def test_whole_tensors_are_read_into_the_variable(prefix: str, reads: Reads) -> None:
    w = var((2, 3))
    before = w.numpy()
    ckpt.init_from_checkpoint(prefix, {"old/w": w})
    assert reads.whole == ["old/w"] and reads.regions == []
    assert w.numpy() is before  # read in place
    np.testing.assert_array_equal(before, OLD_W)


def test_slice_transform_reads_only_its_region(tmp_path: Path, reads: Reads) -> None:
    """The issue: "a bounded-memory path that reads only the slices it assigns". A Slice of an
    unpartitioned tensor reads only its region; verifying it must read the whole stored piece
    (its CRC32C covers all of it), and the plan says so."""
    value = np.arange(100 * 16, dtype=np.float32).reshape(100, 16)
    prefix = ckpt.write_tensors(tmp_path / "p", {"vocab": value})
    head = var((10, 16))
    plan = ckpt.init_from_checkpoint(prefix, {"vocab": head},
                                     transforms={"vocab": Slice(np.s_[:10])}, verify=False)
    np.testing.assert_array_equal(head.numpy(), value[:10])
    assert reads.whole == []
    assert reads.regions == [("vocab", ((0, 10), (0, 16)))]
    assert plan.read_bytes == value[:10].nbytes
    assert reads.checksummed_bytes == 0
    verified = var((10, 16))
    plan = ckpt.init_from_checkpoint(prefix, {"vocab": verified},
                                     transforms={"vocab": Slice(np.s_[:10])})
    np.testing.assert_array_equal(verified.numpy(), value[:10])
    assert plan.read_bytes == value.nbytes == reads.checksummed_bytes


def test_plan_read_bytes_is_what_is_read(prefix: str, reads: Reads) -> None:
    """``plan.read_bytes`` for rows 3..9 of ``emb``, which straddle all three stored slices:
    it must count what the read really touches."""
    rows = var((6, 10))
    plan = ckpt.init_from_checkpoint(prefix, {"emb": rows}, transforms={"emb": Slice(np.s_[3:9])})
    np.testing.assert_array_equal(rows.numpy(), EMB[3:9])
    assert plan.read_bytes == max(reads.checksummed_bytes, EMB[3:9].nbytes)
