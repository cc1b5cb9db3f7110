"""Distributed saves: every process writes its own data shard, one merges the index and commits.

Protocol (format doc §1.1's ``MergeBundles`` idea, with orbax's commit discipline):

1. rank 0 broadcasts a temporary id; every rank writes ``prefix.data-<rank>-of-<world>``
   under a temporary name with the values it owns (its slices of sharded variables, plus the
   unsharded values assigned to it) and its entries to a partial index next to it;
2. an all-reduce of an error flag: if any rank failed, every rank deletes its files and raises
   :class:`DistributedCheckpointError` naming the failed ranks (their messages are
   all-gathered); nothing was committed;
3. every rank renames its data file into place; another flag exchange;
4. rank 0 merges the partial indexes into ``prefix.index`` (temp name then rename: the commit
   point), updates the ``checkpoint`` state file for :func:`save`, and a last exchange tells
   every rank whether the checkpoint is committed.

Unsharded (replicated) values are written once: each goes to the rank with the fewest bytes
so far, largest first (the object graph to rank 0) — the same plan on every rank, computed
without communication. A rank that dies makes the others fail at the next collective (after
the process group's timeout at worst): the index is never written, so the previous checkpoint
stays the latest, and a :class:`ckpt.CheckpointManager` deletes the leftovers.

With ``CheckpointOptions(enable_async=True)`` the caller copies its own values to host memory
and the protocol runs in the checkpoint's :class:`~ckpt.checkpoint.async_save.AsyncSaver`
thread on a separate gloo group made for it: the training group's collectives never run on a
background thread.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import secrets
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ckpt.checkpoint import keys
from ckpt.checkpoint.async_save import AsyncSaver
from ckpt.checkpoint.checkpoint import Checkpoint
from ckpt.checkpoint.saver import CheckpointOptions, SaveItem, collect, graph_value
from ckpt.checkpoint_management import update_checkpoint_state
from ckpt.distributed import collectives
from ckpt.distributed.merge import merge_partial_indexes
from ckpt.errors import CheckpointError, DistributedCheckpointError, InvalidTensorError
from ckpt.format import naming, storage
from ckpt.format.bundle_writer import BundleWriter

__all__ = ["DistributedCheckpointError", "assign_owners", "save", "sync", "write"]


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def _collective(stage: str, prefix: str) -> Iterator[None]:
    """Turn the backend's error inside (a peer died, or the timeout expired) into ours."""
    try:
        yield
    except CheckpointError:
        raise
    except Exception as exc:
        raise DistributedCheckpointError(
            f"{prefix}: a collective failed while {stage} ({_describe(exc)}); another process "
            "probably died. Nothing was committed by this process.",
            path=prefix,
        ) from exc


def agree(
    stage: str, error: str, group: Any, prefix: str, extra: Sequence[bool] = ()
) -> list[bool]:
    """Exchange an error flag (and ``extra`` flags); raise on every rank if any rank failed."""
    with _collective(stage, prefix):
        flags = collectives.any_flags([bool(error), *extra], group)
        if not flags[0]:
            return flags[1:]
        messages = collectives.all_gather_bytes(error.encode("utf-8"), group)
    failures = {r: m.decode("utf-8") for r, m in enumerate(messages) if m}
    lines = "\n".join(f"  rank {r}: {m}" for r, m in failures.items())
    raise DistributedCheckpointError(
        f"{prefix}: the distributed operation failed while {stage} on rank(s) "
        f"{sorted(failures)}:\n{lines}",
        path=prefix,
        failures=failures,
    )


def _nbytes(value: Any) -> int:
    return int(np.asarray(value).nbytes)


