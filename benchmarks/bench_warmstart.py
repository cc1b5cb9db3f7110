"""Warm-start I/O: bytes ``ckpt.init_from_checkpoint`` reads from disk, and its peak memory.

Writes a 1 GiB checkpoint (64 float32 tensors of 16 MiB, half of them saved partitioned as
two row slices in two data shards), then, for each method, in a fresh subprocess with the
checkpoint's files evicted from the page cache, warm-starts a model that takes half of it and
measures what the kernel read from disk (``/proc/self/io`` ``read_bytes``), the peak resident
memory above the model's own, and the time. See ``benchmarks/README.md``.

Usage::

    python benchmarks/bench_warmstart.py                    # 1 GiB, best of 3 (~1 min)
    python benchmarks/bench_warmstart.py --size-mib 64 --repeat 1   # smoke test, seconds
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import ckpt
from bench_common import (
    MiB,
    cpu_busy,
    environment,
    print_header,
    proc_status,
    report_load,
    reset_peak_rss,
    skip_parser,
)

FULL_REPEAT = 3
ROWS_PER_MIB = 128  # a [rows, 2048] float32 tensor holds 8 KiB per row: 128 rows per MiB
COLS = 2048


# --- the checkpoint ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """The checkpoint the probes read: where it is and what each tensor looks like."""

    prefix: str
    names: list[str]
    rows: int
    partitioned: list[bool]  # saved as two row slices, one per data shard

    @property
    def tensor_bytes(self) -> int:
        return self.rows * COLS * 4

    @property
    def total_bytes(self) -> int:
        return self.tensor_bytes * len(self.names)

    def files(self) -> list[str]:
        directory = os.path.dirname(self.prefix)
        base = os.path.basename(self.prefix)
        return [os.path.join(directory, f) for f in os.listdir(directory) if f.startswith(base)]

    def to_json(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "names": self.names, "rows": self.rows,
                "partitioned": self.partitioned}


def expected(i: int, rows: int) -> np.ndarray:
    """Tensor ``i``: row ``r`` holds ``i * rows + r`` in every column (checkable cheaply)."""
    column = np.arange(rows, dtype=np.float32) + np.float32(i * rows)
    return np.repeat(column[:, None], COLS, axis=1)


def write_checkpoint(directory: str, size_mib: int, count: int) -> Layout:
    rows = max(2, size_mib * ROWS_PER_MIB // count) // 2 * 2
    names = [f"layer_{i:03d}/kernel" for i in range(count)]
    # i % 4 in (2, 3): partitioned; so each model below takes both kinds.
    partitioned = [i % 4 >= 2 for i in range(count)]
    prefix = os.path.join(directory, "model.ckpt")
    with ckpt.CheckpointWriter(prefix, num_shards=2) as writer:
        for i, (name, split) in enumerate(zip(names, partitioned, strict=True)):
            value = expected(i, rows)
            if split:
                half = rows // 2
                writer.add_slice(name, value[:half], full_shape=value.shape, offset=(0, 0),
                                 shard=0)
                writer.add_slice(name, value[half:], full_shape=value.shape, offset=(half, 0),
                                 shard=1)
            else:
                writer.add(name, value)
    os.sync()  # clean pages only: POSIX_FADV_DONTNEED does not drop dirty ones
    return Layout(writer.prefix, names, rows, partitioned)


# --- what runs in the probe process -------------------------------------------------------------


def _variable(shape: tuple[int, ...]) -> ckpt.Variable:
    return ckpt.Variable(np.full(shape, -1, np.float32))  # allocated and touched


def _half_tensors(layout: Layout) -> tuple[dict[str, Any], dict[str, Any], dict[int, Any]]:
    """Every other tensor, whole: half of the checkpoint."""
    targets = {i: _variable((layout.rows, COLS)) for i in range(0, len(layout.names), 2)}
    return {layout.names[i]: v for i, v in targets.items()}, {}, targets


def _half_rows_slice(layout: Layout) -> tuple[dict[str, Any], dict[str, Any], dict[int, Any]]:
    """The first half of the rows of every tensor, through ``ckpt.transforms.Slice``."""
    half = layout.rows // 2
    targets = {i: _variable((half, COLS)) for i in range(len(layout.names))}
    cut = ckpt.transforms.Slice(np.s_[:half])
    return ({layout.names[i]: v for i, v in targets.items()},
            {name: cut for name in layout.names}, targets)


def _half_rows_parts(layout: Layout) -> tuple[dict[str, Any], dict[str, Any], dict[int, Any]]:
    """The first half of the rows of every tensor, as part 0 of a partitioned variable."""
    half = layout.rows // 2
    targets = {}
    for i, name in enumerate(layout.names):
        info = ckpt.SaveSliceInfo(name, (layout.rows, COLS), (0, 0), (half, COLS))
        targets[i] = ckpt.Variable(np.full((half, COLS), -1, np.float32), save_slice_info=info)
    return {layout.names[i]: [v] for i, v in targets.items()}, {}, targets


@dataclass(frozen=True)
class Method:
    key: str
    label: str
    model: Callable[[Layout], tuple[dict[str, Any], dict[str, Any], dict[int, Any]]]
    naive: bool = False
    verify: bool = True


METHODS = [
    Method("tensors", "init_from_checkpoint", _half_tensors),
    Method("tensors-naive", "naive get_tensor(all)", _half_tensors, naive=True),
    Method("rows-parts", "init_from_checkpoint, parts", _half_rows_parts),
    Method("rows-slice", "init_from_checkpoint, Slice", _half_rows_slice),
    Method("rows-slice-noverify", "init_from_checkpoint, Slice, verify=False", _half_rows_slice,
           verify=False),
    Method("rows-naive", "naive get_tensor(all)", _half_rows_slice, naive=True),
]
MODELS = {
    "tensors": "every other tensor, whole",
    "rows": "first half of the rows of every tensor",
}
SKIPPABLE = ("naive", "rows")


def _proc_io() -> dict[str, int]:
    with open("/proc/self/io") as f:
        return {k: int(v) for k, v in (line.split(":") for line in f)}


def _evict(paths: list[str]) -> None:
    """Drop the files' (clean) pages from the page cache, so reads go to the disk."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _naive(prefix: str, assignment_map: dict[str, Any], transforms: dict[str, Any]) -> None:
    """What one writes without ``init_from_checkpoint``: read everything, keep what is used."""
    with ckpt.load_checkpoint(prefix) as reader:
        values = {name: reader.get_tensor(name) for name in reader}
    for name, target in assignment_map.items():
        value = values[name]
        if name in transforms:
            value = transforms[name].apply(value)
        target.assign(value)


