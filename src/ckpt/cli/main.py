"""The ``ckpt`` console script: argument parsing, dispatch, and errors mapped to exit codes.

Exit codes: 0 success (``diff``: no difference), 1 a checkpoint error, corruption found or a
difference (``diff``, ``verify``, ``latest``), 2 a usage error. Errors print one line on stderr,
``ckpt: error: ...``, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

__all__ = ["build_parser", "main"]

_EPILOG = "PATH is a checkpoint prefix (dir/ckpt-1, without .index) or a directory (its latest)."


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand (each with ``--help``)."""
    from ckpt import __version__

    parser = argparse.ArgumentParser(
        prog="ckpt",
        description="Inspect, compare and verify TensorFlow checkpoints, without TensorFlow.",
        epilog=_EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"ckpt {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help: str, description: str) -> argparse.ArgumentParser:
        # Only the commands that take a PATH get the note on what a PATH is.
        epilog = None if name in ("latest", "convert") else _EPILOG
        return commands.add_parser(name, help=help, description=description, epilog=epilog)

    ls = command(
        "ls",
        "list tensors: dtype, shape, size, shard",
        "List every tensor with its TF dtype, shape, size and data shard; partitioned tensors "
        "appear once, with their stored slices. Ends with a totals line.",
    )
    ls.add_argument("path", metavar="PATH")
    ls.add_argument("--json", action="store_true", help="print JSON (tensors and totals)")
    ls.add_argument(
        "--tree", action="store_true", help="show the object graph of an object-based checkpoint"
    )

    show = command(
        "show",
        "print one tensor: statistics and values",
        "Print a tensor's dtype, shape, storage, statistics (min, max, mean, std over finite "
        "values, NaN and Inf counts; string lengths for strings) and its values, abbreviated "
        "unless --full.",
    )
    show.add_argument("path", metavar="PATH")
    show.add_argument("key", metavar="KEY", help="the tensor's key (a trailing :0 is ignored)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.add_argument("--full", action="store_true", help="print every value")

    diff = command(
        "diff",
        "compare two checkpoints",
        "Compare two checkpoints: keys added and removed, dtype and shape changes, and the "
        "largest absolute and relative differences of tensors present in both. Exits 0 when "
        "they are equal (within --rtol/--atol), 1 otherwise.",
    )
    diff.add_argument("a", metavar="A", help="the first checkpoint (PATH)")
    diff.add_argument("b", metavar="B", help="the second checkpoint, the reference (PATH)")
    diff.add_argument("--json", action="store_true", help="print JSON")
    diff.add_argument(
        "--rtol", type=_float, default=0.0, help="relative tolerance, of |B| (default 0)"
    )
    diff.add_argument("--atol", type=_float, default=0.0, help="absolute tolerance (default 0)")

    verify = command(
        "verify",
        "check every tensor's CRC32C and data files",
        "Check every tensor's CRC32C and that its data file exists and is long enough, "
        "naming each bad tensor. Exits 1 if anything is corrupt or missing.",
    )
    verify.add_argument("path", metavar="PATH")
    verify.add_argument("--json", action="store_true", help="print JSON")

    latest = command(
        "latest",
        "print the latest checkpoint of a directory",
        "Print the prefix of the latest checkpoint in DIR (from its 'checkpoint' file, or the "
        "newest prefix found). Exits 1 if there is none.",
    )
    latest.add_argument("dir", metavar="DIR")

    from ckpt.cli.convert import parse_mapping

    formats = ("tf", "safetensors", "npz", "torch")
    convert = command(
        "convert",
        "convert between TF, safetensors, PyTorch and .npz",
        "Convert a checkpoint, tensor by tensor, between TF checkpoints (a prefix or "
        "directory), safetensors (a .safetensors file, or sharded with a "
        ".safetensors.index.json), PyTorch state-dict files (.pt/.pth/.bin, read only with "
        "torch.load(weights_only=True)) and .npz. Formats follow from the paths unless given; "
        "a DST ending in / is a directory. An existing DST is replaced once the new output is "
        "complete; a failed conversion leaves the old one and nothing else. Prints the path "
        "written.",
    )
    convert.add_argument("src", metavar="SRC")
    convert.add_argument("dst", metavar="DST")
    convert.add_argument("--from", dest="src_format", choices=formats, help="format of SRC")
    convert.add_argument("--to", dest="dst_format", choices=formats, help="format of DST")
    convert.add_argument(
        "--map",
        type=parse_mapping,
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="rename keys starting with OLD to start with NEW (repeatable; first match wins)",
    )
    convert.add_argument(
        "--dtype", help="cast floating-point tensors to this dtype (float16, bfloat16, float32...)"
    )
    convert.add_argument(
        "--max-shard-size",
        type=int,
        default=4 << 30,
        metavar="BYTES",
        help="largest safetensors shard written (default 4 GiB)",
    )
    return parser


def _handler(command: str) -> Callable[[argparse.Namespace], int]:
    # Each command's module is imported only when it runs, to keep start-up short.
    if command == "ls":
        from ckpt.cli.listing import run_ls

        return run_ls
    if command == "latest":
        from ckpt.cli.listing import run_latest

        return run_latest
    if command == "show":
        from ckpt.cli.show import run_show

        return run_show
    if command == "diff":
        from ckpt.cli.diff import run_diff

        return run_diff
    if command == "convert":
        from ckpt.cli.convert import run_convert

        return run_convert
    from ckpt.cli.verify import run_verify

    return run_verify


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    args = build_parser().parse_args(argv)
    from ckpt.errors import CheckpointError

    try:
        return _handler(args.command)(args)
    except CheckpointError as exc:
        message = str(exc).replace("\n", " ")
        sys.stderr.write(f"ckpt: error: {message}\n")
        return 1
    except OSError as exc:  # permissions, a directory given as a file, a full disk...
        if isinstance(exc, BrokenPipeError):
            # `ckpt ls big | head`: stop quietly; point stdout at devnull so the interpreter's
            # final flush does not fail again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        sys.stderr.write(f"ckpt: error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("ckpt: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
