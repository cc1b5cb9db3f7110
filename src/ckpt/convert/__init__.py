"""Converting checkpoints between TF, safetensors, NumPy ``.npz`` and PyTorch state dicts.

:func:`~ckpt.convert.api.convert_checkpoint` streams tensors from one format's reader to
another's writer; each format lives in its own module and torch/safetensors load lazily.
"""

from ckpt.convert.api import convert_checkpoint
from ckpt.convert.formats import Format

__all__ = ["Format", "convert_checkpoint"]
