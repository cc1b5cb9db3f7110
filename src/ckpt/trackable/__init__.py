"""The object layer: trackable objects (variables, modules, containers, Python state, slots).

Objects here know nothing of files; :mod:`ckpt.checkpoint` saves and restores them.
"""
