"""``ckpt.init_from_checkpoint`` on checkpoints TensorFlow wrote (no TensorFlow needed).

The sources are ``tests/fixtures/tf/warmstart/`` (``generate_warmstart.py``): a TF1 ``Saver``
checkpoint with the tensors of TF's ``init_from_checkpoint`` docstring (partitioned ones
included) and a TF2 object-based one. The cases below are every example of that docstring,
every form of format doc §7.2, and every error TF raises at call time. Expected values come
from the generator's formulas, cut with NumPy, never from ckpt itself.

``test_tf_live_warmstart.py`` runs the same :data:`CASES` and :data:`ERROR_CASES` through
TensorFlow, so a case added here is checked against TF too.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import ckpt

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tf"


def _load_generator() -> ModuleType:
    """``generate_warmstart.py`` for its tables and formulas (it imports TF only in main())."""
    name = "ckpt_tf_warmstart_fixtures"
    if name in sys.modules:
        return sys.modules[name]
    found = importlib.util.spec_from_file_location(name, FIXTURES / "generate_warmstart.py")
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    sys.modules[name] = module
    found.loader.exec_module(module)
    return module


gen = _load_generator()
V = gen.VALUE_SUFFIX
SENTINEL = -1  # every target starts as -1 everywhere, so "unchanged" is visible
TENSORS = {t.key: t for t in (*gen.TF1_TENSORS, *gen.OBJECT_TENSORS)}
SOURCES = {
    "tf1": gen.tf1_prefix(),
    "tf1_dir": str(gen.WARMSTART_DIR),
    "object": gen.object_prefix(),
    "object_dir": str(gen.WARMSTART_DIR / gen.OBJECT_SUBDIR),
}


# --- describing a case once, for ckpt here and for TF in the live tests ------------------------


@dataclass(frozen=True)
class Target:
    """A variable of the model being warm-started; ``parts`` > 0: partitioned like TF's
    ``fixed_size_partitioner(parts, axis)``."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    parts: int = 0
    axis: int = 0

    def leaves(self) -> list[tuple[str, tuple[slice, ...]]]:
        """``(variable name, its region of the full value)``: the parts, or the whole."""
        if not self.parts:
            return [(self.name, ())]
        slices = gen.partition_slices(self.shape, self.parts, self.axis)
        return [(f"{self.name}/part_{k}", gen.region(o, s)) for k, (o, s) in enumerate(slices)]


@dataclass(frozen=True)
class Obj:
    """Map to the variable object named ``name`` itself (TF: the ``tf.Variable``)."""

    name: str


@dataclass(frozen=True)
class Parts:
    """Map to the list of parts of these partitioned targets (TF: ``list(var)``)."""

    names: tuple[str, ...]


Ref = str | Obj | Parts


@dataclass(frozen=True)
class Case:
    """One ``init_from_checkpoint`` call and what it must load.

    ``loads`` maps target names to the checkpoint key whose value they must hold afterwards;
    every other target keeps :data:`SENTINEL`. ``tf_pairs`` is what TF is given when ckpt's
    map uses something TF does not have (short names for object-based keys).
    """

    id: str
    targets: tuple[Target, ...]
    pairs: tuple[tuple[str, Ref], ...]
    loads: Mapping[str, str]
    source: str = "tf1"
    as_list: bool = False
    tf_pairs: tuple[tuple[str, Ref], ...] | None = None

    def assignment_map(self, pairs: Sequence[tuple[str, Any]]) -> Any:
        return list(pairs) if self.as_list else dict(pairs)

    @property
    def names_only_objects(self) -> bool:
        return all(isinstance(ref, (Obj, Parts)) for _, ref in self.pairs)


@dataclass(frozen=True)
class ErrorCase:
    """A call TF rejects. ``pattern`` is a regex for the stable part of TF's message
    (``{path}`` stands for the checkpoint path as given). ``tf_when``: ``"call"`` if TF raises
    ``ValueError`` matching ``pattern`` at call time, ``"run"`` if TF fails only when the
    initializers run, ``"accepts"`` if TF loads the tensor anyway (ckpt assigns at call time,
    so it always raises at call time)."""

    id: str
    targets: tuple[Target, ...]
    pairs: tuple[tuple[str, Ref], ...]
    pattern: str
    tf_when: str = "call"
    roots: tuple[str, ...] = field(default=("module", "mapping"))

    def regex(self, path: str) -> str:
        return self.pattern.replace("{path}", re.escape(path))


