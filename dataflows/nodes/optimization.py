"""Optimization: the configured method (a visible DAG variant), the stable-sum gate and the fallback chain.

Optimizers see synthetic longs only (atom streams, weights ≥ 0, Σw = 1, w ≤ weight_cap). The first link is the
configured method (`optimizer=...`); if it fails or its weights fail the gate, the next link of
`profile.fallbacks` runs, and every attempt is recorded. Caps are hard: n · cap < 1 is an error, never relaxed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from hamilton.function_modifiers import config

from dataflows.analysis import Regime
from dataflows.config import Settings
from dataflows.errors import DataflowsError
from dataflows.portfolio import InfeasibleCaps, PortfolioError
from dataflows.report.data import OptimizerAttempt
from dataflows.returns import ReturnsPanel, dense
from dataflows.selection.htr import SelectionResult
from dataflows.synthesis import AtomReturns, AtomWeights

PERIODS = {"crypto": 365, "equity": 252}


@dataclass(frozen=True)
class OptimizationInput:
    """What every optimizer gets: a dense synthetic-long returns matrix and its annualized moments."""

    atom_ids: tuple[str, ...]
    returns: np.ndarray  # T×A, NaN-free
    first_row: int  # row of the training window where the dense matrix starts
    covariance: np.ndarray  # annualized
    mean: np.ndarray  # annualized
    periods_per_year: int
    cap: float
    groups: np.ndarray  # cluster label per atom (the winners' correlation clusters)
    cluster_cap: float | None  # after regime tightening; None = no cluster caps


@dataclass(frozen=True)
class SleeveWeights:
    """The weights that passed the gate, which link produced them, and every attempt."""

    weights: AtomWeights
    method: str
    primary: str
    attempts: tuple[OptimizerAttempt, ...]

    @property
    def fallback_used(self) -> bool:
        return self.method != self.primary


def optimization_input(
    atom_returns: AtomReturns,
    settings: Settings,
    training_classes: dict[str, str],
    selection_result: SelectionResult,
    market_regime: Regime,
) -> OptimizationInput:
    """Dense synthetic-long streams, annualized covariance and mean, clusters and the (regime-tightened) cluster
    cap; checks the caps are feasible before any optimizer runs."""
    from dataflows.portfolio.caps import InfeasibleClusterCaps, cluster_caps

    n, cap = len(atom_returns.atom_ids), settings.profile.weight_cap
    if n * cap < 1 - 1e-12:
        raise InfeasibleCaps(n, cap)
    cluster_of = {w.atom_id: int(w.cluster) for w in selection_result.winners}
    groups = np.array([cluster_of[a] for a in atom_returns.atom_ids], dtype=np.int64)
    cc = settings.profile.cluster_cap
    if cc is not None and settings.profile.regime_caps:
        cc = market_regime.cluster_cap(cc)
    caps = cluster_caps(groups, cc, n)
    if caps is not None and float(np.minimum(caps.caps, caps.sizes * cap).sum()) < 1 - 1e-12:
        raise InfeasibleClusterCaps(caps.labels, caps.sizes, caps.caps, cap)
    x, first = dense(
        np.asarray(atom_returns.values), min_rows=settings.profile.min_history_days, labels=list(atom_returns.atom_ids)
    )
    ppy = 365 if any(training_classes.get(s) == "crypto" for s in atom_returns.symbols) else 252
    cov = np.cov(x, rowvar=False, ddof=1).reshape(n, n) * ppy
    return OptimizationInput(atom_returns.atom_ids, x, first, cov, x.mean(axis=0) * ppy, ppy, cap, groups, cc)


def training_classes(training_returns: ReturnsPanel) -> dict[str, str]:
    """Asset class per symbol of the training window."""
    return dict(zip(training_returns.symbols, training_returns.asset_class, strict=True))


def _run(method: str, inp: OptimizationInput, settings: Settings) -> np.ndarray:
    """One method's weights under the hard caps: MinVar and MaxSharpe take them as constraints; HRP, risk parity
    and equal weight are projected onto them (`cap_weights`, a no-op where no cap binds)."""
    from dataflows.portfolio.caps import cap_weights

    groups = inp.groups if inp.cluster_cap is not None else None
    if method == "min_variance":
        from dataflows.portfolio.mvo import min_variance_weights

        return min_variance_weights(inp.covariance, inp.cap, groups=groups, cluster_cap=inp.cluster_cap).weights
    if method == "max_sharpe":
        from dataflows.portfolio.mvo import max_sharpe_weights

        return max_sharpe_weights(
            inp.covariance, inp.mean, inp.cap, settings.profile.risk_free, groups=groups, cluster_cap=inp.cluster_cap
        ).weights
    if method == "hrp":
        from dataflows.portfolio.hrp import hrp_weights

        w = hrp_weights(
            inp.returns, linkage=settings.profile.linkage, optimal_ordering=settings.profile.optimal_ordering
        ).weights
    elif method == "risk_parity":
        from dataflows.portfolio.mvo import risk_parity_weights

        w = risk_parity_weights(inp.covariance).weights
    elif method == "equal_weight":
        w = np.full(len(inp.atom_ids), 1.0 / len(inp.atom_ids))
    else:
        msg = f"unknown optimizer {method!r}"
        raise DataflowsError(msg)
    return cap_weights(w, inp.cap, groups, inp.cluster_cap)


def _attempt(method: str, inp: OptimizationInput, settings: Settings) -> tuple[OptimizerAttempt, np.ndarray | None]:
    """Run one method and the stable-sum gate; never raises for an optimizer failure (it is recorded)."""
    from dataflows.portfolio.mvo import stable_sum_ok

    t0 = time.perf_counter()
    try:
        w = _run(method, inp, settings)
    except PortfolioError as exc:
        return OptimizerAttempt(method, False, f"{exc.__class__.__name__}: {exc}", time.perf_counter() - t0), None
    groups = inp.groups if inp.cluster_cap is not None else None
    ok, why = stable_sum_ok(w, 0.0, inp.cap, groups=groups, cluster_cap=inp.cluster_cap)
    seconds = time.perf_counter() - t0
    if not ok:
        return OptimizerAttempt(method, False, f"stable-sum gate: {why}", seconds), None
    return OptimizerAttempt(method, True, "", seconds), np.clip(w, 0.0, None) / np.clip(w, 0.0, None).sum()


@config.when(optimizer="hrp")
def primary_attempt__hrp(optimization_input: OptimizationInput, settings: Settings) -> tuple:
    """HRP (López de Prado) on the synthetic-long streams, then the gate."""
    return _attempt("hrp", optimization_input, settings)


@config.when(optimizer="min_variance")
def primary_attempt__min_variance(optimization_input: OptimizationInput, settings: Settings) -> tuple:
    """Long-only minimum variance under the hard cap, then the gate."""
    return _attempt("min_variance", optimization_input, settings)


@config.when(optimizer="max_sharpe")
def primary_attempt__max_sharpe(optimization_input: OptimizationInput, settings: Settings) -> tuple:
    """Maximum Sharpe ratio (homogenized) under the hard cap, then the gate."""
    return _attempt("max_sharpe", optimization_input, settings)


@config.when(optimizer="risk_parity")
def primary_attempt__risk_parity(optimization_input: OptimizationInput, settings: Settings) -> tuple:
    """Exact equal risk contributions, then the gate (risk parity has no cap: the gate enforces it)."""
    return _attempt("risk_parity", optimization_input, settings)


@config.when(optimizer="equal_weight")
def primary_attempt__equal_weight(optimization_input: OptimizationInput, settings: Settings) -> tuple:
    """1/n, then the gate."""
    return _attempt("equal_weight", optimization_input, settings)


def sleeve_weights(primary_attempt: tuple, optimization_input: OptimizationInput, settings: Settings) -> SleeveWeights:
    """The primary method's weights if they pass the gate, else the first fallback that does (all recorded)."""
    chain = settings.fallback_chain
    attempts, (_first, w) = [primary_attempt[0]], primary_attempt
    method = chain[0] if w is not None else None
    for link in chain[1:]:
        if w is not None:
            break
        att, w = _attempt(link, optimization_input, settings)
        attempts.append(att)
        method = link if w is not None else None
    if w is None:
        lines = "; ".join(f"{a.method}: {a.reason}" for a in attempts)
        msg = f"every optimizer in the chain {chain} failed: {lines}"
        raise DataflowsError(msg)
    return SleeveWeights(AtomWeights(optimization_input.atom_ids, w), method, chain[0], tuple(attempts))


def risk_contributions(sleeve_weights: SleeveWeights, optimization_input: OptimizationInput) -> dict[str, float]:
    """Each atom's share of portfolio variance, w_i (Σw)_i / wᵀΣw."""
    w, cov = np.asarray(sleeve_weights.weights.weights), optimization_input.covariance
    total = float(w @ cov @ w)
    rc = w * (cov @ w) / total if total > 0 else np.full(w.size, 1.0 / w.size)
    return dict(zip(optimization_input.atom_ids, rc.tolist(), strict=True))
