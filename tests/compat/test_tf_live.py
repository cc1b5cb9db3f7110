"""Differential tests against TensorFlow itself, imported in this process.

* TF reads what ckpt writes (``tf.train.load_checkpoint`` and ``tf.raw_ops.RestoreV2``);
* ckpt reads what TF writes (object checkpoints, ``SaveV2``, merged multi-shard bundles);
* the same tensors written by ``SaveV2`` and by ckpt give byte-identical ``.index`` and data
  files (many index blocks, oversized keys, slices, merged shards);
* the ``checkpoint`` state file round-trips in both directions, with ``CheckpointManager``.

Without TensorFlow the module is skipped, unless ``CKPT_REQUIRE_TF`` is set: then it fails.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
from fixture_spec import spec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tf_support import import_tensorflow

import ckpt
from ckpt.errors import CheckpointNotFoundError

tf, _TF_MISSING = import_tensorflow()
if tf is None:
    pytest.skip(_TF_MISSING, allow_module_level=True)
from tensorflow.python.checkpoint import checkpoint_management as tf_management  # noqa: E402
from tensorflow.python.distribute.sharded_variable import ShardedVariable  # noqa: E402

pytestmark = pytest.mark.tf

BLOCK_SIZE = 262144  # TF's table block size for bundle indexes



# Dtypes whose partial slices TF's BundleReader can copy (TF 2.21, verified below); for the
# others TF only returns a stored slice when asked for exactly that slice.
TF_ASSEMBLES = {"float32", "float64", "bfloat16", "int8", "int16", "int32", "int64", "uint8",
                "bool", "complex64", "complex128", "int4", "uint4"}


# --- helpers ----------------------------------------------------------------------------------


def tf_dtype(name: str) -> tf.DType:
    if name == "string":
        return tf.string
    if name in spec.EXPERIMENTAL_DTYPES:
        return getattr(tf.dtypes.experimental, name)
    return tf.as_dtype(spec.CORE_DTYPES[name])


def raw_name(name: str) -> bytes:
    """A key as TF sees it: ckpt maps non-UTF-8 key bytes to surrogates (surrogateescape)."""
    return name.encode("utf-8", "surrogateescape")


def dtype_name(value: np.ndarray) -> str:
    return "string" if value.dtype == object else tf.as_dtype(value.dtype).name


def as_numpy(value: Any, expected: np.ndarray) -> np.ndarray:
    """TF returns a bare ``bytes`` for a scalar string and NumPy scalars for numbers."""
    if expected.dtype == object:
        return np.array(value, dtype=object).reshape(np.shape(value))
    return np.asarray(value)


def check(actual: Any, expected: np.ndarray, what: str) -> None:
    problem = spec.difference(as_numpy(actual, expected), expected)
    assert problem is None, f"{what}: {problem}"


def tf_save(prefix: str | Path, items: Sequence[tuple[str, np.ndarray, str]]) -> None:
    """``SaveV2`` of ``(name, value, shape_and_slice)`` in this order."""
    tf.raw_ops.SaveV2(
        prefix=str(prefix),
        tensor_names=[raw_name(name) for name, _, _ in items],
        shape_and_slices=[s for _, _, s in items],
        tensors=[tf.constant(v, dtype=tf_dtype(dtype_name(v))) for _, v, _ in items],
    )


def tf_restore(prefix: str | Path, items: Sequence[tuple[str, str, str]]) -> list[Any]:
    """``RestoreV2`` of ``(name, shape_and_slice, dtype name)``; NumPy values."""
    out = tf.raw_ops.RestoreV2(
        prefix=str(prefix),
        tensor_names=[raw_name(n) for n, _, _ in items],
        shape_and_slices=[s for _, s, _ in items],
        dtypes=[tf_dtype(d) for _, _, d in items],
    )
    return [t.numpy() for t in out]


def assert_tf_reads(prefix: str | Path, expected: dict[str, np.ndarray]) -> None:
    """TF's reader and RestoreV2 both see exactly ``expected`` at ``prefix``."""
    reader = tf.train.load_checkpoint(str(prefix))
    assert reader.get_variable_to_shape_map() == {k: list(v.shape) for k, v in expected.items()}
    dtypes = reader.get_variable_to_dtype_map()
    for key, value in expected.items():
        assert dtypes[key] == tf_dtype(dtype_name(value)), key
        check(reader.get_tensor(key), value, f"load_checkpoint {key}")
    if not expected:
        return  # RestoreV2 needs at least one tensor
    restored = tf_restore(prefix, [(k, "", dtype_name(v)) for k, v in expected.items()])
    for (key, value), got in zip(expected.items(), restored, strict=True):
        check(got, value, f"RestoreV2 {key}")


def assert_ckpt_matches_tf(prefix: str | Path) -> ckpt.CheckpointReader:
    """ckpt sees the same keys, shapes, dtypes and values as TF's own reader."""
    theirs = tf.train.load_checkpoint(str(prefix))
    ours = ckpt.load_checkpoint(prefix)
    assert ours.get_variable_to_shape_map() == theirs.get_variable_to_shape_map()
    their_dtypes = theirs.get_variable_to_dtype_map()
    assert ours.get_variable_to_tf_dtype_map() == {k: d.name for k, d in their_dtypes.items()}
    assert {k: tf.as_dtype(d) for k, d in ours.get_variable_to_dtype_map().items()} == their_dtypes
    assert ckpt.list_variables(prefix) == tf.train.list_variables(str(prefix))
    for key in ours:
        mine = ours.get_tensor(key)
        check(theirs.get_tensor(key), mine, f"TF vs ckpt {key}")
    ours.verify()
    return ours


def checkpoint_files(prefix: str | Path) -> dict[str, bytes]:
    """``{suffix: bytes}`` of the index and data files of ``prefix``."""
    prefix = Path(prefix)
    found = {
        p.name[len(prefix.name):]: p.read_bytes()
        for p in prefix.parent.iterdir()
        if p.name.startswith(prefix.name + ".")
    }
    assert ".index" in found, f"no index at {prefix}"
    return found


