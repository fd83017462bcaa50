"""MinVar / MaxSharpe exact under any feasible caps, dependent active constraints included (docs/mvo.md).

Every solve is checked three ways: against plain cvxpy + Clarabel at 1e-12 tolerances (objective never worse by
more than 1e-9 relative), by an independent optimality certificate (the Frank-Wolfe gap: the caps form a laminar
family, so the linear minimisation over the feasible set is an exact greedy fill), and for hard caps in floating
point (w <= cap and every cluster total <= its cap with no tolerance, whatever the summation order; Σw within
1e-12 of 1; the polish never declines). Cases: constructed degenerate structures (a cluster cap that is a whole
number of asset caps, cluster caps summing to exactly 1, single-asset clusters, caps that bind or not) and rolling
windows of skfolio's S&P 500 prices (20 stocks, shipped with skfolio). `python -m tests.portfolio.test_mvo_exact`
prints the worst cases of the full real-data sweep.
"""

from __future__ import annotations

import math
import sys

import cvxpy as cp
import numpy as np
import pytest

from dataflows.portfolio import NoPositiveExcessReturn, PortfolioError, SolverFailed, mvo
from dataflows.portfolio.caps import cluster_caps
from dataflows.portfolio.mvo import PolishFailed, max_sharpe_weights, min_variance_weights, polish

TIGHT = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12}
FIVE = np.repeat(np.arange(5), 4)  # 20 assets in five clusters of four
SECTORS = {  # a fixed partition of skfolio's S&P 500 columns, with a two-stock and a one-stock cluster
    **dict.fromkeys(["AAPL", "AMD", "MSFT"], 0),
    **dict.fromkeys(["BAC", "JPM"], 1),
    **dict.fromkeys(["BBY", "HD", "WMT"], 2),
    **dict.fromkeys(["KO", "PEP", "PG"], 3),
    **dict.fromkeys(["CVX", "XOM", "RRC"], 4),
    **dict.fromkeys(["JNJ", "LLY", "MRK", "PFE", "UNH"], 5),
    "GE": 6,
}


# --------------------------------------------------------------------------- references and checks


def _labels_caps(groups: np.ndarray, cc: float | np.ndarray) -> list[tuple[np.ndarray, float]]:
    labels = np.unique(groups)
    caps = np.broadcast_to(np.asarray(cc, dtype=float), labels.shape)
    return [(np.flatnonzero(groups == lab), float(c)) for lab, c in zip(labels, caps, strict=True)]


def _cvxpy(kind: str, cov: np.ndarray, mu: np.ndarray, cap: float, groups, cc) -> np.ndarray:
    """Plain cvxpy + Clarabel at 1e-12 (Σ scaled by its mean variance, μ by its largest |μ|: same argmin)."""
    n = cov.shape[0]
    scaled = cp.psd_wrap(cov / np.mean(np.diag(cov)))
    v, scale = cp.Variable(n), 1.0
    if kind == "min_variance":
        constraints = [cp.sum(v) == 1, v >= 0, v <= cap]
    else:
        scale = cp.Variable()
        constraints = [(mu / np.abs(mu).max()) @ v == 1, cp.sum(v) == scale, v >= 0, v <= cap * scale, scale >= 0]
    if groups is not None:
        constraints += [cp.sum(v[idx]) <= c * scale for idx, c in _labels_caps(groups, cc)]
    cp.Problem(cp.Minimize(cp.quad_form(v, scaled)), constraints).solve(solver="CLARABEL", **TIGHT)
    return v.value if kind == "min_variance" else v.value / scale.value


def _greedy_min(c: np.ndarray, cap: float, groups, cc) -> np.ndarray:
    """argmin cᵀv over Σv = 1, 0 <= v <= cap, cluster totals <= caps: fill the cheapest assets (exact, laminar)."""
    room = np.full(c.size, np.inf)
    if groups is not None:
        for idx, cg in _labels_caps(groups, cc):
            room[idx] = cg
    v, left, used = np.zeros(c.size), 1.0, {}
    for i in np.argsort(c, kind="stable"):
        key = -1 if groups is None else int(groups[i])
        v[i] = max(0.0, min(cap, left, room[i] - used.get(key, 0.0)))
        used[key] = used.get(key, 0.0) + v[i]
        left -= v[i]
    return v


