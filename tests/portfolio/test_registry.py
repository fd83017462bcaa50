"""The optimizer registry: every name against its library call, caps, the unknown-name error, and the meta."""

from __future__ import annotations

import numpy as np
import pytest

from dataflows.config import OPTIMIZERS as CONFIG_OPTIMIZERS
from dataflows.errors import ConfigError
from dataflows.meta.config import METHODS as META_METHODS
from dataflows.meta.flatten import meta_optimize, project_bounds
from dataflows.portfolio import InvalidInput, NoPositiveExcessReturn
from dataflows.portfolio.caps import cap_weights
from dataflows.portfolio.hrp import hrp_weights
from dataflows.portfolio.mvo import max_sharpe_weights, min_variance_weights, risk_parity_weights, stable_sum_ok
from dataflows.portfolio.registry import OPTIMIZERS, OptimizerInput, UnknownOptimizer, optimize, optimizer


def _returns(t: int = 300, n: int = 8, seed: int = 11) -> np.ndarray:
    """Two correlated blocks with different volatilities and drifts (so caps bind for every method)."""
    rng = np.random.default_rng(seed)
    factor = rng.normal(0.0, 0.01, (t, 2))
    x = rng.normal(0.0005, 0.004, (t, n)) * np.linspace(0.5, 3.0, n)
    x[:, : n // 2] += factor[:, :1]
    x[:, n // 2 :] += factor[:, 1:]
    return x


def _input(**kw: object) -> OptimizerInput:
    x = _returns()
    return OptimizerInput(x, np.cov(x, rowvar=False) * 365, x.mean(axis=0) * 365, **kw)  # type: ignore[arg-type]


GROUPS = np.array([0, 0, 0, 0, 1, 1, 2, 2], dtype=np.int64)


def _library(name: str, inp: OptimizerInput) -> np.ndarray:
    """The same method called on the library directly (what the sleeve's and the meta's dispatch used to do)."""
    groups = inp.groups if inp.cluster_cap is not None else None
    cap = 1.0 if inp.cap is None else inp.cap
    if name == "min_variance":
        return min_variance_weights(inp.covariance, cap, groups=groups, cluster_cap=inp.cluster_cap).weights
    if name == "max_sharpe":
        return max_sharpe_weights(
            inp.covariance, inp.mean, cap, inp.risk_free, groups=groups, cluster_cap=inp.cluster_cap
        ).weights
    raw = {
        "hrp": lambda: hrp_weights(inp.returns, linkage=inp.linkage, optimal_ordering=inp.optimal_ordering).weights,
        "risk_parity": lambda: risk_parity_weights(inp.covariance).weights,
        "equal_weight": lambda: np.full(inp.size, 1.0 / inp.size),
    }[name]()
    return cap_weights(raw, cap, groups, inp.cluster_cap)


def test_the_registry_serves_every_configurable_optimizer_and_every_meta_method() -> None:
    assert tuple(OPTIMIZERS) == CONFIG_OPTIMIZERS
    assert set(META_METHODS) <= set(OPTIMIZERS)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"cap": 0.2},
        {"cap": 0.3, "groups": GROUPS, "cluster_cap": 0.45},
        {"cap": 0.3, "groups": GROUPS, "linkage": "ward", "optimal_ordering": True, "risk_free": 0.01},
    ],
    ids=["no-caps", "cap", "cluster-caps", "params"],
)
def test_every_optimizer_equals_its_library_call_and_holds_the_caps(name: str, kw: dict) -> None:
    inp = _input(**kw)
    w = optimize(name, inp)
    assert optimizer(name) is OPTIMIZERS[name]
    np.testing.assert_array_equal(w, _library(name, inp))  # bit for bit
    cap = kw.get("cap", 1.0)
    groups = GROUPS if "cluster_cap" in kw else None
    assert stable_sum_ok(w, 0.0, cap, 1e-7, groups, kw.get("cluster_cap")) == (True, "")


def test_groups_without_a_cluster_cap_change_nothing() -> None:
    for name in OPTIMIZERS:
        np.testing.assert_array_equal(
            optimize(name, _input(cap=0.3, groups=GROUPS)), optimize(name, _input(cap=0.3)), err_msg=name
        )


def test_unknown_name_is_a_one_line_config_error_listing_the_known_ones() -> None:
    with pytest.raises(UnknownOptimizer) as info:
        optimize("kelly", _input())
    text = str(info.value)
    assert isinstance(info.value, ConfigError) and "\n" not in text
    assert text == "unknown optimizer 'kelly'; known: hrp, min_variance, max_sharpe, risk_parity, equal_weight"


