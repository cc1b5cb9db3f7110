"""``ckpt diff``: compare two checkpoints key by key, reading one tensor pair at a time."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import ckpt
from ckpt.cli.render import Styler, print_json, progress_bar, render_table, use_color
from ckpt.cli.stats import compare

__all__ = ["run_diff"]


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def run_diff(args: argparse.Namespace) -> int:
    with ckpt.load_checkpoint(args.a) as a, ckpt.load_checkpoint(args.b) as b:
        keys_a, keys_b = set(a.keys()), set(b.keys())
        removed = sorted(keys_a - keys_b)
        added = sorted(keys_b - keys_a)
        changed: list[dict[str, Any]] = []
        identical = 0
        common = sorted(keys_a & keys_b)
        total = sum(a.get_tensor_info(k).nbytes + b.get_tensor_info(k).nbytes for k in common)
        with progress_bar(total, "comparing") as advance:
            for key in common:
                identical += _compare_one(a, b, key, args, changed)
                advance(a.get_tensor_info(key).nbytes + b.get_tensor_info(key).nbytes)
        result = {
            "a": a.prefix,
            "b": b.prefix,
            "equal": not (removed or added or changed),
            "identical": identical,
            "removed": removed,
            "added": added,
            "changed": changed,
        }
    if args.json:
        print_json(result)
    else:
        _print_human(result)
    return 0 if result["equal"] else 1


def _compare_one(
    a: ckpt.CheckpointReader,
    b: ckpt.CheckpointReader,
    key: str,
    args: argparse.Namespace,
    changed: list[dict[str, Any]],
) -> int:
    """Compare tensor ``key`` of A and B; append to ``changed``; return 1 if identical."""
    info_a, info_b = a.get_tensor_info(key), b.get_tensor_info(key)
    change: dict[str, Any] = {"name": key}
    if info_a.tf_dtype != info_b.tf_dtype:
        change["dtype"] = [info_a.tf_dtype, info_b.tf_dtype]
    if info_a.shape != info_b.shape:
        change["shape"] = [list(info_a.shape), list(info_b.shape)]
    elif info_a.dtype is not None and info_b.dtype is not None:
        # One pair in memory at a time: the checkpoints may not fit together.
        max_abs, max_rel, outside = compare(
            a.get_tensor(key), b.get_tensor(key), rtol=args.rtol, atol=args.atol
        )
        if outside:
            change.update(max_abs=max_abs, max_rel=max_rel, elements=outside)
    if len(change) > 1:
        changed.append(change)
        return 0
    return 1


def _describe(change: dict[str, Any]) -> str:
    parts = []
    if "dtype" in change:
        parts.append(f"dtype {change['dtype'][0]} -> {change['dtype'][1]}")
    if "shape" in change:
        parts.append(f"shape {_shape(change['shape'][0])} -> {_shape(change['shape'][1])}")
    if "elements" in change:
        parts.append(
            f"{change['elements']} element(s) differ, max abs {change['max_abs']:.6g}, "
            f"max rel {change['max_rel']:.6g}"
        )
    return "; ".join(parts)


def _print_human(result: dict[str, Any]) -> None:
    styler = Styler(use_color(sys.stdout))
    rows = [("-", key, "removed") for key in result["removed"]]
    rows += [("+", key, "added") for key in result["added"]]
    rows += [("~", c["name"], _describe(c)) for c in result["changed"]]
    lines = []
    if rows:
        styles = {"-": "red", "+": "green", "~": "yellow"}
        for line, row in zip(
            render_table(("", "key", "difference"), rows, styler=Styler(False))[1:],
            rows,
            strict=True,
        ):
            lines.append(styler(line, styles[row[0]]))
    lines.append(
        styler(
            f"{result['identical']} identical, {len(result['changed'])} changed, "
            f"{len(result['added'])} added, {len(result['removed'])} removed",
            "bold",
        )
    )
    sys.stdout.write("\n".join(lines) + "\n")
