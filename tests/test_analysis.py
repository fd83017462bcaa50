"""Pre-optimization analysis: tails and drawdown against slow references, antifragility, regimes, caps, clusters."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from dataflows import analysis as A
from dataflows.columns import CRYPTO, LONG, SHORT, atom_id
from dataflows.selection.clustering import atom_clusters
from dataflows.synthesis import synthesize_atoms

T = 250


def _panel(seed: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_t(3, (300, 6)) * 0.02
    x[:120, 1] = np.nan
    x[np.arange(300) % 7 >= 5, 2] = np.nan
    x[:, 3] = np.nan
    x[:-1, 4] = np.nan  # a single observation
    return x


def _valid(col: np.ndarray) -> np.ndarray:
    return col[~np.isnan(col)]


def _ref_tails(col: np.ndarray) -> dict[str, float]:
    v = _valid(col)
    if v.size == 0:
        return dict.fromkeys(("var", "cvar", "gain", "ratio", "mdd"), math.nan)
    q05, q95 = np.quantile(v, 0.05), np.quantile(v, 0.95)
    wealth = np.concatenate([[1.0], np.cumprod(1 + v)])
    return {
        "var": -q05,
        "cvar": -v[v <= q05].mean(),
        "gain": v[v >= q95].mean(),
        "ratio": q95 / abs(q05) if q05 != 0 else math.nan,
        "mdd": float(np.max(1 - wealth / np.maximum.accumulate(wealth))),
    }


def test_tail_stats_against_slow_references() -> None:
    x = _panel()
    ts = A.tail_stats(x)
    for j in range(x.shape[1]):
        ref = _ref_tails(x[:, j])
        got = {
            "var": ts.var_95[j],
            "cvar": ts.cvar_95[j],
            "gain": ts.tail_gain[j],
            "ratio": ts.tail_ratio[j],
            "mdd": ts.max_drawdown[j],
        }
        for k, v in ref.items():
            np.testing.assert_allclose(got[k], v, rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=f"{k} col {j}")
    frame = ts.to_frame([f"S{j}" for j in range(6)])
    assert frame.height == 6 and A.CVAR_95 in frame.columns


def test_tail_signs_on_a_known_series() -> None:
    r = np.array([[-0.10], [0.05], [0.02], [-0.03], [0.04]])
    ts = A.tail_stats(r, A.TailParams(alpha=0.2))
    # sorted: -0.10 -0.03 0.02 0.04 0.05; q20 = -0.10 + 0.8 × 0.07 = -0.044, so the worst 20% is {-0.10};
    # q80 = 0.04 + 0.2 × 0.01 = 0.042, so the best is {0.05}
    assert ts.var_95[0] == pytest.approx(0.044) and ts.cvar_95[0] == pytest.approx(0.10)
    assert ts.tail_gain[0] == pytest.approx(0.05) and ts.tail_ratio[0] == pytest.approx(0.042 / 0.044)
    assert ts.max_drawdown[0] == pytest.approx(0.10)  # wealth never regains 1 after the first bar's -10%
    flat = A.tail_stats(np.zeros((20, 1)))
    assert math.isnan(flat.tail_ratio[0]) and flat.max_drawdown[0] == 0.0


def test_antifragility_definition() -> None:
    x = _panel()
    af = A.antifragility(x, min_obs=30)
    scored = [0, 1, 2, 5]
    skew = np.array([stats.skew(_valid(x[:, j])) for j in scored])
    gain = np.array([_ref_tails(x[:, j])["gain"] for j in scored])
    n = np.array([_valid(x[:, j]).size for j in scored])

    def mm(v: np.ndarray) -> np.ndarray:
        return (v - v.min()) / (v.max() - v.min())

    want = (mm(skew) + mm(gain)) * np.minimum(1.0, n / 252)
    np.testing.assert_allclose(af.score[scored], want, rtol=1e-12)
    assert np.isnan(af.score[3]) and np.isnan(af.score[4])  # no bars / one bar: not scored, not in the minmax
    np.testing.assert_allclose(af.significance[1], 180 / 252)


def test_minmax_of_equal_values_is_zero() -> None:
    np.testing.assert_array_equal(A.minmax(np.array([2.0, 2.0, np.nan])), [0.0, 0.0, np.nan])
    assert np.isnan(A.minmax(np.array([np.nan]))).all()


# --------------------------------------------------------------------------- regime


def _market(kind: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(T)
    if kind == "calm":  # the last 10 days are quieter than the window
        m = z * 0.01
        m[-10:] *= 0.4
    elif kind == "normal":
        m = z * 0.01
    elif kind == "crisis":  # a fat-tailed vol burst at the end
        m = z * 0.01
        m[-10:] = rng.standard_t(3, 10) * 0.04
    elif kind == "chop":  # whipsaw: alternating signs
        m = 0.01 * np.where(np.arange(T) % 2 == 0, 1.0, -1.0) + z * 0.002
    else:  # persistent: AR(1) phi 0.9
        m = np.empty(T)
        m[0] = z[0] * 0.01
        for t in range(1, T):
            m[t] = 0.9 * m[t - 1] + z[t] * 0.01
    idio = rng.standard_normal((T, 8)) * 0.002
    x = m[:, None] + idio
    x[np.arange(T) % 7 >= 5, 6:] = np.nan  # two equities in the mix
    return x


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    ("kind", "label"),
    [("calm", A.QUIET), ("normal", A.NORMAL), ("crisis", A.CRISIS), ("chop", A.TURBULENT), ("persist", A.TURBULENT)],
)
def test_regime_classifies_constructed_markets(kind: str, label: str, seed: int) -> None:
    reg = A.regime(_market(kind, seed))
    assert reg.label == label, (reg.score, dict(reg.features))
    assert reg.score == pytest.approx(sum(reg.components.values()))
    if kind == "chop":
        assert reg.features["turbulence"] > 0.7
    if kind == "persist":
        assert reg.features["hurst"] > 0.65
    if kind == "crisis":
        assert reg.score >= 1.8
    assert set(reg.to_dict()) == {"label", "score", "n_obs", "features", "components"}


def test_regime_weights_are_parameters() -> None:
    x = _market("normal", 0)
    base = A.regime(x)
    heavy = A.regime(x, A.RegimeParams(weights=A.RegimeWeights(vol_ratio=3.0)))
    assert base.label == A.NORMAL and heavy.label == A.CRISIS
    assert A.regime(x, A.RegimeParams(quiet_below=1.0)).label == A.QUIET


def test_market_series_uses_each_rows_valid_assets() -> None:
    x = np.array([[0.01, np.nan], [0.02, 0.04], [np.nan, np.nan], [np.nan, -0.02]])
    np.testing.assert_allclose(A.market_series(x), [0.01, 0.03, -0.02])


def test_haar_share_and_autocorrelation() -> None:
    assert A.haar_detail_share(np.array([1.0, -1.0] * 10)) == pytest.approx(1.0)
    assert A.haar_detail_share(np.full(20, 0.01)) == pytest.approx(0.0)
    assert A.haar_detail_share(np.zeros(5)) == 0.0
    rng = np.random.default_rng(0)
    assert A.haar_detail_share(rng.standard_normal(4001)) == pytest.approx(0.5, abs=0.03)
    v = rng.standard_normal(500)
    assert A.lag1_autocorr(v) == pytest.approx(np.corrcoef(v[1:], v[:-1])[0, 1], rel=1e-12)
    assert A.lag1_autocorr(np.ones(10)) == 0.0


def test_regime_errors() -> None:
    with pytest.raises(A.AnalysisError, match="at least 32"):
        A.regime(np.zeros((20, 3)))
    with pytest.raises(A.AnalysisError, match="zero variance"):
        A.regime(np.zeros((100, 3)))
    with pytest.raises(A.AnalysisError, match="quiet_below"):
        A.RegimeParams(quiet_below=2.0)


@pytest.mark.parametrize(
    ("label", "base", "cap"),
    [(A.CRISIS, 0.3, 0.15), (A.CRISIS, 0.1, 0.1), (A.TURBULENT, 0.3, 0.20), (A.NORMAL, 0.3, 0.3), (A.QUIET, 0.3, 0.3)],
)
def test_regime_caps(label: str, base: float, cap: float) -> None:
    assert A.regime_cluster_cap(label, base) == cap
    assert A.Regime(label=label, score=0.0, n_obs=100).cluster_cap(base) == cap


def test_regime_cap_unknown_label() -> None:
    with pytest.raises(A.AnalysisError, match="unknown regime"):
        A.regime_cluster_cap("BULLISH", 0.3)


def test_atom_clusters_on_synthesized_streams() -> None:
    rng = np.random.default_rng(3)
    f = rng.standard_normal(T) * 0.02
    x = np.column_stack([f + rng.standard_normal(T) * 0.004 for _ in range(3)])
    syms = ["A", "B", "C"]
    atoms = [atom_id(s, "t", LONG) for s in syms] + [atom_id("A", "t", SHORT)]
    ar = synthesize_atoms(x, syms, atoms)
    c = atom_clusters(ar, dict.fromkeys(syms, CRYPTO))
    lab = c.label_of()
    assert lab[atoms[0]] == lab[atoms[1]] == lab[atoms[2]] != lab[atoms[3]]  # the short is anti-correlated
    with pytest.raises(A.AnalysisError, match="AtomReturns"):
        atom_clusters(x, dict.fromkeys(syms, CRYPTO))  # type: ignore[arg-type]
    with pytest.raises(A.AnalysisError, match="no asset class"):
        atom_clusters(ar, {"A": CRYPTO})


def test_bad_panels_are_named() -> None:
    with pytest.raises(A.AnalysisError, match="2-D"):
        A.tail_stats(np.zeros(5))
    with pytest.raises(A.AnalysisError, match="inf"):
        A.tail_stats(np.array([[np.inf]]))
    with pytest.raises(A.AnalysisError, match="alpha"):
        A.TailParams(alpha=0.7)
