"""One graph node per torch object: the identity cache behind every adapter node.

The object graph recognises shared objects by identity: a parameter tied into two modules,
or one an optimizer holds state for, must be the *same* node wherever it is reached, and a
status asserted after a restore must find the nodes the restore bound. So each torch object
gets at most one live node. Nodes hold their object strongly and the cache holds nodes weakly
(keyed by ``id`` of the object, which cannot be reused while the node keeps it alive); parent
nodes keep their children's nodes alive, so a graph reached from a live root is stable, and a
module node holding restore state is pinned to its module (:mod:`ckpt.torch.modules`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["existing_node", "node_for"]

_Node = TypeVar("_Node")

_NODES: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()


def node_for(value: Any, factory: Callable[[Any], _Node]) -> _Node:
    """The live node standing for ``value``, or a new one made by ``factory(value)``."""
    node = _NODES.get(id(value))
    if node is not None and node._ckpt_target is value:
        return node  # type: ignore[no-any-return]
    created = factory(value)
    _NODES[id(value)] = created
    return created


def existing_node(value: Any) -> Any:
    """The live node standing for ``value``, or ``None`` (never creates one)."""
    node = _NODES.get(id(value))
    return node if node is not None and node._ckpt_target is value else None