def assert_same_files(tf_prefix: str | Path, ckpt_prefix: str | Path) -> dict[str, bytes]:
    theirs, ours = checkpoint_files(tf_prefix), checkpoint_files(ckpt_prefix)
    assert sorted(ours) == sorted(theirs)
    for suffix in sorted(theirs):
        a, b = theirs[suffix], ours[suffix]
        if a != b:
            first = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                         min(len(a), len(b)))
            pytest.fail(f"{suffix} differs: TF {len(a)} bytes, ckpt {len(b)} bytes, first "
                        f"difference at byte {first}: TF {a[first:first + 16].hex()} vs ckpt "
                        f"{b[first:first + 16].hex()}")
    return theirs


def save_both(directory: Path, items: Sequence[tuple[str, np.ndarray, str]],
              full_shapes: dict[str, Sequence[int]] | None = None) -> dict[str, bytes]:
    """Write ``items`` with SaveV2 and with ckpt (same order) and compare the files."""
    tf_prefix, ckpt_prefix = directory / "tf" / "ckpt", directory / "ours" / "ckpt"
    tf_prefix.parent.mkdir()
    tf_save(tf_prefix, items)
    with ckpt.CheckpointWriter(ckpt_prefix) as writer:
        for name, value, slice_spec in items:
            if slice_spec:
                offset = [int(e.split(",")[0]) for e in slice_spec.split(" ")[-1].split(":")]
                assert full_shapes is not None
                writer.add_slice(name, value, full_shape=full_shapes[name], offset=offset)
            else:
                writer.add(name, value)
    return assert_same_files(tf_prefix, ckpt_prefix)


def dtype_cases(name: str) -> dict[str, np.ndarray]:
    """A matrix, a scalar and zero-size tensors of one dtype (plus string edge cases)."""
    cases = {
        f"{name}/matrix": spec.values(name, (3, 4), seed=1),
        f"{name}/rank3": spec.values(name, (2, 2, 3), seed=2),
        f"{name}/scalar": spec.values(name, (), seed=3),
        f"{name}/empty": spec.values(name, (0,), seed=0),
        f"{name}/empty2d": spec.values(name, (4, 0), seed=0),
    }
    if name in spec.EXPERIMENTAL_DTYPES:
        cases[f"{name}/all"] = spec.values(name, (16, 16), seed=0)  # every 8-bit pattern
    if name == "string":
        cases["string/empty_string"] = np.array(b"", dtype=object)
        cases["string/all_empty"] = np.array([b"", b""], dtype=object)
        cases["string/big"] = np.array([b"", bytes(range(256)) * 70, b"z"], dtype=object)
    return cases


# --- TF reads what ckpt writes ---------------------------------------------------------------


@pytest.mark.parametrize("name", spec.ALL_DTYPE_NAMES)
def test_tf_reads_every_dtype(tmp_path: Path, name: str) -> None:
    expected = dtype_cases(name)
    prefix = ckpt.write_tensors(tmp_path / "ckpt", expected)
    assert_tf_reads(prefix, expected)


def test_tf_reads_all_dtypes_in_one_checkpoint(tmp_path: Path) -> None:
    expected = {t.key: t.value() for t in spec.DTYPES_TENSORS}
    assert_tf_reads(ckpt.write_tensors(tmp_path / "ckpt", expected), expected)


def test_tf_reads_str_arrays_as_utf8(tmp_path: Path) -> None:
    prefix = ckpt.write_tensors(tmp_path / "ckpt", {"u": np.array(["h\u00e9", "", "\u2713x"])})
    assert_tf_reads(prefix, {"u": np.array(["h\u00e9".encode(), b"", "\u2713x".encode()],
                                           dtype=object)})


def test_tf_reads_three_shards(tmp_path: Path) -> None:
    expected = {f"t{i}/{name}": spec.values(name, (i % 4 + 1, 3), seed=i)
                for i, name in enumerate(spec.ALL_DTYPE_NAMES)}
    prefix = tmp_path / "sharded"
    with ckpt.CheckpointWriter(prefix, num_shards=3) as writer:
        for i, (key, value) in enumerate(expected.items()):
            writer.add(key, value, shard=None if i % 2 else i % 3)
    for i in range(3):
        data = Path(f"{prefix}.data-{i:05d}-of-00003")
        assert data.stat().st_size > 0, f"shard {i} is empty"
    assert_tf_reads(prefix, expected)


def test_tf_reads_empty_checkpoint_and_empty_shards(tmp_path: Path) -> None:
    assert_tf_reads(ckpt.write_tensors(tmp_path / "none", {}), {})
    expected = {"only": spec.values("int16", (2,), 1)}
    assert_tf_reads(ckpt.write_tensors(tmp_path / "sparse", expected, num_shards=3), expected)
    sizes = [Path(f"{tmp_path / 'sparse'}.data-{i:05d}-of-00003").stat().st_size
             for i in range(3)]
    assert sorted(sizes) == [0, 0, 4]


def test_tf_reads_noncontiguous_and_big_endian_inputs(tmp_path: Path) -> None:
    base = spec.values("float64", (4, 6), seed=3)
    inputs = {
        "fortran": np.asfortranarray(base),
        "transposed": base.T,
        "strided": base[::2, 1::3],
        "big_endian": base.astype(">f8"),
        "big_endian_int": spec.values("int32", (5,), 1).astype(">i4"),
        "complex_big": spec.values("complex128", (3,), 2).astype(">c16"),
    }
    prefix = ckpt.write_tensors(tmp_path / "ckpt", inputs)
    assert_tf_reads(prefix, {k: np.ascontiguousarray(v, dtype=v.dtype.newbyteorder("="))
                             for k, v in inputs.items()})