# The model of TF's docstring example (plus a nested variable).
DOC = (
    Target("new_scope_1/var1", (20, 2)),
    Target("new_scope_1/inner/w", (2, 3), "float64"),
    Target("new_scope_2/var2", (50, 4)),
    Target("new_scope_2/var3", (100, 100), parts=5),
)
NET = (
    Target("net/dense/kernel", (3, 4)),
    Target("net/dense/bias", (4,)),
    Target("net/emb", (5, 2), parts=3),  # saved as a ShardedVariable of 2 parts
)
NET_LOADS = {
    "net/dense/kernel": "model/dense/kernel" + V,
    "net/dense/bias": "model/dense/bias" + V,
    "net/emb": "model/emb" + V,
}
NET_FULL_KEYS = tuple((key, name) for name, key in NET_LOADS.items())

CASES: tuple[Case, ...] = (
    # -- the docstring's examples, in its order
    Case("doc_scope", DOC, (("old_scope_1/", "new_scope_1/"),),
         {"new_scope_1/var1": "old_scope_1/var1", "new_scope_1/inner/w": "old_scope_1/inner/w"}),
    Case("doc_names", DOC,
         (("old_scope_1/var1", "new_scope_1/var1"), ("old_scope_1/var2", "new_scope_2/var2")),
         {"new_scope_1/var1": "old_scope_1/var1", "new_scope_2/var2": "old_scope_1/var2"}),
    Case("doc_objects", DOC,
         (("old_scope_1/var1", Obj("new_scope_1/var1")),
          ("old_scope_1/var2", Obj("new_scope_2/var2"))),
         {"new_scope_1/var1": "old_scope_1/var1", "new_scope_2/var2": "old_scope_1/var2"}),
    Case("doc_partitioned_by_name", DOC, (("old_scope_2/var3", "new_scope_2/var3"),),
         {"new_scope_2/var3": "old_scope_2/var3"}),
    Case("doc_partitioned_parts", DOC, (("old_scope_2/var3", Parts(("new_scope_2/var3",))),),
         {"new_scope_2/var3": "old_scope_2/var3"}),
    Case("doc_root_to_scope",
         (Target("sub/x", (3,)), Target("sub/global_step", (), "int64"), Target("other/x", (3,))),
         (("/", "sub/"),), {"sub/x": "x", "sub/global_step": "global_step"}),
    Case("doc_one_tensor_two_variables",
         (Target("a/var1", (20, 2)), Target("b/var1", (20, 2)), Target("c/var1", (20, 2))),
         (("old_scope_1/var1", "a/var1"), ("old_scope_1/var1", Obj("b/var1"))),
         {"a/var1": "old_scope_1/var1", "b/var1": "old_scope_1/var1"}, as_list=True),
    # -- more forms of §7.2
    Case("scope_to_root",
         (Target("var1", (20, 2)), Target("var2", (50, 4)), Target("inner/w", (2, 3), "float64")),
         (("old_scope_1/", "/"),),
         {"var1": "old_scope_1/var1", "var2": "old_scope_1/var2",
          "inner/w": "old_scope_1/inner/w"}),
    Case("nested_scope_from",
         (Target("new_inner/w", (2, 3), "float64"), Target("new_scope_1/var1", (20, 2))),
         (("old_scope_1/inner/", "new_inner/"),), {"new_inner/w": "old_scope_1/inner/w"}),
    Case("nested_scope_into",
         (Target("deep/er/var1", (20, 2)), Target("deep/er/var2", (50, 4)),
          Target("deep/er/inner/w", (2, 3), "float64"), Target("deep/var1", (20, 2))),
         (("old_scope_1/", "deep/er/"),),
         {"deep/er/var1": "old_scope_1/var1", "deep/er/var2": "old_scope_1/var2",
          "deep/er/inner/w": "old_scope_1/inner/w"}),
    Case("mixed_forms", (*DOC, Target("sub/x", (3,))),
         (("old_scope_1/", "new_scope_1/"), ("old_scope_1/var2", Obj("new_scope_2/var2")),
          ("old_scope_2/var3", Parts(("new_scope_2/var3",))), ("x", "sub/x")),
         {"new_scope_1/var1": "old_scope_1/var1", "new_scope_1/inner/w": "old_scope_1/inner/w",
          "new_scope_2/var2": "old_scope_1/var2", "new_scope_2/var3": "old_scope_2/var3",
          "sub/x": "x"}),
    Case("directory_means_latest", DOC,
         (("old_scope_1/var1", "new_scope_1/var1"), ("old_scope_2/var3", "new_scope_2/var3")),
         {"new_scope_1/var1": "old_scope_1/var1", "new_scope_2/var3": "old_scope_2/var3"},
         source="tf1_dir"),
    # -- partitioned tensors into different partitionings (resharding)
    Case("scope_partitioned_resharded",
         (Target("new_scope_2/var3", (100, 100), parts=3, axis=1),
          Target("new_scope_2/var4", (6, 10), parts=2, axis=1)),
         (("old_scope_2/", "new_scope_2/"),),
         {"new_scope_2/var3": "old_scope_2/var3", "new_scope_2/var4": "old_scope_2/var4"}),
    Case("axis1_into_2_parts_axis1", (Target("new_scope_2/var4", (6, 10), parts=2, axis=1),),
         (("old_scope_2/var4", "new_scope_2/var4"),), {"new_scope_2/var4": "old_scope_2/var4"}),
    Case("axis1_into_4_parts_axis0", (Target("r/var4", (6, 10), parts=4, axis=0),),
         (("old_scope_2/var4", "r/var4"),), {"r/var4": "old_scope_2/var4"}),
    Case("axis1_into_parts_list_axis0", (Target("r/var4", (6, 10), parts=4, axis=0),),
         (("old_scope_2/var4", Parts(("r/var4",))),), {"r/var4": "old_scope_2/var4"}),
    Case("partitioned_into_whole", (Target("whole/var3", (100, 100)),),
         (("old_scope_2/var3", "whole/var3"),), {"whole/var3": "old_scope_2/var3"}),
    Case("whole_into_partitioned", (Target("p/var2", (50, 4), parts=3),),
         (("old_scope_1/var2", "p/var2"),), {"p/var2": "old_scope_1/var2"}),
    # -- a TF2 object-based source
    Case("object_full_keys", NET, NET_FULL_KEYS, NET_LOADS, source="object"),
    Case("object_short_names", NET,
         tuple((key[: -len(V)], name) for key, name in NET_FULL_KEYS), NET_LOADS,
         source="object", tf_pairs=NET_FULL_KEYS),
    Case("object_scope", NET, (("model/", "net/"),), NET_LOADS, source="object_dir",
         tf_pairs=NET_FULL_KEYS),
)