def test_bounds_are_min_variance_constraints_and_refused_where_they_cannot_be() -> None:
    x = _returns(n=4)
    lo, hi = np.array([0.1, 0.18, 0.05, 0.0]), np.array([0.6, 0.4, 0.5, 0.25])
    inp = OptimizerInput(x, np.cov(x, rowvar=False), bounds=(lo, hi))
    w = optimize("min_variance", inp)
    assert abs(w.sum() - 1.0) < 1e-7 and (w >= lo - 1e-7).all() and (w <= hi + 1e-7).all()
    np.testing.assert_array_equal(optimize("hrp", inp), hrp_weights(x).weights)  # the caller projects bounds
    with pytest.raises(InvalidInput, match="not per-asset bounds"):
        optimize("max_sharpe", OptimizerInput(x, np.cov(x, rowvar=False), x.mean(axis=0), bounds=(lo, hi)))
    with pytest.raises(InvalidInput, match="not both"):
        OptimizerInput(x, np.cov(x, rowvar=False), cap=0.5, bounds=(lo, hi))


def test_solver_failures_are_portfolio_errors_for_the_chain_to_record() -> None:
    with pytest.raises(NoPositiveExcessReturn):
        optimize("max_sharpe", _input(cap=0.3, risk_free=100.0))
    with pytest.raises(InvalidInput, match="expected returns"):
        optimize("max_sharpe", OptimizerInput(_returns(), np.cov(_returns(), rowvar=False)))


# --------------------------------------------------------------------------- the meta optimizer through the registry


def _meta_returns() -> np.ndarray:
    y = np.random.default_rng(7).normal(0.0004, 0.015, (250, 4))
    y[:, 1] += 0.5 * y[:, 0]
    return y


META_LO, META_HI = np.array([0.1, 0.18, 0.05, 0.0]), np.array([0.6, 0.4, 0.5, 0.25])

# meta_optimize(_meta_returns(), method, META_LO, META_HI) as (bounded, raw), captured with the implementation
# before the registry (its own string dispatch); identical bit for bit on the machine that captured them.
CAPTURED = {
    "risk_parity": (
        [0.24647612311935582, 0.21631044790030657, 0.28721342898033764, 0.25],
        [0.2367366944343724, 0.2077630066533438, 0.2758642781030782, 0.2796360208092057],
    ),
    "hrp": (
        [0.2357210484695359, 0.18217007662541493, 0.33210887490504926, 0.25],
        [0.22097464300309383, 0.170773751048158, 0.311332571048643, 0.2969190349001052],
    ),
    "min_variance": (
        [0.24640560233776138, 0.18000001179062064, 0.32359438740064833, 0.24999999847096968],
        [0.2464056023377609, 0.1800000117906203, 0.3235943874006477, 0.24999999847096924],
    ),
}


def _previous_meta_raw(x: np.ndarray, method: str, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The meta's raw weights as its own dispatch computed them before the registry (the reference)."""
    import cvxpy as cp

    if method == "risk_parity":
        return risk_parity_weights(np.cov(x, rowvar=False)).weights
    if method == "hrp":
        return hrp_weights(x, linkage="single").weights
    cov = np.cov(x, rowvar=False)
    w = cp.Variable(cov.shape[0])
    scaled = cp.psd_wrap(cov / (float(np.mean(np.diag(cov))) or 1.0))
    cp.Problem(cp.Minimize(cp.quad_form(w, scaled)), [cp.sum(w) == 1, w >= lo, w <= hi]).solve(solver=cp.CLARABEL)
    return np.clip(np.asarray(w.value, dtype=np.float64), 0.0, None)


@pytest.mark.parametrize("method", list(CAPTURED))
def test_meta_optimize_is_unchanged(method: str) -> None:
    x = _meta_returns()
    bounded, raw = meta_optimize(x, method, META_LO, META_HI)
    reference = _previous_meta_raw(x, method, META_LO, META_HI)
    np.testing.assert_array_equal(raw, reference)  # bit for bit, on any machine
    np.testing.assert_array_equal(bounded, project_bounds(reference, META_LO, META_HI))
    want_bounded, want_raw = CAPTURED[method]
    np.testing.assert_allclose(bounded, want_bounded, rtol=1e-12, atol=0)  # the captured numbers
    np.testing.assert_allclose(raw, want_raw, rtol=1e-12, atol=0)


def test_meta_optimize_single_sleeve_and_unknown_method() -> None:
    bounded, raw = meta_optimize(_meta_returns()[:, :1], "hrp", np.array([0.0]), np.array([1.0]))
    assert bounded.tolist() == [1.0] and raw.tolist() == [1.0]
    with pytest.raises(ConfigError, match=r"meta method 'max_sharpe' is not one of \['risk_parity', 'hrp'"):
        meta_optimize(_meta_returns(), "max_sharpe", META_LO, META_HI)
