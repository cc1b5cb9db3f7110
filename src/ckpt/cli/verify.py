"""``ckpt verify``: check every tensor's CRC32C and its data file, reporting each bad tensor."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import ckpt
from ckpt.cli.render import Styler, human_bytes, print_json, progress_bar, use_color
from ckpt.errors import CheckpointError

__all__ = ["run_verify"]


def run_verify(args: argparse.Namespace) -> int:
    errors: list[dict[str, Any]] = []
    try:
        reader = ckpt.load_checkpoint(args.path)
    except CheckpointError as exc:
        if not args.json:
            raise  # the usual one-line error
        # A checkpoint whose index cannot even be opened is the worst verify result; a JSON
        # consumer gets it as JSON, like every other failure.
        print_json(
            {
                "prefix": args.path,
                "ok": False,
                "tensors": None,
                "nbytes": None,
                "errors": [{"name": None, "error": type(exc).__name__, "message": str(exc)}],
            }
        )
        return 1
    with reader:
        infos = []
        for key in reader:
            try:
                infos.append(reader.get_tensor_info(key))
            except CheckpointError as exc:
                errors.append({"name": key, "error": type(exc).__name__, "message": str(exc)})
        total = sum(i.nbytes for i in infos)
        with progress_bar(total, "verifying") as advance:
            for info in infos:
                try:
                    reader.verify(info.name)
                except CheckpointError as exc:
                    errors.append(
                        {"name": info.name, "error": type(exc).__name__, "message": str(exc)}
                    )
                advance(info.nbytes)
        result = {
            "prefix": reader.prefix,
            "ok": not errors,
            "tensors": len(reader.keys()),
            "nbytes": total,
            "errors": errors,
        }
    if args.json:
        print_json(result)
    else:
        styler = Styler(use_color(sys.stdout))
        lines = [
            f"{styler('BAD', 'bold red')}  {e['name']}: {e['error']}: {e['message']}"
            for e in errors
        ]
        if errors:
            summary = f"{len(errors)} of {result['tensors']} tensors are corrupt or missing"
            lines.append(styler(summary, "bold red"))
        else:
            summary = f"OK  {result['tensors']} tensors, {human_bytes(total)} verified"
            lines.append(styler(summary, "bold green"))
        sys.stdout.write("\n".join(lines) + "\n")
    return 0 if result["ok"] else 1
