"""Lists, dicts and tuples that are nodes of the checkpoint graph, as TF's wrappers are.

:class:`ckpt.Module` wraps every list, dict and tuple assigned to it in these subclasses, so
``module.layers = [a, b]`` saves as a ``layers`` node with children ``"0"`` and ``"1"``, and
``module.layers.append(c)`` later receives a deferred restoration for ``"2"``. Elements that
are not trackable take no part (but keep their index). Dict keys are the children's names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, SupportsIndex

from ckpt.errors import InvalidTensorError
from ckpt.trackable.adapters import adapt
from ckpt.trackable.base import Trackable, is_trackable

__all__ = ["TrackableDict", "TrackableList", "TrackableTuple", "element_index", "wrap"]


def element_index(name: str) -> int | None:
    """The list position a dependency name stands for (``"0"``, ``"1"``, ...), or ``None``.

    Only ASCII digits, as ``str(i)`` writes them: ``int()`` would also take ``"١"`` (another
    script's one) and fail on ``"²"`` or on thousands of digits from a hostile checkpoint.
    """
    if name.isascii() and name.isdigit() and len(name) <= 18:
        return int(name)
    return None


def wrap(value: Any) -> Any:
    """Wrap plain lists, dicts and tuples (recursively) so they become graph nodes.

    Values of a loaded framework (a torch module, a JAX pytree) go to its adapter first
    (:mod:`ckpt.trackable.adapters`).
    """
    if is_trackable(value) or value is None or isinstance(value, (str, bytes, int, float)):
        return value
    adapted = adapt(value)
    if adapted is not None:
        return adapted
    kind = type(value)
    if kind is list:
        return TrackableList(value)
    if kind is dict:
        return TrackableDict(value)
    if kind is tuple:
        # As TF: a tuple becomes a node only if it holds something trackable or mutable.
        items = [wrap(item) for item in value]
        if any(is_trackable(item) for item in items):
            return TrackableTuple(items)
        return value
    return value


class TrackableList(list, Trackable):  # type: ignore[type-arg]
    """A ``list`` whose trackable elements are dependencies named by their index."""

    def __init__(self, items: Iterable[Any] = ()) -> None:
        super().__init__(wrap(item) for item in items)

    def _trackable_children(self) -> Mapping[str, Any]:
        return {str(i): item for i, item in enumerate(self) if is_trackable(item)}

    def _lookup_dependency(self, name: str) -> Any:
        index = element_index(name)
        if index is not None and index < len(self):
            return self[index]
        return None

    def append(self, item: Any) -> None:
        item = wrap(item)
        super().append(item)
        try:
            self._track(str(len(self) - 1), item)
        except BaseException:
            super().pop()  # a deferred restore refused it: as for attributes, not added
            raise

    def extend(self, items: Iterable[Any]) -> None:
        for item in items:
            self.append(item)

    def __iadd__(self, items: Iterable[Any]) -> TrackableList:  # type: ignore[misc]
        self.extend(items)
        return self

    def insert(self, index: SupportsIndex, item: Any) -> None:
        super().insert(index, wrap(item))

    def __setitem__(self, index: Any, item: Any) -> None:
        if isinstance(index, slice):
            super().__setitem__(index, [wrap(i) for i in item])
            return
        item = wrap(item)
        before = self[index]
        super().__setitem__(index, item)
        position = index if index >= 0 else len(self) + index
        try:
            self._track(str(position), item)
        except BaseException:
            super().__setitem__(index, before)  # refused by a deferred restore: not stored
            raise

    def __repr__(self) -> str:
        return f"TrackableList({list.__repr__(self)})"


class TrackableDict(dict, Trackable):  # type: ignore[type-arg]
    """A ``dict`` whose trackable values are dependencies named by their (string) keys."""

    def __init__(self, items: Any = (), **kwargs: Any) -> None:
        super().__init__()
        self.update(items, **kwargs)

    def _trackable_children(self) -> Mapping[str, Any]:
        children = {}
        for key, value in self.items():
            if not is_trackable(value):
                continue
            if not isinstance(key, str):
                raise InvalidTensorError(
                    f"dict key {key!r} holds a trackable value but is not a string; checkpoint "
                    "names are strings, so use str keys"
                )
            children[key] = value
        return children

    def _lookup_dependency(self, name: str) -> Any:
        return self.get(name)

    def __setitem__(self, key: Any, value: Any) -> None:
        value = wrap(value)
        missing = object()
        before = self.get(key, missing)
        super().__setitem__(key, value)
        if isinstance(key, str):
            try:
                self._track(key, value)
            except BaseException:
                # Refused by a deferred restore: as for attributes, the item is not stored.
                if before is missing:
                    super().__delitem__(key)
                else:
                    super().__setitem__(key, before)
                raise

    def update(self, items: Any = (), **kwargs: Any) -> None:  # type: ignore[override]
        pairs = items.items() if isinstance(items, Mapping) else items
        for key, value in pairs:
            self[key] = value
        for key, value in kwargs.items():
            self[key] = value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def __repr__(self) -> str:
        return f"TrackableDict({dict.__repr__(self)})"


class TrackableTuple(tuple, Trackable):  # type: ignore[type-arg]
    """A ``tuple`` whose trackable elements are dependencies named by their index."""

    def __new__(cls, items: Iterable[Any] = ()) -> TrackableTuple:
        return super().__new__(cls, (wrap(item) for item in items))

    def _trackable_children(self) -> Mapping[str, Any]:
        return {str(i): item for i, item in enumerate(self) if is_trackable(item)}

    def _lookup_dependency(self, name: str) -> Any:
        index = element_index(name)
        if index is not None and index < len(self):
            return self[index]
        return None
