"""The TF checkpoint format layer: bytes on disk, with no knowledge of objects or frameworks.

Modules here read and write the `.index` table, the data shards, the protos, dtypes, slice keys
and the `checkpoint` state file. Everything above this package builds on these pieces.
"""
