"""The object graph of an object-based checkpoint as plain data, for inspection tools.

:func:`object_graph` parses the ``_CHECKPOINTABLE_OBJECT_GRAPH`` tensor that
``tf.train.Checkpoint`` (and :class:`ckpt.Checkpoint`) store, without any Python objects to
restore into: one :class:`ObjectNode` per graph node, with its path from the root.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

from ckpt.checkpoint import keys
from ckpt.checkpoint.restore import CheckpointGraph, breadth_first_tree, read_graph_proto
from ckpt.errors import UnsupportedCheckpointError
from ckpt.reader import CheckpointReader

__all__ = ["ObjectNode", "object_graph"]


@dataclass(frozen=True)
class ObjectNode:
    """One node of a checkpoint's object graph.

    Attributes:
        node_id: the node's index in the graph (the root is 0).
        path: the escaped dependency names from the root joined by ``/``, as in checkpoint
            keys (``model/layers/0``); ``""`` for the root. Slot variables, which hang off no
            dependency edge, get TF's ``<variable>/.OPTIMIZER_SLOT/<optimizer>/<slot>`` path;
            a node reachable from nowhere gets ``(node N)``.
        children: ``(local name, node id)`` for each dependency, in stored order.
        attributes: ``(name, full_name, checkpoint_key)`` for each saved tensor
            (``full_name`` is the TF variable name, often empty).
        slot_variables: for an optimizer, ``(original variable node, slot name, slot node)``.
    """

    node_id: int
    path: str
    children: list[tuple[str, int]] = field(default_factory=list)
    attributes: list[tuple[str, str, str]] = field(default_factory=list)
    slot_variables: list[tuple[int, str, int]] = field(default_factory=list)


def _read_proto(reader: CheckpointReader) -> Any:
    if not reader.has_tensor(keys.OBJECT_GRAPH_PROTO_KEY):
        raise UnsupportedCheckpointError(
            f"{reader.prefix} is a name-based checkpoint (no {keys.OBJECT_GRAPH_PROTO_KEY} "
            "tensor, as written by TF1's Saver or SaveV2): it has no object graph; list its "
            "keys instead",
            path=reader.prefix,
        )
    return read_graph_proto(reader)


def _node_paths(nodes: list[ObjectNode]) -> list[str | None]:
    """Breadth-first paths from the root (the first path found wins, as in TF)."""
    paths: list[str | None] = [None] * len(nodes)
    if not nodes:
        return paths
    paths[0] = ""
    tree = breadth_first_tree(
        len(nodes), lambda node: [(child, name) for name, child in nodes[node].children]
    )
    for child, (parent, name) in tree:
        paths[child] = keys.join_path(paths[parent] or "", name)
    return paths


def object_graph(path_or_reader: str | os.PathLike[str] | CheckpointReader) -> list[ObjectNode]:
    """The object graph of an object-based checkpoint, one :class:`ObjectNode` per node.

    ``path_or_reader`` is a checkpoint prefix, a directory (its latest checkpoint) or an open
    :class:`~ckpt.CheckpointReader`. Raises :class:`~ckpt.errors.UnsupportedCheckpointError`
    for a name-based checkpoint and :class:`~ckpt.errors.CorruptCheckpointError` for a graph
    that cannot be parsed or refers to nodes it does not have.
    """
    if isinstance(path_or_reader, CheckpointReader):
        proto = _read_proto(path_or_reader)
        prefix = path_or_reader.prefix
    else:
        with CheckpointReader(path_or_reader) as reader:
            proto = _read_proto(reader)
            prefix = reader.prefix
    graph = CheckpointGraph.from_proto(proto, prefix)  # validates every node id
    nodes = []
    for n, node in enumerate(proto.nodes):
        children = [(name, child) for child, name in graph.children[n]]
        attributes = [(a.name, a.full_name, a.checkpoint_key) for a in node.attributes]
        nodes.append(ObjectNode(n, "", children, attributes, graph.slot_refs.get(n, [])))
    paths = _node_paths(nodes)
    # Slot variables are reached through their optimizer, not through a dependency edge.
    for optimizer in nodes:
        for variable, slot_name, slot in optimizer.slot_variables:
            var_path, opt_path = paths[variable], paths[optimizer.node_id]
            if paths[slot] is None and var_path is not None and opt_path is not None:
                paths[slot] = keys.slot_variable_key(var_path, opt_path, slot_name)
    return [
        replace(n, path=path if path is not None else f"(node {n.node_id})")
        for n, path in zip(nodes, paths, strict=True)
    ]
