"""Walking the object graph for a save: BFS node order, keys, slots, and the graph proto.

Node order and contents follow TF exactly (format doc §6.2): breadth first from the root in
each object's child order, an object reached twice keeps its first (shortest) path, slot
variables are appended after all reachable nodes (optimizer by optimizer, slot name by slot
name, variable by variable), and ``has_checkpoint_values`` is set on every node.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ckpt.checkpoint import keys
from ckpt.format import protos
from ckpt.trackable.base import children_of, tensors_of

__all__ = ["ObjectGraph", "SlotReference", "walk"]


@dataclass(frozen=True)
class SlotReference:
    original_node: int
    slot_name: str
    slot_node: int


@dataclass
class ObjectGraph:
    """The objects reachable from a root, numbered as the checkpoint numbers them."""

    objects: list[Any]  # node id -> object
    paths: list[str]  # node id -> escaped object path ("" for the root)
    children: list[list[tuple[int, str]]]  # node id -> (child node id, local name)
    slots: dict[int, list[SlotReference]] = field(default_factory=dict)  # optimizer node -> refs
    num_reachable: int = 0  # nodes before the appended slot variables

    def tensors(self, node: int) -> Mapping[str, Any]:
        return tensors_of(self.objects[node])

    def dotted(self, node: int) -> str:
        """TF's display name for a node: ``(root).model.layers.0``."""
        return "(root)" + "".join(f".{part}" for part in self.paths[node].split("/") if part)

    def to_proto(self, attributes: Mapping[int, list[tuple[str, str, str]]]) -> Any:
        """The ``TrackableObjectGraph``; ``attributes[node]`` lists (name, full_name, key)."""
        graph = protos.TrackableObjectGraph()
        has_values = _has_checkpoint_values(self, attributes)
        for node in range(len(self.objects)):
            proto = graph.nodes.add()
            for child, name in self.children[node]:
                proto.children.add(node_id=child, local_name=name)
            for name, full_name, key in attributes.get(node, []):
                proto.attributes.add(name=name, full_name=full_name, checkpoint_key=key)
            for ref in self.slots.get(node, []):
                proto.slot_variables.add(
                    original_variable_node_id=ref.original_node,
                    slot_name=ref.slot_name,
                    slot_variable_node_id=ref.slot_node,
                )
            proto.has_checkpoint_values.SetInParent()  # set even when false, as TF does
            if has_values[node]:
                proto.has_checkpoint_values.value = True
        return graph


def walk(root: Any) -> ObjectGraph:
    """Number every object reachable from ``root`` (BFS), then append slot variables."""
    objects: list[Any] = [root]
    paths = [""]
    children: list[list[tuple[int, str]]] = []
    ids = {id(root): 0}
    node = 0
    while node < len(objects):
        refs = []
        for name, child in children_of(objects[node]).items():
            child_id = ids.get(id(child))
            if child_id is None:
                child_id = ids[id(child)] = len(objects)
                objects.append(child)
                paths.append(keys.join_path(paths[node], name))
            refs.append((child_id, name))
        children.append(refs)
        node += 1
    graph = ObjectGraph(objects, paths, children, num_reachable=len(objects))
    for optimizer_node in range(graph.num_reachable):
        optimizer = objects[optimizer_node]
        slot_names = getattr(optimizer, "_checkpoint_slot_names", None)
        if slot_names is None:
            continue
        for slot_name in slot_names():
            for variable_node in range(graph.num_reachable):
                slot = optimizer._checkpoint_get_slot(objects[variable_node], slot_name)
                if slot is None:
                    continue
                slot_node = ids.get(id(slot))
                if slot_node is None:
                    slot_node = ids[id(slot)] = len(objects)
                    objects.append(slot)
                    paths.append(
                        keys.slot_variable_key(
                            paths[variable_node], paths[optimizer_node], slot_name
                        )
                    )
                    children.append([])
                graph.slots.setdefault(optimizer_node, []).append(
                    SlotReference(variable_node, slot_name, slot_node)
                )
    return graph


def _has_checkpoint_values(
    graph: ObjectGraph, attributes: Mapping[int, list[tuple[str, str, str]]]
) -> list[bool]:
    """True for nodes with values, and for every node from which such a node is reachable."""
    parents: list[list[int]] = [[] for _ in graph.objects]
    for node, refs in enumerate(graph.children):
        for child, _ in refs:
            parents[child].append(node)
    flags = [bool(attributes.get(n)) or bool(graph.slots.get(n)) for n in range(len(graph.objects))]
    queue = deque(n for n, flag in enumerate(flags) if flag)
    while queue:
        for parent in parents[queue.popleft()]:
            if not flags[parent]:
                flags[parent] = True
                queue.append(parent)
    return flags
