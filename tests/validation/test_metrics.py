"""The one definition of the headline metrics: hand-computed values, degenerate series, the drawdown episodes, the
calendar months, the rolling statistics — and the same numbers in metrics.json, the in-sample block and the sweep."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from dataflows.sleeve import profile_of
from dataflows.validation import metrics as M


def test_headline_metrics_by_hand() -> None:
    r = np.array([0.10, -0.05, 0.0, 0.02])  # equity 1.1, 1.045, 1.045, 1.0659
    m = M.series_metrics(r, 4)  # 4 rows a year: one year of data, so CAGR = total return
    std = math.sqrt((0.0825**2 + 0.0675**2 + 0.0175**2 + 0.0025**2) / 3)  # mean 0.0175, ddof 1
    assert m["total_return"] == pytest.approx(0.0659, abs=1e-15)
    assert m["cagr"] == m["annual_return"] == pytest.approx(0.0659, abs=1e-15)
    assert m["annual_vol"] == pytest.approx(std * 2, rel=1e-14)
    assert m["sharpe"] == pytest.approx(0.0175 / std * 2, rel=1e-14)
    assert m["sortino"] == pytest.approx(1.4, rel=1e-14)  # downside √(0.05²/4) = 0.025
    assert m["max_drawdown"] == pytest.approx(0.05, rel=1e-14)  # 1.045 / 1.1 − 1
    assert m["calmar"] == pytest.approx(0.0659 / 0.05, rel=1e-13)
    assert m["hit_rate"] == pytest.approx(2 / 3)  # the flat row is not a bet
    assert m["cvar_95"] == pytest.approx(0.05)
    assert m["rows"] == 4
    assert M.series_metrics(r, 16)["cagr"] == pytest.approx(1.0659**4 - 1)  # a quarter of a year, compounded


def test_degenerate_series_are_none_not_nan() -> None:
    assert M.series_metrics(np.empty(0), 365) == {**dict.fromkeys(M.KEYS), "rows": 0}
    one = M.series_metrics(np.array([0.01]), 365)
    assert one["annual_vol"] is None and one["sharpe"] is None and one["hit_rate"] == 1.0
    flat = M.series_metrics(np.zeros(5), 252)
    assert flat["sharpe"] is None and flat["sortino"] is None and flat["calmar"] is None and flat["hit_rate"] is None
    assert flat["max_drawdown"] == 0.0
    up = M.series_metrics(np.full(10, 0.01), 365)
    assert up["max_drawdown"] == 0.0 and up["calmar"] is None and up["sortino"] is None and up["hit_rate"] == 1.0
    gone = M.series_metrics(np.array([0.5, -1.0, 0.0]), 365)
    assert gone["cagr"] == -1.0 and gone["max_drawdown"] == pytest.approx(1.0)


def test_drawdown_episodes_by_hand() -> None:
    # equity 1.5, 0.75, 1.5, 1.5, 1.125, 1.6875, 2.109375, 1.0546875 (exact in binary)
    r = np.array([0.5, -0.5, 1.0, 0.0, -0.25, 0.5, 0.25, -0.5])
    episodes = M.drawdown_periods(r)
    assert episodes == [
        M.Drawdown(peak=0, trough=1, recovery=2, depth=0.5),
        M.Drawdown(peak=6, trough=7, recovery=None, depth=0.5),  # not recovered by the end
        M.Drawdown(peak=3, trough=4, recovery=5, depth=0.25),
    ]
    assert episodes[0].depth == M.max_drawdown(r)
    assert M.drawdown_periods(r, top=1) == episodes[:1]
    assert M.drawdown_periods(np.array([-0.5, 1.0])) == [M.Drawdown(-1, 0, 1, 0.5)]  # from the initial capital
    assert M.drawdown_periods(np.full(3, 0.01)) == []
    np.testing.assert_array_equal(M.drawdown(r), [0, -0.5, 0, 0, -0.25, 0, 0, -0.5])


def test_monthly_returns_compound_each_calendar_month() -> None:
    days = np.array(["2025-01-30", "2025-01-31", "2025-02-01", "2026-03-01"], dtype="datetime64[D]")
    years, table, yearly = M.monthly_returns(days, np.array([0.1, 0.1, -0.5, 0.25]))
    assert years == [2025, 2026]
    assert table[0, 0] == pytest.approx(0.21) and table[0, 1] == pytest.approx(-0.5) and table[1, 2] == 0.25
    assert np.isnan(table[0, 2:]).all() and np.isnan(table[1, [0, 1, *range(3, 12)]]).all()
    np.testing.assert_allclose(yearly, [1.21 * 0.5 - 1, 0.25])
    assert M.monthly_returns(days[:0], np.empty(0))[0] == []


def test_rolling_statistics_match_a_slow_reference() -> None:
    r = np.random.default_rng(4).normal(0.001, 0.02, 80)
    w = 21
    sharpe, vol = M.rolling_sharpe(r, w, 365), M.rolling_vol(r, w, 365)
    assert np.isnan(sharpe[: w - 1]).all() and np.isnan(vol[: w - 1]).all()
    for i in range(w - 1, r.size):
        window = M.series_metrics(r[i - w + 1 : i + 1], 365)  # the headline's definitions, window by window
        assert sharpe[i] == pytest.approx(window["sharpe"], rel=1e-10)
        assert vol[i] == pytest.approx(window["annual_vol"], rel=1e-10)
    assert np.isnan(M.rolling_sharpe(np.zeros(30), 10, 365)).all()  # no variation: undefined, not infinite


def test_periods_per_year_from_the_calendar() -> None:
    day = M.DAY_MS
    monday = 4 * day  # 1970-01-05
    assert M.periods_per_year_of(np.arange(5) * day + monday) == 252
    assert M.periods_per_year_of(np.arange(7) * day + monday) == 365


# ------------------------------------------------------------------------------ one definition, three readers


def test_metrics_json_in_sample_block_and_sweep_table_agree() -> None:
    from dataflows.meta.sweep import METRICS, metrics
    from dataflows.nodes.reporting import in_sample
    from tests.report.test_backtest_section import _history

    r = np.random.default_rng(9).normal(0.0005, 0.015, (130, 3))
    history = _history(r)

    # metrics.json: the walk-forward's stitched books
    from dataflows.config import ProfileConfig, Settings
    from dataflows.validation.walkforward import BOOKS, OptimizerDecider, WalkForwardParams, run_backtest

    settings = Settings(profile=ProfileConfig(min_history_days=20, weight_cap=1.0, optimizer="equal_weight"))
    res = run_backtest(history, OptimizerDecider(profile_of(settings)), WalkForwardParams(train=40, test=15, step=15))
    for b in BOOKS:
        expected = M.series_metrics(res.returns[b], res.periods_per_year)
        assert {k: res.metrics["books"][b][k] for k in expected} == expected

    # the in-sample block: the chosen weights over their training rows
    weights = np.array([0.5, 0.3, 0.2])
    block = in_sample(
        sleeve_weights=SimpleNamespace(weights=SimpleNamespace(weights=weights)),
        optimization_input=SimpleNamespace(returns=r, periods_per_year=365),
    )
    stream = r @ weights
    expected = M.series_metrics(stream, 365)
    assert block["metrics"] == {k: expected[k] for k in M.HEADLINE} | {"days": 130, "assets": 3}
    np.testing.assert_array_equal(block["drawdown"], M.drawdown(stream))

    # the sweep's comparison table: the same stream with its dates (24/7: 365 a year)
    row = metrics(history.panel.dates, stream)
    assert {k: row[k] for k in METRICS} == {k: expected[k] for k in METRICS} and row["days"] == 130
    assert row["sharpe"] == block["metrics"]["sharpe"] and row["max_drawdown"] == block["metrics"]["max_drawdown"]
