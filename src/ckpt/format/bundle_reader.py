"""Reading a V2 tensor bundle: parse the index once, then serve tensors from memory-mapped shards.

Opening reads and validates only the ``.index`` file. Tensor bytes are read from a memory map of
their data shard on demand; their CRC32C is checked before a single byte reaches the caller's
array, and every size, offset and shape is validated against the files before anything is
allocated, so a damaged or hostile checkpoint raises a :mod:`ckpt.errors` error instead of
returning wrong data or exhausting memory.
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
import operator
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
from google.protobuf.message import DecodeError

from ckpt.errors import (
    CheckpointNotFoundError,
    ChecksumMismatchError,
    CorruptCheckpointError,
    InvalidTensorError,
    TensorNotFoundError,
    UnsupportedCheckpointError,
)
from ckpt.format import naming, parallel, protos, storage, strings
from ckpt.format.crc import crc32c_of_array, mask, unmask
from ckpt.format.dtypes import DType, from_enum
from ckpt.format.slices import FULL, TensorSlice, decode_slice_key, encode_slice_key
from ckpt.format.table import read_table

_MAX_RANK = 254  # TensorShape's own limit
_MAX_DIM = (1 << 63) - 1
_NUMPY_MAX_RANK = 64  # NPY_MAXDIMS in NumPy 2
_COPY_CHUNK = 8 << 20  # verify-then-copy works in chunks that stay in cache
_HAS_MADVISE = hasattr(mmap.mmap, "madvise") and hasattr(mmap, "MADV_DONTNEED")
_COVERAGE_WORK_LIMIT = 1 << 20
# From this size on, a read checks the data file's current size first (see _check_extent).
_RECHECK_BYTES = 1 << 20

Bounds = tuple[tuple[int, int], ...]


def decode_key(raw: bytes) -> str:
    """Index keys are bytes; names are their UTF-8 text (undecodable bytes kept via surrogates)."""
    return raw.decode("utf-8", "surrogateescape")


def encode_key(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


class BundleEntry(NamedTuple):
    """One ``BundleEntryProto``: where a tensor (or one stored slice of it) lives."""

    key: str
    dtype: DType
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int  # masked, as stored
    slices: tuple[TensorSlice, ...]
    # Whole, numeric, non-empty, below the parallel size: served by the reader's fast path.
    simple: bool = False

    @property
    def num_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def is_sliced(self) -> bool:
        return bool(self.slices)


_SIZE = operator.attrgetter("size")
_SCALARS = operator.attrgetter("dtype", "shard_id", "offset", "size", "crc32c")
_SLICES_TAG = b"\x3a"  # field 7 (slices), wire type 2: absent from the bytes means no slices


def _parse_proto(key: str, value: bytes, path: str) -> Any:
    try:
        return protos.BundleEntryProto.FromString(value)
    except DecodeError:
        raise CorruptCheckpointError(
            f"{path}: entry {key!r} is not a valid BundleEntryProto", path=path, key=key
        ) from None


def _check_dims(key: str, shape: tuple[int, ...], path: str) -> tuple[int, ...]:
    """Validate dims as TF's ``TensorShape`` does; return them."""
    if len(shape) > _MAX_RANK or (shape and (min(shape) < 0 or max(shape) > _MAX_DIM)):
        raise CorruptCheckpointError(
            f"{path}: invalid tensor shape {list(shape)} for {key!r}", path=path, key=key
        )
    elements = 1
    for d in shape:
        if d:
            elements *= d
    if elements > _MAX_DIM:
        # TF's TensorShape refuses more than 2**63 - 1 elements (zero-size dims aside).
        raise CorruptCheckpointError(
            f"{path}: tensor shape {list(shape)} of {key!r} has more than 2**63 - 1 elements",
            path=path,
            key=key,
        )
    return shape


def _check_shape(key: str, shape_proto: Any, path: str) -> tuple[int, ...]:
    """Validate a ``TensorShapeProto``; return its dims."""
    if shape_proto.unknown_rank:
        raise CorruptCheckpointError(
            f"{path}: tensor {key!r} has an unknown rank", path=path, key=key
        )
    return _check_dims(key, tuple(map(_SIZE, shape_proto.dim)), path)


def _simple_dims(raw: bytes) -> tuple[int, ...] | None:
    """Dims of a serialized ``TensorShapeProto`` that holds only ``dim { size }`` fields.

    A listing-speed shortcut for the layout every writer produces (each dim is ``12 len``
    then, unless the size is 0, ``08 varint``); anything else returns None and goes through
    protobuf, which stays the reference decoder.
    """
    dims = []
    pos = 0
    n = len(raw)
    while pos < n:
        if raw[pos] != 0x12 or pos + 1 >= n:
            return None
        length = raw[pos + 1]
        pos += 2
        end = pos + length
        if length == 0:
            dims.append(0)
            continue
        if length < 2 or length > 11 or end > n or raw[pos] != 0x08 or raw[end - 1] >= 0x80:
            return None
        value = 0
        shift = 0
        for byte in raw[pos + 1 : end - 1]:
            if byte < 0x80:  # the varint ends early: more fields follow in this dim
                return None
            value |= (byte & 0x7F) << shift
            shift += 7
        dims.append(value | (raw[end - 1] << shift))
        pos = end
    return tuple(dims)