# Every error case also maps global_step (sorted first) into keep/global_step, so that
# "nothing was assigned" is visible: TF has replaced that initializer when it raises, ckpt
# must not have assigned it.
KEEP = Target("keep/global_step", (), "int64")
KEEP_PAIR: tuple[str, Ref] = ("global_step", "keep/global_step")
_SCOPE_ONLY = (r"Assignment map with scope only name {} should map to scope only {}\. "
               r"Should be 'scope/': 'other_scope/'\.")
_SHAPE = (r"Shape of variable {}(:0)? \({}\) doesn't match with shape of tensor {} \({}\) from "
          r"checkpoint reader\.")

ERROR_CASES: tuple[ErrorCase, ...] = (
    ErrorCase("missing_tensor_by_name", (*DOC, KEEP),
              (KEEP_PAIR, ("old_scope_1/nope", "new_scope_1/var1")),
              r"Tensor old_scope_1/nope is not found in {path} checkpoint"),
    ErrorCase("missing_tensor_by_object", (*DOC, KEEP),
              (KEEP_PAIR, ("old_scope_1/nope", Obj("new_scope_1/var1"))),
              r"Tensor old_scope_1/nope is not found in {path} checkpoint"),
    ErrorCase("missing_tensor_for_parts", (*DOC, KEEP),
              (KEEP_PAIR, ("old_scope_2/nope", "new_scope_2/var3")),
              r"Tensor old_scope_2/nope is not found in {path} checkpoint"),
    ErrorCase("missing_tensor_in_scope", (*DOC, Target("new_scope_1/extra", (2,)), KEEP),
              (KEEP_PAIR, ("old_scope_1/", "new_scope_1/")),
              r"Tensor old_scope_1/extra \(extra in old_scope_1/\) is not found in {path} "
              r"checkpoint"),
    ErrorCase("shape_by_name", (*DOC, KEEP),
              (KEEP_PAIR, ("old_scope_1/var2", "new_scope_1/var1")),
              _SHAPE.format("new_scope_1/var1", r"\(20, 2\)", "old_scope_1/var2", r"\[50, 4\]")),
    ErrorCase("shape_by_object", (*DOC, KEEP),
              (KEEP_PAIR, ("old_scope_1/var2", Obj("new_scope_1/var1"))),
              _SHAPE.format("new_scope_1/var1", r"\(20, 2\)", "old_scope_1/var2", r"\[50, 4\]")),
    ErrorCase("slices_from_two_tensors",
              (*DOC, Target("new_scope_2/var4", (6, 10), parts=2, axis=1), KEEP),
              (KEEP_PAIR, ("old_scope_2/var3", Parts(("new_scope_2/var3", "new_scope_2/var4")))),
              r"Slices must all be from the same tensor: new_scope_2/var3 != new_scope_2/var4"),
    ErrorCase("scope_without_trailing_slash", (*DOC, KEEP),
              (KEEP_PAIR, ("old_scope_1", "new_scope_1/")),
              _SCOPE_ONLY.format("new_scope_1", "old_scope_1")),
    ErrorCase("unknown_target_name", (*DOC, KEEP),
              (KEEP_PAIR, ("old_scope_1/var1", "new_scope_1/nope")),
              _SCOPE_ONLY.format("new_scope_1", "old_scope_1/var1")),
    # TF checks no shapes of parts at call time; its RestoreV2 fails when the initializers run.
    ErrorCase("parts_of_other_shape", (*DOC, KEEP),
              (KEEP_PAIR, ("old_scope_2/var4", Parts(("new_scope_2/var3",)))),
              r"old_scope_2/var4", tf_when="run"),
    # Nor shapes in scope maps: TF 2.21 then replaces the variable's value, and its shape,
    # with the stored [20, 2]. ckpt refuses.
    ErrorCase("shape_in_scope", (Target("new_scope_1/var1", (2, 20)), KEEP),
              (KEEP_PAIR, ("old_scope_1/", "new_scope_1/")),
              r"(?s)(new_scope_1/var1.*old_scope_1/var1|old_scope_1/var1.*new_scope_1/var1)",
              tf_when="accepts"),
)


