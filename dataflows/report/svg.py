"""Chart primitives for the HTML pages: hand-written inline SVG, no plotting library.

Why not Matplotlib here: a page's charts are bars, lines and one matrix. Drawing them as SVG strings takes a few
milliseconds and imports nothing, where Matplotlib cost ~0.4 s to import and ~0.1–0.3 s per chart (layout and text
measuring) on every run. The post-analysis PNGs (`postanalysis.py`) still use Matplotlib.

Contract: every function returns one `<svg>` element (no XML prolog, no `id`s, so any number can share a page),
sized in CSS pixels through `width`/`height`/`viewBox` (pages scale it down with `max-width: 100%`). Text stays
text (searchable, the reader's own fonts), every string from the data is escaped, and the output is deterministic:
the same input gives the same bytes. A matrix is embedded as a PNG `data:` URI (one pixel block per cell), so a
500-asset heatmap stays small; nothing is ever fetched.
"""

from __future__ import annotations

import base64
import html
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

FONT = "system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,'DejaVu Sans',sans-serif"
INK = "#2d3748"
AXIS = "#a0aec0"
GRID = "#e2e8f0"
ZERO = "#718096"
_CHAR = 0.6  # average glyph width / font size of a sans-serif face (an over-estimate keeps labels inside)

# ColorBrewer RdBu (11 classes), reversed: −1 → dark blue, 0 → near white, +1 → dark red (Matplotlib's RdBu_r).
_RDBU_R = np.array(
    [
        (5, 48, 97),
        (33, 102, 172),
        (67, 147, 195),
        (146, 197, 222),
        (209, 229, 240),
        (247, 247, 247),
        (253, 219, 199),
        (244, 165, 130),
        (214, 96, 77),
        (178, 24, 43),
        (103, 0, 31),
    ],
    dtype=np.float64,
)


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def num(x: float) -> str:
    """A coordinate: one decimal, no trailing `.0` (keeps the markup short)."""
    text = f"{x:.1f}"
    return text[:-2] if text.endswith(".0") else ("0" if text == "-0.0" else text)


def text_width(text: str, size: float) -> float:
    """Estimated rendered width of `text` at font `size` (px)."""
    return len(text) * size * _CHAR


def day_label(text: str) -> str:
    """`2026-01-31T00:00:00Z` (a midnight UTC stamp) → `2026-01-31`; anything else unchanged."""
    stamp = str(text)
    if len(stamp) > 10 and stamp[10] == "T" and stamp[11:] in ("00:00:00Z", "00:00:00+00:00", "00:00:00"):
        return stamp[:10]
    return stamp


def shorten(name: str, limit: int = 24) -> str:
    """`name` truncated to `limit` characters with an ellipsis (tables show the full name)."""
    return name if len(name) <= limit else name[: limit - 1] + "…"


class Canvas:
    """An SVG document under construction: append elements, then `render()`."""

    def __init__(self, width: float, height: float, label: str) -> None:
        self.width, self.height, self.label = width, height, label
        self.parts: list[str] = []

    def add(self, markup: str) -> None:
        self.parts.append(markup)

    def text(
        self,
        x: float,
        y: float,
        value: str,
        *,
        size: float = 11.0,
        anchor: str = "start",
        color: str = INK,
        bold: bool = False,
        rotate: bool = False,
        middle: bool = True,
    ) -> None:
        """Text at (x, y); `middle` centres it vertically on y, `rotate` turns it −90° about (x, y)."""
        attrs = f'x="{num(x)}" y="{num(y)}"'
        if size != 11.0:
            attrs += f' font-size="{num(size)}"'
        if anchor != "start":
            attrs += f' text-anchor="{anchor}"'
        if color != INK:
            attrs += f' fill="{color}"'
        if bold:
            attrs += ' font-weight="bold"'
        if middle:
            attrs += ' dominant-baseline="central"'
        if rotate:
            attrs += f' transform="rotate(-90 {num(x)} {num(y)})"'
        self.parts.append(f"<text {attrs}>{esc(value)}</text>")

    def line(self, x1: float, y1: float, x2: float, y2: float, color: str, width: float = 1.0, dash: str = "") -> None:
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(
            f'<line x1="{num(x1)}" y1="{num(y1)}" x2="{num(x2)}" y2="{num(y2)}" stroke="{color}" '
            f'stroke-width="{num(width) if width >= 0.1 else width}"{extra}/>'
        )

    def rect(
        self, x: float, y: float, w: float, h: float, fill: str, *, tip: str = "", stroke: str = "", opacity: float = 1
    ) -> None:
        attrs = f'x="{num(x)}" y="{num(y)}" width="{num(max(w, 0.0))}" height="{num(max(h, 0.0))}" fill="{fill}"'
        if stroke:
            attrs += f' stroke="{stroke}"'
        if opacity != 1:
            attrs += f' fill-opacity="{opacity:g}"'
        if tip:
            self.parts.append(f"<rect {attrs}><title>{esc(tip)}</title></rect>")
        else:
            self.parts.append(f"<rect {attrs}/>")

    def render(self) -> str:
        w, h = num(self.width), num(self.height)
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
            f'font-family="{FONT}" font-size="11" fill="{INK}"><title>{esc(self.label)}</title>'
            + "".join(self.parts)
            + "</svg>"
        )


