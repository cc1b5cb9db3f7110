"""``ckpt.init_from_checkpoint``: warm-start variables from a checkpoint by name, reading only
what it assigns."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ckpt.errors import DtypeMismatchError, ShapeMismatchError
from ckpt.reader import CheckpointReader
from ckpt.warmstart.assignment import CheckpointNames, plan_assignments
from ckpt.warmstart.plan import Assignment, WarmStartPlan
from ckpt.warmstart.targets import namespace_of
from ckpt.warmstart.transforms import TransformLike

__all__ = ["execute", "init_from_checkpoint"]


def init_from_checkpoint(
    ckpt_dir_or_file: str | os.PathLike[str],
    assignment_map: Mapping[Any, Any] | Sequence[tuple[Any, Any]],
    *,
    root: Any = None,
    transforms: Mapping[Any, TransformLike] | None = None,
    dry_run: bool = False,
    verify: bool = True,
) -> WarmStartPlan:
    """Initialise variables from a checkpoint by name, with TF's assignment-map rules.

    Args:
        ckpt_dir_or_file: a checkpoint prefix, or a directory (its latest checkpoint). TF1
            name-based, TF2 object-based (``model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE`` is
            also ``model/dense/kernel``) and ckpt's own checkpoints all work.
        assignment_map: a dict, or a list of ``(checkpoint_name, target)`` pairs (to load one
            tensor into several variables). Processed in sorted order of checkpoint name:

            * ``'old/w': var`` — a variable (``ckpt.Variable``, a torch parameter, …);
            * ``'old/w': [part0, part1]`` (or a :class:`ckpt.PartitionedVariable`) — parts of
              a partitioned variable, each filled with its slice (from ``save_slice_info``, or
              the one axis their shapes split);
            * ``'old/w': 'new/w'`` — a name under ``root``, or a partitioned one whose parts
              are ``new/w/part_0``, ``new/w/part_1``, …;
            * ``'old/': 'new/'`` — every variable under ``new/`` from the same name under
              ``old/``; ``'/': 'sub/'`` loads ``sub/x`` from the checkpoint's ``x``;
              ``'old/': '/'`` loads every variable ``v`` from ``old/v``;
            * ``'enc/*/kernel': 'encoder/*/w'`` — glob: ``*`` is one name component,
              ``**`` any number; ``re.compile(r'bert/(.*)'): r'enc/\\1'`` — regex.
        root: where names resolve: a :class:`ckpt.Module` or any trackable object (names are
            paths from it, without its own name: ``dense/kernel``), a torch ``nn.Module``
            (``encoder.layer.0.weight`` is ``encoder/layer/0/weight``), or a mapping of
            names to variables. ``None``: only variable targets.
        transforms: checkpoint name or glob -> transform(s) applied to that tensor before it is
            assigned: ``ckpt.transforms.Transpose()``, ``Reshape``, ``Cast``, ``Slice``, a
            list of them, or a function ``array -> array``.
        dry_run: only check and return the plan; assign nothing.
        verify: check the CRC32C of what is read. A region of a stored piece (a part, a
            ``Slice``) then reads the whole piece, which its checksum covers; ``False`` reads
            the region's bytes only, unverified.

    Returns:
        The :class:`~ckpt.WarmStartPlan`: each assignment and the names left unmatched on
        either side; ``print(plan)`` shows it as a table.

    Raises:
        ckpt.errors.AssignmentMapError: a tensor not in the checkpoint, a target that
            resolves to nothing, a scope rule broken, parts of different tensors.
        ckpt.errors.ShapeMismatchError, ckpt.errors.DtypeMismatchError: a value that does not
            fit its variable. Every check runs before anything is assigned (a function
            transform's result is checked when it is applied).

    Unlike TF, which assigns when the variables' initializers run, values are assigned now,
    reading only the stored tensors (or stored slices) each variable or part needs, without
    readahead around them; ``plan.read_bytes`` says how many bytes that is.
    """
    reader = CheckpointReader(ckpt_dir_or_file, verify=verify, readahead=False)
    try:
        label = os.fspath(ckpt_dir_or_file)
        names = CheckpointNames(reader)
        namespace = namespace_of(root)
        assignments = plan_assignments(names, assignment_map, namespace, transforms, label)
        used = {a.checkpoint_key for a in assignments}
        assigned = {id(a.target.obj) for a in assignments}
        plan = WarmStartPlan(
            checkpoint=reader.prefix,
            assignments=assignments,
            unmatched_checkpoint=[
                n for n in names.names if (names.key_of(n) or n) not in used
            ],
            unmatched_targets=[
                name
                for name, target in namespace.items()
                if id(target.obj) not in assigned and target.alias_of is None
            ],
        )
        if not dry_run:
            execute(reader, assignments)
            plan.executed = True
        return plan
    finally:
        reader.close()


def execute(reader: CheckpointReader, assignments: Sequence[Assignment]) -> None:
    """Read and assign each planned value, straight into the variable where possible."""
    for assignment in assignments:
        assignment.target.assign(_value_for(reader, assignment))


def _value_for(reader: CheckpointReader, a: Assignment) -> np.ndarray:
    target = a.target
    buffer = target.buffer()
    if a.region is None and not a.transforms and buffer is not None and a.stored_dtype == a.dtype:
        return reader.get_tensor(a.checkpoint_key, out=buffer)
    value = _read(reader, a)
    if value.shape != a.shape:
        raise ShapeMismatchError(
            f"tensor {a.checkpoint_key} after transforms has shape {list(value.shape)}, "
            f"variable {a.target_name} has {list(a.shape)}",
            key=a.target_name,
            checkpoint_key=a.checkpoint_key,
        )
    if value.dtype != a.dtype:
        raise DtypeMismatchError(
            f"tensor {a.checkpoint_key} after transforms is {value.dtype}, variable "
            f"{a.target_name} is {a.dtype}; add ckpt.transforms.Cast",
            key=a.target_name,
            checkpoint_key=a.checkpoint_key,
        )
    if buffer is not None:
        buffer[...] = value
        return buffer
    return np.ascontiguousarray(value)


def _read(reader: CheckpointReader, a: Assignment) -> np.ndarray:
    """The assignment's value: only the region it needs when the transforms allow."""
    whole = tuple((0, d) for d in a.stored_shape)
    if a.source is not None and a.source != whole:
        value = reader.get_slice(a.checkpoint_key, tuple(slice(lo, hi) for lo, hi in a.source))
        for transform in a.transforms:
            value = transform.on_region(value)
        return value
    value = reader.get_tensor(a.checkpoint_key)
    for transform in a.transforms:
        value = transform.apply(value)
    if a.region is not None:
        value = value[tuple(slice(lo, hi) for lo, hi in a.region)]
    return value
