"""Line and area paths through pixel coordinates: non-finite values break the line, and long series are thinned to
a few points per pixel column (the same picture, shorter markup)."""

from __future__ import annotations

import numpy as np

from dataflows.report.svg.canvas import num


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