def _fw_gap(kind: str, w: np.ndarray, cov: np.ndarray, mu: np.ndarray, cap: float, groups, cc) -> float:
    """Relative Frank-Wolfe gap max_v ∇ᵀ(w - v) (descent form): 0 exactly at the optimum (MaxSharpe: the ratio is
    pseudo-concave, so a zero gap of its linearisation certifies the global maximum too)."""
    if kind == "min_variance":
        grad = 2.0 * cov @ w
        return float(grad @ w - grad @ _greedy_min(grad, cap, groups, cc)) / float(w @ cov @ w)
    sd = math.sqrt(float(w @ cov @ w))
    grad = -(mu / sd - float(mu @ w) * (cov @ w) / sd**3)  # of -Sharpe
    return float(grad @ w - grad @ _greedy_min(grad, cap, groups, cc)) / (float(mu @ w) / sd)


def _objective(kind: str, w: np.ndarray, cov: np.ndarray, mu: np.ndarray) -> float:
    return float(w @ cov @ w) if kind == "min_variance" else float(mu @ w) / math.sqrt(float(w @ cov @ w))


def _cap_excess(w: np.ndarray, cap: float, groups, cc) -> float:
    """Largest w_i - cap and cluster total - cluster cap, totals summed four ways (> 0: a cap is exceeded)."""
    worst = float((w - cap).max())
    if groups is not None:
        for idx, c in _labels_caps(groups, cc):
            part = w[idx]
            totals = [float(part.sum()), math.fsum(part), sum(part.tolist()), float(np.cumsum(part)[-1])]
            worst = max(worst, *(t - c for t in totals))
        cl = cluster_caps(groups, cc, w.size)
        worst = max(worst, float((cl.totals(w) - cl.caps).max()))  # the stable-sum gate's own totals
    return worst


def _solve(kind: str, cov: np.ndarray, mu: np.ndarray, cap: float, groups, cc) -> mvo.OptimizationResult:
    kw = {} if groups is None else {"groups": groups, "cluster_cap": cc}
    return min_variance_weights(cov, cap, **kw) if kind == "min_variance" else max_sharpe_weights(cov, mu, cap, **kw)


def _measure(kind: str, cov: np.ndarray, mu: np.ndarray, cap: float, groups, cc) -> tuple[np.ndarray, dict]:
    """Our weights and how they compare: objective gap vs cvxpy (relative, > 0: ours worse), FW gap, cap excess,
    |Σw - 1|, max |Δw| vs cvxpy, polished."""
    res = _solve(kind, cov, mu, cap, groups, cc)
    w, ref = res.weights, _cvxpy(kind, cov, mu, cap, groups, cc)
    ours, theirs = _objective(kind, w, cov, mu), _objective(kind, ref, cov, mu)
    gap = (ours - theirs) / abs(theirs) if kind == "min_variance" else (theirs - ours) / abs(theirs)
    return w, {
        "gap": gap,
        "fw": _fw_gap(kind, w, cov, mu, cap, groups, cc),
        "excess": _cap_excess(w, cap, groups, cc),
        "sum": abs(math.fsum(w) - 1.0),
        "dw": float(np.abs(w - ref).max()),
        "polished": res.polished and res.status == "Solved",
    }


def _assert_exact(m: dict) -> None:
    assert m["polished"], "the polish declined"
    assert m["gap"] <= 1e-9, f"objective {m['gap']:.3g} (relative) worse than plain cvxpy"
    assert m["fw"] <= 1e-10, f"Frank-Wolfe gap {m['fw']:.3g}: not optimal"
    assert m["excess"] <= 0.0, f"a cap is exceeded by {m['excess']:.3g}"
    assert m["sum"] <= 1e-12, f"weights sum to 1 {m['sum']:+.3g}"


