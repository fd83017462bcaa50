"""The two cluster maps of the winners (Matplotlib, Agg canvas): the correlation heatmap in dendrogram order under
its dendrogram, with a colour strip per HTR cluster and each contiguous run of a cluster outlined, and the factor map
(classical MDS, colour = cluster, marker area ∝ volatility)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dataflows.report import mpl, plots
from dataflows.report.postanalysis.correlation import classical_mds, dendrogram_order

_MAX_LABELS = 60  # beyond this many assets, axis labels / point labels are dropped


def cluster_colors(cluster_of: Sequence[int | None]) -> dict[int | None, Any]:
    """A colour per cluster id (tab10, or tab20 beyond ten clusters); unassigned (None) grey."""
    from matplotlib import colormaps

    ids = sorted({c for c in cluster_of if c is not None})
    cmap = colormaps["tab10" if len(ids) <= 10 else "tab20"]
    out: dict[int | None, Any] = {c: cmap(k % cmap.N) for k, c in enumerate(ids)}
    out[None] = (0.63, 0.68, 0.75, 1.0)
    return out


def correlation_figure(
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
    colors = cluster_colors(cluster_of)
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
        ax = mpl.box(fig, margin, margin, side, side)
        strip = mpl.box(fig, margin, margin + side + 0.05, side, strip_h)
        top = mpl.box(fig, margin, margin + side + 0.1 + strip_h, side, tree_h)
        bar = mpl.box(fig, margin + side + 0.2, margin + 0.1 * side, bar_w, 0.8 * side)
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


def factor_map_figure(
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
    colors = cluster_colors(cluster_of)
    with matplotlib.rc_context(mpl.RC):
        fig = mpl.new_figure(7.6, 6.7)
        ax = mpl.box(fig, 0.75, 0.6, 5.6, 5.6)
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