ROW_PARTS = (((4, 0), (3, 3)), ((0, 0), (4, 3)), ((7, 0), (3, 3)))  # added out of order


def write_sliced(prefix: Path, full: np.ndarray, parts: Iterable[tuple[Sequence[int],
                 Sequence[int]]], num_shards: int = 2) -> None:
    with ckpt.CheckpointWriter(prefix, num_shards=num_shards) as writer:
        writer.add("before", np.arange(3, dtype=np.int32))
        for i, (offset, shape) in enumerate(parts):
            writer.add_slice("t", full[spec.region(offset, shape)], full_shape=full.shape,
                             offset=offset, shard=i % num_shards)
        writer.add("after", np.float32(1.5))


@pytest.mark.parametrize("name", spec.ALL_DTYPE_NAMES)
def test_tf_restores_sliced_tensor(tmp_path: Path, name: str) -> None:
    full = spec.values(name, (10, 3), seed=5)
    prefix = tmp_path / "sliced"
    write_sliced(prefix, full, ROW_PARTS)
    shape_map = tf.train.load_checkpoint(str(prefix)).get_variable_to_shape_map()
    assert shape_map == {"before": [3], "after": [], "t": [10, 3]}
    # Each stored part, asked for exactly: every dtype.
    requests = [(spec.slice_spec(full.shape, o, s), spec.region(o, s)) for o, s in ROW_PARTS]
    if name in TF_ASSEMBLES:
        # The whole tensor, and regions straddling parts, assembled by TF.
        requests += [("", (slice(None),) * 2),
                     ("10 3 2,5:1,2", (slice(2, 7), slice(1, 3))),
                     ("10 3 3,5:0,3", (slice(3, 8), slice(0, 3)))]
    restored = tf_restore(prefix, [("t", s, name) for s, _ in requests])
    for (slice_spec, index), got in zip(requests, restored, strict=True):
        check(got, full[index], f"RestoreV2 t[{slice_spec}]")
    if name in TF_ASSEMBLES:
        check(tf.train.load_checkpoint(str(prefix)).get_tensor("t"), full, "load_checkpoint t")
    else:
        with pytest.raises(tf.errors.InvalidArgumentError, match="not supported"):
            tf_restore(prefix, [("t", "", name)])


def test_tf_assembles_2d_grid(tmp_path: Path) -> None:
    full = spec.values("float32", (4, 6), seed=9)
    parts = [((r, c), (2, 3)) for r in (2, 0) for c in (3, 0)]
    prefix = tmp_path / "grid"
    write_sliced(prefix, full, parts, num_shards=3)
    check(tf.train.load_checkpoint(str(prefix)).get_tensor("t"), full, "grid")
    (middle,) = tf_restore(prefix, [("t", "4 6 1,2:2,2", "float32")])
    check(middle, full[1:3, 2:4], "grid middle")
    with ckpt.load_checkpoint(prefix) as reader:
        check(reader.get_tensor("t"), full, "ckpt grid")


# --- ckpt reads what TF writes ---------------------------------------------------------------


class _Block(tf.Module):
    def __init__(self, seed: int) -> None:
        super().__init__()
        self.kernel = tf.Variable(spec.values("float32", (3, 2), seed))
        self.bias = tf.Variable(spec.values("bfloat16", (2,), seed + 1))


class _Net(tf.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = [_Block(1), _Block(3)]
        self.heads = {"cls": _Block(5), "we/ird.name": tf.Variable(spec.values("int8", (4,), 6))}
        self.emb = ShardedVariable([tf.Variable(spec.values("float64", (5, 2), 7)[:3]),
                                    tf.Variable(spec.values("float64", (5, 2), 7)[3:])])
        self.words = tf.Variable(spec.values("string", (2, 2), 8))
        self.flag = tf.Variable(True)


def test_ckpt_reads_tf_object_checkpoint(tmp_path: Path) -> None:
    net = _Net()
    prefix = tf.train.Checkpoint(net=net, extra=tf.Variable(np.uint32(7))).write(
        str(tmp_path / "obj"))
    with assert_ckpt_matches_tf(prefix) as reader:
        assert "net/heads/we.Sird..name/.ATTRIBUTES/VARIABLE_VALUE" in reader
        check(reader.get_tensor("net/emb/.ATTRIBUTES/VARIABLE_VALUE"),
              spec.values("float64", (5, 2), 7), "sharded variable")
        check(reader.get_tensor("net/blocks/1/kernel/.ATTRIBUTES/VARIABLE_VALUE"),
              spec.values("float32", (3, 2), 3), "list element")


def test_ckpt_reads_tf_savev2_every_dtype(tmp_path: Path) -> None:
    tensors = spec.DTYPES_TENSORS
    tf_save(tmp_path / "all", [(t.key, t.value(), "") for t in tensors])
    with assert_ckpt_matches_tf(tmp_path / "all") as reader:
        for t in tensors:
            check(reader.get_tensor(t.key), t.value(), t.key)


def test_ckpt_reads_tf_merged_shards(tmp_path: Path) -> None:
    full = spec.values("int64", (9, 2), seed=4)
    inputs = []
    for i in range(3):
        rows = ((3 * i, 0), (3, 2))
        items = [(f"only_{i}", spec.values(spec.ALL_DTYPE_NAMES[i * 5], (2, i + 1), i), ""),
                 ("t", full[spec.region(*rows)], spec.slice_spec(full.shape, *rows))]
        tf_save(tmp_path / f"in_{i}", items)
        inputs.append(str(tmp_path / f"in_{i}"))
    merged = tmp_path / "out" / "merged"
    tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=inputs, destination_prefix=str(merged))
    assert sorted(checkpoint_files(merged)) == [
        ".data-00000-of-00003", ".data-00001-of-00003", ".data-00002-of-00003", ".index"]
    with assert_ckpt_matches_tf(merged) as reader:
        check(reader.get_tensor("t"), full, "t")
        check(reader.get_slice("t", (slice(2, 7),)), full[2:7], "t[2:7]")


