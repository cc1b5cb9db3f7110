"""Restoring pytrees: JAX arrays are immutable, so a restore returns a new tree.

With a target tree, :func:`restore_with_status` restores through the object-based machinery
of :class:`ckpt.Checkpoint` (its saver: same matching, same shape and dtype checks, same
status and report) and rebuilds the target's structure from the restored leaves;
:func:`restore` does the same and asserts that every leaf of the target got a value. Without
a target, :func:`restore` returns the checkpoint's contents as nested dicts of arrays.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from ckpt.checkpoint.inspect import ObjectNode, object_graph
from ckpt.checkpoint.keys import OBJECT_GRAPH_PROTO_KEY, checkpoint_key
from ckpt.checkpoint.restore import breadth_first_tree
from ckpt.checkpoint.saver import CheckpointableSaver, CheckpointOptions, Status
from ckpt.errors import CheckpointAssertionError, TensorNotFoundError
from ckpt.jax.adapter import build
from ckpt.jax.nodes import TreeNode, current_value
from ckpt.reader import CheckpointReader
from ckpt.trackable.base import children_of, is_trackable, tensors_of
from ckpt.trackable.variables import VARIABLE_VALUE, Variable

__all__ = ["restore", "restore_with_status"]

# Present when the checkpoint was written by ``Checkpoint.save`` (not ``write``).
_SAVE_COUNTER_KEY = checkpoint_key("save_counter", VARIABLE_VALUE)


def restore(
    save_path: str | os.PathLike[str],
    target: Any = None,
    *,
    name: str | None = None,
    options: CheckpointOptions | None = None,
) -> Any:
    """Restore a checkpoint into a new pytree shaped like ``target``.

    Args:
        save_path: a checkpoint prefix (``runs/ckpt-3``) or a directory (its latest).
        target: a pytree whose structure, shapes and dtypes the result takes: ``jax.Array``
            leaves come back as ``jax.Array``\\s with the target leaf's dtype and sharding,
            ``jax.ShapeDtypeStruct`` leaves (an abstract tree from ``jax.eval_shape``) as
            ``jax.Array``\\s with the struct's sharding, NumPy and Python leaves as such.
            ``None``: return everything in the checkpoint as nested dicts of arrays.
        name: where ``target`` sits in the checkpoint: the dependency path from the
            checkpoint's root (``"params"`` for ``ckpt.Checkpoint(params=tree)``; ``/``
            separates levels). ``None``: ``target`` stands for the root itself, so a
            checkpoint saved as ``ckpt.Checkpoint(params=p, opt_state=s)`` restores into
            ``{"params": p, "opt_state": s}`` and gives back such a dict.
        options: ``ckpt.CheckpointOptions(allow_dtype_cast=True)`` casts values whose dtype
            differs from the target's instead of raising.

    Returns:
        The new tree. ``target`` is not modified (trackable objects inside it, such as a
        ``ckpt.Variable``, are restored in place as usual).

    Raises:
        ShapeMismatchError, DtypeMismatchError: a value does not fit its leaf; nothing was
            restored.
        CheckpointAssertionError: a leaf of ``target`` has no value in the checkpoint (its
            ``report`` lists them). Use :func:`restore_with_status` for a partial restore.

    Example::

        checkpoint = ckpt.Checkpoint(params=params, opt_state=opt_state)
        path = checkpoint.save("runs/ckpt")
        restored = ckpt.jax.restore(path, {"params": params, "opt_state": opt_state})
        params = ckpt.jax.restore(path, params, name="params")
        everything = ckpt.jax.restore(path)  # {"params": {...}, "opt_state": {...}, ...}
    """
    if target is None:
        return read_arrays(save_path, name=name)
    tree, status = restore_with_status(save_path, target, name=name, options=options)
    try:
        status.assert_existing_objects_matched()
    except CheckpointAssertionError as exc:
        hint = _name_hint(status, name)
        if hint:
            raise CheckpointAssertionError(f"{exc} {hint}", path=exc.path, key=exc.key) from None
        raise
    return tree


def _name_hint(status: Status, name: str | None) -> str:
    """Advice when nothing of the target matched: where the checkpoint's values are."""
    report = status.report()
    if any(not path.startswith("(root).save_counter") for path, _ in report.matched):
        return ""  # some of it matched: the message about the rest says enough
    top = sorted({key.split("/", 1)[0] for key in report.unused_in_checkpoint if "/" in key})
    if not top:
        return ""
    where = "at the top" if name is None else f"under {name!r}"
    return (
        f"Nothing of the target was found {where} of the checkpoint, whose top-level names "
        f"are {top}: pass name= with the one that holds this tree (a tree saved as "
        f"ckpt.Checkpoint({top[0]}=tree) is restored with name={top[0]!r})."
    )


def restore_with_status(
    save_path: str | os.PathLike[str],
    target: Any,
    *,
    name: str | None = None,
    options: CheckpointOptions | None = None,
) -> tuple[Any, Status]:
    """Like :func:`restore` with a target, but asserts nothing: returns ``(tree, status)``.

    ``status`` is what ``ckpt.Checkpoint.restore`` returns (``assert_consumed()``,
    ``assert_existing_objects_matched()``, ``expect_partial()``, ``report()``). Leaves the
    checkpoint has no value for keep the target's leaf.

    Example::

        params, status = ckpt.jax.restore_with_status(path, params, name="params")
        print(status.report())
        status.assert_consumed()
    """
    node = target if is_trackable(target) else build(target)
    root: Any = node
    if name is not None:
        for part in reversed(name.split("/")):
            parent = TreeNode()
            parent._children[part] = root
            root = parent
    with CheckpointReader(save_path) as reader:
        prefix = reader.prefix
        # Written by ``Checkpoint.save`` (not ``write``): match it, as Checkpoint.restore does.
        counter = (
            Variable(np.int64(0), name="save_counter") if _SAVE_COUNTER_KEY in reader else None
        )
    status = CheckpointableSaver(_Root(root, counter)).restore(prefix, options=options)
    return current_value(node), status


