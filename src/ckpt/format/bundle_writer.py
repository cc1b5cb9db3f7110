"""Writing a V2 tensor bundle, one tensor or slice at a time, committed atomically at the end.

Tensors go to data shards under temporary names as they are added (so memory stays bounded by
one tensor); :meth:`BundleWriter.finish` builds the index with TF's exact table layout, then
renames the data files and, last, the index into place. Until that final rename no reader can
see the checkpoint; an aborted or failed write removes its temporary files.

A distributed save writes one shard per process: a writer made with ``shard_id=r`` writes only
``prefix.data-r-of-N``; :meth:`BundleWriter.finish_partial` leaves it under its temporary name
with its entries in a partial index next to it, :meth:`BundleWriter.commit_partial` renames the
data file into place, and one process merges the partial indexes (:func:`write_index`).

On fsspec URLs (object stores have no atomic rename) an existing ``prefix.index`` is deleted
first, data files are streamed to their final names and the index is written last, in one
request: readers still never see a partial checkpoint, and a failed write deletes its files.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import secrets
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from ckpt.errors import InvalidTensorError
from ckpt.format import naming, protos, storage, strings
from ckpt.format.bundle_reader import encode_key
from ckpt.format.crc import crc32c, crc32c_nogil, mask
from ckpt.format.dtypes import DType, from_numpy
from ckpt.format.slices import TensorSlice, encode_slice_key
from ckpt.format.table import build_table

_WRITE_BUFFER = 1 << 20  # small tensors coalesce; large ones bypass the buffer
# From this size on, a tensor's CRC32C is computed on a helper thread while the same bytes are
# written: the write releases the GIL, so on two cores the checksum costs no wall time.
_CONCURRENT_CRC_BYTES = 1 << 20
# Tensors this large get their blocks allocated before they are written (storage.reserve).
_RESERVE_BYTES = 1 << 20


@dataclass
class _SlicedTensor:
    """The slices written so far of one partitioned tensor, indexed for overlap checks."""

    dtype: DType
    full_shape: tuple[int, ...]
    axis: int  # slices are kept sorted along this axis (the first one the first slice splits)
    slices: list[TensorSlice] = field(default_factory=list)
    bounds: list[tuple[tuple[int, int], ...]] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)  # sorted starts along ``axis``
    order: list[int] = field(default_factory=list)  # index into ``bounds`` for each start
    max_extent: int = 0
    shards: list[int] = field(default_factory=list)  # the data shard of each slice

    def overlapping(self, bounds: tuple[tuple[int, int], ...]) -> bool:
        """Whether ``bounds`` overlaps an earlier slice (touching edges do not overlap)."""
        if any(start == stop for start, stop in bounds):
            return False  # an empty slice covers nothing
        lo, hi = bounds[self.axis]
        # Candidates overlap along ``axis``: they start before ``hi`` and no earlier than
        # ``lo - max_extent`` (no slice is longer than ``max_extent`` along the axis).
        first = bisect.bisect_right(self.starts, lo - self.max_extent)
        last = bisect.bisect_left(self.starts, hi)
        for i in range(first, last):
            other = self.bounds[self.order[i]]
            if all(
                max(a0, b0) < min(a1, b1) for (a0, a1), (b0, b1) in zip(bounds, other, strict=True)
            ):
                return True
        return False

    def record(
        self, tensor_slice: TensorSlice, bounds: tuple[tuple[int, int], ...], shard: int
    ) -> None:
        self.shards.append(shard)
        lo, hi = bounds[self.axis]
        at = bisect.bisect_right(self.starts, lo)
        self.starts.insert(at, lo)
        self.order.insert(at, len(self.bounds))
        self.slices.append(tensor_slice)
        self.bounds.append(bounds)
        self.max_extent = max(self.max_extent, hi - lo)


def as_array(value: Any, key: str) -> tuple[np.ndarray, DType]:
    """Convert an array-like to a C-contiguous little-endian array and its TF dtype."""
    try:
        array = np.asarray(value)
    except Exception as exc:
        raise InvalidTensorError(f"value for {key!r} is not array-like: {exc}", key=key) from exc
    try:
        dtype = from_numpy(array.dtype)
    except InvalidTensorError as exc:
        raise InvalidTensorError(f"tensor {key!r}: {exc}", key=key) from None
    if not dtype.is_string:
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("<"))
        if not array.flags.c_contiguous:  # (np.ascontiguousarray would make scalars 1-D)
            array = array.copy(order="C")
    return array, dtype


@dataclass(frozen=True)
class _Payload:
    """A tensor's bytes as they go to disk, with what its index entry needs."""

    dtype: DType
    shape: tuple[int, ...]
    data: Any  # bytes or a uint8 view of the caller's array
    size: int
    crc32c: int | None  # masked; None: computed while the bytes are written


