"""Restoring an object graph: match checkpoint nodes to Python objects from the root by name.

One :class:`RestoreCoordinator` per ``restore()`` call binds checkpoint node 0 to the root and
walks the checkpoint's children edges breadth first, looking each name up on the bound Python
object (format doc §6.3). Values of existing objects are checked against the checkpoint's
shapes and dtypes first and only then assigned, so a mismatch assigns nothing. A name with no
Python object yet is parked on its parent (deferred restoration) and restored when the
dependency is added; the newest restore wins. Slot variables are restored (or created) once
both their optimizer and their variable are bound.

An object holding one slice of a larger tensor (``_checkpoint_slices()``, see
:mod:`ckpt.checkpoint.saver`) is checked against the checkpoint's full shape and reads only
its region, whatever slices the checkpoint was saved with.
"""

from __future__ import annotations

import gc
import itertools
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ckpt.checkpoint import keys
from ckpt.errors import (
    CheckpointError,
    CorruptCheckpointError,
    DtypeMismatchError,
    ShapeMismatchError,
    TensorNotFoundError,
)
from ckpt.format import protos
from ckpt.reader import CheckpointReader
from ckpt.trackable.base import Trackable, children_of, lookup_dependency, tensors_of
from ckpt.trackable.partitioned import SaveSliceInfo

__all__ = [
    "MAX_PATH_BYTES",
    "CheckpointGraph",
    "CheckpointPosition",
    "Mismatch",
    "RestoreCoordinator",
    "breadth_first_tree",
    "dtype_name",
    "mismatch_error",
    "python_objects_with_values",
    "read_graph_proto",
    "slices_of",
]

_restore_uids = itertools.count(1)


# Every node's path from the root, all together, may take this many bytes: a chain of 200,000
# nodes with 100-character names (a 22 MB hostile graph) would otherwise need 2 TB of paths.
MAX_PATH_BYTES = 256 << 20


def breadth_first_tree(
    count: int, children: Callable[[int], Iterable[tuple[int, str]]]
) -> list[tuple[int, tuple[int, str]]]:
    """``(node, (parent, name))`` for every node reachable from node 0, breadth first: each
    node by its first (shortest) path, as TF names objects.

    Raises :class:`~ckpt.errors.CorruptCheckpointError` if naming every node by its path would
    take more than :data:`MAX_PATH_BYTES`, before any path is built.
    """
    tree: list[tuple[int, tuple[int, str]]] = []
    lengths = [0] * count
    seen = {0}
    queue = deque([0])
    total = 0
    while queue:
        node = queue.popleft()
        for child, name in children(node):
            if child in seen:
                continue
            seen.add(child)
            lengths[child] = lengths[node] + 1 + len(name)
            total += lengths[child]
            if total > MAX_PATH_BYTES:
                raise CorruptCheckpointError(
                    f"the object graph is too deep to name its objects ({count} nodes whose "
                    f"paths would take over {MAX_PATH_BYTES >> 20} MiB); it is corrupt or "
                    "hostile"
                )
            tree.append((child, (node, name)))
            queue.append(child)
    return tree


# A slot to create: (optimizer, variable, slot name, slot node, checkpoint key).
_NewSlot = tuple[Any, Any, str, int, str]


@dataclass(frozen=True)
class Mismatch:
    """A checkpointed value that does not fit the object it was matched to."""

    path: str  # the Python object, TF style: (root).model.kernel
    checkpoint_key: str
    kind: str  # "shape" or "dtype"
    expected: str  # what the Python object has
    found: str  # what the checkpoint has


