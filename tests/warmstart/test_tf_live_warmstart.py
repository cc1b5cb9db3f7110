"""TensorFlow as the oracle for ``ckpt.init_from_checkpoint`` (name-based warm starts).

Each case of ``test_tf_fixtures_warmstart.py`` is built a second time in TF, in graph mode:
the same variables with ``tf.compat.v1.get_variable`` (partitioned ones with
``fixed_size_partitioner``), then ``tf.compat.v1.train.init_from_checkpoint`` and the
initializers. Every variable, part by part, must hold what ckpt assigns. Each error case must
make TF fail too, with the same message where TF raises at call time. The cases run once on
the TF-written fixtures and once on the same tensors written by ckpt's ``CheckpointWriter``.

Without TensorFlow the module is skipped, unless ``CKPT_REQUIRE_TF`` is set: then it fails.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "compat"))
sys.path.insert(0, str(Path(__file__).parent))
from test_tf_fixtures_warmstart import (
    CASES,
    DOC,
    ERROR_CASES,
    SENTINEL,
    SOURCES,
    Case,
    ErrorCase,
    Obj,
    Parts,
    Ref,
    Target,
    assert_values,
    expected_values,
    gen,
    make_root,
    make_targets,
    resolve,
    run_ckpt,
    values_of,
)
from tf_support import import_tensorflow

import ckpt

tf, _TF_MISSING = import_tensorflow()
if tf is None:
    pytest.skip(_TF_MISSING, allow_module_level=True)

pytestmark = pytest.mark.tf

TF1_CASES = [case for case in CASES if case.source.startswith("tf1")]


# --- running a case in TensorFlow ---------------------------------------------------------------


class TFRunError(Exception):
    """TF accepted the ``init_from_checkpoint`` call but failed when the initializers ran."""


def run_tf(source: str, targets: Sequence[Target], pairs: Sequence[tuple[str, Ref]], *,
           as_list: bool = False) -> dict[str, np.ndarray]:
    """Build ``targets`` in a fresh graph, warm-start them with TF, return every value.

    Raises what ``init_from_checkpoint`` raises; :class:`TFRunError` if running the
    initializers fails.
    """
    v1 = tf.compat.v1
    with tf.Graph().as_default():
        made: dict[str, Any] = {}
        fetches: dict[str, Any] = {}
        for t in targets:
            partitioner = v1.fixed_size_partitioner(t.parts, axis=t.axis) if t.parts else None
            made[t.name] = v1.get_variable(
                t.name, shape=t.shape, dtype=tf.as_dtype(t.dtype), partitioner=partitioner,
                initializer=v1.constant_initializer(SENTINEL))
            if t.parts:
                parts = list(made[t.name])
                leaves = t.leaves()
                assert [p.op.name for p in parts] == [name for name, _ in leaves]
                # TF partitions exactly as the test's own formula says.
                for part, (_, index) in zip(parts, leaves, strict=True):
                    info = part._save_slice_info
                    assert tuple(info.var_shape) == np.empty(t.shape)[index].shape
                fetches.update(zip([name for name, _ in leaves], parts, strict=True))
            else:
                fetches[t.name] = made[t.name]
        resolved: list[tuple[str, Any]] = []
        for key, ref in pairs:
            if isinstance(ref, Obj):
                resolved.append((key, made[ref.name]))
            elif isinstance(ref, Parts):
                resolved.append((key, [p for name in ref.names for p in made[name]]))
            else:
                resolved.append((key, ref))
        v1.train.init_from_checkpoint(source, resolved if as_list else dict(resolved))
        with v1.Session() as sess:
            try:
                sess.run(v1.global_variables_initializer())
            except tf.errors.OpError as exc:
                raise TFRunError(str(exc)) from exc
            return {name: np.asarray(value) for name, value in sess.run(fetches).items()}


def ckpt_values(source: str, case: Case, root_kind: str = "module") -> dict[str, np.ndarray]:
    made, _ = run_ckpt(source, case, root_kind)
    return values_of(made)


def ckpt_error(source: str, targets: Sequence[Target], pairs: Sequence[tuple[str, Ref]]
               ) -> BaseException | None:
    made = make_targets(targets)
    try:
        ckpt.init_from_checkpoint(source, dict(resolve(pairs, made)),
                                  root=make_root(made, "module"))
    except Exception as exc:
        return exc
    return None


# --- a copy of the TF1 fixture written by ckpt ---------------------------------------------------


@pytest.fixture(scope="module")
def ckpt_written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The TF1 fixture's tensors written by ckpt, partitioned tensors as TF's slices."""
    directory = tmp_path_factory.mktemp("ckpt_written")
    prefix = str(directory / gen.TF1_PREFIX)
    with ckpt.CheckpointWriter(prefix) as writer:
        for t in gen.TF1_TENSORS:
            if t.slices:
                for offset, shape in t.slices:
                    writer.add_slice(t.key, t.value()[gen.region(offset, shape)],
                                     full_shape=t.shape, offset=offset)
            else:
                writer.add(t.key, t.value())
    ckpt.update_checkpoint_state(str(directory), prefix)
    return {"tf1": prefix, "tf1_dir": str(directory)}


