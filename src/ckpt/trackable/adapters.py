"""Optional framework adapters, found lazily: torch and JAX values become trackable on demand.

``import ckpt`` imports neither framework. When a value that is not trackable reaches the
checkpoint graph (a ``Checkpoint(...)`` keyword, a ``Module`` attribute, a container element),
:func:`adapt` looks at the top-level package of its type and, only for a framework the process
has already imported, asks that framework's adapter module to wrap it. An adapter module
exposes ``adapt(value) -> trackable | None`` (``None``: not its kind of value).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

__all__ = ["adapt", "adapter_for_package", "loaded_adapters"]

# Framework (its top-level import name) -> the ckpt module adapting its objects.
_ADAPTER_MODULES = {
    "torch": "ckpt.torch.adapter",
    "jax": "ckpt.jax.adapter",
}
# Top-level packages whose objects belong to a framework's adapter.
_PACKAGE_TO_FRAMEWORK = {
    "torch": "torch",
    "jax": "jax",
    "jaxlib": "jax",
    "flax": "jax",
    "optax": "jax",
}


def adapter_for_package(package: str) -> Any:
    """The adapter module for objects of top-level ``package``, or ``None``."""
    framework = _PACKAGE_TO_FRAMEWORK.get(package)
    if framework is None or framework not in sys.modules:
        return None
    return importlib.import_module(_ADAPTER_MODULES[framework])


def loaded_adapters() -> list[Any]:
    """Adapter modules of the frameworks this process has imported, in a fixed order."""
    return [
        importlib.import_module(module)
        for framework, module in _ADAPTER_MODULES.items()
        if framework in sys.modules
    ]


def adapt(value: Any) -> Any:
    """A trackable object standing for ``value`` from a framework adapter, or ``None``.

    Objects of a framework's own types go to that framework's adapter; anything else (plain
    containers, user classes registered as pytrees) is offered to every loaded adapter in turn.
    """
    package = type(value).__module__.partition(".")[0]
    adapter = adapter_for_package(package)
    if adapter is not None:
        adapted = adapter.adapt(value)
        if adapted is not None:
            return adapted
    if package == "builtins" and not isinstance(value, (list, dict, tuple)):
        return None
    for candidate in loaded_adapters():
        if candidate is adapter:
            continue
        adapted = candidate.adapt(value)
        if adapted is not None:
            return adapted
    return None
