"""MinVar / MaxSharpe against plain cvxpy (quad_form on the same Σ), risk parity against its definition."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from dataflows.errors import DataflowsError
from dataflows.portfolio import (
    InfeasibleCaps,
    InvalidInput,
    NoPositiveExcessReturn,
    SolverFailed,
    ZeroVarianceAssets,
)
from dataflows.portfolio.mvo import (
    InfeasibleClusterCaps,
    MaxSharpe,
    MinVariance,
    SolverSettings,
    max_sharpe_weights,
    min_variance_weights,
    risk_parity_weights,
    stable_sum_ok,
)

TIGHT = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12}


def _data(seed: int, n: int, t: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Seeded factor-model daily returns -> (sample covariance, mean returns)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((t, 4)) @ rng.standard_normal((4, n)) * 0.01
    x += rng.standard_normal((t, n)) * 0.02 * rng.uniform(0.5, 2.0, n) + rng.normal(0.0005, 0.0005, n)
    return np.cov(x, rowvar=False), x.mean(axis=0)


def _cvxpy_min_variance(cov: np.ndarray, cap: float) -> np.ndarray:
    w = cp.Variable(cov.shape[0])
    scaled = cov / np.mean(np.diag(cov))  # same argmin; keeps the reference's tolerances meaningful
    problem = cp.Problem(cp.Minimize(cp.quad_form(w, cp.psd_wrap(scaled))), [cp.sum(w) == 1, w >= 0, w <= cap])
    problem.solve(solver="CLARABEL", **TIGHT)
    return w.value


def _cvxpy_max_sharpe(cov: np.ndarray, mu: np.ndarray, cap: float, rf: float) -> np.ndarray:
    y, kappa = cp.Variable(cov.shape[0]), cp.Variable()
    scaled = cov / np.mean(np.diag(cov))
    constraints = [(mu - rf) @ y == 1, cp.sum(y) == kappa, y >= 0, y <= cap * kappa, kappa >= 0]
    cp.Problem(cp.Minimize(cp.quad_form(y, cp.psd_wrap(scaled))), constraints).solve(solver="CLARABEL", **TIGHT)
    return y.value / kappa.value


def _risk_contributions(cov: np.ndarray, w: np.ndarray) -> np.ndarray:
    return w * (cov @ w) / float(w @ cov @ w)


# --------------------------------------------------------------------------- against plain cvxpy


@pytest.mark.parametrize(("n", "cap"), [(40, 0.1), (40, 0.05), (120, 0.03), (25, 1.0)])
def test_min_variance_matches_cvxpy(n: int, cap: float) -> None:
    cov, _ = _data(n, n)
    res = min_variance_weights(cov, cap)
    np.testing.assert_allclose(res.weights, _cvxpy_min_variance(cov, cap), rtol=0, atol=1e-6)
    assert res.status == "Solved" and res.polished
    assert res.objective == pytest.approx(res.weights @ cov @ res.weights)


@pytest.mark.parametrize(("n", "cap", "rf"), [(40, 0.1, 0.0), (40, 0.05, 0.0003), (120, 0.03, 0.0), (25, 1.0, 0.0)])
def test_max_sharpe_matches_cvxpy(n: int, cap: float, rf: float) -> None:
    cov, mu = _data(n + 1, n)
    res = max_sharpe_weights(cov, mu, cap, risk_free=rf)
    np.testing.assert_allclose(res.weights, _cvxpy_max_sharpe(cov, mu, cap, rf), rtol=0, atol=1e-6)
    assert res.status == "Solved" and res.polished
    w = res.weights
    assert res.objective == pytest.approx((mu - rf) @ w / np.sqrt(w @ cov @ w))


@pytest.mark.parametrize("kind", ["min_variance", "max_sharpe"])
def test_caps_hold_and_bind(kind: str) -> None:
    cov, mu = _data(3, 60)
    cap = 0.04
    res = min_variance_weights(cov, cap) if kind == "min_variance" else max_sharpe_weights(cov, mu, cap)
    assert stable_sum_ok(res.weights, 0.0, cap, tol=1e-9) == (True, "")
    assert (res.weights >= 0).all() and (res.weights <= cap).all()
    assert np.isclose(res.weights, cap, rtol=0, atol=1e-9).sum() >= 1  # the cap binds: it is really enforced


def test_unpolished_interior_point_is_close() -> None:
    cov, _ = _data(5, 50)
    rough = MinVariance(50, 0.1, SolverSettings(polish=False)).solve(cov)
    assert not rough.polished
    np.testing.assert_allclose(rough.weights, _cvxpy_min_variance(cov, 0.1), rtol=0, atol=1e-4)


# --------------------------------------------------------------------------- build once, re-solve


def test_min_variance_resolve_equals_fresh_solve() -> None:
    (cov1, _), (cov2, _) = _data(11, 50), _data(12, 50)
    problem = MinVariance(50, 0.08)
    problem.solve(cov1)
    again = problem.solve(cov2)
    fresh = MinVariance(50, 0.08).solve(cov2)
    np.testing.assert_allclose(again.weights, fresh.weights, rtol=0, atol=1e-9)
    np.testing.assert_allclose(again.weights, _cvxpy_min_variance(cov2, 0.08), rtol=0, atol=1e-6)


def test_max_sharpe_resolve_with_new_mu_equals_fresh_solve() -> None:
    (cov1, mu1), (cov2, mu2) = _data(21, 50), _data(22, 50)
    mu2 = mu2.copy()
    mu2[:5] = 0.0  # structural zeros of the excess-return row must survive the update
    problem = MaxSharpe(50, 0.08)
    problem.solve(cov1, mu1)
    again = problem.solve(cov2, mu2)
    fresh = MaxSharpe(50, 0.08).solve(cov2, mu2)
    np.testing.assert_allclose(again.weights, fresh.weights, rtol=0, atol=1e-9)
    np.testing.assert_allclose(again.weights, _cvxpy_max_sharpe(cov2, mu2, 0.08, 0.0), rtol=0, atol=1e-6)


def test_function_api_reuses_the_built_problem() -> None:
    from dataflows.portfolio import mvo

    (cov1, _), (cov2, _) = _data(31, 30), _data(32, 30)
    min_variance_weights(cov1, 0.2)
    first = mvo._problem(MinVariance, 30, 0.2)
    min_variance_weights(cov2, 0.2)
    assert mvo._problem(MinVariance, 30, 0.2) is first


# --------------------------------------------------------------------------- risk parity


@pytest.mark.parametrize("n", [2, 10, 60])
def test_risk_parity_has_equal_risk_contributions(n: int) -> None:
    cov, _ = _data(40 + n, n)
    res = risk_parity_weights(cov)
    rc = _risk_contributions(cov, res.weights)
    np.testing.assert_allclose(rc, np.full(n, 1.0 / n), rtol=1e-6, atol=0)
    assert abs(res.weights.sum() - 1.0) < 1e-12 and (res.weights > 0).all()


def test_risk_parity_budgets() -> None:
    cov, _ = _data(50, 12)
    budgets = np.linspace(1.0, 3.0, 12)
    rc = _risk_contributions(cov, risk_parity_weights(cov, budgets).weights)
    np.testing.assert_allclose(rc, budgets / budgets.sum(), rtol=1e-6, atol=0)


def test_risk_parity_matches_clarabel_exponential_cone() -> None:
    """The log-barrier form solved by Clarabel through cvxpy (exponential cones) agrees with the Newton solution."""
    cov, _ = _data(60, 20)
    scaled = cov / np.mean(np.diag(cov))
    y = cp.Variable(20)
    problem = cp.Problem(cp.Minimize(0.5 * cp.quad_form(y, cp.psd_wrap(scaled)) - cp.sum(cp.log(y)) / 20))
    problem.solve(solver="CLARABEL", **TIGHT)
    assert problem.status == "optimal"
    np.testing.assert_allclose(risk_parity_weights(cov).weights, y.value / y.value.sum(), rtol=1e-6, atol=0)


# --------------------------------------------------------------------------- edge cases and errors


@pytest.mark.parametrize(("n", "cap"), [(9, 0.1), (3, 0.2), (40, 0.02)])
def test_infeasible_caps_are_named_never_relaxed(n: int, cap: float) -> None:
    cov, mu = _data(1, n)
    for call in (lambda: min_variance_weights(cov, cap), lambda: max_sharpe_weights(cov, mu, cap)):
        with pytest.raises(InfeasibleCaps, match=rf"{n} assets x cap {cap:g}") as err:
            call()
        assert (err.value.n, err.value.cap) == (n, cap)
        assert isinstance(err.value, DataflowsError)


def test_n_times_cap_equal_one_is_the_equal_weight_portfolio() -> None:
    cov, mu = _data(2, 10)
    for res in (min_variance_weights(cov, 0.1), max_sharpe_weights(cov, mu, 0.1)):
        assert res.status == "UniqueFeasiblePoint"
        np.testing.assert_allclose(res.weights, np.full(10, 0.1), rtol=0, atol=0)


def test_max_sharpe_without_excess_return_raises() -> None:
    cov, mu = _data(3, 20)
    with pytest.raises(NoPositiveExcessReturn, match="risk-free rate"):
        max_sharpe_weights(cov, mu, 0.2, risk_free=float(mu.max()) + 1e-6)
    # one asset beats r_f, but under a 10% cap the rest of the book drags every portfolio below it
    lopsided = np.full(20, -0.01)
    lopsided[0] = 0.01
    with pytest.raises(NoPositiveExcessReturn, match=r"within cap 0\.1"):
        max_sharpe_weights(cov, lopsided, 0.1)


def test_duplicated_asset_singular_covariance() -> None:
    """Twins make Σ singular: the optimum is not unique, so compare the objective and the twins' total weight."""
    base, mu = _data(4, 30)
    cov = np.insert(np.insert(base, 30, base[7], axis=0), 30, np.append(base[7], base[7, 7]), axis=1)
    mu_dup = np.append(mu, mu[7])
    mv = min_variance_weights(cov, 0.1)
    ref = _cvxpy_min_variance(cov, 0.1)
    assert stable_sum_ok(mv.weights, 0.0, 0.1, tol=1e-9)[0]
    assert mv.objective == pytest.approx(float(ref @ cov @ ref), rel=1e-7)
    ms = max_sharpe_weights(cov, mu_dup, 0.1)
    ref = _cvxpy_max_sharpe(cov, mu_dup, 0.1, 0.0)
    assert stable_sum_ok(ms.weights, 0.0, 0.1, tol=1e-9)[0]
    assert ms.objective == pytest.approx(float(mu_dup @ ref) / np.sqrt(ref @ cov @ ref), rel=1e-7)
    rp = risk_parity_weights(cov)  # strictly convex even with twins: unique, twins share equally
    np.testing.assert_allclose(_risk_contributions(cov, rp.weights), np.full(31, 1 / 31), rtol=1e-6)
    assert rp.weights[7] == pytest.approx(rp.weights[30], rel=1e-9)