def test_tf_reads_the_ckpt_written_copy(ckpt_written: dict[str, str]) -> None:
    reader = tf.train.load_checkpoint(ckpt_written["tf1_dir"])
    for t in gen.TF1_TENSORS:
        np.testing.assert_array_equal(reader.get_tensor(t.key), t.value())


# --- values -------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_same_values_as_tf(case: Case) -> None:
    source = SOURCES[case.source]
    theirs = run_tf(source, case.targets, case.tf_pairs or case.pairs, as_list=case.as_list)
    assert_values(theirs, expected_values(case))  # the oracle agrees with the formulas
    for root_kind in ("module", "mapping"):
        assert_values(ckpt_values(source, case, root_kind), theirs)


@pytest.mark.parametrize("case", TF1_CASES, ids=lambda c: c.id)
def test_same_values_as_tf_from_a_ckpt_written_checkpoint(
    case: Case, ckpt_written: dict[str, str]
) -> None:
    source = ckpt_written[case.source]
    theirs = run_tf(source, case.targets, case.pairs, as_list=case.as_list)
    assert_values(theirs, expected_values(case))
    assert_values(ckpt_values(source, case), theirs)


def test_tf_does_not_know_the_short_object_names() -> None:
    """ckpt's extension: TF only addresses object-based tensors by their full keys."""
    case = next(c for c in CASES if c.id == "object_short_names")
    with pytest.raises(ValueError, match="is not found in"):
        run_tf(SOURCES[case.source], case.targets, case.pairs)


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda c: c.id)
def test_tf_fails_too(case: ErrorCase) -> None:
    source = SOURCES["tf1"]
    ours = ckpt_error(source, case.targets, case.pairs)
    assert isinstance(ours, ValueError), ours
    assert re.search(case.regex(source), str(ours)), str(ours)
    if case.tf_when == "call":
        with pytest.raises(ValueError) as theirs:
            run_tf(source, case.targets, case.pairs)
        assert re.search(case.regex(source), str(theirs.value)), str(theirs.value)
    elif case.tf_when == "run":
        with pytest.raises(TFRunError):
            run_tf(source, case.targets, case.pairs)
    else:  # TF loads the stored tensor whatever the variable's shape
        assert case.tf_when == "accepts"
        theirs = run_tf(source, case.targets, case.pairs)
        shapes = {t.name: t.shape for t in case.targets}
        assert any(value.shape != shapes.get(name) for name, value in theirs.items())


@pytest.mark.parametrize("case_id", ["slices_from_two_tensors", "scope_without_trailing_slash",
                                     "unknown_target_name", "missing_tensor_in_scope"])
def test_same_error_message_as_tf(case_id: str) -> None:
    """Messages that hold no shape map and no variable name suffix are identical."""
    case = next(c for c in ERROR_CASES if c.id == case_id)
    source = SOURCES["tf1"]
    with pytest.raises(ValueError) as theirs:
        run_tf(source, case.targets, case.pairs)
    assert str(ckpt_error(source, case.targets, case.pairs)) == str(theirs.value)


# --- corners of TF's rules: whatever TF does, ckpt does -----------------------------------------

