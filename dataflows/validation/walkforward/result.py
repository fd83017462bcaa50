"""What a backtest returns: stitched daily returns per book, the windows table (`windows.csv`), the metrics
(`metrics.json`, by `dataflows.validation.metrics`) and the forensic report (`forensic.json`: windows whose Sharpe
or return is implausible, fallbacks, failures)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from dataflows.timestamps import iso
from dataflows.validation import metrics as M
from dataflows.validation.simulate import BookSimulation
from dataflows.validation.walkforward.decisions import BOOKS, FILTERED_EW, PROFILE, RAW_EW, WindowDecision
from dataflows.validation.walkforward.plan import WalkForwardParams

WINDOW_METRICS = ("total_return", "sharpe", "sortino", "annual_vol", "max_drawdown", "cvar_95")


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Stitched daily returns per book, the per-window table, metrics and the forensic report."""

    params: WalkForwardParams
    periods_per_year: int
    dates: np.ndarray  # int64 epoch ms of every simulated (test) row
    returns: Mapping[str, np.ndarray]  # book → daily returns aligned with `dates`
    windows: pl.DataFrame  # windows.csv
    metrics: dict  # metrics.json
    forensic: dict  # forensic.json
    decisions: tuple[WindowDecision, ...] = field(repr=False)
    simulations: Mapping[str, BookSimulation] = field(repr=False)

    def returns_frame(self) -> pl.DataFrame:
        """date (bar open time, UTC), profile, raw_ew, filtered_ew."""
        return pl.DataFrame(
            {
                "date": pl.Series(self.dates).cast(pl.Datetime("ms", "UTC")),
                **{b: self.returns[b] for b in BOOKS},
            }
        )


def window_table(
    decisions: Sequence[WindowDecision],
    sims: Mapping[str, BookSimulation],
    rows: np.ndarray,
    dates: np.ndarray,
    ppy: int,
    all_dates: np.ndarray,
) -> pl.DataFrame:
    ends = np.append(rows[1:], dates.size)
    records = []
    for k, d in enumerate(decisions):
        w = d.window
        rec: dict[str, object] = {
            "window": w.index,
            "train_start": iso(int(all_dates[w.train_start])),
            "train_end": iso(int(all_dates[w.train_stop - 1])),
            "test_start": iso(int(all_dates[w.test_start])),
            "test_end": iso(int(all_dates[w.test_stop - 1])),
            "train_rows": w.train_stop - w.train_start,
            "test_rows": w.test_stop - w.test_start,
            "partial": w.partial,
            "eligible": len(d.eligible),
            "pool": len(d.pool),
            "winners": d.winners,
            "stage": d.stage,
            "regime": None if d.regime is None else d.regime.label,
            "primary": None if d.sleeve is None else d.sleeve.primary,
            "method": None if d.sleeve is None else d.sleeve.method,
            "fallback_used": None if d.sleeve is None else d.sleeve.fallback_used,
            "attempts": "; ".join(f"{a['method']}:{'ok' if a['ok'] else 'failed'}" for a in d.attempts()),
            "error": d.error,
            "decision_seconds": d.seconds,
        }
        total = {}
        for b in BOOKS:
            m = M.series_metrics(sims[b].returns[rows[k] : ends[k]], ppy)
            total[b] = m["total_return"]
            for key in WINDOW_METRICS:
                rec[f"{b}_{key}"] = m[key]
            rec[f"{b}_turnover"] = float(sims[b].turnover[k])
            rec[f"{b}_costs"] = float(sims[b].costs[k])
        rec["selection_alpha"] = M.difference(total[FILTERED_EW], total[RAW_EW])
        rec["optimization_alpha"] = M.difference(total[PROFILE], total[FILTERED_EW])
        records.append(rec)
    schema = {
        "stage": pl.Int64,
        "regime": pl.String,
        "primary": pl.String,
        "method": pl.String,
        "fallback_used": pl.Boolean,
    }
    schema |= {"error": pl.String}
    schema |= {f"{b}_{key}": pl.Float64 for b in BOOKS for key in WINDOW_METRICS}
    schema |= {"selection_alpha": pl.Float64, "optimization_alpha": pl.Float64}
    return pl.DataFrame(records, schema_overrides=schema)


def backtest_metrics(
    sims: Mapping[str, BookSimulation],
    decisions: Sequence[WindowDecision],
    params: WalkForwardParams,
    ppy: int,
    dates: np.ndarray,
    symbols: Sequence[str],
) -> dict:
    books = {}
    for b in BOOKS:
        s = sims[b]
        m: dict = M.series_metrics(s.returns, ppy)
        m["turnover_per_rebalance"] = float(s.turnover.mean())
        m["annual_turnover"] = float(s.turnover.sum() * ppy / s.returns.size)
        m["costs_total"] = float(s.costs.sum())
        m["fees_total"] = float(s.fees.sum())
        m["slippage_total"] = float(s.slippage.sum())
        books[b] = m

    def alpha(a: str, b: str) -> dict:
        return {k: M.difference(books[a][k], books[b][k]) for k in ("total_return", "annual_return", "sharpe")}

    return {
        "periods_per_year": ppy,
        "params": params.as_dict(),
        "start": iso(int(dates[0])),
        "end": iso(int(dates[-1])),
        "rows": int(dates.size),
        "windows": len(decisions),
        "windows_failed": sum(d.error is not None for d in decisions),
        "windows_with_fallback": sum(bool(d.sleeve and d.sleeve.fallback_used) for d in decisions),
        "universe": {
            "symbols": len(symbols),
            "point_in_time": False,
            "note": "today's healthy candidates (survivorship); eligibility per rebalance is point in time",
        },
        "books": books,
        "selection_alpha": alpha(FILTERED_EW, RAW_EW),
        "optimization_alpha": alpha(PROFILE, FILTERED_EW),
    }


def forensic_report(table: pl.DataFrame, decisions: Sequence[WindowDecision], params: WalkForwardParams) -> dict:
    flagged = []
    for rec in table.iter_rows(named=True):
        for b in BOOKS:
            sharpe, ret = rec[f"{b}_sharpe"], rec[f"{b}_total_return"]
            reasons = []
            if sharpe is not None and abs(sharpe) > params.forensic_sharpe:
                reasons.append(f"|sharpe| {abs(sharpe):.3g} > {params.forensic_sharpe:g}")
            if ret is not None and ret > params.forensic_return:
                reasons.append(f"return {ret:.3g} > {params.forensic_return:g}")
            if reasons:
                flagged.append(
                    {
                        "window": rec["window"],
                        "book": b,
                        "test_start": rec["test_start"],
                        "test_end": rec["test_end"],
                        "total_return": ret,
                        "sharpe": sharpe,
                        "reasons": reasons,
                    }
                )
    windows = [
        {
            "window": d.window.index,
            "test_start": rec["test_start"],
            "stage": d.stage,
            "winners": d.winners,
            "regime": rec["regime"],
            "primary": rec["primary"],
            "method": rec["method"],
            "fallback_used": rec["fallback_used"],
            "attempts": d.attempts(),
            "error": d.error,
            "selection_alpha": rec["selection_alpha"],
            "optimization_alpha": rec["optimization_alpha"],
        }
        for d, rec in zip(decisions, table.iter_rows(named=True), strict=True)
    ]
    return {
        "thresholds": {"abs_sharpe": params.forensic_sharpe, "total_return": params.forensic_return},
        "flagged": flagged,
        "fallback_windows": [w["window"] for w in windows if w["fallback_used"]],
        "failed_windows": [w["window"] for w in windows if w["error"]],
        "windows": windows,
    }
