"""Post-analysis visuals of a run: PNG files and a small `index.html` in the run's `plots/` folder.

- `correlation_heatmap.png`: the winners' correlation over the training window, rows and columns in the order of a
  dendrogram on the correlation distance √(½(1 − ρ)) built with the profile's HRP linkage and leaf ordering
  (`profile.linkage`, `profile.optimal_ordering`: the tearsheet's heatmap uses the same, see `dendrogram_order`), the
  dendrogram drawn above, a colour strip per HTR cluster and each contiguous run of one cluster outlined.
- `factor_map.png`: classical MDS of the distance √(2(1 − ρ)): the double-centred correlation −½·J·D²·J = J·ρ·J is
  eigen-decomposed and each asset placed at its two leading coordinates (eigenvector · √eigenvalue); colour =
  cluster, marker area ∝ the asset's volatility over the training rows (when returns are given), axis labels give
  each axis's share of the positive eigenvalues. Nearby points move together.
- `drift_monitor.png` (only with a backtest): per window and book, the drift ½·Σ|realized − target| between the
  targets set at the rebalance and the drifted exposure on the window's last row; the profile's per-symbol drift
  as a heatmap (windows × the most held symbols); per book the rolling annualized volatility of its daily
  out-of-sample returns (`dataflows.validation.metrics.rolling_vol`) with a band of its mean ± one standard
  deviation and the full-period volatility dashed.

Figures are Matplotlib `Figure` objects on the Agg canvas (never pyplot), written atomically, deterministic bytes
(no PNG software/date metadata); `index.html` is the template `templates/plots_index.html` (Jinja2, autoescaped).
A figure that cannot be drawn (no symbols, no backtest) is skipped and `index.html` says why. Only NumPy and SciPy
compute.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dataflows.lakehouse.atomic import write_bytes
from dataflows.report import mpl, plots
from dataflows.report.data import BACKTEST_BOOKS, BacktestView
from dataflows.report.svg import day_label
from dataflows.validation.metrics import rolling_vol

log = logging.getLogger(__name__)

CORRELATION = "correlation_heatmap"
FACTOR_MAP = "factor_map"
DRIFT = "drift_monitor"
INDEX = "index"
_DPI = 110
_MAX_LABELS = 60  # beyond this many assets, axis labels / point labels are dropped
_MAX_DRIFT_SYMBOLS = 20


def write_postanalysis(
    plots_dir: Path,
    *,
    symbols: Sequence[str],
    clusters: Mapping[int, Sequence[str]] | Sequence[int | None],
    corr: np.ndarray | None,
    returns: np.ndarray | None,
    backtest: BacktestView | None,
    linkage: str = "single",
    optimal_ordering: bool = False,
) -> dict[str, Path]:
    """Write the post-analysis PNGs and `index.html` into `plots_dir`; returns name → path of every file written.

    symbols: the winners; clusters: cluster id → member symbols, or one cluster id (None = unassigned) per symbol;
    corr: N×N correlation in `symbols` order (None: computed from `returns`); returns: T×N training returns in
    `symbols` order (None allowed when `corr` is given); backtest: the walk-forward view, None = no drift monitor;
    linkage, optimal_ordering: how the heatmap's dendrogram is built (the profile's HRP settings).
    """
    plots_dir = Path(plots_dir)
    names = [str(s) for s in symbols]
    cluster_of = _cluster_of(names, clusters)
    matrix = _correlation(names, corr, returns)
    written: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    figures = {
        CORRELATION: (lambda: _correlation_figure(names, matrix, cluster_of, linkage, optimal_ordering))
        if names
        else None,
        FACTOR_MAP: (lambda: _factor_map_figure(names, matrix, cluster_of, returns)) if names else None,
        DRIFT: (lambda: _drift_figure(backtest)) if backtest is not None and backtest.dates else None,
    }
    reasons = {CORRELATION: "no winners", FACTOR_MAP: "no winners", DRIFT: "no backtest in this run"}
    for name, draw in figures.items():
        if draw is None:
            skipped[name] = reasons[name]
            continue
        path = plots_dir / f"{name}.png"
        try:
            write_bytes(path, mpl.png_bytes(draw(), _DPI))
        except Exception as exc:  # one broken figure must not cost the others
            log.warning("post-analysis figure %s failed: %s", name, exc, exc_info=True)
            skipped[name] = f"failed: {type(exc).__name__}: {exc}"
            continue
        written[name] = path
    index = plots_dir / "index.html"
    write_bytes(index, _index_html(written, skipped, len(names), backtest, linkage).encode("utf-8"))
    written[INDEX] = index
    return written


# --------------------------------------------------------------------------------------------------------- inputs


def _cluster_of(symbols: list[str], clusters: Mapping[int, Sequence[str]] | Sequence[int | None]) -> list[int | None]:
    if isinstance(clusters, Mapping):
        of: dict[str, int] = {}
        for cid, members in clusters.items():
            for m in members:
                of.setdefault(str(m), int(cid))
        return [of.get(s) for s in symbols]
    ids = list(clusters)
    if len(ids) != len(symbols):
        msg = f"write_postanalysis: {len(ids)} cluster ids for {len(symbols)} symbols; pass one per symbol or a mapping"
        raise ValueError(msg)
    return [None if c is None else int(c) for c in ids]


def _correlation(symbols: list[str], corr: np.ndarray | None, returns: np.ndarray | None) -> np.ndarray:
    """N×N correlation with a unit diagonal; NaN where undefined (a flat series)."""
    n = len(symbols)
    if corr is not None:
        m = np.asarray(corr, dtype=np.float64)
        if m.shape != (n, n):
            msg = f"write_postanalysis: corr has shape {m.shape}, expected ({n}, {n}) for {n} symbols"
            raise ValueError(msg)
        return m
    if returns is None:
        msg = "write_postanalysis needs corr or returns"
        raise ValueError(msg)
    r = np.nan_to_num(np.asarray(returns, dtype=np.float64).reshape(-1, n), nan=0.0)
    out = np.full((n, n), np.nan)
    if r.shape[0] >= 2:
        centred = r - r.mean(axis=0)
        norm = np.sqrt((centred**2).sum(axis=0))
        ok = norm > 0
        z = np.zeros_like(centred)
        z[:, ok] = centred[:, ok] / norm[ok]
        out = z.T @ z
        out[~ok, :] = np.nan
        out[:, ~ok] = np.nan
    np.fill_diagonal(out, 1.0)
    return np.clip(out, -1.0, 1.0, where=np.isfinite(out), out=out)


def _filled(corr: np.ndarray) -> np.ndarray:
    """Correlation with undefined pairs as 0 (uncorrelated) and a unit diagonal, symmetrised."""
    m = np.where(np.isfinite(corr), corr, 0.0)
    m = np.clip((m + m.T) / 2.0, -1.0, 1.0)
    np.fill_diagonal(m, 1.0)
    return m


def dendrogram_order(
    corr: np.ndarray, method: str = "single", optimal_ordering: bool = False
) -> tuple[np.ndarray, Any]:
    """Leaf order of a `method`-linkage tree on √(½(1 − ρ)) (HRP's distance; optimal leaf ordering when asked) and
    the linkage matrix (None below 3 assets). The one ordering of both correlation heatmaps (tearsheet, plots/)."""
    from scipy.cluster.hierarchy import leaves_list, linkage, optimal_leaf_ordering
    from scipy.spatial.distance import squareform

    n = corr.shape[0]
    if n < 3:
        return np.arange(n), None
    dist = np.sqrt(np.clip(0.5 * (1.0 - _filled(corr)), 0.0, None))
    np.fill_diagonal(dist, 0.0)
    condensed = squareform(dist, checks=False)
    tree = linkage(condensed, method=method)
    if optimal_ordering:
        tree = optimal_leaf_ordering(tree, condensed)
    return leaves_list(tree), tree


def classical_mds(corr: np.ndarray, dims: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """N×dims coordinates of the correlation distance √(2(1 − ρ)) and each axis's share of positive eigenvalues."""
    m = _filled(corr)
    n = m.shape[0]
    j = np.eye(n) - 1.0 / n
    b = j @ m @ j  # −½ J D² J with D² = 2(1 − ρ)
    values, vectors = np.linalg.eigh((b + b.T) / 2.0)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    positive = np.clip(values, 0.0, None)
    coords = np.zeros((n, dims))
    k = min(dims, n)
    coords[:, :k] = vectors[:, :k] * np.sqrt(positive[:k])
    for c in range(k):  # a deterministic sign: the largest |loading| is positive
        if coords[np.argmax(np.abs(coords[:, c])), c] < 0:
            coords[:, c] *= -1.0
    total = positive.sum()
    share = np.zeros(dims)
    if total > 0:
        share[:k] = positive[:k] / total
    return coords, share


# -------------------------------------------------------------------------------------------------------- figures


def _cluster_colors(cluster_of: Sequence[int | None]) -> dict[int | None, Any]:
    from matplotlib import colormaps

    ids = sorted({c for c in cluster_of if c is not None})
    cmap = colormaps["tab10" if len(ids) <= 10 else "tab20"]
    out: dict[int | None, Any] = {c: cmap(k % cmap.N) for k, c in enumerate(ids)}
    out[None] = (0.63, 0.68, 0.75, 1.0)
    return out


def _box(fig: Any, left: float, bottom: float, width: float, height: float) -> Any:
    """An axes at fixed inch coordinates (from the figure's lower left corner)."""
    fw, fh = fig.get_size_inches()
    return fig.add_axes((left / fw, bottom / fh, width / fw, height / fh))


def _correlation_figure(
    symbols: list[str], corr: np.ndarray, cluster_of: list[int | None], method: str, optimal_ordering: bool
) -> Any:
    import matplotlib
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Rectangle

    n = len(symbols)
    order, tree = dendrogram_order(corr, method, optimal_ordering)
    m = corr[np.ix_(order, order)]
    labels = [symbols[i] for i in order]
    ordered_clusters = [cluster_of[i] for i in order]
    colors = _cluster_colors(cluster_of)
    labelled = n <= _MAX_LABELS
    size = 8.0 if n <= 20 else 6.5 if n <= 40 else 5.0
    ticks = [mpl.tick_label(s) for s in labels] if labelled else []
    margin = mpl.label_inches(ticks, size) + 0.15
    side = float(min(max(3.0 + 0.22 * n, 5.0), 12.0))
    tree_h, strip_h, title_h, bar_w = 1.2, 0.25, 0.35, 0.25
    width = margin + side + 0.2 + bar_w + 0.75
    height = margin + side + 0.05 + strip_h + 0.05 + tree_h + title_h
    with matplotlib.rc_context(mpl.RC):
        fig = mpl.new_figure(width, height)
        ax = _box(fig, margin, margin, side, side)
        strip = _box(fig, margin, margin + side + 0.05, side, strip_h)
        top = _box(fig, margin, margin + side + 0.1 + strip_h, side, tree_h)
        bar = _box(fig, margin + side + 0.2, margin + 0.1 * side, bar_w, 0.8 * side)
        if tree is not None:
            from scipy.cluster.hierarchy import dendrogram

            tree_plot = dendrogram(tree, no_plot=True)
            segments = [
                np.column_stack(((np.asarray(xs) - 5.0) / 10.0, ys))
                for xs, ys in zip(tree_plot["icoord"], tree_plot["dcoord"], strict=True)
            ]
            top.add_collection(LineCollection(segments, colors="#4a5568", linewidths=0.8))
            top.set_ylim(0.0, max((float(np.max(s[:, 1])) for s in segments), default=1.0) * 1.05 or 1.0)
        top.set_xlim(-0.5, n - 0.5)
        top.set_axis_off()
        top.set_title("Winners' correlation over the training window, clustered", loc="left")
        strip.imshow(
            np.array([[colors[c] for c in ordered_clusters]]),
            aspect="auto",
            interpolation="nearest",
            extent=(-0.5, n - 0.5, 0, 1),
        )
        strip.set_xlim(-0.5, n - 0.5)
        strip.set_axis_off()
        image = ax.imshow(
            np.ma.masked_invalid(m), cmap="RdBu_r", vmin=-1.0, vmax=1.0, interpolation="nearest", aspect="auto"
        )
        fig.colorbar(image, cax=bar, label="correlation")
        if labelled:
            ax.set_xticks(np.arange(n), ticks, rotation=90, fontsize=size)
            ax.set_yticks(np.arange(n), ticks, fontsize=size)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
        for cluster, start, length in plots.value_runs(ordered_clusters):
            if cluster is not None and length > 1:
                ax.add_patch(
                    Rectangle(
                        (start - 0.5, start - 0.5), length, length, fill=False, edgecolor="#111111", linewidth=1.4
                    )
                )
        ax.tick_params(length=0)
    return fig


def _factor_map_figure(
    symbols: list[str], corr: np.ndarray, cluster_of: list[int | None], returns: np.ndarray | None
) -> Any:
    import matplotlib
    from matplotlib.lines import Line2D
    from matplotlib.transforms import offset_copy

    n = len(symbols)
    coords, share = classical_mds(corr)
    sizes = np.full(n, 60.0)
    if returns is not None:
        r = np.asarray(returns, dtype=np.float64).reshape(-1, n)
        vol = np.array([np.std(c[np.isfinite(c)]) if np.isfinite(c).sum() > 1 else np.nan for c in r.T])
        if np.isfinite(vol).any() and np.nanmax(vol) > 0:
            sizes = 25.0 + 175.0 * np.nan_to_num(vol / np.nanmax(vol), nan=0.0)
    colors = _cluster_colors(cluster_of)
    with matplotlib.rc_context(mpl.RC):
        fig = mpl.new_figure(7.6, 6.7)
        ax = _box(fig, 0.75, 0.6, 5.6, 5.6)
        ax.axhline(0.0, color="#e2e8f0", linewidth=0.8, zorder=0)
        ax.axvline(0.0, color="#e2e8f0", linewidth=0.8, zorder=0)
        ax.scatter(
            coords[:, 0],
            coords[:, 1],
            s=sizes,
            c=[colors[c] for c in cluster_of],
            edgecolors="white",
            linewidths=0.8,
            zorder=2,
        )
        if n <= _MAX_LABELS:
            shifted = offset_copy(ax.transData, fig=fig, x=4.0, y=3.0, units="points")
            for (x, y), s in zip(coords, symbols, strict=True):
                ax.text(x, y, mpl.tick_label(s), transform=shifted, fontsize=7.0, color="#2d3748")
        ids = sorted({c for c in cluster_of if c is not None})
        handles = [Line2D([], [], marker="o", linestyle="", color=colors[c], label=f"C{c}") for c in ids[:20]]
        if None in cluster_of:
            handles.append(Line2D([], [], marker="o", linestyle="", color=colors[None], label="unassigned"))
        span = float(np.abs(coords).max()) if n > 1 and np.abs(coords).max() > 0 else 1.0
        ax.set_xlim(-1.25 * span, 1.25 * span)
        ax.set_ylim(-1.25 * span, 1.25 * span)
        ax.set_aspect("equal")
        if handles:
            ax.legend(
                handles=handles,
                loc="upper left",
                bbox_to_anchor=(1.0, 1.0),
                frameon=False,
                fontsize=7.5,
                title="cluster",
                title_fontsize=8.0,
            )
        ax.set_xlabel(f"axis 1 ({share[0]:.0%} of variance)")
        ax.set_ylabel(f"axis 2 ({share[1]:.0%} of variance)")
        ax.set_title(
            "Factor map: classical MDS of correlation distance"
            + (" (size ∝ volatility)" if returns is not None else ""),
            loc="left",
        )
        mpl.style_axes(ax)
    return fig


def drift_per_window(targets: np.ndarray, realized: np.ndarray) -> np.ndarray:
    """½·Σ|realized − target| per window (0 = the book ended the window on its targets)."""
    t = np.nan_to_num(np.asarray(targets, dtype=np.float64))
    r = np.nan_to_num(np.asarray(realized, dtype=np.float64))
    if t.shape != r.shape:
        msg = f"drift: targets {t.shape} and realized {r.shape} differ"
        raise ValueError(msg)
    return 0.5 * np.abs(r - t).sum(axis=1) if t.size else np.zeros(t.shape[0])


def _drift_figure(bt: BacktestView) -> Any:
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
            axes.append(_box(fig, left, y, plot_w, h))
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
    cax = _box(fig, bar[0], (pos.y0 + 0.05 * pos.height) * fh, bar[1], 0.9 * pos.height * fh)
    fig.colorbar(image, cax=cax, label="realized − target")
    ax.set_yticks(np.arange(len(names)), names, fontsize=7.0)
    _window_ticks(ax, labels)
    ax.set_title(f"Per-symbol drift of the {plots.BOOK_LABELS.get(book, book)} book (most held symbols)", loc="left")
    ax.tick_params(length=0)


# ---------------------------------------------------------------------------------------------------------- index

_CAPTIONS = {
    CORRELATION: "Winners' correlation over the training window in dendrogram order ({linkage} linkage on "
    "√(½(1 − ρ)), the profile's HRP setting, as in the tearsheet); the colour strip and outlines are the HTR "
    "clusters.",
    FACTOR_MAP: "Classical MDS of the correlation distance √(2(1 − ρ)): nearby assets move together; colour = cluster.",
    DRIFT: "Per window: how far each book drifted from its targets by the window's last row, the profile's drift "
    "per symbol, and each book's rolling out-of-sample volatility with its mean ± 1 sd band.",
}
_TITLES = {CORRELATION: "Clustered correlation", FACTOR_MAP: "Factor map", DRIFT: "Drift monitor"}


def _index_html(
    written: Mapping[str, Path], skipped: Mapping[str, str], n_symbols: int, bt: BacktestView | None, linkage: str
) -> str:
    from dataflows.report.page import render

    figures = [
        {
            "name": name,
            "title": _TITLES[name],
            "src": written[name].name if name in written else None,
            "caption": _CAPTIONS[name].format(linkage=linkage),
            "skipped": skipped.get(name, "unknown"),
        }
        for name in (CORRELATION, FACTOR_MAP, DRIFT)
    ]
    facts = f"{n_symbols} winners" + (
        f" · backtest {bt.dates[0]} → {bt.dates[-1]}, {len(bt.windows)} windows" if bt is not None and bt.dates else ""
    )
    return render("plots_index.html", facts=facts, figures=figures)
