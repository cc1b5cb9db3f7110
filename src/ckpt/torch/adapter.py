"""The entry point :mod:`ckpt.trackable.adapters` calls: torch objects to checkpoint nodes.

``adapt(value)`` returns the node standing for a torch object, or ``None`` for anything else:

========================================  ==============================================
torch object                              node
========================================  ==============================================
``torch.Tensor`` / ``nn.Parameter``       :class:`~ckpt.torch.TensorVariable`
``nn.Module``                             :class:`~ckpt.torch.ModuleTrackable`
``torch.optim.Optimizer``                 :class:`~ckpt.torch.OptimizerTrackable`
LR scheduler (``LRScheduler``, incl.      :class:`~ckpt.torch.StateDictState` (JSON)
``ReduceLROnPlateau``)
``torch.amp.GradScaler``                  :class:`~ckpt.torch.StateDictState` (JSON)
``torch.Generator``                       :class:`~ckpt.torch.GeneratorState` (JSON)
========================================  ==============================================

The same object always gets the same live node (:mod:`ckpt.torch.cache`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.optim import lr_scheduler

from ckpt.torch.cache import node_for
from ckpt.torch.modules import ModuleTrackable
from ckpt.torch.optim import OptimizerTrackable
from ckpt.torch.state import GeneratorState, GradScalerState, StateDictState
from ckpt.torch.variables import TensorVariable

__all__ = ["adapt"]

# ReduceLROnPlateau derives from LRScheduler only since torch 2.2.
_SCHEDULERS = (lr_scheduler.LRScheduler, lr_scheduler.ReduceLROnPlateau)


def adapt(value: Any) -> Any:
    """The checkpoint node standing for torch object ``value``, or ``None`` if it is not one."""
    if isinstance(value, torch.Tensor):
        return node_for(value, TensorVariable)
    if isinstance(value, nn.Module):
        return node_for(value, ModuleTrackable)
    if isinstance(value, torch.optim.Optimizer):
        return node_for(value, OptimizerTrackable)
    if isinstance(value, _SCHEDULERS):
        return node_for(value, StateDictState)
    if isinstance(value, torch.amp.GradScaler):
        return node_for(value, GradScalerState)
    if isinstance(value, torch.Generator):
        return node_for(value, GeneratorState)
    return None
