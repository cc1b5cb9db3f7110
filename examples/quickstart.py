"""Quickstart: write a TensorFlow checkpoint without TensorFlow, list it, read it back,
save and restore a model object by object, and read a checkpoint TensorFlow itself wrote.

Run from the repository root: ``python examples/quickstart.py``.
"""

from __future__ import annotations

import pathlib
import tempfile

import ml_dtypes
import numpy as np

import ckpt

FIXTURE_DIR = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tf"


class Dense(ckpt.Module):
    def __init__(self, n_in: int, n_out: int, seed: int) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        self.kernel = ckpt.Variable(rng.standard_normal((n_in, n_out), dtype=np.float32))
        self.bias = ckpt.Variable(np.zeros(n_out, np.float32))


class Net(ckpt.Module):
    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.layers = [Dense(4, 8, seed), Dense(8, 2, seed + 1)]
        self.config = ckpt.JsonState({"activation": "relu"})


def object_round_trip(tmp: str) -> None:
    """Object-based checkpoints: values are matched to objects by their attribute paths."""
    net = Net(seed=0)
    checkpoint = ckpt.Checkpoint(model=net)
    path = checkpoint.save(f"{tmp}/objects/ckpt")  # .../ckpt-1, plus the `checkpoint` file
    print(f"\nsaved {path}:")
    for name, shape in ckpt.list_variables(path):
        print(f"  {name:50s} {shape}")

    fresh = Net(seed=1)  # different initial values
    status = ckpt.Checkpoint(model=fresh).restore(f"{tmp}/objects")  # directory: latest
    status.assert_consumed()  # every value used, every variable restored
    assert np.array_equal(fresh.layers[0].kernel.numpy(), net.layers[0].kernel.numpy())
    print(status.report())

    # Deferred restoration: objects created after restore() get their values when added.
    lazy = ckpt.Module(name="lazy")
    ckpt.Checkpoint(model=lazy).restore(path)
    lazy.layers = [Dense(4, 8, seed=5)]
    assert np.array_equal(lazy.layers[0].bias.numpy(), net.layers[0].bias.numpy())
    print("deferred restore of model.layers.0: ok")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        prefix = f"{tmp}/model/ckpt-1"

        # 1. Write: any mapping of names to array-likes, every dtype TF stores.
        ckpt.write_tensors(
            prefix,
            {
                "dense/kernel": np.arange(12, dtype=np.float32).reshape(3, 4),
                "dense/bias": np.zeros(4, dtype=ml_dtypes.bfloat16),
                "step": np.int64(1000),
                "vocab": np.array([b"hello", "wörld".encode()], dtype=object),
            },
        )
        # Partitioned tensors are written slice by slice, as TF's partitioned variables are.
        with ckpt.CheckpointWriter(f"{tmp}/model/ckpt-2") as writer:
            embedding = np.arange(20, dtype=np.float32).reshape(10, 2)
            writer.add_slice("embedding", embedding[:6], full_shape=[10, 2], offset=[0, 0])
            writer.add_slice("embedding", embedding[6:], full_shape=[10, 2], offset=[6, 0])
        ckpt.update_checkpoint_state(f"{tmp}/model", f"{tmp}/model/ckpt-2")

        # 2. List: (name, shape) pairs, sorted, as tf.train.list_variables returns them.
        print("ckpt-1:")
        for name, shape in ckpt.list_variables(prefix):
            print(f"  {name:14s} {shape}")

        # 3. Read back: a directory means its latest checkpoint; sliced tensors are assembled.
        reader = ckpt.load_checkpoint(f"{tmp}/model")
        print("latest:", ckpt.latest_checkpoint(f"{tmp}/model"))
        print("embedding rows 5..7:\n", reader.get_slice("embedding", slice(5, 7)))
        assert np.array_equal(reader.get_tensor("embedding"), embedding)
        print("vocab:", ckpt.load_variable(prefix, "vocab"))

        # 4. Save and restore a model object by object.
        object_round_trip(tmp)

    # 5. Read a checkpoint written by TensorFlow 2.21 (tf.train.Checkpoint.save).
    tf_dir = FIXTURE_DIR / "tf2_object"
    tf_reader = ckpt.load_checkpoint(tf_dir)
    print(f"\nTensorFlow-written checkpoint {tf_reader.prefix}:")
    dtypes = tf_reader.get_variable_to_tf_dtype_map()
    for name, shape in sorted(tf_reader.get_variable_to_shape_map().items()):
        print(f"  {name:60s} {dtypes[name]:8s} {shape}")


if __name__ == "__main__":
    main()