def probe(method_key: str, layout_path: str) -> dict[str, Any]:
    """One warm start in this (fresh) process, from a cold page cache."""
    with open(layout_path) as f:
        layout = Layout(**json.load(f))
    method = next(m for m in METHODS if m.key == method_key)
    rss_start = proc_status()["VmRSS"]
    assignment_map, transforms, targets = method.model(layout)
    model_bytes = sum(v.numpy().nbytes for v in targets.values())
    gc.collect()
    _evict(layout.files())
    io_before = _proc_io()
    reset = reset_peak_rss()
    rss_before = proc_status()["VmRSS"]
    start = time.perf_counter()
    plan_bytes = None
    if method.naive:
        _naive(layout.prefix, assignment_map, transforms)
    else:
        plan = ckpt.init_from_checkpoint(
            layout.prefix, assignment_map, transforms=transforms, verify=method.verify
        )
        plan_bytes = plan.read_bytes
    seconds = time.perf_counter() - start
    io_after = _proc_io()
    status = proc_status()
    for i, v in targets.items():  # every target got its rows
        column = v.numpy()[:, [0, -1]]
        want = np.arange(column.shape[0], dtype=np.float32) + np.float32(i * layout.rows)
        if not (column == want[:, None]).all():
            raise SystemExit(f"{method_key}: wrong values in target {i}")
    return {
        "method": method_key, "seconds": seconds, "model_bytes": model_bytes,
        "read_bytes": io_after["read_bytes"] - io_before["read_bytes"],
        "rchar": io_after["rchar"] - io_before["rchar"],
        "peak_reset": reset, "rss_start": rss_start, "rss_before": rss_before,
        "hwm": status["VmHWM"], "peak_over_model": max(status["VmHWM"] - rss_before, 0),
        "plan_read_bytes": plan_bytes,
    }


# --- the parent process -----------------------------------------------------------------------


