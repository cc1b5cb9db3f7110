"""The one exception tree of ckpt: every error the library raises on purpose lives here.

All errors derive from :class:`CheckpointError`; each leaf also derives from the built-in
exception a caller would naturally catch (``FileNotFoundError``, ``KeyError``, ``ValueError``,
``TypeError``), so ``except ValueError`` keeps working for code that does not know ckpt.
Errors carry the ``path`` and ``key`` involved, and their message says what to do about it.
"""

from __future__ import annotations

__all__ = [
    "AssignmentMapError",
    "CheckpointAssertionError",
    "CheckpointError",
    "CheckpointLockedError",
    "CheckpointNotFoundError",
    "ChecksumMismatchError",
    "CorruptCheckpointError",
    "DistributedCheckpointError",
    "DtypeMismatchError",
    "InvalidTensorError",
    "ShapeMismatchError",
    "TensorNotFoundError",
    "UnsupportedCheckpointError",
    "ValueMismatchError",
]


class CheckpointError(Exception):
    """Root of every error raised by ckpt.

    Attributes:
        path: the file or checkpoint prefix involved, if any.
        key: the tensor key involved, if any.
    """

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.key = key

    def __str__(self) -> str:
        # KeyError would otherwise repr() the message; every ckpt error prints plainly.
        return self.message


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint (its ``.index`` file, a data shard, or a directory's latest) is missing."""


class CheckpointLockedError(CheckpointError, RuntimeError):
    """Another :class:`~ckpt.CheckpointManager` holds the directory's lock file.

    ``path`` is the lock file; ``owner`` is what it says about its holder (pid, hostname).
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        key: str | None = None,
        owner: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message, path=path, key=key)
        self.owner = owner or {}


class DistributedCheckpointError(CheckpointError, RuntimeError):
    """A distributed save or restore failed on some rank (or a rank died); nothing committed.

    ``failures`` maps each failed rank to its message (empty when a collective itself failed).
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        key: str | None = None,
        failures: dict[int, str] | None = None,
    ) -> None:
        super().__init__(message, path=path, key=key)
        self.failures = failures or {}
        self.reported = failures is not None  # False: a collective failed (a rank died?)


class TensorNotFoundError(CheckpointError, KeyError):
    """A key that was asked for is not in the checkpoint."""


class CorruptCheckpointError(CheckpointError, ValueError):
    """The checkpoint's bytes are damaged: bad magic, truncation, impossible sizes or shapes."""


class ChecksumMismatchError(CorruptCheckpointError):
    """A stored CRC32C does not match the bytes read (a block of the index or a tensor)."""


class UnsupportedCheckpointError(CheckpointError, ValueError):
    """A valid checkpoint that ckpt cannot read: the V1 format, or a dtype it does not handle."""


class InvalidTensorError(CheckpointError, ValueError):
    """A value given to a writer cannot be stored: unsupported dtype, duplicate key, bad slice."""


class AssignmentMapError(CheckpointError, ValueError):
    """A warm start's assignment map cannot be applied: a tensor it names is not in the
    checkpoint, a target resolves to nothing, a scope rule is broken, or parts come from
    different tensors. Raised before any value is assigned."""


class ValueMismatchError(CheckpointError, ValueError):
    """A checkpointed value does not fit the object it is restored into.

    ``key`` names the object, ``checkpoint_key`` the tensor in the checkpoint; when a restore
    raises it, ``mismatches`` lists every value that did not fit (none was assigned).
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        key: str | None = None,
        checkpoint_key: str | None = None,
    ) -> None:
        super().__init__(message, path=path, key=key)
        self.checkpoint_key = checkpoint_key
        self.mismatches: list[object] = []


class ShapeMismatchError(ValueMismatchError):
    """A checkpointed value's shape differs from the object's."""


class DtypeMismatchError(ValueMismatchError):
    """A checkpointed value's dtype differs from the object's (and no cast was asked for)."""


class CheckpointAssertionError(CheckpointError, AssertionError):
    """A restore status assertion (``assert_consumed`` and friends) failed.

    Derives from ``AssertionError`` as TF's do, so code written for TF keeps working; the
    structured :class:`~ckpt.RestoreReport` of the restore is on ``report``.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        key: str | None = None,
        report: object = None,
    ) -> None:
        super().__init__(message, path=path, key=key)
        self.report = report