def test_ckpt_reads_tf_max_shard_size_policy(tmp_path: Path) -> None:
    """TF2's sharding policy splits variables into slices across many data files."""
    module = tf.Module()
    module.a = tf.Variable(spec.values("float32", (20, 10), 1))
    module.b = tf.Variable(spec.values("int64", (50,), 2))
    module.c = tf.Variable(spec.values("bfloat16", (7, 3), 3))
    module.d = tf.Variable(spec.values("complex128", (9,), 4))
    # TF 2.21's MaxShardSizePolicy crashes on string variables of rank >= 2, and loops forever
    # (growing memory) on a string element longer than max_shard_size: keep strings short.
    module.s = tf.Variable(np.array([b"short", b"", "\u2713".encode(), b"\x00\xff"], dtype=object))
    module.emb = ShardedVariable([tf.Variable(spec.values("float64", (5, 2), 7)[:3]),
                                  tf.Variable(spec.values("float64", (5, 2), 7)[3:])])
    policy = tf.train.experimental.MaxShardSizePolicy(max_shard_size=96)
    options = tf.train.CheckpointOptions(experimental_sharding_callback=policy)
    prefix = tf.train.Checkpoint(m=module).write(str(tmp_path / "policy"), options=options)
    assert len(checkpoint_files(prefix)) > 10  # the index and many data files
    with assert_ckpt_matches_tf(prefix) as reader:
        check(reader.get_tensor("m/a/.ATTRIBUTES/VARIABLE_VALUE"),
              spec.values("float32", (20, 10), 1), "m/a")
        check(reader.get_tensor("m/emb/.ATTRIBUTES/VARIABLE_VALUE"),
              spec.values("float64", (5, 2), 7), "sharded variable")


@pytest.mark.parametrize("name", spec.ALL_DTYPE_NAMES)
def test_ckpt_assembles_tf_slices_every_dtype(tmp_path: Path, name: str) -> None:
    """TF writes slices of any dtype (its reader assembles only some); ckpt assembles all."""
    full = spec.values(name, (6, 4), seed=8)
    parts = (((3, 0), (3, 2)), ((0, 0), (3, 4)), ((3, 2), (3, 2)))
    tf_save(tmp_path / "s", [("t", full[spec.region(o, s)], spec.slice_spec(full.shape, o, s))
                             for o, s in parts])
    with ckpt.load_checkpoint(tmp_path / "s") as reader:
        assert reader.keys() == ["t"]
        assert reader.get_variable_to_tf_dtype_map() == {"t": name}
        check(reader.get_tensor("t"), full, "t")
        check(reader.get_slice("t", (slice(1, 5), slice(1, 3))), full[1:5, 1:3], "t[1:5, 1:3]")
        reader.verify()


def test_ckpt_reads_tf_full_extent_slices(tmp_path: Path) -> None:
    """C++ savers may write a whole dimension as "-" (an empty Extent, length -1 in the key)."""
    full = spec.values("float32", (10, 3), seed=6)
    tf_save(tmp_path / "dash", [("t", full[:4], "10 3 0,4:-"), ("t", full[4:], "10 3 4,6:-")])
    with assert_ckpt_matches_tf(tmp_path / "dash") as reader:
        assert reader.keys() == ["t"]
        check(reader.get_tensor("t"), full, "t")
        check(reader.get_slice("t", (slice(3, 5), 1)), full[3:5, 1], "t[3:5, 1]")


def test_raw_byte_keys_both_ways(tmp_path: Path) -> None:
    """Keys that are not UTF-8 (TF's own Python reader cannot even list them)."""
    values = {"bad\udcff": spec.values("float32", (2,), 1),
              "mid\x00nul": spec.values("int8", (), 2)}
    tf_save(tmp_path / "tf", [(k, v, "") for k, v in values.items()])
    with ckpt.load_checkpoint(tmp_path / "tf") as reader:
        assert reader.keys() == sorted(values, key=raw_name)
        for key, value in values.items():
            check(reader.get_tensor(key), value, repr(key))
    prefix = ckpt.write_tensors(tmp_path / "ours", values)
    restored = tf_restore(prefix, [(k, "", dtype_name(v)) for k, v in values.items()])
    for (key, value), got in zip(values.items(), restored, strict=True):
        check(got, value, repr(key))


# --- byte-identical files --------------------------------------------------------------------


def test_same_bytes_every_dtype(tmp_path: Path) -> None:
    save_both(tmp_path, [(t.key, t.value(), "") for t in spec.DTYPES_TENSORS])


_names = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12).filter(
    lambda k: not k.startswith("\x00"))
_entries = st.lists(
    st.tuples(_names, st.sampled_from(spec.ALL_DTYPE_NAMES),
              st.lists(st.integers(0, 4), max_size=3), st.integers(0, 10_000)),
    min_size=1, max_size=10, unique_by=lambda e: e[0])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=_entries)
def test_same_bytes_random(entries: list[tuple[str, str, list[int], int]]) -> None:
    """Random names (any Unicode, shared prefixes), dtypes, shapes (zero-size too), values."""
    items = [(name, spec.values(dtype, shape, seed), "") for name, dtype, shape, seed in entries]
    with tempfile.TemporaryDirectory() as scratch:
        save_both(Path(scratch), items)


def test_same_bytes_spec_test_vector(tmp_path: Path) -> None:
    """Format doc §2.8: x = float32 [1, 2], s = ["ab", "c"]; 142-byte index, 17-byte data."""
    files = save_both(tmp_path, [("x", np.array([1, 2], np.float32), ""),
                                 ("s", np.array([b"ab", b"c"], dtype=object), "")])
    assert len(files[".index"]) == 142
    assert files[".data-00000-of-00001"].hex() == "0000803f0000004002010371" "7c67616263"


