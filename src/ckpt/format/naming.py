"""File names of a V2 checkpoint: ``P.index`` and ``P.data-%05d-of-%05d`` (format doc §1.1)."""

from __future__ import annotations

import glob
import re
import threading

from ckpt.format import storage

INDEX_SUFFIX = ".index"
TEMP_MARKER = ".tempstate"  # TF's own marker for files still being written

_active_lock = threading.Lock()
_active_tags: dict[str, str] = {}  # temp tag -> prefix (or file) of a write in progress here


def register_temp(tag: str, target: str) -> None:
    """Record that this process is writing temporary files ending in ``tag`` for ``target``."""
    with _active_lock:
        _active_tags[tag] = target


def unregister_temp(tag: str) -> None:
    with _active_lock:
        _active_tags.pop(tag, None)


def active_temps() -> dict[str, str]:
    """The temp tags (``.tempstate<digits>``) of writes in progress in this process, by target."""
    with _active_lock:
        return dict(_active_tags)


def index_filename(prefix: str) -> str:
    return prefix + INDEX_SUFFIX


def data_filename(prefix: str, shard: int, num_shards: int) -> str:
    return f"{prefix}.data-{shard:05d}-of-{num_shards:05d}"


def is_v2(prefix: str) -> bool:
    """Whether ``prefix`` names a V2 checkpoint (its ``.index`` exists)."""
    return storage.isfile(index_filename(prefix))


# A sharded V1 Saver records its checkpoint as the pattern ``P-?????-of-NNNNN``.
_V1_SHARD_PATTERN = re.compile(r"-\?{5}(-of-\d{5})$")


def v1_files(prefix: str) -> list[str]:
    """Files that make ``prefix`` a legacy V1 checkpoint: ``P`` itself or ``P-?????-of-?????``.

    ``prefix`` may also be the pattern a sharded V1 Saver writes to its state file.
    """
    if storage.isfile(prefix):
        return [prefix]
    sharded = _V1_SHARD_PATTERN.search(prefix)
    if sharded is not None:
        head = glob.escape(prefix[: sharded.start()])
        return storage.glob(f"{head}-[0-9][0-9][0-9][0-9][0-9]{sharded.group(1)}")
    return storage.glob(glob.escape(prefix) + "-[0-9][0-9][0-9][0-9][0-9]-of-[0-9]*")
