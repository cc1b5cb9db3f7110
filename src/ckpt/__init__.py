"""ckpt: TensorFlow checkpoints in plain Python — read, write and inspect them without TensorFlow.

The public API is re-exported here; everything else is an implementation detail.
"""

from ckpt import errors
from ckpt.checkpoint.checkpoint import Checkpoint
from ckpt.checkpoint.inspect import ObjectNode, object_graph
from ckpt.checkpoint.manager import CheckpointManager, SkippedCheckpoint
from ckpt.checkpoint.saver import CheckpointableSaver, CheckpointOptions
from ckpt.checkpoint.status import RestoreReport
from ckpt.checkpoint_management import (
    CheckpointState,
    checkpoint_exists,
    get_checkpoint_state,
    latest_checkpoint,
    update_checkpoint_state,
)
from ckpt.convert.api import convert_checkpoint
from ckpt.reader import CheckpointReader, list_variables, load_checkpoint, load_variable
from ckpt.trackable.base import Trackable
from ckpt.trackable.module import Module
from ckpt.trackable.optimizer import Optimizer
from ckpt.trackable.partitioned import PartitionedVariable, SaveSliceInfo
from ckpt.trackable.python_state import JsonState, NumpyRNGState, PythonState
from ckpt.trackable.variables import Variable
from ckpt.warmstart import transforms
from ckpt.warmstart.apply import init_from_checkpoint
from ckpt.warmstart.network import (
    NetworkRestore,
    restore_network_checkpoint,
    save_network_checkpoint,
)
from ckpt.warmstart.plan import WarmStartPlan
from ckpt.writer import CheckpointWriter, write_tensors

__version__ = "0.1.0"

__all__ = [
    "Checkpoint",
    "CheckpointManager",
    "CheckpointOptions",
    "CheckpointReader",
    "CheckpointState",
    "CheckpointWriter",
    "CheckpointableSaver",
    "JsonState",
    "Module",
    "NetworkRestore",
    "NumpyRNGState",
    "ObjectNode",
    "Optimizer",
    "PartitionedVariable",
    "PythonState",
    "RestoreReport",
    "SaveSliceInfo",
    "SkippedCheckpoint",
    "Trackable",
    "Variable",
    "WarmStartPlan",
    "__version__",
    "checkpoint_exists",
    "convert_checkpoint",
    "errors",
    "get_checkpoint_state",
    "init_from_checkpoint",
    "latest_checkpoint",
    "list_variables",
    "load_checkpoint",
    "load_variable",
    "object_graph",
    "restore_network_checkpoint",
    "save_network_checkpoint",
    "transforms",
    "update_checkpoint_state",
    "write_tensors",
]
