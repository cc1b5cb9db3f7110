"""Output helpers of the CLI: colour decisions, fast aligned tables, byte sizes and JSON.

Tables are aligned here rather than with ``rich.table``: rich measures every cell, which takes
seconds for a 20,000-row listing. rich is imported only when colour is on (for the ANSI codes
of its styles), for trees and for progress bars.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any

__all__ = [
    "Styler",
    "human_bytes",
    "json_value",
    "print_json",
    "printable",
    "progress_bar",
    "render_table",
    "use_color",
]


def use_color(stream: IO[str]) -> bool:
    """Colour only on a terminal, never with ``NO_COLOR`` set (https://no-color.org)."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Styler:
    """Wraps text in the ANSI codes of a rich style, or returns it as is when colour is off."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._codes: dict[str, tuple[str, str]] = {}

    def __call__(self, text: str, style: str | None) -> str:
        if not self.enabled or not style or not text:
            return text
        codes = self._codes.get(style)
        if codes is None:
            from rich.style import Style

            marker = "\x00"
            rendered = Style.parse(style).render(marker)
            before, _, after = rendered.partition(marker)
            codes = self._codes[style] = (before, after)
        return f"{codes[0]}{text}{codes[1]}"


def human_bytes(n: int) -> str:
    """``512 B``, ``1.5 KiB``, ``3.0 GiB``: binary units, one decimal."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        value /= 1024
        if value < 1024 or unit == "PiB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def printable(text: str) -> str:
    """``text`` with control characters escaped (a key holding a newline or a tab would
    break the table; ``--json`` output keeps them, JSON-escaped)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def render_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    right: Sequence[int] = (),
    styles: Sequence[str | None] = (),
    styler: Styler,
) -> list[str]:
    """Lines of a table with space-aligned columns; ``right`` lists right-aligned columns.

    The last column is not padded, so long key names never leave trailing blanks.
    """
    table = [list(headers)] + [[printable(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    last = len(headers) - 1
    lines = []
    for r, row in enumerate(table):
        cells = []
        for i, cell in enumerate(row):
            if i in right:
                padded = cell.rjust(widths[i])
            else:
                padded = cell if i == last else cell.ljust(widths[i])
            style = "bold" if r == 0 else (styles[i] if i < len(styles) else None)
            cells.append(styler(padded, style))
        lines.append("  ".join(cells).rstrip())
    return lines


def json_value(x: Any) -> Any:
    """A NumPy scalar or Python value as JSON: NaN and infinities become strings."""
    if isinstance(x, bytes):
        return x.decode("utf-8", errors="backslashreplace")
    if isinstance(x, complex):
        return [json_value(x.real), json_value(x.imag)]
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, (list, tuple)):
        return [json_value(v) for v in x]
    if isinstance(x, dict):
        return {k: json_value(v) for k, v in x.items()}
    return x


def print_json(obj: Any, *, clean: bool = True) -> None:
    """Indented JSON on stdout, strictly valid (no NaN literals).

    ``clean=False`` skips :func:`json_value` for data already made of JSON types (it walks
    every value in Python, which shows on a 20,000-tensor listing).
    """
    text = json.dumps(json_value(obj) if clean else obj, indent=2, allow_nan=False)
    sys.stdout.write(text + "\n")


@contextlib.contextmanager
def progress_bar(total: int | None, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar with bytes/s on stderr when it is a terminal; a no-op otherwise.

    Yields a function to call with each increment of bytes; ``total=None`` is open-ended.
    """
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn(label),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    console = Console(stderr=True, no_color=not use_color(sys.stderr))
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)