def _prepare(value: Any, key: str) -> _Payload:
    """Encode a value (and checksum it) without touching any writer state."""
    array, dtype = as_array(value, key)
    if dtype.is_string:
        try:
            elements = strings.to_elements(array)
        except TypeError as exc:
            raise InvalidTensorError(f"string tensor {key!r}: {exc}", key=key) from None
        encoded, masked = strings.encode(elements)
        return _Payload(dtype, array.shape, encoded, len(encoded), masked)
    data = array.reshape(-1).view(np.uint8) if array.size else b""
    if array.nbytes >= _CONCURRENT_CRC_BYTES:
        return _Payload(dtype, array.shape, data, array.nbytes, None)
    return _Payload(dtype, array.shape, data, array.nbytes, mask(crc32c(data)))


class BundleWriter:
    """Streams tensors into a new checkpoint at ``prefix``.

    Args:
        prefix: checkpoint prefix; files ``prefix.index`` and ``prefix.data-*`` are written.
        num_shards: number of data files; a tensor goes to the shard given to :meth:`add`, or to
            the one with the fewest bytes so far.
        sync: fsync the files and their directory before committing (durable across power loss).
        shard_id: write only data shard ``shard_id`` of ``num_shards`` (one process of a
            distributed save); finish with :meth:`finish_partial` and :meth:`commit_partial`
            instead of :meth:`finish`. Local paths only.
        temp_id: the number in the temporary names (``.tempstate<temp_id>``), random by
            default; the processes of one distributed save share it so that the merging
            process can find every partial index.
    """

    def __init__(
        self,
        prefix: str,
        *,
        num_shards: int = 1,
        sync: bool = False,
        shard_id: int | None = None,
        temp_id: int | None = None,
    ) -> None:
        if num_shards < 1:
            raise InvalidTensorError(f"num_shards must be >= 1, got {num_shards}")
        if shard_id is not None and not 0 <= shard_id < num_shards:
            raise InvalidTensorError(f"shard_id {shard_id} is outside 0..{num_shards - 1}")
        self.prefix = storage.normalize(prefix)
        self.num_shards = num_shards
        self.sync = sync
        self.shard_id = shard_id
        self._remote = storage.is_url(self.prefix)
        if self._remote and shard_id is not None:
            raise InvalidTensorError(
                f"{self.prefix}: a one-shard (distributed) writer needs a local or shared "
                "file system path; object stores have no atomic rename"
            )
        directory = "" if self._remote else os.path.dirname(self.prefix)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self.temp_id = secrets.randbits(63) if temp_id is None else int(temp_id)
        self._tag = f"{naming.TEMP_MARKER}{self.temp_id}"
        naming.register_temp(self._tag, self.prefix)
        # The global shard ids this writer writes; files and offsets are indexed like it.
        self._shard_ids = list(range(num_shards)) if shard_id is None else [shard_id]
        self._entries: dict[bytes, Any] = {}
        self._sliced: dict[bytes, _SlicedTensor] = {}
        self._files: list[IO[bytes]] = []
        self._offsets = [0] * len(self._shard_ids)
        self._crc_pool: ThreadPoolExecutor | None = None
        self._done = False
        self._data_committed = False
        if self._remote:
            try:
                # The index goes first so no reader pairs an older index with our data.
                storage.delete(naming.index_filename(self.prefix))
                for shard in range(num_shards):
                    self._files.append(storage.open_write(self._data_path(shard)))
            except BaseException:
                self.abort()
                raise
            return
        try:
            for shard in range(len(self._shard_ids)):
                path = self._temp(self._data_path(shard))
                # Kept open across add() calls and closed in finish()/abort().
                self._files.append(open(path, "wb", buffering=_WRITE_BUFFER))  # noqa: SIM115
        except BaseException:
            self.abort()
            raise

    def _data_path(self, shard: int) -> str:
        """The final name of this writer's ``shard``-th file (a local index)."""
        return naming.data_filename(self.prefix, self._shard_ids[shard], self.num_shards)

    def _temp(self, path: str) -> str:
        return path + self._tag

    def _check_open(self) -> None:
        if self._done:
            raise InvalidTensorError(f"writer for {self.prefix} is already finished or aborted")

    def _check_key(self, key: str) -> bytes:
        if not isinstance(key, str):
            raise InvalidTensorError(f"tensor names must be str, got {type(key).__name__}")
        try:
            raw = encode_key(key)
        except UnicodeEncodeError:
            raise InvalidTensorError(
                f"invalid tensor name {key!r}: it cannot be encoded as UTF-8", key=key
            ) from None
        if not raw or raw.startswith(b"\x00"):
            raise InvalidTensorError(
                f"invalid tensor name {key!r}: names must be non-empty and not start with NUL "
                "(reserved for the header and slice keys)",
                key=key,
            )
        return raw

    def _pick_shard(self, shard: int | None) -> int:
        """The local index of the file for global shard id ``shard`` (None: the emptiest)."""
        if shard is None:
            return min(range(len(self._shard_ids)), key=self._offsets.__getitem__)
        if not isinstance(shard, int) or shard not in self._shard_ids:
            raise InvalidTensorError(f"shard {shard!r} is not one of {self._shard_ids}")
        return self._shard_ids.index(shard)

    def _append(self, raw_key: bytes, payload: _Payload, shard: int) -> None:
        """Write prepared bytes to ``shard`` and record their entry under ``raw_key``."""
        masked = payload.crc32c
        pending: Future[int] | None = None
        if masked is None:
            if self._crc_pool is None:
                self._crc_pool = ThreadPoolExecutor(1, thread_name_prefix="ckpt-crc")
            try:
                pending = self._crc_pool.submit(crc32c_nogil, payload.data)
            except RuntimeError:  # interpreter shutdown (a save from an atexit handler)
                masked = mask(crc32c_nogil(payload.data))
        try:
            if payload.size:
                if payload.size >= _RESERVE_BYTES and not self._remote:
                    storage.reserve(self._files[shard], self._offsets[shard], payload.size)
                self._files[shard].write(payload.data)
            if pending is not None:
                masked = mask(pending.result())
        except BaseException:
            # A partial write (or bytes written without their entry) would shift every later
            # offset: the checkpoint is lost.
            if pending is not None:
                pending.cancel()
            self.abort()
            raise
        entry = protos.BundleEntryProto(
            dtype=payload.dtype.value,
            shard_id=self._shard_ids[shard],
            offset=self._offsets[shard],
            size=payload.size,
            crc32c=masked,
        )
        entry.shape.SetInParent()
        for d in payload.shape:
            entry.shape.dim.add(size=d)
        self._offsets[shard] += payload.size
        self._entries[raw_key] = entry

    def add(self, key: str, value: Any, *, shard: int | None = None) -> None:
        """Write a whole tensor under ``key`` (array-like: NumPy, lists, bytes/str arrays)."""
        self._check_open()
        raw_key = self._check_key(key)
        if raw_key in self._sliced or raw_key in self._entries:
            raise InvalidTensorError(f"Adding duplicate key: {key}", key=key)
        payload = _prepare(value, key)
        self._append(raw_key, payload, self._pick_shard(shard))

    def add_slice(
        self,
        key: str,
        value: Any,
        *,
        full_shape: Sequence[int],
        offset: Sequence[int],
        shard: int | None = None,
    ) -> None:
        """Write the part of tensor ``key`` (of ``full_shape``) that starts at ``offset``.

        Slices of one tensor may be added in any order and to any shard; together they should
        cover it (readers refuse to assemble a tensor with gaps) and must not overlap. A slice
        covering the whole tensor is stored as a plain entry, as TF does. A rejected slice
        leaves the writer as it was.
        """
        self._check_open()
        raw_key = self._check_key(key)
        if raw_key in self._entries:
            raise InvalidTensorError(f"Adding duplicate key: {key}", key=key)
        payload = _prepare(value, key)
        full = tuple(int(d) for d in full_shape)
        tensor_slice = (
            TensorSlice.from_offsets(offset, payload.shape)
            if len(offset) == len(payload.shape)
            else None
        )
        if tensor_slice is None or not tensor_slice.fits(full):
            raise InvalidTensorError(
                f"slice of {key!r} with shape {list(payload.shape)} at offset {list(offset)} "
                f"does not fit in full shape {list(full)}",
                key=key,
            )
        target = self._pick_shard(shard)
        info = self._sliced.get(raw_key)
        if info is None:
            if tensor_slice.is_full(full):
                self._append(raw_key, payload, target)
                return
            axis = next(
                (i for i, (st, ln) in enumerate(tensor_slice.extents) if st != 0 or ln != full[i]),
                0,
            )
            info = _SlicedTensor(payload.dtype, full, axis)
        elif info.dtype != payload.dtype or info.full_shape != full:
            raise InvalidTensorError(
                f"slices of {key!r} disagree: {payload.dtype.name}{list(full)} vs earlier "
                f"{info.dtype.name}{list(info.full_shape)}",
                key=key,
            )
        bounds = tensor_slice.bounds(full)
        if info.overlapping(bounds):
            raise InvalidTensorError(
                f"slice {tensor_slice} of {key!r} overlaps an earlier slice", key=key
            )
        # Python savers give explicit (offset, length) for every dimension (format doc §5.1).
        slice_key = encode_slice_key(raw_key, tensor_slice)
        if slice_key in self._entries:  # the same (empty) slice twice: overlap misses it
            raise InvalidTensorError(
                f"Adding duplicate key: slice {tensor_slice} of {key!r}", key=key
            )
        self._append(slice_key, payload, target)
        self._sliced[raw_key] = info
        info.record(tensor_slice, bounds, self._shard_ids[target])

    def _index_entries(self) -> list[tuple[bytes, bytes]]:
        return index_records(self.records(), num_shards=self.num_shards)

    def records(self) -> dict[bytes, bytes]:
        """Every index entry so far (serialized ``BundleEntryProto`` by raw key), no header."""
        records = {key: entry.SerializeToString() for key, entry in self._entries.items()}
        for key, info in self._sliced.items():
            # As TF's MergeBundles leaves it after merging one bundle per shard: the full
            # entry carries the first shard holding a slice, and lists the slices shard by
            # shard (in the order they were added within each).
            order = sorted(range(len(info.slices)), key=info.shards.__getitem__)
            full = protos.BundleEntryProto(dtype=info.dtype.value, shard_id=info.shards[order[0]])
            full.shape.SetInParent()
            for d in info.full_shape:
                full.shape.dim.add(size=d)
            for i in order:
                full.slices.append(info.slices[i].to_proto())
            records[key] = full.SerializeToString()
        return records

    def finish(self) -> str:
        """Commit: rename the flushed data files, then write and rename the index; return prefix."""
        self._check_open()
        if self.shard_id is not None:
            raise InvalidTensorError(
                "a one-shard writer is finished with finish_partial() and commit_partial()"
            )
        if self._remote:
            return self._finish_remote()
        try:
            index_bytes = build_table(self._index_entries())
            for f in self._files:
                f.flush()
                if self.sync:
                    os.fsync(f.fileno())
                f.close()
            index_path = naming.index_filename(self.prefix)
            # An older checkpoint at this prefix must never pair its index with our data.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(index_path)
            for shard in range(len(self._shard_ids)):
                os.replace(self._temp(self._data_path(shard)), self._data_path(shard))
            storage.replace_atomically(index_path, index_bytes, sync=self.sync)  # the commit
        except BaseException:
            self.abort()
            raise
        self.release()
        return self.prefix

    def partial_index_path(self) -> str:
        """Where :meth:`finish_partial` writes this shard's entries (a temporary name)."""
        assert self.shard_id is not None
        return self._temp(partial_index_filename(self.prefix, self.shard_id, self.num_shards))

    def finish_partial(self) -> str:
        """Flush this shard's data (still under its temporary name) and write its entries.

        The entries go to :meth:`partial_index_path` as a table in the index format (header
        included), so :func:`read_partial_index` can merge them. Returns that path. Nothing is
        visible to readers yet; :meth:`commit_partial` or :meth:`abort` follows.
        """
        self._check_open()
        if self.shard_id is None:
            raise InvalidTensorError("finish_partial() is for writers made with shard_id=")
        try:
            table = build_table(self._index_entries())
            for f in self._files:
                f.flush()
                if self.sync:
                    os.fsync(f.fileno())
                f.close()
            path = self.partial_index_path()
            with open(path, "wb") as f:
                f.write(table)
                if self.sync:
                    f.flush()
                    os.fsync(f.fileno())
        except BaseException:
            self.abort()
            raise
        self._stop_pool()
        return path

    def commit_partial(self) -> None:
        """Rename the data file to its final name (after every process finished its part).

        The partial index stays for the merging process, which deletes it. Until the merged
        index is written no reader sees the data file; :meth:`abort` still removes it.
        """
        if self.shard_id is None or self._done:
            raise InvalidTensorError(f"writer for {self.prefix} cannot commit a partial shard")
        for shard in range(len(self._shard_ids)):
            os.replace(self._temp(self._data_path(shard)), self._data_path(shard))
        self._data_committed = True

    def release(self) -> None:
        """Close this writer for good, leaving its files as they are: after a commit (a
        distributed one's too), and first thing in :meth:`abort`."""
        self._done = True
        self._stop_pool()
        naming.unregister_temp(self._tag)

    def _finish_remote(self) -> str:
        """Close (upload) the data files, then write the index in one request."""
        try:
            index_bytes = build_table(self._index_entries())
            files, self._files = self._files, []
            for i, f in enumerate(files):
                try:
                    f.close()
                except BaseException:
                    for rest in files[i + 1 :]:
                        storage.discard(rest)
                    raise
            storage.write_bytes(naming.index_filename(self.prefix), index_bytes)
        except BaseException:
            self.abort()
            raise
        self.release()
        return self.prefix

    def _stop_pool(self) -> None:
        if self._crc_pool is not None:
            self._crc_pool.shutdown(wait=True)
            self._crc_pool = None

    def abort(self) -> None:
        """Discard everything written so far; the prefix is left as it was."""
        self.release()
        if self._remote:
            for f in self._files:
                storage.discard(f)
            self._files = []
            # Written under their final names: the index first, so nothing half-done is visible.
            storage.delete(naming.index_filename(self.prefix))
            for shard in range(self.num_shards):
                storage.delete(self._data_path(shard))
            return
        for f in self._files:
            with contextlib.suppress(OSError):
                f.close()
        paths = [self._temp(self._data_path(s)) for s in range(len(self._shard_ids))]
        paths.append(self._temp(naming.index_filename(self.prefix)))
        if self.shard_id is not None:
            paths.append(self.partial_index_path())
            if self._data_committed:  # renamed, but the merged index was never written
                paths += [self._data_path(s) for s in range(len(self._shard_ids))]
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._done:
            return
        if exc_type is None:
            self.finish()
        else:
            self.abort()


def partial_index_filename(prefix: str, shard: int, num_shards: int) -> str:
    """The partial index of data shard ``shard`` in a distributed save (before its temp tag)."""
    return f"{prefix}.index-{shard:05d}-of-{num_shards:05d}"


def index_records(records: Mapping[bytes, bytes], *, num_shards: int) -> list[tuple[bytes, bytes]]:
    """The rows of an index table: the header (key ``""``), then ``records`` sorted by key."""
    header = protos.BundleHeaderProto(num_shards=num_shards)
    header.version.producer = protos.BUNDLE_VERSION
    return [(b"", header.SerializeToString()), *sorted(records.items())]


def write_index(
    prefix: str, records: Mapping[bytes, bytes], *, num_shards: int, sync: bool = False
) -> str:
    """Write ``prefix.index`` from finished entries (temp name, then rename: the commit point).

    The bytes equal those a single :class:`BundleWriter` writes for the same entries: TF's
    table with the header first and the keys sorted.
    """
    table = build_table(index_records(records, num_shards=num_shards))
    storage.replace_atomically(naming.index_filename(prefix), table, sync=sync)
    return prefix


__all__ = [
    "BundleWriter",
    "as_array",
    "index_records",
    "partial_index_filename",
    "write_index",
]
