"""Glob and regex keys in assignment maps (:mod:`ckpt.warmstart.patterns`), alone and through
``ckpt.init_from_checkpoint``."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import ckpt
from ckpt.errors import AssignmentMapError
from ckpt.warmstart.patterns import Pattern, compile_pattern, is_pattern

NAMES = [
    "enc/l0/kernel",
    "enc/l1/kernel",
    "enc/deep/l2/kernel",
    "enc/l0/bias",
    "enc/l0/kernel/.OPTIMIZER_SLOT/opt/m",
]


def _matches(pattern: Pattern) -> dict[str, str]:
    return {n: t for n in NAMES if (t := pattern.target_for(n)) is not None}


def test_is_pattern() -> None:
    assert is_pattern("enc/*/kernel")
    assert is_pattern("**")
    assert is_pattern(re.compile("enc/(.*)"))
    assert not is_pattern("enc/l0/kernel")
    assert not is_pattern("enc/")
    assert not is_pattern(3)


def test_star_is_one_component() -> None:
    p = compile_pattern("enc/*/kernel", "encoder/*/w")
    assert _matches(p) == {"enc/l0/kernel": "encoder/l0/w", "enc/l1/kernel": "encoder/l1/w"}
    assert p.text == "enc/*/kernel"


def test_star_within_a_component() -> None:
    p = compile_pattern("enc/l*/kernel", "x/*")
    assert _matches(p) == {"enc/l0/kernel": "x/0", "enc/l1/kernel": "x/1"}


def test_double_star_is_several_components() -> None:
    p = compile_pattern("enc/**/kernel", "encoder/**/w")
    assert _matches(p) == {
        "enc/l0/kernel": "encoder/l0/w",
        "enc/l1/kernel": "encoder/l1/w",
        "enc/deep/l2/kernel": "encoder/deep/l2/w",
    }


def test_wildcards_fill_the_target_in_order() -> None:
    p = compile_pattern("**/l*/kernel", "new/**/layer_*/k")
    assert p.target_for("enc/deep/l2/kernel") == "new/enc/deep/layer_2/k"


def test_target_without_wildcards_takes_every_match() -> None:
    p = compile_pattern("enc/*/bias", "b")
    assert _matches(p) == {"enc/l0/bias": "b"}


def test_wildcards_skip_dot_components() -> None:
    # ``**`` would cover ``kernel/.OPTIMIZER_SLOT/opt``, but dot components are hidden.
    assert compile_pattern("enc/**/m", "**").target_for(NAMES[-1]) is None
    assert compile_pattern("**", "**").target_for(NAMES[-1]) is None


def test_dot_components_match_when_spelled_out() -> None:
    p = compile_pattern("enc/*/kernel/.OPTIMIZER_SLOT/*/m", "slots/*/*")
    assert p.target_for(NAMES[-1]) == "slots/l0/opt"


def test_dot_components_match_a_glob_starting_with_a_dot() -> None:
    """The module says "as in shell globs": there a component pattern that starts with ``.``
    (``.*``, ``.OPT*``) matches dot names."""
    assert compile_pattern("enc/l0/kernel/.OPT*/opt/m", "m").target_for(NAMES[-1]) == "m"
    assert compile_pattern("enc/l0/kernel/.*/opt/m", "m").target_for(NAMES[-1]) == "m"


def test_regex_matches_whole_names_and_expands_the_template() -> None:
    p = compile_pattern(re.compile(r"enc/(l\d)/(?P<what>kernel|bias)"), r"encoder/\1/\g<what>")
    assert _matches(p) == {
        "enc/l0/kernel": "encoder/l0/kernel",
        "enc/l1/kernel": "encoder/l1/kernel",
        "enc/l0/bias": "encoder/l0/bias",
    }
    assert compile_pattern(re.compile("enc/l0"), "x").target_for("enc/l0/kernel") is None
    assert p.text == r"enc/(l\d)/(?P<what>kernel|bias)"


@pytest.mark.parametrize(
    ("key", "template"),
    [("enc/*/kernel", "x/**"), ("enc/*/*", "x/*"), ("enc/**/*", "x/*/**")],
)
def test_target_wildcards_must_repeat_the_pattern(key: str, template: str) -> None:
    with pytest.raises(AssignmentMapError, match="must repeat the pattern's"):
        compile_pattern(key, template)


def test_pattern_target_must_be_a_name() -> None:
    with pytest.raises(AssignmentMapError, match="must map to a name template"):
        compile_pattern("enc/*", ckpt.Variable(0.0))


# --- through init_from_checkpoint -------------------------------------------------------------


@pytest.fixture
def prefix(tmp_path: Path) -> str:
    return ckpt.write_tensors(
        tmp_path / "p",
        {
            name: np.full((2, 2), i, np.float32)
            for i, name in enumerate(["enc/l0/kernel", "enc/l1/kernel", "enc/deep/l2/kernel"])
        },
    )


def _root() -> dict[str, ckpt.Variable]:
    return {
        name: ckpt.Variable(np.full((2, 2), -1, np.float32))
        for name in ("encoder/l0/w", "encoder/l1/w", "encoder/deep/l2/w")
    }


def test_glob_assignment(prefix: str) -> None:
    root = _root()
    plan = ckpt.init_from_checkpoint(prefix, {"enc/*/kernel": "encoder/*/w"}, root=root)
    assert root["encoder/l0/w"].numpy().tolist() == [[0, 0], [0, 0]]
    assert root["encoder/l1/w"].numpy().tolist() == [[1, 1], [1, 1]]
    assert (root["encoder/deep/l2/w"].numpy() == -1).all()
    assert plan.unmatched_checkpoint == ["enc/deep/l2/kernel"]
    assert plan.unmatched_targets == ["encoder/deep/l2/w"]


def test_double_star_assignment(prefix: str) -> None:
    root = _root()
    ckpt.init_from_checkpoint(prefix, {"enc/**/kernel": "encoder/**/w"}, root=root)
    assert [v.numpy()[0, 0] for v in root.values()] == [0, 1, 2]


def test_regex_assignment(prefix: str) -> None:
    root = _root()
    plan = ckpt.init_from_checkpoint(
        prefix, {re.compile(r"enc/(.*)/kernel"): r"encoder/\1/w"}, root=root
    )
    assert [v.numpy()[0, 0] for v in root.values()] == [0, 1, 2]
    assert [a.checkpoint_key for a in plan.assignments] == [
        "enc/deep/l2/kernel",
        "enc/l0/kernel",
        "enc/l1/kernel",
    ]


def test_pattern_matching_nothing_is_an_error(prefix: str) -> None:
    root = _root()
    with pytest.raises(AssignmentMapError) as info:
        ckpt.init_from_checkpoint(prefix, {"dec/*/kernel": "encoder/*/w"}, root=root)
    assert str(info.value) == (
        f"Assignment map pattern 'dec/*/kernel' matches no tensor in {prefix} checkpoint"
    )
    assert isinstance(info.value, ValueError)
    assert all((v.numpy() == -1).all() for v in root.values())


def test_wildcard_count_mismatch_through_init(prefix: str) -> None:
    with pytest.raises(AssignmentMapError, match="must repeat the pattern's"):
        ckpt.init_from_checkpoint(prefix, {"enc/*/kernel": "encoder/**/w"}, root=_root())


def test_pattern_mapping_several_tensors_to_one_variable(prefix: str) -> None:
    root = _root()
    with pytest.raises(AssignmentMapError, match="encoder/l0/w is assigned twice"):
        ckpt.init_from_checkpoint(prefix, {"enc/**/kernel": "encoder/l0/w"}, root=root)
    assert (root["encoder/l0/w"].numpy() == -1).all()


def test_pattern_target_naming_nothing_is_an_error(prefix: str) -> None:
    root = _root()
    with pytest.raises(AssignmentMapError):
        ckpt.init_from_checkpoint(prefix, {"enc/*/kernel": "decoder/*/w"}, root=root)
    assert all((v.numpy() == -1).all() for v in root.values())


def test_patterns_and_names_together(prefix: str) -> None:
    root = _root()
    extra = ckpt.Variable(np.zeros((2, 2), np.float32))
    ckpt.init_from_checkpoint(
        prefix, {"enc/l*/kernel": "encoder/l*/w", "enc/deep/l2/kernel": extra}, root=root
    )
    assert extra.numpy()[0, 0] == 2
    assert root["encoder/l1/w"].numpy()[0, 0] == 1


def test_patterns_see_object_based_short_names(tmp_path: Path) -> None:
    class Layer(ckpt.Module):
        def __init__(self, fill: float) -> None:
            super().__init__()
            self.kernel = ckpt.Variable(np.full((2,), fill, np.float32))

    class Model(ckpt.Module):
        def __init__(self, fill: float) -> None:
            super().__init__()
            self.layers = [Layer(fill), Layer(fill + 1)]

    prefix = ckpt.Checkpoint(model=Model(5.0)).write(tmp_path / "obj")
    target = Model(0.0)
    plan = ckpt.init_from_checkpoint(prefix, {"model/layers/*/kernel": "layers/*/kernel"},
                                     root=target)
    assert [layer.kernel.numpy()[0] for layer in target.layers] == [5, 6]
    assert [a.checkpoint_key for a in plan.assignments] == [
        "model/layers/0/kernel/.ATTRIBUTES/VARIABLE_VALUE",
        "model/layers/1/kernel/.ATTRIBUTES/VARIABLE_VALUE",
    ]
    # ``**`` does not reach into ``.ATTRIBUTES``, and the object graph is never a match.
    with pytest.raises(AssignmentMapError, match="matches no tensor"):
        ckpt.init_from_checkpoint(prefix, {"_CHECKPOINTABLE*": "x"}, root=target)


@pytest.mark.parametrize("key", ["a/b**", "**b/c", "a/x**y/c"])
def test_double_star_must_be_a_whole_component(key: str) -> None:
    with pytest.raises(AssignmentMapError, match="must be one by itself"):
        compile_pattern(key, "new/**")


def test_double_star_matches_whole_components_only() -> None:
    pattern = compile_pattern("a/**", "x/**")
    assert pattern.target_for("a/b/c") == "x/b/c"
    assert pattern.target_for("ab/c") is None
    assert pattern.target_for("a") is None  # one or more components, not zero
