"""``ckpt.Module``: a base class whose attributes become named checkpoint dependencies.

This is the one place where ckpt tracks objects implicitly, as ``tf.Module`` and
``torch.nn.Module`` users expect: assigning a Variable, a Module, any trackable object, or a
list/dict/tuple (wrapped into :mod:`ckpt.trackable.containers`) to an attribute makes it a
dependency named after the attribute, in assignment order. Attributes whose names start with
``_ckpt_`` are never tracked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from ckpt.trackable.base import Trackable, children_of, is_trackable
from ckpt.trackable.containers import wrap
from ckpt.trackable.variables import Variable

__all__ = ["AutoTrackable", "Module", "camel_to_snake"]

_PRIVATE = "_ckpt_"


def camel_to_snake(name: str) -> str:
    """``MyNetwork`` -> ``my_network`` (TF's rule for default module names)."""
    first = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", first).lower()


class AutoTrackable(Trackable):
    """Tracks trackable attributes as dependencies, in assignment order.

    Plain lists, dicts and tuples are replaced by their trackable wrappers (as TF does). A
    framework object that restores in place (a torch module, tensor or optimizer) stays what
    it is: the attribute keeps the user's object, and its adapter node is tracked alongside.
    Immutable values (JAX trees) are replaced by their node, whose ``tree`` holds the
    restored values.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith(_PRIVATE):
            object.__setattr__(self, name, value)
            return
        node = wrap(value)
        adapted: dict[str, Any] | None = self.__dict__.get("_ckpt_adapted")
        missing = object()
        before = self.__dict__.get(name, missing)
        before_node = adapted.get(name, missing) if adapted else missing
        if node is not value and getattr(node, "_ckpt_restores_in_place", False):
            if adapted is None:
                adapted = {}
                object.__setattr__(self, "_ckpt_adapted", adapted)
            adapted[name] = node
            object.__setattr__(self, name, value)
        else:
            if adapted:
                adapted.pop(name, None)
            object.__setattr__(self, name, node)
        if is_trackable(node):
            try:
                self._track(name, node)
            except BaseException:
                # A deferred restore refused the new object (its values do not fit): as in
                # TF, the assignment does not happen.
                if before is missing:
                    self.__dict__.pop(name, None)
                else:
                    object.__setattr__(self, name, before)
                if adapted is not None:
                    if before_node is missing:
                        adapted.pop(name, None)
                    else:
                        adapted[name] = before_node
                raise

    def _node(self, name: str, value: Any) -> Any:
        adapted = self.__dict__.get("_ckpt_adapted")
        if adapted and name in adapted:
            return adapted[name]
        return value

    def _trackable_children(self) -> Mapping[str, Any]:
        children = {}
        for name, value in vars(self).items():
            if name.startswith(_PRIVATE):
                continue
            node = self._node(name, value)
            if is_trackable(node):
                children[name] = node
        return children

    def _lookup_dependency(self, name: str) -> Any:
        if name.startswith(_PRIVATE) or name not in vars(self):
            return None
        node = self._node(name, vars(self)[name])
        return node if is_trackable(node) else None


class Module(AutoTrackable):
    """Base class for models: attributes that are Variables, Modules or containers of them
    become named dependencies.

    Args:
        name: the module's name, the first component of its variables' fully qualified
            names; defaults to the snake_case class name (``MyNetwork`` -> ``my_network``).

    Example::

        class Dense(ckpt.Module):
            def __init__(self, n_in, n_out, name=None):
                super().__init__(name=name)
                self.kernel = ckpt.Variable(np.zeros((n_in, n_out), np.float32), name="kernel")
                self.bias = ckpt.Variable(np.zeros(n_out, np.float32), name="bias")
    """

    def __init__(self, name: str | None = None) -> None:
        object.__setattr__(self, "_ckpt_name", name or camel_to_snake(type(self).__name__))

    @property
    def name(self) -> str:
        # Modules that skip ``super().__init__()`` still get TF's default name.
        return str(self.__dict__.get("_ckpt_name") or camel_to_snake(type(self).__name__))

    def named_variables(self) -> Iterator[tuple[str, Variable]]:
        """``(fully qualified name, variable)`` pairs, depth first in attribute order.

        The fully qualified name is ``<module name>/<attribute path>``, for example
        ``my_network/dense_1/kernel`` or ``my_network/layers/0/bias``. A variable reachable
        twice is listed once, under its first path.
        """
        seen: set[int] = set()

        def walk(obj: Any, path: str) -> Iterator[tuple[str, Variable]]:
            for name, child in children_of(obj).items():
                if id(child) in seen:
                    continue
                seen.add(id(child))
                child_path = f"{path}/{name}"
                if isinstance(child, Variable):
                    yield child_path, child
                else:
                    yield from walk(child, child_path)

        seen.add(id(self))
        yield from walk(self, self.name)

    @property
    def variables(self) -> tuple[Variable, ...]:
        """Every variable this module depends on, directly or through submodules."""
        return tuple(variable for _, variable in self.named_variables())

    @property
    def submodules(self) -> tuple[Module, ...]:
        """Every module reachable from this one (not itself), breadth first."""
        found: list[Module] = []
        seen = {id(self)}
        queue: list[Any] = [self]
        while queue:
            obj = queue.pop(0)
            for child in children_of(obj).values():
                if id(child) in seen:
                    continue
                seen.add(id(child))
                if isinstance(child, Module):
                    found.append(child)
                queue.append(child)
        return tuple(found)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
