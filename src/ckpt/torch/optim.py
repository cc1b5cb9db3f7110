"""``torch.optim.Optimizer`` as a checkpoint node: per-parameter state as TF slot variables.

Torch keeps an optimizer's state per parameter (``optimizer.state[param]``: Adam's ``step``,
``exp_avg``, ``exp_avg_sq``). TF saves the same thing as *slot variables* of the optimizer,
keyed by the variable they belong to, so each state tensor is saved at
``<parameter path>/.OPTIMIZER_SLOT/<optimizer path>/<state name>`` (format doc §6.1) through the
slot protocol of :mod:`ckpt.trackable.optimizer`. The parameter is the very node the module
adapter made for it (:mod:`ckpt.torch.cache`), so the model must be in the same checkpoint,
as in TF.

The optimizer node's own children are Python state (JSON):

* ``param_groups``: each group's settings (``lr``, ``betas``, ``weight_decay``, ...) and, as
  ``params``, its parameters' positions (as ``state_dict()`` numbers them); restored into the
  groups by position, after checking that each group has as many parameters as it had;
* ``state``: per-parameter state that is not a tensor, by the parameter's position in the
  groups (as ``Optimizer.state_dict()`` numbers them); empty for torch's own optimizers.

Torch creates optimizer state lazily, on the first ``step()``. A restore into an optimizer that
has never stepped creates the state tensors from the checkpoint (as TF creates slots): on the
parameter's device and with its memory format, except 0-d tensors such as ``step``, which torch
keeps on the CPU unless the group is ``capturable`` or ``fused``. Values are the checkpoint's,
bit for bit, so training continues exactly as it would have.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ckpt.errors import CorruptCheckpointError, InvalidTensorError, ValueMismatchError
from ckpt.torch.dtypes import from_numpy, is_lazy
from ckpt.torch.state import dumps, loads
from ckpt.torch.variables import TensorVariable
from ckpt.trackable.base import Trackable
from ckpt.trackable.containers import element_index
from ckpt.trackable.python_state import PythonState

__all__ = ["OptimizerTrackable", "SlotVariable"]

_STRUCTURE = ("params", "param_names")  # group entries that are structure, not settings

# torch's optimizers whose tensor state per parameter is a scalar or has its shape.
_PARAMETER_SHAPED = tuple(
    getattr(torch.optim, name)
    for name in (
        "SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad", "Adadelta",
        "ASGD", "Rprop", "SparseAdam",
    )
    if hasattr(torch.optim, name)
)


def _params(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    """Every parameter, in ``state_dict()`` order (group by group)."""
    return [p for group in optimizer.param_groups for p in group["params"]]


class SlotVariable(TensorVariable):
    """One state tensor of one parameter (``optimizer.state[param][slot]``), looked up live.

    Looking the tensor up on every use (rather than holding it) follows torch when it
    replaces state tensors, as ``Optimizer.load_state_dict`` does.
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, param: torch.Tensor, slot: str, *, name: str
    ) -> None:
        super().__init__(param, name=name)
        self._optimizer = optimizer
        self._param = param
        self._slot = slot

    def _current(self) -> torch.Tensor:
        state = self._optimizer.state.get(self._param)
        value = None if state is None else state.get(self._slot)
        if not isinstance(value, torch.Tensor):
            raise InvalidTensorError(
                f"optimizer state {self._slot!r} of {self._name.rsplit('/', 1)[0]!r} no longer "
                "exists (was the optimizer's state cleared?)",
                key=self._name,
            )
        return value

    def __repr__(self) -> str:
        return f"<ckpt.torch.SlotVariable {self._name!r}>"


def _new_state_tensor(param: torch.Tensor, group: Mapping[str, Any], value: np.ndarray) -> Any:
    """A state tensor holding ``value``, placed where the optimizer would have created it."""
    source = from_numpy(value)  # shares the freshly read array's memory: no copy on the CPU
    if source.dim() == 0 and not (group.get("capturable") or group.get("fused")):
        return source  # torch keeps scalar state (Adam's ``step``) on the CPU
    if (
        source.is_floating_point()
        and param.is_floating_point()
        and source.dtype != param.dtype
        and not is_lazy(param)
        and tuple(source.shape) == tuple(param.shape)
    ):
        # As Optimizer.load_state_dict does: parameter-shaped floating state takes the
        # parameter's dtype (a float32 checkpoint into a bfloat16 model).
        source = source.to(param.dtype)
    if is_lazy(param) or tuple(source.shape) != tuple(param.shape):
        return source.to(param.device)
    if param.device.type == "cpu" and param.is_contiguous():
        return source
    # As torch.zeros_like(param, memory_format=torch.preserve_format) would place it.
    out = torch.empty_like(param, dtype=source.dtype, memory_format=torch.preserve_format)
    out.copy_(source)
    return out


