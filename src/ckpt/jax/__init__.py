"""``ckpt.jax``: JAX pytrees and Flax/optax state in TensorFlow-format checkpoints.

Pytrees (dicts, lists, tuples, namedtuples, registered dataclasses, Flax Linen variable
dicts, ``nnx.State``, optax states) go into :class:`ckpt.Checkpoint` like any trackable
object once JAX is imported; each array leaf is a variable named by its key path::

    import ckpt, ckpt.jax

    checkpoint = ckpt.Checkpoint(params=params, opt_state=opt_state)
    path = checkpoint.save("runs/ckpt")          # params/dense/kernel/.ATTRIBUTES/...

The checkpoint holds the trees given to it: after training steps produce new trees, assign
them (``checkpoint.params = params``) before the next save.

JAX arrays are immutable, so restoring returns new trees, with the target's structure,
dtypes and shardings::

    restored = ckpt.jax.restore(path, {"params": params, "opt_state": opt_state})
    params = ckpt.jax.restore(path, params, name="params")
    params, status = ckpt.jax.restore_with_status(path, params, name="params")
    everything = ckpt.jax.restore(path)          # nested dicts of arrays

For Flax NNX, restore the state and update the model:
``nnx.update(model, ckpt.jax.restore(path, nnx.state(model), name="model"))``.
:func:`init_from_checkpoint` warm-starts a tree from another model's checkpoint by name.
"""

from ckpt.jax.nodes import Leaf, PyTree
from ckpt.jax.restore import restore, restore_with_status
from ckpt.jax.warmstart import init_from_checkpoint

__all__ = ["Leaf", "PyTree", "init_from_checkpoint", "restore", "restore_with_status"]
