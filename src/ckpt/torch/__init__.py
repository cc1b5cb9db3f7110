"""PyTorch in object-based checkpoints: ``ckpt.Checkpoint(model=module, optimizer=opt, ...)``.

Once torch is imported, ckpt adapts torch objects wherever a trackable is expected (see
:mod:`ckpt.torch.adapter`), so no import of this package is needed to checkpoint them::

    checkpoint = ckpt.Checkpoint(model=model, optimizer=opt, scheduler=sched, scaler=scaler)
    path = checkpoint.save("runs/exp/ckpt")
    checkpoint.restore(path).assert_consumed()

Modules save their parameters and persistent buffers under their ``state_dict`` names with
``/`` (``model/encoder/layer/0/weight``), optimizer state as TF slot variables, schedulers and
scalers as JSON Python state; TensorFlow's ``tf.train.load_checkpoint`` reads every value.
Restores copy into the existing tensors in place. Import ``ckpt.torch`` for the helpers and
node types below.
"""

from ckpt.torch.adapter import adapt
from ckpt.torch.modules import ModuleTrackable, state_dict_names
from ckpt.torch.optim import OptimizerTrackable, SlotVariable
from ckpt.torch.state import GeneratorState, StateDictState
from ckpt.torch.variables import TensorVariable

__all__ = [
    "GeneratorState",
    "ModuleTrackable",
    "OptimizerTrackable",
    "SlotVariable",
    "StateDictState",
    "TensorVariable",
    "adapt",
    "state_dict_names",
]
