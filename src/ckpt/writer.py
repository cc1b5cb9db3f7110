"""Writing checkpoints TensorFlow can read: ``write_tensors`` and ``CheckpointWriter``.

Both write the data shards and the index under temporary names and rename them into place only
when complete, the index last, so a reader never sees a partial checkpoint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ckpt.format.bundle_writer import BundleWriter

__all__ = ["CheckpointWriter", "write_tensors"]


class CheckpointWriter(BundleWriter):
    """Writes a checkpoint one tensor or slice at a time, keeping memory bounded.

    Use it as a context manager: the checkpoint is committed on normal exit and discarded if
    the block raises::

        with ckpt.CheckpointWriter("out/model") as writer:
            writer.add("dense/kernel", kernel)
            writer.add_slice("emb", part0, full_shape=[10, 4], offset=[0, 0])
            writer.add_slice("emb", part1, full_shape=[10, 4], offset=[6, 0])

    Args:
        prefix: checkpoint prefix; writes ``prefix.index`` and ``prefix.data-NNNNN-of-NNNNN``.
        num_shards: number of data files. Tensors go to the emptiest shard unless
            :meth:`add` is given ``shard=``.
        sync: fsync files and the directory before the commit, for durability across a crash
            of the machine (not needed to protect against a crash of the process).
    """


def write_tensors(
    prefix: str | os.PathLike[str],
    tensors: Mapping[str, Any],
    *,
    num_shards: int = 1,
    sync: bool = False,
) -> str:
    """Write ``{name: array-like}`` as a TF checkpoint at ``prefix``; return the prefix.

    Data is laid out in the mapping's order, as TF lays out tensors in argument order.
    """
    with CheckpointWriter(os.fspath(prefix), num_shards=num_shards, sync=sync) as writer:
        for name, value in tensors.items():
            writer.add(name, value)
    return writer.prefix
