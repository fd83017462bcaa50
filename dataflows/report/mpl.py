"""Matplotlib plumbing of the post-analysis PNGs: house style, figures on the Agg canvas, deterministic PNG bytes.

Only `dataflows.report.postanalysis` draws with Matplotlib (the HTML pages draw their charts as SVG,
`dataflows.report.svg`). Matplotlib is imported inside the functions, so importing this module is cheap; figures are
plain `Figure` objects never registered with pyplot (no global backend switch, garbage-collected when dropped), drawn
under `RC` in an `rc_context` so the global rcParams are never touched.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dataflows.report.svg import shorten

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FULL_WIDTH = 10.0  # inches
RC = {
    "svg.fonttype": "none",
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.labelsize": 9.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "grid.color": "#e2e8f0",
    "grid.linewidth": 0.8,
}
_PNG_METADATA: dict[str, Any] = {"Software": None}


def tick_label(name: str) -> str:
    """An axis-safe label: truncated with an ellipsis, `$` escaped so Matplotlib never parses it as mathtext."""
    return shorten(name).replace("$", r"\$")


def new_figure(width: float, height: float, *, layout: str | None = None) -> Figure:
    """A white figure on the Agg canvas (no pyplot state), `width` x `height` inches.

    `layout=None` (the default) keeps whatever positions the caller sets: constrained layout measures every text
    box on each draw and was the largest single cost of these figures.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout=layout, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure, dpi: float) -> bytes:
    """`fig` as PNG bytes (no software/date metadata: the same figure gives the same bytes)."""
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format="png", dpi=dpi, metadata=_PNG_METADATA)
    return buf.getvalue()


def box(fig: Any, left: float, bottom: float, width: float, height: float) -> Any:
    """An axes at fixed inch coordinates (from the figure's lower left corner)."""
    fw, fh = fig.get_size_inches()
    return fig.add_axes((left / fw, bottom / fh, width / fw, height / fh))


def style_axes(ax: Any) -> None:
    """The house axis style: light ticks and spines."""
    ax.tick_params(length=3, color="#a0aec0", labelcolor="#2d3748")
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#a0aec0")


def date_axis(ax: Any, parsed: list[datetime] | None) -> None:
    """Concise date ticks when the x values are dates."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    if parsed is not None:
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    else:
        ax.set_xlabel("observation")


def label_inches(labels: list[str], fontsize: float) -> float:
    """Estimated width in inches of the longest of `labels` at `fontsize` points (for fixed margins)."""
    longest = max((len(s) for s in labels), default=0)
    return longest * fontsize * 0.62 / 72.0
