"""The sleeve decision, in one place: one training window in, the sleeve's weights and how they were reached out.

`decide(panel, candidates, symbol_metadata, selection_ratings, selection_params, profile, metadata_required)`:

1. selection: HTR on the candidates' atoms present in the window (`selection.htr.select_atoms`); an unknown
   tick/lot size vetoes an atom where `metadata_required`;
2. synthesis: the winners' atom streams (LONG raw, SHORT −min(r, 1)), applied exactly once;
3. analysis: the regime of the winners' equal-weight series (it tightens the cluster cap in CRISIS / TURBULENT);
4. optimization input: dense streams, annualized covariance (by `profile.covariance`: sample, ledoit_wolf, oas or
   ridge, `dataflows.portfolio.covariance`; HRP clusters the streams with its own sample covariance) and mean,
   clusters; the caps checked feasible;
5. weights: the chain `fallback_chain(profile)` (the configured optimizer, then the profile's fallbacks) through the
   optimizer registry (`dataflows.portfolio.registry`): the first link whose weights pass the stable-sum gate
   wins, and every attempt is recorded. Optimizers see synthetic longs only (w >= 0, Σw = 1, w <= weight_cap);
6. dust: the winner's weights below `profile.min_weight` are dropped and the rest refilled within the asset and
   cluster caps (`dataflows.portfolio.dust`); `SleeveWeights.dust` records which atoms and how much weight, or why
   the dust had to stay.

`allocate(selection, panel, profile)` runs steps 2–6 on a given selection (the walk-forward's optimizer-only
decider admits every atom). Callers: the sleeve's Hamilton nodes (one `sleeve_decision` node; `selection_result`,
`atom_returns`, `market_regime`, `optimization_input`, `sleeve_weights` read its fields), the walk-forward deciders
(`dataflows.validation.walkforward`, one decision per window) and so every meta sleeve, local or on Ray.

A decision that stops after selection (no winners, infeasible caps, too few dense rows, no regime, every optimizer
failed) keeps what it reached and records the error (`SleeveDecision.error`); `SleeveDecision.reached` raises it
for a caller that cannot go on without the missing artifact (the live sleeve), while the walk-forward holds cash.
Errors raised by selection itself, and anything that is not a `DataflowsError`, propagate.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from dataflows import columns as C
from dataflows.analysis import Regime, regime
from dataflows.config import ProfileConfig, Settings
from dataflows.errors import DataflowsError
from dataflows.portfolio import InfeasibleCaps, PortfolioError
from dataflows.portfolio.covariance import estimate
from dataflows.portfolio.dust import DustRemoval, remove_dust
from dataflows.portfolio.registry import OptimizerInput, optimize
from dataflows.report.data import OptimizerAttempt
from dataflows.returns import ReturnsPanel, dense
from dataflows.selection.htr import SelectionParams, SelectionResult, select_atoms
from dataflows.synthesis import AtomReturns, AtomWeights, synthesize_atoms

PERIODS = {C.CRYPTO: 365, C.EQUITY: 252}


@dataclass(frozen=True)
class OptimizationInput:
    """What every optimizer of the chain gets: a dense synthetic-long returns matrix and its annualized moments."""

    atom_ids: tuple[str, ...]
    returns: np.ndarray  # T×A, NaN-free
    first_row: int  # row of the training window where the dense matrix starts
    covariance: np.ndarray  # annualized, by `estimator`
    mean: np.ndarray  # annualized
    periods_per_year: int
    cap: float
    groups: np.ndarray  # cluster label per atom (the winners' correlation clusters)
    cluster_cap: float | None  # after regime tightening; None = no cluster caps
    estimator: str = "sample"  # the covariance estimator (profile.covariance)


@dataclass(frozen=True)
class SleeveWeights:
    """The weights that passed the gate (dust removed), which link produced them, every attempt, the covariance
    estimator the optimizers saw and what dust was removed."""

    weights: AtomWeights
    method: str
    primary: str
    attempts: tuple[OptimizerAttempt, ...]
    covariance: str = "sample"  # the covariance estimator of the optimization input
    dust: DustRemoval = field(default_factory=DustRemoval)  # dropped dust (indices into weights.atom_ids)

    @property
    def fallback_used(self) -> bool:
        return self.method != self.primary

    def dust_record(self) -> dict[str, Any]:
        """The dust removal for manifests: min_weight, the dropped atom ids, their total weight, why dust was kept."""
        return {
            "min_weight": self.dust.min_weight,
            "dropped": [self.weights.atom_ids[i] for i in self.dust.dropped],
            "dropped_weight": self.dust.dropped_weight,
            "kept": self.dust.kept,
        }


@dataclass(frozen=True, eq=False)
class SleeveDecision:
    """One training window's decision: each stage's artifact, every optimizer attempt, and why it stopped early.

    The artifacts after `selection` are None from the stage that failed on (`error` says why)."""

    selection: SelectionResult
    atom_returns: AtomReturns | None = None
    regime: Regime | None = None
    optimization_input: OptimizationInput | None = None
    sleeve_weights: SleeveWeights | None = None
    attempts: tuple[OptimizerAttempt, ...] = ()  # the chain's attempts, also when every link failed
    error: DataflowsError | None = None

    def reached(self, artifact: str) -> Any:
        """The artifact (a field name), or the error that stopped the decision before it, raised."""
        value = getattr(self, artifact)
        if value is None:
            raise self.error if self.error is not None else DataflowsError(f"the sleeve decision has no {artifact}")
        return value


def fallback_chain(profile: ProfileConfig) -> list[str]:
    """The profile's optimizer, then its fallbacks (each once)."""
    return list(dict.fromkeys([profile.optimizer, *profile.fallbacks]))


