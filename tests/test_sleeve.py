"""One sleeve end to end on real stage outputs: selection → synthesis → optimization (+ fallbacks) → weights files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dataflows.errors import DataflowsError
from dataflows.portfolio import InfeasibleCaps
from tests.conftest import make_settings, run_data_phase, synthetic_venue

BACKTEST_FILES = (
    "backtest_returns_file",
    "backtest_windows_file",
    "backtest_metrics_file",
    "backtest_forensic_file",
    "backtest_result",
)
SLEEVE = (
    "healthy_symbols",
    "selection_file",
    "analysis_file",
    "weights_parquet_file",
    "weights_csv_file",
    "sleeve_weights",
    "weights_table",
    "selection_result",
    "atom_returns",
    "training_returns",
    "optimization_input",
    "market_regime",
)


def sleeve(tmp_path, *overrides):
    settings = make_settings(tmp_path / "data", *overrides)
    return settings, run_data_phase(settings, venue=synthetic_venue(settings), outputs=SLEEVE)


@pytest.fixture(scope="module")
def long_run(tmp_path_factory):
    return sleeve(tmp_path_factory.mktemp("long"))


def test_weights_files_contract(long_run):
    settings, r = long_run
    table = pl.read_parquet(r["weights_parquet_file"]["path"])
    assert table.columns == [
        *("symbol", "weight", "net_weight", "direction", "cluster", "optimizer", "fallback", "covariance"),
        *("as_of", "run_id", "price", "price_bar", "tick_size", "lot_size", "min_notional"),  # weights you can trade
    ]
    assert (table["covariance"] == settings.profile.covariance).all()
    assert pl.read_csv(r["weights_csv_file"]["path"]).height == table.height
    assert table["weight"].sum() == pytest.approx(1.0, abs=1e-9)
    assert (table["weight"] <= settings.profile.weight_cap + 1e-9).all()
    assert (table["direction"] == "LONG").all() and (table["net_weight"] == table["weight"]).all()
    assert set(table["symbol"]) <= set(r["healthy_symbols"])  # never a quarantined or unhealthy symbol


def test_selection_json_records_the_funnel(long_run):
    _, r = long_run
    body = json.loads(Path(r["selection_file"]["path"]).read_text())
    assert body["funnel"]["candidates"] >= body["funnel"]["winners"] == len(body["winners"]) > 0
    assert 1 <= body["stage_reached"] <= 4
    for w in body["winners"]:
        assert {"atom_id", "stage", "bypassed", "cluster", "score"} <= set(w)
    assert body["training_window"]["rows"] > 0


def test_training_window_ends_at_the_decision_bar(long_run):
    settings, r = long_run
    dates = r["training_returns"].dates
    assert dates[-1] == settings.as_of_ms - 86_400_000  # the last completed bar, never a later one
    assert dates[-1] - dates[0] < settings.profile.train_days * 86_400_000


@pytest.mark.parametrize("method", ["min_variance", "max_sharpe", "risk_parity", "equal_weight", "hrp"])
def test_every_optimizer_switch(tmp_path, method):
    settings, r = sleeve(tmp_path, f"optimizer={method}", "data.history_days=400")
    sw = r["sleeve_weights"]
    assert sw.attempts[0].method == method
    w = np.asarray(sw.weights.weights)
    assert w.sum() == pytest.approx(1.0, abs=1e-9) and (w <= settings.profile.weight_cap + 1e-7).all()
    if sw.fallback_used:  # e.g. MaxSharpe with no asset beating the risk-free rate: recorded, not hidden
        assert not sw.attempts[0].ok and sw.attempts[0].reason
        assert r["weights_table"]["fallback"].all() and (r["weights_table"]["optimizer"] == sw.method).all()


def test_failed_primary_walks_the_chain_and_says_why(tmp_path):
    # no asset beats a 1000% risk-free rate: MaxSharpe must fail, say why, and MinVar (next link) produce the weights
    _, r = sleeve(tmp_path, "optimizer=max_sharpe", "profile.risk_free=10.0", "data.history_days=400")
    sw = r["sleeve_weights"]
    assert [a.method for a in sw.attempts] == ["max_sharpe", "min_variance"]
    assert not sw.attempts[0].ok and "NoPositiveExcessReturn" in sw.attempts[0].reason
    assert sw.fallback_used and sw.method == "min_variance" and sw.attempts[1].ok
    assert r["weights_table"]["fallback"].all() and (r["weights_table"]["optimizer"] == "min_variance").all()


@pytest.mark.parametrize("method", ["hrp", "min_variance", "risk_parity"])
def test_cluster_caps_hold_and_tighten_with_the_regime(tmp_path, method):
    _, r = sleeve(tmp_path, f"optimizer={method}", "profile.cluster_cap=0.3", "data.history_days=400")
    inp = r["optimization_input"]
    expected = r["market_regime"].cluster_cap(0.3)
    assert inp.cluster_cap == pytest.approx(expected)
    w = np.asarray(r["sleeve_weights"].weights.weights)
    for g in np.unique(inp.groups):
        assert w[inp.groups == g].sum() <= expected + 1e-7
    assert w.sum() == pytest.approx(1.0, abs=1e-9)


def test_infeasible_cluster_caps_are_an_error(tmp_path):
    from dataflows.portfolio.caps import InfeasibleClusterCaps

    with pytest.raises(InfeasibleClusterCaps, match=r"raise the cluster cap \(profile\.cluster_cap"):
        sleeve(tmp_path, "profile.cluster_cap=0.05", "profile.regime_caps=false", "data.history_days=400")


def test_infeasible_cap_is_an_error_not_a_relaxation(tmp_path):
    with pytest.raises(InfeasibleCaps):
        sleeve(tmp_path, "profile.weight_cap=0.01", "data.history_days=400")


def test_short_sleeve_signs(tmp_path):
    _settings, r = sleeve(tmp_path, "profile=crypto_short", "data.history_days=400")
    atoms = r["atom_returns"]
    panel = r["training_returns"]
    for k, (sym, direction) in enumerate(zip(atoms.symbols, atoms.directions, strict=True)):
        raw = panel.returns[:, panel.symbols.index(sym)]
        assert direction == "SHORT"
        np.testing.assert_array_equal(atoms.values[:, k], -np.minimum(raw, 1.0))  # applied exactly once
    table = r["weights_table"]
    assert (table["net_weight"] < 0).all() and (table["direction"] == "SHORT").all()
    assert table["weight"].sum() == pytest.approx(1.0) and table["net_weight"].sum() == pytest.approx(-1.0)


def test_unknown_optimizer_is_a_config_error(tmp_path):
    with pytest.raises(DataflowsError, match="optimizer"):
        make_settings(tmp_path / "data", "optimizer=kelly")


def test_vetoes_fire_on_real_stage_outputs_where_they_should(long_run):
    """Contract test on the real pipeline (a filter that reads the wrong frame gives a veto that never fires, or one that
    fires on everything). NOLOT/USDT lacks its lot size: the metadata veto fires on it and nothing else,
    and the metadata veto is never bypassed; no veto fires on every atom."""
    _, r = long_run
    body = json.loads(Path(r["selection_file"]["path"]).read_text())
    atoms = {a["atom_id"].split("|")[0]: a for a in body["atoms"]}
    assert "metadata" in atoms["NOLOT/USDT"]["vetoes"]
    assert [s for s, a in atoms.items() if "metadata" in a["vetoes"]] == ["NOLOT/USDT"]
    assert all("metadata" not in w["bypassed"] for w in body["winners"])
    assert "NOLOT/USDT" not in {w["symbol"] for w in body["winners"]}
    n = len(atoms)
    for veto, count in body["funnel"]["vetoes"].items():
        assert count < n, f"veto {veto} fired on every atom"
    analysis = json.loads(Path(r["analysis_file"]["path"]).read_text())
    assert analysis["regime"]["label"] in {"QUIET", "NORMAL", "TURBULENT", "CRISIS"} and len(analysis["atoms"]) == len(
        body["winners"]
    )


def test_no_stage_reads_after_the_decision_bar(tmp_path):
    """Perturbation proof on the real pipeline: a lakehouse that also holds 30 later days of bars — with every later
    close shocked — gives the same training window, selection and weights for the same decision bar."""
    import polars as pl

    from dataflows.lakehouse import atomic
    from dataflows.lakehouse.store import Lakehouse

    universe = (
        "scanner=crypto_liquid_long",
        "++scanner.limit=12",
        "data.history_days=3000",
        "profile.cluster_cap=null",
    )
    now = make_settings(tmp_path / "now" / "data", *universe)
    now_r = run_data_phase(now, venue=synthetic_venue(now), outputs=(*SLEEVE, "candidates"))
    later = make_settings(tmp_path / "later" / "data", *universe, "run.as_of=2026-07-30")
    run_data_phase(later, venue=synthetic_venue(later), outputs=("healthy_symbols",))
    lh = Lakehouse(later.data_root)
    cutoff = now.as_of_ms - 86_400_000
    for row in lh.registry.all_series():
        path = lh.ohlcv_path("synthetic", "1d", row.symbol)
        bars = pl.read_parquet(path)
        future = pl.col("ts").dt.epoch("ms") > cutoff
        shocked = bars.with_columns(
            *(
                pl.when(future).then(pl.col(c) * 3.0).otherwise(pl.col(c)).alias(c)
                for c in ("open", "high", "low", "close")
            )
        )
        atomic.write_parquet(path, shocked)
    from dataflows.lakehouse import features

    features.update(lh, "synthetic", "1d", [r.symbol for r in lh.registry.all_series()], force_full=True)
    again = make_settings(tmp_path / "later" / "data", *universe, "run.as_of=2026-07-30", "run.id=decide-at-june")
    r = run_data_phase(
        again,
        venue=synthetic_venue(again),
        outputs=SLEEVE,
        overrides={"decision_ms": cutoff, "candidates": now_r["candidates"]},
    )
    np.testing.assert_array_equal(r["training_returns"].returns, now_r["training_returns"].returns)
    assert r["selection_result"].winner_ids == now_r["selection_result"].winner_ids
    assert r["weights_table"].equals(now_r["weights_table"])


def test_validation_stage_walks_forward_on_real_stage_outputs(tmp_path):
    settings = make_settings(tmp_path / "data", "profile.validation.train=180", "profile.validation.test=30")
    r = run_data_phase(settings, venue=synthetic_venue(settings), outputs=BACKTEST_FILES)
    files = {k: Path(r[f"backtest_{k}_file"]["path"]) for k in ("returns", "windows", "metrics", "forensic")}
    returns = pl.read_parquet(files["returns"])
    assert {"profile", "raw_ew", "filtered_ew"} <= set(returns.columns)
    windows = pl.read_csv(files["windows"])
    assert windows.height >= 10 and (windows["train_rows"] == 180).all()
    # windows never overlap and each starts right after the previous one's test rows
    assert (windows["test_start"].str.to_datetime().diff().drop_nulls().dt.total_days() == 30).all()
    metrics = json.loads(files["metrics"].read_text())
    assert {"profile", "filtered_ew", "raw_ew"} <= set(metrics["books"])


DECISION_INPUTS = (
    "training_returns",
    "candidates",
    "symbol_metadata",
    "selection_ratings",
    "selection_params",
    "metadata_required",
    "decision_ms",
    "venue",
    "sleeve_weights",
    "selection_result",
    "market_regime",
    "weights_table",
)


@pytest.mark.parametrize(
    "overrides",
    [
        ("optimizer=min_variance", "profile.cluster_cap=0.3"),  # not the profile's own optimizer (hrp)
        ("optimizer=max_sharpe", "profile.risk_free=10.0"),  # the primary fails: the chain decides
    ],
    ids=["min_variance-cluster-cap", "max_sharpe-fallback"],
)
def test_the_walk_forward_decides_the_live_window_exactly_as_the_live_sleeve(tmp_path, overrides):
    """One decision, one place: a walk-forward whose last window trains on exactly the live training window
    (same rows, same liquidity, same ratings as of the bar before the decision bar) decides it bit for bit as the
    live sleeve (the `sleeve_weights` node), and so does `dataflows.sleeve.decide` called directly."""
    from dataflows.lakehouse import features
    from dataflows.lakehouse.calendar import DAY_MS
    from dataflows.lakehouse.store import Lakehouse
    from dataflows.returns import ReturnsPanel
    from dataflows.sleeve import decide, profile_of
    from dataflows.validation.walkforward import (
        PROFILE,
        History,
        SleeveDecider,
        WalkForwardParams,
        walk_forward_windows,
    )

    settings = make_settings(tmp_path / "data", *overrides, "data.history_days=400")
    r = run_data_phase(settings, venue=synthetic_venue(settings), outputs=DECISION_INPUTS)
    live, sw = r["training_returns"], r["sleeve_weights"]
    assert live.dates[-1] == r["decision_ms"]
    assert sw.attempts[0].method == settings.method != settings.profile.optimizer  # the override leads the chain

    # the live window as the training rows of a one-window walk-forward: one test row after it (never read), and
    # traded value that gives each symbol the live window's quote volume (one finite row: mean = that value)
    t, n = live.returns.shape
    panel = ReturnsPanel(
        np.append(live.dates, live.dates[-1] + DAY_MS),
        list(live.symbols),
        list(live.asset_class),
        np.vstack([live.returns, np.full((1, n), np.nan)]),
        np.full(n, np.nan),
    )
    traded = np.full((t + 1, n), np.nan)
    traded[0] = live.quote_volume
    frame = features.read(Lakehouse(settings.data_root))
    history = History(panel, traded, frame, r["venue"].name)
    (window,) = walk_forward_windows(t + 1, WalkForwardParams(train=t, test=1, step=1))
    decider = SleeveDecider(
        r["candidates"], r["symbol_metadata"], profile_of(settings), r["selection_params"], r["metadata_required"]
    )
    wf = decider(history, window, tuple(live.symbols))

    assert wf.error is None and wf.pool == tuple(live.symbols)
    assert wf.selection.winner_ids == r["selection_result"].winner_ids
    assert wf.regime == r["market_regime"]
    direct = decide(
        live,
        r["candidates"],
        r["symbol_metadata"],
        r["selection_ratings"],
        r["selection_params"],
        profile_of(settings),
        r["metadata_required"],
    ).sleeve_weights
    for other in (wf.sleeve, direct):
        assert other.weights.atom_ids == sw.weights.atom_ids
        np.testing.assert_array_equal(other.weights.weights, sw.weights.weights)  # bit for bit
        assert (other.method, other.primary) == (sw.method, sw.primary)
        assert [(a.method, a.ok, a.reason) for a in other.attempts] == [(a.method, a.ok, a.reason) for a in sw.attempts]
    table = r["weights_table"]
    assert wf.books[PROFILE] == {s: w for s, w in zip(table["symbol"], table["net_weight"], strict=True) if w != 0}


def test_a_decision_that_stops_keeps_what_it_reached_and_every_attempt():
    """No optimizer of the chain passes: the decision keeps its regime and input, records each attempt and the
    error; `reached` raises that error for the artifacts it never reached (the live sleeve fails on it)."""
    from dataflows import columns as C
    from dataflows.config import ProfileConfig
    from dataflows.returns import ReturnsPanel
    from dataflows.sleeve import allocate
    from dataflows.validation.walkforward import _unselected

    x = np.random.default_rng(5).normal(0.0, 0.01, (120, 4))
    symbols = [f"S{j}/USDT" for j in range(4)]
    panel = ReturnsPanel(np.arange(120, dtype=np.int64), symbols, [C.CRYPTO] * 4, x, np.full(4, np.nan))
    profile = ProfileConfig(optimizer="max_sharpe", fallbacks=[], risk_free=100.0, min_history_days=20)
    d = allocate(_unselected([C.atom_id(s, "all", C.LONG) for s in symbols]), panel, profile)
    assert d.sleeve_weights is None and d.regime is not None and d.optimization_input is not None
    assert [(a.method, a.ok) for a in d.attempts] == [("max_sharpe", False)]
    assert "NoPositiveExcessReturn" in d.attempts[0].reason
    assert d.reached("regime") is d.regime
    with pytest.raises(DataflowsError, match=r"every optimizer in the chain \['max_sharpe'\] failed: max_sharpe: "):
        d.reached("sleeve_weights")


def _dusty(**profile_keys):
    """Risk parity over nine calm atoms and one 1,000x as volatile (its weight ~5e-5), asset cap 0.2 (binding) and
    three clusters capped at 0.34 (binding: the refill would break one): `allocate`, as the live sleeve and the
    walk-forward call it."""
    import dataclasses

    from dataflows import columns as C
    from dataflows.config import ProfileConfig
    from dataflows.returns import ReturnsPanel
    from dataflows.sleeve import allocate
    from dataflows.validation.walkforward import _unselected

    vol = np.array([1e-4, 1.2e-4, 1.5e-4, 2e-4, 3e-4, 4e-4, 5e-4, 6e-4, 8e-4, 0.5])
    x = np.random.default_rng(3).normal(0.0, 1.0, (150, 10)) * vol
    symbols = [f"S{j}/USDT" for j in range(10)]
    panel = ReturnsPanel(np.arange(150, dtype=np.int64), symbols, [C.CRYPTO] * 10, x, np.full(10, np.nan))
    selection = _unselected([C.atom_id(s, "all", C.LONG) for s in symbols])
    winners = tuple(dataclasses.replace(w, cluster=(k + 1) % 3) for k, w in enumerate(selection.winners))
    selection = dataclasses.replace(selection, winners=winners)
    keys = {"optimizer": "risk_parity", "weight_cap": 0.2, "cluster_cap": 0.34} | profile_keys
    profile = ProfileConfig(fallbacks=[], min_history_days=20, regime_caps=False, **keys)
    return allocate(selection, panel, profile)


def test_dust_is_dropped_and_the_caps_hold_exactly():
    """A weight below profile.min_weight never reaches the weights: it is dropped, the rest refilled within the asset
    and cluster caps, and the sleeve weights record which atom and how much."""
    dusty = np.asarray(_dusty(min_weight=0.0).sleeve_weights.weights.weights)  # min_weight 0: the dust stays
    assert 0 < dusty[9] < 1e-4
    d = _dusty()  # the default min_weight, 1e-4
    sw, inp = d.sleeve_weights, d.optimization_input
    w = np.asarray(sw.weights.weights)
    assert not ((w > 0) & (w < 1e-4)).any() and w[9] == 0.0
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    assert w.max() <= 0.2 + 1e-12 and (np.abs(w - 0.2) <= 1e-12).sum() >= 1  # the asset cap binds, exactly
    totals = np.bincount(inp.groups, weights=w)
    assert totals.max() <= 0.34 + 1e-12 and np.isclose(totals, 0.34, rtol=0, atol=1e-12).any()  # so does a cluster's
    assert sw.dust_record() == {
        "min_weight": 1e-4,
        "dropped": ["S9/USDT|all|LONG"],
        "dropped_weight": pytest.approx(dusty[9], rel=1e-9),
        "kept": None,
    }


@pytest.mark.parametrize("estimator", ["sample", "ledoit_wolf", "oas", "ridge"])
def test_the_profile_covariance_estimator_feeds_the_optimizers_and_is_recorded(estimator):
    from dataflows.portfolio.covariance import estimate

    d = _dusty(optimizer="min_variance", covariance=estimator)
    inp = d.optimization_input
    np.testing.assert_array_equal(inp.covariance, estimate(inp.returns, estimator) * inp.periods_per_year)
    assert inp.estimator == d.sleeve_weights.covariance == estimator


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("profile.covariance=shrunk", r"profile.covariance='shrunk' is not one of \['sample', 'ledoit_wolf'"),
        ("profile.min_weight=0.3", r"profile.min_weight=0.3 must be >= 0 and below profile.weight_cap"),
        ("profile.min_weight=-1e-4", r"profile.min_weight=-0.0001 must be >= 0"),
    ],
)
def test_covariance_and_min_weight_are_checked(tmp_path, override, match):
    with pytest.raises(DataflowsError, match=match):
        make_settings(tmp_path / "data", override)