def test_same_bytes_thousands_of_entries(tmp_path: Path) -> None:
    names = ("float32", "int64", "string", "bool", "bfloat16", "uint8")
    items = []
    for i in range(12000):
        name = names[i % len(names)]
        # Layer numbers step by 3 so that block separators get shortened (§2.5).
        key = f"layer_{(i * 7919) % 12000 * 3:05d}/sub_{i % 13}/{name}_{'x' * (i % 17)}/value"
        items.append((key, spec.values(name, (i % 3,), seed=i), ""))
    items.append(("\u00fcnic\u00f6de/\u043a\u043b\u044e\u0447", np.float32(2), ""))
    files = save_both(tmp_path, items)
    assert len(files[".index"]) > 2 * BLOCK_SIZE  # three or more data blocks


def test_same_bytes_long_keys(tmp_path: Path) -> None:
    """Keys of ~120 KB and ~600 KB: blocks cut by size and the oversized-entry rule (§2.5)."""
    items = [
        ("0/first", spec.values("float32", (2,), 1), ""),
        ("a/" + "k" * 120_000, spec.values("int32", (3,), 2), ""),
        ("a/small", spec.values("string", (2,), 3), ""),
        ("b/aaa", spec.values("float64", (), 4), ""),
        ("b/" + "q" * 600_000, spec.values("uint16", (2, 2), 5), ""),  # >= 2 blocks: oversized
        ("m/post", spec.values("int8", (1,), 6), ""),
        ("n/" + "z" * 130_000, spec.values("bool", (3,), 7), ""),
        ("n/" + "z" * 130_000 + "/tail", spec.values("float16", (2,), 8), ""),
        ("p/" + "w" * 530_000, spec.values("complex64", (1,), 9), ""),
        ("z/last", spec.values("bfloat16", (2,), 10), ""),
    ]
    files = save_both(tmp_path, items[::-1])  # data in reverse key order
    assert len(files[".index"]) > 1_200_000


# A float32 scalar at offset 0 has an 11-byte BundleEntryProto (08 01 12 00 28 04 35 <crc>), so
# with a key of 2 * BLOCK_SIZE - 11 bytes the entry is exactly at the oversized threshold.
@pytest.mark.parametrize("delta", [-2, -1, 0, 1])
def test_same_bytes_oversized_threshold(tmp_path: Path, delta: int) -> None:
    key = "k" * (2 * BLOCK_SIZE - 11 + delta)
    files = save_both(tmp_path, [(key, np.float32(0.5), "")])
    # At or above the threshold TF first flushes the header into a block of its own: the
    # header entry, the restart array [0] with count 1, then the trailer's type byte.
    header_alone = bytes.fromhex("000006 08011a020801 00000000 01000000 00")
    assert files[".index"].startswith(header_alone) == (delta >= 0)


def test_same_bytes_sliced(tmp_path: Path) -> None:
    emb = spec.values("float32", (10, 3), seed=1)
    grid = spec.values("int4", (4, 6), seed=2)
    words = spec.values("string", (5, 2), seed=3)
    whole = spec.values("float64", (5, 2), seed=4)
    items = [("plain", spec.values("int32", (2,), 5), "")]
    for offset, shape in ROW_PARTS:
        items.append(("emb", emb[spec.region(offset, shape)],
                      spec.slice_spec(emb.shape, offset, shape)))
    for offset in ((2, 3), (0, 0), (2, 0), (0, 3)):
        items.append(("grid", grid[spec.region(offset, (2, 3))],
                      spec.slice_spec(grid.shape, offset, (2, 3))))
    items.append(("words", words[1:5], spec.slice_spec(words.shape, (1, 0), (4, 2))))
    items.append(("words", words[0:1], spec.slice_spec(words.shape, (0, 0), (1, 2))))
    # A "slice" covering the whole tensor is stored as a plain entry.
    items.append(("whole", whole, spec.slice_spec(whole.shape, (0, 0), (5, 2))))
    items.append(("zz", spec.values("string", (), 6), ""))
    # Slice keys escape 0x00 and 0xff in the name (OrderedCode, §5.3).
    odd = "odd\x00name\udcff"
    items.append((odd, emb[5:], spec.slice_spec(emb.shape, (5, 0), (5, 3))))
    items.append((odd, emb[:5], spec.slice_spec(emb.shape, (0, 0), (5, 3))))
    shapes = {"emb": emb.shape, "grid": grid.shape, "words": words.shape, "whole": whole.shape,
              odd: emb.shape}
    save_both(tmp_path, items, shapes)


def test_same_bytes_merged_shards(tmp_path: Path) -> None:
    """MergeV2Checkpoints of two SaveV2 bundles == one ckpt writer with two shards."""
    emb = spec.values("float32", (6, 2), seed=1)
    inputs = [
        [("a/x", spec.values("float32", (2, 3), 2), ""),
         ("emb", emb[:4], spec.slice_spec(emb.shape, (0, 0), (4, 2))),
         ("s", spec.values("string", (4,), 3), "")],
        [("emb", emb[4:], spec.slice_spec(emb.shape, (4, 0), (2, 2))),
         ("b/y", spec.values("int64", (3,), 4), ""),
         ("b/empty", spec.values("float16", (0, 2), 5), "")],
    ]
    prefixes = []
    for i, items in enumerate(inputs):
        tf_save(tmp_path / f"in_{i}", items)
        prefixes.append(str(tmp_path / f"in_{i}"))
    (tmp_path / "tf").mkdir()
    tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=prefixes,
                                  destination_prefix=str(tmp_path / "tf" / "merged"))
    with ckpt.CheckpointWriter(tmp_path / "ours" / "merged", num_shards=2) as writer:
        for shard, items in enumerate(inputs):
            for name, value, slice_spec in items:
                if slice_spec:
                    offset = (0, 0) if shard == 0 else (4, 0)
                    writer.add_slice(name, value, full_shape=emb.shape, offset=offset,
                                     shard=shard)
                else:
                    writer.add(name, value, shard=shard)
    assert_same_files(tmp_path / "tf" / "merged", tmp_path / "ours" / "merged")


