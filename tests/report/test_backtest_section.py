"""The tearsheet's "Backtest (out of sample)" section: rendered only with a backtest, every window listed, forensics
marked; `backtest_view` from a real walk-forward."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dataflows import columns as C
from dataflows.config import ProfileConfig, Settings
from dataflows.lakehouse import features
from dataflows.lakehouse.calendar import DAY_MS
from dataflows.report.backtest_view import backtest_view
from dataflows.report.data import BACKTEST_BOOKS, BacktestView, TearsheetData
from dataflows.report.tearsheet import tearsheet_html
from dataflows.returns import ReturnsPanel
from dataflows.sleeve import profile_of
from dataflows.validation import metrics as M
from dataflows.validation.walkforward import History, OptimizerDecider, WalkForwardParams, run_backtest
from tests.report.test_tearsheet import _assert_self_contained, _parse, _render, make_data

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "DOGE/USDT"]


def make_backtest(
    n_windows: int = 8,
    test: int = 10,
    *,
    flagged: frozenset[int] = frozenset({2}),
    failed: frozenset[int] = frozenset({5}),
    fallback: frozenset[int] = frozenset({1, 6}),
    seed: int = 3,
) -> BacktestView:
    """A realistic walk-forward view: 3 books over `n_windows` windows of `test` daily rows, with one window whose
    profile return is absurd (flagged), one that held cash (failed) and two served by the fallback chain."""
    rng = np.random.default_rng(seed)
    rows = n_windows * test
    start = np.datetime64("2025-03-01")
    dates = [str(start + i) for i in range(rows)]
    returns = {b: rng.normal(0.0006, 0.02, rows) for b in BACKTEST_BOOKS}
    for w in flagged:
        returns["profile"][w * test : (w + 1) * test] = 0.3  # +30% a day: > 1000% in the window
    for w in failed:
        returns["profile"][w * test : (w + 1) * test] = 0.0  # cash
    equity = {b: np.cumprod(1.0 + r) for b, r in returns.items()}
    windows, flags = [], []
    n = len(SYMBOLS)
    targets = {b: np.zeros((n_windows, n)) for b in BACKTEST_BOOKS}
    realized = {b: np.zeros((n_windows, n)) for b in BACKTEST_BOOKS}
    for w in range(n_windows):
        sl = slice(w * test, (w + 1) * test)
        rec: dict = {
            "window": w,
            "train_start": str(start - 60 + w * test),
            "train_end": str(start - 1 + w * test),
            "test_start": dates[sl.start],
            "test_end": dates[sl.stop - 1],
            "test_rows": test,
            "partial": False,
            "eligible": 40,
            "pool": 30,
            "winners": 0 if w in failed else 8,
            "stage": None if w in failed else 1 + w % 3,
            "regime": None if w in failed else ("NORMAL", "TURBULENT", "QUIET")[w % 3],
            "primary": None if w in failed else "max_sharpe",
            "method": None if w in failed else ("min_variance" if w in fallback else "max_sharpe"),
            "fallback_used": None if w in failed else w in fallback,
            "attempts": ""
            if w in failed
            else ("max_sharpe:failed; min_variance:ok" if w in fallback else "max_sharpe:ok"),
            "error": "selection: no winners (every atom vetoed)" if w in failed else None,
        }
        for b in BACKTEST_BOOKS:
            r = returns[b][sl]
            total = float(np.prod(1.0 + r) - 1.0)
            rec[f"{b}_total_return"] = total
            rec[f"{b}_sharpe"] = float(r.mean() / r.std(ddof=1) * math.sqrt(365)) if r.std() > 0 else None
            rec[f"{b}_turnover"] = 0.0 if (b == "profile" and w in failed) else float(rng.uniform(0.1, 0.9))
            rec[f"{b}_costs"] = rec[f"{b}_turnover"] * 0.0015
            if b != "profile" or w not in failed:
                t = rng.dirichlet(np.ones(n))
                targets[b][w] = t
                realized[b][w] = t * (1.0 + rng.normal(0.0, 0.1, n))
        rec["selection_alpha"] = rec["filtered_ew_total_return"] - rec["raw_ew_total_return"]
        rec["optimization_alpha"] = rec["profile_total_return"] - rec["filtered_ew_total_return"]
        windows.append(rec)
        if w in flagged:
            flags.append(
                {
                    "window": w,
                    "book": "profile",
                    "test_start": rec["test_start"],
                    "test_end": rec["test_end"],
                    "total_return": rec["profile_total_return"],
                    "sharpe": rec["profile_sharpe"],
                    "reasons": [f"return {rec['profile_total_return']:.3g} > 10"],
                }
            )
    metrics = {
        b: {
            "total_return": float(equity[b][-1] - 1.0),
            "annual_return": 0.2,
            "annual_vol": 0.4,
            "sharpe": 0.9,
            "sortino": 1.3,
            "max_drawdown": 0.25,
            "cvar_95": 0.05,
            "turnover_per_rebalance": 0.4,
            "annual_turnover": 14.6,
            "costs_total": 0.005,
            "rows": rows,
        }
        for b in BACKTEST_BOOKS
    }

    def alpha(a: str, b: str) -> dict:
        return {k: metrics[a][k] - metrics[b][k] for k in ("total_return", "annual_return", "sharpe")}

    return BacktestView(
        dates=dates,
        equity=equity,
        drawdown=M.drawdown(returns["profile"]),
        windows=windows,
        metrics=metrics,
        selection_alpha=alpha("filtered_ew", "raw_ew"),
        optimization_alpha=alpha("profile", "filtered_ew"),
        turnover={b: sum(w[f"{b}_turnover"] for w in windows) for b in BACKTEST_BOOKS},
        costs={b: sum(w[f"{b}_costs"] for w in windows) for b in BACKTEST_BOOKS},
        flags=flags,
        fallback_windows=sorted(fallback - failed),
        failed_windows=sorted(failed),
        thresholds={"abs_sharpe": 10.0, "total_return": 10.0},
        returns=returns,
        periods_per_year=365,
        params={"train": 60, "test": test, "step": test, "anchored": False, "fees": 0.001, "slippage": 0.0005},
        symbols=list(SYMBOLS),
        targets=targets,
        realized=realized,
    )


def _with(bt: BacktestView | None) -> TearsheetData:
    return dataclasses.replace(make_data(), backtest=bt)


def _windows(text: str) -> list[list[str]]:
    return _parse(text).tables["backtest-windows"]


def _row_classes(text: str) -> dict[str, str]:
    """Window index → class attribute of its row in the windows table."""
    import re

    return dict((m.group(2), m.group(1)) for m in re.finditer(r'<tr class="([^"]*)" id="bt-window-([^"]+)">', text))


# ------------------------------------------------------------------------------------------------ hand-built view


def test_section_lists_every_window_and_marks_forensics(tmp_path: Path) -> None:
    bt = make_backtest()
    text = _render(tmp_path, _with(bt))
    _assert_self_contained(text)
    assert '<section id="backtest"><h2>Walk-forward details (out of sample)</h2>' in text
    assert '<a href="#backtest">Walk-forward</a>' in text
    # headline, rolling, stitched equity/drawdown, returns per window, net weights, risk, heatmap, funnel, in-sample equity
    assert text.count("<svg") == 9
    assert text.index('id="performance"') < text.index('id="backtest"') < text.index('id="weights"')
    rows = _windows(text)
    assert [r[0] for r in rows] == [str(w["window"]) for w in bt.windows]
    assert [(r[1], r[2]) for r in rows] == [(w["test_start"], w["test_end"]) for w in bt.windows]
    by = {r[0]: r for r in rows}
    # columns: # start end rows return sharpe filtered raw sel opt turnover costs stage regime optimizer fallback status
    assert by["0"][4] == f"{bt.windows[0]['profile_total_return']:.2%}"
    assert by["0"][5] == f"{bt.windows[0]['profile_sharpe']:.2f}"
    assert by["0"][10] == f"{bt.windows[0]['profile_turnover']:.2%}"
    assert by["0"][12] == str(bt.windows[0]["stage"]) and by["0"][13] == "NORMAL"
    assert "⚑ flagged" in by["2"][16] and "return" in by["2"][16]
    assert by["5"][16].startswith("✘ cash") and "no winners" in by["5"][16] and by["5"][14] == "n/a"
    assert by["1"][14] == "max_sharpe → min_variance" and by["1"][15] == "yes"
    assert by["0"][16] == "ok" and by["0"][15] == "no"
    classes = _row_classes(text)
    assert "flagged" in classes["2"] and "fail" in classes["5"] and "fallback" in classes["6"]
    assert classes["0"] == ""
    tables = _parse(text).tables
    assert [r[0] for r in tables["forensic-table"]] == ["2"]
    assert [r[0] for r in tables["fallback-windows"]] == ["1", "6"]
    assert [r[0] for r in tables["failed-windows"]] == ["5"]
    metrics = {r[0]: r[1:] for r in tables["backtest-metrics"]}
    assert metrics["Sharpe"] == ["0.90", "0.90", "0.90"]
    assert metrics["max drawdown"] == ["-25.00%"] * 3  # a loss, as everywhere
    assert metrics["turnover (sum)"][0] == f"{bt.turnover['profile']:.2%}"
    alphas = {r[0]: r[1:] for r in tables["alpha-table"]}
    assert set(alphas) == {"total return", "annual return", "sharpe"}
    summary = dict((r[0], r[1]) for r in tables["backtest-summary"])
    assert summary["windows"] == "8" and summary["flagged windows"] == "1" and summary["failed windows (cash)"] == "1"
    assert "train 60 / test 10 / step 10 rows" in summary["setup"]


def test_page_without_backtest_leads_in_sample_and_says_so(tmp_path: Path) -> None:
    plain = make_data()
    text = _render(tmp_path, plain)
    assert plain.backtest is None
    assert 'id="backtest"' not in text and "Walk-forward" not in text and 'id="exposure"' not in text
    assert "Validation was skipped (flow.skip_validation=true)" in text
    assert "In-sample: the training window" in text and "Out of sample" not in text
    assert text.index('id="sample-banner"') < text.index('id="performance"')
    with_bt = tearsheet_html(_with(make_backtest()))
    assert "Validation was skipped" not in with_bt and "Out of sample: the walk-forward" in with_bt
    assert "In-sample equity and drawdown" in with_bt  # the in-sample stream moves below, labelled


def _all_failed() -> BacktestView:
    bt = make_backtest(4, failed=frozenset(range(4)), flagged=frozenset(), fallback=frozenset())
    flat = np.ones(len(bt.dates))
    return dataclasses.replace(
        bt,
        equity={**bt.equity, "profile": flat},
        drawdown=np.zeros(len(bt.dates)),
        returns={**bt.returns, "profile": np.zeros(len(bt.dates))},
        metrics={**bt.metrics, "profile": dict.fromkeys(bt.metrics["profile"])},
    )


def _nan_metrics() -> BacktestView:
    bt = make_backtest()
    nan = math.nan
    windows = [{**w, "profile_sharpe": nan, "profile_total_return": None, "stage": nan} for w in bt.windows]
    return dataclasses.replace(
        bt,
        windows=windows,
        metrics={b: dict.fromkeys(m, nan) for b, m in bt.metrics.items()},
        selection_alpha={"sharpe": None},
        optimization_alpha={"sharpe": nan},
        flags=[{**bt.flags[0], "sharpe": nan, "total_return": math.inf}],
    )


BACKTEST_EDGES = {
    "one_window": lambda: make_backtest(1, flagged=frozenset(), failed=frozenset(), fallback=frozenset()),
    "one_row": lambda: make_backtest(1, 1, flagged=frozenset(), failed=frozenset(), fallback=frozenset()),
    "all_failed": _all_failed,
    "nan_metrics": _nan_metrics,
    "no_windows": lambda: dataclasses.replace(make_backtest(), windows=[], flags=[], failed_windows=[]),
    "no_dates": lambda: dataclasses.replace(
        make_backtest(), dates=[], equity={}, drawdown=np.empty(0), returns={}, params={}, thresholds={}
    ),
    "length_mismatch": lambda: dataclasses.replace(make_backtest(), dates=make_backtest().dates[:-3]),
    "many_windows": lambda: make_backtest(90, 4, flagged=frozenset({10, 50}), failed=frozenset({70})),
}


@pytest.mark.parametrize("case", sorted(BACKTEST_EDGES))
def test_backtest_edge_cases_render(tmp_path: Path, case: str) -> None:
    bt = BACKTEST_EDGES[case]()
    text = _render(tmp_path, _with(bt))  # asserts no chart failed
    _assert_self_contained(text)
    assert "Walk-forward details (out of sample)" in text
    rows = _parse(text).tables.get("backtest-windows", [])
    assert [r[0] for r in rows] == [str(w["window"]) for w in bt.windows]
    if case == "all_failed":
        assert all(r[16].startswith("✘ cash") for r in rows)
        assert [r[0] for r in _parse(text).tables["failed-windows"]] == ["0", "1", "2", "3"]
        assert "No window flagged" in text
    if case == "nan_metrics":
        metrics = _parse(text).tables["backtest-metrics"]
        assert all(cell == "n/a" for row in metrics[:-2] for cell in row[1:])
        assert all(r[4] == "n/a" and r[5] == "n/a" and r[12] == "n/a" for r in rows)
        assert _parse(text).tables["forensic-table"][0][4:6] == ["n/a", "n/a"]
    if case == "no_windows":
        assert "No walk-forward windows recorded." in text
    if case == "no_dates":
        assert "No out-of-sample equity recorded." in text
    if case == "length_mismatch":
        assert "Lengths differ" in text


def test_backtest_strings_are_escaped(tmp_path: Path) -> None:
    bt = make_backtest()
    evil = "<script>alert(1)</script>"
    windows = [{**w, "error": evil, "regime": evil} if w["window"] == 5 else w for w in bt.windows]
    flags = [{**bt.flags[0], "reasons": [evil]}]
    text = _render(tmp_path, _with(dataclasses.replace(bt, windows=windows, flags=flags)))
    _assert_self_contained(text)
    assert "&lt;script&gt;" in text


# ------------------------------------------------------------------------------------------- from a real backtest


def _history(returns: np.ndarray) -> History:
    t, n = returns.shape
    symbols = [f"S{j}/USDT" for j in range(n)]
    dates = 1_700_000_000_000 - 1_700_000_000_000 % DAY_MS + np.arange(t, dtype=np.int64) * DAY_MS
    panel = ReturnsPanel(dates, symbols, [C.CRYPTO] * n, returns, np.full(n, np.nan))
    return History(panel, np.ones((t, n)), pl.DataFrame(schema=features.schema()), "synthetic")


@pytest.fixture(scope="module")
def real_result():
    r = np.random.default_rng(1).normal(0.0, 0.01, (105, 3))
    r[50:60, 0] = 0.5  # window 1 makes > 1000%: flagged in every book
    settings = Settings(profile=ProfileConfig(min_history_days=20, weight_cap=1.0, optimizer="equal_weight"))
    return run_backtest(
        _history(r), OptimizerDecider(profile_of(settings)), WalkForwardParams(train=40, test=10, step=10)
    )


def test_view_of_a_real_backtest(real_result, tmp_path: Path) -> None:
    res = real_result
    bt = backtest_view(res)
    assert len(bt.dates) == res.dates.size and bt.dates[0] == res.windows["test_start"][0][:10] == "2023-12-24"
    for b in BACKTEST_BOOKS:
        np.testing.assert_allclose(bt.equity[b][-1], np.prod(1.0 + res.returns[b]), rtol=1e-12)
        assert bt.metrics[b]["sharpe"] == res.metrics["books"][b]["sharpe"]
        assert bt.turnover[b] == pytest.approx(res.simulations[b].turnover.sum())
        assert bt.targets[b].shape == bt.realized[b].shape == (len(res.decisions), 3)
    assert bt.symbols == ["S0/USDT", "S1/USDT", "S2/USDT"]
    np.testing.assert_allclose(bt.targets["profile"].sum(axis=1), 1.0)
    assert -bt.drawdown.min() == pytest.approx(res.metrics["books"]["profile"]["max_drawdown"], abs=1e-12)
    assert len(bt.windows) == res.windows.height == 7 and bt.windows[-1]["partial"]
    flagged = {f["window"] for f in res.forensic["flagged"]}
    assert 1 in flagged and {f["window"] for f in bt.flags} == flagged
    text = _render(tmp_path, _with(bt))
    _assert_self_contained(text)
    rows = _windows(text)
    assert [r[0] for r in rows] == [str(w) for w in res.windows["window"].to_list()]
    classes = _row_classes(text)
    for w in res.windows["window"].to_list():
        assert ("flagged" in classes[str(w)]) == (w in flagged) == ("⚑ flagged" in rows[w][16])
    assert rows[-1][3] == "5 (partial)"
    assert len(_parse(text).tables["forensic-table"]) == len(res.forensic["flagged"])


def test_view_under_an_eligibility_rule_needs_the_symbols(real_result) -> None:
    from dataflows.validation.walkforward import EligibilityRule

    res = dataclasses.replace(
        real_result, params=dataclasses.replace(real_result.params, eligibility=EligibilityRule())
    )
    assert backtest_view(res).targets == {}  # column order unknown: no drift data rather than a wrong one
    bt = backtest_view(res, symbols=["S0/USDT", "S1/USDT", "S2/USDT"])
    assert bt.targets["profile"].shape == (7, 3)
    assert backtest_view(res, symbols=["S0/USDT"]).targets == {}  # wrong width: refused


def test_backtest_section_renders_in_headless_chromium(tmp_path: Path) -> None:
    from tests.report.test_tearsheet import _chromium, _run_browser, browser_args

    browser = _chromium()
    if browser is None:
        pytest.skip("chromium not on PATH (CI installs Debian `chromium`); cannot check the page in a browser")
    bt = make_backtest()
    page = tmp_path / "report.html"
    page.write_text(tearsheet_html(_with(bt)), encoding="utf-8")
    args = browser_args(browser, tmp_path / "profile", "--dump-dom", page.as_uri())
    done = _run_browser(args, timeout=45.0)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = _parse(done.stdout)
    assert [r[0] for r in dom.tables["backtest-windows"]] == [str(w["window"]) for w in bt.windows]
    assert [r[0] for r in dom.tables["forensic-table"]] == ["2"]
