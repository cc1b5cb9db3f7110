"""Numeric views and summary statistics of tensors, shared by ``ckpt show`` and ``ckpt diff``."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["as_numeric", "compare", "summary"]


def as_numeric(value: np.ndarray) -> np.ndarray | None:
    """A float (or complex) array to compute with; ``None`` for strings.

    bfloat16, float8, float4 and the small ints of ml_dtypes go through float32 (NumPy has no
    reductions for them); integers and float64 through float64; complex stays complex.
    """
    kind = value.dtype.kind
    if kind in "OSU":
        return None
    if kind == "c":
        return value.astype(np.complex128)
    if kind in "iub" or value.dtype == np.float64:
        return value.astype(np.float64)
    return value.astype(np.float32)


def summary(value: np.ndarray) -> dict[str, Any]:
    """Statistics for ``ckpt show``: min/max/mean/std over finite values, NaN and Inf counts.

    Strings report their count and lengths; complex numbers their magnitudes.
    """
    stats: dict[str, Any] = {"count": int(value.size)}
    numeric = as_numeric(value)
    if numeric is None:
        lengths = [len(x) for x in value.reshape(-1).tolist()]
        stats["min_length"] = min(lengths, default=None)
        stats["max_length"] = max(lengths, default=None)
        return stats
    if value.dtype.kind == "b":
        stats["true"] = int(np.count_nonzero(value))
        return stats
    if numeric.dtype.kind == "c":
        stats["of"] = "abs"
        numeric = np.abs(numeric)
    nan = np.isnan(numeric)
    inf = np.isinf(numeric)
    finite = numeric[~(nan | inf)]
    if value.dtype.kind in "iu" and value.size:
        # Exact extremes: float64 cannot hold every int64.
        stats["min"], stats["max"] = value.min().item(), value.max().item()
    elif finite.size:
        stats["min"], stats["max"] = float(finite.min()), float(finite.max())
    else:
        stats["min"] = stats["max"] = None
    stats["mean"] = float(finite.mean(dtype=np.float64)) if finite.size else None
    stats["std"] = float(finite.std(dtype=np.float64)) if finite.size else None
    stats["nan"] = int(np.count_nonzero(nan))
    stats["inf"] = int(np.count_nonzero(inf))
    return stats


def compare(
    a: np.ndarray, b: np.ndarray, *, rtol: float = 0.0, atol: float = 0.0
) -> tuple[float, float, int]:
    """``(max abs difference, max relative difference, elements out of tolerance)``.

    Both arrays have one shape. An element is within tolerance when
    ``|a - b| <= atol + rtol * |b|`` (``b`` is the reference, as in ``numpy.isclose``); NaN
    matches NaN, and a NaN facing a number makes the maxima NaN. A change from zero has an
    infinite relative difference. Strings must be equal; their maxima are NaN if they are not.
    """
    if a.dtype.kind in "iub" and b.dtype.kind in "iub":
        return _compare_integers(a, b, rtol=rtol, atol=atol)
    x, y = as_numeric(a), as_numeric(b)
    if x is None or y is None:
        left, right = a.reshape(-1).tolist(), b.reshape(-1).tolist()
        changed = sum(1 for p, q in zip(left, right, strict=True) if p != q)
        worst = float("nan") if changed else 0.0
        return worst, worst, changed
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        same = (x == y) | (np.isnan(x) & np.isnan(y))
        if same.all():
            return 0.0, 0.0, 0
        differ = ~same
        abs_diff = np.abs(x[differ] - y[differ])
        reference = np.abs(y[differ])
        rel_diff = abs_diff / reference
        outside = ~(abs_diff <= atol + rtol * reference)  # NaN is never within
        return float(abs_diff.max()), float(rel_diff.max()), int(np.count_nonzero(outside))


def _compare_integers(
    a: np.ndarray, b: np.ndarray, *, rtol: float, atol: float
) -> tuple[float, float, int]:
    """:func:`compare` for integers, exactly: float64 cannot tell 2**53 from 2**53 + 1, and
    int64 differences can overflow, so differing elements are compared as Python ints."""
    differ = a != b
    if not differ.any():
        return 0.0, 0.0, 0
    left = a[differ].astype(object)
    right = b[differ].astype(object)
    abs_diff = [abs(int(p) - int(q)) for p, q in zip(left, right, strict=True)]
    reference = [abs(int(q)) for q in right]
    rel_diff = [d / r if r else float("inf") for d, r in zip(abs_diff, reference, strict=True)]
    # Python compares an int with a float exactly.
    outside = sum(1 for d, r in zip(abs_diff, reference, strict=True) if d > atol + rtol * r)
    return float(max(abs_diff)), float(max(rel_diff)), outside

