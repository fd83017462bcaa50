"""What the HTML pages (the sleeve tearsheet, the meta report) share: the Jinja2 environment that renders their
templates (`dataflows/report/templates/`, autoescaped: every string from the data is escaped unless it is one of our
own SVG charts), figures, number and date formats, and the headline-metrics table.

Pages are self-contained: the stylesheet (`templates/page.css`) is inlined, charts are inline SVG, there are no
scripts, fonts or anything fetched.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

from dataflows.validation import metrics as M

if TYPE_CHECKING:
    import jinja2

log = logging.getLogger("dataflows.report")

NA = "n/a"


@functools.cache
def environment() -> jinja2.Environment:
    """The pages' Jinja2 environment (built once per process): package templates, autoescaping on. Jinja2 is
    imported here, not with the module: only rendering a page pays for it."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("dataflows.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["sym"] = symbol_html
    return env


def render(template: str, **context: Any) -> str:
    """`template` rendered with `context`."""
    return environment().get_template(template).render(**context)


def symbol_html(symbol: Any) -> Markup:
    """An escaped symbol that may wrap after `/` and `:` (never inside a base or quote name)."""
    return Markup(str(escape(symbol)).replace("/", "/<wbr>").replace(":", ":<wbr>"))


@dataclass(frozen=True)
class Figure:
    """A chart for a page: its SVG, or why it could not be drawn (the page shows an error box instead)."""

    svg: Markup | None
    caption: str
    error: str = ""


def figure(caption: str, draw: Callable[..., str], *args: Any) -> Figure:
    """The chart `draw(*args)` draws (our own SVG, escaped inside), or a `Figure` saying why it failed."""
    try:
        return Figure(Markup(draw(*args)), caption)
    except Exception as exc:  # a broken chart must not cost the whole report
        log.warning("report chart %s failed: %s", getattr(draw, "__name__", draw), exc, exc_info=True)
        return Figure(None, caption, f"{type(exc).__name__}: {exc}")


# ------------------------------------------------------------------------------------------------------ formats


def is_finite(value: Any) -> bool:
    """A real, finite number (not None, bool, NaN or text)."""
    if value is None or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def pct(value: Any, decimals: int = 2) -> str:
    """A fraction as a percentage, or n/a."""
    return f"{float(value):.{decimals}%}" if is_finite(value) else NA


def fmt(value: Any, decimals: int) -> str:
    """A number with thousands separators and fixed decimals, or n/a."""
    return f"{float(value):,.{decimals}f}" if is_finite(value) else NA


def ratio(value: Any) -> str:
    """A ratio with 2 decimals; absurd magnitudes (a near-flat window's Sharpe) compactly, e.g. 9.8e+16."""
    if is_finite(value) and abs(float(value)) >= 1e4:
        return f"{float(value):.3g}"
    return fmt(value, 2)


def day(value: Any) -> str:
    """An ISO timestamp of a daily bar (`2026-06-30T00:00:00Z`) as its day (`2026-06-30`); None as n/a."""
    if value is None:
        return NA
    text = str(value)
    return text[:10] if len(text) > 10 and text[4] == "-" and text[10] == "T" else text


def as_of_label(as_of: dt.datetime | str | None) -> str:
    """`run.as_of` for a reader: midnight UTC is the end of the previous day (`2026-06-30, end of day UTC`, as the
    user wrote it); another time keeps its minutes (`2026-06-30 14:00 UTC`)."""
    if as_of is None:
        return NA
    try:
        stamp = dt.datetime.fromisoformat(str(as_of)) if not isinstance(as_of, dt.datetime) else as_of
    except ValueError:
        return day(as_of)
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(dt.UTC).replace(tzinfo=None)
    if stamp.time() == dt.time(0):
        return f"{(stamp - dt.timedelta(days=1)).date().isoformat()}, end of day UTC"
    return f"{stamp:%Y-%m-%d %H:%M} UTC"


def metric_text(key: str, value: Any) -> str:
    """A headline metric as the pages print it: returns and volatility as percentages, drawdowns as losses (−),
    ratios with 2 decimals."""
    if key == "max_drawdown":
        return pct(-abs(float(value))) if is_finite(value) else NA
    if key == "hit_rate":
        return pct(value, 1)
    if key in ("sharpe", "sortino", "calmar"):
        return ratio(value)
    return pct(value)


def headline_rows(columns: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The headline metrics table: one row per metric of `metrics.HEADLINE`, one formatted cell per column
    (column label → that stream's `series_metrics`)."""
    return [
        {"key": key, "label": M.LABELS[key], "cells": [metric_text(key, m.get(key)) for m in columns.values()]}
        for key in M.HEADLINE
    ]
