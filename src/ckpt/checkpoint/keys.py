"""The key scheme of object-based checkpoints (format doc §6.1), in one small pure module.

Object paths are the escaped dependency names from the root, joined by ``/``; an object's
tensors live under ``<path>/.ATTRIBUTES/<attribute>``; an optimizer's slot for a variable under
``<variable path>/.OPTIMIZER_SLOT/<optimizer path>/<slot name>``.
"""

from __future__ import annotations

__all__ = [
    "OBJECT_ATTRIBUTES_NAME",
    "OBJECT_GRAPH_PROTO_KEY",
    "OPTIMIZER_SLOT_NAME",
    "checkpoint_key",
    "escape_local_name",
    "join_path",
    "slot_variable_key",
]

OBJECT_GRAPH_PROTO_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
OBJECT_ATTRIBUTES_NAME = ".ATTRIBUTES"
OPTIMIZER_SLOT_NAME = ".OPTIMIZER_SLOT"


def escape_local_name(name: str) -> str:
    """Escape one dependency name: ``.`` becomes ``..``, then ``/`` becomes ``.S``."""
    return name.replace(".", "..").replace("/", ".S")


def join_path(parent: str, local_name: str) -> str:
    """The path of child ``local_name`` of the object at ``parent`` (the root's path is "")."""
    escaped = escape_local_name(local_name)
    return f"{parent}/{escaped}" if parent else escaped


def checkpoint_key(object_path: str, attribute: str) -> str:
    """``<object path>/.ATTRIBUTES/<escaped attribute>`` (the root's: ``/.ATTRIBUTES/...``)."""
    return f"{object_path}/{OBJECT_ATTRIBUTES_NAME}/{escape_local_name(attribute)}"


def slot_variable_key(variable_path: str, optimizer_path: str, slot_name: str) -> str:
    """The object path of an optimizer's slot variable for the variable at ``variable_path``."""
    return f"{variable_path}/{OPTIMIZER_SLOT_NAME}/{optimizer_path}/{escape_local_name(slot_name)}"
