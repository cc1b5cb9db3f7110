"""The checkpoint-graph nodes standing for a pytree: array leaves are variables, subtrees nodes.

:class:`Leaf` is a variable (``shape``, ``dtype``, ``name``; saves ``VARIABLE_VALUE``) whose
value is replaced, not written into, when it is restored: JAX arrays are immutable. A
:class:`TreeNode` is an interior node named by its key-path component, and :class:`PyTree`,
the root, keeps the tree's structure and rebuilds it from the leaves' current values
(:attr:`PyTree.tree`).

They implement the trackable protocol without deriving from :class:`ckpt.Trackable`: a tree
never gains children after it is built, so there is nothing to defer a restoration to, and a
name the tree lacks is simply unused in the checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from ckpt.errors import DtypeMismatchError, ShapeMismatchError
from ckpt.jax.leaves import from_host, is_python_scalar, python_scalar_accepts, spec, to_host
from ckpt.trackable.variables import VARIABLE_VALUE

__all__ = ["Leaf", "Part", "PyTree", "TreeNode", "current_value"]


class Leaf:
    """One saved leaf of a pytree, as a checkpoint variable.

    Attributes:
        name: the leaf's path in its tree (``dense/kernel``), used in error messages.
        shape, dtype: what the checkpoint stores for it (a PRNG key stores its key data).
        value: the leaf now: the original until a restore replaces it with a new leaf of the
            same kind (a ``jax.Array`` with the original's sharding for a JAX leaf).
    """

    def __init__(self, value: Any, name: str) -> None:
        self._shape, self._dtype = spec(value)
        self._value = value
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._dtype

    @property
    def value(self) -> Any:
        return self._value

    def __repr__(self) -> str:
        return f"<ckpt.jax.Leaf {self._name!r} shape={self._shape} dtype={self._dtype}>"

    # --- the trackable protocol ---

    def _serialize_to_tensors(self) -> Mapping[str, Any]:
        return {VARIABLE_VALUE: to_host(self._value, self._name)}

    def _restore_targets(self) -> Mapping[str, np.ndarray | None]:
        # Not the leaf's memory (JAX arrays are immutable) but a fresh host buffer of its
        # shape and dtype: the restore checks every value against it before assigning any
        # and reads straight into it; _restore_from_tensors then places it on the devices.
        # Python numbers have no dtype to insist on, so they get no buffer.
        if is_python_scalar(self._value):
            return {VARIABLE_VALUE: None}
        return {VARIABLE_VALUE: np.empty(self._shape, self._dtype)}

    def _restore_from_tensors(self, tensors: Mapping[str, Any]) -> None:
        value = np.asarray(tensors[VARIABLE_VALUE])
        if value.shape != self._shape:
            raise ShapeMismatchError(
                f"Received incompatible tensor with shape {value.shape} when attempting to "
                f"restore pytree leaf {self._name!r} with shape {self._shape}",
                key=self._name,
            )
        if is_python_scalar(self._value):
            compatible = python_scalar_accepts(self._value, value.dtype)
            expected = f"type {type(self._value).__name__}"
        else:
            compatible = value.dtype == self._dtype
            expected = f"dtype {self._dtype}"
        if not compatible:
            raise DtypeMismatchError(
                f"cannot restore a {value.dtype} value into pytree leaf {self._name!r} of "
                f"{expected}",
                key=self._name,
            )
        self._value = from_host(value, self._value)


class TreeNode:
    """An interior node of a pytree: its children by key-path component, in flatten order."""

    def __init__(self) -> None:
        self._children: dict[str, Any] = {}

    def _trackable_children(self) -> Mapping[str, Any]:
        return dict(self._children)

    def _lookup_dependency(self, name: str) -> Any:
        return self._children.get(name)

    def __repr__(self) -> str:
        return f"<ckpt.jax.TreeNode {list(self._children)}>"


@dataclass
class Part:
    """What one leaf of the outer flatten becomes.

    ``items`` are ``(kind, item)`` with kind ``"leaf"`` (a :class:`Leaf`), ``"object"`` (a
    trackable object embedded in the tree, restored in place) or ``"static"`` (a value that
    is neither saved nor restored). A flax box (``nnx.Variable``, ``nn.Partitioned``) is one
    part with its own ``treedef``; anything else is one item and ``treedef`` is ``None``.
    """

    treedef: Any
    items: list[tuple[str, Any]]

    def rebuild(self) -> Any:
        values = [item.value if kind == "leaf" else item for kind, item in self.items]
        if self.treedef is None:
            return values[0]
        return jax.tree_util.tree_unflatten(self.treedef, values)

    def saved_leaves(self) -> int:
        return sum(kind != "static" for kind, _ in self.items)


class PyTree(TreeNode):
    """The root node of an adapted pytree; :attr:`tree` is the tree with its current values.

    Example::

        checkpoint = ckpt.Checkpoint(params=params)
        checkpoint.restore(path).assert_consumed()
        params = checkpoint.params.tree      # a new pytree; ``params`` itself is unchanged
    """

    def __init__(self, treedef: Any, parts: list[Part]) -> None:
        super().__init__()
        self._treedef = treedef
        self._parts = parts

    @property
    def tree(self) -> Any:
        """The pytree rebuilt from the leaves' current (possibly restored) values."""
        return jax.tree_util.tree_unflatten(self._treedef, [p.rebuild() for p in self._parts])

    def leaves(self) -> list[Leaf]:
        """The saved leaves, in flatten order."""
        return [item for p in self._parts for kind, item in p.items if kind == "leaf"]

    def saved_leaves(self) -> int:
        return sum(p.saved_leaves() for p in self._parts)

    def __repr__(self) -> str:
        return f"<ckpt.jax.PyTree {self._treedef}>"


def current_value(node: Any) -> Any:
    """What a node stands for now: a leaf's value, a tree, or the trackable object itself."""
    if isinstance(node, PyTree):
        return node.tree
    if isinstance(node, Leaf):
        return node.value
    return node
