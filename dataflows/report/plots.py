"""Tearsheet charts as inline SVG strings, drawn with Matplotlib's object API (no pyplot, no global backend switch).

Every function takes plain arrays/lists and returns an `<svg>` element ready to paste into HTML: the XML prolog is
dropped, every `id` is prefixed with a per-chart scope (so several charts can live in one page without clashing
ids), text stays text (`svg.fonttype = none`: searchable, small) and the output is deterministic (fixed hash salt,
no date metadata). Matplotlib is imported inside the functions, so importing this module is cheap. Figures are
plain `Figure` objects never registered with pyplot, so they are garbage-collected when the function returns.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

LONG_COLOR = "#2b6cb0"
SHORT_COLOR = "#c53030"
NEUTRAL_COLOR = "#4a5568"
EQUITY_COLOR = "#2b6cb0"
DRAWDOWN_COLOR = "#c53030"
BOUNDARY_COLOR = "#111111"

FULL_WIDTH = 10.0  # inches: 720 pt, ~960 CSS px at 100 % zoom
_HALF_WIDTH = 6.0
_MAX_LABEL = 24  # characters of a symbol shown on an axis (tables show the full name)
_MAX_BARS = 50  # bar charts of per-asset values show the largest |value|s beyond this (tables list them all)
_MAX_TICK_LABELS = 80  # beyond this many heatmap rows, axis labels are dropped (unreadable anyway)
RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "dataflows-tearsheet",
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.labelsize": 9.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "grid.color": "#e2e8f0",
    "grid.linewidth": 0.8,
}
_SVG_METADATA: dict[str, Any] = {"Date": None, "Creator": None, "Format": None, "Type": None}
_ID_RE = re.compile(r'\bid="([^"]+)"')


def tick_label(name: str) -> str:
    """An axis-safe label: truncated with an ellipsis, `$` escaped so Matplotlib never parses it as mathtext."""
    text = name if len(name) <= _MAX_LABEL else name[: _MAX_LABEL - 1] + "…"
    return text.replace("$", r"\$")


def new_figure(width: float, height: float) -> Figure:
    """A white, constrained-layout figure on the Agg canvas (no pyplot state), `width` x `height` inches."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained", facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def to_svg(fig: Figure) -> str:
    """Serialise `fig` to an inline `<svg>` element with page-unique ids."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context(RC):  # ticks are created lazily at draw time: draw under the same style
        fig.savefig(buf, format="svg", metadata=_SVG_METADATA)
    fig.clear()
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    return _scope_ids(svg, f"c{hashlib.sha1(svg.encode(), usedforsecurity=False).hexdigest()[:10]}-")


def _scope_ids(svg: str, prefix: str) -> str:
    """Prefix every `id` and every local reference to it (`url(#id)`, `href="#id"`)."""
    ids = set(_ID_RE.findall(svg))
    if not ids:
        return svg

    def ref(match: re.Match[str]) -> str:
        name = match.group(2)
        return f"{match.group(1)}{prefix}{name}" if name in ids else match.group(0)

    svg = _ID_RE.sub(lambda m: f'id="{prefix}{m.group(1)}"', svg)
    svg = re.sub(r'(url\(#)([^)"]+)', ref, svg)
    return re.sub(r'((?:xlink:)?href="#)([^"]+)', ref, svg)


def style_axes(ax: Any) -> None:
    """The house axis style: light ticks and spines."""
    ax.tick_params(length=3, color="#a0aec0", labelcolor="#2d3748")
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#a0aec0")


def _bar_height(n: int) -> float:
    return float(min(max(1.2 + 0.24 * n, 2.0), 16.0))


def _hbar(
    labels: Sequence[str],
    values: np.ndarray,
    colors: Sequence[str],
    *,
    title: str,
    xlabel: str,
    percent: bool,
    width: float,
) -> Any:
    """A horizontal bar chart, first label at the top, with a zero line; returns the figure."""
    import matplotlib
    from matplotlib.ticker import PercentFormatter

    n = len(labels)
    with matplotlib.rc_context(RC):
        fig = new_figure(width, _bar_height(n))
        ax = fig.add_subplot()
        y = np.arange(n)
        ax.barh(y, values, color=colors, height=0.72, zorder=2)
        ax.axvline(0.0, color="#718096", linewidth=0.8, zorder=3)
        ax.set_ylim(n - 0.5, -0.5)
        ax.set_yticks(y, [tick_label(s) for s in labels], fontsize=8.0 if n <= 30 else 6.5)
        ax.xaxis.grid(True, zorder=0)
        ax.set_axisbelow(True)
        if percent:
            ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))
        ax.set_xlabel(xlabel)
        ax.set_title(title, loc="left")
        style_axes(ax)
    return fig


def _display_order(values: np.ndarray) -> np.ndarray:
    """Indices to plot, largest value first: all of them, or the `_MAX_BARS` largest by absolute value."""
    keep = np.arange(values.size)
    if values.size > _MAX_BARS:
        keep = np.sort(np.argsort(-np.nan_to_num(np.abs(values), nan=-1.0), kind="stable")[:_MAX_BARS])
    return keep[np.argsort(-np.nan_to_num(values[keep], nan=-np.inf), kind="stable")]


def _shown(shown: int, total: int, by: str) -> str:
    return f" ({shown} largest {by} of {total})" if shown < total else ""


def net_weights_svg(symbols: Sequence[str], net_weights: Sequence[float], directions: Sequence[str]) -> str:
    """Horizontal bars of signed weights (longs positive, shorts negative and coloured apart), largest long on top."""
    import matplotlib
    from matplotlib.patches import Patch

    values = np.asarray(net_weights, dtype=np.float64)
    order = _display_order(values)
    labels = [symbols[i] for i in order]
    short = [directions[i] == "SHORT" or (directions[i] != "LONG" and values[i] < 0) for i in order]
    colors = [SHORT_COLOR if s else LONG_COLOR for s in short]
    title = "Net weights" + _shown(len(order), len(values), "|net weight|")
    fig = _hbar(labels, values[order], colors, title=title, xlabel="net weight", percent=True, width=8.0)
    with matplotlib.rc_context(RC):
        present = [(LONG_COLOR, "LONG")] * (not all(short)) + [(SHORT_COLOR, "SHORT")] * any(short)
        handles = [Patch(color=color, label=label) for color, label in present]
        if handles:
            fig.legend(handles=handles, loc="outside upper right", ncols=len(handles), frameon=False, fontsize=8.0)
    return to_svg(fig)


def risk_contributions_svg(symbols: Sequence[str], shares: Sequence[float]) -> str:
    """Horizontal bars of each asset's share of portfolio variance, largest on top (negative = diversifier)."""
    values = np.asarray(shares, dtype=np.float64)
    order = _display_order(values)
    colors = [SHORT_COLOR if v < 0 else NEUTRAL_COLOR for v in values[order]]
    fig = _hbar(
        [symbols[i] for i in order],
        values[order],
        colors,
        title="Share of portfolio variance" + _shown(len(order), len(values), "|share|"),
        xlabel="risk contribution",
        percent=True,
        width=_HALF_WIDTH,
    )
    return to_svg(fig)


