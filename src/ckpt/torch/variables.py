"""Torch tensors (parameters, buffers, optimizer state) as checkpoint variables, restored in place.

A :class:`TensorVariable` saves its tensor as ``VARIABLE_VALUE``, exactly as ``ckpt.Variable``
does. Saving hands the writer a NumPy view of the tensor's memory (one host copy for a tensor
on a device); restoring hands the reader a writable view of the CPU tensor's own memory as the
target, so the checkpoint bytes land straight in the parameter and no second copy of the model
exists. Tensors on a device, or whose memory overlaps itself, are read into host memory one
at a time and copied over with ``Tensor.copy_`` (under ``torch.no_grad()``).

A lazy module's uninitialised parameter has no shape yet: a restore keeps its value pending
and applies it when the parameter is materialised (see :mod:`ckpt.torch.modules`). The other
tensors of a module that is still lazy wait too: materialising resets them (``LazyBatchNorm``
zeroes ``num_batches_tracked``), so their values are applied afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from ckpt.errors import DtypeMismatchError, InvalidTensorError, ShapeMismatchError
from ckpt.torch.dtypes import (
    from_numpy,
    has_lazy_tensors,
    host_array,
    host_view,
    is_lazy,
    non_overlapping,
)
from ckpt.torch.dtypes import numpy_dtype as _numpy_dtype
from ckpt.trackable.base import Trackable
from ckpt.trackable.variables import VARIABLE_VALUE

__all__ = ["TensorVariable"]


def _is_view_of(array: np.ndarray, tensor: torch.Tensor) -> bool:
    """Whether ``array`` is exactly the tensor's memory (a restore already read into it)."""
    if tensor.device.type != "cpu" or array.shape != tuple(tensor.shape):
        return False
    itemsize = tensor.element_size()
    return (
        array.__array_interface__["data"][0] == tensor.data_ptr()
        and array.strides == tuple(s * itemsize for s in tensor.stride())
        and array.itemsize == itemsize
    )


