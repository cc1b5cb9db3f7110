"""``ckpt.Checkpoint``: TF's ``tf.train.Checkpoint`` — a root object with named dependencies.

``save`` numbers checkpoints with a ``save_counter`` dependency and updates the ``checkpoint``
state file; ``write`` writes exactly the prefix it is given; ``restore``/``read`` match values
to the dependencies by name and return a status.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ckpt.checkpoint.async_save import AsyncSaver
from ckpt.checkpoint.saver import CheckpointableSaver, CheckpointOptions, Status
from ckpt.checkpoint_management import update_checkpoint_state
from ckpt.errors import InvalidTensorError
from ckpt.format import storage
from ckpt.trackable.base import Trackable, children_of, is_trackable, tensors_of
from ckpt.trackable.containers import wrap
from ckpt.trackable.module import AutoTrackable
from ckpt.trackable.variables import Variable

if TYPE_CHECKING:
    from ckpt.checkpoint.restore import CheckpointPosition

__all__ = ["Checkpoint"]

_SAVE_COUNTER = "save_counter"


class Checkpoint(AutoTrackable):
    """Groups trackable objects under names and saves/restores them together.

    Args:
        root: optional root object whose dependencies become the checkpoint's (TF's ``root=``).
        **dependencies: trackable objects by name, e.g. ``model=net, optimizer=opt``.

    Example::

        ckpt_obj = ckpt.Checkpoint(model=net, optimizer=opt)
        path = ckpt_obj.save("runs/exp/ckpt")          # runs/exp/ckpt-1
        ckpt_obj.restore(path).assert_consumed()
    """

    _ckpt_saver: CheckpointableSaver
    _ckpt_root: Any
    _ckpt_keyword_names: list[str]
    _ckpt_async: AsyncSaver | None

    def __init__(self, root: Any = None, **dependencies: Any) -> None:
        object.__setattr__(self, "_ckpt_saver", CheckpointableSaver(self))
        object.__setattr__(self, "_ckpt_async", None)
        object.__setattr__(self, "_ckpt_root", wrap(root) if root is not None else None)
        # TF sorts the keyword dependencies by name (and lists ``root`` among them).
        names = sorted([*dependencies, *(["root"] if root is not None else [])])
        object.__setattr__(self, "_ckpt_keyword_names", names)
        for name in names:
            if name == "root":
                continue
            value = wrap(dependencies[name])
            if not is_trackable(value):
                raise InvalidTensorError(
                    f"Checkpoint(...) got {name}={value!r}, which is not trackable: pass a "
                    "ckpt.Variable, ckpt.Module, ckpt.PythonState, a list or dict of them, or "
                    "another trackable object"
                )
            setattr(self, name, value)

    def _trackable_children(self) -> dict[str, Any]:
        """TF's order: the root's own children, the sorted keywords, then the rest."""
        own = dict(super()._trackable_children())
        children: dict[str, Any] = {}
        if self._ckpt_root is not None:
            children.update(children_of(self._ckpt_root))
        for name in self._ckpt_keyword_names:
            if name == "root":
                children["root"] = self  # TF's edge from the root node to itself
            elif name in own:
                children[name] = own.pop(name)
        children.update(own)
        return children

    @property
    def _checkpoint_full_name(self) -> str:
        root = self._ckpt_root
        return root.name if isinstance(root, Variable) else ""

    # With ``root=``, the root's own tensors and parked restorations are the checkpoint's.

    def _serialize_to_tensors(self) -> Mapping[str, Any]:
        return tensors_of(self._ckpt_root) if self._ckpt_root is not None else {}

    def _restore_targets(self) -> Mapping[str, Any]:
        method = getattr(self._ckpt_root, "_restore_targets", None)
        if method is not None:
            return dict(method())
        return {name: None for name in self._serialize_to_tensors()}

    def _restore_from_tensors(self, tensors: Mapping[str, Any]) -> None:
        if tensors:
            self._ckpt_root._restore_from_tensors(tensors)

    def _defer(self, name: str, position: CheckpointPosition) -> None:
        root = self._ckpt_root
        if isinstance(root, Trackable) and name not in vars(self):
            root._defer(name, position)
        else:
            super()._defer(name, position)

    def _lookup_dependency(self, name: str) -> Any:
        if self._ckpt_root is None:
            return super()._lookup_dependency(name)
        return self._trackable_children().get(name)

    @property
    def save_counter(self) -> Variable:
        """An int64 scalar counting ``save`` calls, created on first use (restored by restore)."""
        counter = self.__dict__.get(_SAVE_COUNTER)
        if counter is None:
            counter = Variable(np.int64(0), name=_SAVE_COUNTER)
            # Stored as a plain dependency (the property only reads it), after the others.
            self.__dict__[_SAVE_COUNTER] = counter
            self._track(_SAVE_COUNTER, counter)
        return counter

    def sync(self) -> None:
        """Wait until a pending asynchronous save is written (and its state file updated).

        Returns at once when there is none (every synchronous save is complete on return).

        Raises:
            CheckpointError: the pending (or an earlier, unreported) asynchronous save failed;
                the original exception is its ``__cause__``.
        """
        if self._ckpt_async is not None:
            self._ckpt_async.wait()

    def _save_async(
        self, prefix: str, options: CheckpointOptions, after: Callable[[str], None] | None
    ) -> str:
        """Snapshot the values now; write them, then call ``after(prefix)``, in the background."""
        saver = self._ckpt_async
        if saver is None:
            saver = AsyncSaver()
            object.__setattr__(self, "_ckpt_async", saver)
        saver.wait()
        snapshot = self._ckpt_saver._snapshot()

        def job() -> None:
            snapshot.write(prefix, options)
            if after is not None:
                after(prefix)

        saver.submit(prefix, job)
        return prefix

    def write(
        self, file_prefix: str | os.PathLike[str], *, options: CheckpointOptions | None = None
    ) -> str:
        """Write exactly ``file_prefix``: no counter increment, no state file. Returns it.

        With ``CheckpointOptions(enable_async=True)`` the values are copied before this returns
        and written in the background (see :meth:`sync`).
        """
        self.sync()
        if options is not None and options.enable_async:
            return self._save_async(os.fspath(file_prefix), options, None)
        return self._ckpt_saver.save(file_prefix, options=options)

    def save(
        self, file_prefix: str | os.PathLike[str], *, options: CheckpointOptions | None = None
    ) -> str:
        """Increment ``save_counter``, write ``file_prefix-<counter>``, update the state file.

        Returns the checkpoint's prefix (e.g. ``runs/exp/ckpt-3``). With
        ``CheckpointOptions(enable_async=True)`` the values are copied before this returns;
        the checkpoint and then the state file are written in the background (see :meth:`sync`).
        """
        self.sync()
        counter = self.save_counter
        counter.assign(counter.numpy() + 1)
        prefix = f"{storage.normalize(file_prefix)}-{int(counter.numpy())}"
        if options is not None and options.enable_async:
            return self._save_async(prefix, options, _record_state)
        path = self._ckpt_saver.save(prefix, options=options)
        _record_state(path)
        return path

    def read(
        self, save_path: str | os.PathLike[str] | None, *, options: CheckpointOptions | None = None
    ) -> Status:
        """Restore from ``save_path`` (no ``save_counter`` handling); return the status."""
        self.sync()
        return self._ckpt_saver.restore(save_path, options=options)

    def restore(
        self, save_path: str | os.PathLike[str] | None, *, options: CheckpointOptions | None = None
    ) -> Status:
        """Restore from ``save_path`` (a prefix, or a directory: its latest); return the status.

        ``save_counter`` is created first, so it is restored too when the checkpoint has one.
        ``None`` restores nothing and returns a status whose assertions all fail.
        """
        self.sync()
        if save_path is None:
            return self._ckpt_saver.restore(None)
        # Created first so it is matched like any dependency; optional for name-based restores.
        return self._ckpt_saver._restore(save_path, options, optional=(self.save_counter,))

    def __repr__(self) -> str:
        names = ", ".join(self._trackable_children())
        return f"<ckpt.Checkpoint {names}>"


def _record_state(path: str) -> None:
    """``Checkpoint.save``'s state file update: the new checkpoint is the only one listed."""
    directory = storage.dirname(path) or "."
    update_checkpoint_state(directory, path, [path])
