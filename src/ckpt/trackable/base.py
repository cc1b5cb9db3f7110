"""The trackable protocol: how any object declares its children and tensors to the checkpoint graph.

An object takes part in object-based checkpoints by defining up to three methods (TF's names,
so TF users recognise them); inheriting from :class:`Trackable` is optional:

``_trackable_children() -> Mapping[str, object]``
    Its named dependencies, in a stable order (the order becomes the graph's order).
``_serialize_to_tensors() -> Mapping[str, array-like]``
    The tensors it saves itself, by attribute name (a variable saves ``"VARIABLE_VALUE"``).
``_restore_from_tensors(tensors: Mapping[str, np.ndarray]) -> None``
    Receives the checkpointed values of those attributes.

Optionally ``_restore_targets() -> Mapping[str, np.ndarray | None]`` names the attributes a
restore will deliver without serializing anything, with the existing array each value may be
read into directly (``None``: no such array), and ``_lookup_dependency(name)`` finds a child
without building the whole mapping.

Objects that inherit :class:`Trackable` also support **deferred restoration**: when a restore
finds no child under a name the checkpoint has, it parks the value on the parent, and the
parent hands it over when a child of that name is added later (:meth:`Trackable._track`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ckpt.checkpoint.restore import CheckpointPosition

__all__ = [
    "Trackable",
    "children_of",
    "is_trackable",
    "lookup_dependency",
    "tensors_of",
]


class Trackable:
    """Base class of objects in the checkpoint graph, with deferred-restoration bookkeeping.

    Subclasses override the protocol methods; the default is an object with no children and
    no tensors.
    """

    # Restorations waiting for a child that does not exist yet: {local name: positions}.
    _ckpt_deferred: dict[str, list[CheckpointPosition]]
    # The uid of the newest restore that assigned this object's own tensors (0: none yet).
    _ckpt_update_uid: int = 0

    def _trackable_children(self) -> Mapping[str, Any]:
        return {}

    def _serialize_to_tensors(self) -> Mapping[str, Any]:
        return {}

    def _restore_from_tensors(self, tensors: Mapping[str, Any]) -> None:
        if tensors:
            raise NotImplementedError(f"{type(self).__name__} saves no tensors to restore")

    def _lookup_dependency(self, name: str) -> Any:
        return self._trackable_children().get(name)

    def _track(self, name: str, child: Any) -> None:
        """Call after adding dependency ``name``: applies any restoration parked for it.

        Restorations apply newest first; an older one never overwrites a newer one's values.
        """
        if not is_trackable(child):
            return
        deferred = self.__dict__.get("_ckpt_deferred")
        if deferred and name in deferred:
            positions = sorted(deferred.pop(name), key=lambda p: p.restore_uid, reverse=True)
            for done, position in enumerate(positions):
                try:
                    position.restore_into(child)
                except BaseException:
                    # A restore checks every value before assigning any: nothing of this one
                    # (or the older ones) reached ``child``, so they stay parked for the next
                    # object added under ``name`` (one that fits, say).
                    deferred.setdefault(name, []).extend(positions[done:])
                    raise
        for hook in list(self.__dict__.get("_ckpt_track_hooks", ())):
            hook(self, name, child)

    def _add_track_hook(self, hook: Callable[[Any, str, Any], None]) -> None:
        """Call ``hook(self, name, child)`` whenever a dependency is added (name-based warm
        starts use it to apply values to variables created after the restore)."""
        if "_ckpt_track_hooks" not in self.__dict__:
            object.__setattr__(self, "_ckpt_track_hooks", [])
        hooks: list[Callable[[Any, str, Any], None]] = self.__dict__["_ckpt_track_hooks"]
        if hook not in hooks:
            hooks.append(hook)

    def _defer(self, name: str, position: CheckpointPosition) -> None:
        """Park a restoration for child ``name`` until :meth:`_track` is called with it."""
        if "_ckpt_deferred" not in self.__dict__:
            object.__setattr__(self, "_ckpt_deferred", {})
        self._ckpt_deferred.setdefault(name, []).append(position)

    def _deferred_names(self) -> list[str]:
        return list(self.__dict__.get("_ckpt_deferred", {}))


def is_trackable(obj: Any) -> bool:
    """Whether ``obj`` takes part in the checkpoint graph (implements any protocol method)."""
    return (
        hasattr(obj, "_trackable_children") or hasattr(obj, "_serialize_to_tensors")
    ) and not isinstance(obj, type)


def children_of(obj: Any) -> Mapping[str, Any]:
    method = getattr(obj, "_trackable_children", None)
    if method is None:
        return {}
    return {name: child for name, child in method().items() if is_trackable(child)}


def tensors_of(obj: Any) -> Mapping[str, Any]:
    method = getattr(obj, "_serialize_to_tensors", None)
    return method() if method is not None else {}


def lookup_dependency(obj: Any, name: str) -> Any:
    method = getattr(obj, "_lookup_dependency", None)
    child = method(name) if method is not None else children_of(obj).get(name)
    return child if child is not None and is_trackable(child) else None