def funnel_svg(stages: Sequence[str], counts: Sequence[int]) -> str:
    """The selection funnel as horizontal bars, first stage on top, each bar labelled with its count."""
    import matplotlib

    values = np.asarray(counts, dtype=np.float64)
    fig = _hbar(
        list(stages),
        values,
        [LONG_COLOR] * len(stages),
        title="Selection funnel",
        xlabel="count",
        percent=False,
        width=_HALF_WIDTH,
    )
    with matplotlib.rc_context(RC):
        ax = fig.axes[0]
        top = float(np.nanmax(values)) if values.size and np.isfinite(values).any() else 0.0
        for y, v in enumerate(values):
            if np.isfinite(v):
                ax.annotate(
                    f"{int(v):,}",
                    (v, y),
                    xytext=(3, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=8.0,
                    color="#2d3748",
                )
        ax.set_xlim(0.0, top * 1.12 if top > 0 else 1.0)
    return to_svg(fig)


def correlation_heatmap_svg(symbols: Sequence[str], corr: np.ndarray, cluster_of: Sequence[int | None]) -> str:
    """The correlation matrix in dendrogram order with each run of same-cluster symbols outlined on the diagonal.

    `cluster_of[i]` is the cluster id of `symbols[i]` (None when unassigned); a cluster whose members are not
    contiguous in this order is outlined once per contiguous run.
    """
    import matplotlib
    from matplotlib.patches import Rectangle

    n = len(symbols)
    side = float(min(max(2.5 + 0.22 * n, 4.0), 10.0))
    matrix = np.asarray(corr, dtype=np.float64)
    with matplotlib.rc_context(RC):
        fig = new_figure(side + 1.2, side)
        ax = fig.add_subplot()
        image = ax.imshow(
            np.ma.masked_invalid(matrix), cmap="RdBu_r", vmin=-1.0, vmax=1.0, interpolation="nearest", aspect="equal"
        )
        fig.colorbar(image, ax=ax, shrink=0.8, label="correlation")
        if n <= _MAX_TICK_LABELS:
            size = 8.0 if n <= 20 else 6.5 if n <= 40 else 5.0
            labels = [tick_label(s) for s in symbols]
            ax.set_xticks(np.arange(n), labels, rotation=90, fontsize=size)
            ax.set_yticks(np.arange(n), labels, fontsize=size)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
        for cluster, start, length in value_runs(cluster_of):
            if cluster is None:
                continue
            ax.add_patch(
                Rectangle(
                    (start - 0.5, start - 0.5),
                    length,
                    length,
                    fill=False,
                    edgecolor=BOUNDARY_COLOR,
                    linewidth=1.6,
                    zorder=3,
                )
            )
            if n <= _MAX_TICK_LABELS:
                ax.text(
                    start - 0.35,
                    start - 0.35,
                    f"C{cluster}",
                    fontsize=7.0,
                    va="top",
                    ha="left",
                    color=BOUNDARY_COLOR,
                    fontweight="bold",
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
                    zorder=4,
                )
        ax.set_title("Correlation, dendrogram order", loc="left")
        ax.tick_params(length=0)
    return to_svg(fig)


def value_runs(values: Sequence[int | None]) -> list[tuple[int | None, int, int]]:
    """Contiguous runs as (value, start, length)."""
    runs: list[tuple[int | None, int, int]] = []
    for value, group in itertools.groupby(enumerate(values), key=lambda item: item[1]):
        items = list(group)
        runs.append((value, items[0][0], len(items)))
    return runs


def parse_dates(dates: Sequence[str]) -> list[datetime] | None:
    """ISO strings (date or datetime, `Z` or an offset allowed) → naive UTC datetimes; None if any fails to parse."""
    out: list[datetime] = []
    for text in dates:
        try:
            stamp = datetime.fromisoformat(str(text))
        except ValueError:
            return None
        if stamp.tzinfo is not None:
            stamp = stamp.astimezone(UTC).replace(tzinfo=None)
        out.append(stamp)
    return out


def equity_drawdown_svg(dates: Sequence[str], equity: np.ndarray, drawdown: np.ndarray) -> str:
    """Equity curve (top, starts at 1.0) over drawdown (bottom, ≤ 0), sharing the date axis."""
    import matplotlib
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.ticker import PercentFormatter

    eq = np.asarray(equity, dtype=np.float64)
    dd = np.asarray(drawdown, dtype=np.float64)
    parsed = parse_dates(dates)
    x: Any = parsed if parsed is not None else np.arange(len(eq))
    with matplotlib.rc_context(RC):
        fig = new_figure(FULL_WIDTH, 5.2)
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2.2, 1.0))
        top.plot(x, eq, color=EQUITY_COLOR, linewidth=1.3)
        top.axhline(1.0, color="#a0aec0", linewidth=0.8, linestyle="--")
        top.set_ylabel("equity (start = 1.0)")
        top.set_title("In-sample equity", loc="left")
        top.yaxis.grid(True)
        bottom.fill_between(x, dd, 0.0, color=DRAWDOWN_COLOR, alpha=0.35, linewidth=0.0)
        bottom.plot(x, dd, color=DRAWDOWN_COLOR, linewidth=0.9)
        bottom.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
        bottom.set_ylabel("drawdown")
        bottom.yaxis.grid(True)
        if parsed is not None:
            locator = AutoDateLocator()
            bottom.xaxis.set_major_locator(locator)
            bottom.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        else:
            bottom.set_xlabel("observation")
        for ax in (top, bottom):
            style_axes(ax)
    return to_svg(fig)


