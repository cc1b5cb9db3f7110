"""The object layer against real TensorFlow 2.21: ``ckpt.Checkpoint`` vs ``tf.train.Checkpoint``.

* ckpt -> TF and TF -> ckpt: equivalent ``ckpt.Module`` / ``tf.Module`` trees (nested modules,
  lists, tuples, dicts with awkward keys such as ``"we/ird.name"``, scalars of many dtypes,
  JSON Python state), saved by ``save``, ``write`` and the bare saver; the other side restores
  with ``assert_consumed()`` and equal values. The object graph and the ``.index``/``.data``
  bytes equal TF's own write of the same structure (also for random trees, via hypothesis);
* optimizer slots (``tf.compat.v1.train.AdamOptimizer``, ``.OPTIMIZER_SLOT`` keys), created on
  restore on either side;
* deferred restoration (restore first, build later; the newest restore wins), compared with TF
  doing the same;
* the load-status assertions of format doc §6.4, scenario by scenario, against TF's outcome,
  and the contents of ``report()``;
* Keras 3 + Adam checkpoints (live, and the committed ``tf2_keras_adam`` fixture), the
  committed legacy-Adam fixture, shape/dtype mismatches, and name-based (TF1 ``Saver``)
  fallback restores.

Tests that need TensorFlow are marked ``tf`` and skipped without it, unless
``CKPT_REQUIRE_TF`` is set (then the module fails). The tests of the committed fixtures run
without TensorFlow.
"""

from __future__ import annotations

import copy
import difflib
import json
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fixture_spec import FIXTURES, spec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tf_support import import_tensorflow

import ckpt
from ckpt.errors import CheckpointAssertionError, DtypeMismatchError, ShapeMismatchError
from ckpt.format import protos

tf, TF_MISSING = import_tensorflow()
if tf is not None:
    import keras
    from tensorflow.python.checkpoint.checkpoint import TrackableSaver
    from tensorflow.python.checkpoint.graph_view import ObjectGraphView


