"""How the tearsheet prints a value: metrics by name, regime badges, and the lenient number conversions its tables
share (None, NaN and text become n/a or NaN instead of failing)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dataflows.report.page import NA, fmt, is_finite, metric_text, pct
from dataflows.validation import metrics as M

REGIME_CLASS = {"QUIET": "quiet", "NORMAL": "normal", "TURBULENT": "turbulent", "CRISIS": "crisis"}
# Metric names are matched on these fragments (ratios first) to choose a format; anything else prints as a number.
RATIO_HINTS = ("sharpe", "sortino", "calmar", "ratio", "skew", "kurt", "hurst", "beta", "corr", "score", "adx")
PERCENT_HINTS = ("return", "vol", "drawdown", "cagr", "cvar", "var_", "exposure", "turnover", "weight", "hit")


def badge(regime: Any) -> dict[str, str]:
    """A regime label and its colour class (unknown labels grey)."""
    return {"label": str(regime or "UNKNOWN"), "cls": REGIME_CLASS.get(str(regime).upper(), "unknown")}


def metric_cell(name: str, value: Any) -> str:
    """Format a metric by its name: headline metrics as everywhere, ratios with 2 decimals, returns/vols/drawdowns
    as percentages."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if not is_finite(value):
        return NA if value is None or isinstance(value, float | np.floating) else str(value)
    key = name.lower()
    if key in M.LABELS:
        return metric_text(key, value)
    if any(h in key for h in RATIO_HINTS):
        return fmt(value, 2)
    if any(h in key for h in PERCENT_HINTS):
        return pct(value)
    v = float(value)
    return f"{v:,.4g}" if abs(v) < 1e6 else f"{v:,.0f}"


def to_float(value: Any) -> float:
    """A finite number as float, anything else as NaN."""
    return float(value) if is_finite(value) else math.nan


def int_or_none(value: Any) -> int | None:
    """A finite number as int, anything else as None."""
    return int(value) if is_finite(value) else None


def nansum(values: Any) -> float:
    """Sum of the finite values; NaN when there is none."""
    finite = [float(v) for v in values if is_finite(v)]
    return math.fsum(finite) if finite else math.nan


def text_or_na(value: Any) -> str:
    """`str(value)`, None as n/a."""
    return NA if value is None else str(value)
