"""``ckpt convert``: between TF checkpoints, safetensors, PyTorch state dicts and ``.npz``."""

from __future__ import annotations

import argparse

import ckpt
from ckpt.cli.render import progress_bar
from ckpt.errors import InvalidTensorError

__all__ = ["parse_mapping", "run_convert"]


def parse_mapping(text: str) -> tuple[str, str]:
    """``old/=new/`` -> ``("old/", "new/")`` (a key prefix and its replacement)."""
    old, sep, new = text.partition("=")
    if not sep or not old:
        raise argparse.ArgumentTypeError(f"expected OLD=NEW (e.g. 'bert/=encoder/'), got {text!r}")
    return old, new


def run_convert(args: argparse.Namespace) -> int:
    if args.max_shard_size <= 0:
        raise InvalidTensorError(f"--max-shard-size must be positive, got {args.max_shard_size}")
    with progress_bar(None, "converting") as advance:
        written = ckpt.convert_checkpoint(
            args.src,
            args.dst,
            src_format=args.src_format,
            dst_format=args.dst_format,
            rename=args.map,
            dtype=args.dtype,
            max_shard_bytes=args.max_shard_size,
            progress=advance,
        )
    print(written)
    return 0