EDGES: tuple[tuple[str, tuple[Target, ...], tuple[tuple[str, Ref], ...]], ...] = (
    # a scope map whose target scope holds no variable: TF assigns nothing and says nothing
    ("scope_without_variables", DOC, (("old_scope_1/", "empty/"),)),
    # a target scope that is a prefix of another scope's name, not a scope of its own
    ("scope_prefix_is_not_a_scope", (*DOC, Target("new_scope_10/var1", (20, 2))),
     (("old_scope_1/", "new_scope_1/"),)),
    # a checkpoint float64 into a float32 variable: TF's RestoreV2 refuses the dtype
    ("dtype_mismatch", (Target("new/w", (2, 3), "float32"),), (("old_scope_1/inner/w", "new/w"),)),
    # a partitioned checkpoint tensor into a variable of another shape, by name
    ("partitioned_into_wrong_shape", (Target("new/var3", (100, 99)),),
     (("old_scope_2/var3", "new/var3"),)),
    # the same variable twice, through two scope maps
    ("two_scope_maps", (Target("a/inner/w", (2, 3), "float64"),),
     (("old_scope_1/", "a/"), ("old_scope_1/inner/", "a/inner/"))),
)


@pytest.mark.parametrize(
    "pairs",
    [
        (("old/", "new/"), ("w2", "new/w")),  # a scope map plus an override: "w2" sorts last
        (("w2", "new/w"), ("old/", "new/")),  # the same, listed the other way round
        (("a", "new/w"), ("old/", "new/")),  # "old/" sorts last: the scope map wins
        (("old/w", "new/w"), ("w2", "new/w"), ("a", "new/w")),  # three values, one variable
    ],
)
def test_a_variable_assigned_again_takes_the_later_value_as_in_tf(
    tmp_path: Path, pairs: tuple[tuple[str, Ref], ...]
) -> None:
    # TF replaces a variable's initializer for each pair, in sorted order of the names.
    rng = np.random.default_rng(3)
    source = ckpt.write_tensors(
        str(tmp_path / "src"),
        {n: rng.standard_normal((2, 3)).astype(np.float32) for n in ("old/w", "old/b", "w2", "a")},
    )
    targets = (Target("new/w", (2, 3)), Target("new/b", (2, 3)))
    case = Case("override", targets, pairs, {})
    assert_values(ckpt_values(source, case), run_tf(source, targets, pairs))


@pytest.mark.parametrize("targets,pairs", [pytest.param(t, p, id=i) for i, t, p in EDGES])
def test_edge_case_parity(targets: tuple[Target, ...], pairs: tuple[tuple[str, Ref], ...]
                          ) -> None:
    source = SOURCES["tf1"]
    case = Case("edge", targets, pairs, {})
    try:
        theirs = run_tf(source, targets, pairs)
    except ValueError as exc:
        ours = ckpt_error(source, targets, pairs)
        assert isinstance(ours, ValueError), f"TF raised {exc}, ckpt {ours!r}"
        # TF appends the checkpoint's whole shape map to some messages, and ":0" to names
        stable = re.sub(r":0\b", "", str(exc).split(" {", 1)[0])
        assert str(ours).startswith(stable), (str(ours), str(exc))
        return
    except TFRunError as exc:
        ours = ckpt_error(source, targets, pairs)
        assert isinstance(ours, ValueError), f"TF failed at run time ({exc}), ckpt {ours!r}"
        return
    assert_values(ckpt_values(source, case), theirs)


def test_target_without_slash_that_names_nothing() -> None:
    """Format doc §7.2's quirk: TF takes scopes = "" and drops the first character of every
    variable's name, giving a puzzling "not found"; ckpt refuses with its own message."""
    source = SOURCES["tf1"]
    pairs: tuple[tuple[str, Ref], ...] = (("old_scope_1/", "zzz"),)
    with pytest.raises(ValueError, match=r"Tensor old_scope_1/ew_scope_1/inner/w "):
        run_tf(source, DOC, pairs)
    ours = ckpt_error(source, DOC, pairs)
    assert isinstance(ours, ValueError) and "zzz" in str(ours), ours
