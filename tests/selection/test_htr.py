"""HTR on constructed universes: each veto, each stage, shorts, clustering, outcomes, look-ahead, determinism."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from scipy.optimize import brentq

from dataflows.columns import ATOM_ID, CRYPTO, EQUITY, LONG, SHORT, SYMBOL, atom_id
from dataflows.selection import NoWinners, SelectionError
from dataflows.selection import features as F
from dataflows.selection import htr as H
from kernels.selection import efficiency_ratio_1d_nb, hurst_rs_1d_nb, permutation_entropy_1d_nb

T = 250
WINDOW = 120  # entropy / efficiency window (FeatureParams default)


def _efficiency_gap(c: float, seg: np.ndarray, target: float) -> float:
    return abs((seg + c).sum()) / np.abs(seg + c).sum() - target


class Universe:
    """Columns built one by one, with everything `select_atoms` needs about each."""

    def __init__(self, seed: int, t: int = T) -> None:
        self.rng = np.random.default_rng(seed)
        self.t = t
        self.cols: list[np.ndarray] = []
        self.symbols: list[str] = []
        self.classes: list[str] = []
        self.volume: list[float] = []
        self.meta: dict[str, bool] = {}
        self.factors: dict[str, np.ndarray] = {}

    def factor(self, name: str) -> np.ndarray:
        if name not in self.factors:
            self.factors[name] = self.rng.standard_normal(self.t) * 0.015
        return self.factors[name]

    def add(
        self,
        symbol: str,
        r: np.ndarray,
        *,
        cls: str = CRYPTO,
        volume: float = 1e9,
        meta: bool = True,
    ) -> Universe:
        r = r.copy()
        if cls == EQUITY:
            r[np.arange(self.t) % 7 >= 5] = np.nan  # no weekend sessions
        self.cols.append(r)
        self.symbols.append(symbol)
        self.classes.append(cls)
        self.volume.append(volume)
        self.meta[symbol] = meta
        return self

    def clean(self, factor: str, *, drift: float = 0.006, idio: float = 0.005, min_eff: float = 0.06) -> np.ndarray:
        """Trending returns on `factor`, redrawn until Hurst is clear of the random-walk band and the last window
        is efficient enough for every asset class."""
        while True:
            r = self.factor(factor) + self.rng.standard_normal(self.t) * idio + drift
            if not 0.47 <= hurst_rs_1d_nb(r, 8) <= 0.53 and efficiency_ratio_1d_nb(r, WINDOW) >= min_eff:
                return r

    def with_efficiency(self, factor: str, target: float) -> np.ndarray:
        """Clean history, then a last window shifted so that its efficiency ratio is exactly `target`."""
        while True:
            r = self.clean(factor)
            seg = self.factor(factor)[-WINDOW:] + self.rng.standard_normal(WINDOW) * 0.008
            c0 = -seg.mean()
            if target == 0.0:
                r[-WINDOW:] = seg + c0
            else:
                c = brentq(_efficiency_gap, c0, c0 + 0.05, args=(seg, target))
                r[-WINDOW:] = seg + c
            if not 0.47 <= hurst_rs_1d_nb(r, 8) <= 0.53:
                return r

    def returns(self) -> np.ndarray:
        return np.column_stack(self.cols)

    def atoms(self, direction: str = LONG, logic: str = "trend") -> list[str]:
        return [atom_id(s, logic, direction) for s in self.symbols]

    def select(self, atoms: list[str] | None = None, **kwargs: object) -> H.SelectionResult:
        args: dict = {
            "atoms": self.atoms() if atoms is None else atoms,
            "returns": self.returns(),
            "symbols": self.symbols,
            "asset_class": self.classes,
            "quote_volume": self.volume,
            "metadata_ok": self.meta,
        }
        args.update(kwargs)
        return H.select_atoms(**args)


def _vetoes(res: H.SelectionResult) -> dict[str, set[str]]:
    return {r[SYMBOL]: set(r[H.VETOES_STRICT]) for r in res.atoms.iter_rows(named=True)}


def _high_entropy_equity(u: Universe) -> np.ndarray:
    """An equity whose last 120 sessions have (almost) all-distinct order-5 patterns: entropy ≈ 0.99 > 0.95."""
    sessions = int((np.arange(u.t) % 7 < 5).sum())
    while True:
        v = list(u.rng.standard_normal(sessions - WINDOW) * 0.015 + 0.004)
        used: set[tuple[int, ...]] = set()
        for k in range(WINDOW):
            for _ in range(500):
                c = float(u.rng.standard_normal() * 0.02 + 0.004)
                pattern = tuple(np.argsort([*v[-4:], c], kind="stable").tolist())
                if k < 4 or pattern not in used:
                    break
            if k >= 4:
                used.add(pattern)
            v.append(c)
        vals = np.array(v)
        if efficiency_ratio_1d_nb(vals, WINDOW) > 0.06 and not 0.47 <= hurst_rs_1d_nb(vals, 8) <= 0.53:
            r = np.full(u.t, np.nan)
            r[np.arange(u.t) % 7 < 5] = vals
            return r


def _in_band_hurst(u: Universe) -> np.ndarray:
    while True:
        r = u.factor("h") + u.rng.standard_normal(u.t) * 0.008 + 0.004
        if 0.49 <= hurst_rs_1d_nb(r, 8) <= 0.51:
            return r


# --------------------------------------------------------------------------- vetoes


@pytest.fixture(scope="module")
def veto_universe() -> Universe:
    u = Universe(seed=21)
    for k in range(4):
        u.add(f"OK{k}", u.clean("a" if k < 2 else "b"))
    u.add("OKEQ", u.clean("c"), cls=EQUITY)
    u.add("META", u.clean("a"), meta=False)
    u.add("NOADV", u.clean("a"), volume=math.nan)
    u.add("ZEROADV", u.clean("a"), volume=0.0)
    wild = u.clean("a", drift=0.02, idio=0.2)
    u.add("WILD", wild)
    fat = u.clean("b")
    fat[100] = 0.5
    u.add("FAT", fat)
    u.add("NOISE", _high_entropy_equity(u), cls=EQUITY)
    u.add("CHOP", u.with_efficiency("b", 0.0))
    u.add("HURST", _in_band_hurst(u))
    u.add("COSTLY", u.clean("b"), volume=1e3)
    return u


EXPECTED_VETO = {
    "META": H.VETO_METADATA,
    "NOADV": H.VETO_ADV,
    "ZEROADV": H.VETO_ADV,
    "WILD": H.VETO_VOLATILITY,
    "FAT": H.VETO_KURTOSIS,
    "NOISE": H.VETO_ENTROPY,
    "CHOP": H.VETO_EFFICIENCY,
    "HURST": H.VETO_HURST,
    "COSTLY": H.VETO_FRICTION,
}


def test_each_veto_fires_on_its_asset_and_nowhere_else(veto_universe: Universe) -> None:
    res = veto_universe.select()
    vetoes = _vetoes(res)
    for sym, fired in vetoes.items():
        want = {EXPECTED_VETO[sym]} if sym in EXPECTED_VETO else set()
        assert fired == want, (sym, fired)
    assert set(EXPECTED_VETO.values()) == set(H.VETOES)  # every rule is exercised
    counts = res.funnel.vetoes
    assert counts[H.VETO_ADV] == 2 and all(counts[v] == 1 for v in H.VETOES if v != H.VETO_ADV)
    assert res.funnel.after_vetoes == 5


def test_veto_assets_have_the_features_they_were_built_for(veto_universe: Universe) -> None:
    u = veto_universe
    f = F.asset_features(u.returns(), u.symbols, u.classes, u.volume)
    row = {r[SYMBOL]: r for r in f.iter_rows(named=True)}
    assert row["WILD"][F.VOL] > 2.5 and row["FAT"][F.KURTOSIS] > 20
    assert row["NOISE"][F.ENTROPY] > 0.95 > row["OKEQ"][F.ENTROPY]
    assert row["CHOP"][F.EFFICIENCY] < 0.008 and 0.48 <= row["HURST"][F.HURST] <= 0.52
    assert row["COSTLY"][F.ECI] > row["COSTLY"][F.MOMENTUM]


def test_thresholds_are_per_asset_class_and_every_key_is_read() -> None:
    """The same series is vetoed as an equity (efficiency_min 0.05) and not as crypto (0.01); hurdle and
    vol_max move the friction and volatility vetoes: no threshold key is ignored."""
    u = Universe(seed=5)
    r = u.with_efficiency("a", 0.03)
    sessions = np.arange(T) % 7 < 5
    e = np.full(T, np.nan)
    e[sessions] = r[-sessions.sum() :]  # the equity's last 120 sessions are the crypto's last 120 days
    u.add("C", r).add("E", e, cls=EQUITY)
    assert _vetoes(u.select()) == {"C": set(), "E": {H.VETO_EFFICIENCY}}
    params = H.SelectionParams(crypto=replace(H.SelectionParams().crypto, hurdle=100.0, vol_max=0.01))
    assert _vetoes(u.select(params=params))["C"] == {H.VETO_FRICTION, H.VETO_VOLATILITY}
    params = H.SelectionParams(equity=replace(H.SelectionParams().equity, efficiency_min=0.02))
    assert _vetoes(u.select(params=params))["E"] == set()


def test_short_friction_uses_the_short_streams_return() -> None:
    u = Universe(seed=8)
    u.add("UP", u.clean("a", drift=0.006)).add("DOWN", u.clean("a", drift=-0.006))
    atoms = [*u.atoms(LONG), *u.atoms(SHORT)]
    fired = {r[ATOM_ID]: set(r[H.VETOES_STRICT]) for r in u.select(atoms).atoms.iter_rows(named=True)}
    assert fired[atom_id("UP", "trend", LONG)] == set() and fired[atom_id("UP", "trend", SHORT)] == {"friction"}
    assert fired[atom_id("DOWN", "trend", SHORT)] == set() and fired[atom_id("DOWN", "trend", LONG)] == {"friction"}


# --------------------------------------------------------------------------- stages


def test_stage_1_strict() -> None:
    u = Universe(seed=31)
    for c in range(8):
        for k in range(3):
            u.add(f"S{c}_{k}", u.clean(f"f{c}"))
    res = u.select()
    assert res.stage_reached == 1 and res.reason is None
    assert len(res.winners) == 16 and all(w.stage == 1 and w.bypassed == () for w in res.winners)
    assert res.funnel.clusters == 8 and dict(res.funnel.winners_per_stage) == {1: 16}
    per_cluster = pl.Series([w.cluster for w in res.winners]).value_counts()
    assert per_cluster["count"].max() == 2  # top_n per (cluster, direction)
    for w in res.winners:  # each cluster's winners are its two best
        members = res.atoms.filter(pl.col(H.CLUSTER) == w.cluster).sort(H.SCORE, descending=True)
        assert w.atom_id in members[ATOM_ID].head(2).to_list()


def test_stage_2_spectral_relaxation() -> None:
    u = Universe(seed=32)
    for c in range(2):
        for k in range(2):
            u.add(f"OK{c}_{k}", u.clean(f"ok{c}"))
    for c in range(2):
        for k in range(2):
            u.add(f"SLOW{c}_{k}", u.with_efficiency(f"slow{c}", 0.009))  # < 0.01, >= 0.01 × 0.8
    res = u.select(params=H.SelectionParams(min_winners=6))
    assert res.stage_reached == 2
    stage = {w.symbol: w for w in res.winners}
    assert {s for s, w in stage.items() if w.stage == 1} == {"OK0_0", "OK0_1", "OK1_0", "OK1_1"}
    assert {s for s, w in stage.items() if w.stage == 2} == {"SLOW0_0", "SLOW0_1", "SLOW1_0", "SLOW1_1"}
    assert all(w.bypassed == (H.VETO_EFFICIENCY,) for w in res.winners if w.stage == 2)
    assert res.funnel.vetoes[H.VETO_EFFICIENCY] == 4 and res.funnel.vetoes_relaxed[H.VETO_EFFICIENCY] == 0


@pytest.fixture(scope="module")
def floor_universe() -> Universe:
    """Clusters A and B clean, C inefficient (fails even relaxed), D without metadata (health veto)."""
    u = Universe(seed=33)
    for k in range(3):
        u.add(f"A{k}", u.clean("a"))
        u.add(f"B{k}", u.clean("b"))
        u.add(f"C{k}", u.with_efficiency("c", 0.0))
        u.add(f"D{k}", u.clean("d"), meta=False)
    return u


def test_stage_3_cluster_floor(floor_universe: Universe) -> None:
    res = floor_universe.select(params=H.SelectionParams(min_winners=5))
    assert res.stage_reached == 3 and res.reason is None
    assert res.funnel.clusters == 4
    floor = [w for w in res.winners if w.stage == 3]
    assert len(floor) == 1 and floor[0].symbol.startswith("C") and floor[0].bypassed == (H.VETO_EFFICIENCY,)
    c_scores = res.atoms.filter(pl.col(SYMBOL).str.starts_with("C")).sort(H.SCORE, descending=True)
    assert floor[0].atom_id == c_scores[ATOM_ID][0]  # the cluster's best member
    assert not any(w.symbol.startswith("D") for w in res.winners)  # health vetoes are never bypassed


def test_stage_4_leader_fallback(floor_universe: Universe) -> None:
    res = floor_universe.select(params=H.SelectionParams(min_winners=8))
    assert res.stage_reached == 4 and res.reason is None
    leaders = [w for w in res.winners if w.stage == 4]
    # clean leaders beyond top_n come first (A2, B2), then the best soft-vetoed one from C
    assert sorted(w.symbol[0] for w in leaders) == ["A", "B", "C"]
    assert [w.bypassed for w in leaders if w.symbol[0] in "AB"] == [(), ()]
    assert [w.bypassed for w in leaders if w.symbol[0] == "C"] == [(H.VETO_EFFICIENCY,)]
    assert dict(res.funnel.winners_per_stage) == {1: 4, 2: 0, 3: 1, 4: 3}


def test_stage_4_short_of_min_winners_says_why(floor_universe: Universe) -> None:
    res = floor_universe.select(params=H.SelectionParams(min_winners=12))
    assert res.stage_reached == 4 and len(res.winners) == 9
    assert not any(w.symbol.startswith("D") for w in res.winners)
    assert "below min_winners 12" in res.reason and "metadata" in res.reason


def test_bypassable_is_a_parameter(floor_universe: Universe) -> None:
    strict = H.SelectionParams(min_winners=12, bypassable=frozenset())
    res = floor_universe.select(params=strict)
    assert {w.symbol[0] for w in res.winners} == {"A", "B"}
    with pytest.raises(SelectionError, match="health vetoes"):
        H.SelectionParams(bypassable=frozenset({H.VETO_METADATA}))
    with pytest.raises(SelectionError, match="unknown vetoes"):
        H.SelectionParams(bypassable=frozenset({"vibes"}))


def test_winners_are_capped_by_score() -> None:
    u = Universe(seed=34)
    for c in range(4):
        for k in range(2):
            u.add(f"S{c}_{k}", u.clean(f"f{c}"))
    res = u.select(params=H.SelectionParams(min_winners=3, max_winners=5))
    assert len(res.winners) == 5
    best = res.atoms.filter(pl.col(H.VETOES_STRICT).list.len() == 0).sort(H.SCORE, descending=True)
    assert set(res.winner_ids) == set(best[ATOM_ID].head(5))


def test_one_atom_per_base_and_direction() -> None:
    u = Universe(seed=35)
    btc = u.clean("btc")
    u.add("BTC/USDT", btc).add("BTC/USDC", btc * 1.0001 + 1e-5).add("ETH/USDT", u.clean("btc"))
    bases = {"BTC/USDT": "BTC", "BTC/USDC": "BTC", "ETH/USDT": "ETH"}
    atoms = [*u.atoms(LONG), *u.atoms(LONG, logic="breakout")]
    res = u.select(atoms, bases=bases, params=H.SelectionParams(min_winners=2, top_n=5))
    assert sorted(w.base for w in res.winners) == ["BTC", "ETH"]


# --------------------------------------------------------------------------- scoring and shorts


def _mixed(seed: int) -> Universe:
    u = Universe(seed=seed)
    for k, d in enumerate([-0.006, -0.003, -0.001, 0.001, 0.003, 0.006]):
        u.add(f"X{k}", u.clean(f"f{k % 2}", drift=d, idio=0.01 + 0.002 * k, min_eff=0.0))
    return u


def test_shorts_rank_most_bearish_first() -> None:
    u = _mixed(41)
    only_momentum = H.ScoreWeights(**{k: 1.0 if k == "momentum" else 0.0 for k in H.ScoreWeights.__dataclass_fields__})
    res = u.select(u.atoms(SHORT), params=H.SelectionParams(weights=only_momentum))
    by_score = res.atoms.sort(H.SCORE, descending=True)[SYMBOL].to_list()
    assert by_score == ["X0", "X1", "X2", "X3", "X4", "X5"]  # most negative drift first


def test_short_scores_mirror_long_scores_on_the_negated_universe() -> None:
    """A SHORT atom on −r is the LONG atom on r: same features in its direction, same p's, same score."""
    u = _mixed(42)
    neg = Universe(seed=0)
    for s, r in zip(u.symbols, u.cols, strict=True):
        neg.add(s, -r)
    ratings = pl.DataFrame(
        {SYMBOL: u.symbols, H.RECOMMEND_ALL: np.linspace(-0.5, 0.7, 6), H.ADX: np.linspace(10, 40, 6)[::-1]}
    )
    neg_ratings = ratings.with_columns(-pl.col(H.RECOMMEND_ALL))
    long_res = u.select(u.atoms(LONG), ratings=ratings)
    short_res = neg.select(neg.atoms(SHORT), ratings=neg_ratings)
    np.testing.assert_allclose(short_res.atoms[H.LOG_SCORE], long_res.atoms[H.LOG_SCORE], rtol=1e-10)
    assert "p_recommend_all" in long_res.atoms.columns and "p_recommend_ma" not in long_res.atoms.columns