def _shape_bytes(value: bytes) -> bytes | None:
    """The serialized ``shape`` field of an entry laid out as TF and ckpt write it, else None.

    Proto3 writers emit fields in number order, so an entry starts with ``dtype`` (tag 0x08,
    a one-byte enum) and then ``shape`` (tag 0x12, a short length). Shapes recur across a
    checkpoint, so readers cache the parsed shape by these bytes; any other layout falls back
    to a full protobuf parse.
    """
    if len(value) >= 4 and value[0] == 0x08 and value[1] < 0x80 and value[2] == 0x12:
        length = value[3]
        if length < 0x80 and 4 + length <= len(value):
            return value[4 : 4 + length]
    return None


def _parse_entry(
    key: str, value: bytes, num_shards: int, path: str, shape: tuple[int, ...] | None = None
) -> BundleEntry:
    """Parse and validate one entry; everything a reader relies on is checked here.

    ``shape``, if given, is the entry's already validated shape.
    """
    proto = _parse_proto(key, value, path)
    if shape is None:
        shape = _check_shape(key, proto.shape, path)
    dtype_value, shard_id, offset, size, crc = _SCALARS(proto)
    dtype = from_enum(dtype_value)
    slices: tuple[TensorSlice, ...] = ()
    if _SLICES_TAG in value and len(proto.slices):
        slices = tuple(TensorSlice.from_proto(s) for s in proto.slices)
        for s in slices:
            if not s.fits(shape):
                raise CorruptCheckpointError(
                    f"{path}: slice {s} of {key!r} does not fit its shape {list(shape)}",
                    path=path,
                    key=key,
                )
        return BundleEntry(key, dtype, shape, 0, 0, 0, 0, slices)
    if not 0 <= shard_id < num_shards or offset < 0 or size < 0:
        raise CorruptCheckpointError(
            f"{path}: entry {key!r} points to shard {shard_id} offset {offset} "
            f"size {size}, outside the checkpoint's {num_shards} shard(s)",
            path=path,
            key=key,
        )
    if dtype.numpy is not None and not dtype.is_string:
        expected = dtype.numpy.itemsize
        for d in shape:
            expected *= d
        if expected != size:
            raise CorruptCheckpointError(
                f"{path}: invalid size in bundle entry {key!r}: stored size {size}, "
                f"expected {expected} for {dtype.name}{list(shape)}",
                path=path,
                key=key,
            )
    simple = (
        dtype.numpy is not None
        and not dtype.is_string
        and 0 < size < parallel.MIN_PARALLEL_BYTES  # larger ones are split across threads
        and len(shape) <= _NUMPY_MAX_RANK
    )
    return BundleEntry(key, dtype, shape, shard_id, offset, size, crc, slices, simple)


def _parse_header(value: bytes, path: str) -> tuple[int, bool]:
    try:
        header = protos.BundleHeaderProto.FromString(value)
    except DecodeError:
        raise CorruptCheckpointError(f"{path}: the bundle header is not valid", path=path) from None
    version = header.version
    if version.producer < 0 or version.min_consumer > 1 or 1 in version.bad_consumers:
        raise UnsupportedCheckpointError(
            f"{path}: checkpoint version (producer {version.producer}, min consumer "
            f"{version.min_consumer}) is not readable by this reader (consumer version 1)",
            path=path,
        )
    if header.num_shards < 1:
        raise CorruptCheckpointError(
            f"{path}: header declares {header.num_shards} shards", path=path
        )
    if header.endianness not in (protos.LITTLE_ENDIAN, protos.BIG_ENDIAN):
        raise CorruptCheckpointError(f"{path}: unknown endianness {header.endianness}", path=path)
    return int(header.num_shards), header.endianness == protos.BIG_ENDIAN


def _swap_to_native(array: np.ndarray) -> None:
    """Byte-swap a big-endian-stored numeric array in place (complex: each half separately)."""
    if array.dtype.itemsize == 1:
        return
    if array.dtype.kind == "c":
        half = np.dtype(np.float32 if array.dtype.itemsize == 8 else np.float64)
        array.view(half).byteswap(inplace=True)
    else:
        array.view(np.dtype(f"u{array.dtype.itemsize}")).byteswap(inplace=True)


