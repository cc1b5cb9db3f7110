"""``ckpt.Optimizer``: per-variable slot variables (Adam's ``m`` and ``v``) saved as TF saves them.

TF saves an optimizer's slots not as its children but as ``slot_variables`` of its node, keyed
by the variable they belong to: ``<variable path>/.OPTIMIZER_SLOT/<optimizer path>/<slot>``.
Restoring recreates missing slots with their checkpointed values (as TF does in eager mode),
so training resumes with the optimizer state it had.

Any object can offer slots through the same three methods: ``_checkpoint_slot_names()``,
``_checkpoint_get_slot(variable, slot_name)`` and
``_checkpoint_create_slot(variable, slot_name, value)``; the last may return None to decline a
slot (it then stays pending, as in TF until the optimizer makes slots for that variable). An
optional fourth, ``_checkpoint_slots_restored(slots)``, is called once at the end of the
initial restore with the slot variables the restore matched for this optimizer: an optimizer
whose restore replaces its state (torch's) drops the rest there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ckpt.trackable.module import Module
from ckpt.trackable.variables import Variable

__all__ = ["Optimizer"]


class Optimizer(Module):
    """Holds slot variables per model variable; subclass it to write an optimizer in NumPy.

    Example::

        class Momentum(ckpt.Optimizer):
            def apply(self, variable, grad, lr=0.1, beta=0.9):
                m = self.get_slot(variable, "m") or self.add_slot(variable, "m")
                m.assign(beta * m.numpy() + grad)
                variable.assign(variable.numpy() - lr * m.numpy())
    """

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name=name)
        self._ckpt_slots: dict[str, dict[int, tuple[Any, Variable]]] = {}

    def add_slot(self, variable: Any, slot_name: str, initial_value: Any = None) -> Variable:
        """Create slot ``slot_name`` for ``variable`` (zeros like it by default) and return it."""
        existing = self.get_slot(variable, slot_name)
        if existing is not None:
            return existing
        if initial_value is None:
            initial_value = np.zeros_like(np.asarray(variable))
        base = getattr(variable, "name", "Variable")
        slot = Variable(initial_value, name=f"{base}/{slot_name}")
        self._ckpt_slots.setdefault(slot_name, {})[id(variable)] = (variable, slot)
        return slot

    def get_slot(self, variable: Any, slot_name: str) -> Variable | None:
        """The slot ``slot_name`` of ``variable``, or None."""
        found = self._ckpt_slots.get(slot_name, {}).get(id(variable))
        return found[1] if found is not None and found[0] is variable else None

    def get_slot_names(self) -> list[str]:
        """Slot names in the order they were first created."""
        return list(self._ckpt_slots)

    # --- the slot protocol ---

    def _checkpoint_slot_names(self) -> list[str]:
        return self.get_slot_names()

    def _checkpoint_get_slot(self, variable: Any, slot_name: str) -> Any:
        return self.get_slot(variable, slot_name)

    def _checkpoint_create_slot(self, variable: Any, slot_name: str, value: np.ndarray) -> Any:
        return self.add_slot(variable, slot_name, value)
