"""The variables a warm start can assign, by name: resolved from a module, a mapping or a list.

A *variable* is any node of the checkpoint graph with ``shape``, ``dtype`` and a
``VARIABLE_VALUE`` restore target (:class:`ckpt.Variable`, and the torch and JAX adapters'
parameter nodes). Names are paths from the root without the root's own name, as
``Module.named_variables`` builds them (``encoder/layer/0/kernel``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ckpt.errors import AssignmentMapError
from ckpt.trackable.adapters import adapt
from ckpt.trackable.base import children_of, is_trackable
from ckpt.trackable.containers import wrap
from ckpt.trackable.partitioned import PartitionedVariable, SaveSliceInfo
from ckpt.trackable.variables import VARIABLE_VALUE

__all__ = ["Target", "as_target", "is_variable", "namespace_of", "walk_variables"]


def is_variable(obj: Any) -> bool:
    """Whether ``obj`` is a variable node a warm start can assign."""
    if not hasattr(obj, "_restore_from_tensors") or not hasattr(obj, "shape"):
        return False
    targets = getattr(obj, "_restore_targets", None)
    if targets is None:
        return False
    return VARIABLE_VALUE in targets()


@dataclass(eq=False)
class Target:
    """One variable a warm start assigns, with what it needs to know about it."""

    name: str
    obj: Any
    # For a variable reachable by several paths (a tied weight): the path the checkpoint
    # stores it under, when ``name`` is another one of them.
    alias_of: str | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.obj.shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        dtype: np.dtype[Any] = np.dtype(self.obj.dtype)
        return dtype

    @property
    def slice_info(self) -> SaveSliceInfo | None:
        info = getattr(self.obj, "save_slice_info", None)
        return info if isinstance(info, SaveSliceInfo) else None

    def buffer(self) -> np.ndarray | None:
        """A writable, C-contiguous array the value may be read into directly, or ``None``."""
        array = self.obj._restore_targets().get(VARIABLE_VALUE)
        if (
            isinstance(array, np.ndarray)
            and array.flags.c_contiguous
            and array.flags.writeable
            and array.dtype == self.dtype
            and array.shape == self.shape
        ):
            return array
        return None

    def assign(self, value: np.ndarray) -> None:
        self.obj._restore_from_tensors({VARIABLE_VALUE: value})


def as_target(obj: Any, name: str | None = None) -> Target:
    """A :class:`Target` for a variable object given directly in an assignment map."""
    if isinstance(obj, Target):
        return obj
    if not is_variable(obj):
        adapted = wrap(obj)
        if not is_variable(adapted):
            raise AssignmentMapError(
                f"assignment map target {obj!r} is not a variable: give a ckpt.Variable (or a "
                "framework parameter), a list of them, or a name"
            )
        obj = adapted
    return Target(name if name is not None else str(getattr(obj, "name", "")), obj)


def walk_variables(root: Any, *, aliases: bool = False) -> Iterator[tuple[str, Any]]:
    """``(path, variable)`` for every variable reachable from ``root``, depth first in child
    order.

    A variable reachable by several paths (a tied weight) is listed under the path a
    checkpoint stores it under: the first one breadth first, as the saver's graph walk names
    objects. With ``aliases``, it is listed under each of its other paths too.
    """
    if is_variable(root):
        yield "", root
        return
    # Breadth first: the checkpoint's name of every object reachable twice.
    first: dict[int, str] = {id(root): ""}
    queue: deque[tuple[Any, str]] = deque([(root, "")])
    while queue:
        obj, path = queue.popleft()
        if is_variable(obj):
            continue
        for name, child in children_of(obj).items():
            if id(child) not in first:
                first[id(child)] = f"{path}/{name}" if path else name
                queue.append((child, first[id(child)]))

    seen: set[int] = {id(root)}

    def walk(obj: Any, path: str, ancestors: frozenset[int]) -> Iterator[tuple[str, Any]]:
        for name, child in children_of(obj).items():
            child_path = f"{path}/{name}" if path else name
            if is_variable(child):
                if id(child) not in seen:
                    seen.add(id(child))
                    yield first[id(child)], child
                if aliases and child_path != first[id(child)]:
                    yield child_path, child
            elif id(child) not in ancestors and (aliases or id(child) not in seen):
                seen.add(id(child))
                yield from walk(child, child_path, ancestors | {id(child)})

    yield from walk(root, "", frozenset({id(root)}))


def namespace_of(root: Any) -> dict[str, Target]:
    """Name -> variable for ``root``: a module or any trackable (paths from it), a mapping of
    names to variables, or ``None`` (no names: only variable targets)."""
    if root is None:
        return {}
    if isinstance(root, Mapping) and not is_trackable(root) and adapt(root) is None:
        names: dict[str, Target] = {}
        for key, value in root.items():
            if isinstance(value, PartitionedVariable):
                for k, part in enumerate(value.parts):
                    names[f"{key}/part_{k}"] = Target(f"{key}/part_{k}", part)
            else:
                names[str(key)] = as_target(value, str(key))
        return names
    node = root if is_trackable(root) else wrap(root)
    if not is_trackable(node):
        raise AssignmentMapError(
            f"root={root!r} is neither a module nor a mapping of names to variables"
        )
    canonical: dict[int, str] = {}
    names = {}
    for path, obj in walk_variables(node, aliases=True):
        known = canonical.setdefault(id(obj), path)  # the stored path comes first
        names[path] = Target(path, obj, None if known == path else known)
    return names