def test_ratings_none_skips_metrics_and_missing_symbols_rank_last() -> None:
    u = _mixed(43)
    base = u.select()
    assert not any(c in base.atoms.columns for c in ("p_adx", "p_recommend_all", "p_recommend_ma"))
    ratings = pl.DataFrame({SYMBOL: u.symbols[:5], H.ADX: [20.0, 25.0, None, 30.0, 35.0]})
    res = u.select(ratings=ratings)
    p = dict(zip(res.atoms[SYMBOL], res.atoms["p_adx"], strict=True))
    assert p["X2"] == p["X5"] == pytest.approx(1.5 / 6)  # null and absent tie at the bottom
    assert p["X4"] == 1.0
    with pytest.raises(SelectionError, match="several rows"):
        u.select(ratings=pl.concat([ratings, ratings]))


def test_score_is_the_weighted_product_of_rank_probabilities() -> None:
    u = _mixed(44)
    res = u.select()
    p_cols = [c for c in res.atoms.columns if c.startswith("p_")]
    w = H.ScoreWeights()
    want = sum(getattr(w, c[2:]) * np.log(res.atoms[c].to_numpy()) for c in p_cols)
    np.testing.assert_allclose(res.atoms[H.LOG_SCORE], want, rtol=1e-12)
    np.testing.assert_allclose(res.atoms[H.SCORE], np.exp(want), rtol=1e-12)
    assert all(0 < v <= 1 for c in p_cols for v in res.atoms[c])


