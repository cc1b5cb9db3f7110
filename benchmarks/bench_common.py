"""Helpers shared by the benchmark scripts: units, timing, environment, command-line options."""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import ckpt

GB = 1e9
MiB = 1 << 20
KiB = 1 << 10


# --- timing -----------------------------------------------------------------------------------


@dataclass
class Timing:
    """Wall-clock seconds of the timed repetitions (warm-up runs excluded)."""

    seconds: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def quiesce() -> None:
    """Same starting state for every timed run: no garbage pending, no dirty pages to flush."""
    gc.collect()
    os.sync()


def timing_json(nbytes: int, t: Timing) -> dict[str, Any]:
    return {
        "seconds": t.seconds,
        "best_s": t.best,
        "median_s": t.median,
        "best_gbps": nbytes / t.best / GB,
    }


def unlink(*paths: str) -> None:
    """Delete ``paths``; those that do not exist are passed over."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


# --- environment ------------------------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def cpu_busy(seconds: float = 1.0) -> float | None:
    """Fraction of all CPUs busy over ``seconds`` while this process sleeps: other load."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        return sum(values), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    total = total1 - total0
    return 1 - (idle1 - idle0) / total if total > 0 else None


def environment() -> dict[str, Any]:
    """Versions and hardware, for the header line and the JSON ``meta``."""
    from ckpt.format import crc

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "numpy": np.__version__,
        "ckpt": ckpt.__version__,
        "crc32c_accelerated": crc.ACCELERATED,
    }


def report_load(when: str, busy: float | None) -> None:
    if busy is not None:
        print(
            f"CPU used by other processes {when}: {busy:.0%}"
            + (" -- the machine is busy, expect noisy numbers" if busy > 0.1 else "")
        )


def print_header(meta: Mapping[str, Any]) -> None:
    """The environment line and the other processes' CPU load at the start."""
    print(
        f"ckpt {ckpt.__version__} | Python {meta['python']} | numpy {meta['numpy']} | "
        f"{meta['cpu']} x{meta['cpus']} | crc32c accelerated: {meta['crc32c_accelerated']}"
    )
    report_load("at start", meta["other_cpu_load_start"])


# --- command line -----------------------------------------------------------------------------


def skip_parser(skippable: Sequence[str], aliases: Mapping[str, str]) -> Callable[[str], set[str]]:
    """An argparse ``type`` for ``--skip a,b``: names from ``skippable``, or their ``aliases``."""

    def parse(value: str) -> set[str]:
        names = {aliases.get(s.strip().lower(), s.strip().lower()) for s in value.split(",")}
        names.discard("")
        unknown = names - set(skippable)
        if unknown:
            raise argparse.ArgumentTypeError(
                f"cannot skip {', '.join(sorted(unknown))}; choose from {', '.join(skippable)}"
            )
        return names

    return parse


def add_run_arguments(
    parser: argparse.ArgumentParser,
    *,
    full_repeat: int,
    skippable: Sequence[str],
    aliases: Mapping[str, str],
    quick_help: str,
) -> None:
    """``--repeat``, ``--warmup``, ``--skip``, ``--quick``, ``--dir``, ``--seed`` and ``--json``."""
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="timed repetitions per operation; the best is reported "
        f"(default {full_repeat}, --quick 2)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="untimed runs before the timed ones (default 1, --quick 0)",
    )
    parser.add_argument(
        "--skip",
        type=skip_parser(skippable, aliases),
        default=set(),
        help=f"comma-separated parts to leave out: {', '.join(skippable)}",
    )
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument(
        "--dir",
        default=tempfile.gettempdir(),
        help="where to create the scratch directory (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")


def settle_repetitions(args: argparse.Namespace, full_repeat: int) -> str:
    """Fill in the ``--repeat`` and ``--warmup`` defaults, check them, and say what is reported."""
    args.repeat = args.repeat if args.repeat is not None else (2 if args.quick else full_repeat)
    args.warmup = args.warmup if args.warmup is not None else (0 if args.quick else 1)
    if args.repeat < 1 or args.warmup < 0:
        raise SystemExit("--repeat must be >= 1 and --warmup >= 0")
    return f"best of {args.repeat}" + (
        f" after {args.warmup} warm-up run{'s' if args.warmup > 1 else ''}" if args.warmup else ""
    )


def proc_status() -> dict[str, int]:
    """``/proc/self/status`` memory fields (``VmRSS``, ``VmHWM``, ``RssAnon`` …), in bytes."""
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.startswith(("Vm", "Rss")) and value.strip().endswith("kB"):
                fields[key] = int(value.split()[0]) * 1024
    return fields


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); ``False`` if not permitted."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True