def profile_of(settings: Settings) -> ProfileConfig:
    """The profile a decision uses: the settings' profile with their top-level `optimizer=` applied."""
    if settings.optimizer is None or settings.optimizer == settings.profile.optimizer:
        return settings.profile
    return dataclasses.replace(settings.profile, optimizer=settings.optimizer)


def decide(
    panel: ReturnsPanel,
    candidates: pl.DataFrame,
    symbol_metadata: pl.DataFrame,
    selection_ratings: pl.DataFrame,
    selection_params: SelectionParams,
    profile: ProfileConfig,
    metadata_required: bool,
) -> SleeveDecision:
    """The sleeve's decision on one training window (`panel`: its rows only); see the module docstring."""
    selection = select(panel, candidates, symbol_metadata, selection_ratings, selection_params, metadata_required)
    return allocate(selection, panel, profile)


def select(
    panel: ReturnsPanel,
    candidates: pl.DataFrame,
    symbol_metadata: pl.DataFrame,
    selection_ratings: pl.DataFrame,
    selection_params: SelectionParams,
    metadata_required: bool,
) -> SelectionResult:
    """HTR on the candidates' atoms whose symbol is in the window: winners, clusters, stages, the funnel."""
    present = set(panel.symbols)
    atoms = candidates.filter(pl.col(C.SYMBOL).is_in(present))
    meta = {
        r[C.SYMBOL]: (r[C.TICK_SIZE] is not None and r[C.LOT_SIZE] is not None) or not metadata_required
        for r in symbol_metadata.iter_rows(named=True)
    }
    bases = dict(atoms.select(C.SYMBOL, C.BASE).unique(C.SYMBOL).iter_rows())
    ratings = selection_ratings.filter(pl.col(C.SYMBOL).is_in(present))
    return select_atoms(
        atoms[C.ATOM_ID].to_list(),
        panel.returns,
        panel.symbols,
        panel.asset_class,
        panel.quote_volume,
        {s: meta.get(s, False) for s in present},
        ratings=ratings if ratings.height else None,
        bases=bases,
        params=selection_params,
    )


def allocate(selection: SelectionResult, panel: ReturnsPanel, profile: ProfileConfig) -> SleeveDecision:
    """Synthesis → regime → optimization input → the fallback chain → dust, for a given selection (steps 2–6)."""
    atoms = market = inp = None
    attempts: tuple[OptimizerAttempt, ...] = ()
    try:
        atoms = synthesize(selection, panel)
        market = regime(atoms.values)
        inp = optimization_input(atoms, selection, market, panel, profile)
        attempts, weights = run_chain(inp, profile)
        if weights is None:
            lines = "; ".join(f"{a.method}: {a.reason}" for a in attempts)
            msg = f"every optimizer in the chain {fallback_chain(profile)} failed: {lines}"
            raise DataflowsError(msg)
    except DataflowsError as exc:
        return SleeveDecision(selection, atoms, market, inp, None, attempts, exc)
    return SleeveDecision(selection, atoms, market, inp, weights, attempts)