# --- TF restores through its high-level APIs what ckpt wrote ----------------------------------


def test_tf1_saver_restores_partitioned_variables(tmp_path: Path) -> None:
    """Graph-mode Saver restores ckpt's slices, with the stored and with another partitioning."""
    w = spec.values("float32", (10, 3), seed=3)
    u = spec.values("float64", (2, 7), seed=4)
    kernel = spec.values("int64", (3,), seed=5)
    prefix = tmp_path / "model.ckpt-7"
    with ckpt.CheckpointWriter(prefix) as writer:
        writer.add("dense/kernel", kernel)
        for offset, shape in ROW_PARTS:
            writer.add_slice("scope/w", w[spec.region(offset, shape)], full_shape=w.shape,
                             offset=offset)
        for offset, shape in (((0, 4), (2, 3)), ((0, 0), (2, 4))):
            writer.add_slice("scope/u", u[spec.region(offset, shape)], full_shape=u.shape,
                             offset=offset)
    ckpt.update_checkpoint_state(tmp_path, str(prefix))
    v1 = tf.compat.v1
    for w_parts in (3, 2):  # 3 matches what was stored; 2 makes TF reassemble across parts
        with tf.Graph().as_default():
            kv = v1.get_variable("dense/kernel", shape=(3,), dtype=tf.int64)
            wv = v1.get_variable("scope/w", shape=w.shape, dtype=tf.float32,
                                 partitioner=v1.fixed_size_partitioner(w_parts))
            uv = v1.get_variable("scope/u", shape=u.shape, dtype=tf.float64,
                                 partitioner=v1.fixed_size_partitioner(2, axis=1))
            saver = v1.train.Saver()
            with v1.Session() as sess:
                saver.restore(sess, tf.train.latest_checkpoint(str(tmp_path)))
                got = sess.run([kv, wv.as_tensor(), uv.as_tensor()])
        check(got[0], kernel, "dense/kernel")
        check(got[1], w, f"scope/w in {w_parts} parts")
        check(got[2], u, "scope/u")


def test_tf_restores_sharded_variable_from_ckpt_slices(tmp_path: Path) -> None:
    full = spec.values("float32", (5, 2), seed=12)
    prefix = tf.train.Checkpoint(emb=ShardedVariable(
        [tf.Variable(np.zeros((2, 2), np.float32)), tf.Variable(np.zeros((3, 2), np.float32))]
    )).write(str(tmp_path / "tf"))
    key = "emb/.ATTRIBUTES/VARIABLE_VALUE"
    with ckpt.load_checkpoint(prefix) as reader, \
            ckpt.CheckpointWriter(tmp_path / "ours") as writer:
        for name in reader:
            if name != key:
                writer.add(name, reader.get_tensor(name))
        # Stored as rows [0:3] and [3:5]; the variable's shards are rows [0:2] and [2:5].
        writer.add_slice(key, full[3:], full_shape=full.shape, offset=(3, 0))
        writer.add_slice(key, full[:3], full_shape=full.shape, offset=(0, 0))
    target = ShardedVariable([tf.Variable(np.ones((2, 2), np.float32)),
                              tf.Variable(np.ones((3, 2), np.float32))])
    tf.train.Checkpoint(emb=target).read(str(tmp_path / "ours")).assert_consumed()
    check(np.concatenate([v.numpy() for v in target.variables]), full, "sharded variable")


# --- the `checkpoint` state file --------------------------------------------------------------

TIMESTAMPS = [1795239915.2294335, 1795239916.2832897, 1795239916.2871265]


def _make_checkpoints(directory: Path, count: int) -> list[str]:
    prefixes = []
    for i in range(1, count + 1):
        prefixes.append(ckpt.write_tensors(directory / f"ckpt-{i}", {"step": np.int64(i)}))
    return [str(p) for p in prefixes]


def test_tf_reads_state_written_by_ckpt(tmp_path: Path) -> None:
    paths = _make_checkpoints(tmp_path, 3)
    ckpt.update_checkpoint_state(tmp_path, paths[2], paths,
                                 all_model_checkpoint_timestamps=TIMESTAMPS,
                                 last_preserved_timestamp=1795239900.5)
    state = tf.train.get_checkpoint_state(str(tmp_path))
    assert state.model_checkpoint_path == paths[2]
    assert list(state.all_model_checkpoint_paths) == paths
    assert list(state.all_model_checkpoint_timestamps) == TIMESTAMPS
    assert state.last_preserved_timestamp == 1795239900.5
    assert tf.train.latest_checkpoint(str(tmp_path)) == paths[2]
    assert tf.train.load_checkpoint(str(tmp_path)).get_tensor("step") == 3
    # A TF CheckpointManager opened on the directory adopts the list and its timestamps.
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(), str(tmp_path), max_to_keep=5)
    assert manager.checkpoints == paths
    assert manager.latest_checkpoint == paths[2]


def test_tf_reads_custom_latest_filename(tmp_path: Path) -> None:
    paths = _make_checkpoints(tmp_path, 2)
    ckpt.update_checkpoint_state(tmp_path, paths[0], latest_filename="best")
    assert tf.train.latest_checkpoint(str(tmp_path), latest_filename="best") == paths[0]
    assert tf.train.latest_checkpoint(str(tmp_path)) is None


class StateCase(NamedTuple):
    save_relative_paths: bool
    timestamps: bool
    last_preserved: float | None
    bare_names: bool  # paths given as "ckpt-N" rather than absolute
    listed: int  # how many paths are passed in all_model_checkpoint_paths


STATE_CASES = {
    "relative": StateCase(True, True, 1795239900.25, False, 3),
    "absolute": StateCase(False, False, None, False, 3),
    "absolute_timestamps": StateCase(False, True, 3.0, False, 3),
    "bare_names": StateCase(True, True, None, True, 3),
    "latest_appended": StateCase(True, False, None, False, 2),
    "absolute_latest_appended": StateCase(False, False, None, False, 0),
}


