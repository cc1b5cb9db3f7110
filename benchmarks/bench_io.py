"""Save/restore throughput of ckpt against raw file I/O, TensorFlow, safetensors and torch.

Every library saves and restores the same float32 tensors, in one run, with a warm page cache;
the table shows absolute GB/s (10^9 bytes of tensor data per second) and the ratio to the raw
file I/O baseline. See ``benchmarks/README.md`` for what each line measures and how to read it.

Usage::

    python benchmarks/bench_io.py                      # both workloads, every installed peer
    python benchmarks/bench_io.py --workload large --repeat 5 --json results.json
    python benchmarks/bench_io.py --quick --skip tf,torch,safetensors   # smoke test, seconds
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

import ckpt
from bench_common import (
    GB,
    KiB,
    MiB,
    Timing,
    add_run_arguments,
    cpu_busy,
    environment,
    print_header,
    proc_status,
    quiesce,
    report_load,
    reset_peak_rss,
    settle_repetitions,
    timing_json,
    unlink,
)

Arrays = dict[str, np.ndarray]

PEERS = ("safetensors", "torch", "tf")
SKIPPABLE = (*PEERS, "list", "memory")
_ALIASES = {"tensorflow": "tf", "pytorch": "torch", "mem": "memory", "listing": "list"}
FULL_REPEAT = 3


# --- workloads --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """Named float32 tensors, all saved and restored by every library."""

    name: str
    description: str
    arrays: Arrays

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())


@dataclass(frozen=True)
class Scale:
    """Sizes of the workloads; ``--quick`` shrinks them."""

    large_count: int
    large_tensor_bytes: int
    small_count: int
    small_min_bytes: int
    small_max_bytes: int
    list_entries: int


FULL_SCALE = Scale(64, 16 * MiB, 20_000, 1 * KiB, 64 * KiB, 20_000)
QUICK_SCALE = Scale(16, 1 * MiB, 1_000, 1 * KiB, 64 * KiB, 2_000)


def _random_f32(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.random(n, dtype=np.float32)


def make_large(scale: Scale, seed: int) -> Workload:
    rng = np.random.default_rng(seed)
    n = scale.large_tensor_bytes // 4
    arrays = {f"layer_{i:03d}/kernel": _random_f32(rng, n) for i in range(scale.large_count)}
    return Workload(
        "large",
        f"{scale.large_count} float32 tensors of {scale.large_tensor_bytes / MiB:g} MiB",
        arrays,
    )


def make_small(scale: Scale, seed: int) -> Workload:
    rng = np.random.default_rng(seed)
    elements = rng.integers(scale.small_min_bytes // 4, scale.small_max_bytes // 4 + 1,
                            scale.small_count)
    arrays = {
        f"block_{i // 100:03d}/param_{i % 100:02d}": _random_f32(rng, int(n))
        for i, n in enumerate(elements)
    }
    return Workload(
        "small",
        f"{scale.small_count} float32 tensors of {scale.small_min_bytes / KiB:g}-"
        f"{scale.small_max_bytes / KiB:g} KiB (uniform, seed {seed})",
        arrays,
    )


def _touched_like(arrays: Mapping[str, np.ndarray]) -> Arrays:
    """Destination arrays, allocated and written once so their pages are resident."""
    out = {}
    for name, a in arrays.items():
        dst = np.empty_like(a)
        dst.fill(0)
        out[name] = dst
    return out


def _zero(arrays: Iterable[np.ndarray]) -> None:
    for a in arrays:
        a.fill(0)


def _check_equal(expected: Mapping[str, np.ndarray], got: Mapping[str, np.ndarray],
                 what: str) -> None:
    if set(expected) != set(got):
        raise AssertionError(f"{what}: restored names differ from the saved ones")
    for name, value in expected.items():
        if not np.array_equal(value, got[name]):
            raise AssertionError(f"{what}: tensor {name!r} was not restored correctly")


# --- timing -----------------------------------------------------------------------------------


def measure(fn: Callable[[], object], *, repeat: int, warmup: int,
            before: Callable[[], None] | None = None) -> tuple[Timing, object]:
    """Run ``fn`` ``warmup + repeat`` times, timing the last ``repeat``; return its last result.

    ``before`` runs untimed ahead of every run (e.g. deleting the previous output).
    """
    times: list[float] = []
    result: object = None
    for i in range(warmup + repeat):
        result = None  # drop the previous run's arrays before the next run allocates its own
        if before is not None:
            before()
        quiesce()
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
        if i >= warmup:
            times.append(elapsed)
    return Timing(times), result


# --- libraries --------------------------------------------------------------------------------


@dataclass
class RestoreMode:
    """One way of restoring a library's saved tensors.

    ``run`` is timed; ``values`` (untimed) turns its result into arrays to check against the
    saved tensors; ``prepare`` (untimed) runs once before the first repetition.
    """

    label: str
    note: str
    run: Callable[[], object]
    values: Callable[[object], Mapping[str, np.ndarray]]
    prepare: Callable[[], None] | None = None
    show_ms: bool = False  # also print the time: GB/s means little when nothing is copied


class Library(ABC):
    """A library under test: saves ``workload.arrays`` to a directory and restores them."""

    label: ClassVar[str]
    module: ClassVar[str | None] = None  # import name, for "not installed" detection

    def __init__(self, workload: Workload, directory: str) -> None:
        self.workload = workload
        self.directory = directory

    @classmethod
    def missing(cls) -> str | None:
        """Why this library cannot run here, or ``None``."""
        if cls.module is not None and importlib.util.find_spec(cls.module) is None:
            return f"{cls.module} is not installed"
        return None

    def version(self) -> str:
        if self.module is None:
            return ""
        return str(getattr(importlib.import_module(self.module), "__version__", "?"))

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Untimed preparation (e.g. converting arrays to the library's tensors)."""

    @abstractmethod
    def save(self) -> None: ...

    @abstractmethod
    def output_files(self) -> list[str]: ...

    def remove_output(self) -> None:
        unlink(*self.output_files())

    @abstractmethod
    def restore_modes(self) -> list[RestoreMode]: ...

    def teardown(self) -> None:
        self.remove_output()


