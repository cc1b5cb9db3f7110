"""A torch model through ckpt.Checkpoint, against torch.save/torch.load and safetensors.torch.

One model (default 1 GiB of float32 parameters: 16 blocks of ``Linear(width, width)`` +
``LayerNorm``), saved and restored three ways in one run, with a warm page cache:

* **ckpt**: ``ckpt.Checkpoint(model=model).write(prefix)``; ``.read(prefix)`` into an existing
  model, in place (CRC32C of every tensor verified while reading);
* **torch**: ``torch.save(model.state_dict(), f)``; ``model.load_state_dict(torch.load(f,
  weights_only=True))`` (the load alone is timed too);
* **safetensors**: ``safetensors.torch.save_file(model.state_dict(), f)``;
  ``model.load_state_dict(load_file(f))`` (the load alone too).

Every restore goes into a model whose parameters were zeroed first, and the model's checksum
(CRC32C of every parameter's bytes) must equal the saved model's afterwards (untimed). Peak
memory while restoring is measured in a fresh process per method. It prints times, GB/s, the
ratios ckpt / torch and ckpt / safetensors, and whether the goals are met: >= 1.5x faster than
torch both ways, no slower than safetensors, restore peak memory no more than the model plus a
bounded buffer.

Usage::

    python benchmarks/bench_torch.py                   # 1 GiB, best of 3 (~2 min)
    python benchmarks/bench_torch.py --size-mib 64     # smoke test, seconds
    python benchmarks/bench_torch.py --json torch.json --repeat 5
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import google_crc32c
import numpy as np
import torch
from torch import nn

import ckpt
from bench_common import (
    GB,
    MiB,
    Timing,
    add_run_arguments,
    cpu_busy,
    environment,
    print_header,
    proc_status,
    quiesce,
    report_load,
    settle_repetitions,
    timing_json,
    unlink,
)
from ckpt.torch.dtypes import host_view

SKIPPABLE = ("safetensors", "memory")
FULL_REPEAT = 3
BLOCKS = 16
# The goals.
MIN_TORCH_RATIO = 1.5  # ckpt at least 1.5x faster than torch.save / torch.load, both ways
MIN_SAFETENSORS_RATIO = 1.0  # and no slower than safetensors
MAX_EXTRA_RESTORE_MIB = 64  # restore peak RSS beyond the model: a bounded buffer


# --- the model --------------------------------------------------------------------------------


def width_for(size_mib: int) -> int:
    """The block width giving about ``size_mib`` MiB of float32 parameters (a multiple of 64)."""
    per_block = size_mib * MiB / 4 / BLOCKS
    return max(64, int(math.sqrt(per_block)) // 64 * 64)


def make_model(width: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(BLOCKS):
        layers += [nn.Linear(width, width), nn.LayerNorm(width)]
    return nn.Sequential(*layers)


def randomize(model: nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator))


def zero(model: nn.Module) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()


def nbytes(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def checksum(model: nn.Module) -> int:
    """CRC32C over every state-dict tensor's bytes, in order."""
    crc = 0
    for tensor in model.state_dict().values():
        crc = google_crc32c.extend(crc, host_view(tensor).reshape(-1).view(np.uint8))
    return int(crc)


# --- the methods ------------------------------------------------------------------------------


@dataclass
class Method:
    """How one library saves ``model`` to ``path`` and restores ``path`` into ``target``."""

    name: str
    path: str
    save: Callable[[nn.Module, str], object]
    restore: Callable[[nn.Module, str], object]
    load_only: Callable[[str], object] | None = None
    files: Callable[[str], list[str]] = lambda path: [path]
    unverified: Callable[[nn.Module, str], object] | None = None  # restore without CRC checks


def _ckpt_save(model: nn.Module, path: str) -> object:
    return ckpt.Checkpoint(model=model).write(path)


def _ckpt_restore(target: nn.Module, path: str) -> object:
    return ckpt.Checkpoint(model=target).read(path).assert_consumed()


def _ckpt_restore_unverified(target: nn.Module, path: str) -> object:
    """For comparison only: the format layer into the same tensors, CRC32C not checked."""
    with ckpt.load_checkpoint(path, verify=False) as reader:
        for name, tensor in target.state_dict().items():
            key = f"model/{name.replace('.', '/')}/.ATTRIBUTES/VARIABLE_VALUE"
            reader.get_tensor(key, out=host_view(tensor))
    return None


def _ckpt_files(path: str) -> list[str]:
    return [f"{path}.index", f"{path}.data-00000-of-00001"]


def _torch_save(model: nn.Module, path: str) -> object:
    torch.save(model.state_dict(), path)
    return None


def _torch_load(path: str) -> object:
    return torch.load(path, weights_only=True)


