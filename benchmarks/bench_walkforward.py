"""Walk-forward with HRP on 200 assets x 2520 days, monthly rebalancing, vs vectorbt's bare `from_orders`.

Universe: seeded factor-model daily returns (`bench_hrp.factor_returns`), 200 crypto columns x 2520 rows (quick:
60 x 800). Walk-forward: train 252 rows, test = step = 20 rows (~monthly; 114 windows, the last one partial).
"ours" is the whole `run_backtest`: per window the optimization stage (`optimization_input` → HRP → stable-sum gate
→ fallback chain) on the training rows, then three books (profile, raw EW, filtered EW = 600 columns) simulated by
the simulation kernel (vectorbt's `from_orders` accounting, `dataflows.validation.simulate`), per-window and stitched
metrics, forensic report. Selection is skipped
(`OptimizerDecider`: every asset is a LONG atom): HTR's per-asset statistics on 200 assets would dominate the
timing and are benchmarked elsewhere. The baseline is vectorbt's bare `Portfolio.from_orders` (target percent,
fees, slippage, cash sharing, auto call sequence) on the profile's precomputed weights — the simulation alone,
200 columns. vectorbt and the kernel are warmed first (import + numba cache load), never timed.

Correctness first: the walk-forward's stitched profile returns equal the NumPy reference simulator to 1e-10, and
the bare `from_orders` run on its own weights to 1e-4: this fully invested book's buys exceed its cash by the costs
at every rebalance, and the kernel trims them pro rata where vectorbt trims the last ones of its call sequence
(`dataflows.validation.simulate`, "Trimming"; 4.2e-5 on the quick case). Target: the whole walk-forward <= 2 s on this machine;
as a ratio: <= 14x the bare `from_orders` (0.14 s anchor).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from benchmarks._harness import Row, cli, rows_against, time_interleaved
from benchmarks.bench_hrp import factor_returns
from dataflows import columns as C
from dataflows.config import ProfileConfig, Settings
from dataflows.lakehouse import features
from dataflows.lakehouse.calendar import DAY_MS
from dataflows.returns import ReturnsPanel
from dataflows.sleeve import profile_of
from dataflows.validation.simulate import order_sizes, price_levels, simulate_reference, warm_simulation
from dataflows.validation.walkforward import (
    PROFILE,
    BacktestResult,
    History,
    OptimizerDecider,
    WalkForwardParams,
    book_targets,
    run_backtest,
)

TARGET = 14.0  # ≈ 2 s / 0.14 s: the anchor for the bare from_orders, as a ratio
START_MS = 1_577_836_800_000  # 2020-01-01


def synthetic_history(t: int, n: int, seed: int = 0) -> History:
    """A seeded `History` built directly with NumPy (no lakehouse): crypto columns, unit traded value."""
    x = factor_returns(t, n, seed=seed)
    symbols = [f"A{j:03d}/USDT" for j in range(n)]
    dates = START_MS + np.arange(t, dtype=np.int64) * DAY_MS
    panel = ReturnsPanel(dates, symbols, [C.CRYPTO] * n, x, np.ones(n))
    return History(panel, np.ones((t, n)), pl.DataFrame(schema=features.schema()), "bench")


def _bare_inputs(history: History, result: BacktestResult) -> tuple:
    first = result.decisions[0].window.test_start
    stop = result.decisions[-1].window.test_stop
    rows = np.array([d.window.test_start - first for d in result.decisions], dtype=np.int64)
    targets = book_targets(result.decisions, history.panel.symbols, PROFILE)
    r = history.panel.returns[first:stop]
    levels = price_levels(r, rows, targets)
    return r, rows, targets, levels, order_sizes(rows, targets, r.shape[0])


def bare_from_orders(close: object, price: object, size: object, params: WalkForwardParams) -> object:
    """vectorbt's from_orders alone on precomputed target weights (one book)."""
    import vectorbt as vbt

    return vbt.Portfolio.from_orders(
        close,
        size,
        size_type="targetpercent",
        direction="both",
        price=price,
        fees=params.fees,
        slippage=params.slippage,
        init_cash=1.0,
        cash_sharing=True,
        group_by=True,
        call_seq="auto",
        freq="1D",
    )


def run(repeat: int, warmup: int, quick: bool) -> list[Row]:
    """Correctness (walk-forward == bare from_orders == NumPy reference), then both timed in turns."""
    import pandas as pd

    t, n = (800, 60) if quick else (2520, 200)
    history = synthetic_history(t, n)
    params = WalkForwardParams(train=252, test=20, step=20)
    settings = Settings(profile=ProfileConfig(optimizer="hrp", weight_cap=0.25, min_history_days=120))
    decide = OptimizerDecider(profile_of(settings))
    warm_simulation("kernel")
    warm_simulation("vectorbt")  # the baseline below is vectorbt itself

    result = run_backtest(history, decide, params)
    r, rows, targets, levels, size = _bare_inputs(history, result)
    close, price, size_df = (pd.DataFrame(a) for a in (levels[1:], levels[:-1], size))
    bare = bare_from_orders(close, price, size_df, params)
    bare_returns = np.asarray(bare.returns()).reshape(-1)
    err = float(np.abs(result.returns[PROFILE] - bare_returns).max())
    assert err <= 1e-4, f"walk-forward profile returns differ from bare from_orders by {err:.3g}"  # trimming rule
    ref = simulate_reference(r, rows, targets, fees=params.fees, slippage=params.slippage)
    err = float(np.abs(result.returns[PROFILE] - ref.returns).max())
    assert err <= 1e-10, f"walk-forward profile returns differ from the NumPy reference by {err:.3g}"

    timings = time_interleaved(
        {
            "vectorbt from_orders": lambda: bare_from_orders(close, price, size_df, params),
            "ours": lambda: run_backtest(history, decide, params),
        },
        repeat,
        warmup,
    )
    windows = len(result.decisions)
    notes = {
        "ours": (
            f"{windows} windows, HRP + fallback chain per window (selection skipped), 3 books x {n} columns "
            f"simulated, metrics + forensic; {timings['ours'][0]:.2f} s (target <= 2 s)"
        ),
        "vectorbt from_orders": f"1 book x {n} columns, precomputed weights, simulation only",
    }
    case = f"walk-forward {t}x{n}"
    return rows_against(case, timings, baseline="vectorbt from_orders", targets={"ours": TARGET}, notes=notes)


if __name__ == "__main__":
    cli(run, __doc__.splitlines()[0])
