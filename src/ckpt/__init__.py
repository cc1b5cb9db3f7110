"""ckpt: TensorFlow checkpoints in plain Python — read, write and inspect them without TensorFlow.

The public API is re-exported here; everything else is an implementation detail.
"""

from ckpt import errors
from ckpt.checkpoint_management import (
    CheckpointState,
    checkpoint_exists,
    get_checkpoint_state,
    latest_checkpoint,
    update_checkpoint_state,
)
from ckpt.reader import CheckpointReader, list_variables, load_checkpoint, load_variable
from ckpt.writer import CheckpointWriter, write_tensors

__version__ = "0.1.0"

__all__ = [
    "CheckpointReader",
    "CheckpointState",
    "CheckpointWriter",
    "__version__",
    "checkpoint_exists",
    "errors",
    "get_checkpoint_state",
    "latest_checkpoint",
    "list_variables",
    "load_checkpoint",
    "load_variable",
    "update_checkpoint_state",
    "write_tensors",
]
