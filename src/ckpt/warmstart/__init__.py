"""Name-based warm starts: ``init_from_checkpoint`` and the network save/restore helpers."""

from ckpt.warmstart import transforms
from ckpt.warmstart.apply import init_from_checkpoint
from ckpt.warmstart.network import (
    NetworkRestore,
    restore_network_checkpoint,
    save_network_checkpoint,
)
from ckpt.warmstart.plan import Assignment, WarmStartPlan

__all__ = [
    "Assignment",
    "NetworkRestore",
    "WarmStartPlan",
    "init_from_checkpoint",
    "restore_network_checkpoint",
    "save_network_checkpoint",
    "transforms",
]
