"""MinVar / MaxSharpe at N=1000, cap 10%: re-solve of our prebuilt problem vs plain cvxpy and PyPortfolioOpt.

Σ and μ are the sample covariance and mean of seeded factor-model returns (T=2520; quick: N=200). "ours" re-solves
a problem built once (`MinVariance(n, cap)` / `MaxSharpe(n, cap)`) with new data, alternating between two
rebalances so that every timed call is a real data update. The baseline is plain cvxpy built fresh each call:
`quad_form(w, psd_wrap(S))` + Clarabel at its defaults (ours uses the same interior-point tolerances, then
polishes). PyPortfolioOpt (`EfficientFrontier(..., weight_bounds=(0, cap), solver="CLARABEL")`) is informative.
All three are timed in turns (same machine load). A second pair of cases adds cluster caps in the degenerate form
of exact MVO (`docs/mvo.md`): five clusters (assets i mod 5) capped at 20% each, so the caps sum to exactly 1 and the budget row
depends on the cluster rows (ours vs plain cvxpy with the same constraints).
Correctness first: our weights agree with plain cvxpy (and PyPortfolioOpt) solved at tight tolerances to 1e-5, the
polish finished, and every cap holds in floating point (w <= cap, cluster totals <= 20%, no tolerance).
Target: ours <= 0.5x plain cvxpy.
"""

from __future__ import annotations

from collections.abc import Callable

import cvxpy as cp
import numpy as np

from benchmarks._harness import Row, cli, quiet, rows_against, time_interleaved
from benchmarks.bench_hrp import factor_returns
from dataflows.portfolio.mvo import MaxSharpe, MinVariance

T = 2520
CAP = 0.1
CLUSTERS, CLUSTER_CAP = 5, 0.2  # caps summing to exactly 1: dependent active rows
TARGET = 0.5
TIGHT = {"tol_gap_abs": 1e-13, "tol_gap_rel": 1e-13, "tol_feas": 1e-13}  # unscaled daily Σ needs it