# --- building ckpt targets and running ckpt -----------------------------------------------------


Made = dict[str, Any]  # target name -> ckpt.Variable or ckpt.PartitionedVariable


def make_targets(targets: Sequence[Target]) -> Made:
    made: Made = {}
    for t in targets:
        initial = np.full(t.shape, SENTINEL, dtype=t.dtype)
        if t.parts:
            made[t.name] = ckpt.PartitionedVariable(initial, num_partitions=t.parts, axis=t.axis,
                                                    name=t.name)
        else:
            made[t.name] = ckpt.Variable(initial, name=t.name)
    return made


def make_root(made: Made, kind: str) -> Any:
    """The targets as a ``ckpt.Module`` tree, a flat name -> variable mapping, or None."""
    if kind == "none":
        return None
    if kind == "mapping":
        flat: dict[str, Any] = {}
        for name, var in made.items():
            if isinstance(var, ckpt.PartitionedVariable):
                flat.update((f"{name}/part_{k}", part) for k, part in enumerate(var))
            else:
                flat[name] = var
        return flat
    root = ckpt.Module(name="root")
    scopes: dict[str, Any] = {"": root}
    for name, var in made.items():
        *path, leaf = name.split("/")
        node, prefix = root, ""
        for scope in path:
            prefix = f"{prefix}/{scope}" if prefix else scope
            if prefix not in scopes:
                scopes[prefix] = ckpt.Module(name=scope)
                setattr(node, scope, scopes[prefix])
            node = scopes[prefix]
        setattr(node, leaf, var)
    return root


def resolve(pairs: Sequence[tuple[str, Ref]], made: Made) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, ref in pairs:
        if isinstance(ref, Obj):
            out.append((key, made[ref.name]))
        elif isinstance(ref, Parts):
            out.append((key, [part for name in ref.names for part in made[name]]))
        else:
            out.append((key, ref))
    return out