# --------------------------------------------------------------------------- clustering


def test_clusters_mix_calendars_with_pairwise_complete_correlation() -> None:
    u = Universe(seed=51)
    for k in range(3):
        u.add(f"CA{k}", u.clean("a")).add(f"CB{k}", u.clean("b"))
    u.add("EQA", u.clean("a"), cls=EQUITY).add("EQB", u.clean("b"), cls=EQUITY)
    c = H.correlation_clusters(u.returns(), u.symbols, u.classes)
    members = {frozenset(v) for v in c.members().values()}
    assert members == {frozenset({"CA0", "CA1", "CA2", "EQA"}), frozenset({"CB0", "CB1", "CB2", "EQB"})}
    assert c.lookbacks == (60, 120, 200)  # mixed: no 5-day lookback


def test_lookbacks_distance_and_max_clusters() -> None:
    rng = np.random.default_rng(52)
    x = rng.standard_normal((100, 30)) * 0.02
    assert H.correlation_clusters(x, [f"Z{k}" for k in range(30)], [CRYPTO] * 30).lookbacks == (5, 60)
    c = H.correlation_clusters(x, [f"Z{k}" for k in range(30)], [EQUITY] * 30)
    assert c.lookbacks == (60,) and c.n_clusters == 25  # 30 independent assets, capped at 25
    assert H.correlation_clusters(x[:40], [f"Z{k}" for k in range(30)], [EQUITY] * 30).lookbacks == (40,)
    p = H.ClusterParams()
    d = H.correlation_distance(x[:, :2], (60,), p)
    rho = np.corrcoef(x[-60:, 0], x[-60:, 1])[0, 1]
    assert d[0, 1] == pytest.approx(math.sqrt(0.5 * (1 - 0.99 * rho)), rel=1e-12) and d[0, 0] == 0.0


