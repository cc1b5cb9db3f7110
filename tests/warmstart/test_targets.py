"""Variable names of a warm start's root: stored names, aliases of tied variables, cycles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ckpt
from ckpt.errors import AssignmentMapError
from ckpt.warmstart.targets import namespace_of, walk_variables


class Tied(ckpt.Module):
    """A weight reachable twice, first depth first through the deeper path (as BERT's output
    embedding): the checkpoint names it by the shorter, breadth-first path."""

    def __init__(self, value: np.ndarray) -> None:
        super().__init__(name="tied")
        self.encoder = ckpt.Module(name="encoder")
        self.encoder.emb = ckpt.Module(name="emb")
        self.encoder.emb.table = ckpt.Variable(value)
        self.head = ckpt.Variable(np.zeros(1, np.float32))
        self.out = self.encoder.emb.table


def test_tied_variable_is_named_as_stored_and_by_its_other_paths() -> None:
    model = Tied(np.ones((3, 2), np.float32))
    assert dict(walk_variables(model)).keys() == {"out", "head"}
    names = namespace_of(model)
    assert names["out"].alias_of is None
    assert names["encoder/emb/table"].alias_of == "out"
    assert names["encoder/emb/table"].obj is names["out"].obj


def test_scope_map_assigns_a_tied_variable_once_from_its_stored_name(tmp_path: Path) -> None:
    value = np.arange(6, dtype=np.float32).reshape(3, 2)
    path = ckpt.Checkpoint(model=Tied(value)).write(str(tmp_path / "c"))
    assert "model/out/.ATTRIBUTES/VARIABLE_VALUE" in dict(ckpt.list_variables(path))
    target = Tied(np.zeros((3, 2), np.float32))
    plan = ckpt.init_from_checkpoint(path, {"model/": "/"}, root=target)
    assert [a.target.name for a in plan.assignments] == ["head", "out"]
    np.testing.assert_array_equal(target.encoder.emb.table.numpy(), value)
    assert plan.unmatched_targets == []


def test_an_alias_name_works_as_an_explicit_target(tmp_path: Path) -> None:
    value = np.arange(6, dtype=np.float32).reshape(3, 2)
    path = ckpt.Checkpoint(model=Tied(value)).write(str(tmp_path / "c"))
    target = Tied(np.zeros((3, 2), np.float32))
    ckpt.init_from_checkpoint(path, {"model/out": "encoder/emb/table"}, root=target)
    np.testing.assert_array_equal(target.out.numpy(), value)


def test_scope_covering_only_an_alias_uses_it_when_the_checkpoint_has_it(tmp_path: Path) -> None:
    # A checkpoint of an untied model has the deeper name; the tied model takes it from there.
    value = np.arange(6, dtype=np.float32).reshape(3, 2)
    untied = ckpt.Module(name="m")
    untied.encoder = ckpt.Module(name="encoder")
    untied.encoder.emb = ckpt.Module(name="emb")
    untied.encoder.emb.table = ckpt.Variable(value)
    path = ckpt.Checkpoint(model=untied).write(str(tmp_path / "c"))
    target = Tied(np.zeros((3, 2), np.float32))
    ckpt.init_from_checkpoint(path, {"model/encoder/": "encoder/"}, root=target)
    np.testing.assert_array_equal(target.out.numpy(), value)
    with pytest.raises(AssignmentMapError, match="not found"):
        ckpt.init_from_checkpoint(path, {"model/": "/"}, root=Tied(value))  # 'head' is missing


def test_cycles_are_walked_once() -> None:
    root = ckpt.Module(name="root")
    root.child = ckpt.Module(name="child")
    root.child.parent = root
    root.child.w = ckpt.Variable(np.zeros(2, np.float32))
    assert list(namespace_of(root)) == ["child/w"]


def test_misspelt_target_gets_tf_message_and_close_names(tmp_path: Path) -> None:
    path = ckpt.write_tensors(str(tmp_path / "c"), {"model/weight": np.ones(2, np.float32)})
    root = ckpt.Module(name="m")
    root.weight = ckpt.Variable(np.zeros(2, np.float32))
    with pytest.raises(AssignmentMapError, match=r"scope only model/weight.*Close names: weight"):
        ckpt.init_from_checkpoint(path, {"model/weight": "wieght"}, root=root)
