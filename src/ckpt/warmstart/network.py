"""``save_network_checkpoint`` / ``restore_network_checkpoint``: name-based checkpoints of one
network, restorable into another one of a different name, and into variables created later.

Variables are named by their fully qualified names (``my_network_1/dense_1/kernel``), passed
through ``map_func``; by default the network's own scope ``<network.name>/`` is stripped, so a
checkpoint saved from ``my_network_1`` restores into ``my_network_2``. Parts of a
:class:`~ckpt.PartitionedVariable` are stored as slices of one tensor, as TF1 savers store
them. Checkpoint values that no variable takes yet are kept, and applied when a variable of
that name is added to the network (deferred restoration); the newest restore wins.
"""

from __future__ import annotations

import itertools
import os
import re
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ckpt.checkpoint.saver import SaveItem
from ckpt.checkpoint_management import latest_checkpoint, update_checkpoint_state
from ckpt.errors import AssignmentMapError, CheckpointNotFoundError, TensorNotFoundError
from ckpt.format import naming, storage
from ckpt.reader import CheckpointReader
from ckpt.trackable.base import Trackable, children_of, is_trackable
from ckpt.trackable.containers import wrap
from ckpt.trackable.module import camel_to_snake
from ckpt.trackable.variables import VARIABLE_VALUE
from ckpt.warmstart.apply import execute
from ckpt.warmstart.assignment import CheckpointNames, plan_assignments
from ckpt.warmstart.plan import WarmStartPlan
from ckpt.warmstart.targets import Target, is_variable, walk_variables
from ckpt.writer import CheckpointWriter

__all__ = ["NetworkRestore", "restore_network_checkpoint", "save_network_checkpoint"]

MapFunc = Callable[[str], str]
_PART = re.compile(r"/part_\d+$")
_uids = itertools.count(1)


def network_name(network: Any) -> str:
    """The network's scope name: its ``name``, else its class name in snake case."""
    name = getattr(network, "name", None)
    return name if isinstance(name, str) and name else camel_to_snake(type(network).__name__)


def _prefix_stripper(scope: str) -> MapFunc:
    prefix = scope + "/"

    def strip_network_scope(name: str) -> str:
        return name[len(prefix) :] if name.startswith(prefix) else name

    return strip_network_scope


def _logical(full_name: str, variable: Any) -> str:
    """The tensor name a variable is stored under: a partition part's is its full tensor's."""
    if getattr(variable, "save_slice_info", None) is not None and _PART.search(full_name):
        return _PART.sub("", full_name)
    return full_name


def _network_node(network: Any) -> Any:
    node = network if is_trackable(network) else wrap(network)
    if not is_trackable(node):
        raise AssignmentMapError(f"{network!r} is not a network: it has no variables to track")
    return node


def _mapped_variables(
    network: Any, map_func: MapFunc, user_map: bool, what: str
) -> dict[str, list[tuple[str, Any]]]:
    """Mapped tensor name -> [(fully qualified name, variable)] (several for the parts of a
    partitioned variable)."""
    scope = network_name(network)
    by_name: dict[str, list[tuple[str, Any]]] = {}
    owner: dict[str, str] = {}
    for path, variable in walk_variables(_network_node(network)):
        full = f"{scope}/{path}" if path else scope
        logical = _logical(full, variable)
        mapped = map_func(logical)
        if not isinstance(mapped, str) or not mapped:
            raise AssignmentMapError(f"map_func mapped {logical!r} to {mapped!r}, not a name")
        if owner.setdefault(mapped, logical) != logical:
            if user_map:
                message = (
                    f"The map_func passed to {what} for the network {scope!r} resulted in two "
                    f"variables named {mapped!r} ({owner[mapped]} and {logical})."
                )
            else:
                message = (
                    f"The default checkpoint variable name mapping strategy for network "
                    f"{scope!r} resulted in a naming conflict: {owner[mapped]} and {logical} "
                    f"are both {mapped!r}. Pass a map_func that names them apart."
                )
            raise AssignmentMapError(message, key=mapped)
        by_name.setdefault(mapped, []).append((full, variable))
    return by_name