# --------------------------------------------------------------------------- outcomes, look-ahead, determinism


def test_all_vetoed_universe_is_an_explained_empty_result(floor_universe: Universe) -> None:
    u = floor_universe
    res = u.select(metadata_ok={})
    assert res.winners == () and res.stage_reached == 4
    assert res.reason.startswith("no winners") and "metadata" in res.reason
    assert res.funnel.vetoes[H.VETO_METADATA] == res.funnel.with_features == 12
    with pytest.raises(NoWinners, match="no winners"):
        res.require_winners()
    assert json.loads(res.to_json())["winners"] == []


def test_empty_universe_and_featureless_universe() -> None:
    u = Universe(seed=61)
    u.add("A", u.clean("a"))
    empty = u.select([])
    assert empty.stage_reached == 0 and empty.reason == "empty universe: no candidate atoms"
    assert empty.funnel.candidates == 0 and json.loads(empty.to_json())["winners"] == []
    short = Universe(seed=62, t=20)
    short.add("A", short.clean("a"))
    res = short.select(atoms=[*short.atoms(), atom_id("GHOST", "trend", LONG)])
    assert res.stage_reached == 0 and res.reason.startswith("no candidate has features")
    assert res.excluded[atom_id("GHOST", "trend", LONG)] == (H.EXCLUDED_NO_RETURNS,)
    assert res.excluded[atom_id("A", "trend", LONG)][0] == "missing n_obs"
    with pytest.raises(NoWinners):
        res.require_winners()


