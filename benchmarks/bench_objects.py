"""Object-layer save/restore time: ckpt.Checkpoint against ckpt's format layer and TensorFlow.

Two models, each a module holding a list of layer modules with a few float32 variables:

* **large**: 1 GiB of parameters in 64 variables (64 layers x 1 variable of 16 MiB);
* **small**: 20,000 variables of 1-64 KiB (2,000 layers x 10 variables; seeded sizes).

For each model, in one run and with a warm page cache, the same values are written and restored
three ways:

* **ckpt format layer**: ``ckpt.write_tensors(prefix, {key: array})`` with exactly the keys the
  object layer writes; restore through a new ``ckpt.load_checkpoint`` and
  ``get_tensor(key, out=variable_array)`` (CRC verified);
* **ckpt object layer**: ``ckpt.Checkpoint(model=module).write(prefix)`` and ``.read(prefix)``,
  which restores in place into the same ``ckpt.Variable`` arrays (``assert_consumed()`` is
  called after every read, untimed);
* **TensorFlow**: ``tf.train.Checkpoint(model=tf_module).write`` / ``.read`` of the same
  structure of ``tf.Module``/``tf.Variable`` objects.

It prints absolute times, what the object layer adds to the format layer's time, and how many
times longer TensorFlow takes. See ``benchmarks/README.md`` for details.

Usage::

    python benchmarks/bench_objects.py                  # both models, TF too (~3 min)
    python benchmarks/bench_objects.py --model small --repeat 5 --json objects.json
    python benchmarks/bench_objects.py --quick --skip tf   # smoke test, seconds
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

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
    quiesce,
    report_load,
    settle_repetitions,
    timing_json,
    unlink,
)
from ckpt.checkpoint.status import CheckpointLoadStatus

SKIPPABLE = ("tf",)
_ALIASES = {"tensorflow": "tf"}
FULL_REPEAT = 5
VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"

# The goals.
MAX_OVERHEAD_LARGE = 0.10  # object layer adds under 10% to the format layer on "large"
MIN_TF_RESTORE_RATIO_SMALL = 10.0  # restores "small" at least 10x faster than TF


# --- models -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    """Sizes of the two models; ``--quick`` shrinks them."""

    large_layers: int
    large_variable_bytes: int
    small_layers: int
    small_variables_per_layer: int
    small_min_bytes: int
    small_max_bytes: int


FULL_SCALE = Scale(64, 16 * MiB, 2_000, 10, 1 * KiB, 64 * KiB)
QUICK_SCALE = Scale(16, 1 * MiB, 100, 10, 1 * KiB, 64 * KiB)


@dataclass(frozen=True)
class ModelSpec:
    """The values of a model: ``layers[i][name]`` is layer ``i``'s variable ``name``."""

    name: str
    description: str
    layers: list[dict[str, np.ndarray]]

    @property
    def variables(self) -> int:
        return sum(len(layer) for layer in self.layers)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for layer in self.layers for a in layer.values())

    def keys(self) -> list[str]:
        """The checkpoint key of every variable under ``Checkpoint(model=...)``, in save order."""
        return [
            f"model/layers/{i}/{name}{VALUE_SUFFIX}"
            for i, layer in enumerate(self.layers)
            for name in layer
        ]

    def values(self) -> list[np.ndarray]:
        return [a for layer in self.layers for a in layer.values()]