def save_network_checkpoint(
    network: Any,
    save_path: str | os.PathLike[str],
    *,
    map_func: MapFunc | None = None,
    global_step: int | None = None,
) -> str:
    """Save a network's variables in a name-based checkpoint; return its prefix.

    Args:
        network: a :class:`ckpt.Module` (or any trackable object, or a torch module).
        save_path: the checkpoint prefix, or an existing directory (the prefix is then
            ``<dir>/<network name>``).
        map_func: fully qualified variable name -> checkpoint name; default: strip
            ``<network.name>/``.
        global_step: appended to the prefix as ``-<step>``.

    The directory's ``checkpoint`` state file is updated, as TF's ``Saver`` does.
    """
    path = os.fspath(save_path)
    if storage.isdir(path):
        path = storage.join(path, network_name(network).replace("/", "_"))
    if global_step is not None:
        path = f"{path}-{int(global_step)}"
    user_map = map_func is not None
    mapping = map_func or _prefix_stripper(network_name(network))
    variables = _mapped_variables(network, mapping, user_map, "save_network_checkpoint")
    with CheckpointWriter(path) as writer:
        for name, entries in variables.items():
            for full, variable in entries:
                value = variable._serialize_to_tensors()[VARIABLE_VALUE]
                # A partition part is stored as its slice of the full tensor.
                part = _logical(full, variable) != full
                SaveItem(name, value, variable.save_slice_info if part else None).write_to(writer)
    prefix = writer.prefix
    update_checkpoint_state(os.path.dirname(prefix) or ".", prefix)
    return prefix


@dataclass
class NetworkRestore:
    """What :func:`restore_network_checkpoint` did: the values assigned now, and the checkpoint
    names kept for variables the network does not have yet."""

    plan: WarmStartPlan
    deferred: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [self.plan.table()]
        if self.deferred:
            lines.append(f"kept for variables created later ({len(self.deferred)}):")
            lines.extend(f"  {name}" for name in self.deferred)
        return "\n".join(lines)


def _resolve_restore_path(network: Any, save_path: str) -> str:
    if not storage.isdir(save_path):
        return save_path
    named = storage.join(save_path, network_name(network).replace("/", "_"))
    if storage.exists(naming.index_filename(named)):
        return named
    latest = latest_checkpoint(save_path)
    if latest is None:
        raise CheckpointNotFoundError(
            f"no checkpoint for network {network_name(network)!r} in {save_path}: neither "
            f"{named} nor a 'checkpoint' state file",
            path=save_path,
        )
    return latest