BOOK_COLORS = {"profile": EQUITY_COLOR, "filtered_ew": "#2f855a", "raw_ew": "#a0aec0"}
BOOK_LABELS = {"profile": "profile", "filtered_ew": "filtered EW (winners)", "raw_ew": "raw EW (pool)"}
FLAG_COLOR = "#dd6b20"


def date_axis(ax: Any, parsed: list[datetime] | None) -> None:
    """Concise date ticks when the x values are dates."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    if parsed is not None:
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    else:
        ax.set_xlabel("observation")


def backtest_equity_svg(
    dates: Sequence[str],
    equity: dict[str, np.ndarray],
    drawdown: np.ndarray,
    boundaries: Sequence[str] = (),
) -> str:
    """Stitched out-of-sample equity of each book (top) over the profile's drawdown (bottom), shared date axis.

    `boundaries` are the test-window starts (dotted verticals; skipped beyond 60 windows or without parseable dates).
    """
    import matplotlib
    from matplotlib.ticker import PercentFormatter

    parsed = parse_dates(dates)
    n = len(dates)
    x: Any = parsed if parsed is not None else np.arange(n)
    dd = np.asarray(drawdown, dtype=np.float64)[:n]
    with matplotlib.rc_context(RC):
        fig = new_figure(FULL_WIDTH, 5.2)
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2.2, 1.0))
        for book, curve in equity.items():
            eq = np.asarray(curve, dtype=np.float64)[:n]
            top.plot(
                x[: eq.size],
                eq,
                color=BOOK_COLORS.get(book, NEUTRAL_COLOR),
                linewidth=1.6 if book == "profile" else 1.1,
                label=tick_label(BOOK_LABELS.get(book, book)),
                zorder=3 if book == "profile" else 2,
            )
        top.axhline(1.0, color="#a0aec0", linewidth=0.8, linestyle="--")
        if parsed is not None and 0 < len(boundaries) <= 60:
            starts = parse_dates(boundaries) or []
            for stamp in starts[1:]:
                top.axvline(stamp, color="#cbd5e0", linewidth=0.6, linestyle=":", zorder=1)
        top.set_ylabel("equity (start = 1.0)")
        top.set_title("Out-of-sample equity, stitched test windows", loc="left")
        top.yaxis.grid(True)
        if equity:
            top.legend(loc="upper left", frameon=False, fontsize=8.0)
        bottom.fill_between(x[: dd.size], dd, 0.0, color=DRAWDOWN_COLOR, alpha=0.35, linewidth=0.0)
        bottom.plot(x[: dd.size], dd, color=DRAWDOWN_COLOR, linewidth=0.9)
        bottom.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
        bottom.set_ylabel("profile drawdown")
        bottom.yaxis.grid(True)
        date_axis(bottom, parsed)
        for ax in (top, bottom):
            style_axes(ax)
    return to_svg(fig)


def window_returns_svg(labels: Sequence[str], returns: dict[str, np.ndarray], flagged: Sequence[bool]) -> str:
    """Grouped bars of each window's total return per book; flagged windows get an orange marker above them."""
    import matplotlib
    from matplotlib.ticker import PercentFormatter

    n = len(labels)
    books = list(returns)
    with matplotlib.rc_context(RC):
        fig = new_figure(FULL_WIDTH, 3.4)
        ax = fig.add_subplot()
        x = np.arange(n)
        width = 0.8 / max(len(books), 1)
        for k, book in enumerate(books):
            values = np.nan_to_num(np.asarray(returns[book], dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
            ax.bar(
                x + (k - (len(books) - 1) / 2) * width,
                values,
                width=width,
                color=BOOK_COLORS.get(book, NEUTRAL_COLOR),
                label=tick_label(BOOK_LABELS.get(book, book)),
                zorder=2,
            )
        ax.axhline(0.0, color="#718096", linewidth=0.8, zorder=3)
        marks = [i for i, f in enumerate(flagged) if f]
        if marks:
            top = ax.get_ylim()[1]
            ax.scatter(marks, [top] * len(marks), marker="v", color=FLAG_COLOR, s=36, zorder=4, label="flagged")
        step = max(1, int(np.ceil(n / 24)))
        ax.set_xticks(
            x[::step], [tick_label(str(s)) for s in labels][::step], rotation=90 if n > 12 else 0, fontsize=7.5
        )
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))
        ax.yaxis.grid(True, zorder=0)
        ax.set_axisbelow(True)
        ax.set_ylabel("window return")
        ax.set_title("Return per test window", loc="left")
        if books:
            fig.legend(loc="outside upper right", frameon=False, fontsize=7.5, ncols=len(books) + 1)
        style_axes(ax)
    return to_svg(fig)