class BundleReader:
    """Reads one V2 checkpoint given its prefix. Thread-safe for concurrent reads.

    Args:
        prefix: the checkpoint prefix (``dir/ckpt-3``), without ``.index``.
        verify: default for CRC32C verification of tensor bytes when they are read.
        readahead: let the kernel read ahead of the pages touched (fast for reading most of a
            checkpoint). ``False`` reads each tensor's own bytes only, for reading a part of a
            large checkpoint from a cold disk.
    """

    def __init__(self, prefix: str, *, verify: bool = True, readahead: bool = True) -> None:
        self.prefix = storage.normalize(prefix)
        self.verify = verify
        self._readahead = readahead
        # Remote (fsspec URL) bundles: one read of the index, then a ranged read per entry.
        self._remote = storage.is_url(self.prefix)
        index_path = naming.index_filename(self.prefix)
        try:
            if self._remote:
                raw = storage.read_bytes(index_path)
            else:
                with open(index_path, "rb") as f:
                    raw = f.read()
        except FileNotFoundError:
            raise CheckpointNotFoundError(
                f"no checkpoint at {self.prefix!r}: {index_path} does not exist", path=self.prefix
            ) from None
        except IsADirectoryError:
            raise CheckpointNotFoundError(
                f"{index_path} is a directory", path=self.prefix
            ) from None
        table = read_table(raw, index_path)
        if not table or table[0][0] != b"":
            raise CorruptCheckpointError(
                f"{index_path}: failed to seek to header entry; the file is corrupt or not a "
                "checkpoint index",
                path=index_path,
            )
        self.num_shards, self.big_endian = _parse_header(table[0][1], index_path)
        self._index_path = index_path
        # Entries are parsed (and validated) on first use, so opening costs one table scan.
        self._raw: dict[str, bytes] = {decode_key(k): v for k, v in table[1:]}
        self._entries: dict[str, BundleEntry] = {}
        self._slice_key_cache: dict[str, dict[str, TensorSlice]] = {}
        self._shape_cache: dict[bytes, tuple[int, ...]] = {}
        self._touched: dict[int, int] = {}
        self._visible = [k for k in self._raw if not k.startswith("\x00") or not self._hidden(k)]
        self._visible_set = set(self._visible)
        self._shards: dict[int, tuple[Any, int]] = {}
        self._fds: dict[int, int] = {}  # with readahead off: a descriptor per shard, for pread
        self._lock = threading.Lock()
        self._closed = False

    # --- metadata ---

    def keys(self) -> list[str]:
        """Tensor names in index order (bytewise), slice entries hidden."""
        return list(self._visible)

    def raw_keys(self) -> list[str]:
        """Every entry key, slice entries included."""
        return list(self._raw)

    def entry(self, key: str) -> BundleEntry:
        """The parsed entry of ``key`` (validated on first access)."""
        found = self._entries.get(key)
        if found is not None:
            return found
        value = self._raw.get(key)
        if value is None:
            raise TensorNotFoundError(
                f"Key {key} not found in checkpoint {self.prefix}", path=self.prefix, key=key
            )
        shape = self._cached_shape(key, value)
        found = _parse_entry(key, value, self.num_shards, self._index_path, shape)
        self._entries[key] = found
        return found

    def _cached_shape(self, key: str, value: bytes) -> tuple[int, ...] | None:
        """The validated shape of an entry via the shape cache, or None for unusual layouts."""
        raw_shape = _shape_bytes(value)
        if raw_shape is None:
            return None
        shape = self._shape_cache.get(raw_shape)
        if shape is None:
            dims = _simple_dims(raw_shape)
            if dims is None:
                return None  # unusual layout: the full protobuf parse handles (and checks) it
            shape = self._shape_cache[raw_shape] = _check_dims(key, dims, self._index_path)
        return shape

    def shape(self, key: str) -> tuple[int, ...]:
        """The (full) shape of ``key``; cheaper than :meth:`entry` for listing many keys."""
        found = self._entries.get(key)
        if found is not None:
            return found.shape
        value = self._raw.get(key)
        if value is None:
            return self.entry(key).shape  # raises TensorNotFoundError
        shape = self._cached_shape(key, value)
        return shape if shape is not None else self.entry(key).shape

    def _slice_keys(self, full: str) -> dict[str, TensorSlice]:
        """The slice-entry keys of a sliced tensor's slices, computed once per tensor."""
        found = self._slice_key_cache.get(full)
        if found is None:
            raw = encode_key(full)
            found = {decode_key(encode_slice_key(raw, s)): s for s in self.entry(full).slices}
            self._slice_key_cache[full] = found
        return found

    def slice_entries(self, key: str) -> list[BundleEntry]:
        """The entries of a sliced tensor's stored slices (present ones), in listing order."""
        return [self.entry(k) for k in self._slice_keys(key) if k in self._raw]

    def _hidden(self, key: str) -> bool:
        """Whether ``key`` is the slice entry of a slice some full entry lists (TF hides those)."""
        try:
            name, _ = decode_slice_key(encode_key(key))
        except ValueError:
            return False
        full = decode_key(name)
        if full not in self._raw:
            return False
        try:
            return key in self._slice_keys(full)
        except CorruptCheckpointError:
            return False  # the full entry is broken: reading it says so; its slices stay listed

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is a tensor name; slice entries are not (as in TF's ``has_tensor``)."""
        return key in self._visible_set

    def __len__(self) -> int:
        return len(self._visible)

    # --- data shards ---

    def _shard(self, shard_id: int, key: str | None = None) -> tuple[Any, int]:
        """A memory map (or ``b""`` for an empty file) of one data shard and its length.

        ``key``: the tensor being read, named in the error if the shard is missing.
        """
        with self._lock:
            if self._closed:
                raise ValueError(f"reader for {self.prefix} is closed")
            found = self._shards.get(shard_id)
            if found is not None:
                return found
            path = naming.data_filename(self.prefix, shard_id, self.num_shards)
            if self._remote:
                # No local copy: the shard's size only; entries are fetched by ranged reads.
                try:
                    remote_length = storage.size(path)
                except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                    raise CheckpointNotFoundError(
                        f"data file {path} of checkpoint {self.prefix} is missing", path=path
                    ) from None
                self._shards[shard_id] = (None, remote_length)
                return None, remote_length
            try:
                with open(path, "rb") as f:
                    length = os.fstat(f.fileno()).st_size
                    buf: Any = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if length else b""
                if not self._readahead and length and hasattr(os, "posix_fadvise"):
                    # Reads go through pread with readahead off, which fetches exactly the
                    # bytes asked for; the memory map then finds them in the page cache.
                    fd = os.open(path, os.O_RDONLY)
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
                    self._fds[shard_id] = fd
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                raise CheckpointNotFoundError(
                    f"data file {path} of checkpoint {self.prefix} is missing"
                    + (f" (reading {key!r})" if key is not None else ""),
                    path=path,
                    key=key,
                ) from None
            self._shards[shard_id] = (buf, length)
            return buf, length

    def _raw_bytes(self, entry: BundleEntry, needed: tuple[int, int] | None = None) -> np.ndarray:
        """The stored bytes of an unsliced entry as a read-only uint8 view of the data shard.

        ``needed`` is the byte range of it that will be touched (default: all); with readahead
        off, exactly that range is fetched from the file first.
        """
        buf, length = self._check_extent(entry)
        if entry.size == 0:
            empty = np.empty(0, np.uint8)
            empty.flags.writeable = False  # like the memory-mapped views: read-only
            return empty
        if self._remote:
            return self._fetch(entry, length)
        fd = self._fds.get(entry.shard_id)
        if fd is not None:
            start, stop = needed if needed is not None else (0, entry.size)
            _prefetch(fd, entry.offset + start, stop - start)
        return np.frombuffer(buf, np.uint8, entry.size, entry.offset)

    def _fetch(self, entry: BundleEntry, length: int) -> np.ndarray:
        """A remote entry's bytes, by one ranged read, as a read-only uint8 array."""
        path = naming.data_filename(self.prefix, entry.shard_id, self.num_shards)
        try:
            data = storage.read_range(path, entry.offset, entry.offset + entry.size)
        except FileNotFoundError:
            raise CheckpointNotFoundError(
                f"data file {path} of checkpoint {self.prefix} is missing", path=path
            ) from None
        if len(data) != entry.size:
            name, what = self._describe(entry)
            raise CorruptCheckpointError(
                f"{path} is truncated: tensor {what} needs bytes "
                f"[{entry.offset}, {entry.offset + entry.size}) but only {len(data)} of them "
                f"could be read (the file has {length})",
                path=path,
                key=name,
            )
        return np.frombuffer(data, np.uint8)  # read-only: it views immutable bytes

    def _check_extent(self, entry: BundleEntry) -> tuple[Any, int]:
        """Raise if an unsliced entry's bytes lie outside its data file (reads nothing).

        Returns the shard's ``(memory map or None, length)``.
        """
        shard = self._shards.get(entry.shard_id) or self._shard(entry.shard_id, entry.key)
        length = shard[1]
        end = entry.offset + entry.size
        if end > length or (
            # Touching mapped pages past the end of a file shrunk in place since it was
            # opened would kill the process (SIGBUS): ask for its size again (one fstat).
            entry.size >= _RECHECK_BYTES
            and isinstance(shard[0], mmap.mmap)
            and end > (length := shard[0].size())
        ):
            path = naming.data_filename(self.prefix, entry.shard_id, self.num_shards)
            name, what = self._describe(entry)
            raise CorruptCheckpointError(
                f"{path} is truncated: tensor {what} needs bytes "
                f"[{entry.offset}, {end}) but the file has {length}",
                path=path,
                key=name,
            )
        return shard

    def _describe(self, entry: BundleEntry) -> tuple[str, str]:
        """``(tensor name, description)`` of an entry; slice entries name their tensor."""
        if entry.key.startswith("\x00"):
            try:
                name, tensor_slice = decode_slice_key(encode_key(entry.key))
            except ValueError:
                return entry.key, repr(entry.key)
            return decode_key(name), f"{decode_key(name)!r} (slice {tensor_slice})"
        return entry.key, repr(entry.key)

    def _checksum_error(self, entry: BundleEntry, computed: int) -> ChecksumMismatchError:
        path = naming.data_filename(self.prefix, entry.shard_id, self.num_shards)
        name, what = self._describe(entry)
        return ChecksumMismatchError(
            f"checksum mismatch for tensor {what} in {path} ({entry.size} bytes at offset "
            f"{entry.offset}): stored {unmask(entry.crc32c):#010x}, computed "
            f"{unmask(computed):#010x}. The data file is corrupt.",
            path=path,
            key=name,
        )

    def _consumed(self, shard_id: int, nbytes: int) -> None:
        """Account for ``nbytes`` of a shard read; every few MiB, unmap what has been read.

        The data stays in the page cache; dropping it from this process's mapping keeps
        resident memory at the restored arrays plus a few MiB, however large the checkpoint.
        Later accesses (``view`` arrays included) simply fault the pages in again.
        """
        touched = self._touched.get(shard_id, 0) + nbytes
        if touched < _COPY_CHUNK:
            self._touched[shard_id] = touched
            return
        self._touched[shard_id] = 0
        buf, length = self._shards.get(shard_id, (b"", 0))
        if _HAS_MADVISE and isinstance(buf, mmap.mmap):
            with contextlib.suppress(OSError, ValueError):
                buf.madvise(mmap.MADV_DONTNEED, 0, length)

    def _releaser(self, entry: BundleEntry) -> Callable[[int, int], None] | None:
        """A callback dropping bytes ``[start, stop)`` of ``entry`` from this process's mapping.

        The parallel checksum and copy call it after each chunk (from worker threads), so
        resident memory stays at a few chunks however large the tensor; only whole pages
        inside the range are dropped, and later accesses fault them in again.
        """
        buf = self._shards.get(entry.shard_id, (None, 0))[0]
        if not (_HAS_MADVISE and isinstance(buf, mmap.mmap)):
            return None
        base = entry.offset

        def release(start: int, stop: int) -> None:
            first = -(-(base + start) // mmap.PAGESIZE) * mmap.PAGESIZE
            last = (base + stop) // mmap.PAGESIZE * mmap.PAGESIZE
            if last > first:
                with contextlib.suppress(OSError, ValueError):
                    buf.madvise(mmap.MADV_DONTNEED, first, last - first)

        return release

    def _verify(self, entry: BundleEntry, raw: np.ndarray, *, release: bool = True) -> None:
        """Check ``raw`` against the entry's CRC32C; ``release`` drops its pages as it goes
        (a view handed to the caller keeps them mapped instead).

        Every read checks again, as TF's reader does: the bytes come from the file each time
        (mapped pages are dropped after use), so an earlier check proves nothing.
        """
        releaser = self._releaser(entry) if release else None
        computed = mask(parallel.checksum(raw, on_chunk=releaser))
        if computed != entry.crc32c:
            raise self._checksum_error(entry, computed)

    def _require_readable(self, entry: BundleEntry) -> None:
        if len(entry.shape) > _NUMPY_MAX_RANK:
            raise UnsupportedCheckpointError(
                f"tensor {entry.key!r} in {self.prefix} has rank {len(entry.shape)}; NumPy "
                f"arrays have at most {_NUMPY_MAX_RANK} dimensions",
                path=self.prefix,
                key=entry.key,
            )
        if entry.dtype.numpy is not None:
            nbytes = entry.dtype.numpy.itemsize
            for d in entry.shape:
                nbytes *= d or 1
            if nbytes > _MAX_DIM:
                raise UnsupportedCheckpointError(
                    f"tensor {entry.key!r} in {self.prefix} has shape {list(entry.shape)}, which "
                    "a NumPy array cannot represent (over 2**63 - 1 bytes, zero dims aside)",
                    path=self.prefix,
                    key=entry.key,
                )
        if entry.dtype.numpy is None:
            raise UnsupportedCheckpointError(
                f"tensor {entry.key!r} in {self.prefix} has dtype {entry.dtype.name}, which "
                "ckpt cannot read",
                path=self.prefix,
                key=entry.key,
            )

    def _read_strings(self, entry: BundleEntry, verify: bool) -> np.ndarray:
        raw = self._raw_bytes(entry)
        if entry.size == 0 and entry.num_elements == 0:
            # TF's reader returns early on size 0; its CRC check then expects Mask(crc of "").
            if verify and entry.crc32c != mask(0):
                raise self._checksum_error(entry, mask(0))
            return strings.to_array([], entry.shape)
        try:
            elements, computed = strings.decode(
                raw, entry.num_elements, big_endian=self.big_endian, verify=verify
            )
        except strings.StringDecodeError as exc:
            raise CorruptCheckpointError(
                f"string tensor {entry.key!r} in {self.prefix} is corrupt: {exc}",
                path=self.prefix,
                key=entry.key,
            ) from None
        if verify and computed != entry.crc32c:
            raise self._checksum_error(entry, computed)
        return strings.to_array(elements, entry.shape)

    # --- reading tensors ---

    def read(
        self, key: str, *, out: np.ndarray | None = None, verify: bool | None = None
    ) -> np.ndarray:
        """Read a whole tensor (assembling sliced tensors), optionally into ``out``."""
        entry = self._entries.get(key) or self.entry(key)
        # The common case, kept short: a whole, little-endian, numeric tensor of at most one
        # chunk, read into a fresh array or a matching contiguous one.
        if entry.simple and not self.big_endian and not self._remote:
            dtype = entry.dtype.numpy
            if out is not None and not (
                type(out) is np.ndarray
                and out.shape == entry.shape
                and out.dtype == dtype
                and out.flags.c_contiguous
                and out.flags.writeable
            ):
                return self._read_general(entry, out, verify)  # checks ``out`` and says why
            shard = self._shards.get(entry.shard_id)
            buf, length = shard if shard is not None else self._shard(entry.shard_id, key)
            if entry.offset + entry.size > length or entry.size >= _RECHECK_BYTES:
                self._check_extent(entry)  # raises if the file is (or has become) too short
            if self._fds:  # readahead off: _raw_bytes fetches exactly this entry's bytes
                raw = self._raw_bytes(entry)
            else:
                raw = np.frombuffer(buf, np.uint8, entry.size, entry.offset)
            if self.verify if verify is None else verify:
                computed = mask(crc32c_of_array(raw))
                if computed != entry.crc32c:
                    raise self._checksum_error(entry, computed)
            if out is None:
                out = np.empty(entry.shape, dtype)
            np.copyto(out.reshape(-1).view(np.uint8), raw)
            self._consumed(entry.shard_id, entry.size)
            return out
        return self._read_general(entry, out, verify)

    def _read_general(
        self, entry: BundleEntry, out: np.ndarray | None, verify: bool | None
    ) -> np.ndarray:
        key = entry.key
        full = tuple((0, d) for d in entry.shape)
        return self.read_region(key, full, out=out, verify=verify)

    def read_region(
        self, key: str, bounds: Bounds, *, out: np.ndarray | None = None, verify: bool | None = None
    ) -> np.ndarray:
        """Read the hyper-rectangle ``bounds`` (``(start, stop)`` per dim) of tensor ``key``."""
        verify = self.verify if verify is None else verify
        entry = self.entry(key)
        self._require_readable(entry)
        shape = tuple(stop - start for start, stop in bounds)
        if len(bounds) != len(entry.shape) or any(
            not 0 <= start <= stop <= dim
            for (start, stop), dim in zip(bounds, entry.shape, strict=True)
        ):
            raise InvalidTensorError(
                f"region {list(bounds)} is outside tensor {key!r} of shape {list(entry.shape)}",
                path=self.prefix,
                key=key,
            )
        pieces = self._pieces(entry, bounds)
        dtype = entry.dtype.numpy
        assert dtype is not None
        if out is not None:
            _check_out(out, shape, dtype, key)
        whole = bounds == tuple((0, d) for d in entry.shape)
        if not entry.is_sliced and whole:
            if not entry.dtype.is_string:
                return self._read_whole(entry, out, verify)
            if out is None:
                return self._read_strings(entry, verify)
        # Every piece is bounds-checked and verified (numeric pieces are views of the memory
        # map, so this copies nothing) before the result is allocated or ``out`` is touched.
        values = [
            self._read_piece(
                piece,
                verify,
                tuple(
                    (a - p0, b - p0)
                    for (a, b), (p0, _) in zip(
                        _intersect(piece_bounds, bounds), piece_bounds, strict=True
                    )
                ),
            )
            for piece_bounds, piece in pieces
        ]
        result = out if out is not None else np.empty(shape, dtype)
        for (piece_bounds, piece), piece_values in zip(pieces, values, strict=True):
            inter = _intersect(piece_bounds, bounds)
            src = tuple(
                slice(a - p0, b - p0) for (a, b), (p0, _) in zip(inter, piece_bounds, strict=True)
            )
            dst = tuple(
                slice(a - r0, b - r0) for (a, b), (r0, _) in zip(inter, bounds, strict=True)
            )
            if piece.dtype.is_string or self._remote or not inter:
                result[dst] = piece_values[src]
                continue
            # Row blocks of a few MiB, each released from the mapping once copied, so the
            # memory a read needs stays bounded whatever the size of the stored piece.
            row_bytes = max(1, _volume(inter[1:]) * result.itemsize)
            step = max(1, _COPY_CHUNK // row_bytes)
            (s0, d0) = (src[0].start, dst[0].start)
            rows = inter[0][1] - inter[0][0]
            for r in range(0, rows, step):
                n = min(step, rows - r)
                rows_dst = (slice(d0 + r, d0 + r + n), *dst[1:])
                rows_src = (slice(s0 + r, s0 + r + n), *src[1:])
                result[rows_dst] = piece_values[rows_src]
                self._consumed(piece.shard_id, n * row_bytes)
        return result

    def region_bytes(self, key: str, bounds: Bounds, *, verify: bool | None = None) -> int:
        """Bytes of the data files a read of region ``bounds`` of ``key`` touches.

        With verification every stored piece the region intersects is read whole (its CRC32C
        covers all of it); without, only the region's own elements (strings: whole pieces).
        """
        verify = self.verify if verify is None else verify
        entry = self.entry(key)
        total = 0
        for piece_bounds, piece in self._pieces(entry, bounds):
            if verify or piece.dtype.is_string or piece.dtype.numpy is None:
                total += piece.size
            else:
                total += _volume(_intersect(piece_bounds, bounds)) * piece.dtype.numpy.itemsize
        return total

    def _read_piece(
        self, entry: BundleEntry, verify: bool, bounds: Bounds | None = None
    ) -> np.ndarray:
        """A stored piece as an array: strings decoded, numeric a verified read-only view.

        ``bounds``: the part of the piece that will be used (unverified reads fetch only the
        bytes spanning it).
        """
        if entry.dtype.is_string:
            return self._read_strings(entry, verify)
        needed = None
        if not verify and bounds is not None and entry.dtype.numpy is not None:
            needed = _byte_span(bounds, entry.shape, entry.dtype.numpy.itemsize)
        raw = self._raw_bytes(entry, needed)
        if verify:
            self._verify(entry, raw)
        assert entry.dtype.numpy is not None
        values = raw.view(entry.dtype.numpy).reshape(entry.shape)
        if self.big_endian:
            values = values.copy()
            _swap_to_native(values)
        return values

    def _read_whole(self, entry: BundleEntry, out: np.ndarray | None, verify: bool) -> np.ndarray:
        raw = self._raw_bytes(entry)
        if verify:
            # Verify every byte before copying any, so a corrupt tensor never lands in ``out``.
            self._verify(entry, raw)
        assert entry.dtype.numpy is not None
        if out is None:
            out = np.empty(entry.shape, entry.dtype.numpy)
        if out.flags.c_contiguous:
            dst = out.reshape(-1).view(np.uint8)
            parallel.copy(dst, raw, on_chunk=self._releaser(entry))
        else:
            out[...] = raw.view(entry.dtype.numpy).reshape(entry.shape)
        if self.big_endian:
            _swap_to_native(out)
        return out

    def view(self, key: str, *, verify: bool = False) -> np.ndarray:
        """A zero-copy, read-only array over the memory-mapped data.

        With ``verify``, the CRC32C is checked first; the pages stay mapped for the caller.
        """
        entry = self.entry(key)
        self._require_readable(entry)
        if entry.is_sliced or entry.dtype.is_string or self.big_endian:
            raise InvalidTensorError(
                f"tensor {key!r} in {self.prefix} cannot be viewed without copying (it is "
                "sliced, a string or big-endian); use get_tensor",
                path=self.prefix,
                key=key,
            )
        assert entry.dtype.numpy is not None
        raw = self._raw_bytes(entry)
        if verify:
            self._verify(entry, raw, release=False)
        return raw.view(entry.dtype.numpy).reshape(entry.shape)

    def verify_tensor(self, key: str) -> None:
        """Check one tensor's CRC32C (every stored slice of a sliced one) without copying it."""
        entry = self.entry(key)
        for _, piece in self._pieces(entry, tuple((0, d) for d in entry.shape)):
            if piece.dtype.is_string:
                self._read_strings(piece, True)
            elif piece.dtype.numpy is not None:
                self._verify(piece, self._raw_bytes(piece))

    def _pieces(self, entry: BundleEntry, bounds: Bounds) -> list[tuple[Bounds, BundleEntry]]:
        """Stored pieces intersecting ``bounds``, after checking they cover it."""
        if not entry.is_sliced:
            return [(tuple((0, d) for d in entry.shape), entry)]
        pieces = []
        for slice_key, s in self._slice_keys(entry.key).items():
            piece = self.entry(slice_key) if slice_key in self._raw else None
            piece_bounds = s.bounds(entry.shape)
            if piece is None or piece.is_sliced:
                raise CorruptCheckpointError(
                    f"{self.prefix}: slice {s} of {entry.key!r} has no valid slice entry",
                    path=self.prefix,
                    key=entry.key,
                )
            if piece.shape != s.shape(entry.shape) or piece.dtype.value != entry.dtype.value:
                raise CorruptCheckpointError(
                    f"{self.prefix}: slice {s} of {entry.key!r} is stored as "
                    f"{piece.dtype.name}{list(piece.shape)}, expected "
                    f"{entry.dtype.name}{list(s.shape(entry.shape))}",
                    path=self.prefix,
                    key=entry.key,
                )
            if _volume(_intersect(piece_bounds, bounds)) > 0:
                self._check_extent(piece)  # its bytes exist: coverage stays within the files
                pieces.append((piece_bounds, piece))
        if _volume(bounds) and not _covers([b for b, _ in pieces], bounds):
            raise CorruptCheckpointError(
                f"{self.prefix}: does not have sufficient slices for partitioned tensor "
                f"{entry.key!r} to read region {list(bounds)}",
                path=self.prefix,
                key=entry.key,
            )
        return pieces

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for fd in self._fds.values():
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._fds.clear()
            for buf, _ in self._shards.values():
                if isinstance(buf, mmap.mmap):
                    # Views handed out by ``view`` may still use it; it is freed with them.
                    with contextlib.suppress(BufferError):
                        buf.close()
            self._shards.clear()

    def __iter__(self) -> Iterator[str]:
        return iter(self._visible)


def _check_out(out: np.ndarray, shape: tuple[int, ...], dtype: np.dtype, key: str) -> None:
    if not isinstance(out, np.ndarray):
        raise InvalidTensorError(f"out for {key!r} must be a NumPy array", key=key)
    if out.shape != shape or out.dtype != dtype:
        raise InvalidTensorError(
            f"out for {key!r} is {out.dtype}{list(out.shape)}, the tensor is {dtype}{list(shape)}",
            key=key,
        )
    if not out.flags.writeable:
        raise InvalidTensorError(f"out for {key!r} is read-only", key=key)


_PREFETCH_CHUNK = 8 << 20


def _prefetch(fd: int, offset: int, size: int) -> None:
    """Bring bytes ``[offset, offset + size)`` of a file into the page cache with ``pread``
    (the descriptor has readahead off, so nothing around them is read)."""
    scratch = bytearray(min(size, _PREFETCH_CHUNK))
    view = memoryview(scratch)
    done = 0
    while done < size:
        n = os.preadv(fd, [view[: min(len(scratch), size - done)]], offset + done)
        if n <= 0:
            return  # past the end: the bounds check reports the truncation
        done += n


def _byte_span(bounds: Bounds, shape: tuple[int, ...], itemsize: int) -> tuple[int, int]:
    """Bytes from the first to the last element of region ``bounds`` of a C-order array."""
    if not shape:
        return 0, itemsize
    if any(stop <= start for start, stop in bounds):
        return 0, 0
    strides = [1] * len(shape)
    for axis in range(len(shape) - 2, -1, -1):
        strides[axis] = strides[axis + 1] * shape[axis + 1]
    first = sum(start * stride for (start, _), stride in zip(bounds, strides, strict=True))
    last = sum((stop - 1) * stride for (_, stop), stride in zip(bounds, strides, strict=True))
    return first * itemsize, (last + 1) * itemsize


def _intersect(a: Bounds, b: Bounds) -> Bounds:
    return tuple(
        (max(a0, b0), max(max(a0, b0), min(a1, b1)))
        for (a0, a1), (b0, b1) in zip(a, b, strict=True)
    )


def _volume(bounds: Bounds) -> int:
    n = 1
    for start, stop in bounds:
        n *= stop - start
    return n


def _covers(pieces: Sequence[Bounds], region: Bounds) -> bool:
    """Whether the union of ``pieces`` covers ``region`` exactly (overlaps allowed)."""
    cuts = []
    for dim, (r0, r1) in enumerate(region):
        edges = {r0, r1}
        for p in pieces:
            for e in p[dim]:
                if r0 < e < r1:
                    edges.add(e)
        cuts.append(sorted(edges))
    cells = 1
    for c in cuts:
        cells *= len(c) - 1
    if cells * max(len(pieces), 1) <= _COVERAGE_WORK_LIMIT:
        # Check every cell of the grid the pieces' edges cut the region into.
        grid = itertools.product(*[list(itertools.pairwise(c)) for c in cuts])
        return all(
            any(
                all(p0 <= c0 and c1 <= p1 for (c0, c1), (p0, p1) in zip(cell, p, strict=True))
                for p in pieces
            )
            for cell in grid
        )
    if sum(_volume(_intersect(p, region)) for p in pieces) < _volume(region):
        return False
    # Many pieces: mark a mask of the region (one byte per element, no more than the result,
    # and the pieces, whose bytes exist in the files, hold at least that many elements).
    covered = np.zeros(tuple(r1 - r0 for r0, r1 in region), dtype=np.bool_)
    for p in pieces:
        inter = _intersect(p, region)
        covered[
            tuple(slice(a - r0, b - r0) for (a, b), (r0, _) in zip(inter, region, strict=True))
        ] = True
    return bool(covered.all())


__all__ = ["FULL", "BundleEntry", "BundleReader", "decode_key", "encode_key"]
