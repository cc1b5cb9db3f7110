"""``ShardedVariable``: one process's piece of a tensor sharded across processes, as one node.

The piece is described explicitly, as ``(full_shape, offsets, local)``; ``local`` is a NumPy
array or a torch tensor (restored in place either way). In the object graph it is an ordinary
variable (``VARIABLE_VALUE``) whose value is a slice: saves store it as TF stores partitioned
tensors (full entry with every process's slice, one slice entry per piece), restores read only
this piece's region of whatever slices the checkpoint holds. :meth:`ShardedVariable.from_dtensor`
builds one from a torch ``DTensor`` (FSDP2 and tensor-parallel parameters).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ckpt.errors import DtypeMismatchError, InvalidTensorError, ShapeMismatchError
from ckpt.trackable.base import Trackable
from ckpt.trackable.partitioned import SaveSliceInfo
from ckpt.trackable.variables import VARIABLE_VALUE

__all__ = ["ShardedVariable"]


def _is_torch(value: Any) -> bool:
    return type(value).__module__.split(".")[0] == "torch"


class _ArrayValue:
    """A NumPy array saved and restored in place (the torch case uses the torch adapter)."""

    def __init__(self, array: np.ndarray, name: str) -> None:
        self.array = array
        self.name = name

    def _serialize_to_tensors(self) -> Mapping[str, Any]:
        return {VARIABLE_VALUE: self.array}

    def _restore_targets(self) -> Mapping[str, np.ndarray | None]:
        writable = self.array.flags.writeable and self.array.dtype != object
        return {VARIABLE_VALUE: self.array if writable else None}

    def _restore_from_tensors(self, tensors: Mapping[str, Any]) -> None:
        value = np.asarray(tensors[VARIABLE_VALUE])
        if value is self.array:
            return
        if value.shape != self.array.shape:
            raise ShapeMismatchError(
                f"cannot restore a piece of shape {value.shape} into {self.name!r} of local "
                f"shape {self.array.shape}",
                key=self.name,
            )
        if value.dtype != self.array.dtype:
            raise DtypeMismatchError(
                f"cannot restore a {value.dtype} value into {self.name!r} of dtype "
                f"{self.array.dtype}",
                key=self.name,
            )
        self.array[...] = value


class ShardedVariable(Trackable):
    """This process's piece of a larger tensor, saved as a slice and restored by region.

    Args:
        local: the piece this process holds (NumPy array or torch tensor, any device).
        full_shape: the whole tensor's shape.
        offsets: where the piece starts in the whole tensor, one offset per axis.
        name: the whole tensor's name (the object graph's ``full_name``).
        replica_id: 0 for the copy that saves; processes holding the same piece as another
            (replicated along a mesh dimension) pass a nonzero id and write nothing.

    Example::

        # rank r of 4 holds rows [25r, 25r + 25) of a (100, 8) embedding
        emb = ShardedVariable(local_rows, full_shape=(100, 8), offsets=(25 * r, 0), name="emb")
        checkpoint = ckpt.Checkpoint(model=model, emb=emb)
    """

    def __init__(
        self,
        local: Any,
        *,
        full_shape: Sequence[int],
        offsets: Sequence[int],
        name: str = "Variable",
        replica_id: int = 0,
    ) -> None:
        if _is_torch(local):
            from ckpt.torch.variables import TensorVariable

            self._value: Any = TensorVariable(local, name=name)
        elif isinstance(local, np.ndarray):
            self._value = _ArrayValue(local, name)
        else:
            raise InvalidTensorError(
                f"ShardedVariable {name!r}: local must be a NumPy array or a torch tensor, got "
                f"{type(local).__name__}",
                key=name,
            )
        self._local = local
        self._name = name
        self.replica_id = int(replica_id)
        self.info = SaveSliceInfo(name, tuple(full_shape), tuple(offsets), tuple(local.shape))

    @classmethod
    def from_dtensor(cls, dtensor: Any, *, name: str = "Variable") -> ShardedVariable:
        """The piece of a ``torch.distributed.tensor.DTensor`` this process holds.

        Offsets come from its mesh and placements; along a ``Replicate`` mesh dimension only
        coordinate 0 saves. ``Partial`` placements (pending reductions) cannot be saved.
        """
        import torch
        from torch.distributed.tensor import Replicate, Shard
        from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

        mesh, placements = dtensor.device_mesh, tuple(dtensor.placements)
        for p in placements:
            if not isinstance(p, (Shard, Replicate)):
                raise InvalidTensorError(
                    f"DTensor {name!r} has placement {p}; reduce it (redistribute to "
                    "Shard/Replicate) before saving",
                    key=name,
                )
        shape, offsets = compute_local_shape_and_global_offset(dtensor.shape, mesh, placements)
        coordinate = mesh.get_coordinate() or []
        replica = any(
            isinstance(p, Replicate) and c != 0
            for p, c in zip(placements, coordinate, strict=False)
        )
        with torch.no_grad():
            local = dtensor.to_local()
        if tuple(local.shape) != tuple(shape):
            raise InvalidTensorError(
                f"DTensor {name!r}: local shape {tuple(local.shape)} != expected {tuple(shape)}",
                key=name,
            )
        return cls(
            local,
            full_shape=tuple(dtensor.shape),
            offsets=tuple(offsets),
            name=name,
            replica_id=int(replica),
        )

    @property
    def name(self) -> str:
        return self._name

    @property
    def local(self) -> Any:
        """The piece (the array or tensor given)."""
        return self._local

    @property
    def full_shape(self) -> tuple[int, ...]:
        return self.info.full_shape

    @property
    def offsets(self) -> tuple[int, ...]:
        return self.info.var_offset

    @property
    def _checkpoint_full_name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return (
            f"<ckpt.distributed.ShardedVariable {self._name!r} piece {list(self.info.var_shape)}"
            f" at {list(self.offsets)} of {list(self.full_shape)}>"
        )

    # --- the trackable protocol ---

    def _serialize_to_tensors(self) -> Mapping[str, Any]:
        return dict(self._value._serialize_to_tensors())

    def _restore_targets(self) -> Mapping[str, Any]:
        return dict(self._value._restore_targets())

    def _restore_from_tensors(self, tensors: Mapping[str, Any]) -> None:
        self._value._restore_from_tensors(tensors)

    def _checkpoint_slices(self) -> Mapping[str, SaveSliceInfo]:
        return {VARIABLE_VALUE: self.info}
