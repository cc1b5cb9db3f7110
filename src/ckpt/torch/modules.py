"""``nn.Module`` as a checkpoint node: parameters, buffers and submodules by attribute name.

A module's dependencies are what its ``state_dict`` holds, named as torch names them: its
parameters, its persistent buffers, its extra state (``_extra_state``, if the module defines
``get_extra_state``) and its submodules (``Sequential``/``ModuleList`` children are ``"0"``,
``"1"``, ..., as TF names list elements). So ``encoder.layer.0.weight`` in a state dict is the
object path ``encoder/layer/0/weight``. Non-persistent buffers and ``None`` entries are left out;
a parameter tied into two modules is one node reached twice, so it is saved once.

Two torch hooks, installed only when needed, make deferred restoration work:

* a restore that finds no attribute for a name the checkpoint has parks the value (as for any
  :class:`~ckpt.Trackable`) and installs torch's global module/parameter/buffer *registration*
  hooks; when the attribute is assigned later, the hook hands the parked value to it before
  torch stores it (name-based warm starts waiting for new variables are told the same way);
* a lazy module's tensors (its uninitialised parameters, and the others, which materialising
  resets) keep restored values pending; a forward pre-hook, registered after the lazy module's
  own (which materialises the parameters), applies them before the first forward computes
  anything, then removes itself.

Meanwhile the module's node is kept in the module's ``__dict__`` (``_ckpt_node``), so this
state outlives the ``Checkpoint`` and status objects of the restore (see :class:`_Pin`).
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable, Iterator, Mapping
from itertools import chain
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ckpt.checkpoint import keys
from ckpt.torch.cache import existing_node, node_for
from ckpt.torch.dtypes import has_lazy_tensors
from ckpt.torch.state import ExtraState
from ckpt.torch.variables import TensorVariable
from ckpt.trackable.base import Trackable

if TYPE_CHECKING:
    from ckpt.checkpoint.restore import CheckpointPosition

__all__ = ["ModuleTrackable", "state_dict_names"]

EXTRA_STATE = "_extra_state"  # torch's state_dict key for get_extra_state()


def _has_extra_state(module: nn.Module) -> bool:
    return type(module).get_extra_state is not nn.Module.get_extra_state


def _entries(module: nn.Module) -> Iterator[tuple[str, Any]]:
    """``(name, tensor or module)`` of what the module's own ``state_dict`` level holds."""
    for name, param in module._parameters.items():
        if param is not None:
            yield name, param
    skip = module._non_persistent_buffers_set
    for name, buffer in module._buffers.items():
        if buffer is not None and name not in skip:
            yield name, buffer
    if _has_extra_state(module):
        yield EXTRA_STATE, EXTRA_STATE
    for name, child in module._modules.items():
        if child is not None:
            yield name, child


def _tensor_node(tensor: torch.Tensor, name: str) -> Any:
    """A parameter's or buffer's node: a sharded variable for a ``DTensor`` (each process
    saves and restores its own piece), else a :class:`TensorVariable`."""
    dtensor_module = sys.modules.get("torch.distributed.tensor")
    dtensor_type = getattr(dtensor_module, "DTensor", None)
    if dtensor_type is not None and isinstance(tensor, dtensor_type):
        from ckpt.distributed.sharded import ShardedVariable

        node = ShardedVariable.from_dtensor(tensor, name=name)
        node.__dict__["_ckpt_target"] = tensor  # the identity cache's key object
        return node
    return TensorVariable(tensor, name=name)


class ModuleTrackable(Trackable):
    """An ``nn.Module`` in the object graph (made by :func:`ckpt.torch.adapt`, one per module).

    Args:
        module: the module.
        prefix: the ``/``-joined path of the module inside the model it was first reached
            from (``"encoder/layer/0/"``), which names its variables.
    """

    # A ckpt.Module attribute keeps the torch object; this node is tracked beside it.
    _ckpt_restores_in_place = True


    def __init__(self, module: nn.Module, *, prefix: str = "") -> None:
        self._ckpt_target = module
        self._prefix = prefix
        self._children: dict[str, Any] = {}  # keeps the child nodes (and their identity) alive
        self._extra: ExtraState | None = None

    @property
    def module(self) -> nn.Module:
        return self._ckpt_target

    def __repr__(self) -> str:
        return f"<ckpt.torch.ModuleTrackable of {type(self.module).__name__}>"

    def _child(self, name: str, value: Any) -> Any:
        """The node of the parameter, buffer, submodule or extra state under ``name``."""
        node: Any
        if isinstance(value, torch.Tensor):
            node = node_for(value, lambda t: _tensor_node(t, self._prefix + name))
            if has_lazy_tensors(self.module):
                node._lazy_owner = weakref.ref(self.module)
                _watch_materialization(self.module)
                self._pin()  # keeps the pending values until the forward pre-hook applies them
        elif isinstance(value, nn.Module):
            node = node_for(value, lambda m: ModuleTrackable(m, prefix=f"{self._prefix}{name}/"))
        else:  # EXTRA_STATE
            if self._extra is None:
                self._extra = ExtraState(self.module)
            node = self._extra
        self._children[name] = node
        return node

    # --- the trackable protocol ---

    def _trackable_children(self) -> Mapping[str, Any]:
        children = {name: self._child(name, value) for name, value in _entries(self.module)}
        self._children = children
        return children

    def _lookup_dependency(self, name: str) -> Any:
        module = self.module
        value: Any = None
        if name in module._parameters:
            value = module._parameters[name]
        elif name in module._buffers and name not in module._non_persistent_buffers_set:
            value = module._buffers[name]
        elif name in module._modules:
            value = module._modules[name]
        elif name == EXTRA_STATE and _has_extra_state(module):
            value = EXTRA_STATE
        return None if value is None else self._child(name, value)

    def _defer(self, name: str, position: CheckpointPosition) -> None:
        super()._defer(name, position)
        _install_registration_hooks()
        self._pin()

    def _add_track_hook(self, hook: Callable[[Any, str, Any], None]) -> None:
        super()._add_track_hook(hook)
        _install_registration_hooks()
        self._pin()

    def _track(self, name: str, child: Any) -> None:
        super()._track(name, child)
        self._unpin_if_idle()

    def _wants(self, name: str) -> bool:
        """Whether adding dependency ``name`` must be reported to :meth:`_track`."""
        return name in self._deferred_names() or bool(self.__dict__.get("_ckpt_track_hooks"))

    # --- lifetime ---

    def _pin(self) -> None:
        """Live as long as the module while holding restore state (see :class:`_Pin`)."""
        pin = self.module.__dict__.get(_PIN)
        if not isinstance(pin, _Pin) or pin.node is not self:
            self.module.__dict__[_PIN] = _Pin(self)

    def _unpin_if_idle(self) -> None:
        """Drop the pin once nothing waits: no parked restore, no hook, no lazy tensor."""
        if self._deferred_names() or self.__dict__.get("_ckpt_track_hooks"):
            return
        if has_lazy_tensors(self.module):
            return
        pin = self.module.__dict__.get(_PIN)
        if isinstance(pin, _Pin) and pin.node is self:
            del self.module.__dict__[_PIN]


