"""The post-analysis files of a run: `postanalysis_figures` draws every figure it can into PNG bytes and the
`index.html` that shows them (writing nothing); `write_postanalysis` writes them into the run's `plots/` folder."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from dataflows.lakehouse.atomic import write_bytes
from dataflows.report import mpl
from dataflows.report.data import BacktestView
from dataflows.report.postanalysis.clusters import correlation_figure, factor_map_figure
from dataflows.report.postanalysis.correlation import correlation_matrix
from dataflows.report.postanalysis.drift import drift_figure

log = logging.getLogger(__name__)

CORRELATION = "correlation_heatmap"
FACTOR_MAP = "factor_map"
DRIFT = "drift_monitor"
INDEX = "index"
_DPI = 110


def postanalysis_figures(
    *,
    symbols: Sequence[str],
    clusters: Mapping[int, Sequence[str]] | Sequence[int | None],
    corr: np.ndarray | None,
    returns: np.ndarray | None,
    backtest: BacktestView | None,
    linkage: str = "single",
    optimal_ordering: bool = False,
) -> dict[str, bytes]:
    """The post-analysis files as file name (relative to `plots/`) → bytes: `<figure>.png` for every figure drawn,
    then `index.html`; writes nothing.

    symbols: the winners; clusters: cluster id → member symbols, or one cluster id (None = unassigned) per symbol;
    corr: N×N correlation in `symbols` order (None: computed from `returns`); returns: T×N training returns in
    `symbols` order (None allowed when `corr` is given); backtest: the walk-forward view, None = no drift monitor;
    linkage, optimal_ordering: how the heatmap's dendrogram is built (the profile's HRP settings).
    """
    names = [str(s) for s in symbols]
    cluster_of = _cluster_of(names, clusters)
    matrix = correlation_matrix(names, corr, returns)
    files: dict[str, bytes] = {}
    drawn: dict[str, str] = {}
    skipped: dict[str, str] = {}
    figures = {
        CORRELATION: (lambda: correlation_figure(names, matrix, cluster_of, linkage, optimal_ordering))
        if names
        else None,
        FACTOR_MAP: (lambda: factor_map_figure(names, matrix, cluster_of, returns)) if names else None,
        DRIFT: (lambda: drift_figure(backtest)) if backtest is not None and backtest.dates else None,
    }
    reasons = {CORRELATION: "no winners", FACTOR_MAP: "no winners", DRIFT: "no backtest in this run"}
    for name, draw in figures.items():
        if draw is None:
            skipped[name] = reasons[name]
            continue
        file = f"{name}.png"
        try:
            files[file] = mpl.png_bytes(draw(), _DPI)
        except Exception as exc:  # one broken figure must not cost the others
            log.warning("post-analysis figure %s failed: %s", name, exc, exc_info=True)
            skipped[name] = f"failed: {type(exc).__name__}: {exc}"
            continue
        drawn[name] = file
    files[f"{INDEX}.html"] = _index_html(drawn, skipped, len(names), backtest, linkage).encode("utf-8")
    return files


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
    """Write `postanalysis_figures` into `plots_dir` (each file atomically); returns name (the file's stem: a figure,
    or `index`) → path of every file written."""
    plots_dir = Path(plots_dir)
    files = postanalysis_figures(
        symbols=symbols,
        clusters=clusters,
        corr=corr,
        returns=returns,
        backtest=backtest,
        linkage=linkage,
        optimal_ordering=optimal_ordering,
    )
    written: dict[str, Path] = {}
    for file, content in files.items():
        path = plots_dir / file
        write_bytes(path, content)
        written[Path(file).stem] = path
    return written


def _cluster_of(symbols: list[str], clusters: Mapping[int, Sequence[str]] | Sequence[int | None]) -> list[int | None]:
    """One cluster id (None = unassigned) per symbol, from a mapping or a list of ids."""
    if isinstance(clusters, Mapping):
        of: dict[str, int] = {}
        for cid, members in clusters.items():
            for m in members:
                of.setdefault(str(m), int(cid))
        return [of.get(s) for s in symbols]
    ids = list(clusters)
    if len(ids) != len(symbols):
        msg = f"post-analysis: {len(ids)} cluster ids for {len(symbols)} symbols; pass one per symbol or a mapping"
        raise ValueError(msg)
    return [None if c is None else int(c) for c in ids]


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
    drawn: Mapping[str, str], skipped: Mapping[str, str], n_symbols: int, bt: BacktestView | None, linkage: str
) -> str:
    """The page that shows the drawn figures (`drawn`: figure → file name) and says why the others are missing."""
    from dataflows.report.page import render

    figures = [
        {
            "name": name,
            "title": _TITLES[name],
            "src": drawn.get(name),
            "caption": _CAPTIONS[name].format(linkage=linkage),
            "skipped": skipped.get(name, "unknown"),
        }
        for name in (CORRELATION, FACTOR_MAP, DRIFT)
    ]
    facts = f"{n_symbols} winners" + (
        f" · backtest {bt.dates[0]} → {bt.dates[-1]}, {len(bt.windows)} windows" if bt is not None and bt.dates else ""
    )
    return render("plots_index.html", facts=facts, figures=figures)
