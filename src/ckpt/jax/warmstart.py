"""Warm-starting a pytree from another checkpoint by name, as TF's ``init_from_checkpoint``.

The core :func:`ckpt.init_from_checkpoint` assigns checkpoint values (renamed through an
assignment map, transposed, reshaped, cast or sliced) to variables in place. Pytrees are
immutable, so :func:`init_from_checkpoint` adapts the target tree, lets the core assign its
leaves, and returns the tree rebuilt from them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from ckpt.jax.adapter import build
from ckpt.jax.nodes import current_value
from ckpt.trackable.base import is_trackable
from ckpt.warmstart.apply import init_from_checkpoint as init_variables
from ckpt.warmstart.transforms import TransformLike

__all__ = ["init_from_checkpoint"]


def init_from_checkpoint(
    ckpt_dir_or_file: str | os.PathLike[str],
    assignment_map: Mapping[Any, Any] | Sequence[tuple[Any, Any]],
    target: Any,
    *,
    transforms: Mapping[Any, TransformLike] | None = None,
) -> Any:
    """A new ``target`` tree whose leaves named in ``assignment_map`` hold checkpoint values.

    Args:
        ckpt_dir_or_file: a checkpoint prefix, or a directory (its latest checkpoint).
        assignment_map: checkpoint names (or scopes, or ``*``/``**`` globs) to names in
            ``target``, as :func:`ckpt.init_from_checkpoint` takes them. A leaf of
            ``target`` is named by its key path (``params/dense/kernel`` for a Flax Linen
            variable dict; ``dense/kernel`` for an NNX ``State``, no ``value``).
        target: the pytree to start from: leaves not mapped keep their values; mapped ones
            get the checkpoint's (of the leaf's dtype, or made so by a ``Cast`` transform),
            placed with the leaf's sharding.
        transforms: per checkpoint name or glob, a ``ckpt.transforms`` transform (or a chain)
            applied to the value first, e.g. ``{"**/weight": ckpt.transforms.Transpose()}``
            for torch ``Linear`` weights going into Flax ``Dense`` kernels.

    Returns:
        The new tree (``target`` is not modified).

    Raises:
        The errors of :func:`ckpt.init_from_checkpoint` (``AssignmentMapError``,
        ``ShapeMismatchError``, ``DtypeMismatchError``); nothing is assigned then.

    Example::

        variables = ckpt.jax.init_from_checkpoint(
            "torch_run/ckpt-1",
            {"model/*/weight": "params/*/kernel", "model/*/bias": "params/*/bias"},
            flax_variables,
            transforms={"**/weight": ckpt.transforms.Transpose()},
        )
    """
    node = target if is_trackable(target) else build(target)
    init_variables(ckpt_dir_or_file, assignment_map, root=node, transforms=transforms)
    return current_value(node)
