"""What the tearsheet leads with: the profile's benchmark (validated, bought and held, or the equal-weight pool), the
headline table, the monthly and drawdown tables on the metrics' definitions, days instead of timestamps, and
autoescaping of everything that comes from the data."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dataflows.errors import ConfigError
from dataflows.report.backtest_view import backtest_performance, backtest_view, check_benchmark
from dataflows.report.data import IN_SAMPLE, OUT_OF_SAMPLE, POOL, Performance
from dataflows.report.page import as_of_label, environment, metric_text
from dataflows.report.tearsheet import tearsheet_html
from dataflows.sleeve import profile_of
from dataflows.validation import metrics as M
from tests.report.test_backtest_section import _history
from tests.report.test_tearsheet import _assert_self_contained, _parse, make_data

EVIL = "<script>alert('x')</script>"


@pytest.fixture(scope="module")
def walk_forward():
    """A small real walk-forward (equal weight, 3 symbols) and its history."""
    from dataflows.config import ProfileConfig, Settings
    from dataflows.validation.walkforward import OptimizerDecider, WalkForwardParams, run_backtest

    history = _history(np.random.default_rng(2).normal(0.0004, 0.012, (160, 3)))
    settings = Settings(profile=ProfileConfig(min_history_days=20, weight_cap=1.0, optimizer="equal_weight"))
    result = run_backtest(
        history, OptimizerDecider(profile_of(settings)), WalkForwardParams(train=40, test=20, step=20)
    )
    return result, history


def _with_panel(history, returns: np.ndarray):
    """The same history with other returns (the benchmark reads only the panel)."""
    return dataclasses.replace(history, panel=dataclasses.replace(history.panel, returns=returns))


# ------------------------------------------------------------------------------------------------- the benchmark


def test_benchmark_key_is_validated() -> None:
    from dataflows.explore import field_descriptions
    from tests.conftest import make_settings

    base = make_settings(Path("/tmp/unused"))
    assert base.profile.benchmark is None  # default: the equal-weight pool
    blank = dataclasses.replace(base, profile=dataclasses.replace(base.profile, benchmark="  "))
    with pytest.raises(ConfigError, match=r"profile\.benchmark is empty"):
        blank.validate()
    assert "equal-weight pool" in field_descriptions()["profile.benchmark"]  # what `run --help` prints
    assert make_settings(Path("/tmp/unused"), "profile.benchmark=BTC/USDT").profile.benchmark == "BTC/USDT"
    check_benchmark(None, [])
    check_benchmark("BTC/USDT", ["ETH/USDT", "BTC/USDT"])
    with pytest.raises(ConfigError, match=r"^profile\.benchmark='SPY' is not among the sleeve's 2 candidates") as err:
        check_benchmark("SPY", ["ETH/USDT", "BTC/USDT"])
    assert "\n" not in str(err.value)  # the CLI prints it as one line


def test_default_benchmark_is_the_raw_ew_book(walk_forward) -> None:
    result, history = walk_forward
    lead = backtest_performance(result, history, None)
    assert lead.sample == OUT_OF_SAMPLE and lead.benchmark == POOL and lead.notes == []
    np.testing.assert_array_equal(lead.benchmark_returns, result.returns["raw_ew"])
    np.testing.assert_array_equal(lead.returns, result.returns["profile"])
    assert len(lead.dates) == result.dates.size and re.fullmatch(r"\d{4}-\d{2}-\d{2}", lead.dates[0])
    # exposure: equal weight, long only, every window invested
    np.testing.assert_allclose(lead.gross, 1.0)
    np.testing.assert_allclose(lead.net, 1.0)
    assert lead.gross.size == result.dates.size


def test_a_symbol_benchmark_is_bought_and_held(walk_forward) -> None:
    result, history = walk_forward
    rows = np.searchsorted(history.panel.dates, result.dates)
    lead = backtest_performance(result, history, "S1/USDT")
    assert lead.benchmark == "S1/USDT, bought and held" and lead.notes == []
    np.testing.assert_array_equal(lead.benchmark_returns, history.panel.returns[rows, 1])

    gappy = history.panel.returns.copy()
    gappy[rows[:5], 2] = np.nan  # listed late: no bar on the first five out-of-sample days
    lead = backtest_performance(result, _with_panel(history, gappy), "S2/USDT")
    assert lead.notes == [
        f"benchmark S2/USDT has no bar on 5 of {rows.size} out-of-sample dates (counted as flat days)"
    ]
    assert (lead.benchmark_returns[:5] == 0).all()
    np.testing.assert_array_equal(lead.benchmark_returns[5:], history.panel.returns[rows[5:], 2])

    gappy[rows, 2] = np.nan  # no bar at all: the pool, said so
    lead = backtest_performance(result, _with_panel(history, gappy), "S2/USDT")
    assert lead.benchmark == POOL and "no bar on any of the" in lead.notes[0] and POOL in lead.notes[0]
    np.testing.assert_array_equal(lead.benchmark_returns, result.returns["raw_ew"])

    lead = backtest_performance(result, history, "GONE/USDT")  # a candidate the health gate excluded
    assert lead.benchmark == POOL and lead.notes[0].startswith("benchmark GONE/USDT has no out-of-sample returns")


def test_the_headline_shows_the_benchmark_beside_the_sleeve(walk_forward, tmp_path: Path) -> None:
    result, history = walk_forward
    gappy = history.panel.returns.copy()
    gappy[np.searchsorted(history.panel.dates, result.dates[:3]), 1] = np.nan
    lead = backtest_performance(result, _with_panel(history, gappy), "S1/USDT")
    data = dataclasses.replace(make_data(), backtest=backtest_view(result), performance=lead)
    text = tearsheet_html(data)
    _assert_self_contained(text)
    assert "benchmark: S1/USDT, bought and held" in text
    assert re.search(r'<p class="warn benchmark-note">benchmark S1/USDT has no bar on 3 of \d+', text)
    tables = _parse(text).tables
    headline = {row[0]: row[1:] for row in tables["headline-metrics"]}
    sleeve, bench = M.series_metrics(lead.returns, 365), M.series_metrics(lead.benchmark_returns, 365)
    assert list(headline) == [M.LABELS[k] for k in M.HEADLINE]
    for key in M.HEADLINE:
        assert headline[M.LABELS[key]] == [metric_text(key, sleeve[key]), metric_text(key, bench[key])]
    assert '<section id="exposure">' in text  # the walk-forward's weights give the exposure over time


def test_monthly_and_drawdown_tables_follow_the_metrics() -> None:
    dates = [str(d) for d in np.arange(np.datetime64("2025-01-01"), np.datetime64("2025-04-11"))]  # 100 days
    r = np.zeros(100)
    r[10], r[20], r[40], r[70] = 0.2, -0.5, 1.0, -0.1  # high from Jan 11 to 20, trough Jan 21, back Feb 10
    lead = Performance(IN_SAMPLE, dates, r, "", np.empty(0), 365)
    tables = _parse(tearsheet_html(dataclasses.replace(make_data(), performance=lead))).tables
    monthly = {row[0]: row[1:] for row in tables["monthly-returns"]}
    assert list(monthly) == ["2025"]
    assert monthly["2025"][:4] == ["-40.0%", "100.0%", "-10.0%", "0.0%"]  # Jan 1.2 × 0.5, Feb, Mar, Apr (flat)
    assert monthly["2025"][12] == "8.0%"  # the year: 1.2 × 0.5 × 2 × 0.9 − 1
    drawdowns = tables["drawdowns-table"]
    # start = the last day at the high; length in calendar days from it to the recovery (or to the last day, +)
    assert drawdowns[0] == ["1", "2025-01-20", "2025-01-21", "2025-02-10", "-50.00%", "21", "1"]
    assert drawdowns[1] == ["2", "2025-03-11", "2025-03-12", "not recovered", "-10.00%", "30+", "1"]
    assert [e.depth for e in M.drawdown_periods(r)] == [0.5, pytest.approx(0.1)]


# ------------------------------------------------------------------------------------------------------ dates


def test_dates_are_days_never_timestamps(walk_forward) -> None:
    result, history = walk_forward
    assert result.windows["test_start"][0].endswith("T00:00:00Z")  # what the walk-forward's table carries
    base = make_data()
    data = dataclasses.replace(
        base,
        as_of=as_of_label("2026-07-01T00:00:00+00:00"),
        dates=[f"{d}T00:00:00Z" for d in base.dates],
        backtest=backtest_view(result),
        performance=backtest_performance(result, history, None),
    )
    text = tearsheet_html(data)
    assert "T00:00:00" not in text
    windows = _parse(text).tables["backtest-windows"]
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", row[1]) for row in windows)
    assert as_of_label("2026-07-01T00:00:00+00:00") == "2026-06-30, end of day UTC"  # `run.as_of=2026-06-30`
    assert as_of_label("2026-06-30T14:05:00Z") == "2026-06-30 14:05 UTC"


# ----------------------------------------------------------------------------------------------------- escaping


def test_pages_are_autoescaped(tmp_path: Path) -> None:
    assert environment().autoescape is True
    base = make_data([EVIL, "BTC/USDT:USDT", "ETH/USDT:USDT"], shorts=set())
    lead = Performance(OUT_OF_SAMPLE, list(base.dates), np.full(400, 0.001), f"{EVIL}, bought and held", np.zeros(400))
    data = dataclasses.replace(base, performance=dataclasses.replace(lead, notes=[f"benchmark {EVIL} note"]))
    text = tearsheet_html(data)
    _assert_self_contained(text)
    assert "<script" not in text.lower() and text.count("&lt;script&gt;") >= 4  # weights, risk, clusters, benchmark
    assert EVIL in [row[1] for row in _parse(text).tables["weights-table"]]

    from dataflows.report.meta_report import meta_report_html

    folder = _meta_folder(tmp_path, sleeve=EVIL, symbol=EVIL)
    page = meta_report_html(folder, {"run_id": "m1", "as_of": "2026-07-01T00:00:00+00:00", "meta": {"name": EVIL}})
    assert "<script" not in page.lower() and "&lt;script&gt;" in page and "T00:00:00" not in page


def _meta_folder(tmp_path: Path, sleeve: str, symbol: str) -> Path:
    """The files a meta run writes, by hand: two sleeves over 30 days of 24/7 bars."""
    folder = tmp_path / "meta"
    folder.mkdir()
    days = np.arange(30, dtype=np.int64) * 86_400_000 + 1_767_225_600_000  # from 2026-01-01
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.001, 0.02, 30), rng.normal(0.0, 0.01, 30)
    pl.DataFrame({"date": days, sleeve: a, "other": b}).write_parquet(folder / "meta_returns.parquet")
    pl.DataFrame({"date": days, "returns": 0.6 * a + 0.4 * b}).write_parquet(folder / "meta_stream.parquet")
    pl.DataFrame({"sleeve": [sleeve, "other"], "weight": [0.6, 0.4], "method": ["hrp", "hrp"]}).write_csv(
        folder / "meta_weights.csv"
    )
    pl.DataFrame({"symbol": [symbol], "gross": [1.0], "net": [1.0], "sleeves": [f"{sleeve}=1.0"]}).write_csv(
        folder / "flattened_weights.csv"
    )
    sleeves = [
        {"sleeve": sleeve, "kind": "profile", "source": "x", "status": "ok", "dropped": False, "stream": "in_sample"},
        {
            "sleeve": "other",
            "kind": "profile",
            "source": "y",
            "status": "ok",
            "dropped": False,
            "stream": "out_of_sample",
        },
    ]
    (folder / "sleeves.json").write_text(json.dumps(sleeves))
    return folder


def test_meta_report_html_is_the_written_page_and_writes_nothing(tmp_path: Path) -> None:
    from dataflows.report.meta_report import meta_report_html, render_meta_report

    folder = _meta_folder(tmp_path, sleeve="long", symbol="BTC/USDT")
    (folder / "manifest.json").write_text(json.dumps({"run_id": "m1", "as_of": "2026-07-01T00:00:00+00:00"}))
    before = {p: p.read_bytes() for p in folder.rglob("*")}
    page = meta_report_html(folder)  # no manifest given: read from the folder, as the writer does
    assert {p: p.read_bytes() for p in folder.rglob("*")} == before
    assert page == meta_report_html(folder, json.loads((folder / "manifest.json").read_text()))
    assert render_meta_report(folder).read_bytes() == page.encode("utf-8")


def test_meta_report_leads_with_the_metrics_of_every_stream(tmp_path: Path) -> None:
    from dataflows.report.meta_report import meta_report_html

    folder = _meta_folder(tmp_path, sleeve="long", symbol="BTC/USDT")
    page = meta_report_html(folder, {"run_id": "m1", "as_of": "2026-07-01T00:00:00+00:00"})
    tables = _parse(page).tables
    stream = pl.read_parquet(folder / "meta_stream.parquet")["returns"].to_numpy()
    returns = pl.read_parquet(folder / "meta_returns.parquet")
    rows = {row[0]: row[1:] for row in tables["meta-metrics"]}
    for key in M.HEADLINE:  # 24/7 dates: 365 a year
        expected = [M.series_metrics(x, 365)[key] for x in (stream, returns["long"], returns["other"])]
        assert rows[M.LABELS[key]] == [metric_text(key, v) for v in expected]
    assert "meta</th>" in page and "long (in-sample)" in page and "other (out of sample)" in page
    assert "long: in-sample stream (validation skipped)" in page
    corr = np.corrcoef(returns["long"], returns["other"])[0, 1]
    assert [row[1:] for row in tables["sleeve-correlation"]] == [["1.00", f"{corr:.2f}"], [f"{corr:.2f}", "1.00"]]
    assert page.index('id="performance"') < page.index('id="correlation"') < page.index('id="meta-weights"')
