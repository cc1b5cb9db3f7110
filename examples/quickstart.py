"""Quickstart: write a TensorFlow checkpoint without TensorFlow, list it, read it back,
and read a checkpoint that TensorFlow itself wrote.

Run from the repository root: ``python examples/quickstart.py``.
"""

from __future__ import annotations

import pathlib
import tempfile

import ml_dtypes
import numpy as np

import ckpt

FIXTURE_DIR = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tf"


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

    # 4. Read a checkpoint written by TensorFlow 2.21 (tf.train.Checkpoint.save).
    tf_dir = FIXTURE_DIR / "tf2_object"
    tf_reader = ckpt.load_checkpoint(tf_dir)
    print(f"\nTensorFlow-written checkpoint {tf_reader.prefix}:")
    dtypes = tf_reader.get_variable_to_tf_dtype_map()
    for name, shape in sorted(tf_reader.get_variable_to_shape_map().items()):
        print(f"  {name:60s} {dtypes[name]:8s} {shape}")


if __name__ == "__main__":
    main()