class OptimizerTrackable(Trackable):
    """A ``torch.optim.Optimizer`` in the object graph (made by :func:`ckpt.torch.adapt`)."""

    # A ckpt.Module attribute keeps the torch object; this node is tracked beside it.
    _ckpt_restores_in_place = True


    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self._ckpt_target = optimizer
        self._groups = ParamGroupsState(optimizer)
        self._state = ParamState(optimizer)
        self._slots: dict[tuple[int, str], TensorVariable] = {}
        self._group_index: dict[int, tuple[torch.Tensor, dict[str, Any]]] = {}

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self._ckpt_target

    def __repr__(self) -> str:
        return f"<ckpt.torch.OptimizerTrackable of {type(self.optimizer).__name__}>"

    def _trackable_children(self) -> Mapping[str, Any]:
        return {"param_groups": self._groups, "state": self._state}

    # --- the slot protocol ---

    def _checkpoint_slot_names(self) -> list[str]:
        """Names of tensor-valued state, in the order the parameters first have them."""
        names: dict[str, None] = {}
        state = self.optimizer.state
        for param in _params(self.optimizer):
            for name, value in state.get(param, {}).items():
                if isinstance(value, torch.Tensor):
                    names.setdefault(name)
        return list(names)

    def _checkpoint_get_slot(self, variable: Any, slot_name: str) -> Any:
        if type(variable) is not TensorVariable:
            return None
        param = variable._ckpt_target
        state = self.optimizer.state.get(param)
        if not state or not isinstance(state.get(slot_name), torch.Tensor):
            return None
        return self._slot(variable, param, slot_name)

    def _checkpoint_create_slot(self, variable: Any, slot_name: str, value: np.ndarray) -> Any:
        group = None
        if type(variable) is TensorVariable:
            param = variable._ckpt_target
            group = self._group_of(param)
        if group is None:
            # Not a parameter of this optimizer: torch could not use (or even state_dict())
            # state for it. Declined, the value stays pending: the status says it was not used.
            return None
        tensor = _new_state_tensor(param, group, value)
        self.optimizer.state.setdefault(param, {})[slot_name] = tensor
        return self._slot(variable, param, slot_name)

    def _checkpoint_slot_shape(
        self, variable: Any, slot_name: str, stored: tuple[int, ...]
    ) -> tuple[int, ...] | None:
        """The shape a new slot must have, where torch's optimizer is known to make every
        tensor state scalar or parameter-shaped (not Adafactor's factored moments)."""
        if type(variable) is not TensorVariable or not isinstance(
            self.optimizer, _PARAMETER_SHAPED
        ):
            return None
        param = variable._ckpt_target
        if stored == () or is_lazy(param):
            return None  # ``step`` and the like; a lazy parameter has no shape yet
        return tuple(param.shape)

    def _checkpoint_slots_restored(self, slots: list[Any]) -> None:
        """Drop the state tensors the checkpoint did not have: a restore replaces the state.

        As ``Optimizer.load_state_dict`` does: restoring a checkpoint saved before some
        parameter had state (or before any ``step()``) into an optimizer that has stepped
        since must not keep the newer moments, or training would not continue as it did.
        """
        kept = {(id(s._param), s._slot) for s in slots if isinstance(s, SlotVariable)}
        for param, state in self.optimizer.state.items():
            for name in [n for n, v in state.items() if isinstance(v, torch.Tensor)]:
                if (id(param), name) not in kept:
                    del state[name]
        for param in [p for p, state in self.optimizer.state.items() if not state]:
            del self.optimizer.state[param]

    def _group_of(self, param: torch.Tensor) -> dict[str, Any] | None:
        """The param group holding ``param`` (an index rebuilt only when it misses)."""
        for attempt in range(2):
            found = self._group_index.get(id(param))
            if found is not None and found[0] is param:
                group = found[1]
                if any(g is group for g in self.optimizer.param_groups):
                    return group
            if attempt == 0:
                self._group_index = {
                    id(p): (p, g) for g in self.optimizer.param_groups for p in g["params"]
                }
        return None

    def _slot(self, variable: TensorVariable, param: torch.Tensor, slot_name: str) -> Any:
        key = (id(param), slot_name)
        slot = self._slots.get(key)
        if not isinstance(slot, SlotVariable) or slot._param is not param:
            name = f"{variable.name}/{slot_name}"
            slot = SlotVariable(self.optimizer, param, slot_name, name=name)
            self._slots[key] = slot
        return slot


