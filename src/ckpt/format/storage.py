"""Where checkpoint files live: local paths directly, any ``proto://`` URL through fsspec."""

from __future__ import annotations

import contextlib
import ctypes
import glob as _glob
import os
import sys
from collections.abc import Callable
from typing import IO, Any

from ckpt.errors import UnsupportedCheckpointError

__all__ = [
    "delete",
    "dirname",
    "discard",
    "download",
    "exists",
    "fsync_dir",
    "glob",
    "is_url",
    "isdir",
    "isfile",
    "join",
    "normalize",
    "open_write",
    "read_bytes",
    "read_range",
    "replace_atomically",
    "reserve",
    "size",
    "upload",
    "write_bytes",
]

_FILE_SCHEME = "file://"


def is_url(path: str) -> bool:
    """Whether ``path`` goes through fsspec (``file://`` URLs are local paths)."""
    return "://" in path and not path.startswith(_FILE_SCHEME)


def normalize(path: str | os.PathLike[str]) -> str:
    """``os.fspath(path)``, with a ``file://`` URL turned into its local path."""
    path = os.fspath(path)
    if path.startswith(_FILE_SCHEME):
        return path[len(_FILE_SCHEME) :]
    return path


def _fs(url: str) -> tuple[Any, str]:
    """The fsspec filesystem of ``url`` (options from ``fsspec.config``) and its inner path."""
    try:
        import fsspec.core  # lazily: local paths never import fsspec
    except ImportError:
        raise UnsupportedCheckpointError(
            f"{url}: URLs need fsspec (pip install fsspec)",
            path=url,
        ) from None
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ValueError, ImportError) as exc:
        # An unknown protocol, or one whose backend (s3fs, gcsfs, ...) is not installed.
        raise UnsupportedCheckpointError(f"{url}: {exc}", path=url) from exc
    return fs, path


def _split(url: str) -> tuple[str, str]:
    scheme, _, rest = url.partition("://")
    return scheme + "://", rest


def join(base: str, *parts: str) -> str:
    if not is_url(base):
        return os.path.join(base, *parts)
    out = base
    for part in parts:
        out = part if is_url(part) else out.rstrip("/") + "/" + part
    return out


def dirname(path: str) -> str:
    if not is_url(path):
        return os.path.dirname(path)
    scheme, rest = _split(path)
    head, sep, _ = rest.rstrip("/").rpartition("/")
    return scheme + head if sep else scheme + rest


def read_bytes(path: str, limit: int | None = None) -> bytes:
    """The file's bytes (at most ``limit``); raises ``FileNotFoundError`` if it is missing."""
    if not is_url(path):
        with open(path, "rb") as f:
            return f.read() if limit is None else f.read(limit)
    fs, inner = _fs(path)
    return bytes(fs.cat_file(inner, start=0, end=limit))


def read_range(path: str, start: int, end: int) -> bytes:
    """Bytes ``[start, end)`` of the file (fewer if it is shorter): one ranged request."""
    if not is_url(path):
        with open(path, "rb") as f:
            f.seek(start)
            return f.read(end - start)
    fs, inner = _fs(path)
    return bytes(fs.cat_file(inner, start=start, end=end))


def size(path: str) -> int:
    if not is_url(path):
        return os.path.getsize(path)
    fs, inner = _fs(path)
    return int(fs.size(inner))


def isfile(path: str) -> bool:
    if not is_url(path):
        return os.path.isfile(path)
    fs, inner = _fs(path)
    return bool(fs.isfile(inner))


def isdir(path: str) -> bool:
    if not is_url(path):
        return os.path.isdir(path)
    fs, inner = _fs(path)
    return bool(fs.isdir(inner))


def exists(path: str) -> bool:
    if not is_url(path):
        return os.path.exists(path)
    fs, inner = _fs(path)
    return bool(fs.exists(inner))


def glob(pattern: str) -> list[str]:
    """Paths matching ``pattern`` (URLs keep their scheme), sorted."""
    if not is_url(pattern):
        return sorted(_glob.glob(pattern))
    fs, inner = _fs(pattern)
    scheme, _ = _split(pattern)
    found = fs.glob(inner)
    return sorted(p if "://" in p else scheme + p.lstrip("/") for p in found)