def _torch_restore(target: nn.Module, path: str) -> object:
    return target.load_state_dict(_torch_load(path))


def _st_save(model: nn.Module, path: str) -> object:
    from safetensors.torch import save_file

    save_file(model.state_dict(), path)
    return None


def _st_load(path: str) -> object:
    from safetensors.torch import load_file

    return load_file(path)


def _st_restore(target: nn.Module, path: str) -> object:
    return target.load_state_dict(_st_load(path))  # type: ignore[arg-type]


def methods(directory: str, skip: set[str]) -> tuple[list[Method], list[str]]:
    found = [
        Method("ckpt", os.path.join(directory, "model"), _ckpt_save, _ckpt_restore,
               files=_ckpt_files, unverified=_ckpt_restore_unverified),
        Method("torch", os.path.join(directory, "model.pt"), _torch_save, _torch_restore,
               load_only=_torch_load),
    ]  # fmt: skip
    notes = []
    if "safetensors" in skip:
        notes.append("safetensors: skipped (--skip)")
    elif importlib.util.find_spec("safetensors") is None:
        notes.append("safetensors: skipped (not installed)")
    else:
        found.append(
            Method("safetensors", os.path.join(directory, "model.safetensors"), _st_save,
                   _st_restore, load_only=_st_load)
        )  # fmt: skip
    return found, notes


# --- timing -----------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    save: Timing = field(default_factory=Timing)
    restore: Timing = field(default_factory=Timing)
    load_only: Timing | None = None
    unverified: Timing | None = None
    memory: dict[str, Any] | None = None


def timed(fn: Callable[[], object]) -> float:
    quiesce()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_method(
    method: Method, model: nn.Module, target: nn.Module, expected: int, repeat: int, warmup: int
) -> Result:
    result = Result(
        method.name,
        load_only=Timing() if method.load_only else None,
        unverified=Timing() if method.unverified else None,
    )
    for i in range(warmup + repeat):
        unlink(*method.files(method.path))
        seconds = timed(partial(method.save, model, method.path))
        if i >= warmup:
            result.save.seconds.append(seconds)
    for i in range(warmup + repeat):
        zero(target)
        seconds = timed(partial(method.restore, target, method.path))
        if checksum(target) != expected:
            raise AssertionError(f"{method.name}: the restored model's checksum is wrong")
        if i >= warmup:
            result.restore.seconds.append(seconds)
        if method.load_only is not None and result.load_only is not None:
            seconds = timed(partial(method.load_only, method.path))
            if i >= warmup:
                result.load_only.seconds.append(seconds)
        if method.unverified is not None and result.unverified is not None:
            zero(target)
            seconds = timed(partial(method.unverified, target, method.path))
            if checksum(target) != expected:
                raise AssertionError(f"{method.name}: the unverified restore is wrong")
            if i >= warmup:
                result.unverified.seconds.append(seconds)
    return result


# --- peak memory (a fresh process per method) ---------------------------------------------------


def memory_probe(name: str, path: str, width: int) -> dict[str, Any]:
    """Build the model (touched), reset the RSS high-water mark, restore once, report."""
    target = make_model(width)
    zero(target)
    model_bytes = nbytes(target)
    restore = {"ckpt": _ckpt_restore, "torch": _torch_restore, "safetensors": _st_restore}[name]
    before = proc_status()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # VmHWM := current RSS (Linux >= 4.0)
        reset = True
    except OSError:
        reset = False
    restore(target, path)
    after = proc_status()
    return {
        "method": name, "model_bytes": model_bytes, "peak_reset": reset,
        "rss_before": before["VmRSS"], "hwm": after["VmHWM"],
        "extra": max(after["VmHWM"], before["VmRSS"]) - before["VmRSS"],
        "rss_file_end": after.get("RssFile", 0) - before.get("RssFile", 0),
    }  # fmt: skip


def measure_memory(method: Method, width: int) -> dict[str, Any]:
    os.sync()
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--memory-probe", method.name, method.path,
         str(width)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    probe: dict[str, Any] = json.loads(proc.stdout)
    return probe


# --- report -----------------------------------------------------------------------------------


def _ratio(slow: Timing | None, fast: Timing) -> float | None:
    return None if slow is None else slow.best / fast.best


