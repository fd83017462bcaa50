"""HRP: kernels against slow NumPy references, the wrapper against PyPortfolioOpt, skfolio and riskfolio-lib."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from dataflows.errors import ConfigError
from dataflows.portfolio import InvalidInput, ZeroVarianceAssets
from dataflows.portfolio.hrp import hrp_weights, hrp_weights_from_covariance, sample_covariance
from kernels.hrp import bisection_weights_nb, center_scale_nb, condensed_corr_distance_nb, corr_distance_nb

T, N = 500, 40


def _returns(seed: int = 7, t: int = T, n: int = N, factors: int = 4) -> np.ndarray:
    """Seeded factor-model daily returns (rows = time, columns = assets)."""
    rng = np.random.default_rng(seed)
    loadings = rng.standard_normal((factors, n)) * 0.01
    noise = rng.standard_normal((t, n)) * 0.02 * rng.uniform(0.5, 2.0, n)
    return rng.standard_normal((t, factors)) @ loadings + noise


@pytest.fixture(scope="module")
def returns() -> np.ndarray:
    return _returns()


# --------------------------------------------------------------------------- slow references


def _ref_bisection(cov: np.ndarray, order: list[int]) -> np.ndarray:
    """López de Prado's recursive bisection in plain Python recursion (PyPortfolioOpt's split by position)."""
    w = np.ones(cov.shape[0])

    def cluster_var(items: list[int]) -> float:
        sub = cov[np.ix_(items, items)]
        ivp = 1.0 / np.diag(sub)
        ivp /= ivp.sum()
        return float(ivp @ sub @ ivp)

    def split(items: list[int]) -> None:
        if len(items) < 2:
            return
        left, right = items[: len(items) // 2], items[len(items) // 2 :]
        v_left, v_right = cluster_var(left), cluster_var(right)
        alpha = 1.0 - v_left / (v_left + v_right)
        w[left] *= alpha
        w[right] *= 1.0 - alpha
        split(left)
        split(right)

    split(list(order))
    return w


def _ref_distance(x: np.ndarray) -> np.ndarray:
    corr = np.corrcoef(x, rowvar=False)
    return np.sqrt(np.clip(0.5 * (1.0 - corr), 0.0, 1.0))


# --------------------------------------------------------------------------- kernels


def test_center_scale_matches_numpy(returns: np.ndarray) -> None:
    got = np.empty_like(returns)
    center_scale_nb(returns, 0.5, got)
    np.testing.assert_allclose(got, (returns - returns.mean(axis=0)) * 0.5, rtol=0, atol=1e-15)


def test_sample_covariance_matches_np_cov(returns: np.ndarray) -> None:
    cov = sample_covariance(returns)
    np.testing.assert_allclose(cov, np.cov(returns, rowvar=False), rtol=1e-12, atol=0)
    assert np.array_equal(cov, cov.T)


def test_corr_distance_matches_reference(returns: np.ndarray) -> None:
    corr = np.corrcoef(returns, rowvar=False)
    np.testing.assert_allclose(corr_distance_nb(corr), _ref_distance(returns), rtol=0, atol=1e-12)


@pytest.mark.parametrize("n", [2, 3, 7, 40])
def test_condensed_distance_matches_squareform(n: int) -> None:
    x = _returns(seed=n, n=n)
    got = np.empty(n * (n - 1) // 2)
    condensed_corr_distance_nb(np.cov(x, rowvar=False), got)
    np.testing.assert_allclose(got, squareform(_ref_distance(x), checks=False), rtol=0, atol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 31, 40, 64, 257])
def test_bisection_matches_recursive_reference(n: int) -> None:
    cov = np.cov(_returns(seed=100 + n, n=n), rowvar=False).reshape(n, n)
    order = np.random.default_rng(n).permutation(n).astype(np.int64)
    got = bisection_weights_nb(cov, order)
    np.testing.assert_allclose(got, _ref_bisection(cov, order.tolist()), rtol=0, atol=1e-12)
    assert abs(got.sum() - 1.0) < 1e-12


def test_bisection_uses_the_ordered_list_not_original_positions(returns: np.ndarray) -> None:
    """A classic HRP bug: dendrogram positions used to index the covariance in original order."""
    cov = np.cov(returns, rowvar=False)
    order = np.random.default_rng(1).permutation(N).astype(np.int64)
    wrong = _ref_bisection(cov, list(range(N)))[np.argsort(order)]
    assert np.abs(bisection_weights_nb(cov, order) - wrong).max() > 1e-4


# --------------------------------------------------------------------------- peers (same returns, pinned settings)


def test_matches_pyportfolioopt(returns: np.ndarray) -> None:
    from pypfopt import HRPOpt

    frame = pd.DataFrame(returns, columns=[f"a{i}" for i in range(N)])
    peer = HRPOpt(frame)
    expected = pd.Series(peer.optimize(linkage_method="single")).reindex(frame.columns).to_numpy()
    ours = hrp_weights(returns, linkage="single", optimal_ordering=False)
    np.testing.assert_allclose(ours.weights, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.linkage, peer.clusters, rtol=0, atol=1e-12)
    assert ours.order.tolist() == hierarchy.to_tree(peer.clusters).pre_order()


def test_matches_pyportfolioopt_ward(returns: np.ndarray) -> None:
    from pypfopt import HRPOpt

    expected = pd.Series(HRPOpt(pd.DataFrame(returns)).optimize(linkage_method="ward")).to_numpy()
    np.testing.assert_allclose(hrp_weights(returns, linkage="ward").weights, expected, rtol=0, atol=1e-12)


def _skfolio_hrp(linkage: str, optimal_ordering: bool) -> object:
    from skfolio.cluster import HierarchicalClustering, LinkageMethod
    from skfolio.distance import PearsonDistance
    from skfolio.measures import RiskMeasure
    from skfolio.moments import EmpiricalCovariance
    from skfolio.optimization import HierarchicalRiskParity
    from skfolio.prior import EmpiricalPrior
    from skfolio.seriation import HierarchicalSeriation

    # skfolio >= 1.12 moved optimal_ordering from HierarchicalClustering to HierarchicalSeriation.
    clustering = HierarchicalClustering(linkage_method=LinkageMethod(linkage))
    return HierarchicalRiskParity(
        risk_measure=RiskMeasure.VARIANCE,
        prior_estimator=EmpiricalPrior(covariance_estimator=EmpiricalCovariance(ddof=1)),
        distance_estimator=PearsonDistance(),  # sqrt(0.5 * (1 - rho)), rho = np.corrcoef
        seriation_estimator=HierarchicalSeriation(
            hierarchical_clustering_estimator=clustering, optimal_ordering=optimal_ordering
        ),
    )


@pytest.mark.parametrize(("linkage", "optimal_ordering"), [("single", False), ("ward", True)])
def test_matches_skfolio(returns: np.ndarray, linkage: str, optimal_ordering: bool) -> None:
    peer = _skfolio_hrp(linkage, optimal_ordering).fit(returns)
    ours = hrp_weights(returns, linkage=linkage, optimal_ordering=optimal_ordering)
    np.testing.assert_allclose(ours.weights, peer.weights_, rtol=0, atol=1e-12)
    assert np.array_equal(ours.order, peer.seriation_estimator_.ordering_)


@pytest.mark.parametrize(("linkage", "leaf_order"), [("single", False), ("ward", True)])
def test_matches_riskfolio(returns: np.ndarray, linkage: str, leaf_order: bool) -> None:
    import riskfolio as rp

    frame = pd.DataFrame(returns, columns=[f"a{i}" for i in range(N)])
    port = rp.HCPortfolio(returns=frame)
    peer = port.optimization(model="HRP", codependence="pearson", rm="MV", rf=0, linkage=linkage, leaf_order=leaf_order)
    ours = hrp_weights(returns, linkage=linkage, optimal_ordering=leaf_order)
    np.testing.assert_allclose(ours.weights, peer["weights"].reindex(frame.columns).to_numpy(), rtol=0, atol=1e-12)
    assert np.array_equal(ours.order, np.asarray(port.sort_order))


def test_duplicated_asset_matches_pyportfolioopt(returns: np.ndarray) -> None:
    """A duplicated column makes the covariance singular; HRP never inverts it and still equals the peer."""
    from pypfopt import HRPOpt

    dup = np.column_stack([returns, returns[:, 5]])
    ours = hrp_weights(dup)
    assert np.isfinite(ours.weights).all()
    assert abs(ours.weights.sum() - 1.0) < 1e-12
    expected = pd.Series(HRPOpt(pd.DataFrame(dup)).optimize("single")).to_numpy()
    np.testing.assert_allclose(ours.weights, expected, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- wrapper behaviour


def test_result_contract(returns: np.ndarray) -> None:
    res = hrp_weights(returns)
    assert res.weights.shape == (N,) and res.weights.dtype == np.float64
    assert (res.weights > 0).all() and abs(res.weights.sum() - 1.0) < 1e-12
    assert sorted(res.order.tolist()) == list(range(N))
    assert res.linkage.shape == (N - 1, 4)
    assert res.covariance.shape == (N, N) and res.kept.tolist() == list(range(N)) and res.excluded == ()


def test_from_covariance_equals_from_returns(returns: np.ndarray) -> None:
    a = hrp_weights(returns)
    b = hrp_weights_from_covariance(np.cov(returns, rowvar=False))
    np.testing.assert_allclose(a.weights, b.weights, rtol=0, atol=1e-12)


def test_one_and_two_assets() -> None:
    x = _returns(n=2)
    assert hrp_weights(x[:, :1]).weights.tolist() == [1.0]
    w = hrp_weights(x).weights
    ivp = 1.0 / x.var(axis=0, ddof=1)
    np.testing.assert_allclose(w, ivp / ivp.sum(), rtol=0, atol=1e-12)  # two singletons: inverse variance


def test_zero_variance_asset_raises_by_default(returns: np.ndarray) -> None:
    x = returns.copy()
    x[:, [3, 11]] = 0.0001  # two stablecoins: constant returns
    with pytest.raises(ZeroVarianceAssets, match="columns 3, 11") as err:
        hrp_weights(x)
    assert err.value.columns == (3, 11)


def test_zero_variance_asset_excluded_on_request(returns: np.ndarray) -> None:
    x = returns.copy()
    x[:, 3] = 0.0001
    res = hrp_weights(x, zero_variance="exclude")
    assert res.excluded == (3,) and res.weights[3] == 0.0 and 3 not in res.order
    assert abs(res.weights.sum() - 1.0) < 1e-12
    rest = hrp_weights(np.delete(x, 3, axis=1)).weights
    np.testing.assert_allclose(np.delete(res.weights, 3), rest, rtol=0, atol=1e-15)


def test_nan_is_named() -> None:
    x = _returns(n=5)
    x[17, 2] = np.nan
    with pytest.raises(InvalidInput, match=r"returns\[17, 2\] = nan"):
        hrp_weights(x)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.zeros(10), "2-D float64"),
        (np.zeros((10, 3), dtype=np.float32), "2-D float64"),
        (np.zeros((1, 3)), "at least 2 rows"),
        ([[0.1, 0.2], [0.3, 0.1]], "NumPy array"),
    ],
)
def test_bad_shapes_are_named(bad: object, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        hrp_weights(bad)  # type: ignore[arg-type]


def test_unknown_linkage_is_a_config_error(returns: np.ndarray) -> None:
    with pytest.raises(ConfigError, match="linkage='centroid'"):
        hrp_weights(returns, linkage="centroid")