def moments(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample covariance and mean of seeded (T, n) factor-model returns."""
    x = factor_returns(T, n, seed=seed)
    return np.cov(x, rowvar=False), x.mean(axis=0)


def _cluster_rows(v: cp.Variable, groups: np.ndarray | None, scale: object = 1.0) -> list:
    if groups is None:
        return []
    return [cp.sum(v[np.flatnonzero(groups == g)]) <= CLUSTER_CAP * scale for g in np.unique(groups)]


def plain_min_variance(cov: np.ndarray, cap: float, groups: np.ndarray | None = None, **opts: float) -> np.ndarray:
    w = cp.Variable(cov.shape[0])
    constraints = [cp.sum(w) == 1, w >= 0, w <= cap, *_cluster_rows(w, groups)]
    cp.Problem(cp.Minimize(cp.quad_form(w, cp.psd_wrap(cov))), constraints).solve(solver="CLARABEL", **opts)
    return w.value


def plain_max_sharpe(
    cov: np.ndarray, mu: np.ndarray, cap: float, groups: np.ndarray | None = None, **opts: float
) -> np.ndarray:
    y, kappa = cp.Variable(cov.shape[0]), cp.Variable()
    constraints = [mu @ y == 1, cp.sum(y) == kappa, y >= 0, y <= cap * kappa, kappa >= 0]
    constraints += _cluster_rows(y, groups, kappa)
    cp.Problem(cp.Minimize(cp.quad_form(y, cp.psd_wrap(cov))), constraints).solve(solver="CLARABEL", **opts)
    return y.value / kappa.value


def pypfopt_min_variance(cov: np.ndarray, cap: float, **opts: float) -> np.ndarray:
    from pypfopt import EfficientFrontier

    ef = EfficientFrontier(None, cov, weight_bounds=(0, cap), solver="CLARABEL", solver_options=opts or None)
    ef.min_volatility()
    return np.asarray(ef.weights)


def pypfopt_max_sharpe(cov: np.ndarray, mu: np.ndarray, cap: float, **opts: float) -> np.ndarray:
    from pypfopt import EfficientFrontier

    ef = EfficientFrontier(mu, cov, weight_bounds=(0, cap), solver="CLARABEL", solver_options=opts or None)
    ef.max_sharpe(risk_free_rate=0.0)
    return np.asarray(ef.weights)


def _alternating(calls: list[Callable[[], object]]) -> Callable[[], object]:
    """One callable that runs calls[0], calls[1], calls[0], ... on successive invocations."""
    state = {"i": 0}

    def call() -> object:
        state["i"] += 1
        return calls[state["i"] % len(calls)]()

    return call


def run(repeat: int, warmup: int, quick: bool) -> list[Row]:
    """Correctness at tight tolerances, then MinVar and MaxSharpe timings (ratio against plain cvxpy)."""
    n = 200 if quick else 1000
    data = [moments(n, seed) for seed in (1, 2)]
    min_var, max_sharpe = MinVariance(n, CAP), MaxSharpe(n, CAP)
    for cov, mu in data:  # build once, then every solve below is a re-solve
        checks = {
            "min_variance": (
                min_var.solve(cov).weights,
                plain_min_variance(cov, CAP, **TIGHT),
                quiet(lambda cov=cov: pypfopt_min_variance(cov, CAP, **TIGHT))(),
            ),
            "max_sharpe": (
                max_sharpe.solve(cov, mu).weights,
                plain_max_sharpe(cov, mu, CAP, **TIGHT),
                quiet(lambda cov=cov, mu=mu: pypfopt_max_sharpe(cov, mu, CAP, **TIGHT))(),
            ),
        }
        for name, (ours, plain, peer) in checks.items():
            for label, ref in (("plain cvxpy", plain), ("pypfopt", peer)):
                err = float(np.abs(ours - ref).max())
                assert err <= 1e-5, f"{name} differs from {label} by {err:.3g} (N={n})"

    cases = {
        "min_variance": (
            _alternating([lambda cov=cov: min_var.solve(cov) for cov, _ in data]),
            _alternating([lambda cov=cov: plain_min_variance(cov, CAP) for cov, _ in data]),
            _alternating([quiet(lambda cov=cov: pypfopt_min_variance(cov, CAP)) for cov, _ in data]),
        ),
        "max_sharpe": (
            _alternating([lambda cov=cov, mu=mu: max_sharpe.solve(cov, mu) for cov, mu in data]),
            _alternating([lambda cov=cov, mu=mu: plain_max_sharpe(cov, mu, CAP) for cov, mu in data]),
            _alternating([quiet(lambda cov=cov, mu=mu: pypfopt_max_sharpe(cov, mu, CAP)) for cov, mu in data]),
        ),
    }
    rows: list[Row] = []
    notes = {
        "plain cvxpy": "quad_form(w, psd_wrap(S)) + Clarabel, built fresh, default tolerances",
        "ours": f"re-solve of the prebuilt problem, polished; target <= {TARGET}x plain",
        "pypfopt": "EfficientFrontier + Clarabel, default tolerances",
    }
    for name, (ours, plain, peer) in cases.items():
        timings = time_interleaved({"plain cvxpy": plain, "ours": ours, "pypfopt": peer}, repeat, warmup)
        rows += rows_against(
            f"{name} N={n} cap {CAP:.0%}", timings, baseline="plain cvxpy", targets={"ours": TARGET}, notes=notes
        )
    for name, (ours, plain) in _clustered_cases(n, data).items():
        timings = time_interleaved({"plain cvxpy": plain, "ours": ours}, repeat, warmup)
        case = f"{name} N={n} cap {CAP:.0%}, {CLUSTERS} clusters <= {CLUSTER_CAP:.0%}"
        rows += rows_against(case, timings, baseline="plain cvxpy", targets={"ours": TARGET}, notes=notes)
    return rows


def _clustered_cases(n: int, data: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, tuple[Callable, Callable]]:
    """Correctness with cluster caps summing to 1 (exact caps, polished, = plain cvxpy), then the timed calls."""
    groups = np.arange(n) % CLUSTERS
    kw = {"groups": groups, "cluster_cap": CLUSTER_CAP}
    min_var, max_sharpe = MinVariance(n, CAP, **kw), MaxSharpe(n, CAP, **kw)
    for cov, mu in data:
        for name, res, ref in (
            ("min_variance", min_var.solve(cov), plain_min_variance(cov, CAP, groups, **TIGHT)),
            ("max_sharpe", max_sharpe.solve(cov, mu), plain_max_sharpe(cov, mu, CAP, groups, **TIGHT)),
        ):
            w = res.weights
            totals = np.bincount(groups, weights=w)
            assert res.polished, f"{name} with clusters: the polish declined"
            assert (w <= CAP).all(), f"{name} with clusters: an asset above the cap"
            assert (totals <= CLUSTER_CAP).all(), f"{name} with clusters: a cluster above its cap"
            err = float(np.abs(w - ref).max())
            assert err <= 1e-5, f"{name} with clusters differs from plain cvxpy by {err:.3g} (N={n})"
    return {
        "min_variance": (
            _alternating([lambda cov=cov: min_var.solve(cov) for cov, _ in data]),
            _alternating([lambda cov=cov: plain_min_variance(cov, CAP, groups) for cov, _ in data]),
        ),
        "max_sharpe": (
            _alternating([lambda cov=cov, mu=mu: max_sharpe.solve(cov, mu) for cov, mu in data]),
            _alternating([lambda cov=cov, mu=mu: plain_max_sharpe(cov, mu, CAP, groups) for cov, mu in data]),
        ),
    }


if __name__ == "__main__":
    cli(run, __doc__.splitlines()[0])