@dataclass
class CheckpointGraph:
    """A ``TrackableObjectGraph`` read once into plain lists (protobuf access is slow)."""

    proto: Any
    children: list[list[tuple[int, str]]]  # node -> [(child node, local name)]
    attributes: list[list[tuple[str, str]]]  # node -> [(attribute name, checkpoint key)]
    slot_refs: dict[int, list[tuple[int, str, int]]]  # optimizer -> [(var, slot, slot node)]

    def has_values(self, node: int) -> bool:
        """TF's test before deferring a restore: the node or a descendant holds values."""
        proto = self.proto.nodes[node]
        if proto.HasField("has_checkpoint_values"):
            return bool(proto.has_checkpoint_values.value)
        return bool(
            self.children[node]
            or self.attributes[node]
            or node in self.slot_refs
            or proto.HasField("registered_saver")
        )

    @classmethod
    def from_proto(cls, proto: Any, prefix: str) -> CheckpointGraph:
        """Convert and validate: every node id must be a node of the graph."""
        count = len(proto.nodes)
        children: list[list[tuple[int, str]]] = []
        attributes: list[list[tuple[str, str]]] = []
        slot_refs: dict[int, list[tuple[int, str, int]]] = {}
        for n, node in enumerate(proto.nodes):
            refs = [(ref.node_id, ref.local_name) for ref in node.children]
            attrs = [(a.name, a.checkpoint_key) for a in node.attributes]
            slots = [
                (s.original_variable_node_id, s.slot_name, s.slot_variable_node_id)
                for s in node.slot_variables
            ]
            bad = [i for i, _ in refs if not 0 <= i < count] + [
                i for v, _, sn in slots for i in (v, sn) if not 0 <= i < count
            ]
            if bad:
                raise CorruptCheckpointError(
                    f"{prefix}: object graph node {n} refers to node(s) {bad}, but the graph "
                    f"has {count} nodes",
                    path=prefix,
                )
            children.append(refs)
            attributes.append(attrs)
            if slots:
                slot_refs[n] = slots
        return cls(proto, children, attributes, slot_refs)


def read_graph_proto(reader: CheckpointReader) -> Any:
    """Parse ``_CHECKPOINTABLE_OBJECT_GRAPH``; a damaged one is a CorruptCheckpointError."""
    key = keys.OBJECT_GRAPH_PROTO_KEY
    raw = reader.get_tensor(key)
    if raw.shape != () or not isinstance(raw.item(), bytes):
        raise CorruptCheckpointError(
            f"{reader.prefix}: {key} is not a scalar string", path=reader.prefix, key=key
        )
    try:
        graph = protos.TrackableObjectGraph.FromString(raw.item())
    except Exception as exc:  # protobuf's DecodeError, or anything a hostile payload causes
        raise CorruptCheckpointError(
            f"{reader.prefix}: the object graph is not a valid TrackableObjectGraph: {exc}",
            path=reader.prefix,
            key=key,
        ) from None
    if not graph.nodes:
        raise CorruptCheckpointError(
            f"{reader.prefix}: the object graph is empty", path=reader.prefix, key=key
        )
    return graph


# (attribute name, checkpoint key, target array or None, index entry or None, slice or None)
_Read = tuple[str, str, Any, Any, SaveSliceInfo | None]