@pytest.mark.parametrize("case", list(STATE_CASES))
def test_state_file_bytes_match_tf(tmp_path: Path, case: str) -> None:
    options = STATE_CASES[case]
    paths = _make_checkpoints(tmp_path, 3)
    if options.bare_names:
        paths = [os.path.basename(p) for p in paths]
    listed = paths[: options.listed]
    timestamps = TIMESTAMPS if options.timestamps else None
    tf_management.update_checkpoint_state_internal(
        str(tmp_path), paths[2], list(listed), save_relative_paths=options.save_relative_paths,
        all_model_checkpoint_timestamps=timestamps,
        last_preserved_timestamp=options.last_preserved)
    theirs = (tmp_path / "checkpoint").read_bytes()
    (tmp_path / "checkpoint").unlink()
    ckpt.update_checkpoint_state(
        tmp_path, paths[2], list(listed), save_relative_paths=options.save_relative_paths,
        all_model_checkpoint_timestamps=timestamps,
        last_preserved_timestamp=options.last_preserved)
    assert (tmp_path / "checkpoint").read_bytes() == theirs
    assert ckpt.latest_checkpoint(tmp_path) == tf.train.latest_checkpoint(str(tmp_path))


def test_state_file_with_quotes_spaces_and_unicode(tmp_path: Path) -> None:
    # (No backslash: TF's latest_checkpoint globs the path, and "\\" is a glob escape there.)
    directory = tmp_path / 'r\u00e9sum\u00e9 "q" \u2713'
    paths = _make_checkpoints(directory, 2)
    tf_management.update_checkpoint_state_internal(
        str(directory), paths[1], paths, save_relative_paths=False,
        all_model_checkpoint_timestamps=TIMESTAMPS[:2])
    theirs = (directory / "checkpoint").read_bytes()
    state = ckpt.get_checkpoint_state(directory)
    assert state is not None and state.all_model_checkpoint_paths == paths
    (directory / "checkpoint").unlink()
    ckpt.update_checkpoint_state(directory, paths[1], paths, save_relative_paths=False,
                                 all_model_checkpoint_timestamps=TIMESTAMPS[:2])
    assert (directory / "checkpoint").read_bytes() == theirs
    assert tf.train.latest_checkpoint(str(directory)) == paths[1]


