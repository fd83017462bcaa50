"""The drift monitor (Matplotlib, Agg canvas): per walk-forward window and book, how far the book drifted from its
targets by the window's last row, the profile's drift per symbol, and each book's rolling out-of-sample volatility
(`dataflows.validation.metrics.rolling_vol`) with a band of its mean ± one standard deviation."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from dataflows.report import mpl, plots
from dataflows.report.data import BACKTEST_BOOKS, BacktestView
from dataflows.report.svg import day_label
from dataflows.validation.metrics import rolling_vol

_MAX_DRIFT_SYMBOLS = 20


def drift_per_window(targets: np.ndarray, realized: np.ndarray) -> np.ndarray:
    """½·Σ|realized − target| per window (0 = the book ended the window on its targets)."""
    t = np.nan_to_num(np.asarray(targets, dtype=np.float64))
    r = np.nan_to_num(np.asarray(realized, dtype=np.float64))
    if t.shape != r.shape:
        msg = f"drift: targets {t.shape} and realized {r.shape} differ"
        raise ValueError(msg)
    return 0.5 * np.abs(r - t).sum(axis=1) if t.size else np.zeros(t.shape[0])


def drift_figure(bt: BacktestView) -> Any:
    import matplotlib
    from matplotlib.ticker import PercentFormatter

    books = [b for b in BACKTEST_BOOKS if b in bt.returns or b in bt.targets] + sorted(
        (set(bt.returns) | set(bt.targets)) - set(BACKTEST_BOOKS)
    )
    drift_books = [b for b in books if b in bt.targets and b in bt.realized and np.asarray(bt.targets[b]).size]
    vol_books = [b for b in books if b in bt.returns and np.asarray(bt.returns[b]).size]
    starts = [str(rec.get("test_start")) for rec in bt.windows]
    n_windows = max((np.asarray(bt.targets[b]).shape[0] for b in drift_books), default=0)
    win_labels = [day_label(s) for s in starts] if len(starts) == n_windows else [f"W{k}" for k in range(n_windows)]
    if not drift_books and not vol_books:
        msg = "the backtest view has neither targets/realized weights nor returns"
        raise ValueError(msg)
    heatmap = _drift_matrix(bt) if drift_books else None
    shown = [mpl.tick_label(s) for s in win_labels][:: _window_step(n_windows)]
    window_axis = (mpl.label_inches(shown, 7.0) + 0.12) if n_windows > 8 else 0.25
    # rows top to bottom: (height, space below for tick labels) in inches; 0.32 in above each for its title
    rows = ([(2.4, window_axis), (3.2, window_axis)] if drift_books else []) + [(2.0, 0.45)] * len(vol_books)
    left = max(0.85, mpl.label_inches(heatmap[1], 7.0) + 0.2 if heatmap is not None else 0.0)
    right, title_h, top_pad = 1.05, 0.32, 0.08
    height = top_pad + sum(title_h + h + below for h, below in rows)
    plot_w = mpl.FULL_WIDTH - left - right
    with matplotlib.rc_context(mpl.RC):
        fig = mpl.new_figure(mpl.FULL_WIDTH, height)
        axes = []
        y = height - top_pad
        for h, below in rows:
            y -= title_h + h
            axes.append(mpl.box(fig, left, y, plot_w, h))
            y -= below
        if drift_books:
            ax = axes.pop(0)
            x = np.arange(n_windows)
            for b in drift_books:
                d = drift_per_window(bt.targets[b], bt.realized[b])
                ax.plot(
                    x[: d.size],
                    d,
                    marker="o",
                    markersize=3.0,
                    linewidth=1.2,
                    color=plots.BOOK_COLORS.get(b, plots.NEUTRAL_COLOR),
                    label=plots.BOOK_LABELS.get(b, b),
                )
            ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))
            ax.set_ylabel("½ Σ |realized − target|")
            ax.set_title("Drift: realized (window end) vs target weights", loc="left")
            ax.legend(loc="upper left", frameon=False, fontsize=7.5)
            ax.yaxis.grid(True)
            _window_ticks(ax, win_labels)
            mpl.style_axes(ax)
            _drift_heatmap(fig, axes.pop(0), heatmap, win_labels, (left + plot_w + 0.15, 0.15))
        parsed = plots.parse_dates(bt.dates)
        window = int(bt.params.get("test") or 20) if isinstance(bt.params.get("test"), int) else 20
        for ax, b in zip(axes, vol_books, strict=True):
            r = np.asarray(bt.returns[b], dtype=np.float64)
            n = min(r.size, len(bt.dates))
            x: Any = parsed[:n] if parsed is not None else np.arange(n)
            w = max(2, min(window, n))
            vol = rolling_vol(r[:n], w, bt.periods_per_year)
            color = plots.BOOK_COLORS.get(b, plots.NEUTRAL_COLOR)
            finite = vol[np.isfinite(vol)]
            if finite.size:
                mean, std = float(finite.mean()), float(finite.std())
                ax.axhspan(
                    max(mean - std, 0.0), mean + std, color=color, alpha=0.12, linewidth=0.0, label="mean ± 1 sd"
                )
            if n > 1:
                full = float(np.std(np.nan_to_num(r[:n]), ddof=1) * math.sqrt(bt.periods_per_year))
                ax.axhline(full, color=color, linestyle="--", linewidth=0.8, label=f"full period {full:.0%}")
            ax.plot(x, vol, color=color, linewidth=1.1, label=f"rolling {w} rows")
            ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
            ax.set_ylabel("annual vol")
            ax.set_title(f"Rolling volatility — {plots.BOOK_LABELS.get(b, b)}", loc="left")
            ax.legend(loc="upper left", frameon=False, fontsize=7.0, ncols=3)
            ax.yaxis.grid(True)
            mpl.date_axis(ax, parsed)
            mpl.style_axes(ax)
    return fig


def _window_step(n: int) -> int:
    return max(1, math.ceil(n / 24))


def _window_ticks(ax: Any, labels: Sequence[str]) -> None:
    n = len(labels)
    step = _window_step(n)
    ax.set_xticks(
        np.arange(n)[::step], [mpl.tick_label(s) for s in labels][::step], rotation=90 if n > 8 else 0, fontsize=7.0
    )
    ax.set_xlim(-0.5, max(n, 1) - 0.5)


def _drift_matrix(bt: BacktestView) -> tuple[str, list[str], np.ndarray]:
    """(book, tick labels, symbols × windows realized − target) of the profile (or first) book's most held symbols."""
    book = "profile" if "profile" in bt.targets else next(iter(bt.targets))
    t = np.nan_to_num(np.asarray(bt.targets[book], dtype=np.float64))
    r = np.nan_to_num(np.asarray(bt.realized[book], dtype=np.float64))
    held = np.abs(t).mean(axis=0) + np.abs(r).mean(axis=0)
    keep = np.argsort(-held, kind="stable")[: min(_MAX_DRIFT_SYMBOLS, int((held > 0).sum()) or 1)]
    names = [bt.symbols[i] if i < len(bt.symbols) else str(i) for i in keep]
    return book, [mpl.tick_label(s) for s in names], (r - t)[:, keep].T


def _drift_heatmap(
    fig: Any, ax: Any, matrix: tuple[str, list[str], np.ndarray], labels: Sequence[str], bar: tuple[float, float]
) -> None:
    """Realized − target per symbol and window; the colour bar sits at `bar` = (left, width) inches."""
    book, names, diff = matrix
    vmax = float(np.abs(diff).max()) or 1e-6
    image = ax.imshow(diff, cmap="PuOr_r", vmin=-vmax, vmax=vmax, aspect="auto", interpolation="nearest")
    pos = ax.get_position()
    fh = fig.get_size_inches()[1]
    cax = mpl.box(fig, bar[0], (pos.y0 + 0.05 * pos.height) * fh, bar[1], 0.9 * pos.height * fh)
    fig.colorbar(image, cax=cax, label="realized − target")
    ax.set_yticks(np.arange(len(names)), names, fontsize=7.0)
    _window_ticks(ax, labels)
    ax.set_title(f"Per-symbol drift of the {plots.BOOK_LABELS.get(book, book)} book (most held symbols)", loc="left")
    ax.tick_params(length=0)
