"""``CheckpointableSaver``: save an object graph to a prefix and restore one onto it.

The seed's API, and the engine under :class:`ckpt.Checkpoint`: ``save`` writes every tensor
of the graph (breadth-first order, then slot variables) and the ``TrackableObjectGraph`` last,
as TF does; ``restore`` matches by dependency names, or by variable names for checkpoints that
have no object graph (TF1 ``Saver`` checkpoints).

An object whose value is one slice of a larger tensor (a process's shard) says so with
``_checkpoint_slices() -> {attribute: SaveSliceInfo}``: its value is saved with
``add_slice`` under the attribute's key (TF's layout for partitioned tensors, format doc
§5.1), and a restore reads only its region of whatever slices the checkpoint holds.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from ckpt.checkpoint import keys
from ckpt.checkpoint.graph import walk
from ckpt.checkpoint.restore import (
    CheckpointGraph,
    Mismatch,
    RestoreCoordinator,
    dtype_name,
    mismatch_error,
    read_graph_proto,
    slices_of,
    tensors_of_cheap,
)
from ckpt.checkpoint.status import (
    CheckpointLoadStatus,
    InitializationOnlyStatus,
    NameBasedSaverStatus,
    RestoreReport,
)
from ckpt.errors import CheckpointNotFoundError
from ckpt.reader import CheckpointReader
from ckpt.trackable.base import children_of, tensors_of
from ckpt.trackable.module import Module
from ckpt.trackable.partitioned import SaveSliceInfo
from ckpt.trackable.python_state import PythonState
from ckpt.trackable.variables import Variable
from ckpt.writer import CheckpointWriter

__all__ = ["CheckpointOptions", "CheckpointableSaver", "SaveItem", "collect"]

Status = CheckpointLoadStatus | InitializationOnlyStatus | NameBasedSaverStatus


@dataclass(frozen=True)
class CheckpointOptions:
    """Options for saving and restoring (TF's ``tf.train.CheckpointOptions`` spelling).

    Attributes:
        allow_dtype_cast: on restore, cast values whose dtype differs from the variable's
            instead of raising :class:`~ckpt.errors.DtypeMismatchError`.
        sync: on save, fsync the files and directory before the commit (durable across a
            machine crash, not only a process crash).
        enable_async: on save (``Checkpoint.save``/``write``, ``CheckpointManager.save``),
            block the caller only while every value is copied to host memory, and write that
            snapshot in a background thread. The next save first waits for the previous one
            (at most one snapshot is pending: one extra copy of the model in memory). An error
            of the background write is raised, as a :class:`~ckpt.errors.CheckpointError`
            chaining the original, by the checkpoint's next save, write, restore, read or
            :meth:`~ckpt.Checkpoint.sync` call; ``sync()`` waits for the pending save. The
            ``checkpoint`` state file (and a manager's retention deletions) are updated in the
            same background job, after the checkpoint is committed. A pending save is waited
            for at interpreter exit.
    """

    allow_dtype_cast: bool = False
    sync: bool = False
    enable_async: bool = False


@dataclass(frozen=True)
class SaveItem:
    """One value a save writes: its key, the value, and where it sits if it is a slice.

    ``owner`` is the object that saves it (distributed saves ask it which replica it is).
    """

    key: str
    value: Any
    slice_info: SaveSliceInfo | None = None
    owner: Any = None

    def write_to(self, writer: Any, *, shard: int | None = None) -> None:
        """``writer.add`` the value, or ``writer.add_slice`` it at its place."""
        info = self.slice_info
        if info is None:
            writer.add(self.key, self.value, shard=shard)
        else:
            writer.add_slice(
                self.key,
                self.value,
                full_shape=info.full_shape,
                offset=info.var_offset,
                shard=shard,
            )


def collect(root: Any) -> tuple[list[SaveItem], bytes]:
    """Every value of the graph rooted at ``root`` in write order, and the serialized graph.

    TF's order: tensors by node (Python state after the others); the graph goes last.
    """
    graph = walk(root)
    attributes: dict[int, list[tuple[str, str, str]]] = {}
    order = [n for n, o in enumerate(graph.objects) if not isinstance(o, PythonState)]
    order += [n for n, o in enumerate(graph.objects) if isinstance(o, PythonState)]
    items: list[SaveItem] = []
    for node in order:
        obj = graph.objects[node]
        slices = slices_of(obj)
        for name, value in tensors_of(obj).items():
            key = keys.checkpoint_key(graph.paths[node], name)
            info = slices.get(name)
            items.append(SaveItem(key, value, info, obj))
            full_name = info.full_name if info is not None else _full_name(obj)
            attributes.setdefault(node, []).append((name, full_name, key))
    return items, graph.to_proto(attributes).SerializeToString()


def graph_value(proto: bytes) -> np.ndarray:
    """The object graph as the scalar string tensor stored under its reserved key."""
    return np.array(proto, dtype=object)


@dataclass
class Snapshot:
    """The values of a graph copied to host memory, in write order (object graph last)."""

    items: list[SaveItem]

    @property
    def tensors(self) -> list[tuple[str, Any]]:
        return [(item.key, item.value) for item in self.items]

    def write(self, prefix: str, options: CheckpointOptions) -> str:
        """Write the snapshot to ``prefix`` (committed atomically); return it."""
        with CheckpointWriter(prefix, sync=options.sync) as writer:
            for item in self.items:
                item.write_to(writer)
        return prefix


def _full_name(obj: Any) -> str:
    if isinstance(obj, Variable):
        return obj.name
    return str(getattr(obj, "_checkpoint_full_name", ""))


class CheckpointableSaver:
    """Saves and restores the object graph rooted at ``root``.

    Args:
        root: any trackable object (a :class:`ckpt.Module`, a :class:`ckpt.Checkpoint`, ...).
    """

    def __init__(self, root: Any) -> None:
        self._root = root

    def save(
        self,
        file_prefix: str | os.PathLike[str],
        checkpoint_number: int | None = None,
        *,
        options: CheckpointOptions | None = None,
    ) -> str:
        """Write the graph to ``file_prefix`` (``file_prefix-N`` with a number); return it.

        The ``checkpoint`` state file is not touched (``ckpt.Checkpoint.save`` does that).
        """
        prefix = os.fspath(file_prefix)
        if checkpoint_number is not None:
            prefix = f"{prefix}-{int(checkpoint_number)}"
        return self._write(prefix, options or CheckpointOptions())

    def _write(self, prefix: str, options: CheckpointOptions) -> str:
        items, proto = collect(self._root)
        with CheckpointWriter(prefix, sync=options.sync) as writer:
            for item in items:
                item.write_to(writer)
            # TF saves the object graph last.
            writer.add(keys.OBJECT_GRAPH_PROTO_KEY, graph_value(proto))
        return prefix

    def _snapshot(self) -> Snapshot:
        """Copy every value to host memory, with the serialized graph (no I/O).

        Same order and keys as :meth:`_write`; writing the snapshot later gives the same files.
        """
        items, proto = collect(self._root)
        copied = [
            SaveItem(i.key, np.array(i.value, copy=True), i.slice_info, i.owner) for i in items
        ]
        copied.append(SaveItem(keys.OBJECT_GRAPH_PROTO_KEY, graph_value(proto)))
        return Snapshot(copied)

    def restore(
        self, save_path: str | os.PathLike[str] | None, *, options: CheckpointOptions | None = None
    ) -> Status:
        """Restore values onto the graph; return a status to assert on.

        ``None`` restores nothing (:class:`InitializationOnlyStatus`). A checkpoint without an
        object graph is restored by variable names (:class:`NameBasedSaverStatus`).
        """
        return self._restore(save_path, options)

    def _restore(
        self,
        save_path: str | os.PathLike[str] | None,
        options: CheckpointOptions | None,
        optional: tuple[Any, ...] = (),
    ) -> Status:
        if save_path is None:
            return InitializationOnlyStatus(self._root)
        options = options or CheckpointOptions()
        try:
            reader = CheckpointReader(save_path)
        except CheckpointNotFoundError as exc:
            raise CheckpointNotFoundError(
                f"Error when restoring from checkpoint at {os.fspath(save_path)}: {exc} Please "
                "double-check that the path is correct. You may be missing the checkpoint "
                "suffix (e.g. the '-1' in 'path/to/ckpt-1').",
                path=exc.path,
            ) from None
        if not reader.has_tensor(keys.OBJECT_GRAPH_PROTO_KEY):
            return restore_by_name(self._root, reader, options, optional)
        graph = _parse_graph(reader)
        coordinator = RestoreCoordinator(
            reader, graph, self._root, allow_dtype_cast=options.allow_dtype_cast
        )
        coordinator.restore()
        return CheckpointLoadStatus(coordinator, self._root)


def _parse_graph(reader: CheckpointReader) -> CheckpointGraph:
    return CheckpointGraph.from_proto(read_graph_proto(reader), reader.prefix)


def _candidate_names(root: Any) -> list[tuple[str, Any, list[str]]]:
    """Every reachable object with values, its display path, and names to look it up by.

    Candidates, in order: a variable's own name (if it was given one), its fully qualified
    name through the nearest enclosing :class:`ckpt.Module` (``net/dense/kernel``), and its
    object path from the root (``model/dense/kernel``).
    """
    found = []
    seen = {id(root)}
    root_fqn = root.name if isinstance(root, Module) else None
    queue: deque[tuple[Any, str, list[str], str | None]] = deque([(root, "(root)", [], root_fqn)])
    while queue:
        obj, display, path, fqn = queue.popleft()
        if path and tensors_of_cheap(obj):
            names = []
            if isinstance(obj, Variable) and obj.name != "Variable":
                names.append(obj.name.removesuffix(":0"))
            if fqn:
                names.append(fqn)
            names.append("/".join(path))
            found.append((display, obj, list(dict.fromkeys(names))))
        for name, child in children_of(obj).items():
            if id(child) in seen:
                continue
            seen.add(id(child))
            if fqn is not None:
                child_fqn: str | None = f"{fqn}/{name}"
            elif isinstance(child, Module):
                child_fqn = child.name
            else:
                child_fqn = None
            queue.append((child, f"{display}.{name}", [*path, name], child_fqn))
    return found


def restore_by_name(
    root: Any,
    reader: CheckpointReader,
    options: CheckpointOptions,
    optional: tuple[Any, ...] = (),
) -> NameBasedSaverStatus:
    """Restore a checkpoint with no object graph by matching variable names (TF1 style).

    Every value is read and checked first; a shape or dtype mismatch raises before anything
    is assigned. ``optional`` objects (a Checkpoint's own ``save_counter``) may be missing.
    """
    report = RestoreReport(reader.prefix)
    optional_paths = set()
    assignments = []
    mismatches = []
    for display, obj, names in _candidate_names(root):
        if any(obj is o for o in optional):
            optional_paths.add(display)
        key = next((n for n in names if reader.has_tensor(n)), None)
        if key is None:
            report.missing_from_checkpoint.append(display)
            continue
        targets = getattr(obj, "_restore_targets", None)
        attribute = next(iter(targets() if targets else tensors_of(obj)))
        target = targets()[attribute] if targets else None
        info = slices_of(obj).get(attribute)
        if info is not None:
            full = reader.get_tensor_info(key).shape
            if tuple(full) != info.full_shape:
                mismatches.append(
                    Mismatch(display, key, "shape", str(info.full_shape), str(tuple(full)))
                )
                continue
            value = reader._bundle.read_region(key, info.bounds)
        else:
            value = reader.get_tensor(key)
        if target is not None:
            if value.shape != target.shape:
                mismatches.append(
                    Mismatch(display, key, "shape", str(target.shape), str(value.shape))
                )
                continue
            if value.dtype != target.dtype:
                same_kind = (value.dtype.kind == "O") == (target.dtype.kind == "O")
                if not (options.allow_dtype_cast and same_kind):
                    mismatches.append(
                        Mismatch(
                            display, key, "dtype", dtype_name(target.dtype), dtype_name(value.dtype)
                        )
                    )
                    continue
                value = value.astype(target.dtype)
        assignments.append((display, obj, attribute, key, value))
    if mismatches:
        raise mismatch_error(
            mismatches, reader.prefix, allow_dtype_cast=options.allow_dtype_cast
        )
    for display, obj, attribute, key, value in assignments:
        obj._restore_from_tensors({attribute: value})
        report.matched.append((display, key))
    used = {key for _, key in report.matched}
    report.unused_in_checkpoint = [k for k in reader if k not in used]
    return NameBasedSaverStatus(report, optional_paths)