class RawFile(Library):
    """The baseline: every array's bytes written to one file, read back with ``readinto``."""

    label = "raw file I/O"

    def setup(self) -> None:
        self.path = os.path.join(self.directory, "raw.bin")
        self.dst = _touched_like(self.workload.arrays)

    def save(self) -> None:
        with open(self.path, "wb") as f:
            for array in self.workload.arrays.values():
                f.write(array.data)

    def output_files(self) -> list[str]:
        return [self.path]

    def _restore(self) -> Arrays:
        with open(self.path, "rb", buffering=0) as f:
            for array in self.dst.values():
                view = array.data.cast("B")
                if f.readinto(view) != len(view):
                    raise OSError(f"{self.path} is short")
        return self.dst

    def restore_modes(self) -> list[RestoreMode]:
        return [RestoreMode(self.label, "readinto existing arrays", self._restore,
                            _as_arrays, lambda: _zero(self.dst.values()))]


def _as_arrays(result: object) -> Mapping[str, np.ndarray]:
    assert isinstance(result, Mapping)
    return result


class Ckpt(Library):
    """ckpt: ``write_tensors``; restore with a fresh reader each time (CRC checked by default)."""

    label = "ckpt"

    def setup(self) -> None:
        self.prefix = os.path.join(self.directory, "ckpt", "model")
        self.dst = _touched_like(self.workload.arrays)

    def save(self) -> None:
        ckpt.write_tensors(self.prefix, self.workload.arrays)

    def output_files(self) -> list[str]:
        return [self.prefix + ".index", self.prefix + ".data-00000-of-00001"]

    def _restore_into(self, verify: bool) -> Arrays:
        # A new reader per run, as a restore in a new process would open it.
        with ckpt.load_checkpoint(self.prefix, verify=verify) as reader:
            for name, array in self.dst.items():
                reader.get_tensor(name, out=array)
        return self.dst

    def _restore_new(self) -> Arrays:
        with ckpt.load_checkpoint(self.prefix) as reader:
            return {name: reader.get_tensor(name) for name in self.workload.arrays}

    def _views(self) -> Arrays:
        with ckpt.load_checkpoint(self.prefix, verify=False) as reader:
            return {name: reader.get_view(name) for name in self.workload.arrays}

    def restore_modes(self) -> list[RestoreMode]:
        def zero() -> None:
            _zero(self.dst.values())

        return [
            RestoreMode("ckpt", "get_tensor(out=existing), CRC verified",
                        lambda: self._restore_into(True), _as_arrays, zero),
            RestoreMode("ckpt, new arrays", "get_tensor() allocates, CRC verified",
                        self._restore_new, _as_arrays),
            RestoreMode("ckpt, verify=False", "get_tensor(out=existing), no CRC",
                        lambda: self._restore_into(False), _as_arrays, zero),
            RestoreMode("ckpt get_view, verify=False", "zero-copy mmap views, no bytes copied",
                        self._views, _as_arrays, show_ms=True),
        ]