def report(results: list[Result], size: int, statistic: str, full: bool) -> list[str]:
    by_name = {r.name: r for r in results}
    out = [
        f"== {size / MiB:.0f} MiB of parameters ({size / GB:.3f} GB) in {BLOCKS} Linear + "
        f"LayerNorm blocks; {statistic}, warm page cache, checksums verified ==",
        f"{'method':<12} {'save s':>8} {'GB/s':>6} {'restore s':>10} {'GB/s':>6} "
        f"{'(load only s)':>14} {'restore peak RSS beyond the model':>34}",
    ]
    for r in results:
        load = f"{r.load_only.best:.3f}" if r.load_only is not None else "-"
        memory = "-"
        if r.memory is not None:
            memory = f"{r.memory['extra'] / MiB:+.0f} MiB ({r.memory['extra'] / size:.2f}x model)"
        out.append(
            f"{r.name:<12} {r.save.best:>8.3f} {size / r.save.best / GB:>6.2f} "
            f"{r.restore.best:>10.3f} {size / r.restore.best / GB:>6.2f} {load:>14} {memory:>34}"
        )
        if r.unverified is not None:
            best = r.unverified.best
            out.append(
                f"{'  no CRC':<12} {'-':>8} {'-':>6} {best:>10.3f} {size / best / GB:>6.2f} "
                f"{'-':>14} {'(format layer, CRCs not verified)':>34}"
            )
    ours = by_name["ckpt"]
    out.append("")
    goals = []
    for peer, minimum in (("torch", MIN_TORCH_RATIO), ("safetensors", MIN_SAFETENSORS_RATIO)):
        other = by_name.get(peer)
        if other is None:
            continue
        save, restore = _ratio(other.save, ours.save), _ratio(other.restore, ours.restore)
        assert save is not None and restore is not None
        out.append(
            f"{peer} time / ckpt time: save {save:.2f}x, restore {restore:.2f}x"
            + (
                f" (load alone {_ratio(other.load_only, ours.restore):.2f}x)"
                if other.load_only is not None
                else ""
            )
        )
        goals.append(
            f"  >= {minimum:g}x {peer}: save {save:.2f}x, restore {restore:.2f}x -> "
            + ("met" if min(save, restore) >= minimum else "NOT met")
        )
    if ours.memory is not None:
        extra = ours.memory["extra"] / MiB
        goals.append(
            f"  restore peak RSS <= model + {MAX_EXTRA_RESTORE_MIB} MiB: +{extra:.0f} MiB -> "
            + ("met" if extra <= MAX_EXTRA_RESTORE_MIB else "NOT met")
        )
    if full:
        out += ["", "goals:", *goals]
    return out


# --- main -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="ckpt.Checkpoint on a torch model vs torch.save/load and safetensors."
    )
    parser.add_argument(
        "--size-mib", type=int, default=None, help="parameter bytes in MiB (default 1024)"
    )
    parser.add_argument("--memory-probe", nargs=3, help=argparse.SUPPRESS)
    add_run_arguments(
        parser,
        full_repeat=FULL_REPEAT,
        skippable=SKIPPABLE,
        aliases={},
        quick_help="a 64 MiB model, 2 repetitions, no warm-up",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.memory_probe:
        name, path, width = args.memory_probe
        print(json.dumps(memory_probe(name, path, int(width))))
        return 0
    statistic = settle_repetitions(args, FULL_REPEAT)
    size_mib = args.size_mib or (64 if args.quick else 1024)
    full = size_mib >= 1024 and not args.quick
    meta: dict[str, Any] = environment() | {
        "torch": torch.__version__,
        "statistic": statistic,
        "size_mib": size_mib,
        "other_cpu_load_start": cpu_busy(0.2 if args.quick else 1.0),
    }
    print_header(meta)
    torch.set_num_threads(os.cpu_count() or 1)
    width = width_for(size_mib)
    model, target = make_model(width), make_model(width)
    randomize(model, args.seed)
    size = nbytes(model)
    expected = checksum(model)
    os.makedirs(args.dir, exist_ok=True)
    directory = tempfile.mkdtemp(prefix="ckpt-bench-torch-", dir=args.dir)
    results: list[Result] = []
    try:
        found, notes = methods(directory, args.skip)
        for method in found:
            results.append(run_method(method, model, target, expected, args.repeat, args.warmup))
        del target
        if "memory" not in args.skip:
            for method, result in zip(found, results, strict=True):
                result.memory = measure_memory(method, width)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print()
    print("\n".join(report(results, size, statistic, full)))
    for note in notes:
        print(f"  note: {note}")
    meta["other_cpu_load_end"] = cpu_busy(0.2 if args.quick else 1.0)
    report_load("at the end", meta["other_cpu_load_end"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "meta": meta,
                    "bytes": size,
                    "methods": {
                        r.name: {
                            "save": timing_json(size, r.save),
                            "restore": timing_json(size, r.restore),
                            "load_only": (
                                timing_json(size, r.load_only) if r.load_only is not None else None
                            ),
                            "restore_unverified": (
                                timing_json(size, r.unverified)
                                if r.unverified is not None
                                else None
                            ),
                            "memory": r.memory,
                        }
                        for r in results
                    },
                },
                f,
                indent=2,
            )
        print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
