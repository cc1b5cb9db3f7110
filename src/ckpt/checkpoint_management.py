"""Finding checkpoints: the ``checkpoint`` state file and ``latest_checkpoint``, with TF's rules.

Paths in the state file are written relative to its directory by default, so a checkpoint
directory can be moved or copied and still resolve; absolute paths (as TF1's ``Saver`` writes)
are read as they are.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from google.protobuf import text_format

from ckpt.errors import CorruptCheckpointError, InvalidTensorError
from ckpt.format import naming, storage
from ckpt.format import state as state_format
from ckpt.format.state import CheckpointState

__all__ = [
    "CheckpointState",
    "checkpoint_exists",
    "get_checkpoint_state",
    "latest_checkpoint",
    "update_checkpoint_state",
]

_DEFAULT_STATE_FILE = "checkpoint"
_MAX_STATE_FILE_BYTES = 64 << 20  # a state file lists paths; anything larger is not one


def _state_path(directory: str, latest_filename: str | None) -> str:
    return storage.join(directory, latest_filename or _DEFAULT_STATE_FILE)


def get_checkpoint_state(
    checkpoint_dir: str | os.PathLike[str], latest_filename: str | None = None
) -> CheckpointState | None:
    """Read ``checkpoint_dir/checkpoint``; ``None`` if there is none.

    Relative paths in the file are joined with ``checkpoint_dir``, as TF does.

    Raises:
        CorruptCheckpointError: the file exists but is not a valid ``CheckpointState`` (TF logs
            a warning and returns ``None`` here; ckpt says so instead of hiding the damage).
    """
    directory = storage.normalize(checkpoint_dir)
    path = _state_path(directory, latest_filename)
    try:
        raw = storage.read_bytes(path, _MAX_STATE_FILE_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    if len(raw) > _MAX_STATE_FILE_BYTES:
        raise CorruptCheckpointError(
            f"{path} is too large to be a checkpoint state file", path=path
        )
    try:
        parsed = state_format.parse(raw.decode("utf-8"))
    except (text_format.ParseError, UnicodeDecodeError) as exc:
        raise CorruptCheckpointError(
            f"{path} is not a valid checkpoint state file: {exc}", path=path
        ) from None
    if not parsed.model_checkpoint_path:
        raise CorruptCheckpointError(f"Invalid checkpoint state loaded from {directory}", path=path)

    def resolve(p: str) -> str:
        if storage.is_url(p) or os.path.isabs(p):
            return p
        return storage.join(directory, p)

    parsed.model_checkpoint_path = resolve(parsed.model_checkpoint_path)
    parsed.all_model_checkpoint_paths = [resolve(p) for p in parsed.all_model_checkpoint_paths]
    return parsed


def update_checkpoint_state(
    save_dir: str | os.PathLike[str],
    model_checkpoint_path: str,
    all_model_checkpoint_paths: Sequence[str] | None = None,
    *,
    latest_filename: str | None = None,
    all_model_checkpoint_timestamps: Sequence[float] | None = None,
    last_preserved_timestamp: float | None = None,
    save_relative_paths: bool = True,
    sync: bool = False,
) -> str:
    """Write the state file atomically (temporary file, then rename); return its path.

    ``model_checkpoint_path`` is appended to ``all_model_checkpoint_paths`` if it is not already
    the last element. Paths inside ``save_dir`` are stored relative to it unless
    ``save_relative_paths`` is false. With ``sync``, the file and its directory are fsynced
    (local paths), so the new state survives a machine crash, not only a process crash.
    """
    directory = storage.normalize(save_dir)
    model_checkpoint_path = storage.normalize(model_checkpoint_path)
    paths = list(all_model_checkpoint_paths or [])
    if not paths or paths[-1] != model_checkpoint_path:
        paths.append(model_checkpoint_path)
    timestamps = list(all_model_checkpoint_timestamps or [])
    if timestamps and len(timestamps) != len(paths):
        raise InvalidTensorError(
            f"{len(timestamps)} timestamps given for {len(paths)} checkpoint paths"
        )
    path = _state_path(directory, latest_filename)
    remote = storage.is_url(directory)
    same = (
        path == model_checkpoint_path
        if remote
        else os.path.abspath(path) == os.path.abspath(model_checkpoint_path)
    )
    if same:
        raise InvalidTensorError(
            f"the checkpoint state file {path} would overwrite the checkpoint itself; "
            "use a different checkpoint prefix or latest_filename"
        )

    base = directory or "."

    def relative(p: str) -> str:
        if remote:
            # URLs inside the directory are stored relative to it, others as they are.
            inside = base.rstrip("/") + "/"
            return p[len(inside) :] if p.startswith(inside) else p
        # TF's generate_checkpoint_state_proto: with a relative save_dir, relative paths are
        # rewritten relative to it; update_checkpoint_state_internal then relativises absolute
        # paths when save_relative_paths is set.
        if not os.path.isabs(base) and not os.path.isabs(p):
            p = os.path.relpath(p, base)
        if save_relative_paths and os.path.isabs(p):
            p = os.path.relpath(p, base)
        return p

    text = state_format.serialize(
        CheckpointState(
            model_checkpoint_path=relative(model_checkpoint_path),
            all_model_checkpoint_paths=[relative(p) for p in paths],
            all_model_checkpoint_timestamps=timestamps,
            last_preserved_timestamp=last_preserved_timestamp or 0.0,
        )
    )
    if directory and not remote:
        os.makedirs(directory, exist_ok=True)
    storage.replace_atomically(path, text.encode("utf-8"), sync=sync)
    return path


def checkpoint_exists(prefix: str | os.PathLike[str]) -> bool:
    """Whether a V2 checkpoint (``prefix.index``) or a legacy V1 one exists at ``prefix``."""
    prefix = storage.normalize(prefix)
    return naming.is_v2(prefix) or bool(naming.v1_files(prefix))


def latest_checkpoint(
    checkpoint_dir: str | os.PathLike[str], latest_filename: str | None = None
) -> str | None:
    """The prefix of the newest checkpoint in ``checkpoint_dir``, or ``None``.

    As in TF, it is the state file's ``model_checkpoint_path`` if its files exist.
    """
    found = get_checkpoint_state(checkpoint_dir, latest_filename)
    if found is None:
        return None
    prefix = found.model_checkpoint_path
    return prefix if checkpoint_exists(prefix) else None