# ------------------------------------------------------------------------------------------------------ scales


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


# ------------------------------------------------------------------------------------------------------- dates


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


# ------------------------------------------------------------------------------------------------------- paths


def _decimate(x: np.ndarray, y: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ~4 points per pixel column (first, min, max, last in order): the same picture, fewer points."""
    if x.size <= 2 * columns:
        return x, y
    bucket = np.floor((x - x.min()) / max(float(x.max() - x.min()), 1e-12) * (columns - 1)).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    stops = np.r_[starts[1:], x.size]
    keep: list[int] = []
    for s, e in zip(starts.tolist(), stops.tolist(), strict=True):
        seg = y[s:e]
        picks = {s, e - 1, s + int(np.argmin(seg)), s + int(np.argmax(seg))}
        keep.extend(sorted(picks))
    idx = np.asarray(keep, dtype=np.int64)
    return x[idx], y[idx]


def polyline_path(xpx: np.ndarray, ypx: np.ndarray, columns: int) -> str:
    """Path data through the finite points; a non-finite value breaks the line."""
    ok = np.isfinite(xpx) & np.isfinite(ypx)
    parts: list[str] = []
    if not ok.any():
        return ""
    edges = np.flatnonzero(np.diff(np.r_[0, ok.astype(np.int8), 0]))
    for s, e in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        x, y = _decimate(xpx[s:e], ypx[s:e], columns)
        coords = " ".join(f"{num(a)},{num(b)}" for a, b in zip(x.tolist(), y.tolist(), strict=True))
        parts.append(f"M{coords.replace(' ', ' L', 1)}" if x.size > 1 else f"M{coords} h0.01")
    return " ".join(parts)


def area_path(xpx: np.ndarray, ypx: np.ndarray, base: float, columns: int) -> str:
    """Closed path between the finite points and the horizontal line y = `base` (one piece per finite run)."""
    ok = np.isfinite(xpx) & np.isfinite(ypx)
    if not ok.any():
        return ""
    edges = np.flatnonzero(np.diff(np.r_[0, ok.astype(np.int8), 0]))
    parts = []
    for s, e in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        x, y = _decimate(xpx[s:e], ypx[s:e], columns)
        coords = " L".join(f"{num(a)},{num(b)}" for a, b in zip(x.tolist(), y.tolist(), strict=True))
        parts.append(f"M{num(float(x[0]))},{num(base)} L{coords} L{num(float(x[-1]))},{num(base)} Z")
    return " ".join(parts)


# -------------------------------------------------------------------------------------------------------- png


def png_data_uri(rgb: np.ndarray) -> str:
    """An H×W×3 uint8 image as a `data:image/png;base64,...` URI (deterministic bytes)."""
    img = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = img.shape[:2]
    raw = np.zeros((h, 1 + 3 * w), dtype=np.uint8)
    raw[:, 1:] = img.reshape(h, 3 * w)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + chunk(b"IEND", b"")
    )
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def diverging_rgb(values: np.ndarray, vmin: float = -1.0, vmax: float = 1.0, missing: int = 255) -> np.ndarray:
    """RdBu_r colours (uint8 RGB) of `values` on [vmin, vmax]; NaN → grey level `missing`."""
    v = np.asarray(values, dtype=np.float64)
    pos = np.clip((v - vmin) / (vmax - vmin), 0.0, 1.0) * (len(_RDBU_R) - 1)
    pos = np.where(np.isfinite(pos), pos, 0.0)
    k = np.minimum(np.floor(pos).astype(np.int64), len(_RDBU_R) - 2)
    frac = (pos - k)[..., None]
    out = _RDBU_R[k] * (1.0 - frac) + _RDBU_R[k + 1] * frac
    out = np.rint(out).astype(np.uint8)
    out[~np.isfinite(v)] = missing
    return out


# ------------------------------------------------------------------------------------------------------ legend


def legend_width(items: Sequence[tuple[str, str, str]], size: float = 10.0) -> float:
    return sum(22 + text_width(label, size) + 12 for _, _, label in items)


def legend(canvas: Canvas, items: Sequence[tuple[str, str, str]], right: float, y: float, size: float = 10.0) -> None:
    """A one-line legend ending at x = `right`: (kind 'line'|'box'|'mark', colour, label) per item."""
    widths = [22 + text_width(label, size) + 12 for _, _, label in items]
    x = right - sum(widths)
    for (kind, color, label), w in zip(items, widths, strict=True):
        if kind == "box":
            canvas.rect(x, y - 5, 14, 10, color)
        elif kind == "mark":
            canvas.add(f'<path d="M{num(x + 2)},{num(y - 5)} h10 l-5,9 Z" fill="{color}"/>')
        else:
            canvas.line(x, y, x + 16, y, color, 2.0)
        canvas.text(x + 20, y, label, size=size)
        x += w


@dataclass
class Series:
    """One line of a time-series panel."""

    values: np.ndarray
    color: str
    label: str = ""
    width: float = 1.3
    fill: bool = False  # shade between the line and zero
    opacity: float = 1.0


@dataclass
class Panel:
    """One stacked panel of a time-series chart (they share the x axis)."""

    series: list[Series]
    ylabel: str
    height: float
    percent: bool = False
    hline: float | None = None  # a dashed reference line (e.g. equity 1.0)
    top_zero: bool = False  # the y range ends at 0 (drawdowns)
    legend: bool = False
    extra: list[str] = field(default_factory=list)


def time_series(
    title: str,
    dates: Sequence[datetime] | None,
    n: int,
    panels: Sequence[Panel],
    *,
    width: float = 960.0,
    vlines: Sequence[datetime] = (),
) -> str:
    """Stacked panels over one shared x axis (dates when given, else the observation number); returns the SVG."""
    left, right, top, gap, bottom = 72.0, 18.0, 30.0, 12.0, 30.0
    height = top + sum(p.height for p in panels) + gap * (len(panels) - 1) + bottom
    canvas = Canvas(width, height, title)
    canvas.text(left, 13, title, size=12.5)
    if dates is not None:
        first = dates[0]
        x = np.array([(d - first).total_seconds() for d in dates[:n]], dtype=np.float64)
    else:
        x = np.arange(n, dtype=np.float64)
    xs = Scale(float(x[0]) if x.size else 0.0, float(x[-1]) if x.size else 1.0, left, width - right)
    xpx = xs.many(x)
    columns = int(width - left - right)
    y0 = top
    for i, p in enumerate(panels):
        finite = [np.asarray(s.values, dtype=np.float64)[:n] for s in p.series]
        pool = np.concatenate([v[np.isfinite(v)] for v in finite] + [np.zeros(0)])
        extra = [p.hline] if p.hline is not None else []
        if p.top_zero or any(s.fill for s in p.series):
            extra.append(0.0)
        lo = float(min([pool.min() if pool.size else 0.0, *extra]))
        hi = float(max([pool.max() if pool.size else 1.0, *extra]))
        lo, hi, ticks = nice_domain(lo, hi, max(3, int(p.height / 45)))
        ys = Scale(lo, hi, y0 + p.height, y0)
        for t, label in zip(ticks, tick_format(ticks, p.percent), strict=True):
            canvas.line(left, ys(t), width - right, ys(t), GRID, 0.8)
            canvas.text(left - 6, ys(t), label, size=10, anchor="end")
        canvas.text(16, y0 + p.height / 2, p.ylabel, size=10.5, anchor="middle", rotate=True)
        if i == 0 and dates is not None:
            first = dates[0]
            for stamp in vlines:
                vx = xs((stamp - first).total_seconds())
                canvas.line(vx, y0, vx, y0 + p.height, "#cbd5e0", 0.7, "1.5 2.5")
        if p.hline is not None:
            canvas.line(left, ys(p.hline), width - right, ys(p.hline), AXIS, 0.9, "4 3")
        for s, v in zip(p.series, finite, strict=True):
            ypx = ys.many(v)
            if s.fill:
                d = area_path(xpx[: v.size], ypx, ys(0.0), columns)
                if d:
                    canvas.add(f'<path d="{d}" fill="{s.color}" fill-opacity="0.35" stroke="none"/>')
            d = polyline_path(xpx[: v.size], ypx, columns)
            if d:
                op = f' stroke-opacity="{s.opacity:g}"' if s.opacity != 1 else ""
                canvas.add(
                    f'<path d="{d}" fill="none" stroke="{s.color}" stroke-width="{s.width:g}"{op} '
                    'stroke-linejoin="round" stroke-linecap="round"/>'
                )
        canvas.line(left, y0, left, y0 + p.height, AXIS)
        canvas.line(left, y0 + p.height, width - right, y0 + p.height, AXIS)
        if p.legend:
            items = [("line", s.color, s.label) for s in p.series if s.label]
            if items:
                end = legend_width(items) + left + 8
                canvas.rect(left + 4, y0 + 2, end - left - 4, 16, "#ffffff", opacity=0.85)
                legend(canvas, items, end, y0 + 10)
        y0 += p.height + gap
    base = y0 - gap
    if dates is not None and n:
        ticks = date_ticks(dates[0], dates[n - 1], max(2, columns // 110))
        for stamp, label in ticks:
            tx = xs((stamp - dates[0]).total_seconds())
            canvas.line(tx, base, tx, base + 4, AXIS)
            canvas.text(tx, base + 15, label, size=10, anchor="middle")
    elif n:
        lo, hi, ticks = nice_domain(0.0, float(max(n - 1, 1)), max(2, columns // 90))
        for t, label in zip(ticks, tick_format(ticks, False), strict=True):
            if 0 <= t <= n - 1:
                canvas.line(xs(t), base, xs(t), base + 4, AXIS)
                canvas.text(xs(t), base + 15, label, size=10, anchor="middle")
        canvas.text(width - right, base + 15, "observation", size=10, anchor="end")
    return canvas.render()
