"""TensorFlow checkpoints: read with :class:`ckpt.CheckpointReader`, written with ckpt's writer."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import numpy as np

from ckpt.checkpoint_management import update_checkpoint_state
from ckpt.errors import InvalidTensorError, UnsupportedCheckpointError
from ckpt.format import storage
from ckpt.reader import load_checkpoint
from ckpt.writer import CheckpointWriter

__all__ = ["read", "write"]

# The serialized object graph of an object-based checkpoint: metadata of TF's object layer,
# meaningless once tensors are renamed or leave TF, so it is not converted.
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


def read(path: str) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(key, array)`` in index order; the checkpoint's object graph is skipped.

    Numeric tensors stored whole come as zero-copy views of the memory-mapped data, after their
    CRC32C is checked; sliced and string tensors are assembled into new arrays.
    """
    with load_checkpoint(path) as reader:
        for key in reader:
            if key == OBJECT_GRAPH_KEY:
                continue
            if reader.get_tensor_info(key).dtype is None:
                raise UnsupportedCheckpointError(
                    f"tensor {key!r} has dtype {reader.get_tensor_info(key).tf_dtype}, which has "
                    "no value outside TensorFlow",
                    path=reader.prefix,
                    key=key,
                )
            try:
                view = reader.get_view(key, verify=True)
            except InvalidTensorError:  # sliced, string or big-endian: needs a copy
                yield key, reader.get_tensor(key)
            else:
                yield key, view


def write(path: str, tensors: Iterable[tuple[str, np.ndarray]]) -> str:
    """Write a checkpoint at prefix ``path`` (a directory gets ``dir/ckpt`` and its state file).

    A path ending in ``/`` is a directory too, created if need be (else the files would be
    ``dir/.index``: hidden, and found by nothing). Streaming: each tensor is written to the
    data file as it comes, so memory holds one tensor.
    """
    directory = path if storage.isdir(path) or path.endswith(("/", os.sep)) else None
    prefix = storage.join(path, "ckpt") if directory is not None else path
    with CheckpointWriter(prefix) as writer:
        for name, array in tensors:
            writer.add(name, array)
    if directory is not None:
        update_checkpoint_state(directory, writer.prefix)
    return writer.prefix
