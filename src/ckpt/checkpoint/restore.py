"""Restoring an object graph: match checkpoint nodes to Python objects from the root by name.

One :class:`RestoreCoordinator` per ``restore()`` call binds checkpoint node 0 to the root and
walks the checkpoint's children edges breadth first, looking each name up on the bound Python
object (format doc §6.3). Values of existing objects are checked against the checkpoint's
shapes and dtypes first and only then assigned, so a mismatch assigns nothing. A name with no
Python object yet is parked on its parent (deferred restoration) and restored when the
dependency is added; the newest restore wins. Slot variables are restored (or created) once
both their optimizer and their variable are bound.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ckpt.errors import DtypeMismatchError, ShapeMismatchError, TensorNotFoundError
from ckpt.reader import CheckpointReader, TensorInfo
from ckpt.trackable.base import Trackable, children_of, lookup_dependency, tensors_of

__all__ = [
    "CheckpointPosition",
    "Mismatch",
    "RestoreCoordinator",
    "mismatch_error",
    "python_objects_with_values",
]

_restore_uids = itertools.count(1)


@dataclass(frozen=True)
class Mismatch:
    """A checkpointed value that does not fit the object it was matched to."""

    path: str  # the Python object, TF style: (root).model.kernel
    checkpoint_key: str
    kind: str  # "shape" or "dtype"
    expected: str  # what the Python object has
    found: str  # what the checkpoint has


@dataclass
class _Plan:
    """What restoring one bound node will do: read these keys into these attributes."""

    node: int
    obj: Any
    reads: list[tuple[str, str, np.ndarray | None]] = field(default_factory=list)
    # (attribute name, checkpoint key, target array to read into or None)
    infos: dict[str, TensorInfo] = field(default_factory=dict)  # by key, filled by _check


class CheckpointPosition:
    """A checkpoint node waiting for (or bound to) a Python object; parked for deferred restores."""

    def __init__(self, coordinator: RestoreCoordinator, node: int) -> None:
        self.coordinator = coordinator
        self.node = node

    @property
    def restore_uid(self) -> int:
        return self.coordinator.uid

    def restore_into(self, obj: Any) -> None:
        """Bind this node to ``obj`` (a newly added dependency) and restore its subtree."""
        self.coordinator.bind_and_restore([(self.node, obj)])

    @property
    def path(self) -> str:
        return self.coordinator.dotted(self.node)


class RestoreCoordinator:
    """The state of one object-based restore, kept alive by its status and parked positions."""

    def __init__(
        self, reader: CheckpointReader, graph: Any, root: Any, *, allow_dtype_cast: bool = False
    ) -> None:
        self.uid = next(_restore_uids)
        self.reader = reader
        self.prefix = reader.prefix
        self.nodes = graph.nodes
        self.root = root
        self.allow_dtype_cast = allow_dtype_cast
        self.bound: dict[int, Any] = {}
        self.node_of: dict[int, int] = {}  # id(obj) -> node
        self.restored: set[int] = set()  # nodes whose attributes were assigned
        self.restored_ids: set[int] = set()  # id() of the objects they were assigned to
        self.matched: list[tuple[int, str]] = []  # (node, checkpoint key)
        self.unused_attributes: dict[int, list[str]] = {}
        self.inconsistent: list[str] = []
        self.deferred: list[tuple[Any, str, int]] = []  # (parent, local name, node)
        self._paths: list[str] | None = None  # display names, computed when first needed
        # Slot variables: optimizer node -> [(variable node, slot name, slot node)].
        self.slot_refs = {
            n: [
                (s.original_variable_node_id, s.slot_name, s.slot_variable_node_id)
                for s in node.slot_variables
            ]
            for n, node in enumerate(self.nodes)
            if node.slot_variables
        }
        self.slot_nodes = {ref[2] for refs in self.slot_refs.values() for ref in refs}

    # --- naming ---

    def _node_paths(self) -> list[str]:
        """Each node's display path by the shortest children path (slot nodes by their key)."""
        paths = ["(root)"] + [""] * (len(self.nodes) - 1)
        seen = {0}
        queue = deque([0])
        while queue:
            node = queue.popleft()
            for ref in self.nodes[node].children:
                if 0 <= ref.node_id < len(self.nodes) and ref.node_id not in seen:
                    seen.add(ref.node_id)
                    paths[ref.node_id] = f"{paths[node]}.{ref.local_name}"
                    queue.append(ref.node_id)
        for node, path in enumerate(paths):
            if not path:
                attrs = self.nodes[node].attributes
                paths[node] = (
                    attrs[0].checkpoint_key.rsplit("/.ATTRIBUTES/", 1)[0]
                    if attrs
                    else (f"(node {node})")
                )
        return paths

    def dotted(self, node: int) -> str:
        if self._paths is None:
            self._paths = self._node_paths()
        return self._paths[node]

    # --- binding ---

    def restore(self) -> None:
        """The initial restore: bind the root and everything reachable that exists now."""
        self.bind_and_restore([(0, self.root)])

    def bind_and_restore(self, pairs: list[tuple[int, Any]]) -> None:
        """Bind ``(node, object)`` pairs and their reachable subtrees, then assign values.

        Values are checked for every object first; any mismatch raises before anything is
        assigned.
        """
        plans: list[_Plan] = []
        queue: deque[int] = deque()
        for node, obj in pairs:
            if self._bind(node, obj):
                queue.append(node)
        while queue:
            node = queue.popleft()
            obj = self.bound[node]
            plans.append(self._plan(node, obj))
            for ref in self.nodes[node].children:
                child_node, name = ref.node_id, ref.local_name
                if not 0 <= child_node < len(self.nodes):
                    continue
                if child_node in self.bound:
                    child = lookup_dependency(obj, name)
                    if child is not None and child is not self.bound[child_node]:
                        self.inconsistent.append(self.dotted(child_node))
                    continue
                child = lookup_dependency(obj, name)
                if child is not None:
                    if self._bind(child_node, child):
                        queue.append(child_node)
                elif self._has_values(child_node) and isinstance(obj, Trackable):
                    obj._defer(name, CheckpointPosition(self, child_node))
                    self.deferred.append((obj, name, child_node))
        plans.extend(self._slot_plans())
        self._check(plans)
        for plan in plans:
            self._apply(plan)

    def _bind(self, node: int, obj: Any) -> bool:
        """Bind; True if ``obj`` is new to this restore and its subtree should be restored.

        A node bound already keeps its first object. An object already bound to another
        node (a shared object reached again) is bound here too but restored only once, from
        the node reached first, as TF does.
        """
        if node in self.bound:
            if self.bound[node] is not obj:
                self.inconsistent.append(self.dotted(node))
            return False
        self.bound[node] = obj
        if id(obj) in self.node_of:
            return False
        self.node_of[id(obj)] = node
        if isinstance(obj, Trackable) and obj._ckpt_update_uid < self.uid:
            # As TF's update uid: binding counts as this restore reaching the object.
            obj._ckpt_update_uid = self.uid
        return True

    def _has_values(self, node: int) -> bool:
        proto = self.nodes[node]
        if proto.HasField("has_checkpoint_values"):
            return bool(proto.has_checkpoint_values.value)
        return bool(
            proto.children
            or proto.attributes
            or proto.slot_variables
            or proto.HasField("registered_saver")
        )

    # --- planning and assigning ---

    def _plan(self, node: int, obj: Any) -> _Plan:
        plan = _Plan(node, obj)
        attributes = self.nodes[node].attributes
        if not attributes:
            return plan
        targets_method = getattr(obj, "_restore_targets", None)
        targets: Mapping[str, Any] = targets_method() if targets_method else {}
        names = targets.keys() if targets_method else tensors_of(obj).keys()
        unused = []
        for attribute in attributes:
            # Exact name, or a name extending a saveable's (TF's forward-compatibility rule).
            name = attribute.name
            match = name if name in names else next((n for n in names if name.startswith(n)), None)
            if match is None:
                unused.append(attribute.name)
                continue
            plan.reads.append((match, attribute.checkpoint_key, targets.get(match)))
        if unused:
            self.unused_attributes[node] = unused
        return plan

    def _slot_plans(self) -> list[_Plan]:
        """Create or find slot variables whose optimizer and variable are both bound now."""
        plans = []
        for optimizer_node, refs in self.slot_refs.items():
            optimizer = self.bound.get(optimizer_node)
            if optimizer is None or not hasattr(optimizer, "_checkpoint_get_slot"):
                continue
            for variable_node, slot_name, slot_node in refs:
                variable = self.bound.get(variable_node)
                if variable is None or slot_node in self.bound:
                    continue
                slot = optimizer._checkpoint_get_slot(variable, slot_name)
                if slot is None:
                    value = self._read_slot_value(slot_node)
                    if value is None:
                        continue
                    slot = optimizer._checkpoint_create_slot(variable, slot_name, value)
                    self._bind(slot_node, slot)
                    self.restored.add(slot_node)
                    self.restored_ids.add(id(slot))
                    self.matched.append(
                        (slot_node, self.nodes[slot_node].attributes[0].checkpoint_key)
                    )
                    continue
                if self._bind(slot_node, slot):
                    plans.append(self._plan(slot_node, slot))
        return plans

    def _read_slot_value(self, slot_node: int) -> np.ndarray | None:
        attributes = self.nodes[slot_node].attributes
        if not attributes:
            return None
        return self.reader.get_tensor(attributes[0].checkpoint_key)

    def pending_slots(self) -> list[str]:
        pending = []
        for refs in self.slot_refs.values():
            for _, slot_name, slot_node in refs:
                if slot_node not in self.bound:
                    pending.append(f"{self.dotted(slot_node)} (slot {slot_name!r})")
        return pending

    def _info(self, key: str) -> TensorInfo | None:
        """The index's information on ``key``; None if the checkpoint lacks it (reading says so)."""
        try:
            return self.reader.get_tensor_info(key)
        except TensorNotFoundError:
            return None

    def _check(self, plans: list[_Plan]) -> None:
        mismatches = []
        for plan in plans:
            for _, key, target in plan.reads:
                info = self._info(key) if target is not None else None
                if info is None or target is None:
                    continue
                plan.infos[key] = info
                shape = info.shape
                if shape != tuple(target.shape):
                    mismatches.append(
                        Mismatch(
                            self.dotted(plan.node),
                            key,
                            "shape",
                            str(tuple(target.shape)),
                            str(shape),
                        )
                    )
                    continue
                dtype = info.dtype
                castable = (
                    self.allow_dtype_cast
                    and (dtype is not None)
                    and ((dtype.kind == "O") == (target.dtype.kind == "O"))
                )
                if dtype is not None and dtype != target.dtype and not castable:
                    mismatches.append(
                        Mismatch(
                            self.dotted(plan.node), key, "dtype", str(target.dtype), str(dtype)
                        )
                    )
        if mismatches:
            raise mismatch_error(mismatches, self.prefix)

    def _apply(self, plan: _Plan) -> None:
        if not plan.reads:
            return
        if getattr(plan.obj, "_ckpt_update_uid", 0) > self.uid:
            return  # a newer restore already reached this object: the newest request wins
        values: dict[str, Any] = {}
        for name, key, target in plan.reads:
            info = plan.infos.get(key)
            if (
                info is not None
                and isinstance(target, np.ndarray)
                and info.dtype == target.dtype
                and target.flags.c_contiguous
                and target.flags.writeable
            ):
                values[name] = self.reader.get_tensor(key, out=target)
            else:
                value = self.reader.get_tensor(key)
                if target is not None and value.dtype != target.dtype:
                    value = value.astype(target.dtype)
                values[name] = value
            self.matched.append((plan.node, key))
        plan.obj._restore_from_tensors(values)
        self.restored.add(plan.node)
        self.restored_ids.add(id(plan.obj))

    # --- what is left over, for the status and report ---

    def unbound_with_values(self) -> list[int]:
        """Checkpoint nodes that hold values but matched no Python object."""
        return [n for n, node in enumerate(self.nodes) if node.attributes and n not in self.bound]

    def pending_deferred(self) -> list[tuple[str, str]]:
        """Deferred restorations still waiting: (parent path, child name)."""
        waiting = []
        for parent, name, node in self.deferred:
            if node in self.bound:
                continue
            waiting.append((self.dotted(self.node_of.get(id(parent), 0)), name))
        return waiting


