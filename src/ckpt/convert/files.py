"""Output files written under a temporary name and put in place only when complete.

Local paths are written next to their destination and renamed; fsspec URLs (``s3://``...) are
written to a local temporary file, uploaded when complete, and read through a local copy.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator

from ckpt.errors import CheckpointNotFoundError
from ckpt.format import storage

__all__ = ["basename", "give_default_mode", "local_copy", "local_temp", "staged"]


def basename(path: str) -> str:
    """The last component of a local path or a URL."""
    return path.rstrip("/").rsplit("/", 1)[-1] if storage.is_url(path) else os.path.basename(path)


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: set and restore (briefly visible to other threads)
    os.umask(mask)
    return mask


def give_default_mode(path: str) -> None:
    """Give a file the permissions ``open()`` would have (``0o666`` less the umask).

    For files a library creates private (safetensors writes ``0o600``): a converted checkpoint
    should be as readable as any other file its user writes.
    """
    os.chmod(path, 0o666 & ~_umask())


@contextlib.contextmanager
def local_temp(name: str) -> Iterator[str]:
    """A fresh local temporary file path (ending like ``name``), deleted on exit."""
    fd, temp = tempfile.mkstemp(prefix="ckpt-", suffix=f"-{basename(name)}")
    os.close(fd)
    try:
        yield temp
    finally:
        with contextlib.suppress(OSError):  # missing, or still mapped (Windows)
            os.remove(temp)


@contextlib.contextmanager
def local_copy(path: str) -> Iterator[str]:
    """``path`` itself if local; for a URL, a local temporary copy of it, deleted on exit."""
    if not storage.is_url(path):
        yield path
        return
    with local_temp(path) as temp:
        try:
            storage.download(path, temp)
        except FileNotFoundError as exc:
            raise CheckpointNotFoundError(f"no such file: {path}", path=path) from exc
        yield temp


def upload(local: str, url: str) -> None:
    """Upload ``local`` to ``url``; on failure, remove whatever part of ``url`` was written."""
    try:
        storage.upload(local, url)
    except BaseException:
        with contextlib.suppress(Exception):
            storage.delete(url)
        raise


@contextlib.contextmanager
def staged(path: str) -> Iterator[str]:
    """Yield a temporary path for ``path``; put it in place on success, else delete it.

    Locally the temporary file sits next to ``path`` and is renamed; for a URL it is a local
    temporary file uploaded to ``path`` once complete. A reader never sees a half-written file,
    and a failed conversion leaves nothing behind.
    """
    if storage.is_url(path):
        with local_temp(path) as temp:
            yield temp
            upload(temp, path)
        return
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    temp = os.path.join(directory, f".{os.path.basename(path)}.tmp{secrets.token_hex(4)}")
    try:
        yield temp
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temp)
