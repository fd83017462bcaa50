"""Walk-forward validation: windows, point-in-time decisions (look-ahead proof), stitched books, files, the node."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dataflows import columns as C
from dataflows.config import ProfileConfig, Settings
from dataflows.errors import ConfigError
from dataflows.lakehouse import features
from dataflows.lakehouse.calendar import DAY_MS
from dataflows.nodes import validation as V
from dataflows.nodes.sleeve import selection_params
from dataflows.returns import NotEnoughHistory, ReturnsPanel
from dataflows.sleeve import profile_of
from dataflows.validation.simulate import simulate_reference
from dataflows.validation.walkforward import (
    BOOKS,
    EligibilityRule,
    History,
    OptimizerDecider,
    SleeveDecider,
    WalkForwardParams,
    book_targets,
    eligible_symbols,
    run_backtest,
    walk_forward_windows,
)
from tests.conftest import make_settings, run_data_phase, synthetic_venue

RULE = EligibilityRule("recommend_all", ">", 0.0)
DATA = ("healthy_symbols", "candidates", "symbol_metadata", "decision_ms", "features_update", "lakehouse", "venue")


# --------------------------------------------------------------------------- windows


def test_windows_tile_the_test_rows_without_overlap_and_keep_the_tail() -> None:
    p = WalkForwardParams(train=252, test=20, step=20)
    ws = walk_forward_windows(300, p)
    assert [(w.test_start, w.test_stop) for w in ws] == [(252, 272), (272, 292), (292, 300)]
    assert [w.partial for w in ws] == [False, False, True]
    assert all(w.train_stop == w.test_start and w.test_start - w.train_start == 252 for w in ws)
    assert all(a.test_stop == b.test_start for a, b in itertools.pairwise(ws))  # no overlap, no gap
    anchored = walk_forward_windows(300, WalkForwardParams(train=252, test=20, step=20, anchored=True))
    assert {w.train_start for w in anchored} == {0} and anchored[-1].train_stop == 292
    assert len(walk_forward_windows(253, p)) == 1  # one test row is enough


def test_too_short_history_is_a_clear_error() -> None:
    with pytest.raises(NotEnoughHistory, match=r"at least train \+ 1 = 253 rows .* got 252"):
        walk_forward_windows(252, WalkForwardParams())


@pytest.mark.parametrize(("step", "match"), [(10, "overlap"), (30, "untested rows")])
def test_steps_that_overlap_or_leave_gaps_are_refused(step: int, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        WalkForwardParams(test=20, step=step)


def test_eligibility_rule_is_checked() -> None:
    with pytest.raises(ConfigError, match="op"):
        EligibilityRule(op="!=")
    with pytest.raises(ConfigError, match="not a features-matrix"):
        EligibilityRule(field="close")


# --------------------------------------------------------------------------- synthetic histories (no lakehouse)


def _history(returns: np.ndarray) -> History:
    t, n = returns.shape
    symbols = [f"S{j}/USDT" for j in range(n)]
    dates = 1_700_000_000_000 - 1_700_000_000_000 % DAY_MS + np.arange(t, dtype=np.int64) * DAY_MS
    panel = ReturnsPanel(dates, symbols, [C.CRYPTO] * n, returns, np.full(n, np.nan))
    return History(panel, np.ones((t, n)), pl.DataFrame(schema=features.schema()), "synthetic")


def _ew_settings() -> Settings:
    return Settings(profile=ProfileConfig(min_history_days=20, weight_cap=1.0, optimizer="equal_weight"))


def test_the_last_partial_window_is_simulated_and_stitched() -> None:
    r = np.random.default_rng(0).normal(0.0, 0.01, (110, 3))
    res = run_backtest(
        _history(r), OptimizerDecider(profile_of(_ew_settings())), WalkForwardParams(train=40, test=20, step=20)
    )
    assert res.windows["test_rows"].to_list() == [20, 20, 20, 10]
    assert res.windows["partial"].to_list() == [False, False, False, True]
    assert res.returns_frame().height == 70 and res.dates[-1] == _history(r).panel.dates[-1]
    np.testing.assert_allclose(res.returns["profile"][:20].sum(), r[40:60].mean(axis=1).sum(), atol=0.01)


def test_forensic_report_flags_absurd_windows() -> None:
    r = np.random.default_rng(1).normal(0.0, 0.01, (100, 3))
    r[50:60, 0] = 0.5  # +50% a day for ten days: an equal-weight book makes > 1000% in that window
    res = run_backtest(
        _history(r), OptimizerDecider(profile_of(_ew_settings())), WalkForwardParams(train=40, test=10, step=10)
    )
    by_return = {(f["window"], f["book"]) for f in res.forensic["flagged"] if f["total_return"] > 10}
    assert by_return == {(1, "profile"), (1, "raw_ew"), (1, "filtered_ew")}  # only the window of the spike
    hit = next(f for f in res.forensic["flagged"] if f["window"] == 1 and f["book"] == "profile")
    assert any(why.startswith("return") for why in hit["reasons"]) and any("sharpe" in why for why in hit["reasons"])
    assert res.forensic["failed_windows"] == [] and res.forensic["fallback_windows"] == []


# --------------------------------------------------------------------------- the sleeve on the synthetic venue


@pytest.fixture(scope="module")
def sleeve_data(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("wf") / "data")
    data = run_data_phase(settings, venue=synthetic_venue(settings), outputs=DATA)
    history = V.backtest_history(
        data["healthy_symbols"],
        data["candidates"],
        data["features_update"],
        data["lakehouse"],
        data["venue"],
        settings.data,
        data["decision_ms"],
    )
    decide = SleeveDecider(
        data["candidates"], data["symbol_metadata"], profile_of(settings), selection_params(settings.profile)
    )
    return settings, data, history, decide


@pytest.fixture(scope="module")
def backtest(sleeve_data):
    _settings, _data, history, decide = sleeve_data
    return run_backtest(history, decide, WalkForwardParams(eligibility=RULE))


def _perturbed(history: History, t: int, seed: int = 9) -> History:
    """Every row at or after t replaced: returns, traded value and features rows (ts >= row t's date)."""
    rng = np.random.default_rng(seed)
    p = history.panel
    r = p.returns.copy()
    r[t:] = rng.normal(0.0, 0.08, r[t:].shape)
    traded = history.traded.copy()
    traded[t:] = rng.uniform(1.0, 1e9, traded[t:].shape)
    f = history.features
    late = (f[C.TS].dt.epoch("ms") >= int(p.dates[t])).to_numpy()
    noisy = {
        "recommend_all": rng.uniform(-1.0, 1.0, f.height),
        "recommend_ma": rng.uniform(-1.0, 1.0, f.height),
    }
    f = f.with_columns(
        [pl.when(pl.Series(late)).then(pl.Series(v)).otherwise(pl.col(k)).alias(k) for k, v in noisy.items()]
        + [
            pl.when(pl.Series(late))
            .then(pl.Series(rng.integers(-1, 2, f.height), dtype=pl.Int8))
            .otherwise(pl.col("vote_adx"))
            .alias("vote_adx")
        ]
    )
    panel = ReturnsPanel(p.dates, p.symbols, p.asset_class, r, p.quote_volume)
    return History(panel, traded, f, history.venue)


def test_decisions_at_t_do_not_see_rows_at_or_after_t(sleeve_data, backtest) -> None:
    _settings, _data, history, decide = sleeve_data
    k = len(backtest.decisions) // 2
    window = backtest.decisions[k].window
    t = window.test_start
    future = _perturbed(history, t)
    for h in (history, future):
        assert h.features.height > 0
    assert eligible_symbols(future, t, RULE) == eligible_symbols(history, t, RULE) == backtest.decisions[k].eligible
    a = decide(history, window, eligible_symbols(history, t, RULE))
    b = decide(future, window, eligible_symbols(future, t, RULE))
    assert a.selection is not None and b.selection is not None and a.error is None
    assert a.selection.winner_ids == b.selection.winner_ids and a.stage == b.stage
    assert a.sleeve is not None and b.sleeve is not None and a.sleeve.method == b.sleeve.method
    assert a.books == b.books  # every book, every weight, bit for bit
    # the whole walk-forward agrees up to t: decisions before and at t, and every stitched return before t
    again = run_backtest(future, decide, backtest.params)
    for d0, d1 in zip(backtest.decisions[: k + 1], again.decisions[: k + 1], strict=True):
        assert d0.books == d1.books and d0.eligible == d1.eligible
    before = t - backtest.decisions[0].window.test_start
    for b_ in BOOKS:
        np.testing.assert_array_equal(again.returns[b_][:before], backtest.returns[b_][:before])
    assert not np.array_equal(again.returns["profile"][before:], backtest.returns["profile"][before:])


def test_the_row_before_t_does_move_the_decision(sleeve_data, backtest) -> None:
    """The look-ahead test has teeth: the features and returns rows at t−1 are read."""
    _settings, _data, history, decide = sleeve_data
    k = len(backtest.decisions) // 2
    t = backtest.decisions[k].window.test_start
    f = history.features
    at = (f[C.TS].dt.epoch("ms") == int(history.panel.dates[t - 1])).to_numpy()
    flipped = f.with_columns(
        pl.when(pl.Series(at)).then(-pl.col("recommend_all")).otherwise(pl.col("recommend_all")).alias("recommend_all")
    )
    moved = History(history.panel, history.traded, flipped, history.venue)
    assert eligible_symbols(moved, t, RULE) != eligible_symbols(history, t, RULE)
    changed = _perturbed(history, t - 1)
    window = backtest.decisions[k].window
    everyone = tuple(history.panel.symbols)
    assert decide(changed, window, everyone).books != decide(history, window, everyone).books


def test_stitched_books_equal_the_numpy_reference(sleeve_data, backtest) -> None:
    _settings, _data, history, _decide = sleeve_data
    first = backtest.decisions[0].window.test_start
    stop = backtest.decisions[-1].window.test_stop
    rows = np.array([d.window.test_start - first for d in backtest.decisions])
    for book in BOOKS:
        targets = book_targets(backtest.decisions, history.panel.symbols, book)
        ref = simulate_reference(
            history.panel.returns[first:stop],
            rows,
            targets,
            fees=backtest.params.fees,
            slippage=backtest.params.slippage,
        )
        np.testing.assert_allclose(backtest.returns[book], ref.returns, rtol=0, atol=1e-10)


def test_windows_record_stage_fallbacks_and_alphas(backtest) -> None:
    table = backtest.windows
    assert table.height == len(backtest.decisions) >= 20
    ok = table.filter(pl.col("error").is_null())
    assert ok.height > 0 and ok["stage"].is_between(1, 4).all() and ok["method"].is_not_null().all()
    assert (ok["winners"] > 0).all() and (table["eligible"] <= 47).all()
    np.testing.assert_allclose(
        table["selection_alpha"].to_numpy(),
        (table["filtered_ew_total_return"] - table["raw_ew_total_return"]).to_numpy(),
    )
    m = backtest.metrics
    assert m["periods_per_year"] == 365 and m["rows"] == backtest.dates.size
    assert m["optimization_alpha"]["annual_return"] == pytest.approx(
        m["books"]["profile"]["annual_return"] - m["books"]["filtered_ew"]["annual_return"]
    )
    for fb in backtest.forensic["windows"]:
        assert {"stage", "attempts", "fallback_used", "error"} <= set(fb)


def _no_nan(name: str) -> float:
    msg = f"{name} in a JSON file"
    raise AssertionError(msg)


def test_backtest_files_contract(backtest, tmp_path) -> None:
    from hamilton import driver

    dr = driver.Builder().with_modules(V).with_config({"validate": True}).build()
    names = {k: f"backtest_{k}_file" for k in ("returns", "windows", "metrics", "forensic")}
    saved = dr.execute(list(names.values()), inputs={"run_dir": tmp_path}, overrides={"backtest_result": backtest})
    paths = {k: Path(saved[name]["path"]) for k, name in names.items()}
    assert {p.relative_to(tmp_path).as_posix() for p in paths.values()} == {
        "backtest/returns.parquet",
        "backtest/windows.csv",
        "backtest/metrics.json",
        "backtest/forensic.json",
    }
    frame = pl.read_parquet(paths["returns"])
    assert frame.columns == ["date", "profile", "raw_ew", "filtered_ew"]
    assert frame.height == backtest.dates.size and frame["date"].is_sorted()
    assert pl.read_csv(paths["windows"]).height == backtest.windows.height
    metrics = json.loads(paths["metrics"].read_text(), parse_constant=_no_nan)
    assert set(metrics["books"]) == {"profile", "raw_ew", "filtered_ew"}
    assert metrics["universe"]["point_in_time"] is False
    forensic = json.loads(paths["forensic"].read_text(), parse_constant=_no_nan)
    assert {"flagged", "fallback_windows", "failed_windows", "windows", "thresholds"} <= set(forensic)
    assert not list(tmp_path.rglob("*.tmp"))


def test_the_node_module_runs_in_a_hamilton_driver(sleeve_data, tmp_path) -> None:
    from hamilton import driver

    from dataflows.driver import hamilton_config, node_modules

    settings, data, _history, _decide = sleeve_data
    modules = [m for m in node_modules() if m is not V] + [V]
    dr = driver.Builder().with_modules(*modules).with_config(hamilton_config(settings)).build()
    out = dr.execute(
        ["backtest_metrics_file", "backtest_result"],
        inputs={
            "settings": settings,
            "lakehouse": data["lakehouse"],
            "run_dir": tmp_path,
            "run_id": tmp_path.name,
            "as_of_ms": settings.as_of_ms,
        },
        overrides={"venue": data["venue"]},
    )
    assert Path(out["backtest_metrics_file"]["path"]).exists()
    assert out["backtest_result"].metrics["windows"] == len(out["backtest_result"].decisions)