def test_zero_variance_asset_is_rejected_by_name() -> None:
    cov, mu = _data(5, 15)
    cov[4, :] = cov[:, 4] = 0.0
    for call in (
        lambda: min_variance_weights(cov, 0.2),
        lambda: max_sharpe_weights(cov, mu, 0.2),
        lambda: risk_parity_weights(cov),
    ):
        with pytest.raises(ZeroVarianceAssets, match="columns 4") as err:
            call()
        assert err.value.columns == (4,)


def test_solver_failure_is_typed_with_status() -> None:
    cov, _ = _data(6, 20)
    with pytest.raises(SolverFailed, match="MaxIterations") as err:
        MinVariance(20, 0.1, SolverSettings(max_iter=2)).solve(cov)
    assert err.value.status == "MaxIterations"


def test_risk_parity_without_solution_fails_cleanly() -> None:
    with pytest.raises(SolverFailed, match=r"no ERC portfolio exists|did not converge"):
        risk_parity_weights(np.array([[1.0, -1.0], [-1.0, 1.0]]))  # the pair is riskless


@pytest.mark.parametrize(
    ("cov", "match"),
    [
        (np.eye(3, dtype=np.float32), "float64"),
        (np.array([[1.0, 0.5], [0.1, 1.0]]), "symmetric"),
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), r"covariance\[0, 1\] = nan"),
        (np.ones(3), "square"),
    ],
)
def test_bad_covariance_is_named(cov: np.ndarray, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        min_variance_weights(cov, 1.0)


def test_bad_expected_returns_and_problem_size() -> None:
    cov, mu = _data(7, 10)
    with pytest.raises(InvalidInput, match=r"shape \(10,\)"):
        max_sharpe_weights(cov, mu[:9], 0.2)
    bad = mu.copy()
    bad[3] = np.inf
    with pytest.raises(InvalidInput, match=r"expected_returns\[3\] = inf"):
        max_sharpe_weights(cov, bad, 0.2)
    with pytest.raises(InvalidInput, match="built for n=11"):
        MinVariance(11, 0.2).solve(cov)


# --------------------------------------------------------------------------- the stable-sum gate


@pytest.mark.parametrize(
    ("w", "ok", "reason"),
    [
        ([0.5, 0.5], True, ""),
        ([0.5, 0.5 + 5e-7], True, ""),
        ([0.5, np.nan], False, "must be finite"),
        ([0.5, 0.49], False, "sum to 0.99"),
        ([1.2, -0.2], False, "below its lower bound"),
        ([0.7, 0.3], False, "above its upper bound 0.6"),
    ],
)
def test_stable_sum_gate(w: list[float], ok: bool, reason: str) -> None:
    got_ok, got_reason = stable_sum_ok(np.array(w), 0.0, np.array([0.6, 0.6]))
    assert got_ok is ok
    assert reason in got_reason and (got_reason == "") is ok


# --------------------------------------------------------------------------- cluster caps


def _cluster_constraints(v: cp.Variable, groups: np.ndarray, cluster_cap: float | np.ndarray, scale: object = 1.0):
    labels = np.unique(groups)
    caps = np.broadcast_to(np.asarray(cluster_cap, dtype=float), labels.shape)
    return [cp.sum(v[np.flatnonzero(groups == lab)]) <= c * scale for lab, c in zip(labels, caps, strict=True)]


def _cvxpy_min_variance_clusters(cov: np.ndarray, cap: float, groups: np.ndarray, cc: float | np.ndarray) -> np.ndarray:
    w = cp.Variable(cov.shape[0])
    scaled = cov / np.mean(np.diag(cov))
    constraints = [cp.sum(w) == 1, w >= 0, w <= cap, *_cluster_constraints(w, groups, cc)]
    cp.Problem(cp.Minimize(cp.quad_form(w, cp.psd_wrap(scaled))), constraints).solve(solver="CLARABEL", **TIGHT)
    return w.value


def _cvxpy_max_sharpe_clusters(
    cov: np.ndarray, mu: np.ndarray, cap: float, groups: np.ndarray, cc: float | np.ndarray, rf: float = 0.0
) -> np.ndarray:
    y, kappa = cp.Variable(cov.shape[0]), cp.Variable()
    scaled = cov / np.mean(np.diag(cov))
    constraints = [(mu - rf) @ y == 1, cp.sum(y) == kappa, y >= 0, y <= cap * kappa, kappa >= 0]
    constraints += _cluster_constraints(y, groups, cc, kappa)
    cp.Problem(cp.Minimize(cp.quad_form(y, cp.psd_wrap(scaled))), constraints).solve(solver="CLARABEL", **TIGHT)
    return y.value / kappa.value


CLUSTER_CASES = [
    (40, 0.1, 5, 0.2),
    (60, 0.05, 6, 0.2),
    (120, 0.03, 10, 0.12),
    (30, 1.0, 3, 0.35),
    (30, 0.1, 4, np.array([0.25, 0.3, 0.2, 0.5])),
    (20, 0.1, 4, 0.25),  # Σ_g min(c_g, n_g cap) = 1 exactly: every cluster is held at its cap
]


def _grouped(seed: int, n: int, n_groups: int) -> np.ndarray:
    if n == 20:
        return np.repeat(np.arange(n_groups), n // n_groups) * 3 - 5  # arbitrary integer labels
    return np.random.default_rng(seed).integers(0, n_groups, n)


@pytest.mark.parametrize(("n", "cap", "n_groups", "cc"), CLUSTER_CASES)
def test_min_variance_with_cluster_caps_matches_cvxpy(n: int, cap: float, n_groups: int, cc: float) -> None:
    cov, _ = _data(100 + n, n)
    groups = _grouped(n, n, n_groups)
    res = min_variance_weights(cov, cap, groups=groups, cluster_cap=cc)
    ref = _cvxpy_min_variance_clusters(cov, cap, groups, cc)
    np.testing.assert_allclose(res.weights, ref, rtol=0, atol=1e-6)
    assert res.status == "Solved" and res.polished  # the polish handles active cluster rows exactly
    assert stable_sum_ok(res.weights, 0.0, cap, 1e-12, groups, cc) == (True, "")
    caps = np.broadcast_to(cc, (n_groups,))
    totals = np.array([res.weights[groups == lab].sum() for lab in np.unique(groups)])
    assert np.isclose(totals, caps, rtol=0, atol=1e-12).any()  # some cluster cap binds


@pytest.mark.parametrize(("n", "cap", "n_groups", "cc"), CLUSTER_CASES)
def test_max_sharpe_with_cluster_caps_matches_cvxpy(n: int, cap: float, n_groups: int, cc: float) -> None:
    cov, mu = _data(200 + n, n)
    groups = _grouped(n, n, n_groups)
    res = max_sharpe_weights(cov, mu, cap, groups=groups, cluster_cap=cc)
    np.testing.assert_allclose(res.weights, _cvxpy_max_sharpe_clusters(cov, mu, cap, groups, cc), rtol=0, atol=1e-6)
    assert res.status == "Solved" and res.polished
    assert stable_sum_ok(res.weights, 0.0, cap, 1e-12, groups, cc) == (True, "")


def test_cluster_cap_binds_on_correlated_low_vol_pair() -> None:
    """Two highly correlated low-vol assets in one cluster take ~60% of MinVar; a 30% cluster cap binds."""
    rng = np.random.default_rng(0)
    n = 8
    vols = np.array([0.05, 0.05, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2])
    corr = np.full((n, n), 0.3)
    corr[0, 1] = corr[1, 0] = 0.97
    np.fill_diagonal(corr, 1.0)
    cov = corr * np.outer(vols, vols)
    mu = np.full(n, 0.05) + rng.uniform(0.0, 0.01, n)
    groups = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    free = min_variance_weights(cov, 0.5)
    assert free.weights[:2].sum() > 0.6
    capped = min_variance_weights(cov, 0.5, groups=groups, cluster_cap=0.3)
    assert capped.weights[:2].sum() == pytest.approx(0.3, abs=1e-12) and capped.polished
    np.testing.assert_allclose(capped.weights, _cvxpy_min_variance_clusters(cov, 0.5, groups, 0.3), atol=1e-6)
    assert capped.objective > free.objective  # the cap costs variance: it really constrains
    ms_free = max_sharpe_weights(cov, mu, 0.5)
    assert ms_free.weights[:2].sum() > 0.3
    ms = max_sharpe_weights(cov, mu, 0.5, groups=groups, cluster_cap=0.3)
    assert ms.weights[:2].sum() == pytest.approx(0.3, abs=1e-12) and ms.polished
    np.testing.assert_allclose(ms.weights, _cvxpy_max_sharpe_clusters(cov, mu, 0.5, groups, 0.3), atol=1e-6)


def test_cluster_capped_resolve_equals_fresh_solve() -> None:
    (cov1, mu1), (cov2, mu2) = _data(41, 50), _data(42, 50)
    groups = np.arange(50) % 5
    mv = MinVariance(50, 0.08, groups=groups, cluster_cap=0.22)
    mv.solve(cov1)
    again = mv.solve(cov2)
    np.testing.assert_allclose(
        again.weights, MinVariance(50, 0.08, groups=groups, cluster_cap=0.22).solve(cov2).weights, rtol=0, atol=1e-9
    )
    np.testing.assert_allclose(again.weights, _cvxpy_min_variance_clusters(cov2, 0.08, groups, 0.22), atol=1e-6)
    mu2 = mu2.copy()
    mu2[:5] = 0.0  # structural zeros of the excess-return row survive the update with cluster rows too
    ms = MaxSharpe(50, 0.08, groups=groups, cluster_cap=0.22)
    ms.solve(cov1, mu1)
    again = ms.solve(cov2, mu2)
    fresh = MaxSharpe(50, 0.08, groups=groups, cluster_cap=0.22).solve(cov2, mu2)
    np.testing.assert_allclose(again.weights, fresh.weights, rtol=0, atol=1e-9)
    np.testing.assert_allclose(again.weights, _cvxpy_max_sharpe_clusters(cov2, mu2, 0.08, groups, 0.22), atol=1e-6)


def test_function_api_caches_per_cluster_structure() -> None:
    from dataflows.portfolio import mvo

    (cov1, _), (cov2, _) = _data(51, 30), _data(52, 30)
    groups = np.arange(30) % 3
    min_variance_weights(cov1, 0.2, groups=groups, cluster_cap=0.4)
    first = mvo._problem(MinVariance, 30, 0.2, groups, 0.4)
    min_variance_weights(cov2, 0.2, groups=groups.copy(), cluster_cap=0.4)
    assert mvo._problem(MinVariance, 30, 0.2, groups, 0.4) is first
    assert mvo._problem(MinVariance, 30, 0.2, groups, 0.5) is not first
    assert mvo._problem(MinVariance, 30, 0.2) is not first
    # groups without cluster_cap: no cluster rows, the plain problem
    assert mvo._problem(MinVariance, 30, 0.2, groups, None) is mvo._problem(MinVariance, 30, 0.2)


@pytest.mark.parametrize(("cap", "cc", "capacity"), [(0.1, 0.2, 0.6), (0.05, np.array([0.5, 0.5, 0.2]), 0.95)])
def test_infeasible_cluster_caps_raise(cap: float, cc: float | np.ndarray, capacity: float) -> None:
    cov, mu = _data(8, 30)
    groups = np.repeat([0, 1, 2], [5, 15, 10])
    for call in (
        lambda: min_variance_weights(cov, cap, groups=groups, cluster_cap=cc),
        lambda: max_sharpe_weights(cov, mu, cap, groups=groups, cluster_cap=cc),
    ):
        with pytest.raises(InfeasibleClusterCaps, match=rf"= {capacity:g} < 1 over 3 clusters") as err:
            call()
        assert err.value.capacity == pytest.approx(capacity) and err.value.sizes == (5, 15, 10)


def test_max_sharpe_cluster_caps_can_remove_every_positive_portfolio() -> None:
    cov, _ = _data(9, 20)
    mu = np.full(20, -0.01)
    mu[:4] = 0.02  # the only assets beating r_f share one cluster, capped at 20%
    groups = np.repeat([0, 1, 2, 3, 4], 4)
    assert max_sharpe_weights(cov, mu, 0.5).weights[:4].sum() > 0.9
    with pytest.raises(NoPositiveExcessReturn, match="and the cluster caps"):
        max_sharpe_weights(cov, mu, 0.5, groups=groups, cluster_cap=0.2)
    caps = np.array([0.5, 0.2, 0.2, 0.2, 0.2])
    res = max_sharpe_weights(cov, mu, 0.5, groups=groups, cluster_cap=caps)
    np.testing.assert_allclose(res.weights, _cvxpy_max_sharpe_clusters(cov, mu, 0.5, groups, caps), atol=1e-6)
    assert res.weights[:4].sum() == pytest.approx(0.5, abs=1e-12)