# --------------------------------------------------------------------------- constructed degenerate structures


def _structured(n: int, attractive: list[int], link: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Σ, μ where the `attractive` assets are low-volatility, mutually uncorrelated and high-return: they pile up at
    the caps (correlated `link` with the others, which then stay out of MinVar entirely)."""
    rng = np.random.default_rng(seed)
    vols = rng.uniform(0.18, 0.25, n)
    corr = np.full((n, n), 0.3)
    vols[attractive] = rng.uniform(0.05, 0.06, len(attractive))
    corr[attractive, :] = corr[:, attractive] = link
    corr[np.ix_(attractive, attractive)] = 0.0
    np.fill_diagonal(corr, 1.0)
    mu = rng.uniform(0.02, 0.05, n)
    mu[attractive] = rng.uniform(0.15, 0.2, len(attractive))
    return corr * np.outer(vols, vols), mu


STRUCTURES = {  # name: (n, cap, groups, cluster caps, attractive assets, clusters sitting exactly at their cap)
    "cluster cap = 2 asset caps (0.25 / 0.5)": (12, 0.25, np.repeat(np.arange(3), 4), 0.5, [0, 1], [0]),
    "cluster cap = 3 asset caps (0.1 / 0.3)": (20, 0.1, np.repeat(np.arange(4), 5), 0.3, [0, 1, 2, 5, 6, 7], [0, 1]),
    "five clusters at 0.2 (sum = 1)": (20, 0.25, FIVE, 0.2, [0, 4], [0, 1, 2, 3, 4]),
    "uneven caps summing to 1": (20, 0.1, FIVE, np.array([0.3, 0.2, 0.2, 0.1, 0.2]), [0, 1, 2], [0, 1, 2, 3, 4]),
    "single-asset clusters": (10, 0.3, np.array([0, 1, 2, 3, 3, 3, 4, 4, 4, 4]), [0.05, 0.3, 0.3, 0.6, 0.6], [0], [0]),
    "cluster caps that do not bind": (12, 0.15, np.repeat(np.arange(2), 6), 0.6, [], []),
    "every asset at a bound, no clusters": (12, 0.25, None, None, [0, 1, 2, 3], [], 0.2),
}


@pytest.mark.parametrize("kind", ["min_variance", "max_sharpe"])
@pytest.mark.parametrize("name", list(STRUCTURES))
def test_degenerate_structures_are_exact(kind: str, name: str) -> None:
    n, cap, groups, cc, attractive, full, *link = STRUCTURES[name]
    cov, mu = _structured(n, attractive, *link)
    w, m = _measure(kind, cov, mu, cap, groups, cc)
    _assert_exact(m)
    if kind == "min_variance" and groups is not None:  # the degenerate structure really occurs
        for g, (idx, c) in enumerate(_labels_caps(groups, cc)):
            assert (math.fsum(w[idx]) == pytest.approx(c, rel=0, abs=1e-14)) == (g in full), f"cluster {g}"
    if kind == "min_variance" and groups is None:
        assert (w[attractive] == cap).all() and (np.delete(w, attractive) == 0).all()  # no free asset at all


def test_caps_hold_in_floating_point_where_the_sum_of_caps_rounds_up() -> None:
    """0.1 + 0.1 + 0.1 = 0.30000000000000004 > 0.3: three assets at the cap in a cluster capped at 0.3 must give."""
    cov, mu = _structured(20, [0, 1, 2, 5, 6, 7])
    groups = np.repeat(np.arange(4), 5)
    assert 0.1 + 0.1 + 0.1 > 0.3
    for kind in ("min_variance", "max_sharpe"):
        w = _solve(kind, cov, mu, 0.1, groups, 0.3).weights
        assert _cap_excess(w, 0.1, groups, 0.3) <= 0.0
        np.testing.assert_allclose(w[[0, 1, 2]], 0.1, rtol=1e-15, atol=0)  # moved by a few ulps


@pytest.mark.parametrize("tol", [1e-5, 1e-8])
def test_polished_weights_do_not_depend_on_the_interior_point_tolerance(tol: float) -> None:
    cov, mu = _structured(20, [0, 4])
    settings = mvo.SolverSettings(tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol)
    for cls, args in ((mvo.MinVariance, (cov,)), (mvo.MaxSharpe, (cov, mu))):
        rough = cls(20, 0.25, settings, groups=FIVE, cluster_cap=0.2).solve(*args)
        exact = cls(20, 0.25, groups=FIVE, cluster_cap=0.2).solve(*args)
        assert rough.polished and exact.polished
        np.testing.assert_allclose(rough.weights, exact.weights, rtol=0, atol=1e-13)


# --------------------------------------------------------------------------- real data: skfolio's S&P 500


@pytest.fixture(scope="module")
def sp500() -> tuple[np.ndarray, np.ndarray]:
    """Daily returns of skfolio's 20 S&P 500 stocks (1990-2022, shipped in the package) and the sector labels."""
    return _sp500()


def _sp500() -> tuple[np.ndarray, np.ndarray]:
    from skfolio.datasets import load_sp500_dataset

    prices = load_sp500_dataset()
    returns = prices.pct_change().iloc[1:].to_numpy()
    return returns, np.array([SECTORS[s] for s in prices.columns])


def _configs(sectors: np.ndarray) -> dict[str, tuple]:
    return {
        "0.25 / 0.5 sectors": (0.25, sectors, 0.5),
        "0.1 / 0.3 sectors": (0.1, sectors, 0.3),
        "0.1 / 0.3 five": (0.1, FIVE, 0.3),
        "0.25 / 0.2 five (sum 1)": (0.25, FIVE, 0.2),
        "0.1 uneven (sum 1)": (0.1, FIVE, np.array([0.3, 0.2, 0.2, 0.1, 0.2])),
        "0.2, one-stock cluster at 0.05": (0.2, sectors, np.array([0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.05])),
        "0.15 / 0.6 (loose)": (0.15, sectors, 0.6),
        "0.25, no clusters": (0.25, None, None),
    }


def sweep(returns: np.ndarray, sectors: np.ndarray, step: int, window: int = 252) -> dict[str, dict]:
    """Worst case of every measure over rolling windows, per (method, config); annualised moments."""
    worst: dict[str, dict] = {}
    for start in range(0, returns.shape[0] - window + 1, step):
        x = returns[start : start + window]
        cov, mu = np.cov(x, rowvar=False) * 252, x.mean(axis=0) * 252
        for name, (cap, groups, cc) in _configs(sectors).items():
            for kind in ("min_variance", "max_sharpe"):
                try:
                    _, m = _measure(kind, cov, mu, cap, groups, cc)
                except NoPositiveExcessReturn:
                    continue
                acc = worst.setdefault(f"{kind} {name}", {"solves": 0, "declined": 0})
                acc["solves"] += 1
                acc["declined"] += not m.pop("polished")
                for key, value in m.items():
                    acc[key] = max(acc.get(key, -np.inf), value)
    return worst


def _assert_sweep(worst: dict[str, dict]) -> None:
    for case, acc in worst.items():
        assert acc["declined"] == 0, case
        _assert_exact({**acc, "polished": True}) if acc["solves"] else None


def test_real_data_rolling_windows(sp500: tuple[np.ndarray, np.ndarray]) -> None:
    """32 windows of 252 days (yearly) x 8 cap configurations x both methods against plain cvxpy."""
    _assert_sweep(sweep(*sp500, step=252))


@pytest.mark.slow
def test_real_data_rolling_windows_full(sp500: tuple[np.ndarray, np.ndarray]) -> None:
    """128 windows of 252 days (every quarter), the same configurations."""
    _assert_sweep(sweep(*sp500, step=63))


# --------------------------------------------------------------------------- pieces and failures


def test_within_caps_makes_every_summation_order_respect_the_cluster_cap() -> None:
    groups = np.array([0, 0, 0, 1, 1, 1, 1])
    w = np.array([0.1, 0.1, 0.1, 0.175, 0.175, 0.175, 0.175])
    clusters = cluster_caps(groups, np.array([0.3, 0.7]), 7)
    out = mvo._within_caps(w, 0.175, clusters)
    assert _cap_excess(out, 0.175, groups, np.array([0.3, 0.7])) <= 0.0
    assert abs(math.fsum(out) - 1.0) <= 1e-15
    np.testing.assert_allclose(out, w, rtol=1e-15, atol=0)  # a few ulps
    far = np.array([0.1, 0.05, 0.05, 0.2, 0.2, 0.2, 0.2])
    assert (mvo._within_caps(far, 0.25, cluster_caps(groups, np.array([0.5, 0.9]), 7)) == far).all()  # untouched


def test_independent_rows_and_least_violation() -> None:
    budget, c0, c1 = np.ones(4), np.array([1.0, 1, 0, 0]), np.array([0.0, 0, 1, 1])
    assert mvo._independent_rows(np.array([budget, c0, c1])).tolist() == [0, 1]  # budget = c0 + c1
    assert mvo._independent_rows(np.array([budget, 5.6e-17 * np.eye(4)[0], c0])).tolist() == [0, 2]
    # t >= 1, t <= 3: no violation, the middle; t >= 2 and t <= 1 (weights 1, 3): the heavier side wins
    assert mvo._least_violation(np.array([-1.0, 3.0]), np.array([1.0, -1.0])) == 2.0
    assert mvo._least_violation(np.array([-2.0, 3.0]), np.array([1.0, -3.0])) == 1.0


def test_a_polish_that_cannot_finish_raises_never_clips(monkeypatch: pytest.MonkeyPatch) -> None:
    cov, mu = _structured(20, [0, 4])
    monkeypatch.setattr(polish, "_active_set_search", lambda *args: None)
    for call in (lambda: min_variance_weights(cov, 0.25), lambda: max_sharpe_weights(cov, mu, 0.25)):
        with pytest.raises(PolishFailed, match="no exact KKT point") as err:
            call()
        assert isinstance(err.value, SolverFailed | PortfolioError) and err.value.status == "PolishFailed"
    singular = np.cov(np.random.default_rng(0).standard_normal((8, 20)), rowvar=False)  # T < N
    with pytest.raises(PolishFailed, match="covariance is singular"):
        min_variance_weights(singular, 0.25)


def test_max_sharpe_with_a_riskless_positive_portfolio_is_a_typed_error() -> None:
    """Two perfectly anti-correlated assets hedge to zero variance with positive return: the Sharpe ratio is
    unbounded: a typed error, not a ValueError from math.sqrt of a negative round-off variance, nor inf."""
    x = np.random.default_rng(1).standard_normal(300) * 0.01
    cov = np.cov(np.column_stack([x, -x, np.random.default_rng(2).standard_normal(300) * 0.01]), rowvar=False)
    with pytest.raises(SolverFailed, match="unbounded") as err:
        max_sharpe_weights(cov, np.array([0.01, 0.01, 0.0]), 1.0)
    assert err.value.status in ("RisklessPortfolio", "PolishFailed")


if __name__ == "__main__":  # worst cases of the full sweep: python -m tests.portfolio.test_mvo_exact [step]
    worst = sweep(*_sp500(), step=int(sys.argv[1]) if len(sys.argv) > 1 else 63)
    print(
        f"{'case':48s} {'solves':>6s} {'declined':>8s} {'gap':>10s} {'fw':>10s} {'excess':>10s} {'sum':>9s} {'dw':>9s}"
    )
    for case, a in worst.items():
        print(
            f"{case:48s} {a['solves']:6d} {a['declined']:8d} {a['gap']:10.2e} {a['fw']:10.2e} {a['excess']:10.2e} "
            f"{a['sum']:9.1e} {a['dw']:9.1e}"
        )
