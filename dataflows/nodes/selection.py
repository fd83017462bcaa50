"""Natural selection (HTR v3.4) on the training window, and selection.json (the funnel)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from dataflows import columns as C
from dataflows.config import Settings
from dataflows.lakehouse import atomic
from dataflows.returns import ReturnsPanel
from dataflows.selection.htr import ClusterParams, SelectionParams, SelectionResult, select_atoms
from dataflows.venues.base import Venue


def selection_params(settings: Settings) -> SelectionParams:
    """HTR parameters: the library's defaults with the profile's overrides."""
    p = settings.profile
    return SelectionParams(
        min_winners=p.min_winners,
        max_winners=p.max_winners,
        top_n=p.top_n,
        clusters=ClusterParams(threshold=p.cluster_threshold),
    )


def metadata_required(settings: Settings, venue: Venue) -> bool:
    """Whether unknown tick/lot size vetoes an atom: `profile.require_metadata`, else whether the venue publishes
    exchange metadata at all (exchanges do; a folder of files does not, so there it is unknown, not disqualifying)."""
    if settings.profile.require_metadata is not None:
        return settings.profile.require_metadata
    return bool(getattr(venue, "publishes_metadata", True))


def selection_result(
    training_returns: ReturnsPanel,
    candidates: pl.DataFrame,
    symbol_metadata: pl.DataFrame,
    selection_ratings: pl.DataFrame,
    selection_params: SelectionParams,
    metadata_required: bool,
) -> SelectionResult:
    """Winners with their cluster, score, admitting stage and bypassed vetoes; the funnel per gate."""
    present = set(training_returns.symbols)
    atoms = candidates.filter(pl.col(C.SYMBOL).is_in(present))
    meta = {
        r[C.SYMBOL]: (r[C.TICK_SIZE] is not None and r[C.LOT_SIZE] is not None) or not metadata_required
        for r in symbol_metadata.iter_rows(named=True)
    }
    bases = dict(atoms.select(C.SYMBOL, C.BASE).unique(C.SYMBOL).iter_rows())
    ratings = selection_ratings.filter(pl.col(C.SYMBOL).is_in(present))
    return select_atoms(
        atoms[C.ATOM_ID].to_list(),
        training_returns.returns,
        training_returns.symbols,
        training_returns.asset_class,
        training_returns.quote_volume,
        {s: meta.get(s, False) for s in present},
        ratings=ratings if ratings.height else None,
        bases=bases,
        params=selection_params,
    )


def selection_json(selection_result: SelectionResult, returns_summary: dict, run_dir: Path) -> Path:
    """selection.json: counts per gate, clusters, the HTR stage reached, each winner's stage and bypassed vetoes."""
    import json

    body = json.loads(selection_result.to_json())
    body["training_window"] = returns_summary
    path = run_dir / "selection.json"
    atomic.write_json(path, body)
    return path