def open_write(path: str) -> IO[bytes]:
    """A streaming binary writer for a URL; the object appears when it is closed."""
    fs, inner = _fs(path)
    return fs.open(inner, "wb")  # type: ignore[no-any-return]


def discard(f: IO[bytes]) -> None:
    """Drop a writer from :func:`open_write` without committing what it holds, if it can."""
    drop = getattr(f, "discard", None)
    with contextlib.suppress(Exception):
        if drop is not None:
            drop()
    with contextlib.suppress(Exception):
        f.close()


def write_bytes(path: str, data: bytes) -> None:
    """Write a whole object in one request (objects appear whole or not at all)."""
    fs, inner = _fs(path)
    fs.pipe_file(inner, data)


def fsync_dir(directory: str) -> None:
    """fsync a local directory, so renames into it survive a machine crash."""
    fd = os.open(directory or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_atomically(path: str, data: bytes, *, sync: bool = False) -> None:
    """Replace a small file whole: a temporary file renamed over it (one PUT for URLs).

    With ``sync``, the file and then its directory are fsynced.
    """
    if is_url(path):
        write_bytes(path, data)  # objects appear whole or not at all
        return
    import secrets

    from ckpt.format import naming  # (naming imports this module)

    tag = f"{naming.TEMP_MARKER}{secrets.randbits(63)}"
    temp = path + tag
    naming.register_temp(tag, path)
    try:
        with open(temp, "wb") as f:
            f.write(data)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(temp, path)
        if sync:
            fsync_dir(os.path.dirname(path))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    finally:
        naming.unregister_temp(tag)


def delete(path: str) -> None:
    """Remove a file; a missing one is not an error."""
    if not is_url(path):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    fs, inner = _fs(path)
    with contextlib.suppress(FileNotFoundError):
        fs.rm_file(inner)


def download(url: str, local: str) -> None:
    """Copy the object at ``url`` to the local file ``local``; ``FileNotFoundError`` if missing."""
    fs, inner = _fs(url)
    if not fs.isfile(inner):
        raise FileNotFoundError(url)
    fs.get_file(inner, local)


def upload(local: str, url: str) -> None:
    """Copy the local file ``local`` to ``url`` (an object store shows it only once complete)."""
    fs, inner = _fs(url)
    fs.put_file(local, inner)


_FALLOC_FL_KEEP_SIZE = 1  # linux/falloc.h: allocate blocks without changing the file size


def _load_fallocate() -> Callable[[int, int, int, int], int] | None:
    """Linux's ``fallocate(2)`` from the C library, or None elsewhere.

    ``os.posix_fallocate`` is not used: where a file system lacks ``fallocate``, glibc
    emulates it by writing zeros, which would double the cost of the write it should speed up.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        # fallocate64 takes 64-bit offsets everywhere (fallocate's off_t is 32-bit on 32-bit
        # builds without large-file support).
        function = getattr(libc, "fallocate64", None) or libc.fallocate
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
    function.restype = ctypes.c_int
    return function


_FALLOCATE = _load_fallocate()


def reserve(f: IO[bytes], offset: int, length: int) -> bool:
    """Ask the file system to allocate ``length`` bytes at ``offset`` of a local file, which is
    about to be written there; return whether it did.

    On ext4 and XFS, writing into allocated blocks skips the per-page block reservation of
    delayed allocation: a large tensor is written about 1.3x faster. The file's size does not
    change, and nothing happens where the call is unsupported (another OS, a file system
    without ``fallocate``, a remote file).
    """
    if _FALLOCATE is None or length <= 0:
        return False
    try:
        fd = f.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    # On failure (ENOSPC included) the write that follows proceeds, or fails with the usual
    # OSError; a reservation is only ever a hint.
    return bool(_FALLOCATE(fd, _FALLOC_FL_KEEP_SIZE, offset, length) == 0)