def assign_owners(items: Sequence[SaveItem], world: int, *, graph_bytes: int = 0) -> list[int]:
    """The rank that writes each item: unsharded ones balanced by bytes, slices by their holder.

    Sliced items get -1 (each holder writes its own piece). Largest values first, each to the
    rank with the fewest bytes (ties: lowest rank); rank 0 starts with the object graph. Every
    rank computes the same plan from the same graph.
    """
    owners = [-1] * len(items)
    whole = [i for i, item in enumerate(items) if item.slice_info is None]
    sizes = {i: _nbytes(items[i].value) for i in whole}
    heap = [(graph_bytes if r == 0 else 0, r) for r in range(world)]
    heapq.heapify(heap)
    for i in sorted(whole, key=lambda i: (-sizes[i], items[i].key)):
        load, r = heapq.heappop(heap)
        owners[i] = r
        heapq.heappush(heap, (load + sizes[i], r))
    return owners


def _mine(items: Sequence[SaveItem], proto: bytes, rank: int, world: int) -> list[SaveItem]:
    """The values this rank writes, in graph order (the object graph last, on rank 0)."""
    owners = assign_owners(items, world, graph_bytes=len(proto))
    mine = []
    for item, owner in zip(items, owners, strict=True):
        if owner == -1:
            info = item.slice_info
            assert info is not None
            if getattr(item.owner, "replica_id", 0) != 0 or 0 in info.var_shape:
                continue  # another replica writes this piece; an empty piece stores nothing
        elif owner != rank:
            continue
        mine.append(item)
    if rank == 0:
        mine.append(SaveItem(keys.OBJECT_GRAPH_PROTO_KEY, graph_value(proto)))
    return mine


def commit(
    items: Sequence[SaveItem],
    prefix: str,
    *,
    group: Any,
    sync_files: bool = False,
    on_commit: Callable[[str], None] | None = None,
) -> str:
    """Run the save protocol for this rank's ``items`` (every rank calls it); return prefix."""
    rank, world = collectives.rank(group), collectives.world_size(group)
    with _collective("starting the save", prefix):
        temp_id = collectives.broadcast_int(secrets.randbits(63) if rank == 0 else 0, group)
    writer: BundleWriter | None = None
    local: BaseException | None = None
    error = ""
    try:
        writer = BundleWriter(
            prefix, num_shards=world, shard_id=rank, sync=sync_files, temp_id=temp_id
        )
        for item in items:
            item.write_to(writer, shard=rank)
        writer.finish_partial()
    except Exception as exc:
        local, error = exc, _describe(exc)
    renamed = False
    try:
        exists = os.path.exists(naming.index_filename(storage.normalize(prefix)))
        (overwrite,) = agree("writing", error, group, prefix, [exists])
        assert writer is not None
        if overwrite:
            # An older checkpoint at this prefix must never pair its index with our data.
            error = ""
            if rank == 0:
                try:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(naming.index_filename(writer.prefix))
                except Exception as exc:
                    local, error = exc, _describe(exc)
            agree("replacing the old index", error, group, prefix)
        error = ""
        try:
            writer.commit_partial()
        except Exception as exc:
            local, error = exc, _describe(exc)
        agree("renaming the data files", error, group, prefix)
        renamed = True
        error = ""
        if rank == 0:
            try:
                merge_partial_indexes(writer.prefix, world, temp_id, sync=sync_files)
                if on_commit is not None:
                    on_commit(writer.prefix)
            except Exception as exc:
                local, error = exc, _describe(exc)
        agree("merging the index", error, group, prefix)
    except DistributedCheckpointError as exc:
        # After the renames, only a reported failure (rank 0 did not commit) may delete data
        # files: after a failed collective the checkpoint may be committed already.
        if writer is not None and (not renamed or exc.reported):
            writer.abort()
        elif writer is not None:
            writer.release()  # keep the files: rank 0 may have committed them
        if local is not None:
            raise exc from local
        raise
    except BaseException:
        if writer is not None and not renamed:
            writer.abort()
        raise
    writer.release()
    return writer.prefix


# --- the public entry points ---------------------------------------------------------------