class _Root:
    """The checkpoint's root object during a restore: ``node``'s children and tensors, and a
    save counter when the checkpoint has one (so that it is not left unused)."""

    def __init__(self, node: Any, counter: Variable | None) -> None:
        self._node = node
        self._children = dict(children_of(node))
        if counter is not None:
            self._children.setdefault("save_counter", counter)

    def _trackable_children(self) -> Mapping[str, Any]:
        return self._children

    def _serialize_to_tensors(self) -> Mapping[str, Any]:
        return tensors_of(self._node)

    def _restore_targets(self) -> Mapping[str, Any]:
        method = getattr(self._node, "_restore_targets", None)
        if method is not None:
            return dict(method())
        return {name: None for name in self._serialize_to_tensors()}

    def _restore_from_tensors(self, tensors: Mapping[str, Any]) -> None:
        if tensors:
            self._node._restore_from_tensors(tensors)

    def __repr__(self) -> str:
        return f"<checkpoint root of {self._node!r}>"


def read_arrays(save_path: str | os.PathLike[str], *, name: str | None = None) -> Any:
    """Everything in a checkpoint (or under dependency path ``name``) as nested dicts.

    Object-based checkpoints nest by the object graph: an object with one saved value and
    no children is that value (``params/dense/kernel``), others are dicts of their children
    and attributes by attribute name. Name-based checkpoints nest by splitting tensor names
    on ``/``; a tensor whose name is also a scope goes under key ``""`` of the scope.
    Numeric values are ``jax.Array``\\s on the default device, except strings and, with
    64-bit JAX disabled, 64-bit values, which stay NumPy so that nothing is converted.
    Slot variables of TF optimizers are not included (read them with
    ``ckpt.CheckpointReader``).
    """
    parts = [] if name is None else name.split("/")
    with CheckpointReader(save_path) as reader:
        if reader.has_tensor(OBJECT_GRAPH_PROTO_KEY):
            tree = _from_graph(reader, object_graph(reader), parts)
        else:
            tree = _from_names(reader, parts)
    return tree


def _not_found(reader: CheckpointReader, name: list[str], missing: str, found: Any) -> Exception:
    return TensorNotFoundError(
        f"{reader.prefix} has no values under {'/'.join(name)!r} (no {missing!r} there; "
        f"found {sorted(found)})",
        path=reader.prefix,
        key="/".join(name),
    )


def _to_array(value: np.ndarray) -> Any:
    """A ``jax.Array`` if JAX holds ``value`` exactly (same dtype), else the NumPy array."""
    if value.dtype.kind in "OSU":
        return value
    try:
        if jax.dtypes.canonicalize_dtype(value.dtype) != value.dtype:
            return value  # a 64-bit value with 64-bit JAX disabled
        return jax.device_put(value)
    except TypeError:  # a dtype JAX does not know
        return value


_EMPTY = object()


def _from_graph(reader: CheckpointReader, nodes: list[ObjectNode], name: list[str]) -> Any:
    # TF names an object by its shortest (breadth-first) path; other edges to it are skipped.
    tree_children: list[dict[str, int]] = [{} for _ in nodes]
    edges = breadth_first_tree(
        len(nodes), lambda node: [(child, name) for name, child in nodes[node].children]
    )
    for child, (parent, local_name) in edges:
        tree_children[parent][local_name] = child

    start = 0
    for part in name:
        if part not in tree_children[start]:
            raise _not_found(reader, name, part, tree_children[start])
        start = tree_children[start][part]

    # Each tensor is read once, however many objects name it (a hostile graph could name one
    # large tensor thousands of times).
    arrays: dict[str, Any] = {}

    def array(key: str) -> Any:
        if key not in arrays:
            arrays[key] = _to_array(reader.get_tensor(key))
        return arrays[key]

    # Children before parents, without recursion (a graph may be thousands of levels deep).
    order = [start]
    for node in order:
        order.extend(tree_children[node].values())
    results: dict[int, Any] = {}
    for node in reversed(order):
        out: dict[str, Any] = {}
        for local_name, child in tree_children[node].items():
            value = results.pop(child)
            if value is not _EMPTY:
                out[local_name] = value
        attributes = nodes[node].attributes
        if not out and len(attributes) == 1:
            results[node] = array(attributes[0][2])
            continue
        for attribute, _, key in attributes:
            out[attribute] = array(key)
        results[node] = out if out else _EMPTY
    tree = results[start]
    return {} if tree is _EMPTY else tree


def _from_names(reader: CheckpointReader, name: list[str]) -> Any:
    scope = "/".join(name)
    tree: dict[str, Any] = {}
    for key in sorted(reader.keys()):
        if scope and key != scope and not key.startswith(scope + "/"):
            continue
        *scopes, last = key.split("/")
        level = tree
        for part in scopes:
            existing = level.get(part)
            if not isinstance(existing, dict):
                level[part] = {} if existing is None else {"": existing}
            level = level[part]
        value = _to_array(reader.get_tensor(key))
        if isinstance(level.get(last), dict):
            level[last][""] = value
        else:
            level[last] = value
    for part in name:
        if part not in tree:
            raise _not_found(reader, name, part, tree)
        tree = tree[part]
    return tree
