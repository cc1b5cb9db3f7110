"""The JAX adapter's entry point: turn a pytree into checkpoint-graph nodes named by key paths.

:func:`adapt` is what :mod:`ckpt.trackable.adapters` calls for values that are not trackable
(a ``Checkpoint(...)`` keyword, a ``Module`` attribute); it claims JAX arrays, pytrees holding
at least one (dicts, lists, tuples, namedtuples, registered dataclasses, Flax Linen variable
dicts, ``nnx.State``, optax states) and jax/flax/optax objects, and says ``None`` quickly to
anything else. :func:`build` adapts any pytree, claimed or not.

Naming: a leaf's path is its ``jax.tree_util`` key path, one graph edge per key (a dict key
as ``str(key)``, a sequence index as its number, an attribute by its name), so
``{"dense": {"kernel": w}}`` saves ``dense/kernel/.ATTRIBUTES/VARIABLE_VALUE`` exactly as TF
names a nested dict of variables. Flax boxes (``nnx.Variable``, ``nn.Partitioned``) add no
``value`` component: an NNX ``Linear``'s kernel is ``kernel``, not ``kernel/value``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.tree_util import DictKey, FlattenedIndexKey, GetAttrKey, SequenceKey

from ckpt.errors import InvalidTensorError
from ckpt.jax.leaves import is_value_leaf
from ckpt.jax.nodes import Leaf, Part, PyTree, TreeNode
from ckpt.trackable.base import is_trackable

__all__ = ["adapt", "build"]

# Objects of these top-level packages are JAX's kind of value.
_FAMILY = frozenset({"jax", "jaxlib", "flax", "optax"})
_NOT_OURS = (np.ndarray, np.generic, str, bytes, bool, int, float, complex)


def _in_family(obj: Any) -> bool:
    return type(obj).__module__.partition(".")[0] in _FAMILY


def _box_types() -> tuple[type, ...]:
    """Flax's value wrappers, if flax has loaded them (never imported from here)."""
    boxes = []
    variables = sys.modules.get("flax.nnx.variablelib")
    if variables is not None:
        boxes.append(variables.Variable)
    meta = sys.modules.get("flax.core.meta")
    if meta is not None:
        boxes.append(meta.AxisMetadata)
    return tuple(boxes)


def adapt(value: Any) -> Leaf | PyTree | None:
    """A trackable node for a JAX value, or ``None`` if ``value`` is not JAX's kind.

    Claimed: a ``jax.Array``; a pytree with at least one ``jax.Array`` (or
    ``jax.ShapeDtypeStruct``) leaf, or a jax/flax/optax object inside it, as a whole; a
    jax/flax/optax pytree (``nnx.State``, an optax state, also an empty one such as
    ``optax.EmptyState()``). Not claimed: NumPy arrays, trackable objects, containers of
    neither, and jax/flax/optax objects whose leaves hold no values (an optax
    ``GradientTransformation``: pass its state instead).
    """
    if value is None or isinstance(value, _NOT_OURS) or is_trackable(value):
        return None
    if isinstance(value, jax.Array):
        return Leaf(value, "")
    try:
        leaves = jax.tree_util.tree_leaves(value, is_leaf=_stops_claim_check)
    except (TypeError, ValueError):  # not a tree JAX can flatten (dict keys of mixed types)
        return None
    if not any(_in_family(leaf) for leaf in leaves):
        return None
    node = build(value)
    if isinstance(node, PyTree) and node.saved_leaves() == 0 and node._parts:
        return None  # leaves, but none with a value: not state to checkpoint
    return node


def _stops_claim_check(obj: Any) -> bool:
    # A jax/flax/optax object settles the question; flattening it further would not.
    return _in_family(obj) or is_trackable(obj)


def build(tree: Any) -> Leaf | PyTree:
    """The node for any pytree: a :class:`Leaf` for a lone array, else a :class:`PyTree`.

    Leaves that are arrays (``jax.Array``, ``jax.ShapeDtypeStruct``, NumPy) or Python
    numbers are saved; trackable objects in the tree (a ``ckpt.Variable``) become children
    at their path and are restored in place; other leaves (strings, functions) are kept as
    they are and not saved.

    Raises:
        InvalidTensorError: two leaves get the same checkpoint name (dict keys ``1`` and
            ``"1"``), or a leaf holds strings.
    """
    boxes = _box_types()
    is_leaf = _stop_at(boxes)
    flat, treedef = jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_leaf)
    if len(flat) == 1 and flat[0][0] == () and is_value_leaf(flat[0][1]):
        return Leaf(flat[0][1], "")
    root = PyTree(treedef, [])
    mine = {id(root)}
    for path, leaf in flat:
        names = [_component(key) for key in path]
        if boxes and isinstance(leaf, boxes):
            inner, inner_def = jax.tree_util.tree_flatten_with_path(leaf)
            items = []
            for inner_path, inner_leaf in inner:
                inner_names = [_component(key) for key in _unboxed(inner_path)]
                full = [*names, *inner_names] or [*names, *map(_component, inner_path)]
                items.append(_item(root, mine, full, inner_leaf))
            root._parts.append(Part(inner_def, items))
        else:
            root._parts.append(Part(None, [_item(root, mine, names, leaf)]))
    return root


def _stop_at(boxes: tuple[type, ...]) -> Callable[[Any], bool]:
    if boxes:
        return lambda obj: is_trackable(obj) or isinstance(obj, boxes)
    return is_trackable


def _unboxed(path: tuple[Any, ...]) -> tuple[Any, ...]:
    """A box's inner key path without its leading ``.value``."""
    if path and isinstance(path[0], GetAttrKey) and path[0].name == "value":
        return path[1:]
    return path


def _component(key: Any) -> str:
    """One graph edge name from one key-path entry."""
    if isinstance(key, DictKey):
        return str(key.key)
    if isinstance(key, SequenceKey):
        return str(key.idx)
    if isinstance(key, GetAttrKey):
        return str(key.name)
    if isinstance(key, FlattenedIndexKey):
        return str(key.key)
    return str(key)


def _item(root: PyTree, mine: set[int], names: list[str], leaf: Any) -> tuple[str, Any]:
    """Place one leaf in the graph under ``names``; return its (kind, item) for rebuilding."""
    if is_trackable(leaf):
        _insert(root, mine, names, leaf)
        return ("object", leaf)
    if not is_value_leaf(leaf):
        return ("static", leaf)
    node = Leaf(leaf, "/".join(names))
    _insert(root, mine, names, node)
    return ("leaf", node)


def _insert(root: PyTree, mine: set[int], names: list[str], node: Any) -> None:
    parent: TreeNode = root
    for depth, name in enumerate(names):
        last = depth == len(names) - 1
        child = parent._children.get(name)
        if child is None and not last:
            child = TreeNode()
            mine.add(id(child))
            parent._children[name] = child
        elif child is not None and (last or id(child) not in mine):
            raise InvalidTensorError(
                f"two leaves of the pytree are both named {'/'.join(names[: depth + 1])!r} "
                "in the checkpoint (keys that print the same, such as 1 and '1'); rename one"
            )
        if last:
            parent._children[name] = node
        else:
            assert isinstance(child, TreeNode)
            parent = child