def test_malformed_atoms_raise() -> None:
    u = Universe(seed=63)
    u.add("A", u.clean("a"))
    with pytest.raises(SelectionError, match="duplicates"):
        u.select(atoms=u.atoms() * 2)
    with pytest.raises(SelectionError, match="direction"):
        u.select(atoms=["A|trend|SIDEWAYS"])
    with pytest.raises(SelectionError, match="not '<symbol>"):
        u.select(atoms=["A-trend"])


def test_rows_after_the_training_window_change_nothing(floor_universe: Universe) -> None:
    """Selection sees the window it is given: perturbing or appending later rows leaves the result identical,
    while changing the window itself does change it (so the test would notice a leak)."""
    u = floor_universe
    full = np.vstack([u.returns(), np.random.default_rng(7).standard_normal((60, len(u.symbols))) * 0.05])
    perturbed = full.copy()
    perturbed[T:] = -perturbed[T:] * 3.0
    params = H.SelectionParams(min_winners=8)

    def run(panel: np.ndarray) -> str:
        return u.select(returns=panel[:T], params=params).to_json()

    assert run(full) == run(perturbed) == u.select(params=params).to_json()
    assert u.select(returns=full[30 : T + 30], params=params).to_json() != run(full)


def test_deterministic_and_json_shape(veto_universe: Universe) -> None:
    a = veto_universe.select(params=H.SelectionParams(min_winners=3)).to_json()
    b = veto_universe.select(params=H.SelectionParams(min_winners=3)).to_json()
    assert a == b
    doc = json.loads(a)
    assert set(doc) == {"stage_reached", "reason", "funnel", "clusters", "winners", "excluded", "atoms", "params"}
    assert set(doc["funnel"]) >= {"candidates", "with_features", "vetoes", "after_vetoes", "clusters"}
    w = doc["winners"][0]
    assert set(w) >= {"atom_id", "symbol", "direction", "cluster", "score", "stage", "bypassed"}
    assert doc["params"]["bypassable"] == sorted(H.SOFT_VETOES)


def test_features_cover_entropy_and_efficiency_on_last_window_only() -> None:
    """Entropy and efficiency read the last 120 valid returns; earlier rows move momentum, not them."""
    u = Universe(seed=71)
    r = u.clean("a")
    r2 = r.copy()
    r2[:50] += 0.01
    for v in (r, r2):
        assert permutation_entropy_1d_nb(v, 5, 1, WINDOW) == permutation_entropy_1d_nb(r, 5, 1, WINDOW)
    f = F.asset_features(np.column_stack([r, r2]), ["A", "B"], [CRYPTO, CRYPTO], [1e9, 1e9])
    assert f[F.EFFICIENCY][0] == f[F.EFFICIENCY][1] and f[F.MOMENTUM][0] != f[F.MOMENTUM][1]
