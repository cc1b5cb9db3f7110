"""Protocol buffer messages of the TF checkpoint format, declared here with TF's field numbers.

The descriptors are built at import time in a private descriptor pool, so they never clash with
TensorFlow's own registrations when both are loaded in one process, and no generated ``_pb2``
code pins a protobuf version. Field numbers and types follow format doc §3 (dumped from TF 2.21).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto

# (name, number, type, label, type_name, oneof_index)
_FieldSpec = tuple[str, int, int, int, str, int | None]

_OPT = _F.LABEL_OPTIONAL
_REP = _F.LABEL_REPEATED


def _field(
    name: str,
    number: int,
    ftype: int,
    *,
    repeated: bool = False,
    type_name: str = "",
    oneof: int | None = None,
) -> _FieldSpec:
    return (name, number, ftype, _REP if repeated else _OPT, type_name, oneof)


_DATA_TYPES = [
    "DT_INVALID",
    "DT_FLOAT",
    "DT_DOUBLE",
    "DT_INT32",
    "DT_UINT8",
    "DT_INT16",
    "DT_INT8",
    "DT_STRING",
    "DT_COMPLEX64",
    "DT_INT64",
    "DT_BOOL",
    "DT_QINT8",
    "DT_QUINT8",
    "DT_QINT32",
    "DT_BFLOAT16",
    "DT_QINT16",
    "DT_QUINT16",
    "DT_UINT16",
    "DT_COMPLEX128",
    "DT_HALF",
    "DT_RESOURCE",
    "DT_VARIANT",
    "DT_UINT32",
    "DT_UINT64",
    "DT_FLOAT8_E5M2",
    "DT_FLOAT8_E4M3FN",
    "DT_FLOAT8_E4M3FNUZ",
    "DT_FLOAT8_E4M3B11FNUZ",
    "DT_FLOAT8_E5M2FNUZ",
    "DT_INT4",
    "DT_UINT4",
    "DT_INT2",
    "DT_UINT2",
    "DT_FLOAT4_E2M1FN",
]


def _build_file() -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto(
        name="ckpt/tensorflow_checkpoint.proto", package="tensorflow", syntax="proto3"
    )
    dt = fdp.enum_type.add(name="DataType")
    for number, name in enumerate(_DATA_TYPES):
        dt.value.add(name=name, number=number)

    def message(
        name: str, fields: list[_FieldSpec], *, oneofs: tuple[str, ...] = (), parent: Any = None
    ) -> Any:
        msg = (parent.nested_type if parent is not None else fdp.message_type).add(name=name)
        for oneof_name in oneofs:
            msg.oneof_decl.add(name=oneof_name)
        for fname, number, ftype, label, type_name, oneof_index in fields:
            f = msg.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = type_name
            if oneof_index is not None:
                f.oneof_index = oneof_index
        return msg

    i32, i64, s, b, d, fx32, m, e = (
        _F.TYPE_INT32,
        _F.TYPE_INT64,
        _F.TYPE_STRING,
        _F.TYPE_BOOL,
        _F.TYPE_DOUBLE,
        _F.TYPE_FIXED32,
        _F.TYPE_MESSAGE,
        _F.TYPE_ENUM,
    )

    message(
        "VersionDef",
        [
            _field("producer", 1, i32),
            _field("min_consumer", 2, i32),
            _field("bad_consumers", 3, i32, repeated=True),
        ],
    )
    shape = message(
        "TensorShapeProto",
        [
            _field("dim", 2, m, repeated=True, type_name=".tensorflow.TensorShapeProto.Dim"),
            _field("unknown_rank", 3, b),
        ],
    )
    message("Dim", [_field("size", 1, i64), _field("name", 2, s)], parent=shape)
    slice_msg = message(
        "TensorSliceProto",
        [
            _field("extent", 1, m, repeated=True, type_name=".tensorflow.TensorSliceProto.Extent"),
        ],
    )
    # `length` sits in a oneof so that an explicit 0 is serialised and "unset" means "full".
    message(
        "Extent",
        [_field("start", 1, i64), _field("length", 2, i64, oneof=0)],
        oneofs=("has_length_hack",),
        parent=slice_msg,
    )
    header = message(
        "BundleHeaderProto",
        [
            _field("num_shards", 1, i32),
            _field("endianness", 2, e, type_name=".tensorflow.BundleHeaderProto.Endianness"),
            _field("version", 3, m, type_name=".tensorflow.VersionDef"),
        ],
    )
    endian = header.enum_type.add(name="Endianness")
    endian.value.add(name="LITTLE", number=0)
    endian.value.add(name="BIG", number=1)
    message(
        "BundleEntryProto",
        [
            _field("dtype", 1, e, type_name=".tensorflow.DataType"),
            _field("shape", 2, m, type_name=".tensorflow.TensorShapeProto"),
            _field("shard_id", 3, i32),
            _field("offset", 4, i64),
            _field("size", 5, i64),
            _field("crc32c", 6, fx32),
            _field("slices", 7, m, repeated=True, type_name=".tensorflow.TensorSliceProto"),
        ],
    )
    message(
        "CheckpointState",
        [
            _field("model_checkpoint_path", 1, s),
            _field("all_model_checkpoint_paths", 2, s, repeated=True),
            _field("all_model_checkpoint_timestamps", 3, d, repeated=True),
            _field("last_preserved_timestamp", 4, d),
        ],
    )
    # google.protobuf.BoolValue, declared locally so the pool needs no well-known-types import.
    message("BoolValue", [_field("value", 1, b)])
    graph = message(
        "TrackableObjectGraph",
        [
            _field(
                "nodes",
                1,
                m,
                repeated=True,
                type_name=".tensorflow.TrackableObjectGraph.TrackableObject",
            ),
        ],
    )
    obj = message(
        "TrackableObject",
        [
            _field(
                "children",
                1,
                m,
                repeated=True,
                type_name=".tensorflow.TrackableObjectGraph.TrackableObject.ObjectReference",
            ),
            _field(
                "attributes",
                2,
                m,
                repeated=True,
                type_name=".tensorflow.TrackableObjectGraph.TrackableObject.SerializedTensor",
            ),
            _field(
                "slot_variables",
                3,
                m,
                repeated=True,
                type_name=".tensorflow.TrackableObjectGraph.TrackableObject.SlotVariableReference",
            ),
            _field("registered_saver", 4, m, type_name=".tensorflow.RegisteredSaver"),
            _field("has_checkpoint_values", 5, m, type_name=".tensorflow.BoolValue"),
        ],
        parent=graph,
    )
    message("ObjectReference", [_field("node_id", 1, i32), _field("local_name", 2, s)], parent=obj)
    message(
        "SerializedTensor",
        [
            _field("name", 1, s),
            _field("full_name", 2, s),
            _field("checkpoint_key", 3, s),
        ],
        parent=obj,
    )
    message(
        "SlotVariableReference",
        [
            _field("original_variable_node_id", 1, i32),
            _field("slot_name", 2, s),
            _field("slot_variable_node_id", 3, i32),
        ],
        parent=obj,
    )
    message("RegisteredSaver", [_field("name", 1, s), _field("object_name", 2, s)])
    return fdp


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_build_file())


def _message_class(full_name: str) -> Any:
    desc = _POOL.FindMessageTypeByName(full_name)
    get_class = getattr(message_factory, "GetMessageClass", None)
    if get_class is not None:
        return get_class(desc)
    return message_factory.MessageFactory(_POOL).GetPrototype(desc)  # protobuf < 4.22


VersionDef: Any = _message_class("tensorflow.VersionDef")
TensorShapeProto: Any = _message_class("tensorflow.TensorShapeProto")
TensorSliceProto: Any = _message_class("tensorflow.TensorSliceProto")
BundleHeaderProto: Any = _message_class("tensorflow.BundleHeaderProto")
BundleEntryProto: Any = _message_class("tensorflow.BundleEntryProto")
CheckpointState: Any = _message_class("tensorflow.CheckpointState")
TrackableObjectGraph: Any = _message_class("tensorflow.TrackableObjectGraph")

#: ``BundleHeaderProto.endianness`` values.
LITTLE_ENDIAN = 0
BIG_ENDIAN = 1

#: ``VersionDef.producer`` TF writes for tensor bundles (``kTensorBundleVersion``).
BUNDLE_VERSION = 1
