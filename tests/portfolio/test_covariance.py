"""Covariance estimators: Ledoit–Wolf and OAS equal scikit-learn's, the ridge is the notes' correlation ridge."""

from __future__ import annotations

import numpy as np
import pytest

from dataflows.portfolio import InvalidInput
from dataflows.portfolio.covariance import ESTIMATORS, RIDGE, estimate, ledoit_wolf, oas, ridge

sk = pytest.importorskip("sklearn.covariance")


def _returns(t: int, a: int, seed: int) -> np.ndarray:
    """Factor-structured daily returns with fat tails and a mean (centring matters)."""
    rng = np.random.default_rng(seed)
    f = rng.standard_t(4, (t, 2)) * 0.02
    return 0.001 + f @ rng.normal(0.0, 1.0, (2, a)) + rng.standard_t(5, (t, a)) * 0.01


@pytest.mark.parametrize(("t", "a", "seed"), [(180, 20, 0), (60, 25, 1), (30, 80, 2), (500, 3, 3), (3, 2, 4)])
def test_ledoit_wolf_and_oas_equal_scikit_learn(t: int, a: int, seed: int) -> None:
    x = _returns(t, a, seed)
    for ours, theirs in ((ledoit_wolf, sk.ledoit_wolf), (oas, sk.oas)):
        cov, shrinkage = ours(x)
        want, want_shrinkage = theirs(x)
        scale = float(np.abs(want).max())
        np.testing.assert_allclose(cov, want, rtol=0, atol=1e-12 * scale)
        assert shrinkage == pytest.approx(want_shrinkage, rel=1e-10, abs=1e-14)
        assert 0.0 <= shrinkage <= 1.0
    assert ledoit_wolf(x)[1] > 0 and oas(x)[1] > 0  # these cases do shrink


def test_one_asset_is_not_shrunk() -> None:
    x = _returns(50, 1, 5)
    for fn in (ledoit_wolf, oas):
        cov, shrinkage = fn(x)
        assert shrinkage == 0.0
        assert cov[0, 0] == pytest.approx(float(np.var(x)), rel=1e-14)


def test_ridge_is_the_correlation_ridge_of_the_notes() -> None:
    x = _returns(120, 10, 6)
    cov = np.cov(x, rowvar=False, ddof=1)
    vol = np.sqrt(np.diag(cov))
    rho = cov / np.outer(vol, vol)
    want = np.outer(vol, vol) * ((1 - RIDGE) * rho + RIDGE * np.eye(10))  # ρ' = 0.99ρ + 0.01I, rescaled
    got = ridge(x)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)
    np.testing.assert_array_equal(np.diag(got), np.diag(cov))  # variances kept exactly
    # a singular sample covariance (more assets than rows) becomes positive definite
    wide = _returns(8, 20, 7)
    assert np.linalg.eigvalsh(np.cov(wide, rowvar=False)).min() < 1e-12
    assert np.linalg.eigvalsh(ridge(wide)).min() >= 0.99 * RIDGE * np.diag(np.cov(wide, rowvar=False)).min()


def test_estimate_dispatches_by_name_and_refuses_bad_input() -> None:
    x = _returns(90, 6, 8)
    np.testing.assert_array_equal(estimate(x, "sample"), np.cov(x, rowvar=False, ddof=1))
    np.testing.assert_array_equal(estimate(x, "ledoit_wolf"), ledoit_wolf(x)[0])
    np.testing.assert_array_equal(estimate(x, "oas"), oas(x)[0])
    np.testing.assert_array_equal(estimate(x, "ridge"), ridge(x))
    for name in ESTIMATORS:
        cov = estimate(x, name)
        np.testing.assert_array_equal(cov, cov.T)
        assert np.linalg.eigvalsh(cov).min() > 0
    assert estimate(x[:, :1], "sample").shape == (1, 1)
    with pytest.raises(InvalidInput, match="unknown covariance estimator 'shrunk'"):
        estimate(x, "shrunk")
    with pytest.raises(InvalidInput, match="T >= 2"):
        estimate(x[:1], "sample")
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(InvalidInput, match="finite"):
        estimate(bad, "oas")


def test_the_config_accepts_exactly_these_estimators() -> None:
    from dataflows.config import COVARIANCES

    assert COVARIANCES == ESTIMATORS