class SafeTensors(Library):
    label = "safetensors"
    module = "safetensors"

    def setup(self) -> None:
        self.path = os.path.join(self.directory, "model.safetensors")

    def save(self) -> None:
        from safetensors.numpy import save_file

        save_file(self.workload.arrays, self.path)

    def output_files(self) -> list[str]:
        return [self.path]

    def _restore(self) -> Arrays:
        from safetensors.numpy import load_file

        return load_file(self.path)

    def restore_modes(self) -> list[RestoreMode]:
        return [RestoreMode(self.label, "load_file allocates", self._restore, _as_arrays)]


class Torch(Library):
    label = "torch"
    module = "torch"

    def setup(self) -> None:
        import torch

        self.path = os.path.join(self.directory, "model.pt")
        # from_numpy shares memory: no copy, and not timed.
        self.tensors = {k: torch.from_numpy(v) for k, v in self.workload.arrays.items()}

    def save(self) -> None:
        import torch

        torch.save(self.tensors, self.path)

    def output_files(self) -> list[str]:
        return [self.path]

    def _restore(self) -> object:
        import torch

        return torch.load(self.path, weights_only=True)

    @staticmethod
    def _values(result: object) -> Mapping[str, np.ndarray]:
        assert isinstance(result, Mapping)
        return {k: v.numpy() for k, v in result.items()}

    def restore_modes(self) -> list[RestoreMode]:
        return [RestoreMode(self.label, "torch.load(weights_only=True) allocates",
                            self._restore, self._values)]

    def teardown(self) -> None:
        super().teardown()
        self.tensors = {}


class TensorFlow(Library):
    """``tf.train.Checkpoint(**variables)``: ``write`` and ``read`` into the same tf.Variables."""

    label = "tensorflow"
    module = "tensorflow"

    def version(self) -> str:
        return str(self._tf().__version__)

    @staticmethod
    def _tf() -> Any:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before the (lazy) first import
        return importlib.import_module("tensorflow")

    def setup(self) -> None:
        tf = self._tf()
        self.prefix = os.path.join(self.directory, "tf", "model")
        # Attribute names must be identifiers; keep the workload's order.
        self.names = {f"v{i}": name for i, name in enumerate(self.workload.arrays)}
        self.variables = {
            attr: tf.Variable(self.workload.arrays[name]) for attr, name in self.names.items()
        }
        self.checkpoint = tf.train.Checkpoint(**self.variables)

    def save(self) -> None:
        self.checkpoint.write(self.prefix)

    def output_files(self) -> list[str]:
        return [self.prefix + ".index", self.prefix + ".data-00000-of-00001"]

    def _zero(self) -> None:
        for v in self.variables.values():
            v.assign(self._tf().zeros_like(v))

    def _restore(self) -> None:
        self.checkpoint.read(self.prefix)

    def _values(self, _: object) -> Mapping[str, np.ndarray]:
        return {self.names[attr]: v.numpy() for attr, v in self.variables.items()}

    def restore_modes(self) -> list[RestoreMode]:
        return [RestoreMode(self.label, "Checkpoint.read into existing tf.Variables",
                            self._restore, self._values, self._zero)]

    def teardown(self) -> None:
        super().teardown()
        self.variables = {}
        self.checkpoint = None