def test_state_file_bytes_match_tf_relative_dir(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _make_checkpoints(tmp_path / "run", 2)
    paths = ["run/ckpt-1", "run/ckpt-2"]
    tf_management.update_checkpoint_state_internal("run", paths[1], paths,
                                                   save_relative_paths=True)
    theirs = Path("run/checkpoint").read_bytes()
    assert theirs == b'model_checkpoint_path: "ckpt-2"\nall_model_checkpoint_paths: "ckpt-1"\n' \
                     b'all_model_checkpoint_paths: "ckpt-2"\n'
    Path("run/checkpoint").unlink()
    ckpt.update_checkpoint_state("run", paths[1], paths)
    assert Path("run/checkpoint").read_bytes() == theirs
    assert ckpt.latest_checkpoint("run") == os.path.join("run", "ckpt-2")


@pytest.mark.parametrize("relative", [True, False])
def test_ckpt_reads_state_written_by_tf(tmp_path: Path, relative: bool) -> None:
    paths = _make_checkpoints(tmp_path, 3)
    tf_management.update_checkpoint_state_internal(
        str(tmp_path), paths[2], paths, save_relative_paths=relative,
        all_model_checkpoint_timestamps=TIMESTAMPS, last_preserved_timestamp=12.5)
    theirs = tf.train.get_checkpoint_state(str(tmp_path))
    ours = ckpt.get_checkpoint_state(tmp_path)
    assert ours is not None
    assert ours.model_checkpoint_path == theirs.model_checkpoint_path == paths[2]
    assert ours.all_model_checkpoint_paths == list(theirs.all_model_checkpoint_paths) == paths
    assert ours.all_model_checkpoint_timestamps == TIMESTAMPS
    assert ours.last_preserved_timestamp == 12.5
    assert ckpt.latest_checkpoint(tmp_path) == tf.train.latest_checkpoint(str(tmp_path))


def test_checkpoint_manager_directory(tmp_path: Path) -> None:
    weights = tf.Variable(spec.values("float32", (2, 3), 0))
    step = tf.Variable(np.int64(0))
    checkpoint = tf.train.Checkpoint(weights=weights, step=step)
    manager = tf.train.CheckpointManager(checkpoint, str(tmp_path), max_to_keep=2)
    for i in range(1, 4):
        weights.assign(spec.values("float32", (2, 3), i))
        step.assign(i)
        manager.save()
    theirs = tf.train.get_checkpoint_state(str(tmp_path))
    ours = ckpt.get_checkpoint_state(tmp_path)
    assert ours is not None
    kept = [str(tmp_path / "ckpt-2"), str(tmp_path / "ckpt-3")]
    assert manager.checkpoints == kept
    assert ours.model_checkpoint_path == manager.latest_checkpoint == kept[-1]
    assert ours.all_model_checkpoint_paths == kept
    assert ours.all_model_checkpoint_timestamps == list(theirs.all_model_checkpoint_timestamps)
    assert len(ours.all_model_checkpoint_timestamps) == 2
    assert ours.last_preserved_timestamp == theirs.last_preserved_timestamp > 0
    assert ckpt.latest_checkpoint(tmp_path) == kept[-1]
    with ckpt.load_checkpoint(tmp_path) as reader:
        check(reader.get_tensor("weights/.ATTRIBUTES/VARIABLE_VALUE"),
              spec.values("float32", (2, 3), 3), "weights")
        assert reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE").item() == 3
        assert reader.get_tensor("save_counter/.ATTRIBUTES/VARIABLE_VALUE").item() == 3
    with pytest.raises(CheckpointNotFoundError):  # deleted by max_to_keep
        ckpt.load_checkpoint(tmp_path / "ckpt-1")


def test_tf_restores_object_checkpoint_rewritten_by_ckpt(tmp_path: Path) -> None:
    """ckpt copies a TF object checkpoint with new values; TF restores it and keeps managing."""
    weights = tf.Variable(spec.values("float32", (2, 3), 0))
    words = tf.Variable(spec.values("string", (3,), 0))
    checkpoint = tf.train.Checkpoint(weights=weights, words=words)
    manager = tf.train.CheckpointManager(checkpoint, str(tmp_path), max_to_keep=3)
    manager.save()
    new_weights, new_words = spec.values("float32", (2, 3), 42), spec.values("string", (3,), 4)
    replaced = {"weights/.ATTRIBUTES/VARIABLE_VALUE": new_weights,
                "words/.ATTRIBUTES/VARIABLE_VALUE": new_words,
                "save_counter/.ATTRIBUTES/VARIABLE_VALUE": np.int64(2)}
    with ckpt.load_checkpoint(tmp_path) as reader:
        tensors = {k: replaced.get(k, reader.get_tensor(k)) for k in reader}
    assert set(replaced) < set(tensors)  # the object graph is copied as it is
    new_prefix = ckpt.write_tensors(tmp_path / "ckpt-2", tensors)
    state = ckpt.get_checkpoint_state(tmp_path)
    assert state is not None
    ckpt.update_checkpoint_state(
        tmp_path, str(new_prefix), [*state.all_model_checkpoint_paths, str(new_prefix)],
        all_model_checkpoint_timestamps=[*state.all_model_checkpoint_timestamps,
                                         state.all_model_checkpoint_timestamps[-1] + 1.0],
        last_preserved_timestamp=state.last_preserved_timestamp)

    fresh_weights = tf.Variable(np.zeros((2, 3), np.float32))
    fresh_words = tf.Variable(np.array([b"", b"", b""], dtype=object))
    restored = tf.train.Checkpoint(weights=fresh_weights, words=fresh_words)
    manager2 = tf.train.CheckpointManager(restored, str(tmp_path), max_to_keep=3)
    assert manager2.latest_checkpoint == str(new_prefix)
    assert manager2.checkpoints == [str(tmp_path / "ckpt-1"), str(new_prefix)]
    restored.restore(manager2.latest_checkpoint).assert_consumed()
    check(fresh_weights.numpy(), new_weights, "restored weights")
    check(fresh_words.numpy(), new_words, "restored words")
    assert int(restored.save_counter.numpy()) == 2


def test_sharded_v1_checkpoint_is_found_and_refused_clearly(tmp_path: Path) -> None:
    # A sharded V1 Saver records the pattern "P-?????-of-NNNNN" in its state file: it must be
    # found as TF finds it, and refused as V1, not reported missing.
    v1 = tf.compat.v1
    with tf.Graph().as_default():
        v1.get_variable("w", initializer=np.arange(4, dtype=np.float32))
        saver = v1.train.Saver(sharded=True, write_version=v1.train.SaverDef.V1)
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            saved = saver.save(sess, str(tmp_path / "m"), global_step=1)
    assert saved.endswith("-?????-of-00001")
    expected = tf.train.latest_checkpoint(str(tmp_path))
    assert ckpt.latest_checkpoint(tmp_path) == expected == saved
    assert ckpt.checkpoint_exists(saved)
    for path in (tmp_path, saved):
        with pytest.raises(ckpt.errors.UnsupportedCheckpointError, match="legacy V1"):
            ckpt.load_checkpoint(path)


@pytest.mark.parametrize(
    "placement",
    [
        [(0, "a"), (1, (0, 2)), (1, (2, 4))],  # the sliced tensor only in the second shard
        [(1, (0, 2)), (0, (2, 4)), (1, (4, 6)), (0, "a")],  # slices added out of shard order
    ],
)
def test_index_of_slices_across_shards_equals_tf_merge(
    tmp_path: Path, placement: list[tuple[int, Any]]
) -> None:
    # TF writes one single-shard bundle per device and merges them (MergeV2Checkpoints): a
    # sliced tensor's full entry keeps the first shard holding a slice, and its slices come
    # shard by shard. ckpt's multi-shard writer must produce the same index bytes.
    from tensorflow.python.ops import gen_io_ops

    a = spec.values("float32", (3,), seed=1)
    p = spec.values("float32", (6, 2), seed=2)
    parts: dict[int, tuple[list[str], list[str], list[Any]]] = {0: ([], [], []), 1: ([], [], [])}
    with ckpt.CheckpointWriter(tmp_path / "ours", num_shards=2) as writer:
        for shard, what in placement:
            names, specs, values = parts[shard]
            if what == "a":
                writer.add("a", a, shard=shard)
                names.append("a"), specs.append(""), values.append(tf.constant(a))
                continue
            start, stop = what
            writer.add_slice("p", p[start:stop], full_shape=p.shape, offset=(start, 0),
                             shard=shard)
            names.append("p")
            specs.append(f"6 2 {start},{stop - start}:0,2")
            values.append(tf.constant(p[start:stop]))
    inputs = []
    for shard, (names, specs, values) in parts.items():
        inputs.append(str(tmp_path / f"part{shard}"))
        gen_io_ops.save_v2(inputs[-1], names, specs, values)
    gen_io_ops.merge_v2_checkpoints(inputs, str(tmp_path / "tf"), delete_old_dirs=True)
    assert (tmp_path / "ours.index").read_bytes() == (tmp_path / "tf.index").read_bytes()
    for shard in (0, 1):
        name = f".data-0000{shard}-of-00002"
        assert (tmp_path / ("ours" + name)).read_bytes() == (tmp_path / ("tf" + name)).read_bytes()
