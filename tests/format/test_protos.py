"""Proto messages with TF's field numbers (format doc §3), checked against the spec's bytes."""

from __future__ import annotations

import pytest

from ckpt.format import protos

H = bytes.fromhex


def test_header_bytes() -> None:
    header = protos.BundleHeaderProto(num_shards=1)
    header.version.producer = protos.BUNDLE_VERSION
    assert header.SerializeToString() == H("08011a020801")
    header.num_shards = 2
    assert header.SerializeToString() == H("08021a020801")
    assert protos.LITTLE_ENDIAN == 0
    assert protos.BIG_ENDIAN == 1
    assert protos.BUNDLE_VERSION == 1


def entry(dtype: int, dims: list[int], **fields: int) -> bytes:
    e = protos.BundleEntryProto(dtype=dtype, **fields)
    e.shape.SetInParent()
    for d in dims:
        e.shape.dim.add(size=d)
    return bytes(e.SerializeToString())


@pytest.mark.parametrize(
    ("built", "golden"),
    [
        # §3.2 examples (TF 2.21 output).
        (entry(1, [2, 3], offset=12, size=24, crc32c=0x173DDBC0),
         "080112081202080212020803200c281835c0db3d17"),
        (entry(3, [], size=4, crc32c=0x287F3F63), "08031200280435633f7f28"),
        (entry(1, [0, 3], offset=283, crc32c=0xA282EAD8),
         "08011206120012020803209b0235d8ea82a2"),
        # §2.8 entries.
        (entry(7, [2], offset=8, size=9, crc32c=0x5FD830D5),
         "08071204120208022008280935d530d85f"),
        (entry(1, [2], size=8, crc32c=0x35E53C59), "0801120412020802280835593ce535"),
    ],
)
def test_entry_bytes(built: bytes, golden: str) -> None:
    assert built == H(golden)


def test_entry_parse() -> None:
    e = protos.BundleEntryProto.FromString(H("080112081202080212020803200c281835c0db3d17"))
    assert e.dtype == 1
    assert [d.size for d in e.shape.dim] == [2, 3]
    assert (e.shard_id, e.offset, e.size, e.crc32c) == (0, 12, 24, 0x173DDBC0)
    assert len(e.slices) == 0


def test_scalar_shape_is_always_emitted() -> None:
    assert entry(3, []) == H("08031200")


def test_unknown_fields_are_skipped() -> None:
    golden = H("0801120412020802280835593ce535")
    # Field 15 (varint) and field 20 (length-delimited) from some future writer.
    extended = golden + H("7801") + H("a2010378797a")
    e = protos.BundleEntryProto.FromString(extended)
    assert e.size == 8
    assert e.crc32c == 0x35E53C59


def test_slice_proto_bytes() -> None:
    # §3.6: 2 dims [(4,3),(0,3)] -> 0a 04 08 04 10 03 0a 02 10 03.
    s = protos.TensorSliceProto()
    ext = s.extent.add()
    ext.start = 4
    ext.length = 3
    ext = s.extent.add()
    ext.start = 0
    ext.length = 3
    assert s.SerializeToString() == H("0a04080410030a021003")


def test_slice_full_extent_and_explicit_zero_length() -> None:
    s = protos.TensorSliceProto()
    s.extent.add()  # full dimension: an empty Extent
    zero = s.extent.add()
    zero.length = 0  # a oneof member: serialized even when 0
    assert s.SerializeToString() == H("0a000a021000")
    parsed = protos.TensorSliceProto.FromString(H("0a000a021000"))
    assert parsed.extent[0].WhichOneof("has_length_hack") is None
    assert parsed.extent[1].WhichOneof("has_length_hack") == "length"


def test_data_type_enum_values() -> None:
    enum = protos.BundleEntryProto.DESCRIPTOR.fields_by_name["dtype"].enum_type
    expected = {
        "DT_INVALID": 0, "DT_FLOAT": 1, "DT_DOUBLE": 2, "DT_INT32": 3, "DT_UINT8": 4,
        "DT_INT16": 5, "DT_INT8": 6, "DT_STRING": 7, "DT_COMPLEX64": 8, "DT_INT64": 9,
        "DT_BOOL": 10, "DT_QINT8": 11, "DT_QUINT8": 12, "DT_QINT32": 13, "DT_BFLOAT16": 14,
        "DT_QINT16": 15, "DT_QUINT16": 16, "DT_UINT16": 17, "DT_COMPLEX128": 18, "DT_HALF": 19,
        "DT_RESOURCE": 20, "DT_VARIANT": 21, "DT_UINT32": 22, "DT_UINT64": 23,
        "DT_FLOAT8_E5M2": 24, "DT_FLOAT8_E4M3FN": 25, "DT_FLOAT8_E4M3FNUZ": 26,
        "DT_FLOAT8_E4M3B11FNUZ": 27, "DT_FLOAT8_E5M2FNUZ": 28, "DT_INT4": 29, "DT_UINT4": 30,
        "DT_INT2": 31, "DT_UINT2": 32, "DT_FLOAT4_E2M1FN": 33,
    }
    assert {v.name: v.number for v in enum.values} == expected


@pytest.mark.parametrize(
    ("message", "fields"),
    [
        (protos.BundleHeaderProto, {"num_shards": 1, "endianness": 2, "version": 3}),
        (protos.BundleEntryProto, {"dtype": 1, "shape": 2, "shard_id": 3, "offset": 4,
                                   "size": 5, "crc32c": 6, "slices": 7}),
        (protos.TensorShapeProto, {"dim": 2, "unknown_rank": 3}),
        (protos.VersionDef, {"producer": 1, "min_consumer": 2, "bad_consumers": 3}),
        (protos.TensorSliceProto, {"extent": 1}),
        (protos.CheckpointState, {"model_checkpoint_path": 1, "all_model_checkpoint_paths": 2,
                                  "all_model_checkpoint_timestamps": 3,
                                  "last_preserved_timestamp": 4}),
        (protos.TrackableObjectGraph, {"nodes": 1}),
    ],
)
def test_field_numbers(message: type, fields: dict[str, int]) -> None:
    descriptor = message.DESCRIPTOR  # type: ignore[attr-defined]
    assert {f.name: f.number for f in descriptor.fields} == fields


def test_crc_field_is_fixed32() -> None:
    field = protos.BundleEntryProto.DESCRIPTOR.fields_by_name["crc32c"]
    assert field.type == field.TYPE_FIXED32


def test_version_bad_consumers_packed() -> None:
    v = protos.VersionDef(producer=1, min_consumer=0)
    v.bad_consumers.extend([1, 2])
    assert v.SerializeToString() == H("08011a020102")


def test_trackable_object_bool_value() -> None:
    graph = protos.TrackableObjectGraph()
    node = graph.nodes.add()
    node.has_checkpoint_values.value = True
    assert node.SerializeToString() == H("2a020801")
    node.has_checkpoint_values.value = False
    assert node.SerializeToString() == H("2a00")


def test_trackable_object_graph_roundtrip() -> None:
    graph = protos.TrackableObjectGraph()
    root = graph.nodes.add()
    child = root.children.add()
    child.node_id = 1
    child.local_name = "we/ird.name"
    leaf = graph.nodes.add()
    attr = leaf.attributes.add()
    attr.name = "VARIABLE_VALUE"
    attr.full_name = "v"
    attr.checkpoint_key = "we.Sird..name/.ATTRIBUTES/VARIABLE_VALUE"
    parsed = protos.TrackableObjectGraph.FromString(graph.SerializeToString())
    assert parsed == graph
    assert parsed.nodes[0].children[0].local_name == "we/ird.name"