LIBRARIES: dict[str, type[Library]] = {
    "raw": RawFile, "ckpt": Ckpt, "safetensors": SafeTensors, "torch": Torch, "tf": TensorFlow,
}


# --- results ----------------------------------------------------------------------------------


@dataclass
class Row:
    label: str
    note: str
    save: Timing | None = None
    restore: Timing | None = None


@dataclass
class WorkloadResult:
    workload: Workload
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    memory: list[dict[str, Any]] = field(default_factory=list)


def _gbps(nbytes: int, timing: Timing | None) -> float | None:
    return nbytes / timing.best / GB if timing is not None else None


def run_library(cls: type[Library], workload: Workload, directory: str, repeat: int,
                warmup: int, result: WorkloadResult,
                after_save: Callable[[Library], None] | None = None) -> None:
    lib = cls(workload, directory)
    lib.setup()
    try:
        version = lib.version()
        if version:
            result.versions[lib.label] = version
        save, _ = measure(lib.save, repeat=repeat, warmup=warmup, before=lib.remove_output)
        for i, mode in enumerate(lib.restore_modes()):
            if mode.prepare is not None:
                mode.prepare()
            timing, value = measure(mode.run, repeat=repeat, warmup=warmup)
            _check_equal(workload.arrays, mode.values(value), f"{mode.label} ({workload.name})")
            del value
            note = f"{mode.note}: {timing.best * 1e3:.1f} ms" if mode.show_ms else mode.note
            result.rows.append(Row(mode.label, note, save if i == 0 else None, timing))
        if after_save is not None:
            after_save(lib)
    finally:
        lib.teardown()


# --- peak memory (separate process) -----------------------------------------------------------


def memory_probe(mode: str, layout_path: str) -> dict[str, Any]:
    """Restore once in this (fresh) process and report its resident-memory high-water mark."""
    with open(layout_path) as f:
        layout = json.load(f)
    shapes = {name: tuple(shape) for name, shape in layout["tensors"]}
    tensor_bytes = sum(4 * int(np.prod(s)) for s in shapes.values())
    gc.collect()
    before = proc_status()
    dst: Arrays = {}
    if mode in ("raw", "ckpt"):
        for name, shape in shapes.items():
            dst[name] = np.empty(shape, np.float32)
            dst[name].fill(1)
    allocated = proc_status()
    reset = reset_peak_rss()
    peak_before = proc_status()["VmHWM"]
    kept: list[np.ndarray] = []
    if mode == "raw":
        with open(layout["raw"], "rb", buffering=0) as f:
            for array in dst.values():
                f.readinto(array.data.cast("B"))
        end = proc_status()
    else:
        with ckpt.load_checkpoint(layout["ckpt"]) as reader:
            for name in shapes:
                if mode == "ckpt":
                    reader.get_tensor(name, out=dst[name])
                else:
                    kept.append(reader.get_tensor(name))
            end = proc_status()  # before close: mapped data pages still count
    after = proc_status()
    return {
        "mode": mode, "tensor_bytes": tensor_bytes, "peak_reset": reset,
        "rss_before_alloc": before["VmRSS"], "rss_after_alloc": allocated["VmRSS"],
        "rss_anon_before": before.get("RssAnon", 0), "rss_file_before": before.get("RssFile", 0),
        "hwm_before": peak_before, "hwm": after["VmHWM"],
        "rss_file_end": end.get("RssFile", 0), "rss_anon_end": end.get("RssAnon", 0),
    }


MEMORY_MODES = {
    "raw": "raw readinto(existing)",
    "ckpt": "ckpt get_tensor(out=existing)",
    "ckpt-new": "ckpt get_tensor() new arrays",
}


def measure_memory(workload: Workload, raw_path: str, ckpt_prefix: str,
                   directory: str) -> list[dict[str, Any]]:
    layout_path = os.path.join(directory, "layout.json")
    with open(layout_path, "w") as f:
        json.dump({"raw": raw_path, "ckpt": ckpt_prefix,
                   "tensors": [[k, list(v.shape)] for k, v in workload.arrays.items()]}, f)
    results = []
    for mode in MEMORY_MODES:
        os.sync()
        proc = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--memory-probe", mode, layout_path],
            capture_output=True, text=True, check=True,
        )
        probe = json.loads(proc.stdout)
        # If VmHWM could not be reset, it may predate the restore; never report below zero.
        peak = max(probe["hwm"], probe["rss_after_alloc"])
        probe["peak_minus_tensors"] = peak - probe["rss_before_alloc"] - probe["tensor_bytes"]
        probe["mapped_page_cache"] = probe["rss_file_end"] - probe["rss_file_before"]
        results.append(probe)
    return results


