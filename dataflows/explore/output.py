"""What the read-only verbs print: a rich table on a terminal, a header row and tab-separated lines when piped; and
a stdout writer that ends quietly when the reader goes away (`| head`)."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO


@dataclass
class Table:
    """Rows to show: a rich table on a terminal, a header row and tab-separated lines when piped."""

    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    caption: str = ""
    percent: tuple[str, ...] = ()  # columns holding fractions, shown as percentages on a terminal


def emit(tables: list[Table], out: TextIO | None = None) -> None:
    """Write `tables` to `out` (stdout): rich tables when it is a terminal, plain lines otherwise.

    Plain: each table is `# title`, a tab-separated header row, then one tab-separated line per row (blank line
    between tables), so `cut -f1`, `grep` and `awk -F'\\t'` work on it."""
    out = sys.stdout if out is None else out
    if out.isatty():
        from rich.console import Console
        from rich.table import Table as RichTable

        console = Console(file=out, markup=False, highlight=False)  # `[spot]` in a step is text, not a style tag
        for t in tables:
            rt = RichTable(title=t.title, caption=t.caption or None, title_justify="left")
            numeric = [
                bool(t.rows) and all(isinstance(r[i], int | float) for r in t.rows) for i in range(len(t.columns))
            ]
            for col, right in zip(t.columns, numeric, strict=True):
                rt.add_column(col, overflow="fold", justify="right" if right else "left")
            for row in t.rows:
                rt.add_row(
                    *(
                        f"{v:+.2%}" if c in t.percent and isinstance(v, float) else _cell(v, pretty=True)
                        for c, v in zip(t.columns, row, strict=True)
                    )
                )
            console.print(rt)
        return
    chunks = []
    for t in tables:
        lines = [f"# {t.title}", "\t".join(t.columns)]
        lines += ["\t".join(_cell(v, pretty=False) for v in row) for row in t.rows]
        if t.caption:
            lines.append(f"# {t.caption}")
        chunks.append("\n".join(lines) + "\n")
    write("\n".join(chunks), out)


def write(text: str, out: TextIO | None = None) -> None:
    """Write to stdout; a reader that went away (`| head`) ends the output quietly instead of a traceback."""
    out = sys.stdout if out is None else out
    try:
        out.write(text)
        out.flush()
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError):  # further writes (and the exit flush) go nowhere
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())


def _cell(value: Any, *, pretty: bool) -> str:
    if value is None:
        return "" if pretty else "-"
    if isinstance(value, float):
        if not pretty:
            return repr(value)  # exact: what candidates.json holds
        return f"{value:,.0f}" if abs(value) >= 1e5 else f"{value:,.2f}" if abs(value) >= 100 else f"{value:.6g}"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v, pretty=pretty) for v in value)
    text = str(value)
    return text if pretty else text.replace("\t", " ").replace("\n", " ")
