"""``ckpt show``: one tensor's metadata, statistics and (abbreviated) values."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

import ckpt
from ckpt.cli.render import Styler, human_bytes, json_value, print_json, render_table, use_color
from ckpt.cli.stats import as_numeric, summary

__all__ = ["run_show"]

_PREVIEW = 6  # leading values in JSON output without --full


def _printable(value: np.ndarray) -> np.ndarray:
    """What NumPy can print: ml_dtypes values as float32, bytes as they are."""
    if value.dtype.kind == "V":
        numeric = as_numeric(value)
        assert numeric is not None
        return numeric
    return value


def run_show(args: argparse.Namespace) -> int:
    key = args.key[:-2] if args.key.endswith(":0") else args.key
    with ckpt.load_checkpoint(args.path) as reader:
        if not reader.has_tensor(key) and reader.has_tensor(args.key):
            key = args.key
        info = reader.get_tensor_info(key)
        value = reader.get_tensor(key)
    stats = summary(value)
    if args.json:
        flat = _printable(value).reshape(-1)
        result: dict[str, Any] = {
            "name": info.name,
            "dtype": info.tf_dtype,
            "shape": list(info.shape),
            "nbytes": info.nbytes,
            "shard": info.shard,
            "slices": list(info.slices),
            "stats": stats,
        }
        if args.full:
            result["values"] = _printable(value).tolist()
        else:
            result["head"] = flat[:_PREVIEW].tolist()
        print_json(result)
        return 0
    styler = Styler(use_color(sys.stdout))
    rows = [
        ("name", info.name),
        ("dtype", info.tf_dtype),
        ("shape", str(list(info.shape))),
        ("size", f"{human_bytes(info.nbytes)} ({info.nbytes:,} bytes)"),
        ("stored", f"shard {info.shard}" if info.shard is not None else " ".join(info.slices)),
    ]
    rows += [(name, _format_stat(v)) for name, v in stats.items()]
    lines = render_table(("", ""), rows, styles=("bold", None), styler=styler)[1:]
    options: dict[str, Any] = (
        {"threshold": sys.maxsize} if args.full else {"edgeitems": 3, "threshold": 64}
    )
    with np.printoptions(**options):
        lines.append(styler("values", "bold"))
        lines.append(np.array2string(_printable(value), separator=", "))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _format_stat(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(json_value(value))