# --- open / list ------------------------------------------------------------------------------


def list_names(count: int) -> Iterator[str]:
    for i in range(count):
        yield f"model/layer_{i // 10:04d}/sublayer_{i % 10}/kernel/.ATTRIBUTES/VARIABLE_VALUE"


def listing_probe(prefix: str, reps: int, with_tf: bool) -> dict[str, Any]:
    """Time opening and listing ``prefix`` in this (fresh) process; TF is imported last."""

    def open_close() -> object:
        ckpt.load_checkpoint(prefix).close()
        return None

    def shape_map() -> object:
        with ckpt.load_checkpoint(prefix) as reader:
            return reader.get_variable_to_shape_map()

    cases: dict[str, Callable[[], object]] = {
        "ckpt.load_checkpoint(p) (open only)": open_close,
        "ckpt.load_checkpoint(p).get_variable_to_shape_map()": shape_map,
        "ckpt.list_variables(p)": lambda: ckpt.list_variables(prefix),
    }
    timings: dict[str, Any] = {}
    if with_tf:
        try:
            tf = TensorFlow._tf()
            tf.train.list_variables(prefix)
        except Exception as exc:  # a broken TF install must not end the run
            timings["error"] = f"{type(exc).__name__}: {exc}"
        else:
            cases["tf.train.list_variables(p)"] = lambda: tf.train.list_variables(prefix)
    for label, fn in cases.items():
        fn()  # warm-up
        times = []
        for _ in range(reps):
            gc.collect()
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        timings[label] = times
    return timings


def measure_listing(count: int, directory: str, repeat: int, skip: set[str],
                    notes: list[str]) -> dict[str, Any]:
    """Open and list a ``count``-entry checkpoint, in a fresh process.

    A fresh process because the state earlier benchmarks leave behind (TF after creating
    20,000 variables, in particular) slows this pure-Python work down by up to 1.6x.
    """
    rng = np.random.default_rng(1)
    dims = rng.integers(1, 9, (count, 2))
    tensors = {n: np.zeros(tuple(int(d) for d in s), np.float32)
               for n, s in zip(list_names(count), dims, strict=True)}
    prefix = ckpt.write_tensors(os.path.join(directory, "list", "model"), tensors)
    expected = sorted((k, list(v.shape)) for k, v in tensors.items())
    if ckpt.list_variables(prefix) != expected:
        raise AssertionError("ckpt.list_variables returned the wrong listing")
    os.sync()
    tf_missing = TensorFlow.missing() if "tf" not in skip else "skipped"
    if tf_missing not in (None, "skipped"):
        notes.append(f"tf.train.list_variables: skipped ({tf_missing})")
    reps = max(repeat, 7)
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--listing-probe", prefix, str(reps),
         "tf" if tf_missing is None else "no-tf"],
        capture_output=True, text=True, check=True,
    )
    probe = json.loads(proc.stdout)
    if "error" in probe:
        notes.append(f"tf.train.list_variables: failed ({probe.pop('error')})")
    timings = {k: Timing(v) for k, v in probe.items()}
    shutil.rmtree(os.path.join(directory, "list"))
    return {"entries": count, "repetitions": reps, "timings": timings}


