"""The sleeve decision on the training window and its artifacts.

`sleeve_decision` is the one node that decides (`dataflows.sleeve.decide`: HTR selection → short synthesis → regime
→ optimization input → the configured optimizer, then `profile.fallbacks`, each through the stable-sum gate, every
attempt recorded; dust removed within the caps). The live sleeve, every walk-forward window and every meta sleeve
run that same function; the nodes after it read its fields (`selection_result`, `atom_returns`, `market_regime`,
`optimization_input`, `sleeve_weights`), and `selection.json` / `analysis.json` are saved from them. Optimizers see
synthetic longs only (atom streams, w ≥ 0, Σw = 1, w ≤ weight_cap); caps are hard (n · cap < 1 is an error, never
relaxed). Method notes: `docs/sleeve.md`, `docs/selection.md`, `docs/portfolio.md`.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from hamilton.function_modifiers import source, tag, value

from dataflows import columns as C
from dataflows.analysis import Regime, antifragility, tail_stats
from dataflows.artifacts import save_to
from dataflows.config import ProfileConfig
from dataflows.lakehouse.calendar import DAY_MS
from dataflows.lakehouse.features import FeaturesUpdate
from dataflows.lakehouse.store import Lakehouse
from dataflows.returns import ReturnsPanel
from dataflows.selection.htr import ClusterParams, SelectionParams, SelectionResult
from dataflows.sleeve import OptimizationInput, SleeveDecision, SleeveWeights, decide
from dataflows.synthesis import AtomReturns
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


def selection_ratings(
    features_update: FeaturesUpdate, lakehouse: Lakehouse, venue: Venue, decision_ms: int
) -> pl.DataFrame:
    """Each symbol's ratings from the features matrix this run brought up to date, as of the bar *before* the
    decision bar (point in time)."""
    from dataflows.lakehouse import features

    rows = features.as_of_rows(features.read_updated(lakehouse, features_update), venue.name, decision_ms - DAY_MS)
    return rows.select(C.SYMBOL, "recommend_all", "recommend_ma", pl.col("vote_adx").cast(pl.Float64).alias("adx"))


def atom_returns(sleeve_decision: SleeveDecision) -> AtomReturns:
    """The winners' synthesized return streams over the training window (NaN where the symbol has no bar)."""
    return sleeve_decision.reached("atom_returns")


def market_regime(sleeve_decision: SleeveDecision) -> Regime:
    """Regime of the equal-weight series of the winners' streams (QUIET, NORMAL, TURBULENT, CRISIS)."""
    return sleeve_decision.reached("regime")


def atom_risk_profile(atom_returns: AtomReturns) -> pl.DataFrame:
    """Per atom: VaR/CVaR 95, tail ratio, max drawdown, antifragility score."""
    x = np.asarray(atom_returns.values)
    tails = tail_stats(x)
    anti = antifragility(x)
    frame = {C.ATOM_ID: list(atom_returns.atom_ids)}
    for name in ("var_95", "cvar_95", "tail_gain", "tail_ratio", "max_drawdown", "skew", "kurtosis"):
        frame[name] = np.asarray(getattr(tails, name), dtype=np.float64)
    frame["antifragility"] = np.asarray(anti.score, dtype=np.float64)
    return pl.DataFrame(frame)


@save_to.run_json(run_dir=source("run_dir"), file=value("analysis.json"), output_name_="analysis_file")
def analysis_document(market_regime: Regime, atom_risk_profile: pl.DataFrame) -> dict:
    """analysis.json: the training window's regime (label, score, features) and each atom's tail profile."""
    return {"regime": market_regime.to_dict(), "atoms": atom_risk_profile.fill_nan(None).to_dicts()}


def optimization_input(sleeve_decision: SleeveDecision) -> OptimizationInput:
    """Dense synthetic-long streams, annualized covariance and mean, clusters and the (regime-tightened) cluster
    cap, after the caps were checked feasible."""
    return sleeve_decision.reached("optimization_input")


@tag(manifest="sleeve")
def sleeve_weights(sleeve_decision: SleeveDecision) -> SleeveWeights:
    """The primary method's weights if they pass the gate, else the first fallback that does (all recorded)."""
    return sleeve_decision.reached("sleeve_weights")


def risk_contributions(sleeve_weights: SleeveWeights, optimization_input: OptimizationInput) -> dict[str, float]:
    """Each atom's share of portfolio variance, w_i (Σw)_i / wᵀΣw."""
    w, cov = np.asarray(sleeve_weights.weights.weights), optimization_input.covariance
    total = float(w @ cov @ w)
    rc = w * (cov @ w) / total if total > 0 else np.full(w.size, 1.0 / w.size)
    return dict(zip(optimization_input.atom_ids, rc.tolist(), strict=True))