def live(test: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a test as needing TensorFlow in-process (skipped without it)."""
    return pytest.mark.tf(pytest.mark.skipif(tf is None, reason=TF_MISSING)(test))


VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"
ASSERTIONS = ("assert_consumed", "assert_existing_objects_matched", "assert_nontrivial_match")

# --- equivalent object trees, described once and built with either library ------------------


@dataclass(frozen=True)
class Var:
    value: np.ndarray
    name: str | None = None


@dataclass(frozen=True)
class State:
    """``ckpt.JsonState`` / a ``tf.train.experimental.PythonState`` saving the same JSON."""

    value: Any


@dataclass(frozen=True)
class Mod:
    children: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Seq:
    kind: str  # "list" or "tuple"
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Map:
    items: tuple[tuple[str, Any], ...]


if tf is not None:

    class TFJsonState(tf.train.experimental.PythonState):
        """TF's side of ``ckpt.JsonState``: the same JSON text (sorted keys)."""

        def __init__(self, value: Any) -> None:
            self.value = value

        def serialize(self) -> str:
            return json.dumps(self.value, sort_keys=True, allow_nan=True)

        def deserialize(self, string: bytes) -> None:
            self.value = json.loads(string)


def tf_dtype_of(value: np.ndarray) -> Any:
    return tf.string if value.dtype == object else tf.as_dtype(value.dtype)


def make_var(lib: str, value: Any, name: str | None = None) -> Any:
    value = np.asarray(value)
    if lib == "tf":
        return tf.Variable(value, dtype=tf_dtype_of(value), name=name)
    return ckpt.Variable(value, name=name)


def make_module(lib: str) -> Any:
    return tf.Module() if lib == "tf" else ckpt.Module()


def make_checkpoint(lib: str, **kwargs: Any) -> Any:
    return tf.train.Checkpoint(**kwargs) if lib == "tf" else ckpt.Checkpoint(**kwargs)


def make_saver(lib: str, root: Any) -> Any:
    """TF's ``TrackableSaver`` (the engine of tf.train.Checkpoint) or ckpt's counterpart."""
    return TrackableSaver(ObjectGraphView(root)) if lib == "tf" else ckpt.CheckpointableSaver(root)


def build(node: Any, lib: str, leaves: dict[str, Any], path: str = "(root).m") -> Any:
    """Build ``node`` with ``lib``; record every variable/state object in ``leaves`` by path."""
    if isinstance(node, Var):
        obj = make_var(lib, node.value.copy(), node.name)
    elif isinstance(node, State):
        obj = (TFJsonState if lib == "tf" else ckpt.JsonState)(copy.deepcopy(node.value))
    elif isinstance(node, Mod):
        module = make_module(lib)
        for name, child in node.children:
            setattr(module, name, build(child, lib, leaves, f"{path}.{name}"))
        return module
    elif isinstance(node, Seq):
        items = [build(child, lib, leaves, f"{path}.{i}") for i, child in enumerate(node.items)]
        return items if node.kind == "list" else tuple(items)
    elif isinstance(node, Map):
        return {key: build(child, lib, leaves, f"{path}.{key}") for key, child in node.items}
    else:
        raise TypeError(node)
    leaves[path] = obj
    return obj


def other_value(value: np.ndarray) -> np.ndarray:
    """Same dtype and shape, every element different (for restore targets)."""
    if value.dtype == object:
        return np.array([b"<unset>" + bytes(x) for x in value.reshape(-1)] or [],
                        dtype=object).reshape(value.shape)
    flat = value.copy().reshape(-1)
    flat.view(np.uint8)[...] ^= 1  # lowest bit of every byte: valid for every dtype here
    return flat.reshape(value.shape)


def scramble(node: Any) -> Any:
    """The same tree with different values everywhere."""
    if isinstance(node, Var):
        return Var(other_value(node.value), node.name)
    if isinstance(node, State):
        return State({"scrambled": True})
    if isinstance(node, Mod):
        return Mod(tuple((k, scramble(c)) for k, c in node.children))
    if isinstance(node, Seq):
        return Seq(node.kind, tuple(scramble(c) for c in node.items))
    return Map(tuple((k, scramble(c)) for k, c in node.items))


def value_of(obj: Any) -> Any:
    """A leaf's current value as NumPy (strings as object arrays of bytes) or JSON."""
    if isinstance(obj, ckpt.JsonState) or (tf is not None and isinstance(obj, TFJsonState)):
        return obj.value
    if isinstance(obj, ckpt.Variable):
        return obj.numpy().copy()
    raw = obj.numpy()
    if obj.dtype == tf.string:
        return np.array(raw, dtype=object).reshape(np.shape(raw))
    return np.asarray(raw)


def values(leaves: dict[str, Any]) -> dict[str, Any]:
    return {path: value_of(obj) for path, obj in leaves.items()}


def same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return spec.difference(np.asarray(a), np.asarray(b)) is None
    return bool(a == b)


def assert_values_equal(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert sorted(got) == sorted(want)
    bad = {p: (got[p], want[p]) for p in want if not same(got[p], want[p])}
    assert not bad, f"{len(bad)} value(s) differ: {bad}"


def assert_all_differ(got: dict[str, Any], want: dict[str, Any]) -> None:
    """Before a restore: every non-empty target differs, so equal values prove the restore."""
    equal = [p for p in want
             if same(got[p], want[p]) and not (isinstance(want[p], np.ndarray)
                                               and want[p].size == 0)]
    assert not equal, f"targets already hold the checkpoint's values: {equal}"


def v(dtype: str, shape: tuple[int, ...] = (), seed: int = 0, name: str | None = None) -> Var:
    return Var(spec.values(dtype, shape, seed), name)


SCALAR_DTYPES = ("float32", "float64", "int64", "bool", "bfloat16", "string", "float16", "int32",
                 "uint8", "complex64", "int8", "uint64")


def standard_tree(*, python_state: bool = True) -> Mod:
    children: list[tuple[str, Any]] = [
        ("dense", Mod((("kernel", v("float32", (3, 4), 1, "dense/kernel")),
                       ("bias", v("float32", (4,), 2, "dense/bias"))))),
        ("blocks", Seq("list", (
            Mod((("w", v("float64", (2, 2), 3)),)),
            Mod((("w", v("bfloat16", (3,), 4)), ("inner", Mod((("step", v("int64", (), 5)),))))),
            v("int8", (2,), 6),
        ))),
        ("table", Map((
            ("we/ird.name", v("float32", (), 7)),
            ("a.b", v("bool", (3,), 8)),
            ("plain", v("string", (2,), 9)),
            ("nested", Seq("list", (v("uint8", (2,), 10), Map((("x/y", v("int16", (2,), 11)),))))),
        ))),
        ("pair", Seq("tuple", (v("int32", (), 12), v("bool", (), 13, "flag")))),
        ("scalars", Mod(tuple((d, v(d, (), 20 + i)) for i, d in enumerate(SCALAR_DTYPES)))),
        ("empty_list", Seq("list", ())),
        ("empty", Mod(())),
    ]
    if python_state:
        children.insert(5, ("state", State({"epoch": 3, "lr": 0.5, "tags": ["a", "b"]})))
    return Mod(tuple(children))


# --- writing and restoring with either library ------------------------------------------------

METHODS = ("save", "write", "saver")


def write_with(lib: str, root: Any, prefix: Path, method: str) -> str:
    """``Checkpoint(m=root).save/.write`` or the bare saver on ``root`` (number 3)."""
    if method == "save":
        return str(make_checkpoint(lib, m=root).save(str(prefix)))
    if method == "write":
        return str(make_checkpoint(lib, m=root).write(str(prefix)))
    saved = make_saver(lib, root).save(str(prefix), checkpoint_number=3)
    return saved.numpy().decode() if lib == "tf" else str(saved)  # TF returns a tensor


def anchored(status: Any, *objects: Any) -> Any:
    """Keep ``objects`` alive as long as ``status``: TF's graph views hold weak references to
    their root, and a collected root makes TF's assertions fail."""
    status._test_anchors = objects
    return status


def restore_with(lib: str, root: Any, path: str, method: str) -> Any:
    """The matching reader: ``restore`` after ``save``, ``read`` after ``write`` (a ``write``
    has no save_counter, which ``restore`` would create and leave unmatched)."""
    if method == "saver":
        saver = make_saver(lib, root)
        return anchored(saver.restore(path), saver, root)
    checkpoint = make_checkpoint(lib, m=root)
    if method == "write":
        return anchored(checkpoint.read(path), checkpoint, root)
    return anchored(checkpoint.restore(path), checkpoint, root)


def object_graph(prefix: str | Path) -> Any:
    with ckpt.CheckpointReader(prefix) as reader:
        return protos.TrackableObjectGraph.FromString(
            reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH").item()
        )


def layout(prefix: str | Path) -> list[tuple[int, str]]:
    """``(data offset, key)`` of every whole tensor, in data-file order."""
    with ckpt.CheckpointReader(prefix) as reader:
        return sorted((reader._bundle.entry(k).offset, k) for k in reader)


def checkpoint_files(prefix: str | Path) -> dict[str, bytes]:
    prefix = Path(prefix)
    return {p.name[len(prefix.name):]: p.read_bytes()
            for p in prefix.parent.iterdir() if p.name.startswith(prefix.name + ".")}


def assert_same_checkpoint(tf_prefix: str | Path, ck_prefix: str | Path, *,
                           layout_too: bool = True) -> None:
    """ckpt's checkpoint is TF's: same object graph, same data order, same file bytes.

    With ``layout_too=False`` only the graph and the values are compared."""
    tf_graph, ck_graph = str(object_graph(tf_prefix)), str(object_graph(ck_prefix))
    if ck_graph != tf_graph:
        diff = difflib.unified_diff(tf_graph.splitlines(), ck_graph.splitlines(), "TF", "ckpt",
                                    lineterm="", n=4)
        pytest.fail("object graphs differ:\n" + "\n".join(diff))
    if not layout_too:
        with ckpt.CheckpointReader(tf_prefix) as a, ckpt.CheckpointReader(ck_prefix) as b:
            assert a.keys() == b.keys()
            for key in a:
                assert same(b.get_tensor(key), a.get_tensor(key)), key
        return
    assert layout(ck_prefix) == layout(tf_prefix)
    tf_files, ck_files = checkpoint_files(tf_prefix), checkpoint_files(ck_prefix)
    assert sorted(ck_files) == sorted(tf_files)
    for suffix, data in tf_files.items():
        assert ck_files[suffix] == data, f"{suffix} differs"


def ck_outcomes(status: Any) -> dict[str, bool]:
    """Which assertions pass; ckpt must fail with CheckpointAssertionError (an AssertionError)."""
    result = {}
    for name in ASSERTIONS:
        try:
            returned = getattr(status, name)()
        except CheckpointAssertionError as error:
            assert isinstance(error, AssertionError)
            assert error.report is not None
            result[name] = False
        else:
            assert returned is status
            result[name] = True
    return result


def tf_outcomes(status: Any) -> dict[str, bool]:
    result = {}
    for name in ASSERTIONS:
        try:
            getattr(status, name)()
        except AssertionError:
            result[name] = False
        else:
            result[name] = True
    return result


def outcomes(lib: str, status: Any) -> dict[str, bool]:
    return tf_outcomes(status) if lib == "tf" else ck_outcomes(status)


# === 1. ckpt writes, TF restores; the files are TF's own ======================================


@live
@pytest.mark.parametrize("method", METHODS)
def test_tf_restores_ckpt_tree(tmp_path: Path, method: str) -> None:
    tree = standard_tree()
    ck_leaves: dict[str, Any] = {}
    path = write_with("ckpt", build(tree, "ckpt", ck_leaves), tmp_path / "ckpt", method)
    tf_leaves: dict[str, Any] = {}
    tf_root = build(scramble(tree), "tf", tf_leaves)
    assert_all_differ(values(tf_leaves), values(ck_leaves))
    status = restore_with("tf", tf_root, path, method)
    status.assert_consumed()
    status.assert_existing_objects_matched()
    status.assert_nontrivial_match()
    assert_values_equal(values(tf_leaves), values(ck_leaves))
    if method == "save":
        assert path == str(tmp_path / "ckpt-1")
        assert tf.train.latest_checkpoint(str(tmp_path)) == path
        assert tf.train.load_variable(path, "save_counter" + VALUE) == 1
    if method == "saver":
        assert path == str(tmp_path / "ckpt-3")


@live
@pytest.mark.parametrize("method", METHODS)
def test_ckpt_restores_tf_tree(tmp_path: Path, method: str) -> None:
    tree = standard_tree()
    tf_leaves: dict[str, Any] = {}
    path = write_with("tf", build(tree, "tf", tf_leaves), tmp_path / "ckpt", method)
    ck_leaves: dict[str, Any] = {}
    ck_root = build(scramble(tree), "ckpt", ck_leaves)
    assert_all_differ(values(ck_leaves), values(tf_leaves))
    status = restore_with("ckpt", ck_root, path, method)
    assert ck_outcomes(status) == dict.fromkeys(ASSERTIONS, True)
    assert_values_equal(values(ck_leaves), values(tf_leaves))
    report = status.report()
    assert report.complete
    assert report.missing_from_checkpoint == report.unused_in_checkpoint == report.pending == []
    with ckpt.CheckpointReader(path) as reader:
        stored = {k for k in reader if k != "_CHECKPOINTABLE_OBJECT_GRAPH"}
    assert {key for _, key in report.matched} == stored
    assert len(report.matched) == len(stored)


@live
@pytest.mark.parametrize("method", METHODS)
def test_same_files_as_tf(tmp_path: Path, method: str) -> None:
    tree = standard_tree(python_state=False)
    tf_path = write_with("tf", build(tree, "tf", {}), tmp_path / "tf" / "ckpt", method)
    ck_path = write_with("ckpt", build(tree, "ckpt", {}), tmp_path / "ck" / "ckpt", method)
    assert Path(ck_path).name == Path(tf_path).name
    assert_same_checkpoint(tf_path, ck_path)
    if method == "save":
        assert (tmp_path / "ck" / "checkpoint").read_text() == (
            tmp_path / "tf" / "checkpoint").read_text().replace(
            str(tmp_path / "tf"), str(tmp_path / "ck"))


@live
def test_same_files_as_tf_with_python_state(tmp_path: Path) -> None:
    """TF writes PythonState tensors after every variable (save_util._split_trackables)."""
    tree = standard_tree(python_state=True)
    tf_path = write_with("tf", build(tree, "tf", {}), tmp_path / "tf", "write")
    ck_path = write_with("ckpt", build(tree, "ckpt", {}), tmp_path / "ck", "write")
    assert_same_checkpoint(tf_path, ck_path)


@live
def test_same_files_after_two_saves(tmp_path: Path) -> None:
    """Two saves with changed values: ckpt-1, ckpt-2 and the state file all equal TF's."""
    tree = Mod((("w", v("float32", (2, 3), 1)), ("n", v("int64", (), 2))))
    prefixes = {}
    for lib in ("tf", "ckpt"):
        leaves: dict[str, Any] = {}
        checkpoint = make_checkpoint(lib, m=build(tree, lib, leaves))
        assert Path(checkpoint.save(str(tmp_path / lib / "ckpt"))).name == "ckpt-1"
        leaves["(root).m.w"].assign(spec.values("float32", (2, 3), 9))
        prefixes[lib] = checkpoint.save(str(tmp_path / lib / "ckpt"))
        assert Path(prefixes[lib]).name == "ckpt-2"
        assert int(np.asarray(checkpoint.save_counter.numpy())) == 2
    for name in ("ckpt-1", "ckpt-2"):
        assert_same_checkpoint(tmp_path / "tf" / name, tmp_path / "ckpt" / name)
    assert (tmp_path / "ckpt" / "checkpoint").read_bytes() == (
        tmp_path / "tf" / "checkpoint").read_bytes()


@live
def test_same_files_checkpoint_keyword_order(tmp_path: Path) -> None:
    """tf.train.Checkpoint sorts its keyword arguments by name (checkpoint.py __init__)."""
    paths = {}
    for lib in ("tf", "ckpt"):
        checkpoint = make_checkpoint(
            lib, zeta=make_var(lib, np.float32(1)), alpha=make_var(lib, np.int32(2)),
            mid=make_var(lib, np.float64(3)))
        paths[lib] = checkpoint.write(str(tmp_path / lib))
    assert [c.local_name for c in object_graph(paths["tf"]).nodes[0].children] == [
        "alpha", "mid", "zeta"]
    assert_same_checkpoint(paths["tf"], paths["ckpt"])


@live
def test_same_files_checkpoint_root(tmp_path: Path) -> None:
    """Checkpoint(root=module, extra=...): TF's graph root is the module itself."""
    tree = Mod((("a", v("float32", (2,), 1)), ("layers", Seq("list", (v("int32", (), 2),)))))
    paths = {}
    for lib in ("tf", "ckpt"):
        root = build(tree, lib, {})
        checkpoint = make_checkpoint(lib, root=root, extra=make_var(lib, np.float64(5)))
        paths[lib] = checkpoint.save(str(tmp_path / lib / "ckpt"))
    assert_same_checkpoint(paths["tf"], paths["ckpt"])


@live
def test_checkpoint_root_restores_both_ways(tmp_path: Path) -> None:
    tree = Mod((("a", v("float32", (2,), 1)), ("layers", Seq("list", (v("int32", (), 2),)))))
    written = {}
    for lib in ("tf", "ckpt"):
        leaves: dict[str, Any] = {}
        root = build(tree, lib, leaves)
        extra = make_var(lib, np.float64(5))
        leaves["extra"] = extra
        path = make_checkpoint(lib, root=root, extra=extra).save(str(tmp_path / lib / "c"))
        written[lib] = (path, leaves)
    for reader_lib, writer_lib in (("tf", "ckpt"), ("ckpt", "tf")):
        path, expected = written[writer_lib]
        leaves = {}
        root = build(scramble(tree), reader_lib, leaves)
        leaves["extra"] = make_var(reader_lib, np.float64(0))
        checkpoint = make_checkpoint(reader_lib, root=root, extra=leaves["extra"])
        status = checkpoint.restore(path)
        assert outcomes(reader_lib, status) == dict.fromkeys(ASSERTIONS, True), reader_lib
        assert_values_equal(values(leaves), values(expected))
        assert int(np.asarray(checkpoint.save_counter.numpy())) == 1


@live
def test_checkpoint_variable_root(tmp_path: Path) -> None:
    """Checkpoint(root=variable): the root's own value is the attribute "/.ATTRIBUTES/..."."""
    paths = {lib: make_checkpoint(lib, root=make_var(lib, np.float32(2.5))).write(
        str(tmp_path / lib)) for lib in ("tf", "ckpt")}
    assert ckpt.list_variables(paths["tf"])[0] == ("/.ATTRIBUTES/VARIABLE_VALUE", [])
    for writer in ("tf", "ckpt"):
        target = ckpt.Variable(np.float32(0))
        status = ckpt.Checkpoint(root=target).read(paths[writer])
        assert same(target.numpy(), np.float32(2.5)), writer
        # Only the root node is bound, so §6.4's nontrivial-match rule fails.
        assert ck_outcomes(status) == {"assert_consumed": True,
                                       "assert_existing_objects_matched": True,
                                       "assert_nontrivial_match": False}
        # TF 2.21 cannot restore this at all: the root variable is never bound.
        tf_target = tf.Variable(np.float32(0))
        tf_checkpoint = tf.train.Checkpoint(root=tf_target)
        tf_status = tf_checkpoint.read(paths[writer])
        assert float(tf_target.numpy()) == 0.0
        assert tf_outcomes(tf_status) == dict.fromkeys(ASSERTIONS, False)
    assert_same_checkpoint(paths["tf"], paths["ckpt"])


@live
def test_resume_numbering_across_libraries(tmp_path: Path) -> None:
    """TF saves ckpt-1, ckpt resumes and saves ckpt-2, TF resumes and saves ckpt-3."""
    tree = Mod((("w", v("float32", (2,), 1)),))
    first = make_checkpoint("tf", m=build(tree, "tf", {})).save(str(tmp_path / "ckpt"))
    leaves: dict[str, Any] = {}
    ours = make_checkpoint("ckpt", m=build(scramble(tree), "ckpt", leaves))
    ours.restore(tmp_path).assert_consumed()  # the directory: its latest checkpoint
    assert int(ours.save_counter.numpy()) == 1
    leaves["(root).m.w"].assign(np.float32([7, 8]))
    second = ours.save(str(tmp_path / "ckpt"))
    assert Path(first).name == "ckpt-1" and Path(second).name == "ckpt-2"
    assert tf.train.latest_checkpoint(str(tmp_path)) == second
    tf_leaves: dict[str, Any] = {}
    theirs = make_checkpoint("tf", m=build(scramble(tree), "tf", tf_leaves))
    theirs.restore(tf.train.latest_checkpoint(str(tmp_path))).assert_consumed()
    assert int(theirs.save_counter.numpy()) == 2
    assert same(value_of(tf_leaves["(root).m.w"]), np.float32([7, 8]))
    assert Path(theirs.save(str(tmp_path / "ckpt"))).name == "ckpt-3"
    assert ckpt.latest_checkpoint(tmp_path) == str(tmp_path / "ckpt-3")


@live
def test_same_files_plain_tuples(tmp_path: Path) -> None:
    """TF leaves tuples without trackables (or lists/dicts) as plain tuples: not saved."""
    paths = {}
    for lib in ("tf", "ckpt"):
        root = make_module(lib)
        root.empty = ()
        root.numbers = (1, "x")
        root.nested = ((), ((),))
        root.holds_list = ([],)  # a list is wrapped, so this tuple is too
        root.w = make_var(lib, np.float32(2))
        paths[lib] = write_with(lib, root, tmp_path / lib, "write")
    graph = object_graph(paths["tf"])
    assert [c.local_name for c in graph.nodes[1].children] == ["holds_list", "w"]
    assert_same_checkpoint(paths["tf"], paths["ckpt"])


@live
def test_shared_objects_both_ways(tmp_path: Path) -> None:
    """A variable and a module reachable twice are saved once, under their first path."""

    def make(lib: str, seed: int) -> tuple[Any, dict[str, Any]]:
        shared = make_var(lib, spec.values("float32", (3,), seed))
        block = make_module(lib)
        block.w = make_var(lib, spec.values("int64", (2,), seed + 1))
        root = make_module(lib)
        root.first = shared
        root.block = block
        root.again = [shared, block]
        root.more = {"k": block}
        return root, {"shared": shared, "w": block.w}

    roots = {lib: make(lib, 1) for lib in ("tf", "ckpt")}
    paths = {lib: write_with(lib, roots[lib][0], tmp_path / lib, "write") for lib in roots}
    assert_same_checkpoint(paths["tf"], paths["ckpt"])
    assert len(layout(paths["tf"])) == 3  # shared, block.w, the graph
    for reader_lib, writer_lib in (("tf", "ckpt"), ("ckpt", "tf")):
        root, leaves = make(reader_lib, 7)
        status = restore_with(reader_lib, root, paths[writer_lib], "write")
        assert outcomes(reader_lib, status) == dict.fromkeys(ASSERTIONS, True)
        assert_values_equal(values(leaves), values(roots[writer_lib][1]))
        assert root.again[0] is root.first


# --- random trees ---------------------------------------------------------------------------

TREE_DTYPES = [d for d in spec.ALL_DTYPE_NAMES if not d.endswith("fnuz")]  # TF has no
# AssignVariableOp for the fnuz float8 types.
_names = st.text(alphabet="ab./_-", max_size=4).map(lambda s: "n" + s)
_variables = st.builds(
    lambda dtype, shape, seed, name: Var(spec.values(dtype, shape, seed), name),
    st.sampled_from(TREE_DTYPES),
    st.sampled_from([(), (1,), (3,), (2, 2), (0,), (2, 0, 3)]),
    st.integers(0, 60),
    st.sampled_from([None, None, "kernel", "a/b", "x.y"]),
)


_states = st.builds(State, st.dictionaries(st.text(max_size=3), st.integers(-5, 5), max_size=2))


def _has_state(node: Any) -> bool:
    if isinstance(node, State):
        return True
    if isinstance(node, (Mod, Map)):
        items = node.children if isinstance(node, Mod) else node.items
        return any(_has_state(c) for _, c in items)
    return isinstance(node, Seq) and any(_has_state(c) for c in node.items)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    named = st.lists(st.tuples(_names, children), max_size=4, unique_by=lambda t: t[0])
    items = st.lists(children, max_size=3)
    return st.one_of(
        named.map(lambda c: Mod(tuple(c))),
        named.map(lambda c: Map(tuple(c))),
        items.map(lambda c: Seq("list", tuple(c))),
        items.map(lambda c: Seq("tuple", tuple(c))),
    )


def _tracked(node: Any) -> bool:
    """Whether TF tracks ``node``: a tuple only when it holds something trackable or a list or
    dict (``data_structures.wrap_or_unwrap``); see test_same_files_plain_tuples."""
    if isinstance(node, Seq) and node.kind == "tuple":
        return any(_tracked(child) for child in node.items)
    return True


def _tuples_tracked(node: Any) -> bool:
    if isinstance(node, Seq):
        return _tracked(node) and all(_tuples_tracked(c) for c in node.items)
    if isinstance(node, (Mod, Map)):
        items = node.children if isinstance(node, Mod) else node.items
        return all(_tuples_tracked(c) for _, c in items)
    return True


random_trees = st.lists(
    st.tuples(_names, st.recursive(_variables | _states, _containers, max_leaves=10)),
    min_size=1, max_size=4, unique_by=lambda t: t[0],
).map(lambda c: Mod(tuple(c))).filter(_tuples_tracked)


@live
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=random_trees)
def test_random_trees_same_files_and_restore_both_ways(tree: Mod) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        leaves: dict[str, dict[str, Any]] = {"tf": {}, "ckpt": {}}
        paths = {lib: write_with(lib, build(tree, lib, leaves[lib]), Path(tmp) / lib, "write")
                 for lib in leaves}
        # Python state goes last in TF's data file: test_same_files_as_tf_with_python_state.
        assert_same_checkpoint(paths["tf"], paths["ckpt"], layout_too=not _has_state(tree))
        for reader_lib, writer_lib in (("tf", "ckpt"), ("ckpt", "tf")):
            targets: dict[str, Any] = {}
            root = build(scramble(tree), reader_lib, targets)
            status = restore_with(reader_lib, root, paths[writer_lib], "write")
            assert outcomes(reader_lib, status)["assert_consumed"]
            assert_values_equal(values(targets), values(leaves[writer_lib]))


# === 3. optimizer slots: tf.compat.v1.train.AdamOptimizer =====================================


class LegacyAdam(ckpt.Optimizer):
    """ckpt's mirror of ``tf.compat.v1.train.AdamOptimizer``'s checkpointed state."""

    def __init__(self, *, powers: bool = True) -> None:
        super().__init__(name="Adam")
        if powers:
            self.make_powers()

    def make_powers(self) -> None:
        self.beta1_power = ckpt.Variable(np.float32(0.9), name="beta1_power")
        self.beta2_power = ckpt.Variable(np.float32(0.999), name="beta2_power")


NET_SHAPES = {"w": ((2, 3), "float32"), "b": ((3,), "float32"), "scale": ((), "float64")}


def make_net(lib: str, seed: int) -> tuple[Any, dict[str, Any]]:
    """net.w, net.b, net.scale and net.layers[0].kernel: several variables of two dtypes."""
    net = make_module(lib)
    found = {}
    for name, (shape, dtype) in NET_SHAPES.items():
        found[name] = make_var(lib, spec.values(dtype, shape, seed + len(found)), name=name)
        setattr(net, name, found[name])
    layer = make_module(lib)
    layer.kernel = found["kernel"] = make_var(lib, spec.values("float32", (3, 2), seed + 9))
    net.layers = [layer]
    return net, found


def gradient(variable: Any, step: int) -> np.ndarray:
    shape = tuple(variable.shape)
    dtype = "float64" if variable.dtype == tf.float64 else "float32"
    return np.nan_to_num(spec.values(dtype, shape, 40 + step), posinf=3.0, neginf=-3.0)


def slot_values(lib: str, optimizer: Any, variables: dict[str, Any]) -> dict[str, Any]:
    found = {}
    for name, variable in variables.items():
        for slot in ("m", "v"):
            slot_variable = optimizer.get_slot(variable, slot)
            assert slot_variable is not None, (lib, name, slot)
            found[f"{name}/{slot}"] = value_of(slot_variable)
    for power in ("beta1_power", "beta2_power"):
        obj = getattr(optimizer, power) if lib == "ckpt" else optimizer._get_non_slot_variable(
            power)
        found[power] = value_of(obj)
    return found


def trained_tf_adam(steps: int = 2) -> tuple[Any, Any, dict[str, Any]]:
    net, variables = make_net("tf", 1)
    optimizer = tf.compat.v1.train.AdamOptimizer(0.1)
    for step in range(steps):
        optimizer.apply_gradients(
            [(tf.constant(gradient(var, step)), var) for var in variables.values()])
    return net, optimizer, variables


@live
def test_ckpt_restores_tf_adam_slots(tmp_path: Path) -> None:
    net, optimizer, variables = trained_tf_adam()
    path = tf.train.Checkpoint(net=net, opt=optimizer).save(str(tmp_path / "tf"))
    ck_net, ck_variables = make_net("ckpt", 50)
    ck_opt = LegacyAdam()
    status = ckpt.Checkpoint(net=ck_net, opt=ck_opt).restore(path)
    assert ck_outcomes(status) == dict.fromkeys(ASSERTIONS, True)
    assert ck_opt.get_slot_names() == ["m", "v"]
    assert_values_equal(slot_values("ckpt", ck_opt, ck_variables),
                        slot_values("tf", optimizer, variables))
    assert_values_equal(values(ck_variables), values(variables))
    slot_keys = {key for _, key in status.report().matched if ".OPTIMIZER_SLOT" in key}
    assert slot_keys == {f"net/{p}/.OPTIMIZER_SLOT/opt/{s}{VALUE}" for s in "mv"
                         for p in ("w", "b", "scale", "layers/0/kernel")}
    # Writing the restored state again gives TF's graph, except the slots' full names:
    # TF v1 names them "<var>/Adam" and "<var>/Adam_1", ckpt "<var>/m" and "<var>/v".
    tf_written = tf.train.Checkpoint(net=net, opt=optimizer).write(str(tmp_path / "tf_w"))
    ck_written = ckpt.Checkpoint(net=ck_net, opt=ck_opt).write(str(tmp_path / "ck_w"))
    graphs = [object_graph(tf_written), object_graph(ck_written)]
    for graph in graphs:
        for node in graph.nodes:
            for attribute in node.attributes:
                if ".OPTIMIZER_SLOT" in attribute.checkpoint_key:
                    attribute.full_name = ""
    assert str(graphs[1]) == str(graphs[0])
    assert layout(ck_written) == layout(tf_written)


@live
def test_tf_restores_ckpt_slots(tmp_path: Path) -> None:
    ck_net, ck_variables = make_net("ckpt", 1)
    ck_opt = LegacyAdam()
    for i, variable in enumerate(ck_variables.values()):
        for slot in ("m", "v"):
            dtype = "float64" if variable.dtype == np.float64 else "float32"
            ck_opt.add_slot(variable, slot, spec.values(dtype, variable.shape, 70 + i + len(slot)))
    ck_opt.beta1_power.assign(np.float32(0.125))
    ck_opt.beta2_power.assign(np.float32(0.375))
    path = ckpt.Checkpoint(net=ck_net, opt=ck_opt).save(str(tmp_path / "ck"))

    net, variables = make_net("tf", 50)
    optimizer = tf.compat.v1.train.AdamOptimizer(0.1)  # no slots, no beta powers yet
    tf_checkpoint = tf.train.Checkpoint(net=net, opt=optimizer)
    status = tf_checkpoint.restore(path)
    # TF created every slot with the checkpointed value ...
    assert sorted(optimizer.get_slot_names()) == ["m", "v"]
    for name, variable in variables.items():
        for slot in ("m", "v"):
            assert same(value_of(optimizer.get_slot(variable, slot)),
                        value_of(ck_opt.get_slot(ck_variables[name], slot))), (name, slot)
    assert_values_equal(values(variables), values(ck_variables))
    # ... but the beta powers do not exist until the optimizer makes them, so the restore is
    # not consumed yet; ckpt without the powers says the same.
    ck_target = LegacyAdam(powers=False)
    target_net, target_variables = make_net("ckpt", 60)
    ck_status = ckpt.Checkpoint(net=target_net, opt=ck_target).restore(path)
    assert tf_outcomes(status) == ck_outcomes(ck_status) == {
        "assert_consumed": False, "assert_existing_objects_matched": True,
        "assert_nontrivial_match": True}
    assert ck_status.report().pending == ["(root).opt.beta1_power", "(root).opt.beta2_power"]
    optimizer._create_slots(list(variables.values()))  # creates beta1_power/beta2_power
    ck_target.make_powers()
    assert tf_outcomes(status) == ck_outcomes(ck_status) == dict.fromkeys(ASSERTIONS, True)
    assert_values_equal(slot_values("tf", optimizer, variables),
                        slot_values("ckpt", ck_opt, ck_variables))
    assert_values_equal(slot_values("ckpt", ck_target, target_variables),
                        slot_values("ckpt", ck_opt, ck_variables))


@live
@pytest.mark.parametrize("late", ["variables", "optimizer"])
def test_deferred_slot_restoration_parity(tmp_path: Path, late: str) -> None:
    """Slots are restored once both the optimizer and the variable exist, whichever is last."""
    net, optimizer, variables = trained_tf_adam(steps=1)
    path = tf.train.Checkpoint(net=net, opt=optimizer).save(str(tmp_path / "tf"))
    got = {}
    for lib in ("tf", "ckpt"):
        new_opt = tf.compat.v1.train.AdamOptimizer(0.1) if lib == "tf" else LegacyAdam()
        holder = make_module(lib)
        checkpoint = make_checkpoint(lib, net=holder) if late == "optimizer" else (
            make_checkpoint(lib, net=holder, opt=new_opt))
        status = checkpoint.restore(path)
        w = make_var(lib, np.zeros((2, 3), np.float32), name="w")
        holder.w = w  # the variable arrives after the restore ...
        if late == "optimizer":
            checkpoint.opt = new_opt  # ... and then the optimizer
        slot = new_opt.get_slot(w, "m")
        assert slot is not None, lib
        got[lib] = (value_of(w), value_of(slot), value_of(new_opt.get_slot(w, "v")),
                    outcomes(lib, status))
    assert same(got["ckpt"][0], value_of(variables["w"]))
    assert same(got["ckpt"][1], value_of(optimizer.get_slot(variables["w"], "m")))
    for a, b in zip(got["ckpt"][:3], got["tf"][:3], strict=True):
        assert same(a, b)
    assert got["ckpt"][3] == got["tf"][3]


# === 4. deferred restoration ==================================================================


DEFERRED_TREE = Mod((
    ("dense", Mod((("kernel", v("float32", (2, 2), 1)), ("bias", v("float32", (2,), 2))))),
    ("blocks", Seq("list", (Mod((("w", v("float64", (3,), 3)),)),
                            Mod((("w", v("int32", (), 4)),))))),
    ("table", Map((("we/ird.name", v("float32", (), 5)), ("b", v("bool", (2,), 6))))),
    ("step", v("int64", (), 7)),
))


def build_late(lib: str, path: str) -> list[tuple[str, dict[str, Any], dict[str, bool]]]:
    """Restore into an empty module, then build it piece by piece; record each stage."""
    stages = []
    root = make_module(lib)
    checkpoint = make_checkpoint(lib, m=root)
    status = checkpoint.restore(path)
    made: dict[str, Any] = {}

    def stage(name: str) -> None:
        stages.append((name, values(made), outcomes(lib, status)))

    def var(key: str, dtype: str, shape: tuple[int, ...]) -> Any:
        made[key] = make_var(lib, np.zeros(shape, spec.numpy_dtype(dtype)))
        return made[key]

    stage("restored into an empty module")
    root.dense = make_module(lib)
    stage("dense added (empty)")
    root.dense.kernel = var("kernel", "float32", (2, 2))
    stage("dense.kernel added")
    root.dense.bias = var("bias", "float32", (2,))
    root.blocks = []
    stage("empty list added")
    block = make_module(lib)
    block.w = var("blocks.0.w", "float64", (3,))
    root.blocks.append(block)
    stage("a built block appended")
    root.blocks.append(make_module(lib))
    root.blocks[1].w = var("blocks.1.w", "int32", ())
    stage("an empty block appended, then built")
    root.table = {}
    root.table["we/ird.name"] = var("table.we/ird.name", "float32", ())
    stage("dict entry with an awkward key set")
    root.table["b"] = var("table.b", "bool", (2,))
    root.step = var("step", "int64", ())
    root.extra = make_var(lib, np.float32(0))
    stage("everything built, plus a variable the checkpoint lacks")
    del root.extra
    stage("everything built")
    return stages


@live
def test_deferred_restoration_parity(tmp_path: Path) -> None:
    ck_leaves: dict[str, Any] = {}
    path = ckpt.Checkpoint(m=build(DEFERRED_TREE, "ckpt", ck_leaves)).save(str(tmp_path / "c"))
    tf_stages = build_late("tf", path)
    ck_stages = build_late("ckpt", path)
    assert [s[0] for s in ck_stages] == [s[0] for s in tf_stages]
    for (name, ck_values, ck_result), (_, tf_values, tf_result) in zip(
            ck_stages, tf_stages, strict=True):
        assert_values_equal(ck_values, tf_values)
        assert ck_result == tf_result, name
    final = ck_stages[-1][1]
    expected = {p.removeprefix("(root).m.").replace("dense.", ""): value
                for p, value in values(ck_leaves).items()}
    assert_values_equal(final, expected)
    assert ck_stages[-1][2] == dict.fromkeys(ASSERTIONS, True)
    assert ck_stages[0][2] == {"assert_consumed": False, "assert_existing_objects_matched": True,
                               "assert_nontrivial_match": True}


@live
def test_deferred_restoration_report(tmp_path: Path) -> None:
    path = ckpt.Checkpoint(m=build(DEFERRED_TREE, "ckpt", {})).write(str(tmp_path / "c"))
    root = ckpt.Module()
    status = ckpt.Checkpoint(m=root).restore(path)
    report = status.report()
    assert sorted(report.pending) == ["(root).m.blocks", "(root).m.dense", "(root).m.step",
                                      "(root).m.table"]
    assert len(report.unused_in_checkpoint) == 7
    assert report.missing_from_checkpoint == ["(root).save_counter"]  # write: no counter
    root.dense = ckpt.Module()
    root.dense.kernel = ckpt.Variable(np.zeros((2, 2), np.float32))
    report = status.report()
    assert "(root).m.dense" not in report.pending
    assert "(root).m.dense.bias" in report.pending
    assert ("m/dense/kernel" + VALUE) in {key for _, key in report.matched}
    assert ("m/dense/kernel" + VALUE) not in report.unused_in_checkpoint


@live
@pytest.mark.parametrize("order", ["a_then_b", "b_then_a"])
def test_newest_restore_wins_parity(tmp_path: Path, order: str) -> None:
    paths = {}
    for name, seed in (("a", 1), ("b", 2)):
        tree = Mod((("dense", Mod((("kernel", v("float32", (2, 2), seed)),))),))
        paths[name] = ckpt.Checkpoint(m=build(tree, "ckpt", {})).save(str(tmp_path / name))
    first, second = (paths["a"], paths["b"]) if order == "a_then_b" else (paths["b"], paths["a"])
    got = {}
    for lib in ("tf", "ckpt"):
        root = make_module(lib)
        checkpoint = make_checkpoint(lib, m=root)
        older = checkpoint.restore(first)
        newer = checkpoint.restore(second)
        root.dense = make_module(lib)
        root.dense.kernel = make_var(lib, np.zeros((2, 2), np.float32))
        got[lib] = (value_of(root.dense.kernel), outcomes(lib, older), outcomes(lib, newer))
    newest = ckpt.load_variable(second, "m/dense/kernel" + VALUE)
    assert same(got["ckpt"][0], newest)
    assert same(got["tf"][0], newest)
    assert got["ckpt"][1] == got["tf"][1], "older restore's assertions"
    assert got["ckpt"][2] == got["tf"][2], "newer restore's assertions"


@live
def test_checkpoint_accepts_containers_like_tf(tmp_path: Path) -> None:
    """tf.train.Checkpoint(items=[...]) wraps lists and dicts like any attribute."""
    got = {}
    for lib in ("tf", "ckpt"):
        saved = make_checkpoint(lib, items=[make_var(lib, np.float32(1.5))],
                                table={"we/ird.name": make_var(lib, np.int64(7))})
        path = saved.write(str(tmp_path / lib))
        items: list[Any] = []
        table: dict[str, Any] = {}
        checkpoint = make_checkpoint(lib, items=items, table=table)
        status = checkpoint.read(path)
        checkpoint.items.append(make_var(lib, np.float32(0)))
        checkpoint.table["we/ird.name"] = make_var(lib, np.int64(0))
        got[lib] = (value_of(checkpoint.items[0]), value_of(checkpoint.table["we/ird.name"]),
                    outcomes(lib, status))
    assert same(got["ckpt"][0], np.float32(1.5)) and same(got["ckpt"][1], np.int64(7))
    assert got["ckpt"][2] == got["tf"][2] == dict.fromkeys(ASSERTIONS, True)


@live
def test_deferred_restoration_into_checkpoint_root(tmp_path: Path) -> None:
    """Checkpoint(root=module): names missing on the module wait on the module itself."""
    tree = Mod((("a", v("float32", (2,), 1)), ("late", v("int64", (), 2))))
    path = ckpt.Checkpoint(root=build(tree, "ckpt", {})).write(str(tmp_path / "c"))
    got = {}
    for lib in ("tf", "ckpt"):
        module = make_module(lib)
        module.a = make_var(lib, np.zeros(2, np.float32))
        checkpoint = make_checkpoint(lib, root=module)
        status = checkpoint.read(path)
        module.late = make_var(lib, np.int64(0))
        got[lib] = (value_of(module.a), value_of(module.late), outcomes(lib, status))
    assert same(got["tf"][1], np.int64(spec.values("int64", (), 2)))
    assert same(got["ckpt"][0], got["tf"][0])
    assert same(got["ckpt"][1], got["tf"][1])
    assert got["ckpt"][2] == got["tf"][2]


# === 5. §6.4: the status assertions, scenario by scenario, against TF ==========================

BASE_TREE = Mod((
    ("a", v("float32", (2,), 1)),
    ("sub", Mod((("b", v("int64", (), 2)),))),
    ("items", Seq("list", (v("float32", (3,), 3),))),
))
KEY_A, KEY_B, KEY_I = ("m/a" + VALUE, "m/sub/b" + VALUE, "m/items/0" + VALUE)
KEY_COUNTER = "save_counter" + VALUE


def _base(lib: str, drop: str | None = None) -> Any:
    return build(Mod(tuple((k, c) for k, c in scramble(BASE_TREE).children if k != drop)), lib,
                 {})


def _extra(lib: str) -> Any:
    root = _base(lib)
    root.extra = make_var(lib, np.float32(0))
    return root


def _attribute_on_module(lib: str) -> Any:
    root = _base(lib, drop="a")
    root.a = make_module(lib)  # the checkpoint's m.a holds a VARIABLE_VALUE
    return root


def _checkpoint_restore(make_root: Callable[[str], Any] | None, *, read: bool = False,
                        none: bool = False) -> Callable[[str, str], Any]:
    """``Checkpoint(m=make_root(lib)).restore(path)`` (or ``read``, or ``restore(None)``)."""

    def restore(lib: str, path: str) -> Any:
        kwargs = {} if make_root is None else {"m": make_root(lib)}
        checkpoint = make_checkpoint(lib, **kwargs)
        if none:
            return anchored(checkpoint.restore(None), checkpoint, kwargs)
        status = checkpoint.read(path) if read else checkpoint.restore(path)
        return anchored(status, checkpoint, kwargs)

    return restore


def _saver_restore(lib: str, path: str) -> Any:
    """The bare saver on the module: the checkpoint's root is a Checkpoint, not the module."""
    root = _base(lib)
    saver = make_saver(lib, root)
    return anchored(saver.restore(path), saver, root)


# name -> (which file, restore(lib, path) -> status, the outcomes TF 2.21 gives for
# assert_consumed, assert_existing_objects_matched, assert_nontrivial_match)
Scenario = tuple[str, Callable[[str, str], Any], tuple[bool, bool, bool]]
SCENARIOS: dict[str, Scenario] = {
    "exact": ("saved", _checkpoint_restore(_base), (True, True, True)),
    "extra_python_variable": ("saved", _checkpoint_restore(_extra), (False, False, True)),
    "python_subset_of_checkpoint": (
        "saved", _checkpoint_restore(lambda lib: _base(lib, drop="sub")), (False, True, True)),
    "written_without_counter_then_restore": (
        "written", _checkpoint_restore(_base), (False, False, True)),
    "written_then_read": ("written", _checkpoint_restore(_base, read=True), (True, True, True)),
    "saved_then_read": ("saved", _checkpoint_restore(_base, read=True), (False, True, True)),
    "empty_checkpoint_object": ("saved", _checkpoint_restore(None), (False, True, True)),
    "empty_checkpoint_read_written": (
        "written", _checkpoint_restore(None, read=True), (False, True, False)),
    "restore_none": ("saved", _checkpoint_restore(_base, none=True), (False, False, False)),
    "deferred_not_yet_built": (
        "saved", _checkpoint_restore(make_module), (False, True, True)),
    "unused_attribute": ("saved", _checkpoint_restore(_attribute_on_module), (False, True, True)),
    "wrong_root": ("saved", _saver_restore, (False, False, False)),
}


@pytest.fixture(scope="module")
def base_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """BASE_TREE saved (with save_counter) and written (without), by TF and by ckpt."""
    if tf is None:
        pytest.skip(TF_MISSING)
    directory = tmp_path_factory.mktemp("base")
    out: dict[str, dict[str, str]] = {}
    for lib in ("tf", "ckpt"):
        root = build(BASE_TREE, lib, {})
        out[lib] = {
            "saved": str(make_checkpoint(lib, m=root).save(str(directory / lib / "saved"))),
            "written": str(make_checkpoint(lib, m=root).write(str(directory / lib / "written"))),
        }
    return out


@live
@pytest.mark.parametrize("writer", ["tf", "ckpt"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_status_parity(base_checkpoints: dict[str, dict[str, str]], scenario: str,
                       writer: str) -> None:
    which, restore, expected = SCENARIOS[scenario]
    path = base_checkpoints[writer][which]
    tf_result = tf_outcomes(restore("tf", path))
    ck_result = ck_outcomes(restore("ckpt", path))
    assert tf_result == dict(zip(ASSERTIONS, expected, strict=True)), "TF changed behaviour?"
    assert ck_result == tf_result


# What ckpt's report says for each scenario: matched keys, missing objects, unused keys, pending.
REPORTS: dict[str, tuple[set[str], set[str], set[str], set[str]]] = {
    "exact": ({KEY_A, KEY_B, KEY_I, KEY_COUNTER}, set(), set(), set()),
    "extra_python_variable": ({KEY_A, KEY_B, KEY_I, KEY_COUNTER}, {"(root).m.extra"}, set(),
                              set()),
    "python_subset_of_checkpoint": ({KEY_A, KEY_I, KEY_COUNTER}, set(), {KEY_B},
                                    {"(root).m.sub"}),
    "written_without_counter_then_restore": ({KEY_A, KEY_B, KEY_I}, {"(root).save_counter"},
                                             set(), set()),
    "written_then_read": ({KEY_A, KEY_B, KEY_I}, set(), set(), set()),
    "saved_then_read": ({KEY_A, KEY_B, KEY_I}, set(), {KEY_COUNTER}, {"(root).save_counter"}),
    "empty_checkpoint_object": ({KEY_COUNTER}, set(), {KEY_A, KEY_B, KEY_I}, {"(root).m"}),
    "restore_none": (set(), {"(root).m.a", "(root).m.sub.b", "(root).m.items.0"}, set(), set()),
    "deferred_not_yet_built": ({KEY_COUNTER}, set(), {KEY_A, KEY_B, KEY_I},
                               {"(root).m.a", "(root).m.sub", "(root).m.items"}),
    "unused_attribute": ({KEY_B, KEY_I, KEY_COUNTER}, set(), {KEY_A}, set()),
    "wrong_root": (set(), {"(root).a", "(root).sub.b", "(root).items.0"},
                   {KEY_A, KEY_B, KEY_I, KEY_COUNTER}, {"(root).m", "(root).save_counter"}),
    "empty_checkpoint_read_written": (set(), set(), {KEY_A, KEY_B, KEY_I}, {"(root).m"}),
}


@live
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_report_contents(base_checkpoints: dict[str, dict[str, str]], scenario: str) -> None:
    which, restore, _ = SCENARIOS[scenario]
    status = restore("ckpt", base_checkpoints["tf"][which])
    report = status.report()
    matched, missing, unused, pending = REPORTS[scenario]
    assert {key for _, key in report.matched} == matched
    assert len(report.matched) == len(matched)
    assert set(report.missing_from_checkpoint) == missing
    assert set(report.unused_in_checkpoint) == unused
    assert set(report.pending) == pending
    assert report.mismatches == []
    assert report.complete == (scenario in ("exact", "written_then_read"))
    text = str(report)
    for key in matched | unused:
        assert key in text
    for path in missing | pending:
        assert path in text
    try:
        status.assert_consumed()
    except CheckpointAssertionError as error:
        assert error.report is not None
        assert error.report.unused_in_checkpoint == report.unused_in_checkpoint
    assert status.expect_partial() is status


# === 6. Keras 3 + Adam ========================================================================


def keras_mirror(shapes: Iterable[tuple[int, ...]], *, with_optimizer: bool) -> tuple[
        ckpt.Checkpoint, dict[str, ckpt.Variable]]:
    """ckpt objects at the paths Keras 3 uses: model/_functional/_operations/N/{_kernel,bias},
    optimizer/_iterations, _learning_rate, _variables/N, _trainable_variables/N, ..."""
    weights = [ckpt.Variable(np.full(s, -7, np.float32)) for s in shapes]
    found: dict[str, ckpt.Variable] = {}
    operations: list[Any] = [ckpt.Module()]  # the InputLayer
    for i in range(0, len(weights), 2):
        layer = ckpt.Module()
        layer._kernel, layer.bias = weights[i], weights[i + 1]
        operations.append(layer)
    for i, weight in enumerate(weights):
        found[spec.keras_weight_key(i)] = weight
    model = ckpt.Module()
    model._functional = ckpt.Module()
    model._functional._operations = operations
    if not with_optimizer:
        return ckpt.Checkpoint(model=model), found
    optimizer = ckpt.Module()
    optimizer._iterations = ckpt.Variable(np.int64(-1))
    optimizer._learning_rate = ckpt.Variable(np.float32(-1))
    found["optimizer/_iterations" + VALUE] = optimizer._iterations
    found["optimizer/_learning_rate" + VALUE] = optimizer._learning_rate
    moments = []
    for i, weight in enumerate(weights):
        for moment in ("momentum", "velocity"):
            moments.append(ckpt.Variable(np.full(weight.shape, -7, np.float32)))
            found[spec.keras_moment_key(i, moment)] = moments[-1]
    optimizer._variables = [optimizer._iterations, optimizer._learning_rate, *moments]
    optimizer._trainable_variables = weights
    optimizer._momentums = moments[0::2]
    optimizer._velocities = moments[1::2]
    model.optimizer = optimizer
    return ckpt.Checkpoint(model=model, optimizer=optimizer), found


def check_keras_restore(path: str, expected: Callable[[str], np.ndarray]) -> None:
    """Full mirror: consumed; model-only mirror: weights matched, optimizer state unused."""
    shapes = [shape for _, shape in spec.keras_weights()]
    checkpoint, found = keras_mirror(shapes, with_optimizer=True)
    status = checkpoint.read(path)  # written by write(): no save_counter
    assert ck_outcomes(status) == dict.fromkeys(ASSERTIONS, True)
    assert_values_equal({k: value_of(obj) for k, obj in found.items()},
                        {k: expected(k) for k in found})
    assert status.report().complete

    checkpoint, found = keras_mirror(shapes, with_optimizer=False)
    status = checkpoint.read(path).expect_partial()
    assert_values_equal({k: value_of(obj) for k, obj in found.items()},
                        {k: expected(k) for k in found})
    assert ck_outcomes(status) == {"assert_consumed": False,
                                   "assert_existing_objects_matched": True,
                                   "assert_nontrivial_match": True}
    report = status.report()
    weight_keys = {spec.keras_weight_key(i) for i in range(len(shapes))}
    optimizer_keys = {"optimizer/_iterations" + VALUE, "optimizer/_learning_rate" + VALUE} | {
        spec.keras_moment_key(i, m) for i in range(len(shapes)) for m in ("momentum", "velocity")}
    assert {key for _, key in report.matched} == weight_keys
    assert all(p.startswith("(root).") for p, _ in report.matched)
    assert set(report.unused_in_checkpoint) == optimizer_keys
    assert "(root).optimizer" in report.pending
    assert report.missing_from_checkpoint == []
    assert not report.complete


def test_keras_fixture_lists_and_reads() -> None:
    fixture = spec.FIXTURES["tf2_keras_adam"]
    prefix = FIXTURES / fixture.directory / fixture.prefix
    listed = dict(ckpt.list_variables(prefix))
    assert listed == {t.key: list(t.shape) for t in fixture.tensors}
    graph = object_graph(prefix)
    # Model weights hang under the model too, but keep their optimizer/... keys.
    by_name = {c.local_name: c.node_id for c in graph.nodes[0].children}
    assert sorted(by_name) == ["model", "optimizer"]
    model = {c.local_name: c.node_id for c in graph.nodes[by_name["model"]].children}
    assert "_functional" in model and model.get("optimizer") == by_name["optimizer"]
    for t in fixture.tensors:
        if not t.opaque:
            assert spec.difference(ckpt.load_variable(prefix, t.key), t.value()) is None


def test_keras_fixture_restore() -> None:
    fixture = spec.FIXTURES["tf2_keras_adam"]
    check_keras_restore(str(FIXTURES / fixture.directory / fixture.prefix),
                        lambda key: fixture.tensor(key).value())


@live
def test_keras_adam_live(tmp_path: Path) -> None:
    keras.utils.set_random_seed(1)

    def make_model() -> Any:
        return keras.Sequential(
            [keras.Input((spec.KERAS_INPUT,))]
            + [keras.layers.Dense(units, name=name) for name, units in spec.KERAS_DENSE])

    model = make_model()
    optimizer = keras.optimizers.Adam(learning_rate=spec.KERAS_LEARNING_RATE)
    model.compile(optimizer=optimizer, loss="mse")
    x = np.linspace(-1, 1, 2 * spec.KERAS_INPUT, dtype=np.float32).reshape(2, -1)
    model.train_on_batch(x, np.ones((2, spec.KERAS_DENSE[-1][1]), np.float32))
    path = tf.train.Checkpoint(model=model, optimizer=optimizer).write(str(tmp_path / "k"))
    reader = tf.train.load_checkpoint(path)
    assert ckpt.list_variables(path) == sorted(
        (k, list(s)) for k, s in reader.get_variable_to_shape_map().items())
    with ckpt.CheckpointReader(path) as ours:
        for key in reader.get_variable_to_shape_map():
            if key != "_CHECKPOINTABLE_OBJECT_GRAPH":
                assert same(ours.get_tensor(key), np.asarray(reader.get_tensor(key))), key
    check_keras_restore(path, lambda key: np.asarray(reader.get_tensor(key)))
    # TF restoring only the model weights gives the same assertion outcomes and values.
    fresh = make_model()
    tf_checkpoint = tf.train.Checkpoint(model=fresh)
    tf_status = tf_checkpoint.read(path)
    shapes = [shape for _, shape in spec.keras_weights()]
    checkpoint, found = keras_mirror(shapes, with_optimizer=False)
    ck_status = checkpoint.read(path)
    assert ck_outcomes(ck_status) == tf_outcomes(tf_status) == {
        "assert_consumed": False, "assert_existing_objects_matched": True,
        "assert_nontrivial_match": True}
    for i, weight in enumerate(fresh.trainable_variables):
        assert same(value_of(found[spec.keras_weight_key(i)]), np.asarray(weight.numpy()))
        assert same(np.asarray(weight.numpy()), np.asarray(model.trainable_variables[i].numpy()))


def test_legacy_adam_fixture_restore() -> None:
    fixture = spec.FIXTURES["tf2_legacy_adam"]
    directory = FIXTURES / fixture.directory
    net = ckpt.Module()
    variables = {}
    for path, (dtype, shape, _) in spec.LEGACY_ADAM_VARIABLES.items():
        variables[path] = ckpt.Variable(other_value(spec.values(dtype, shape, 0)))
    net.w, net.b, net.scale = (variables[f"net/{n}"] for n in ("w", "b", "scale"))
    layer = ckpt.Module()
    layer.kernel, layer.bias = variables["net/layers/0/kernel"], variables["net/layers/0/bias"]
    net.layers = [layer]
    opt = LegacyAdam()
    checkpoint = ckpt.Checkpoint(net=net, opt=opt)
    status = checkpoint.restore(directory)  # a directory: its latest checkpoint, ckpt-1
    assert ck_outcomes(status) == dict.fromkeys(ASSERTIONS, True)
    assert int(checkpoint.save_counter.numpy()) == 1
    assert opt.get_slot_names() == list(spec.LEGACY_ADAM_SLOTS)
    for path, variable in variables.items():
        assert same(variable.numpy(), fixture.tensor(path + VALUE).value()), path
        for slot in spec.LEGACY_ADAM_SLOTS:
            created = opt.get_slot(variable, slot)
            assert created is not None, (path, slot)
            expected = fixture.tensor(spec.legacy_adam_slot_key(path, slot)).value()
            assert same(created.numpy(), expected), (path, slot)
    for name, value in spec.LEGACY_ADAM_POWERS.items():
        assert same(getattr(opt, name).numpy(), np.float32(value))
    report = status.report()
    assert len(report.matched) == len(fixture.tensors) - 1
    assert report.complete
    # Without the optimizer: the model restores, the slots and powers are left over.
    net2 = ckpt.Module()
    net2.w = ckpt.Variable(np.zeros((2, 3), np.float32))
    partial = ckpt.Checkpoint(net=net2).restore(directory)
    assert ck_outcomes(partial) == {"assert_consumed": False,
                                    "assert_existing_objects_matched": True,
                                    "assert_nontrivial_match": True}
    assert same(net2.w.numpy(), fixture.tensor("net/w" + VALUE).value())
    unused = set(partial.report().unused_in_checkpoint)
    assert "opt/beta1_power" + VALUE in unused
    assert spec.legacy_adam_slot_key("net/w", "m") in unused


# === 7. shape and dtype mismatches ============================================================

MISMATCH_TREE = Mod((
    ("a", v("float32", (2, 3), 1)),
    ("sub", Mod((("b", v("float32", (4,), 2)),))),
    ("c", v("int32", (2,), 3)),
))


def _mismatch_target(lib: str, *, b: tuple[tuple[int, ...], str], c_dtype: str) -> tuple[
        Any, dict[str, Any]]:
    root = build(scramble(Mod(MISMATCH_TREE.children[:1])), lib, {})
    root.sub = make_module(lib)
    root.sub.b = make_var(lib, np.full(b[0], 9, spec.numpy_dtype(b[1])), name="bias_b")
    root.c = make_var(lib, np.full((2,), 9, spec.numpy_dtype(c_dtype)))
    return root, {"a": root.a, "b": root.sub.b, "c": root.c}


@live
def test_shape_mismatch_assigns_nothing(tmp_path: Path) -> None:
    path = write_with("tf", build(MISMATCH_TREE, "tf", {}), tmp_path / "tf", "write")
    root, leaves = _mismatch_target("ckpt", b=((5,), "float32"), c_dtype="int32")
    before = values(leaves)
    with pytest.raises(ShapeMismatchError) as caught:
        ckpt.Checkpoint(m=root).restore(path)
    error = caught.value
    message = str(error)
    for piece in ("(root).m.sub.b", "m/sub/b" + VALUE, "(4,)", "(5,)"):
        assert piece in message, piece
    assert error.checkpoint_key == "m/sub/b" + VALUE
    assert error.key == "(root).m.sub.b"
    assert [(m.path, m.kind, m.found, m.expected) for m in error.mismatches] == [
        ("(root).m.sub.b", "shape", "(4,)", "(5,)")]
    assert isinstance(error, ValueError)
    assert_values_equal(values(leaves), before)  # nothing assigned, not even m.a
    # TF refuses too, but only at the assignment of m.sub.b: m.a and m.c were assigned by then.
    tf_root, tf_leaves = _mismatch_target("tf", b=((5,), "float32"), c_dtype="int32")
    tf_before = values(tf_leaves)
    with pytest.raises(ValueError, match="incompatible tensor with shape"):
        tf.train.Checkpoint(m=tf_root).read(path)
    assert [same(tf_before[k], value_of(tf_leaves[k])) for k in "abc"] == [False, True, False]


@live
def test_dtype_mismatch_and_allow_dtype_cast(tmp_path: Path) -> None:
    path = write_with("tf", build(MISMATCH_TREE, "tf", {}), tmp_path / "tf", "write")
    root, leaves = _mismatch_target("ckpt", b=((4,), "float32"), c_dtype="float64")
    before = values(leaves)
    with pytest.raises(DtypeMismatchError) as caught:
        ckpt.Checkpoint(m=root).read(path)
    error = caught.value
    for piece in ("(root).m.c", "m/c" + VALUE, "int32", "float64"):
        assert piece in str(error), piece
    assert error.checkpoint_key == "m/c" + VALUE
    assert [(m.kind, m.found, m.expected) for m in error.mismatches] == [
        ("dtype", "int32", "float64")]
    assert_values_equal(values(leaves), before)
    # Shape and dtype problems are all listed; the first (breadth first: m.c before m.sub.b)
    # decides the class.
    root2, _ = _mismatch_target("ckpt", b=((5,), "float32"), c_dtype="float64")
    with pytest.raises(DtypeMismatchError) as both:
        ckpt.Checkpoint(m=root2).read(path)
    assert [(m.path, m.kind) for m in both.value.mismatches] == [
        ("(root).m.c", "dtype"), ("(root).m.sub.b", "shape")]
    # TF refuses the dtype difference too.
    tf_root, _ = _mismatch_target("tf", b=((4,), "float32"), c_dtype="float64")
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError, tf.errors.NotFoundError)):
        tf.train.Checkpoint(m=tf_root).read(path)
    # With allow_dtype_cast the value is cast into the variable's dtype.
    status = ckpt.Checkpoint(m=root).read(
        path, options=ckpt.CheckpointOptions(allow_dtype_cast=True))
    status.assert_consumed()
    saved = spec.values("int32", (2,), 3)
    assert same(root.c.numpy(), saved.astype(np.float64))
    assert root.c.dtype == np.float64
    assert same(root.a.numpy(), spec.values("float32", (2, 3), 1))


@live
def test_deferred_shape_mismatch_assigns_nothing(tmp_path: Path) -> None:
    path = write_with("tf", build(MISMATCH_TREE, "tf", {}), tmp_path / "tf", "write")
    root = ckpt.Module()
    ckpt.Checkpoint(m=root).read(path)
    late = ckpt.Variable(np.zeros(5, np.float32))
    sub = ckpt.Module()
    sub.b = late
    with pytest.raises(ShapeMismatchError):
        root.sub = sub
    assert same(late.numpy(), np.zeros(5, np.float32))


# === 8. name-based fallback (TF1 Saver checkpoints, no object graph) ==========================

NAMED = {"scope/w": ("float32", (2, 3), 1), "scope/b": ("float64", (3,), 2),
         "head/kernel": ("int32", (2, 2), 3)}


def _tf1_saver_checkpoint(prefix: Path) -> str:
    v1 = tf.compat.v1
    with tf.Graph().as_default():
        for name, (dtype, shape, seed) in NAMED.items():
            v1.get_variable(name, initializer=tf.constant(spec.values(dtype, shape, seed)))
        saver = v1.train.Saver()
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            return str(saver.save(session, str(prefix), write_meta_graph=False))


def _named_modules(lib: str, *, extra: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """ckpt: modules named "scope"/"head" (fully qualified names); TF: explicit var names."""
    leaves = {}
    modules = {}
    for scope in ("scope", "head"):
        module = tf.Module(name=scope) if lib == "tf" else ckpt.Module(name=scope)
        modules[scope] = module
    for name, (dtype, shape, seed) in NAMED.items():
        scope, attribute = name.split("/")
        value = other_value(spec.values(dtype, shape, seed))
        leaves[name] = make_var(lib, value, name=name if lib == "tf" else None)
        setattr(modules[scope], attribute, leaves[name])
    if extra:
        modules["scope"].extra = make_var(lib, np.float32(0),
                                          name="scope/extra" if lib == "tf" else None)
    return modules, leaves


@live
@pytest.mark.parametrize("extra", [False, True], ids=["all_present", "missing_variable"])
def test_name_based_restore_of_tf1_saver(tmp_path: Path, extra: bool) -> None:
    path = _tf1_saver_checkpoint(tmp_path / "model.ckpt")
    got = {}
    for lib in ("tf", "ckpt"):
        modules, leaves = _named_modules(lib, extra=extra)
        checkpoint = make_checkpoint(lib, model=modules["scope"], head=modules["head"])
        status = anchored(checkpoint.restore(path), checkpoint)
        got[lib] = (values(leaves), outcomes(lib, status), status)
    expected = {name: spec.values(dtype, shape, seed) for name, (dtype, shape, seed) in
                NAMED.items()}
    assert_values_equal(got["ckpt"][0], expected)
    assert_values_equal(got["tf"][0], expected)
    assert got["ckpt"][1] == got["tf"][1] == dict.fromkeys(ASSERTIONS, not extra)
    report = got["ckpt"][2].report()
    assert {key for _, key in report.matched} == set(NAMED)
    assert set(report.missing_from_checkpoint) - {"(root).save_counter"} == (
        {"(root).model.extra"} if extra else set())


def test_name_based_restore_of_committed_tf1_fixture() -> None:
    """tests/fixtures/tf/tf1_saver: partitioned variables, restored by name without TF."""
    fixture = spec.FIXTURES["tf1_saver"]
    dense = ckpt.Module(name="dense")
    scope = ckpt.Module(name="scope")
    targets = {}
    for t in fixture.tensors:
        target = ckpt.Variable(other_value(t.value()),
                               name=t.key if t.key == "global_step" else None)
        targets[t.key] = target
        owner, _, attribute = t.key.rpartition("/")
        if owner:
            setattr({"dense": dense, "scope": scope}[owner], attribute, target)
    checkpoint = ckpt.Checkpoint(model=dense, scope=scope, step=targets["global_step"])
    status = checkpoint.restore(FIXTURES / fixture.directory)
    assert ck_outcomes(status) == dict.fromkeys(ASSERTIONS, True)
    for key, target in targets.items():
        assert same(target.numpy(), fixture.tensor(key).value()), key
    missing = ckpt.Checkpoint(model=dense, stray=ckpt.Variable(np.float32(0))).restore(
        FIXTURES / fixture.directory)
    assert not ck_outcomes(missing)["assert_consumed"]
    # save_counter is not in the checkpoint either, but it is optional for the assertion.
    assert set(missing.report().missing_from_checkpoint) - {"(root).save_counter"} == {
        "(root).stray"}