_PIN = "_ckpt_node"


class _Pin:
    """Keeps a module's node alive as long as the module, while the node holds restore state.

    Nodes live as long as something holds them (a ``Checkpoint``, a restore status); but a
    restoration parked for an attribute assigned later, a lazy parameter's pending value, or a
    warm start waiting for new variables must outlive a discarded ``Checkpoint``, as they would
    on a ``ckpt.Module`` (where they live on the object itself). So the node is put in the
    module's ``__dict__`` meanwhile (the reference cycle is collected with the module). Copies
    and pickles of the module do not carry it: they start without restore state.
    """

    __slots__ = ("node",)

    def __init__(self, node: ModuleTrackable) -> None:
        self.node = node

    def __deepcopy__(self, memo: dict[int, Any]) -> None:
        return None

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return (type(None), ())


# --- deferred restoration of attributes assigned after a restore ---------------------------

_registration_hooks: list[Any] = []


def _on_registration(module: nn.Module, name: str, value: Any) -> None:
    """Torch calls this before storing a new submodule/parameter/buffer ``name`` on ``module``."""
    node = existing_node(module)
    if not isinstance(node, ModuleTrackable) or value is None:
        return
    if node._wants(name):
        node._track(name, node._child(name, value))


def _install_registration_hooks() -> None:
    """Install torch's global registration hooks once per process (they cost a dict lookup)."""
    if _registration_hooks:
        return
    from torch.nn.modules import module as torch_module

    _registration_hooks.extend(
        [
            torch_module.register_module_module_registration_hook(_on_registration),
            torch_module.register_module_parameter_registration_hook(_on_registration),
            torch_module.register_module_buffer_registration_hook(_on_registration),
        ]
    )


# --- lazy modules ---------------------------------------------------------------------------

_watched: weakref.WeakKeyDictionary[nn.Module, Any] = weakref.WeakKeyDictionary()


def _watch_materialization(module: nn.Module) -> None:
    """Apply pending restored values when ``module``'s lazy tensors materialise (once)."""
    if module not in _watched:
        # Registered after the lazy module's own pre-hook, so it runs after materialisation.
        _watched[module] = module.register_forward_pre_hook(_settle_pending)


def _settle_pending(module: nn.Module, args: Any) -> None:
    if has_lazy_tensors(module):
        return
    for tensor in chain(module._parameters.values(), module._buffers.values()):
        node = existing_node(tensor) if tensor is not None else None
        if isinstance(node, TensorVariable):
            node.tensor  # noqa: B018 - applies a value restored before materialisation
    owner = existing_node(module)
    if isinstance(owner, ModuleTrackable):
        owner._unpin_if_idle()
    handle = _watched.pop(module, None)
    if handle is not None:
        handle.remove()


# --- names ----------------------------------------------------------------------------------


def state_dict_names(module: nn.Module) -> dict[str, str]:
    """Map each ``state_dict`` key of ``module`` to its object path in a checkpoint.

    ``{"encoder.layer.0.weight": "encoder/layer/0/weight", ...}``: the path of the variable
    below the module's own node (``ckpt.Checkpoint(model=module)`` puts it under
    ``model/``, and its value at ``<path>/.ATTRIBUTES/VARIABLE_VALUE``), and the name
    ``init_from_checkpoint`` and the warm-start tools use with the module as ``root``. A
    tied parameter is listed under each of its names, as in the state dict; the checkpoint
    stores it once, under its first (breadth-first) path.
    """
    names: dict[str, str] = {}

    def walk(mod: nn.Module, dotted: str, path: str) -> None:
        for name, value in _entries(mod):
            child_path = keys.join_path(path, name)
            if isinstance(value, nn.Module):
                walk(value, f"{dotted}{name}.", child_path)
            else:
                names[f"{dotted}{name}"] = child_path

    walk(module, "", "")
    return names