def run_probe(method: Method, layout_path: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--probe", method.key, layout_path],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode:
        raise RuntimeError(f"probe {method.key} failed:\n{proc.stderr or proc.stdout}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median bytes and peak, best time, over one method's runs."""
    return {
        "runs": runs,
        "read_bytes": statistics.median(r["read_bytes"] for r in runs),
        "rchar": statistics.median(r["rchar"] for r in runs),
        "peak_over_model": statistics.median(r["peak_over_model"] for r in runs),
        "best_s": min(r["seconds"] for r in runs),
        "median_s": statistics.median(r["seconds"] for r in runs),
        "plan_read_bytes": runs[0]["plan_read_bytes"],
        "model_bytes": runs[0]["model_bytes"],
        "peak_reset": all(r["peak_reset"] for r in runs),
    }


def format_results(layout: Layout, results: dict[str, dict[str, Any]], repeat: int) -> str:
    half = layout.total_bytes / 2
    split = sum(layout.partitioned)
    header = ("model takes", "method", "read from disk", "/ half", "rchar", "plan says",
              "peak over model", "time s")
    rows = []
    for method in METHODS:
        res = results.get(method.key)
        if res is None:
            continue
        model = MODELS[method.key.split("-")[0]]
        plan = res["plan_read_bytes"]
        rows.append((
            model, method.label,
            f"{res['read_bytes'] / MiB:.1f} MiB",
            f"{res['read_bytes'] / half:.2f}x",
            f"{res['rchar'] / 1024:.0f} KiB",
            "-" if plan is None else f"{plan / MiB:.1f} MiB",
            f"{res['peak_over_model'] / MiB:.1f} MiB",
            f"{res['best_s']:.3f}",
        ))
    widths = [max(len(c) for c in col) for col in zip(header, *rows, strict=True)]

    def line(cells: tuple[str, ...]) -> str:
        out = [cells[0].ljust(widths[0]), cells[1].ljust(widths[1])]
        out += [c.rjust(w) for c, w in zip(cells[2:], widths[2:], strict=True)]
        return "  ".join(out).rstrip()

    lines = [
        f"== warm start from {layout.total_bytes / MiB:.0f} MiB: {len(layout.names)} float32 "
        f"tensors of {layout.tensor_bytes / MiB:g} MiB, {split} of them as 2 row slices in 2 "
        f"data shards; the model takes half ({half / MiB:.0f} MiB); cold page cache, "
        f"fresh process; best time of {repeat} ==",
        line(header),
        line(tuple("-" * w for w in widths)),
        *(line(r) for r in rows),
    ]
    if any(not r["peak_reset"] for r in results.values()):
        lines.append("  note: could not reset VmHWM; peaks include the process's earlier peak")
    naive = [r for k, r in results.items() if k.endswith("naive")]
    if naive and min(r["read_bytes"] for r in naive) < 0.5 * layout.total_bytes:
        lines.append("  note: the naive reads did not reach the disk: page-cache eviction does "
                     "not work on this file system (tmpfs?), so 'read from disk' means nothing")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Bytes read from disk and peak memory of a warm start that takes half "
        "of a checkpoint (cold page cache).",
    )
    parser.add_argument("--size-mib", type=int, default=1024,
                        help="checkpoint size in MiB (default %(default)s)")
    parser.add_argument("--tensors", type=int, default=64,
                        help="number of tensors (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=FULL_REPEAT,
                        help="fresh-process runs per method; bytes and peaks are medians, the "
                        "time is the best (default %(default)s)")
    parser.add_argument("--skip", type=skip_parser(SKIPPABLE, {}), default=set(),
                        help=f"comma-separated parts to leave out: {', '.join(SKIPPABLE)}")
    parser.add_argument("--dir", default=tempfile.gettempdir(),
                        help="where to create the scratch directory; must be a real disk "
                        "(default: %(default)s)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--probe", nargs=2, metavar=("METHOD", "LAYOUT"), help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.probe:
        print(json.dumps(probe(*args.probe)))
        return 0
    if args.repeat < 1 or args.size_mib < 1 or args.tensors < 4:
        raise SystemExit("--repeat and --size-mib must be >= 1, --tensors >= 4")
    meta = environment() | {"other_cpu_load_start": cpu_busy(), "repeat": args.repeat,
                            "size_mib": args.size_mib, "tensors": args.tensors}
    print_header(meta)
    os.makedirs(args.dir, exist_ok=True)
    directory = tempfile.mkdtemp(prefix="ckpt-bench-warmstart-", dir=args.dir)
    results: dict[str, dict[str, Any]] = {}
    try:
        layout = write_checkpoint(directory, args.size_mib, args.tensors)
        layout_path = os.path.join(directory, "layout.json")
        with open(layout_path, "w") as f:
            json.dump(layout.to_json(), f)
        for method in METHODS:
            if method.naive and "naive" in args.skip:
                continue
            if method.key.startswith("rows") and "rows" in args.skip:
                continue
            runs = [run_probe(method, layout_path) for _ in range(args.repeat)]
            results[method.key] = summarize(runs)
        print()
        print(format_results(layout, results, args.repeat))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    meta["other_cpu_load_end"] = cpu_busy()
    report_load("at the end", meta["other_cpu_load_end"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "layout": {"total_bytes": layout.total_bytes,
                                                "tensors": len(layout.names),
                                                "partitioned": sum(layout.partitioned)},
                       "results": results}, f, indent=2)
        print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
