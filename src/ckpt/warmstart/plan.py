"""What a warm start does: each checkpoint tensor -> target assignment, and what is left over."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ckpt.warmstart.targets import Target
from ckpt.warmstart.transforms import Transform, chain_output, describe_chain

__all__ = ["Assignment", "WarmStartPlan"]

Bounds = tuple[tuple[int, int], ...]


@dataclass(frozen=True, eq=False)
class Assignment:
    """One variable (or one part of a partitioned variable) filled from one checkpoint tensor.

    Attributes:
        checkpoint_key: the tensor's key in the checkpoint.
        target_name: the variable's name (its path from ``root``, or its own name).
        shape: the variable's shape.
        dtype: the variable's dtype.
        stored_shape: the checkpoint tensor's full shape.
        stored_dtype: the checkpoint tensor's dtype.
        region: for a part of a partitioned variable, its ``(start, stop)`` per axis of the
            (transformed) full tensor; ``None`` for the whole tensor.
        transforms: the transforms applied to the checkpoint value, in order.
        read_bytes: bytes of the data files this assignment reads: the stored pieces its
            region touches, whole when verifying (their CRC32C covers all of them).
        source: the region of the checkpoint tensor read, ``(start, stop)`` per axis, or
            ``None`` when the transforms need the whole tensor.
    """

    checkpoint_key: str
    target_name: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    stored_shape: tuple[int, ...]
    stored_dtype: np.dtype[Any] | None
    region: Bounds | None
    transforms: tuple[Transform, ...]
    read_bytes: int
    source: Bounds | None
    target: Target = field(repr=False)

    @property
    def slice_spec(self) -> str:
        """The region as TF writes a slice (``"0,10:-"``), or ``""`` for the whole tensor."""
        if self.region is None:
            return ""
        parts = []
        for (start, stop), dim in zip(self.region, self.stored_shape_out, strict=False):
            parts.append("-" if (start, stop) == (0, dim) else f"{start},{stop - start}")
        return ":".join(parts)

    @property
    def stored_shape_out(self) -> tuple[int, ...]:
        """The full tensor's shape after the transforms (what ``region`` indexes)."""
        shape, _ = chain_output(self.transforms, self.stored_shape, np.dtype(np.float32))
        return shape if shape is not None else self.stored_shape


@dataclass
class WarmStartPlan:
    """The result of :func:`ckpt.init_from_checkpoint`: what was (or, with ``dry_run``, would
    be) assigned, and what was left unmatched on either side. ``str(plan)`` is a table."""

    checkpoint: str
    assignments: list[Assignment]
    unmatched_checkpoint: list[str]
    unmatched_targets: list[str]
    executed: bool = False

    @property
    def read_bytes(self) -> int:
        """Bytes of tensor data the assignments read."""
        return sum(a.read_bytes for a in self.assignments)

    def table(self) -> str:
        """The plan as an aligned text table, then the unmatched names."""
        header = ("checkpoint tensor", "target", "shape", "dtype", "slice", "transform")
        rows = [header]
        for a in self.assignments:
            stored = "x".join(str(d) for d in a.stored_shape) or "scalar"
            shape = "x".join(str(d) for d in a.shape) or "scalar"
            dtype = str(a.dtype)
            if a.stored_dtype is not None and a.stored_dtype != a.dtype:
                dtype = f"{a.stored_dtype}->{a.dtype}"
            rows.append(
                (
                    a.checkpoint_key,
                    a.target_name,
                    shape if shape == stored else f"{stored}->{shape}",
                    dtype,
                    a.slice_spec or "-",
                    describe_chain(a.transforms) or "-",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows
        ]
        lines.insert(1, "  ".join("-" * width for width in widths))
        verb = "assigned" if self.executed else "to assign"
        lines.append(
            f"{len(self.assignments)} {verb} from {self.checkpoint}, "
            f"{_human(self.read_bytes)} to read"
        )
        for title, names in (
            ("checkpoint tensors not used", self.unmatched_checkpoint),
            ("variables not assigned", self.unmatched_targets),
        ):
            if names:
                lines.append(f"{title} ({len(names)}):")
                lines.extend(f"  {name}" for name in names)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
