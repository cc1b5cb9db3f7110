"""Output files written under a temporary name and renamed into place only when complete."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator

__all__ = ["staged"]


@contextlib.contextmanager
def staged(path: str) -> Iterator[str]:
    """Yield a temporary path next to ``path``; rename it to ``path`` on success, else delete it.

    A reader never sees a half-written file, and a failed conversion leaves nothing behind.
    """
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    temp = os.path.join(directory, f".{os.path.basename(path)}.tmp{secrets.token_hex(4)}")
    try:
        yield temp
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temp)