def values_of(made: Made) -> dict[str, np.ndarray]:
    """Name -> value of every variable, parts listed separately as ``<name>/part_<k>``."""
    out: dict[str, np.ndarray] = {}
    for name, var in made.items():
        if isinstance(var, ckpt.PartitionedVariable):
            for k, part in enumerate(var):
                out[f"{name}/part_{k}"] = part.numpy().copy()
        else:
            out[name] = var.numpy().copy()
    return out


def expected_values(case: Case) -> dict[str, np.ndarray]:
    """What every variable must hold after ``case``, from the fixture formulas."""
    out: dict[str, np.ndarray] = {}
    for t in case.targets:
        key = case.loads.get(t.name)
        full = TENSORS[key].value() if key else np.full(t.shape, SENTINEL, dtype=t.dtype)
        for name, index in t.leaves():
            out[name] = full[index]
    return out


def untouched(targets: Sequence[Target]) -> dict[str, np.ndarray]:
    return {name: np.full(t.shape, SENTINEL, dtype=t.dtype)[index]
            for t in targets for name, index in t.leaves()}


def run_ckpt(source: str, case: Case | ErrorCase, root_kind: str, **options: Any
             ) -> tuple[Made, Any]:
    made = make_targets(case.targets)
    pairs = resolve(case.pairs, made)
    assignment = case.assignment_map(pairs) if isinstance(case, Case) else dict(pairs)
    plan = ckpt.init_from_checkpoint(source, assignment, root=make_root(made, root_kind),
                                     **options)
    return made, plan


def assert_values(actual: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray]) -> None:
    assert sorted(actual) == sorted(expected)
    for name, want in expected.items():
        got = np.asarray(actual[name])
        assert got.dtype == want.dtype and got.shape == want.shape, (name, got.dtype, got.shape)
        np.testing.assert_array_equal(got, want, err_msg=name)


def _root_kinds(case: Case) -> list[str]:
    return ["module", "mapping", *(["none"] if case.names_only_objects else [])]


CASE_ROOTS = [pytest.param(case, kind, id=f"{case.id}-{kind}")
              for case in CASES for kind in _root_kinds(case)]
ERROR_ROOTS = [pytest.param(case, kind, id=f"{case.id}-{kind}")
               for case in ERROR_CASES for kind in case.roots]


# --- the fixtures are what the generator says ---------------------------------------------------


@pytest.mark.parametrize("source,tensors", [("tf1", gen.TF1_TENSORS),
                                            ("object", gen.OBJECT_TENSORS)])
def test_fixture_holds_the_formulas(source: str, tensors: Sequence[Any]) -> None:
    listed = dict(ckpt.list_variables(SOURCES[source]))
    listed.pop(gen.OBJECT_GRAPH_KEY, None)
    assert listed == {t.key: list(t.shape) for t in tensors}
    for t in tensors:
        value = ckpt.load_variable(SOURCES[source], t.key)
        assert value.dtype == t.value().dtype
        np.testing.assert_array_equal(value, t.value())
    with ckpt.load_checkpoint(SOURCES[source]) as reader:
        # partitioned tensors really are stored as TF's slices
        for t in tensors:
            if t.slices:
                for offset, shape in t.slices:
                    np.testing.assert_array_equal(
                        reader.get_slice(t.key, gen.region(offset, shape)),
                        t.value()[gen.region(offset, shape)])


def test_every_value_is_distinct() -> None:
    """So a value loaded from the wrong tensor, part or position cannot pass."""
    for group in (gen.TF1_TENSORS, gen.OBJECT_TENSORS[:-1]):
        flat = np.concatenate([t.value().astype(np.float64).reshape(-1) for t in group])
        assert len(np.unique(flat)) == flat.size