def mismatch_error(
    mismatches: list[Mismatch], prefix: str
) -> ShapeMismatchError | DtypeMismatchError:
    """One error naming every value that does not fit its object (nothing was assigned)."""
    lines = [
        f"  {m.path} <- {m.checkpoint_key}: {m.kind} {m.found} in the checkpoint, "
        f"{m.expected} in the object"
        for m in mismatches
    ]
    first = mismatches[0]
    cls = ShapeMismatchError if first.kind == "shape" else DtypeMismatchError
    hint = (
        ""
        if first.kind == "shape"
        else "\nPass options=ckpt.CheckpointOptions(allow_dtype_cast=True) to cast."
    )
    error = cls(
        f"{len(mismatches)} value(s) in {prefix} do not fit the objects they match; "
        "nothing was restored:\n" + "\n".join(lines) + hint,
        path=prefix,
        key=first.path,
        checkpoint_key=first.checkpoint_key,
    )
    error.mismatches = list(mismatches)
    return error


def python_objects_with_values(root: Any) -> list[tuple[str, Any]]:
    """Objects reachable from ``root`` that save tensors, with TF-style display paths."""
    found = []
    seen = {id(root)}
    queue = deque([("(root)", root)])
    while queue:
        path, obj = queue.popleft()
        if tensors_of_cheap(obj):
            found.append((path, obj))
        for name, child in children_of(obj).items():
            if id(child) not in seen:
                seen.add(id(child))
                queue.append((f"{path}.{name}", child))
    return found


def tensors_of_cheap(obj: Any) -> bool:
    """Whether ``obj`` saves tensors, without materialising them when it can say so cheaply."""
    targets = getattr(obj, "_restore_targets", None)
    if targets is not None:
        return bool(targets())
    return bool(tensors_of(obj))
