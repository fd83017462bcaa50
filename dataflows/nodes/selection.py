"""The sleeve decision on the training window (`dataflows.sleeve.decide`), natural selection's result and
selection.json (the funnel).

`sleeve_decision` is the one node that decides; the sleeve's artifacts (`selection_result` here, `atom_returns`,
`market_regime`, `optimization_input`, `sleeve_weights` in the stage modules after it) read its fields, so the
live sleeve, the walk-forward and every meta sleeve run the same function."""

from __future__ import annotations

import polars as pl
from hamilton.function_modifiers import source, value

from dataflows.artifacts import save_to
from dataflows.config import ProfileConfig
from dataflows.returns import ReturnsPanel
from dataflows.selection.htr import ClusterParams, SelectionParams, SelectionResult
from dataflows.sleeve import SleeveDecision, decide
from dataflows.venues.base import Venue


def selection_params(profile_config: ProfileConfig) -> SelectionParams:
    """HTR parameters: the library's defaults with the profile's overrides."""
    p = profile_config
    return SelectionParams(
        min_winners=p.min_winners,
        max_winners=p.max_winners,
        top_n=p.top_n,
        clusters=ClusterParams(threshold=p.cluster_threshold),
    )


def metadata_required(profile_config: ProfileConfig, venue: Venue) -> bool:
    """Whether unknown tick/lot size vetoes an atom: `profile.require_metadata`, else whether the venue publishes
    exchange metadata at all (exchanges do; a folder of files does not, so there it is unknown, not disqualifying)."""
    if profile_config.require_metadata is not None:
        return profile_config.require_metadata
    return bool(getattr(venue, "publishes_metadata", True))


def sleeve_decision(
    training_returns: ReturnsPanel,
    candidates: pl.DataFrame,
    symbol_metadata: pl.DataFrame,
    selection_ratings: pl.DataFrame,
    selection_params: SelectionParams,
    profile_config: ProfileConfig,
    metadata_required: bool,
) -> SleeveDecision:
    """Selection → synthesis → regime → optimization with the fallback chain, on the training window."""
    return decide(
        training_returns,
        candidates,
        symbol_metadata,
        selection_ratings,
        selection_params,
        profile_config,
        metadata_required,
    )


def selection_result(sleeve_decision: SleeveDecision) -> SelectionResult:
    """Winners with their cluster, score, admitting stage and bypassed vetoes; the funnel per gate."""
    return sleeve_decision.selection


@save_to.run_json(run_dir=source("run_dir"), file=value("selection.json"), output_name_="selection_file")
def selection_document(selection_result: SelectionResult, returns_summary: dict) -> dict:
    """selection.json: counts per gate, clusters, the HTR stage reached, each winner's stage and bypassed vetoes."""
    import json

    body = json.loads(selection_result.to_json())
    body["training_window"] = returns_summary
    return body
