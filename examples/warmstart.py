"""Warm-start a model from TensorFlow-written checkpoints by name, without TensorFlow.

Run: python examples/warmstart.py
"""

from __future__ import annotations

import pathlib
import tempfile

import numpy as np

import ckpt

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tf"
TF1 = FIXTURES / "warmstart" / "model.ckpt"  # tf.compat.v1 Saver, scopes, partitioned variables
TF2 = FIXTURES / "warmstart" / "object"  # tf.train.Checkpoint(model=...)


class Scope(ckpt.Module):
    """A bag of variables, like a TF1 variable scope."""


def main() -> None:
    # 1. A TF1 checkpoint: scopes and a partitioned variable, by TF's assignment-map rules.
    model = ckpt.Module(name="model")
    model.encoder = Scope()
    model.encoder.var1 = ckpt.Variable(np.zeros((20, 2), np.float32))
    model.encoder.var2 = ckpt.Variable(np.zeros((50, 4), np.float32))
    model.encoder.emb = ckpt.PartitionedVariable(  # 4 parts along axis 1 (TF saved 5 on axis 0)
        shape=(100, 100), num_partitions=4, axis=1, name="encoder/emb"
    )
    model.head = Scope()
    model.head.w = ckpt.Variable(np.zeros((3, 2), np.float32))  # inner/w is [2, 3]: transpose

    assignment_map = {
        "old_scope_1/var*": "encoder/var*",  # glob: var1, var2
        "old_scope_2/var3": "encoder/emb",  # partitioned by name: emb/part_0 … part_3
        "old_scope_1/inner/w": "head/w",
    }
    transforms = {
        "old_scope_1/inner/w": [ckpt.transforms.Transpose(), ckpt.transforms.Cast("float32")]
    }
    plan = ckpt.init_from_checkpoint(
        TF1, assignment_map, root=model, transforms=transforms, dry_run=True
    )
    print("The plan, checked before anything is read:")
    print(plan)
    ckpt.init_from_checkpoint(TF1, assignment_map, root=model, transforms=transforms)
    full = ckpt.load_variable(TF1, "old_scope_2/var3")
    assert np.array_equal(model.encoder.emb.numpy(), full)
    print(f"\nencoder/emb re-partitioned 5x1 -> 1x4 and equal to the TF tensor: {full.shape}")

    # 2. A TF2 object-based checkpoint: object paths name the tensors.
    dense = Scope(name="dense")
    dense.kernel = ckpt.Variable(np.zeros((3, 4), np.float32))
    dense.bias = ckpt.Variable(np.zeros(4, np.float32))
    ckpt.init_from_checkpoint(TF2, {"model/dense/": "/"}, root=dense)
    print("dense/kernel from the TF2 checkpoint:", dense.kernel.numpy()[0])

    # 3. Network checkpoints: saved from one network, restored into a differently named one,
    #    including a layer created after the restore.
    with tempfile.TemporaryDirectory() as tmp:
        first = ckpt.Module(name="my_network_1")
        first.dense_1 = Scope()
        first.dense_1.kernel = ckpt.Variable(np.arange(6, dtype=np.float32).reshape(2, 3))
        first.dense_2 = Scope()
        first.dense_2.kernel = ckpt.Variable(np.ones((3, 1), np.float32))
        ckpt.save_network_checkpoint(first, tmp)

        second = ckpt.Module(name="my_network_2")
        second.dense_1 = Scope()
        second.dense_1.kernel = ckpt.Variable(np.zeros((2, 3), np.float32))
        result = ckpt.restore_network_checkpoint(second, tmp)
        print("\nkept for layers created later:", result.deferred)
        second.dense_2 = Scope()
        second.dense_2.kernel = ckpt.Variable(np.zeros((3, 1), np.float32))  # restored now
        assert np.array_equal(second.dense_2.kernel.numpy(), first.dense_2.kernel.numpy())
        restored = second.dense_2.kernel.numpy().ravel()
        print("my_network_2/dense_2/kernel, created after the restore:", restored)


if __name__ == "__main__":
    main()