# --- output -----------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def format_workload(res: WorkloadResult, statistic: str) -> str:
    w = res.workload
    raw = next(r for r in res.rows if r.label == RawFile.label)
    raw_save, raw_restore = _gbps(w.nbytes, raw.save), _gbps(w.nbytes, raw.restore)
    header = ("library", "save GB/s", "vs raw", "restore GB/s", "vs raw", "restore is")
    table = []
    for row in res.rows:
        save, restore = _gbps(w.nbytes, row.save), _gbps(w.nbytes, row.restore)
        label = row.label
        version = res.versions.get(row.label)
        if version and row.label != "ckpt":
            label = f"{row.label} {version}"
        table.append((
            label,
            _fmt(save, ".2f"),
            _fmt(save / raw_save if save is not None and raw_save else None, ".2f", "x"),
            _fmt(restore, ".2f"),
            _fmt(restore / raw_restore if restore is not None and raw_restore else None,
                 ".2f", "x"),
            row.note,
        ))
    widths = [max(len(str(c)) for c in col) for col in zip(header, *table, strict=True)]

    def line(cells: tuple[str, ...]) -> str:
        parts = [cells[0].ljust(widths[0])]
        parts += [c.rjust(wd) for c, wd in zip(cells[1:5], widths[1:5], strict=True)]
        parts.append(cells[5])
        return "  ".join(parts)

    out = [
        f"== {w.name}: {w.description}, {w.nbytes / GB:.3f} GB in all; {statistic}, "
        "warm page cache ==",
        line(header),
        line(tuple("-" * wd for wd in widths)),
    ]
    out += [line(cells) for cells in table]
    out += [f"  note: {n}" for n in res.notes]
    if res.memory:
        out.append("")
        out.append(f"peak resident memory while restoring {w.name} (fresh process, warm cache; "
                   "peak RSS minus RSS before allocating, minus the tensors' bytes):")
        out.append(f"  {'method':<32}{'peak - tensors':>16}{'file pages mapped at end':>27}")
        for m in res.memory:
            out.append(f"  {MEMORY_MODES[m['mode']]:<32}{m['peak_minus_tensors'] / MiB:>12.1f} MiB"
                       f"{m['mapped_page_cache'] / MiB:>23.1f} MiB")
        if not all(m["peak_reset"] for m in res.memory):
            out.append("  note: could not reset VmHWM; peaks include the process's earlier peak")
    return "\n".join(out)


def format_listing(listing: dict[str, Any]) -> str:
    timings: dict[str, Timing] = listing["timings"]
    tf_time = next((t.best for k, t in timings.items() if k.startswith("tf.")), None)
    out = [f"== open + list a {listing['entries']}-entry checkpoint (best of "
           f"{listing['repetitions']}, warm cache) =="]
    width = max(len(k) for k in timings)
    out.append(f"{'operation':<{width}}  {'best ms':>9}  {'median ms':>9}  {'TF / this':>9}")
    for label, t in timings.items():
        ratio = f"{tf_time / t.best:.1f}x" if tf_time is not None else "-"
        out.append(f"{label:<{width}}  {t.best * 1e3:>9.2f}  {t.median * 1e3:>9.2f}  {ratio:>9}")
    return "\n".join(out)


def _timing_json(nbytes: int, t: Timing | None) -> dict[str, Any] | None:
    if t is None:
        return None
    return timing_json(nbytes, t) | {"median_gbps": nbytes / t.median / GB}


def to_json(meta: dict[str, Any], results: list[WorkloadResult],
            listing: dict[str, Any] | None) -> dict[str, Any]:
    workloads = {}
    for res in results:
        w = res.workload
        raw = next(r for r in res.rows if r.label == RawFile.label)
        rows = []
        for row in res.rows:
            entry: dict[str, Any] = {"library": row.label, "note": row.note,
                                     "version": res.versions.get(row.label),
                                     "save": _timing_json(w.nbytes, row.save),
                                     "restore": _timing_json(w.nbytes, row.restore)}
            if row.save is not None and raw.save is not None:
                entry["save_ratio_vs_raw"] = raw.save.best / row.save.best
            if row.restore is not None and raw.restore is not None:
                entry["restore_ratio_vs_raw"] = raw.restore.best / row.restore.best
            rows.append(entry)
        workloads[w.name] = {"description": w.description, "tensors": len(w.arrays),
                             "bytes": w.nbytes, "rows": rows, "notes": res.notes,
                             "peak_memory": res.memory}
    out: dict[str, Any] = {"meta": meta, "workloads": workloads}
    if listing is not None:
        out["listing"] = {
            "entries": listing["entries"], "repetitions": listing["repetitions"],
            "ms": {k: {"best": t.best * 1e3, "median": t.median * 1e3, "all": t.seconds}
                   for k, t in listing["timings"].items()},
        }
    return out


