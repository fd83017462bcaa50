"""Axes: linear scales from data to pixels, round tick steps and their labels, and calendar ticks for date axes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np


@dataclass(frozen=True)
class Scale:
    """Linear map from the data interval [lo, hi] to the pixel interval [a, b]."""

    lo: float
    hi: float
    a: float
    b: float

    def __call__(self, v: float) -> float:
        span = self.hi - self.lo
        return self.a + (v - self.lo) / span * (self.b - self.a) if span else (self.a + self.b) / 2.0

    def many(self, v: np.ndarray) -> np.ndarray:
        span = self.hi - self.lo
        if not span:
            return np.full(np.shape(v), (self.a + self.b) / 2.0)
        return self.a + (np.asarray(v, dtype=np.float64) - self.lo) / span * (self.b - self.a)


def nice_step(span: float, count: int) -> float:
    """A 1/2/2.5/5 × 10^k step giving at most about `count` intervals over `span`."""
    if not (span > 0 and math.isfinite(span)):
        return 1.0
    raw = span / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * power >= raw * (1 - 1e-9):
            return m * power
    return 10.0 * power


def nice_domain(lo: float, hi: float, count: int = 5) -> tuple[float, float, list[float]]:
    """(lo', hi', ticks): [lo, hi] widened to whole steps, and the ticks on it."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi - lo <= abs(hi) * 1e-12:
        pad = abs(hi) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
    step = nice_step(hi - lo, count)
    start, stop = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    digits = max(0, 12 - math.floor(math.log10(step)))
    ticks = [round(k * step, digits) + 0.0 for k in range(start, stop + 1)]  # no 0.30000000000000004, no −0.0
    return ticks[0], ticks[-1], ticks


def tick_format(ticks: Sequence[float], percent: bool) -> list[str]:
    """Tick labels with just enough decimals to tell them apart (percentages as `12.5%`)."""
    scale = 100.0 if percent else 1.0
    values = [t * scale for t in ticks]
    decimals = 0
    while decimals < 6 and any(abs(round(v, decimals) - v) > 1e-9 * max(1.0, abs(v)) for v in values):
        decimals += 1
    suffix = "%" if percent else ""
    out = []
    for v in values:
        text = f"{v:,.{decimals}f}"
        out.append(("−" + text[1:] if text.startswith("-") and float(v) != 0 else text.lstrip("-")) + suffix)
    return out


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _add_months(stamp: datetime, months: int) -> datetime:
    index = stamp.year * 12 + stamp.month - 1 + months
    return stamp.replace(year=index // 12, month=index % 12 + 1, day=1)


def date_ticks(first: datetime, last: datetime, count: int = 8) -> list[tuple[datetime, str]]:
    """Calendar ticks between `first` and `last` (≤ about `count`): days, months or years, labelled concisely
    (`Mar`, the year at January; `Mar 14` for days; `2026` for years)."""
    if last < first:
        first, last = last, first
    days = (last - first).total_seconds() / 86400.0
    for step in (1, 2, 7, 14):
        if days / step <= count:
            start = first.replace(hour=0, minute=0, second=0, microsecond=0)
            if start < first:
                start = start.fromordinal(start.toordinal() + 1)
            out = []
            t = start
            while t <= last:
                out.append((t, f"{_MONTHS[t.month - 1]} {t.day}"))
                t = t.fromordinal(t.toordinal() + step)
            if out:  # say which year the days belong to
                out[0] = (out[0][0], f"{out[0][1]} {out[0][0].year}")
            return out
    for step in (1, 2, 3, 4, 6, 12, 24, 60, 120):
        if days / (30.44 * step) <= count:
            t = _add_months(first, 0 if first.day == 1 and first.hour == 0 and first.minute == 0 else 1)
            if step >= 12:
                years = step // 12
                t = t.replace(month=1) if t.month == 1 else _add_months(t, 13 - t.month)
                while t.year % years:
                    t = t.replace(year=t.year + 1)
            else:
                while (t.month - 1) % step:
                    t = _add_months(t, 1)
            out = []
            while t <= last:
                out.append((t, str(t.year) if t.month == 1 or step >= 12 else _MONTHS[t.month - 1]))
                t = _add_months(t, step)
            if out and not any(label.isdigit() for _, label in out):  # say which year the months belong to
                stamp, label = out[0]
                out[0] = (stamp, f"{label} {stamp.year}")
            return out
    return [(first, str(first.year)), (last, str(last.year))]