# --- the cases ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case,root_kind", CASE_ROOTS)
def test_warm_start(case: Case, root_kind: str) -> None:
    made, plan = run_ckpt(SOURCES[case.source], case, root_kind)
    assert_values(values_of(made), expected_values(case))
    assert isinstance(plan, ckpt.WarmStartPlan)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_accepts_path_objects(case: Case) -> None:
    made, _ = run_ckpt(Path(SOURCES[case.source]), case, "module")  # type: ignore[arg-type]
    assert_values(values_of(made), expected_values(case))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_dry_run_plans_without_assigning(case: Case) -> None:
    made, plan = run_ckpt(SOURCES[case.source], case, "module", dry_run=True)
    assert_values(values_of(made), untouched(case.targets))
    planned = {(a.checkpoint_key, a.target_name) for a in plan.assignments}
    want = {(case.loads[t.name], name) for t in case.targets if t.name in case.loads
            for name, _ in t.leaves()}
    assert planned == want
    shapes = {name: full_shape_of(case, name) for _, name in want}
    for a in plan.assignments:
        assert tuple(a.shape) == shapes[a.target_name]
        assert np.dtype(a.dtype) == TENSORS[a.checkpoint_key].value().dtype
    table = str(plan)
    for key, name in want:
        assert key in table and name in table
    # the same plan, executed
    made_again, executed = run_ckpt(SOURCES[case.source], case, "module")
    assert {(a.checkpoint_key, a.target_name) for a in executed.assignments} == want
    assert_values(values_of(made_again), expected_values(case))


def full_shape_of(case: Case, leaf: str) -> tuple[int, ...]:
    for t in case.targets:
        for name, index in t.leaves():
            if name == leaf:
                return np.empty(t.shape)[index].shape
    raise KeyError(leaf)


def test_plan_lists_what_was_left_unmatched() -> None:
    case = CASES[0]  # {'old_scope_1/': 'new_scope_1/'} into the docstring's model
    _, plan = run_ckpt(SOURCES["tf1"], case, "module", dry_run=True)
    unmatched_ckpt = set(plan.unmatched_checkpoint)
    assert {"old_scope_1/var2", "old_scope_2/var3", "old_scope_2/var4", "x",
            "global_step"} <= unmatched_ckpt
    assert not {"old_scope_1/var1", "old_scope_1/inner/w"} & unmatched_ckpt
    unmatched_targets = set(plan.unmatched_targets)
    assert "new_scope_2/var2" in unmatched_targets
    assert not {"new_scope_1/var1", "new_scope_1/inner/w"} & unmatched_targets
    table = str(plan)
    assert "old_scope_1/var2" in table and "new_scope_2/var2" in table


# --- the errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case,root_kind", ERROR_ROOTS)
def test_error(case: ErrorCase, root_kind: str) -> None:
    source = SOURCES["tf1"]
    made = make_targets(case.targets)
    assignment = dict(resolve(case.pairs, made))
    with pytest.raises(ValueError, match=case.regex(source)) as caught:
        ckpt.init_from_checkpoint(source, assignment, root=make_root(made, root_kind))
    assert isinstance(caught.value, ckpt.errors.CheckpointError)
    assert_values(values_of(made), untouched(case.targets))  # nothing was assigned


@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda c: c.id)
def test_error_in_dry_run(case: ErrorCase) -> None:
    source = SOURCES["tf1"]
    made = make_targets(case.targets)
    with pytest.raises(ValueError, match=case.regex(source)):
        ckpt.init_from_checkpoint(source, dict(resolve(case.pairs, made)),
                                  root=make_root(made, "module"), dry_run=True)


def test_error_message_names_the_directory_as_given() -> None:
    made = make_targets(DOC)
    source = SOURCES["tf1_dir"]
    with pytest.raises(ValueError, match=rf"Tensor nope is not found in {re.escape(source)} "):
        ckpt.init_from_checkpoint(source, {"nope": "new_scope_1/var1"},
                                  root=make_root(made, "module"))


def test_names_need_a_root() -> None:
    made = make_targets(DOC)
    with pytest.raises((ValueError, TypeError)):
        ckpt.init_from_checkpoint(SOURCES["tf1"], {"old_scope_1/var1": "new_scope_1/var1"})
    assert_values(values_of(made), untouched(DOC))


def test_missing_checkpoint(tmp_path: Path) -> None:
    made = make_targets(DOC)
    for source in (tmp_path, tmp_path / "nope"):
        with pytest.raises(ckpt.errors.CheckpointNotFoundError):
            ckpt.init_from_checkpoint(str(source), {"old_scope_1/": "new_scope_1/"},
                                      root=make_root(made, "module"))