def make_large(scale: Scale, seed: int) -> ModelSpec:
    rng = np.random.default_rng(seed)
    side = int(np.sqrt(scale.large_variable_bytes // 4))
    assert side * side * 4 == scale.large_variable_bytes
    layers = [
        {"kernel": rng.random((side, side), dtype=np.float32)} for _ in range(scale.large_layers)
    ]
    return ModelSpec(
        "large",
        f"{scale.large_layers} layers x 1 float32 variable of "
        f"{scale.large_variable_bytes / MiB:g} MiB",
        layers,
    )


def make_small(scale: Scale, seed: int) -> ModelSpec:
    rng = np.random.default_rng(seed)
    per_layer = scale.small_variables_per_layer
    elements = rng.integers(
        scale.small_min_bytes // 4, scale.small_max_bytes // 4 + 1, scale.small_layers * per_layer
    )
    layers = [
        {
            f"param_{j:02d}": rng.random(int(elements[i * per_layer + j]), dtype=np.float32)
            for j in range(per_layer)
        }
        for i in range(scale.small_layers)
    ]
    return ModelSpec(
        "small",
        f"{scale.small_layers} layers x {per_layer} float32 variables of "
        f"{scale.small_min_bytes / KiB:g}-{scale.small_max_bytes / KiB:g} KiB "
        f"(uniform, seed {seed})",
        layers,
    )


class Layer(ckpt.Module):
    def __init__(self, values: dict[str, np.ndarray], name: str) -> None:
        super().__init__(name=name)
        for attr, value in values.items():
            setattr(self, attr, ckpt.Variable(value, name=attr))


class Model(ckpt.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(name="model")
        self.layers = [Layer(values, f"layer_{i}") for i, values in enumerate(spec.layers)]


def ckpt_arrays(model: Model, spec: ModelSpec) -> list[np.ndarray]:
    """The model's variable arrays (the live ones), in ``spec.keys()`` order."""
    return [
        getattr(model.layers[i], name).numpy()
        for i, layer in enumerate(spec.layers)
        for name in layer
    ]


def _check_equal(expected: Sequence[np.ndarray], got: Sequence[np.ndarray], what: str) -> None:
    if len(expected) != len(got):
        raise AssertionError(f"{what}: {len(got)} values restored, expected {len(expected)}")
    for i, (e, g) in enumerate(zip(expected, got, strict=True)):
        if not np.array_equal(e, g):
            raise AssertionError(f"{what}: variable #{i} was not restored correctly")


# --- timing -----------------------------------------------------------------------------------


@dataclass
class Case:
    """One timed operation: ``run`` is timed; ``before`` and ``after`` run untimed around it."""

    label: str
    run: Callable[[], object]
    before: Callable[[], None] | None = None
    after: Callable[[object], None] | None = None


def measure(cases: Sequence[Case], *, repeat: int, warmup: int) -> dict[str, Timing]:
    """Run every case ``warmup + repeat`` times, interleaved (round robin), timing the last
    ``repeat`` rounds. Interleaving makes drifts (CPU frequency, neighbours) hit all alike.
    """
    timings = {case.label: Timing() for case in cases}
    for i in range(warmup + repeat):
        for case in cases:
            if case.before is not None:
                case.before()
            quiesce()
            start = time.perf_counter()
            result = case.run()
            elapsed = time.perf_counter() - start
            if case.after is not None:
                case.after(result)
            del result  # e.g. a restore status and its reader: released untimed
            if i >= warmup:
                timings[case.label].seconds.append(elapsed)
    return timings


# --- the three ways -----------------------------------------------------------------------------


def _unlink_checkpoint(prefix: str) -> None:
    directory = os.path.dirname(prefix)
    if not os.path.isdir(directory):
        return
    base = os.path.basename(prefix)
    unlink(*(os.path.join(directory, n) for n in os.listdir(directory) if n.startswith(base + ".")))


@dataclass
class Row:
    label: str
    note: str
    write: Timing
    read: Timing


def run_ckpt(spec: ModelSpec, directory: str, repeat: int, warmup: int) -> list[Row]:
    """The format layer and the object layer, interleaved, on the same ckpt.Variable arrays."""
    model = Model(spec)
    checkpoint = ckpt.Checkpoint(model=model)
    keys = spec.keys()
    arrays = ckpt_arrays(model, spec)
    tensors = dict(zip(keys, arrays, strict=True))
    fmt_prefix = os.path.join(directory, "format", "model")
    obj_prefix = os.path.join(directory, "object", "model")

    def format_write() -> object:
        return ckpt.write_tensors(fmt_prefix, tensors)

    def object_write() -> object:
        return checkpoint.write(obj_prefix)

    def format_read() -> object:
        # A new reader per run, as a restore in a new process would open it.
        with ckpt.load_checkpoint(fmt_prefix) as reader:
            for key, array in tensors.items():
                reader.get_tensor(key, out=array)
        return None

    def object_read() -> object:
        return checkpoint.read(obj_prefix)

    def consumed(status: object) -> None:
        assert isinstance(status, CheckpointLoadStatus)
        status.assert_consumed()

    writes = measure(
        [
            Case("format", format_write, lambda: _unlink_checkpoint(fmt_prefix)),
            Case("object", object_write, lambda: _unlink_checkpoint(obj_prefix)),
        ],
        repeat=repeat,
        warmup=warmup,
    )
    # Same keys in both files; the object layer's has the object graph besides.
    with ckpt.load_checkpoint(obj_prefix) as obj, ckpt.load_checkpoint(fmt_prefix) as fmt:
        same = set(obj.keys()) - {GRAPH_KEY} == set(keys) == set(fmt.keys())
    if not same:
        raise AssertionError("the format layer and the object layer wrote different keys")
    for array in arrays:
        array.fill(0)  # a restore that silently did nothing fails the check below
    reads: dict[str, Timing] = {}
    for label, case in (
        ("format", Case("format", format_read)),
        ("object", Case("object", object_read, after=consumed)),
    ):
        # Not interleaved: each restore is checked before the other overwrites the arrays.
        reads |= measure([case], repeat=repeat, warmup=warmup)
        _check_equal(spec.values(), arrays, f"ckpt {label} layer read ({spec.name})")
        for array in arrays:
            array.fill(0)
    shutil.rmtree(os.path.dirname(fmt_prefix))
    shutil.rmtree(os.path.dirname(obj_prefix))
    return [
        Row(
            "ckpt format layer",
            "write_tensors / load_checkpoint + get_tensor(out=), CRC",
            writes["format"],
            reads["format"],
        ),
        Row(
            "ckpt object layer",
            "Checkpoint(model=m).write / .read in place, CRC",
            writes["object"],
            reads["object"],
        ),
    ]


def _tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before the (lazy) first import
    return importlib.import_module("tensorflow")


def tf_version() -> str:
    return str(_tf().__version__)


def run_tf(spec: ModelSpec, directory: str, repeat: int, warmup: int) -> Row:
    """``tf.train.Checkpoint(model=...)`` over tf.Module layers holding tf.Variables."""
    tf = _tf()

    class TFLayer(tf.Module):  # type: ignore[misc,name-defined]
        def __init__(self, values: dict[str, np.ndarray], name: str) -> None:
            super().__init__(name=name)
            for attr, value in values.items():
                setattr(self, attr, tf.Variable(value, name=attr))

    class TFModel(tf.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__(name="model")
            self.layers = [TFLayer(values, f"layer_{i}") for i, values in enumerate(spec.layers)]

    model = TFModel()
    variables = [getattr(model.layers[i], n) for i, layer in enumerate(spec.layers) for n in layer]
    checkpoint = tf.train.Checkpoint(model=model)
    prefix = os.path.join(directory, "tf", "model")

    def write() -> object:
        return checkpoint.write(prefix)

    def read() -> object:
        return checkpoint.read(prefix)

    def consumed(status: object) -> None:
        status.assert_consumed()  # type: ignore[attr-defined]

    writes = measure(
        [Case("tf", write, lambda: _unlink_checkpoint(prefix))], repeat=repeat, warmup=warmup
    )
    names = {name for name, _ in tf.train.list_variables(prefix)}
    if not set(spec.keys()) <= names:
        raise AssertionError("TensorFlow wrote different keys than ckpt's object layer")
    for v in variables:
        v.assign(tf.zeros_like(v))
    reads = measure([Case("tf", read, after=consumed)], repeat=repeat, warmup=warmup)
    _check_equal(spec.values(), [v.numpy() for v in variables], f"tensorflow read ({spec.name})")
    shutil.rmtree(os.path.dirname(prefix))
    return Row(
        f"tensorflow {tf.__version__}",
        "tf.train.Checkpoint(model=m).write / .read",
        writes["tf"],
        reads["tf"],
    )


# --- results ----------------------------------------------------------------------------------


@dataclass
class ModelResult:
    spec: ModelSpec
    rows: list[Row]
    notes: list[str] = field(default_factory=list)

    def row(self, prefix: str) -> Row | None:
        return next((r for r in self.rows if r.label.startswith(prefix)), None)

    def overhead(self, op: str) -> float:
        """What the object layer adds to the format layer's best time, as a fraction."""
        fmt, obj = self.row("ckpt format"), self.row("ckpt object")
        assert fmt is not None and obj is not None
        f, o = float(getattr(fmt, op).best), float(getattr(obj, op).best)
        return (o - f) / f

    def overhead_per_variable(self, op: str) -> float:
        fmt, obj = self.row("ckpt format"), self.row("ckpt object")
        assert fmt is not None and obj is not None
        return float(getattr(obj, op).best - getattr(fmt, op).best) / self.spec.variables

    def tf_ratio(self, op: str, against: str) -> float | None:
        """TF's best time divided by ``against``'s (how many times faster ckpt is)."""
        tf, other = self.row("tensorflow"), self.row(against)
        if tf is None or other is None:
            return None
        return float(getattr(tf, op).best / getattr(other, op).best)


def _fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x"


def format_model(res: ModelResult, statistic: str) -> str:
    spec = res.spec
    header = ("method", "write s", "GB/s", "read s", "GB/s", "what")
    table = [
        (
            row.label,
            f"{row.write.best:.3f}",
            f"{spec.nbytes / row.write.best / GB:.2f}",
            f"{row.read.best:.3f}",
            f"{spec.nbytes / row.read.best / GB:.2f}",
            row.note,
        )
        for row in res.rows
    ]
    widths = [max(len(c) for c in col) for col in zip(header, *table, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [cells[0].ljust(widths[0])]
        parts += [c.rjust(w) for c, w in zip(cells[1:5], widths[1:5], strict=True)]
        parts.append(cells[5])
        return "  ".join(parts)

    out = [
        f"== {spec.name}: {spec.description}; {spec.variables} variables, "
        f"{spec.nbytes / GB:.3f} GB; {statistic}, warm page cache ==",
        line(header),
        line(["-" * w for w in widths]),
        *(line(cells) for cells in table),
        "",
    ]
    for op in ("write", "read"):
        pct, per_var = res.overhead(op), res.overhead_per_variable(op)
        out.append(
            f"object layer adds to the format layer, {op:<5}: {pct:+7.1%}  "
            f"({per_var * 1e6:+.1f} us per variable)"
        )
    if res.row("tensorflow") is not None:
        for op in ("write", "read"):
            out.append(
                f"TF time / ckpt time, {op:<5}: object layer "
                f"{_fmt_ratio(res.tf_ratio(op, 'ckpt object'))}, format layer "
                f"{_fmt_ratio(res.tf_ratio(op, 'ckpt format'))}"
            )
    out += [f"  note: {n}" for n in res.notes]
    return "\n".join(out)


def format_goals(results: list[ModelResult]) -> list[str]:
    out = []
    for res in results:
        if res.spec.name == "large":
            w, r = res.overhead("write"), res.overhead("read")
            met = max(w, r) < MAX_OVERHEAD_LARGE
            out.append(
                f"  large: object layer adds < {MAX_OVERHEAD_LARGE:.0%} to the format layer: "
                f"write {w:+.1%}, read {r:+.1%} -> {'met' if met else 'NOT met'}"
            )
        if res.spec.name == "small":
            ratio = res.tf_ratio("read", "ckpt object")
            if ratio is None:
                out.append("  small: restore >= 10x faster than TF: not measured (TF skipped)")
            else:
                met = ratio >= MIN_TF_RESTORE_RATIO_SMALL
                out.append(
                    f"  small: object-layer restore >= {MIN_TF_RESTORE_RATIO_SMALL:g}x faster "
                    f"than TF: {ratio:.1f}x -> {'met' if met else 'NOT met'}"
                )
    return out


def to_json(meta: dict[str, Any], results: list[ModelResult]) -> dict[str, Any]:
    models = {}
    for res in results:
        spec = res.spec
        entry: dict[str, Any] = {
            "description": spec.description,
            "variables": spec.variables,
            "bytes": spec.nbytes,
            "rows": [
                {
                    "method": r.label,
                    "note": r.note,
                    "write": timing_json(spec.nbytes, r.write),
                    "read": timing_json(spec.nbytes, r.read),
                }
                for r in res.rows
            ],
            "object_overhead": {op: res.overhead(op) for op in ("write", "read")},
            "object_overhead_s_per_variable": {
                op: res.overhead_per_variable(op) for op in ("write", "read")
            },
            "notes": res.notes,
        }
        if res.row("tensorflow") is not None:
            entry["tf_over_ckpt_object"] = {
                op: res.tf_ratio(op, "ckpt object") for op in ("write", "read")
            }
            entry["tf_over_ckpt_format"] = {
                op: res.tf_ratio(op, "ckpt format") for op in ("write", "read")
            }
        models[spec.name] = entry
    return {"meta": meta, "models": models}


# --- main -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="ckpt.Checkpoint write/read time vs ckpt's format layer and "
        "tf.train.Checkpoint (warm page cache).",
    )
    parser.add_argument("--model", choices=("large", "small", "all"), default="all")
    add_run_arguments(
        parser,
        full_repeat=FULL_REPEAT,
        skippable=SKIPPABLE,
        aliases=_ALIASES,
        quick_help="scaled-down models (16 MiB in 16 variables; 1,000 variables)",
    )
    return parser


def run_ckpt_model(spec: ModelSpec, directory: str, args: argparse.Namespace) -> ModelResult:
    workdir = os.path.join(directory, spec.name)
    os.makedirs(workdir, exist_ok=True)
    result = ModelResult(spec, run_ckpt(spec, workdir, args.repeat, args.warmup))
    shutil.rmtree(workdir, ignore_errors=True)
    gc.collect()
    return result


def run_tf_model(result: ModelResult, directory: str, args: argparse.Namespace) -> None:
    if "tf" in args.skip:
        result.notes.append("tensorflow: skipped (--skip)")
        return
    if importlib.util.find_spec("tensorflow") is None:
        result.notes.append("tensorflow: skipped (not installed)")
        return
    workdir = os.path.join(directory, result.spec.name)
    os.makedirs(workdir, exist_ok=True)
    try:
        result.rows.append(run_tf(result.spec, workdir, args.repeat, args.warmup))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        gc.collect()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    statistic = settle_repetitions(args, FULL_REPEAT)
    scale = QUICK_SCALE if args.quick else FULL_SCALE
    sample = 0.2 if args.quick else 1.0
    meta: dict[str, Any] = environment() | {
        "statistic": statistic,
        "repeat": args.repeat,
        "warmup": args.warmup,
        "quick": args.quick,
        "skip": sorted(args.skip),
        "gb": "1e9 bytes",
        "other_cpu_load_start": cpu_busy(sample),
    }
    print_header(meta)
    names = ("large", "small") if args.model == "all" else (args.model,)
    os.makedirs(args.dir, exist_ok=True)
    directory = tempfile.mkdtemp(prefix="ckpt-bench-objects-", dir=args.dir)
    results: list[ModelResult] = []
    try:
        # Every ckpt measurement first, then TensorFlow: a process TF has been imported into
        # (and has created 20,000 variables in) is not the one ckpt users run in.
        for name in names:
            spec = (make_large if name == "large" else make_small)(scale, args.seed)
            results.append(run_ckpt_model(spec, directory, args))
        for result in results:
            run_tf_model(result, directory, args)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    for result in results:
        print()
        print(format_model(result, statistic))
    if not args.quick:
        print()
        print("goals:")
        print("\n".join(format_goals(results)))
    meta["other_cpu_load_end"] = cpu_busy(sample)
    report_load("at the end", meta["other_cpu_load_end"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(to_json(meta, results), f, indent=2)
        print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