class TensorVariable(Trackable):
    """A torch tensor as a checkpoint variable (``VARIABLE_VALUE``), restored in place.

    Args:
        tensor: the tensor (an ``nn.Parameter``, a buffer, any tensor, on any device).
        name: its name with ``/`` separators (``encoder/layer/0/weight``), saved as the object
            graph's ``full_name``; TF's default is ``"Variable"``.

    Nodes are made by :func:`ckpt.torch.adapt`, one per tensor (see :mod:`ckpt.torch.cache`).
    """

    # A ckpt.Module attribute keeps the torch object; this node is tracked beside it.
    _ckpt_restores_in_place = True


    def __init__(self, tensor: torch.Tensor, *, name: str = "Variable") -> None:
        self._ckpt_target = tensor
        self._name = name
        self._pending: np.ndarray | None = None  # a restored value awaiting materialisation
        # The module owning the tensor while that module has uninitialised tensors.
        self._lazy_owner: Callable[[], Any] | None = None

    def _current(self) -> torch.Tensor:
        return self._ckpt_target

    def _require_storage(self, tensor: torch.Tensor, doing: str) -> None:
        """Raise for a tensor on the ``meta`` device: it has no memory to save or restore."""
        if tensor.is_meta:
            raise InvalidTensorError(
                f"cannot {doing} {self._name!r}: it is on the 'meta' device and has no data. "
                "Materialise the model first, e.g. model.to_empty(device='cpu'), then restore",
                key=self._name,
            )

    def _waiting(self, tensor: torch.Tensor) -> bool:
        """Whether a restored value must wait: the tensor, or its module, is not materialised."""
        if is_lazy(tensor):
            return True
        if self._lazy_owner is None:
            return False
        owner = self._lazy_owner()
        if owner is not None and has_lazy_tensors(owner):
            return True
        self._lazy_owner = None
        return False

    @property
    def tensor(self) -> torch.Tensor:
        """The tensor; a value restored before it was materialised is applied first."""
        tensor = self._current()
        if self._pending is not None and not self._waiting(tensor):
            self._settle(tensor)
        return tensor

    @property
    def _ckpt_restore_pending(self) -> bool:
        """Whether a restored value still waits for the tensor to be materialised."""
        self.tensor  # noqa: B018 - settles the value if the tensor has materialised since
        return self._pending is not None

    @property
    def name(self) -> str:
        return self._name

    @property
    def _checkpoint_full_name(self) -> str:
        return self._name

    @property
    def shape(self) -> tuple[int, ...]:
        tensor = self.tensor
        if self._pending is not None:
            return tuple(self._pending.shape)
        if is_lazy(tensor):
            # AttributeError, as for any attribute an object does not have (yet): hasattr()
            # is False, so name-based tools pass over a lazy parameter instead of failing.
            raise AttributeError(
                f"{self._name!r} is an uninitialised (lazy) parameter and has no shape yet; "
                "run a forward pass to materialise it"
            )
        return tuple(tensor.shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        return _numpy_dtype(self.tensor.dtype, key=self._name)

    def numpy(self) -> np.ndarray:
        """The value in host memory: a view of a CPU tensor's memory, else a copy."""
        tensor = self.tensor
        if self._pending is not None:
            return self._pending
        if is_lazy(tensor):
            raise InvalidTensorError(
                f"{self._name!r} is an uninitialised (lazy) parameter and has no value yet",
                key=self._name,
            )
        self._require_storage(tensor, "save")
        return host_array(tensor, key=self._name)

    def __repr__(self) -> str:
        tensor = self._current()
        return f"<ckpt.torch.TensorVariable {self._name!r} {tensor.dtype} on {tensor.device}>"

    # --- the trackable protocol ---

    def _serialize_to_tensors(self) -> Mapping[str, Any]:
        return {VARIABLE_VALUE: self.numpy()}

    def _restore_targets(self) -> Mapping[str, np.ndarray | None]:
        tensor = self.tensor
        self._require_storage(tensor, "restore")
        if (
            self._waiting(tensor)
            or tensor.device.type != "cpu"
            or tensor.layout is not torch.strided
            or not non_overlapping(tensor)
        ):
            return {VARIABLE_VALUE: None}
        # The reader writes into this view: the checkpoint's bytes go straight to the tensor.
        return {VARIABLE_VALUE: host_view(tensor, key=self._name)}

    def _restore_from_tensors(self, tensors: Mapping[str, Any]) -> None:
        value = np.asarray(tensors[VARIABLE_VALUE])
        tensor = self.tensor
        if self._waiting(tensor):
            self._check_dtype(value, tensor)
            self._pending = value  # applied by ``tensor`` once materialised
            return
        if _is_view_of(value, tensor):
            # Read in place through NumPy, behind autograd's back: bump the version counter
            # as an in-place op would, so a graph that saved the old value notices.
            torch.autograd.graph.increment_version(tensor)
            return
        self._assign(tensor, value)

    # --- assigning ---

    def _check_dtype(self, value: np.ndarray, tensor: torch.Tensor) -> None:
        expected = _numpy_dtype(tensor.dtype, key=self._name)
        if value.dtype != expected:
            raise DtypeMismatchError(
                f"cannot restore a {value.dtype} value into {self._name!r} of dtype "
                f"{tensor.dtype}",
                key=self._name,
            )

    def _assign(self, tensor: torch.Tensor, value: np.ndarray) -> None:
        """Copy ``value`` into ``tensor`` in place (to its device), after checking it fits."""
        if value.shape != tuple(tensor.shape):
            raise ShapeMismatchError(
                f"Received incompatible tensor with shape {value.shape} when attempting to "
                f"restore variable with shape {tuple(tensor.shape)} and name {self._name}",
                key=self._name,
            )
        self._check_dtype(value, tensor)
        if not non_overlapping(tensor):
            raise InvalidTensorError(
                f"cannot restore {self._name!r}: elements of the tensor share memory (an "
                "expanded tensor), so it cannot hold arbitrary values; restore into a tensor "
                "of its own (.clone())",
                key=self._name,
            )
        source = from_numpy(value, key=self._name)
        with torch.no_grad():
            tensor.copy_(source)

    def _settle(self, tensor: torch.Tensor) -> None:
        """Apply the value restored while ``tensor`` was uninitialised, now that it exists."""
        value, self._pending = self._pending, None
        assert value is not None
        self._assign(tensor, value)
