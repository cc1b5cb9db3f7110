"""TF <-> safetensors conversion: round trips, sharding and bounded memory."""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import safetensors
from convert_helpers import DTYPES, GRAPH_KEY, OBJECT, assert_same, read_tf

import ckpt
from ckpt.convert import convert_checkpoint
from ckpt.convert.safetensors import WRITABLE
from ckpt.errors import InvalidTensorError


def _writable(key: str, array: np.ndarray) -> bool:
    return array.dtype.name in WRITABLE


@pytest.mark.parametrize("fixture", [DTYPES, OBJECT])
def test_tf_to_safetensors_to_tf_is_exact(fixture, subset_checkpoint, tmp_path):
    source = subset_checkpoint(fixture, _writable)
    expected = read_tf(source)
    assert len(expected) >= (10 if fixture == OBJECT else 40)

    written = convert_checkpoint(source, str(tmp_path / "model.safetensors"))
    assert written == str(tmp_path / "model.safetensors")
    back = convert_checkpoint(written, str(tmp_path / "back" / "ckpt"))

    assert_same(read_tf(back), expected)


def test_safetensors_output_is_readable_by_safetensors(tmp_path):
    written = convert_checkpoint(OBJECT, str(tmp_path / "m"), dst_format="tf")
    tensors = {k: v for k, v in read_tf(written).items() if v.dtype.kind != "O"}
    ckpt.write_tensors(str(tmp_path / "numeric"), tensors)
    out = convert_checkpoint(str(tmp_path / "numeric"), str(tmp_path / "x.safetensors"))
    with safetensors.safe_open(out, framework="numpy") as f:
        kernel = f.get_tensor("model/encoder/kernel/.ATTRIBUTES/VARIABLE_VALUE")
    np.testing.assert_array_equal(
        kernel, tensors["model/encoder/kernel/.ATTRIBUTES/VARIABLE_VALUE"]
    )


def test_strings_are_refused_and_nothing_is_left_behind(tmp_path):
    with pytest.raises(InvalidTensorError, match="strings go only to TF or npz") as info:
        convert_checkpoint(OBJECT, str(tmp_path / "out" / "model.safetensors"))
    assert info.value.key == "model/label/.ATTRIBUTES/VARIABLE_VALUE"
    assert not (tmp_path / "out").exists()  # not even the directory made for it


def test_sharded_output_holds_every_tensor_once(subset_checkpoint, tmp_path):
    source = subset_checkpoint(DTYPES, _writable)
    expected = read_tf(source)
    out = tmp_path / "sharded"
    index = convert_checkpoint(source, str(out / "model.safetensors"), max_shard_bytes=256)

    assert index == str(out / "model.safetensors.index.json")
    shards = sorted(p for p in os.listdir(out) if p.endswith(".safetensors"))
    assert len(shards) >= 3
    assert shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    assert sorted(os.listdir(out)) == sorted([*shards, "model.safetensors.index.json"])
    with open(index) as f:
        weight_map = json.load(f)["weight_map"]
    assert sorted(weight_map) == sorted(expected)
    assert sorted(set(weight_map.values())) == shards
    in_files: list[str] = []
    for shard in shards:
        with safetensors.safe_open(str(out / shard), framework="pt") as f:
            in_files += f.keys()
            assert all(weight_map[k] == shard for k in f.keys())  # noqa: SIM118
    assert sorted(in_files) == sorted(expected)  # each tensor exactly once

    for src in (index, str(out)):  # the index file, or the directory holding it
        back = convert_checkpoint(src, str(tmp_path / "back" / "ckpt"))
        assert_same(read_tf(back), expected)


def test_index_destination_is_sharded_even_when_small(tmp_path):
    tensors = {"a": np.arange(4, dtype=np.float32)}
    ckpt.write_tensors(str(tmp_path / "small"), tensors)
    index = convert_checkpoint(
        str(tmp_path / "small"), str(tmp_path / "model.safetensors.index.json")
    )
    assert os.path.exists(tmp_path / "model-00001-of-00001.safetensors")
    assert_same(dict(_read_all(index)), tensors)


def _read_all(path: str) -> list[tuple[str, np.ndarray]]:
    from ckpt.convert import safetensors as st_format

    return list(st_format.read(path))


def test_tf_to_sharded_safetensors_keeps_memory_bounded(tmp_path: Path):
    mib = 1 << 20
    with ckpt.CheckpointWriter(str(tmp_path / "big")) as writer:
        for i in range(16):  # 64 MiB in 4 MiB tensors
            writer.add(f"layer{i}/kernel", np.full(mib, i, dtype=np.float32))
    tracemalloc.start()
    try:
        index = convert_checkpoint(
            str(tmp_path / "big"),
            str(tmp_path / "out" / "model.safetensors"),
            max_shard_bytes=8 * mib,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * mib, f"peak {peak / mib:.1f} MiB for a 64 MiB checkpoint"
    with open(index) as f:
        assert len(set(json.load(f)["weight_map"].values())) == 8
    back = read_tf(convert_checkpoint(index, str(tmp_path / "back")))
    assert len(back) == 16 and back["layer7/kernel"][0] == 7


def test_graph_key_is_not_converted(tmp_path):
    out = convert_checkpoint(OBJECT, str(tmp_path / "copy"))
    assert GRAPH_KEY not in read_tf(out)


def test_written_files_get_the_usual_permissions(tmp_path):
    # safetensors itself creates files 0o600; a converted checkpoint is as readable as any
    # file its user writes (0o666 less the umask), shards and index alike.
    from ckpt.convert.safetensors import write

    old = os.umask(0o022)
    try:
        single = write(
            str(tmp_path / "one.safetensors"), [("a", np.ones(3))], max_shard_bytes=1 << 30
        )
        index = write(
            str(tmp_path / "many.safetensors.index.json"),
            [("a", np.ones(100)), ("b", np.ones(100))],
            max_shard_bytes=1000,
        )
    finally:
        os.umask(old)
    written = [single, index, *tmp_path.glob("many-*.safetensors")]
    assert len(written) == 4
    assert {oct(os.stat(p).st_mode & 0o777) for p in written} == {"0o644"}


def test_replacing_a_sharded_output_removes_its_stale_shards(tmp_path):
    from ckpt.convert.safetensors import write

    index = str(tmp_path / "m.safetensors.index.json")
    write(index, [(k, np.ones(100)) for k in "abc"], max_shard_bytes=1000)
    assert len(list(tmp_path.glob("m-*.safetensors"))) == 3
    write(index, [(k, np.ones(100)) for k in "ab"], max_shard_bytes=1000)
    assert sorted(p.name for p in tmp_path.glob("m-*.safetensors")) == [
        "m-00001-of-00002.safetensors",
        "m-00002-of-00002.safetensors",
    ]
    with open(index) as f:
        assert set(json.load(f)["weight_map"]) == {"a", "b"}