def slices_of(obj: Any) -> Mapping[str, SaveSliceInfo]:
    """The attributes of ``obj`` whose values are slices of a larger tensor, with their place."""
    method = getattr(obj, "_checkpoint_slices", None)
    return method() if method is not None else {}


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
        self,
        reader: CheckpointReader,
        graph: CheckpointGraph,
        root: Any,
        *,
        allow_dtype_cast: bool = False,
    ) -> None:
        self.uid = next(_restore_uids)
        self.reader = reader
        self.prefix = reader.prefix
        self.graph = graph
        self.children = graph.children
        self.attributes = graph.attributes
        self.slot_refs = graph.slot_refs
        self.slot_nodes = {ref[2] for refs in self.slot_refs.values() for ref in refs}
        self.root = root
        self.allow_dtype_cast = allow_dtype_cast
        self.bound: dict[int, Any] = {}
        self.node_of: dict[int, int] = {}  # id(obj) -> node
        self.restored: set[int] = set()  # nodes whose attributes were assigned
        self.restored_ids: set[int] = set()  # id() of the objects they were assigned to
        self.matched: list[tuple[int, str]] = []  # (node, checkpoint key)
        self.unused_attributes: dict[int, list[str]] = {}
        self.shadowed: list[int] = []  # nodes whose object was restored from another node
        self.inconsistent: list[str] = []
        self.deferred: list[tuple[Any, str, int]] = []  # (parent, local name, node)
        self.mismatches: list[Mismatch] = []  # of the last bind that raised for them
        self._bind_log: list[int] = []  # nodes in binding order (undone if a bind fails)
        self._paths: list[str] | None = None  # display names, computed when first needed

    # --- naming ---

    def _node_paths(self) -> list[str]:
        """Each node's display path by the shortest children path (slot nodes by their key)."""
        paths = ["(root)"] + [""] * (len(self.children) - 1)
        tree = breadth_first_tree(len(self.children), self.children.__getitem__)
        for child, (parent, name) in tree:
            paths[child] = f"{paths[parent]}.{name}"
        for node, path in enumerate(paths):
            if not path:
                attrs = self.attributes[node]
                paths[node] = (
                    attrs[0][1].rsplit("/.ATTRIBUTES/", 1)[0] if attrs else f"(node {node})"
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
        for node, obj in list(self.bound.items()):
            done = getattr(obj, "_checkpoint_slots_restored", None)
            if done is not None and self.node_of.get(id(obj)) == node:
                refs = self.slot_refs.get(node, [])
                done([self.bound[slot] for _, _, slot in refs if slot in self.bound])

    def bind_and_restore(self, pairs: list[tuple[int, Any]]) -> None:
        """Bind ``(node, object)`` pairs and their reachable subtrees, then assign values.

        Every value is checked against its object first; any mismatch raises before anything
        is assigned.
        """
        # The walk allocates many small objects; a full collection over a large model in the
        # middle of it costs more than the walk itself.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        logged = len(self._bind_log)
        try:
            plans = self._walk(pairs)
            slot_plans, new_slots = self._slot_plans()
            plans.extend(slot_plans)
            missing = [
                key for _, _, reads in plans for _, key, *_ in reads if key not in self.reader
            ]
            if missing:
                raise TensorNotFoundError(
                    f"the object graph of {self.prefix} names tensors the checkpoint does not "
                    f"hold: {missing[:5]}; nothing was restored. The checkpoint is damaged.",
                    path=self.prefix,
                    key=missing[0],
                )
            mismatches = [m for plan in plans for m in self._check(plan)]
            mismatches += [m for new in new_slots for m in self._check_new_slot(new)]
            if mismatches:
                self.mismatches = mismatches
                raise mismatch_error(
                    mismatches, self.prefix, allow_dtype_cast=self.allow_dtype_cast
                )
            for node, obj, reads in plans:
                self._apply(node, obj, reads)
            for new_slot in new_slots:
                self._create_slot(new_slot)
            if self.mismatches:  # an earlier attempt's, now resolved for what this one bound
                now = {self.dotted(node) for node in self._bind_log[logged:]}
                self.mismatches = [m for m in self.mismatches if m.path not in now]
        except BaseException:
            # A mismatch, or an object refusing its values (an optimizer's param groups, say):
            # forget this bind, so that its values stay pending for a retry with another
            # object and the status says what it said before.
            self._unbind(self._bind_log[logged:])
            raise
        finally:
            del self._bind_log[logged:]
            if gc_was_enabled:
                gc.enable()

    def _walk(self, pairs: list[tuple[int, Any]]) -> list[tuple[int, Any, list[_Read]]]:
        plans = []
        queue: deque[int] = deque()
        for node, obj in pairs:
            if self._bind(node, obj):
                queue.append(node)
        children, bound = self.children, self.bound
        while queue:
            node = queue.popleft()
            obj = bound[node]
            if self.attributes[node]:
                plans.append(self._plan(node, obj))
            for child_node, name in children[node]:
                child = lookup_dependency(obj, name)
                if child_node in bound:
                    if child is not None and child is not bound[child_node]:
                        self.inconsistent.append(self.dotted(child_node))
                    continue
                if child is not None:
                    if self._bind(child_node, child):
                        queue.append(child_node)
                elif isinstance(obj, Trackable) and self.graph.has_values(child_node):
                    obj._defer(name, CheckpointPosition(self, child_node))
                    self.deferred.append((obj, name, child_node))
        return plans

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
        self._bind_log.append(node)
        if id(obj) in self.node_of:
            if self.attributes[node]:
                # Two checkpoint objects with values meet one Python object (the checkpoint
                # was saved untied, the program ties them): as in TF, only the first one's
                # values are restored and assert_consumed passes, but the report lists this
                # one's as unused rather than dropping them silently.
                self.shadowed.append(node)
            return False
        self.node_of[id(obj)] = node
        if isinstance(obj, Trackable) and obj._ckpt_update_uid < self.uid:
            # As TF's update uid: binding counts as this restore reaching the object.
            obj._ckpt_update_uid = self.uid
        return True

    def _unbind(self, nodes: list[int]) -> None:
        """Forget bindings a bind made before it raised: nothing was assigned, so the
        status and report go back to what they said before it (its values unused or
        pending again, for a later attempt to take)."""
        undone = set(nodes)
        for node in reversed(nodes):
            obj = self.bound.pop(node, None)
            if obj is not None and self.node_of.get(id(obj)) == node:
                del self.node_of[id(obj)]
                self.restored_ids.discard(id(obj))
            self.restored.discard(node)
            self.unused_attributes.pop(node, None)
        self.shadowed = [n for n in self.shadowed if n not in undone]
        self.matched = [(n, key) for n, key in self.matched if n not in undone]

    # --- planning and assigning ---

    def _plan(self, node: int, obj: Any) -> tuple[int, Any, list[_Read]]:
        """Match a node's attributes to the object's; look each key up in the index."""
        targets_method = getattr(obj, "_restore_targets", None)
        targets: Mapping[str, Any] = targets_method() if targets_method else {}
        names = targets.keys() if targets_method else tensors_of(obj).keys()
        slices = slices_of(obj)
        entry = self._entry
        reads: list[_Read] = []
        unused = []
        for name, key in self.attributes[node]:
            # Exact name, or a name extending a saveable's (TF's forward-compatibility rule).
            match = name if name in names else next((n for n in names if name.startswith(n)), None)
            if match is None:
                unused.append(name)
                continue
            target = targets.get(match)
            info = slices.get(match)
            found = entry(key) if target is not None or info is not None else None
            reads.append((match, key, target, found, info))
        if unused:
            self.unused_attributes[node] = unused
        return node, obj, reads

    def _entry(self, key: str) -> Any:
        """The index entry of ``key``, or None if the checkpoint lacks it (reading reports)."""
        try:
            return self.reader._bundle.entry(key)
        except TensorNotFoundError:
            return None

    def _slot_plans(self) -> tuple[list[tuple[int, Any, list[_Read]]], list[_NewSlot]]:
        """Find the slot variables whose optimizer and variable are both bound now: plans for
        those that exist, and the slots to create (after every value has been checked)."""
        plans = []
        create: list[_NewSlot] = []
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
                    attributes = self.attributes[slot_node]
                    if attributes:
                        create.append((optimizer, variable, slot_name, slot_node, attributes[0][1]))
                    continue
                if self._bind(slot_node, slot) and self.attributes[slot_node]:
                    plans.append(self._plan(slot_node, slot))
        return plans, create

    def _check_new_slot(self, new: _NewSlot) -> list[Mismatch]:
        """A slot to create, checked against the shape its optimizer expects, if it says
        (optional ``_checkpoint_slot_shape(variable, slot_name, stored_shape)``)."""
        optimizer, variable, slot_name, slot_node, key = new
        expected_of = getattr(optimizer, "_checkpoint_slot_shape", None)
        entry = self._entry(key)
        if expected_of is None or entry is None:
            return []
        expected = expected_of(variable, slot_name, entry.shape)
        if expected is None or tuple(expected) == tuple(entry.shape):
            return []
        return [
            Mismatch(self.dotted(slot_node), key, "shape", str(tuple(expected)), str(entry.shape))
        ]

    def _create_slot(self, new: _NewSlot) -> None:
        """Create a missing slot with its checkpointed value (as TF does in eager mode)."""
        optimizer, variable, slot_name, slot_node, key = new
        value = self.reader.get_tensor(key)
        slot = optimizer._checkpoint_create_slot(variable, slot_name, value)
        if slot is None:
            return  # declined: stays pending (e.g. not a variable it optimizes)
        self._bind(slot_node, slot)
        self.restored.add(slot_node)
        self.restored_ids.add(id(slot))
        self.matched.append((slot_node, key))

    def pending_slots(self) -> list[str]:
        pending = []
        for refs in self.slot_refs.values():
            for _, slot_name, slot_node in refs:
                if slot_node not in self.bound:
                    pending.append(f"{self.dotted(slot_node)} (slot {slot_name!r})")
        return pending

    def _check(self, plan: tuple[int, Any, list[_Read]]) -> list[Mismatch]:
        node, _, reads = plan
        mismatches = []
        for _, key, target, entry, info in reads:
            if entry is None:
                continue
            # A slice is checked against the full tensor it is part of.
            expected = info.full_shape if info is not None else tuple(target.shape)
            if entry.shape != expected:
                mismatches.append(
                    Mismatch(self.dotted(node), key, "shape", str(expected), str(entry.shape))
                )
                continue
            dtype = entry.dtype.numpy
            if dtype is None or target is None or dtype == target.dtype:
                continue
            castable = self.allow_dtype_cast and (dtype.kind == "O") == (target.dtype.kind == "O")
            if not castable:
                mismatches.append(
                    Mismatch(
                        self.dotted(node), key, "dtype", dtype_name(target.dtype), dtype_name(dtype)
                    )
                )
        return mismatches

    def _apply(self, node: int, obj: Any, reads: list[_Read]) -> None:
        if not reads:
            return  # nothing of the node's matched the object (reported as unused)
        if getattr(obj, "_ckpt_update_uid", 0) > self.uid:
            return  # a newer restore already reached this object: the newest request wins
        read = self.reader._bundle.read
        region = self.reader._bundle.read_region
        values: dict[str, Any] = {}
        for name, key, target, entry, info in reads:
            if info is not None:
                # Only the stored pieces intersecting this slice are read.
                if target is not None and entry.dtype.numpy == target.dtype:
                    values[name] = region(key, info.bounds, out=target)
                else:
                    value = region(key, info.bounds)
                    if target is not None and value.dtype != target.dtype:
                        value = value.astype(target.dtype)
                    values[name] = value
            elif entry is not None and entry.dtype.numpy == target.dtype:
                # In place; the reader checks ``out`` and copies through a buffer if it must.
                values[name] = read(key, out=target)
            else:
                value = self.reader.get_tensor(key)
                if target is not None and value.dtype != target.dtype:
                    value = value.astype(target.dtype)
                values[name] = value
            self.matched.append((node, key))
        try:
            obj._restore_from_tensors(values)
        except CheckpointError as exc:
            if exc.key is None:
                # The object's own error (a JSON state that does not parse, say) knows
                # neither the checkpoint nor the key: say which object and value it was.
                keys_read = ", ".join(key for _, key, *_ in reads)
                exc.message = (
                    f"restoring {self.dotted(node)} from {keys_read} in {self.prefix}: "
                    f"{exc.message}"
                )
                exc.key = reads[0][1]
                exc.path = exc.path or self.prefix
            raise
        self.restored.add(node)
        self.restored_ids.add(id(obj))

    # --- what is left over, for the status and report ---

    def unbound_with_values(self) -> list[int]:
        """Checkpoint nodes that hold values but matched no Python object."""
        return [n for n, attrs in enumerate(self.attributes) if attrs and n not in self.bound]

    def pending_deferred(self) -> list[tuple[str, str]]:
        """Deferred restorations still waiting: (parent path, child name)."""
        waiting = []
        for parent, name, node in self.deferred:
            if node in self.bound:
                continue
            waiting.append((self.dotted(self.node_of.get(id(parent), 0)), name))
        return waiting


def dtype_name(dtype: Any) -> str:
    """A dtype as mismatch messages name it: strings (object arrays of bytes) as ``string``."""
    return "string" if dtype.kind == "O" else str(dtype)


def mismatch_error(
    mismatches: list[Mismatch], prefix: str, *, allow_dtype_cast: bool = False
) -> ShapeMismatchError | DtypeMismatchError:
    """One error naming every value that does not fit its object (nothing was assigned)."""
    lines = [
        f"  {m.path} <- {m.checkpoint_key}: {m.kind} {m.found} in the checkpoint, "
        f"{m.expected} in the object"
        for m in mismatches
    ]
    first = mismatches[0]
    cls = ShapeMismatchError if first.kind == "shape" else DtypeMismatchError
    # Numbers cast to numbers; strings (object arrays) never become numbers or back.
    castable = any(
        m.kind == "dtype" and (m.expected == "string") == (m.found == "string")
        for m in mismatches
    )
    hint = (
        "\nPass options=ckpt.CheckpointOptions(allow_dtype_cast=True) to cast."
        if castable and not allow_dtype_cast
        else ""
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