# --- main -------------------------------------------------------------------------------------


def run_workload(workload: Workload, directory: str, args: argparse.Namespace) -> WorkloadResult:
    result = WorkloadResult(workload)
    workdir = os.path.join(directory, workload.name)
    os.makedirs(workdir)
    raw_path = ""

    def keep_raw(lib: Library) -> None:
        nonlocal raw_path
        assert isinstance(lib, RawFile)
        # Kept (renamed out of teardown's way) for the peak-memory probe below.
        raw_path = os.path.join(workdir, "raw-probe.bin")
        os.rename(lib.path, raw_path)

    def probe_memory(lib: Library) -> None:
        assert isinstance(lib, Ckpt)
        if "memory" not in args.skip:
            result.memory = measure_memory(workload, raw_path, lib.prefix, workdir)

    run_library(RawFile, workload, workdir, args.repeat, args.warmup, result, keep_raw)
    run_library(Ckpt, workload, workdir, args.repeat, args.warmup, result, probe_memory)
    unlink(raw_path)
    for key in PEERS:
        cls = LIBRARIES[key]
        if key in args.skip:
            result.notes.append(f"{cls.label}: skipped (--skip)")
            continue
        missing = cls.missing()
        if missing is not None:
            result.notes.append(f"{cls.label}: skipped ({missing})")
            continue
        try:
            run_library(cls, workload, workdir, args.repeat, args.warmup, result)
        except Exception as exc:  # a broken peer must not end the run
            traceback.print_exc()
            result.notes.append(f"{cls.label}: failed ({type(exc).__name__}: {exc})")
    shutil.rmtree(workdir, ignore_errors=True)
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Save/restore throughput of ckpt vs raw file I/O, TensorFlow, safetensors "
        "and torch (warm page cache).",
    )
    parser.add_argument("--workload", choices=("large", "small", "all"), default="all")
    add_run_arguments(parser, full_repeat=FULL_REPEAT, skippable=SKIPPABLE, aliases=_ALIASES,
                      quick_help="scaled-down workloads (16 MiB / 1,000 tensors), for smoke tests")
    parser.add_argument("--memory-probe", nargs=2, metavar=("MODE", "LAYOUT"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--listing-probe", nargs=3, metavar=("PREFIX", "REPS", "TF"),
                        help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.memory_probe:
        print(json.dumps(memory_probe(*args.memory_probe)))
        return 0
    if args.listing_probe:
        prefix, reps, tf = args.listing_probe
        print(json.dumps(listing_probe(prefix, int(reps), tf == "tf")))
        return 0
    statistic = settle_repetitions(args, FULL_REPEAT)
    scale = QUICK_SCALE if args.quick else FULL_SCALE
    names = ("large", "small") if args.workload == "all" else (args.workload,)
    sample = 0.2 if args.quick else 1.0
    meta = environment() | {"other_cpu_load_start": cpu_busy(sample), "statistic": statistic,
                            "repeat": args.repeat, "warmup": args.warmup, "quick": args.quick,
                            "skip": sorted(args.skip), "gb": "1e9 bytes"}
    print_header(meta)
    os.makedirs(args.dir, exist_ok=True)
    directory = tempfile.mkdtemp(prefix="ckpt-bench-", dir=args.dir)
    results: list[WorkloadResult] = []
    listing = None
    try:
        for name in names:
            workload = (make_large if name == "large" else make_small)(scale, args.seed)
            res = run_workload(workload, directory, args)
            results.append(res)
            print()
            print(format_workload(res, statistic), flush=True)
            del workload
        if "list" not in args.skip:
            notes: list[str] = []
            listing = measure_listing(scale.list_entries, directory, args.repeat, args.skip, notes)
            print()
            print(format_listing(listing))
            for n in notes:
                print(f"  note: {n}")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    meta["other_cpu_load_end"] = cpu_busy(sample)
    report_load("at the end", meta["other_cpu_load_end"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(to_json(meta, results, listing), f, indent=2)
        print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