_async_state: weakref.WeakKeyDictionary[Any, tuple[AsyncSaver, Any]] = (
    weakref.WeakKeyDictionary()
)


def _async_saver(root: Any, group: Any) -> tuple[AsyncSaver, Any]:
    """The root's background saver and the gloo group its thread uses (made on first use)."""
    state = _async_state.get(root)
    if state is None:
        saver = root._ckpt_async if isinstance(root, Checkpoint) else None
        if saver is None:
            saver = AsyncSaver()
            if isinstance(root, Checkpoint):
                object.__setattr__(root, "_ckpt_async", saver)  # root.sync() waits for it too
        state = (saver, collectives.new_gloo_group(group))
        _async_state[root] = state
    return state


def sync(root: Any) -> None:
    """Wait for the root's pending asynchronous distributed save; raise its error, if any."""
    state = _async_state.get(root)
    if state is not None:
        state[0].wait()


def _write(
    root: Any,
    prefix: str,
    group: Any,
    options: CheckpointOptions,
    on_commit: Callable[[str], None] | None,
) -> str:
    rank, world = collectives.rank(group), collectives.world_size(group)
    # Gathering the values runs user code (a model's state): a failure on one rank must stop
    # every rank here, not leave the others waiting in the save's first collective.
    local: BaseException | None = None
    error = ""
    mine: list[SaveItem] = []
    try:
        items, proto = collect(root)
        mine = _mine(items, proto, rank, world)
        if options.enable_async:
            # Only this rank's own values are copied: its shard plus its share of the
            # replicated ones.
            mine = [SaveItem(i.key, np.array(i.value, copy=True), i.slice_info) for i in mine]
    except Exception as exc:
        local, error = exc, _describe(exc)
    try:
        agree("collecting the values to save", error, group, prefix)
    except DistributedCheckpointError as exc:
        if local is not None:
            raise exc from local
        raise
    if not options.enable_async:
        return commit(mine, prefix, group=group, sync_files=options.sync, on_commit=on_commit)
    saver, background_group = _async_saver(root, group)
    snapshot = mine

    def job() -> None:
        commit(
            snapshot,
            prefix,
            group=background_group,
            sync_files=options.sync,
            on_commit=on_commit,
        )

    saver.submit(prefix, job)
    return prefix


def write(
    root: Any,
    file_prefix: str | os.PathLike[str],
    *,
    group: Any = None,
    options: CheckpointOptions | None = None,
) -> str:
    """Write the graph rooted at ``root`` to exactly ``file_prefix``, from every rank at once.

    Every rank of ``group`` (default: the default process group) calls it with the same
    prefix on a shared file system. No state file is written. Returns the prefix.

    Raises:
        DistributedCheckpointError: on every rank, if any rank failed (nothing committed).
    """
    sync(root)
    return _write(root, storage.normalize(file_prefix), group, options or CheckpointOptions(), None)


def save(
    checkpoint: Checkpoint,
    file_prefix: str | os.PathLike[str],
    *,
    group: Any = None,
    options: CheckpointOptions | None = None,
) -> str:
    """``Checkpoint.save`` on every rank: bump ``save_counter``, write ``prefix-N``, update the
    ``checkpoint`` state file (rank 0, after the commit). Returns ``prefix-N``."""
    if not isinstance(checkpoint, Checkpoint):
        raise InvalidTensorError(
            f"save() numbers checkpoints with a ckpt.Checkpoint's save_counter; got "
            f"{type(checkpoint).__name__} (use ckpt.distributed.write for other roots)"
        )
    sync(checkpoint)
    checkpoint.sync()
    counter = checkpoint.save_counter
    counter.assign(counter.numpy() + 1)
    prefix = f"{storage.normalize(file_prefix)}-{int(counter.numpy())}"
    return _write(checkpoint, prefix, group, options or CheckpointOptions(), _record_state)


def _record_state(path: str) -> None:
    directory = storage.dirname(path) or "."
    update_checkpoint_state(directory, path, [path])