def restore_network_checkpoint(
    network: Any,
    save_path: str | os.PathLike[str],
    *,
    map_func: MapFunc | None = None,
) -> NetworkRestore:
    """Restore a network's variables from a name-based checkpoint, now and as they are created.

    Args:
        network: a :class:`ckpt.Module` (or any trackable object, or a torch module).
        save_path: the checkpoint prefix, or a directory: ``<dir>/<network name>`` if it
            exists, else the directory's latest checkpoint.
        map_func: fully qualified variable name (``my_network_1/dense_1/kernel``) ->
            checkpoint name; default: strip ``<network.name>/``.

    Every existing variable must find its value (else :class:`~ckpt.errors.TensorNotFoundError`
    naming all that are missing, and nothing is assigned). Checkpoint values no variable takes
    are kept: a variable added to the network later under a name that maps to one of them
    receives it when it is assigned as an attribute; the newest restore wins. Layers shared
    with another network are restored through this one's names.
    """
    prefix = _resolve_restore_path(network, os.fspath(save_path))
    user_map = map_func is not None
    mapping = map_func or _prefix_stripper(network_name(network))
    variables = _mapped_variables(network, mapping, user_map, "restore_network_checkpoint")
    reader = CheckpointReader(prefix)
    try:
        names = CheckpointNames(reader)
        missing = [name for name in variables if names.key_of(name) is None]
        if missing:
            raise TensorNotFoundError(
                f"{len(missing)} variable(s) of network {network_name(network)!r} are not in "
                f"checkpoint {prefix}: "
                + ", ".join(f"{variables[m][0][0]} (as {m})" for m in missing[:10])
                + ("…" if len(missing) > 10 else ""),
                path=prefix,
                key=missing[0],
            )
        pairs = [(name, _targets(entries)) for name, entries in variables.items()]
        assignments = plan_assignments(names, pairs, {}, None, prefix)
        execute(reader, assignments)
    except BaseException:
        reader.close()
        raise
    used = {a.checkpoint_key for a in assignments}
    waiting = [n for n in names.names if (names.key_of(n) or n) not in used]
    plan = WarmStartPlan(prefix, assignments, waiting, [], executed=True)
    if waiting:
        _register(network, _Pending(next(_uids), reader, names, mapping, set(waiting)))
    else:
        reader.close()
    return NetworkRestore(plan, waiting)


def _targets(entries: list[tuple[str, Any]]) -> Target | list[Target]:
    """One variable, or the parts of a partitioned one (filled by their slice info)."""
    full, variable = entries[0]
    if len(entries) == 1 and _logical(full, variable) == full:
        return Target(full, variable)
    return [Target(f, v) for f, v in entries]


@dataclass(eq=False)
class _Pending:
    """The unused values of one restore, kept for variables created later."""

    uid: int
    reader: CheckpointReader
    names: CheckpointNames
    map_func: MapFunc
    waiting: set[str]


class _Hook:
    """Installed on every node of a network: applies pending values to new variables."""

    def __init__(self, network: Any, path: str, scope: str) -> None:
        self._network = weakref.ref(network)
        self.path = path
        self.scope = scope

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _Hook)
            and other._network() is self._network()
            and other.path == self.path
        )

    def __hash__(self) -> int:
        return hash((id(self._network()), self.path))

    def __call__(self, parent: Any, name: str, child: Any) -> None:
        network = self._network()
        if network is None:
            return
        path = f"{self.path}/{name}" if self.path else name
        scope = self.scope
        found = [(path, child)] if is_variable(child) else [
            (f"{path}/{sub}", var) for sub, var in walk_variables(child)
        ]
        pending: list[_Pending] = network.__dict__.get("_ckpt_name_restores", [])
        for var_path, variable in found:
            full = f"{scope}/{var_path}"
            for record in sorted(pending, key=lambda r: r.uid, reverse=True):
                mapped = record.map_func(_logical(full, variable))
                if mapped not in record.waiting:
                    continue
                target = _targets([(full, variable)])
                assignments = plan_assignments(
                    record.names, [(mapped, target)], {}, None, record.reader.prefix
                )
                execute(record.reader, assignments)
                break
        _install(network, child, path, scope)


def _nodes(root: Any, path: str) -> Iterator[tuple[str, Any]]:
    seen: set[int] = set()
    stack = [(path, root)]
    while stack:
        node_path, node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node_path, node
        for name, child in children_of(node).items():
            if not is_variable(child):
                stack.append((f"{node_path}/{name}" if node_path else name, child))


def _install(network: Any, root: Any, path: str, scope: str) -> None:
    for node_path, node in _nodes(root, path):
        if isinstance(node, Trackable):
            node._add_track_hook(_Hook(network, node_path, scope))


def _register(network: Any, record: _Pending) -> None:
    node = _network_node(network)
    if not isinstance(node, Trackable):
        record.reader.close()
        return  # a network that cannot report new children cannot restore them later
    node.__dict__.setdefault("_ckpt_name_restores", []).append(record)
    _install(node, node, "", network_name(network))