def synthesize(selection: SelectionResult, panel: ReturnsPanel) -> AtomReturns:
    """The winners' synthesized return streams over the window (NaN where the symbol has no bar); `NoWinners`."""
    winners = selection.require_winners().winners
    symbols = list(dict.fromkeys(w.symbol for w in winners))
    sub = panel.columns(symbols)
    return synthesize_atoms(sub.returns, sub.symbols, [w.atom_id for w in winners])


def optimization_input(
    atoms: AtomReturns, selection: SelectionResult, market_regime: Regime, panel: ReturnsPanel, profile: ProfileConfig
) -> OptimizationInput:
    """Dense synthetic-long streams, annualized covariance and mean, clusters and the (regime-tightened) cluster
    cap; checks the caps are feasible before any optimizer runs."""
    from dataflows.portfolio.caps import InfeasibleClusterCaps, cluster_caps

    n, cap = len(atoms.atom_ids), profile.weight_cap
    if n * cap < 1 - 1e-12:
        raise InfeasibleCaps(n, cap)
    cluster_of = {w.atom_id: int(w.cluster) for w in selection.winners}
    groups = np.array([cluster_of[a] for a in atoms.atom_ids], dtype=np.int64)
    cc = profile.cluster_cap
    if cc is not None and profile.regime_caps:
        cc = market_regime.cluster_cap(cc)
    caps = cluster_caps(groups, cc, n)
    if caps is not None and float(np.minimum(caps.caps, caps.sizes * cap).sum()) < 1 - 1e-12:
        raise InfeasibleClusterCaps(caps.labels, caps.sizes, caps.caps, cap)
    x, first = dense(np.asarray(atoms.values), min_rows=profile.min_history_days, labels=list(atoms.atom_ids))
    classes = dict(zip(panel.symbols, panel.asset_class, strict=True))
    ppy = PERIODS[C.CRYPTO] if any(classes.get(s) == C.CRYPTO for s in atoms.symbols) else PERIODS[C.EQUITY]
    cov = estimate(x, profile.covariance) * ppy
    return OptimizationInput(
        atoms.atom_ids, x, first, cov, x.mean(axis=0) * ppy, ppy, cap, groups, cc, estimator=profile.covariance
    )


def run_chain(
    inp: OptimizationInput, profile: ProfileConfig
) -> tuple[tuple[OptimizerAttempt, ...], SleeveWeights | None]:
    """Every attempt of `fallback_chain(profile)`, and the weights of the first link that passes the stable-sum
    gate with its dust removed (None when no link does)."""
    chain = fallback_chain(profile)
    problem = OptimizerInput(
        inp.returns,
        inp.covariance,
        inp.mean,
        cap=inp.cap,
        groups=inp.groups,
        cluster_cap=inp.cluster_cap,
        risk_free=profile.risk_free,
        linkage=profile.linkage,
        optimal_ordering=profile.optimal_ordering,
    )
    attempts: list[OptimizerAttempt] = []
    for link in chain:
        attempt, w = _attempt(link, problem)
        attempts.append(attempt)
        if w is not None:
            w, dust = remove_dust(w, profile.min_weight, inp.cap, problem.cluster_groups, inp.cluster_cap)
            weights = AtomWeights(inp.atom_ids, w)
            return tuple(attempts), SleeveWeights(weights, link, chain[0], tuple(attempts), inp.estimator, dust)
    return tuple(attempts), None


def _attempt(method: str, problem: OptimizerInput) -> tuple[OptimizerAttempt, np.ndarray | None]:
    """One method and the stable-sum gate; an optimizer failure is recorded, never raised."""
    from dataflows.portfolio.mvo import stable_sum_ok

    t0 = time.perf_counter()
    try:
        w = optimize(method, problem)
    except PortfolioError as exc:
        return OptimizerAttempt(method, False, f"{exc.__class__.__name__}: {exc}", time.perf_counter() - t0), None
    ok, why = stable_sum_ok(w, 0.0, problem.cap, groups=problem.cluster_groups, cluster_cap=problem.cluster_cap)
    seconds = time.perf_counter() - t0
    if not ok:
        return OptimizerAttempt(method, False, f"stable-sum gate: {why}", seconds), None
    w = np.clip(w, 0.0, None)
    total = float(w.sum())
    # renormalize only a real drift: scaling a sum of 1 - 1e-16 up by 1 + 1e-16 could push a weight at its cap
    # (or a cluster at its float-safe margin) one ulp above it
    return OptimizerAttempt(method, True, "", seconds), (w if abs(total - 1.0) <= 1e-12 else w / total)
