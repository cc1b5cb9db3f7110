"""The object layer against the TF-written fixture tests/fixtures/tf/tf2_object (no TF import).

The same structure built with ckpt must restore from TF's checkpoint and save an object graph
identical to the one TF wrote.
"""

from __future__ import annotations

import pathlib

import numpy as np

import ckpt

FIXTURE = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "tf" / "tf2_object"
PREFIX = str(FIXTURE / "ckpt-2")


def build(
    reader: ckpt.CheckpointReader, registry: dict[str, ckpt.Variable] | None = None
) -> ckpt.Checkpoint:
    """The fixture's structure, zeros of the stored shapes and dtypes; ``registry[key] = var``."""
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
    registry = {} if registry is None else registry

    def zeros(path: str) -> ckpt.Variable:
        key = f"model/{path}/.ATTRIBUTES/VARIABLE_VALUE"
        value = np.zeros(shapes[key], dtypes[key])
        if value.dtype == object:
            value[...] = b""
        registry[key] = ckpt.Variable(value)
        return registry[key]

    model = ckpt.Module()
    model.encoder = ckpt.Module()
    model.decoder = ckpt.Module()
    model.layers = [zeros("layers/0"), zeros("layers/1")]
    model.table = {"alpha": zeros("table/alpha"), "beta": zeros("table/beta")}
    model.table["a/b.c"] = zeros("table/a.Sb..c")
    model.step = zeros("step")
    model.label = zeros("label")
    model.encoder.kernel = zeros("encoder/kernel")
    model.encoder.bias = zeros("encoder/bias")
    model.decoder.kernel = zeros("decoder/kernel")
    model.decoder.norm = ckpt.Module()
    model.decoder.norm.scale = zeros("decoder/norm/scale")
    return ckpt.Checkpoint(model=model)


def test_restore_tf_checkpoint(tmp_path) -> None:
    registry: dict[str, ckpt.Variable] = {}
    with ckpt.CheckpointReader(PREFIX) as reader:
        checkpoint = build(reader, registry)
        expected = {k: reader.get_tensor(k) for k in reader}
    status = checkpoint.restore(str(FIXTURE))  # the directory: its latest is ckpt-2
    status.assert_consumed()
    assert checkpoint.save_counter.numpy() == expected["save_counter/.ATTRIBUTES/VARIABLE_VALUE"]
    assert len(registry) == len(expected) - 2  # minus graph and save_counter
    for key, variable in registry.items():
        stored = expected[key]
        name = key
        if stored.dtype == object:
            assert variable.numpy().tolist() == stored.tolist(), name
        else:
            assert variable.numpy().tobytes() == stored.tobytes(), name


def test_saved_graph_is_identical_to_tfs(tmp_path, read_graph) -> None:
    with ckpt.CheckpointReader(PREFIX) as reader:
        checkpoint = build(reader)
    checkpoint.restore(PREFIX).assert_consumed()
    ours = read_graph(checkpoint.save(str(tmp_path / "ours")))
    theirs = read_graph(PREFIX)
    assert len(ours.nodes) == len(theirs.nodes)
    for n, (mine, tf) in enumerate(zip(ours.nodes, theirs.nodes, strict=True)):
        assert [(c.node_id, c.local_name) for c in mine.children] == [
            (c.node_id, c.local_name) for c in tf.children
        ], n
        assert [(a.name, a.full_name, a.checkpoint_key) for a in mine.attributes] == [
            (a.name, a.full_name, a.checkpoint_key) for a in tf.attributes
        ], n
        assert mine.HasField("has_checkpoint_values") == tf.HasField("has_checkpoint_values")
        assert mine.has_checkpoint_values.value == tf.has_checkpoint_values.value, n
    # And the bytes of every value round-trip.
    with ckpt.CheckpointReader(PREFIX) as a, ckpt.CheckpointReader(str(tmp_path / "ours-3")) as b:
        assert sorted(a.keys()) == sorted(b.keys())
        for key in a:
            if key.startswith("_CHECKPOINTABLE") or key.startswith("save_counter"):
                continue
            x, y = a.get_tensor(key), b.get_tensor(key)
            assert x.dtype == y.dtype and x.shape == y.shape, key
            if x.dtype == object:
                assert x.tolist() == y.tolist(), key
            else:
                assert x.tobytes() == y.tobytes(), key