class ParamGroupsState(PythonState):
    """The optimizer's param-group settings (everything but the parameters), as JSON."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self._optimizer = optimizer

    def serialize(self) -> str:
        groups = []
        start = 0
        for group in self._optimizer.param_groups:
            saved = {k: v for k, v in group.items() if k not in _STRUCTURE}
            # The parameters' positions, as Optimizer.state_dict() numbers them: a restore
            # checks that each group holds as many parameters as it did.
            saved["params"] = list(range(start, start + len(group["params"])))
            start += len(group["params"])
            groups.append(saved)
        return dumps(groups, f"{type(self._optimizer).__name__}.param_groups")

    def deserialize(self, data: bytes) -> None:
        groups = loads(data)
        current = self._optimizer.param_groups
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            raise CorruptCheckpointError("an optimizer's param_groups must be a list of dicts")
        if len(groups) != len(current):
            raise ValueMismatchError(
                f"the checkpoint's {type(self._optimizer).__name__} has {len(groups)} parameter "
                f"group(s), this optimizer has {len(current)}; build the optimizer with the "
                "same groups as the one that was saved"
            )
        for number, (group, saved) in enumerate(zip(current, groups, strict=True)):
            params = saved.get("params")
            if isinstance(params, list) and len(params) != len(group["params"]):
                raise ValueMismatchError(
                    f"parameter group {number} of the checkpoint's "
                    f"{type(self._optimizer).__name__} has {len(params)} parameter(s), this "
                    f"optimizer's has {len(group['params'])}; build the optimizer with the "
                    "same groups as the one that was saved"
                )
        for group, saved in zip(current, groups, strict=True):
            for key, value in saved.items():
                if key in _STRUCTURE:
                    continue
                old = group.get(key)
                if (
                    isinstance(old, torch.Tensor)
                    and isinstance(value, torch.Tensor)
                    and old.shape == value.shape
                    and old.dtype == value.dtype
                ):
                    with torch.no_grad():
                        old.copy_(value)  # a tensor lr stays the same tensor (and device)
                else:
                    group[key] = value


class ParamState(PythonState):
    """Per-parameter optimizer state that is not a tensor, by parameter position, as JSON."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self._optimizer = optimizer

    def serialize(self) -> str:
        state = self._optimizer.state
        saved = {}
        for index, param in enumerate(_params(self._optimizer)):
            plain = {
                k: v for k, v in state.get(param, {}).items() if not isinstance(v, torch.Tensor)
            }
            if plain:
                saved[str(index)] = plain
        return dumps(saved, f"{type(self._optimizer).__name__}.state")

    def deserialize(self, data: bytes) -> None:
        saved = loads(data)
        if not isinstance(saved, dict):
            raise CorruptCheckpointError("an optimizer's per-parameter state must be a dict")
        params = _params(self._optimizer)
        for index, values in saved.items():
            if not isinstance(values, dict):
                raise CorruptCheckpointError(
                    f"optimizer state for parameter {index} must be a dict, got "
                    f"{type(values).__name__}"
                )
            position = element_index(index) if isinstance(index, str) else None
            if position is None or position >= len(params):
                raise ValueMismatchError(
                    f"the checkpoint has optimizer state for parameter {index}, but this "
                    f"{type(self._optimizer).__name__} has {len(params)} parameters"
                )
        # Replace, as load_state_dict does: plain state the checkpoint lacks is dropped.
        state = self._optimizer.state
        for index, param in enumerate(params):
            current = state.get(param)
            if current is None:
                continue
            for key in [k for k, v in current.items() if not isinstance(v, torch.Tensor)]:
                if key not in saved.get(str(index), {}):
                    del current[key]
        for index, values in saved.items():
            state.setdefault(params[int(index)], {}).update(values)
