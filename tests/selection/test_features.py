"""Selection kernels against slow NumPy references (1e-12), and the per-asset feature frame built on them."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import polars as pl
import pytest
from scipy import stats

from dataflows.columns import ASSET_CLASS, CRYPTO, EQUITY, QUOTE_VOLUME, SYMBOL
from dataflows.selection import SelectionError
from dataflows.selection import features as F
from kernels import selection as K

TOL = 1e-12


def _panel(seed: int = 3, t: int = 260, n: int = 7) -> np.ndarray:
    """Seeded returns with per-column holes: late listing, weekend-like gaps, a short column, an all-NaN column."""
    rng = np.random.default_rng(seed)
    x = rng.standard_t(4, (t, n)) * 0.02 + 0.001
    x[:90, 1] = np.nan  # late listing
    x[np.arange(t) % 7 >= 5, 2] = np.nan  # equity calendar: no weekend bars
    x[rng.random(t) < 0.1, 3] = np.nan  # scattered holes
    x[:-20, 4] = np.nan  # 20 bars only
    x[:, 5] = np.nan  # never listed
    x[:, 6] = np.round(x[:, 6], 2)  # coarse ticks: many ties
    return x


def _valid(col: np.ndarray) -> np.ndarray:
    return col[~np.isnan(col)]


# --------------------------------------------------------------------------- slow references


def ref_moments(col: np.ndarray) -> tuple[float, float, float, float, float]:
    v = _valid(col)
    n = v.size
    if n == 0:
        return 0.0, math.nan, math.nan, math.nan, math.nan
    mean = float(np.mean(v))
    if n < 2:
        return 1.0, mean, math.nan, math.nan, math.nan
    d = v - mean
    m2 = float(np.mean(d**2))
    if m2 <= (1e-14 * abs(mean)) ** 2:
        return float(n), mean, 0.0, math.nan, math.nan
    return (
        float(n),
        mean,
        float(np.std(v, ddof=1)),
        float(stats.skew(v, bias=True)),
        float(stats.kurtosis(v, fisher=True, bias=True)),
    )


def ref_entropy(col: np.ndarray, order: int, delay: int, window: int) -> float:
    v = _valid(col)
    if window > 0:
        v = v[-window:]
    m = v.size - (order - 1) * delay
    if m < 1:
        return math.nan
    counts = Counter(
        tuple(np.argsort(v[i : i + (order - 1) * delay + 1 : delay], kind="stable").tolist()) for i in range(m)
    )
    p = np.array(list(counts.values()), dtype=np.float64) / m
    return float(-(p * np.log(p)).sum() / math.log(math.factorial(order)))


def ref_efficiency(col: np.ndarray, window: int) -> float:
    v = _valid(col)
    if window > 0:
        v = v[-window:]
    den = np.abs(v).sum()
    return math.nan if den == 0 else float(abs(v.sum()) / den)


def ref_hurst(col: np.ndarray, min_lag: int) -> float:
    v = _valid(col)
    n = v.size
    lags, rs = [], []
    lag = min_lag
    while lag <= n // 2:
        k = n // lag
        start = n - k * lag
        vals = []
        for c in range(k):
            chunk = v[start + c * lag : start + (c + 1) * lag]
            s = chunk.std()
            if s > 0:
                y = np.concatenate([[0.0], np.cumsum(chunk - chunk.mean())])
                vals.append((y.max() - y.min()) / s)
        if vals:
            lags.append(lag)
            rs.append(np.mean(vals))
        lag *= 2
    if len(lags) < 2:
        return math.nan
    slope = np.polyfit(np.log(lags), np.log(rs), 1)[0]
    return float(min(1.0, max(0.0, slope)))


def ref_tails(col: np.ndarray, alpha: float) -> tuple[float, float, float, float]:
    v = _valid(col)
    if v.size == 0:
        return (math.nan,) * 4
    lo, hi = np.quantile(v, alpha), np.quantile(v, 1 - alpha)
    return float(lo), float(hi), float(v[v <= lo].mean()), float(v[v >= hi].mean())


def ref_drawdown(col: np.ndarray) -> float:
    v = _valid(col)
    if v.size == 0:
        return math.nan
    wealth = np.concatenate([[1.0], np.cumprod(1.0 + v)])
    return float(np.max(1.0 - wealth / np.maximum.accumulate(wealth)))


def ref_corr(x: np.ndarray, min_periods: int) -> np.ndarray:
    n = x.shape[1]
    out = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            ok = ~np.isnan(x[:, i]) & ~np.isnan(x[:, j])
            a, b = x[ok, i], x[ok, j]
            r = math.nan
            if ok.sum() >= max(min_periods, 2) and a.std() > 0 and b.std() > 0:
                r = float(np.corrcoef(a, b)[0, 1])
            out[i, j] = out[j, i] = r
    return out


def _close(got: np.ndarray, want: np.ndarray) -> None:
    np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL, equal_nan=True)


# --------------------------------------------------------------------------- kernels vs references


@pytest.fixture(scope="module")
def panel() -> np.ndarray:
    return _panel()


def test_moments_match_reference(panel: np.ndarray) -> None:
    got = K.moments_nb(panel)
    for j in range(panel.shape[1]):
        _close(np.array([g[j] for g in got]), np.array(ref_moments(panel[:, j])))


def test_moments_zero_variance_is_nan_not_garbage() -> None:
    x = np.full((50, 2), 0.01)
    x[::3, 1] = np.nan
    _, mean, std, skew, kurt = K.moments_nb(x)
    assert (std == 0).all() and np.isnan(skew).all() and np.isnan(kurt).all()
    np.testing.assert_allclose(mean, 0.01, rtol=1e-15)


@pytest.mark.parametrize(("order", "delay", "window"), [(5, 1, 120), (3, 2, 0), (4, 1, 30), (5, 1, 10_000)])
def test_permutation_entropy_matches_reference(panel: np.ndarray, order: int, delay: int, window: int) -> None:
    got = K.permutation_entropy_nb(panel, order, delay, window)
    want = np.array([ref_entropy(panel[:, j], order, delay, window) for j in range(panel.shape[1])])
    _close(got, want)


def test_permutation_entropy_extremes() -> None:
    t = np.arange(200, dtype=np.float64)
    x = np.column_stack([t, np.sin(t) * 0 + 1.0, np.full(200, np.nan)])
    pe = K.permutation_entropy_nb(x, 5, 1, 120)
    assert pe[0] == 0.0  # monotone: one pattern
    assert pe[1] == 0.0  # all ties: one pattern (by position)
    assert np.isnan(pe[2])


@pytest.mark.parametrize("window", [120, 0, 5])
def test_efficiency_matches_reference(panel: np.ndarray, window: int) -> None:
    got = K.efficiency_ratio_nb(panel, window)
    _close(got, np.array([ref_efficiency(panel[:, j], window) for j in range(panel.shape[1])]))


@pytest.mark.parametrize("min_lag", [8, 4, 16])
def test_hurst_matches_reference(panel: np.ndarray, min_lag: int) -> None:
    got = K.hurst_rs_nb(panel, min_lag)
    _close(got, np.array([ref_hurst(panel[:, j], min_lag) for j in range(panel.shape[1])]))


def test_hurst_orders_persistence() -> None:
    rng = np.random.default_rng(11)
    e = rng.standard_normal((1000, 3))
    trend = np.cumsum(rng.standard_normal(1000)) * 0.05 + e[:, 0] * 0.1  # strongly persistent increments
    anti = np.diff(e[:, 1], prepend=0.0)  # over-differenced: anti-persistent
    h = K.hurst_rs_nb(np.column_stack([trend, e[:, 2], anti]), 8)
    assert h[0] > 0.8 and 0.45 < h[1] < 0.65 and h[2] < 0.3


@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.25])
def test_tail_stats_match_reference(panel: np.ndarray, alpha: float) -> None:
    got = K.tail_stats_nb(panel, alpha)
    for j in range(panel.shape[1]):
        _close(np.array([g[j] for g in got]), np.array(ref_tails(panel[:, j], alpha)))


def test_max_drawdown_matches_reference(panel: np.ndarray) -> None:
    got = K.max_drawdown_nb(panel)
    _close(got, np.array([ref_drawdown(panel[:, j]) for j in range(panel.shape[1])]))
    assert K.max_drawdown_1d_nb(np.array([0.1, -0.5, 0.2])) == pytest.approx(0.5, abs=1e-15)


@pytest.mark.parametrize("min_periods", [5, 30, 200])
def test_pairwise_corr_matches_reference(panel: np.ndarray, min_periods: int) -> None:
    x = panel.copy()
    x[:, 5] = 0.0  # zero variance → NaN correlations
    _close(K.pairwise_corr_nb(x, min_periods), ref_corr(x, min_periods))


# --------------------------------------------------------------------------- feature frame


def _universe(seed: int = 5, t: int = 250) -> tuple[np.ndarray, list[str], list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((t, 5)) * 0.02 + 0.002
    weekend = np.arange(t) % 7 >= 5
    x[weekend, 3] = np.nan
    x[weekend, 4] = np.nan
    x[:100, 4] = np.nan  # late-listed equity
    syms = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "AAPL", "NEW"]
    return x, syms, [CRYPTO, CRYPTO, CRYPTO, EQUITY, EQUITY], np.array([2e7, 5e6, np.nan, 1e9, 0.0])


def test_feature_frame_shape_and_definitions() -> None:
    x, syms, classes, qv = _universe()
    f = F.asset_features(x, syms, classes, qv)
    assert f.height == 5 and f[SYMBOL].to_list() == syms and f[ASSET_CLASS].to_list() == classes
    for j, (col, cls) in enumerate(zip(x.T, classes, strict=True)):
        v = _valid(col)
        ppy = 365.0 if cls == CRYPTO else 252.0
        row = f.row(j, named=True)
        assert row[F.N_OBS] == v.size
        assert row[F.MOMENTUM] == pytest.approx(v.mean() * ppy, rel=1e-12)
        assert row[F.VOL] == pytest.approx(v.std(ddof=1) * math.sqrt(ppy), rel=1e-12)
        assert row[F.STABILITY] == pytest.approx(1 / (row[F.VOL] + 1e-9), rel=1e-12)
        assert row[F.ENTROPY] == pytest.approx(ref_entropy(col, 5, 1, 120), abs=TOL)
        assert row[F.EFFICIENCY] == pytest.approx(ref_efficiency(col, 120), abs=TOL)
        assert row[F.HURST] == pytest.approx(ref_hurst(col, 8), abs=TOL)
        assert row[F.CVAR] == pytest.approx(-ref_tails(col, 0.05)[2], abs=TOL)
        s = -np.minimum(v, 1.0)
        assert row[F.MOMENTUM_SHORT] == pytest.approx(s.mean() * ppy, rel=1e-12)
        assert row[F.SKEW_SHORT] == pytest.approx(-row[F.SKEW], abs=TOL)
        assert row[F.CVAR_SHORT] == pytest.approx(-ref_tails(s, 0.05)[2], abs=TOL)
    assert f[F.HAS_FEATURES].all()


def test_survival_is_relative_to_the_asset_class_calendar() -> None:
    x, syms, classes, qv = _universe()
    f = F.asset_features(x, syms, classes, qv)
    surv = dict(zip(f[SYMBOL], f[F.SURVIVAL], strict=True))
    assert surv["BTC/USDT"] == 1.0 and surv["AAPL"] == 1.0  # equities are not penalised for weekends
    assert surv["NEW"] == pytest.approx(np.isfinite(x[:, 4]).sum() / np.isfinite(x[:, 3]).sum())


def test_liquidity_and_friction_need_real_volume() -> None:
    x, syms, classes, qv = _universe()
    f = F.asset_features(x, syms, classes, qv)
    liq = f[F.LIQUIDITY].to_list()
    eci = f[F.ECI].to_list()
    assert liq[0] == 1.0 and liq[1] == pytest.approx(0.5) and liq[3] == 1.0
    assert math.isnan(liq[2]) and math.isnan(liq[4])  # NaN and 0 volume are missing data, not zero liquidity
    assert math.isnan(eci[2]) and math.isnan(eci[4])
    assert math.isnan(f[QUOTE_VOLUME][4])
    vol = f[F.VOL].to_list()
    assert eci[1] == pytest.approx(vol[1] * math.sqrt(1e6 / 5e6), rel=1e-12)


def test_nan_rows_do_not_change_an_assets_features() -> None:
    """Interleaving NaN rows (another calendar) leaves every statistic of the valid rows unchanged."""
    rng = np.random.default_rng(9)
    v = rng.standard_normal(200) * 0.02 + 0.001
    holes = np.full(280, np.nan)
    holes[np.sort(rng.choice(280, 200, replace=False))] = v
    dense = np.column_stack([v, v])
    sparse = np.full((280, 2), np.nan)
    sparse[:, 0] = holes
    sparse[:200, 1] = v
    cols = [F.MOMENTUM, F.VOL, F.ENTROPY, F.EFFICIENCY, F.HURST, F.SKEW, F.KURTOSIS, F.CVAR, F.ANTIFRAGILITY]
    a = F.asset_features(dense, ["A", "B"], [CRYPTO, CRYPTO], [1e9, 1e9]).select(cols)
    b = F.asset_features(sparse, ["A", "B"], [CRYPTO, CRYPTO], [1e9, 1e9]).select(cols)
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-13, atol=1e-15)


def test_short_stream_is_capped() -> None:
    x = np.zeros((60, 1))
    x[::2, 0] = 0.01
    x[1::2, 0] = -0.01
    x[10, 0] = 3.0  # +300%: a short loses at most 100%
    f = F.asset_features(x, ["X"], [CRYPTO], [1e9])
    s = -np.minimum(x[:, 0], 1.0)
    assert f[F.MOMENTUM_SHORT][0] == pytest.approx(s.mean() * 365, rel=1e-12)
    assert f[F.MOMENTUM_SHORT][0] != pytest.approx(-f[F.MOMENTUM][0])


def test_assets_without_features_are_named() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((100, 3)) * 0.01
    x[:, 1] = 0.0  # flat stablecoin: no skew, no efficiency
    x[:-20, 2] = np.nan  # too short
    f = F.asset_features(x, ["A", "USDC/USDT", "NEW"], [CRYPTO] * 3, [1e9] * 3)
    assert f[F.HAS_FEATURES].to_list() == [True, False, False]
    missing = f[F.MISSING_FEATURES].to_list()
    assert {F.SKEW, F.EFFICIENCY, F.HURST} <= set(missing[1])
    assert missing[2][0] == F.N_OBS


def test_all_nan_and_empty_universes_raise_no_warning() -> None:
    x = np.full((50, 2), np.nan)
    f = F.asset_features(x, ["A", "B"], [CRYPTO, EQUITY], [np.nan, np.nan])
    assert not f[F.HAS_FEATURES].any()
    e = F.asset_features(np.empty((50, 0)), [], [], [])
    assert e.height == 0 and set(F.REQUIRED) <= set(e.columns)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"symbols": ["A"]}, "symbols has 1 entries"),
        ({"asset_class": [CRYPTO, "fx"]}, "unknown classes"),
        ({"quote_volume": [1.0]}, "quote_volume has 1"),
        ({"symbols": ["A", "A"]}, "duplicates"),
        ({"returns": np.array([[0.1, np.inf]])}, "inf"),
        ({"returns": np.zeros(3)}, "2-D"),
    ],
)
def test_bad_inputs_name_the_input(kwargs: dict, match: str) -> None:
    args = {"returns": np.zeros((40, 2)), "symbols": ["A", "B"], "asset_class": [CRYPTO, CRYPTO]}
    args["quote_volume"] = [1.0, 1.0]
    args.update(kwargs)
    with pytest.raises(SelectionError, match=match):
        F.asset_features(**args)


def test_feature_params_validate() -> None:
    with pytest.raises(SelectionError, match="min_obs"):
        F.FeatureParams(min_obs=10)
    with pytest.raises(SelectionError, match="unknown asset class"):
        F.FeatureParams().for_class("fx")


def test_frame_types() -> None:
    x, syms, classes, qv = _universe()
    f = F.asset_features(x, syms, classes, qv)
    assert f.schema[F.N_OBS] == pl.Int64 and f.schema[F.MISSING_FEATURES] == pl.List(pl.String)
    assert all(f.schema[c] == pl.Float64 for c in F.REQUIRED)
