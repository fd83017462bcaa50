"""Walk-forward validation of one sleeve: windows on rows, point-in-time eligibility, per-window decisions, books.

Windows. On the rows of the full returns panel (T rows, oldest first): the first rebalance is row `train`, each
window trains on rows [t − train, t) (anchored: [0, t)) and tests on rows [t, t + test); the next rebalance is
t + step. step = test (test windows never overlap and leave no gap, so holdings carry from one window into the
next and the stitched series covers every row from the first rebalance to the end). The last window may be short
(`partial`); fewer than train + 1 rows is `NotEnoughHistory`.

Point in time. Everything the decision at row t sees is strictly before t:
- eligibility: each symbol's features-matrix row as of row t−1 (`features.as_of_rows(..., dates[t−1])`), through
  an optional rule such as `recommend_all > 0` (None = every symbol eligible) — never row t, never today's scan;
- the training rows [.., t) only: returns, and liquidity (mean close × volume) measured on those rows (the panel's
  own `quote_volume` is measured over the whole history, so it is never used here);
- HTR's ratings as of the bar before the decision bar t−1, as in the live sleeve (`selection_ratings`).
What is *not* point in time: the universe is today's healthy candidates and their metadata (survivorship); that
is the sleeve's input contract, and `metrics.json` says so under `universe`.

Decisions are the live sleeve's own decision function, `dataflows.sleeve.decide`, on the training rows: HTR
selection → short synthesis → regime (it tightens cluster caps) → optimization input → the configured optimizer
and the fallback chain through the optimizer registry (every attempt recorded); `flatten_weights` then gives the
signed per-symbol book. MinVar and MaxSharpe re-solve problems built once per (size, cap) and kept by
`dataflows.portfolio.mvo` across windows.
A window whose selection ends without winners, or whose whole fallback chain fails, holds cash in that book and
says why (`WindowDecision.error`); if every window fails, the backtest fails.

Three books per window: `profile` (the sleeve's weights), `filtered_ew` (equal weight over the winners' atoms) and
`raw_ew` (equal weight over every atom of the eligible pool); selection alpha = filtered_ew − raw_ew, optimization
alpha = profile − filtered_ew. They are simulated with vectorbt's `from_orders` accounting (`simulate.py`: a numba kernel, equal to
vectorbt in the tests), one row per test row.
"""

from __future__ import annotations

import math
import operator
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import polars as pl

from dataflows import columns as C
from dataflows.analysis import Regime
from dataflows.config import Settings
from dataflows.errors import ConfigError, DataflowsError
from dataflows.lakehouse import features
from dataflows.lakehouse.calendar import DAY_MS
from dataflows.lakehouse.store import Lakehouse
from dataflows.returns import NotEnoughHistory, ReturnsPanel
from dataflows.selection.htr import Funnel, SelectionParams, SelectionResult, Winner
from dataflows.sleeve import PERIODS, SleeveDecision, SleeveWeights, allocate, decide
from dataflows.synthesis import AtomWeights, flatten_weights
from dataflows.timestamps import iso
from dataflows.validation import metrics as M
from dataflows.validation.simulate import BookSimulation, simulate_books, warm_simulation

PROFILE, RAW_EW, FILTERED_EW = "profile", "raw_ew", "filtered_ew"
BOOKS = (PROFILE, RAW_EW, FILTERED_EW)
WINDOW_METRICS = ("total_return", "sharpe", "sortino", "annual_vol", "max_drawdown", "cvar_95")

_OPS: dict[str, Callable] = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


class WalkForwardError(DataflowsError):
    """The walk-forward cannot run or produced nothing usable; the message says which window and why."""


# --------------------------------------------------------------------------- parameters and windows


@dataclass(frozen=True)
class EligibilityRule:
    """`field op value` on a symbol's features row (a rating or vote column); a null value is ineligible."""

    field: str = "recommend_all"
    op: str = ">"
    value: float = 0.0

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            msg = f"EligibilityRule.op={self.op!r}; expected one of {sorted(_OPS)}"
            raise ConfigError(msg)
        if self.field not in features.schema() or self.field in (C.VENUE, C.SYMBOL, C.TS):
            msg = f"EligibilityRule.field={self.field!r} is not a features-matrix rating or vote column"
            raise ConfigError(msg)

    def expression(self) -> pl.Expr:
        """The rule as a Polars predicate."""
        return _OPS[self.op](pl.col(self.field).cast(pl.Float64), self.value)

    def __str__(self) -> str:
        return f"{self.field} {self.op} {self.value:g}"


@dataclass(frozen=True)
class WalkForwardParams:
    """Walk-forward on rows (train / test / step), trading costs, eligibility and the forensic thresholds."""

    train: int = 252  # training rows per window
    test: int = 20  # test rows per window
    step: int = 20  # rows between rebalances; must equal `test` (no overlap, no gap)
    anchored: bool = False  # train on every row since the first (expanding window)
    fees: float = 0.001  # proportional fee per traded notional
    slippage: float = 0.0005  # price impact per trade (buys pay price × (1 + s), sells get price × (1 − s))
    eligibility: EligibilityRule | None = None  # None = every symbol eligible
    forensic_sharpe: float = 10.0  # windows with |annualized Sharpe| above this are flagged
    forensic_return: float = 10.0  # windows with a total return above this (1000%) are flagged

    def __post_init__(self) -> None:
        if self.train < 2 or self.test < 1:
            msg = f"WalkForwardParams needs train >= 2 and test >= 1, got train={self.train}, test={self.test}"
            raise ConfigError(msg)
        if self.step < self.test:
            msg = f"WalkForwardParams.step={self.step} < test={self.test} would make test windows overlap"
            raise ConfigError(msg)
        if self.step > self.test:
            msg = (
                f"WalkForwardParams.step={self.step} > test={self.test} leaves untested rows between windows while "
                "holdings carry across windows; set step = test"
            )
            raise ConfigError(msg)
        for name in ("fees", "slippage"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0 <= v < 1):
                msg = f"WalkForwardParams.{name}={v} must be in [0, 1)"
                raise ConfigError(msg)

    def as_dict(self) -> dict:
        """JSON-ready view (the rule as text)."""
        out = asdict(self)
        out["eligibility"] = None if self.eligibility is None else str(self.eligibility)
        return out


@dataclass(frozen=True)
class Window:
    """One walk-forward window in panel rows: train [train_start, train_stop), test [test_start, test_stop)."""

    index: int
    train_start: int
    train_stop: int
    test_start: int
    test_stop: int
    partial: bool  # the last window, shorter than `test`


def walk_forward_windows(n_rows: int, params: WalkForwardParams) -> tuple[Window, ...]:
    """Windows over `n_rows` rows; the first rebalance is row `train`, the last window may be partial."""
    if n_rows < params.train + 1:
        msg = (
            f"walk-forward needs at least train + 1 = {params.train + 1} rows (one training window and one test "
            f"row), got {n_rows}; raise data.history_days or lower WalkForwardParams.train"
        )
        raise NotEnoughHistory(msg)
    out = []
    for k, t in enumerate(range(params.train, n_rows, params.step)):
        stop = min(t + params.test, n_rows)
        start = 0 if params.anchored else t - params.train
        out.append(Window(k, start, t, t, stop, stop - t < params.test))
    return tuple(out)


# --------------------------------------------------------------------------- history


@dataclass(frozen=True, eq=False)
class History:
    """Everything a walk-forward may read, over the whole history; decisions slice it point in time."""

    panel: ReturnsPanel  # T×N returns of every row (NaN = no bar)
    traded: np.ndarray  # T×N close × volume per bar (NaN = no bar): liquidity measured per training window
    features: pl.DataFrame  # features-matrix rows of `venue` for the panel's symbols (long format)
    venue: str

    def __post_init__(self) -> None:
        shape = self.panel.returns.shape
        if self.traded.shape != shape:
            msg = f"History.traded has shape {self.traded.shape}, the returns panel {shape}"
            raise WalkForwardError(msg)

    def training_panel(self, start: int, stop: int) -> ReturnsPanel:
        """Rows [start, stop) of every symbol, with quote volume measured on those rows only."""
        traded = self.traded[start:stop]
        valid = np.isfinite(traded)
        count = valid.sum(axis=0)
        total = np.where(valid, traded, 0.0).sum(axis=0)
        qv = np.full(traded.shape[1], np.nan)
        np.divide(total, count, out=qv, where=count > 0)
        p = self.panel
        return ReturnsPanel(p.dates[start:stop], p.symbols, p.asset_class, p.returns[start:stop], qv)

    def features_as_of(self, at_or_before_ms: int) -> pl.DataFrame:
        """Each symbol's latest features row with ts ≤ `at_or_before_ms`."""
        return features.as_of_rows(self.features, self.venue, at_or_before_ms)

    def selection_ratings(self, decision_ms: int) -> pl.DataFrame:
        """HTR's ratings as the sleeve reads them: as of the bar before the decision bar (`selection_ratings`)."""
        rows = self.features_as_of(decision_ms - DAY_MS)
        return rows.select(C.SYMBOL, "recommend_all", "recommend_ma", pl.col("vote_adx").cast(pl.Float64).alias("adx"))


def load_history(
    lakehouse: Lakehouse,
    venue: str,
    timeframe: str,
    symbols: Sequence[str],
    asset_class: Mapping[str, str],
    *,
    end_ms: int,
    days: int,
) -> History:
    """Returns (`build_returns`), traded value and features rows of `symbols` over `days` days ending at `end_ms`."""
    from dataflows.lakehouse.panel import read_panel
    from dataflows.returns import build_returns

    syms = list(symbols)
    panel = build_returns(lakehouse, venue, timeframe, syms, dict(asset_class), end_ms=end_ms, days=days)
    times, p = read_panel(
        lakehouse,
        venue,
        timeframe,
        syms,
        start_ms=end_ms - days * DAY_MS + 1,
        end_ms=end_ms,
        fields=(C.CLOSE, C.VOLUME),
    )
    traded = np.full(panel.returns.shape, np.nan)
    at = np.searchsorted(panel.dates, times)
    inside = (at < panel.dates.size) & (panel.dates[np.minimum(at, panel.dates.size - 1)] == times)
    traded[at[inside]] = (p[C.CLOSE] * p[C.VOLUME])[inside]
    frame = features.read(lakehouse).filter((pl.col(C.VENUE) == venue) & pl.col(C.SYMBOL).is_in(syms)).sort(C.TS)
    return History(panel, traded, frame, venue)


def eligible_symbols(history: History, t: int, rule: EligibilityRule | None) -> tuple[str, ...]:
    """Symbols eligible for the rebalance at row t, by their features row as of row t−1 (never row t)."""
    if not 1 <= t < history.panel.dates.size:
        msg = f"rebalance row {t} is outside rows 1..{history.panel.dates.size - 1} of the panel"
        raise WalkForwardError(msg)
    if rule is None:
        return tuple(history.panel.symbols)
    rows = history.features_as_of(int(history.panel.dates[t - 1]))
    ok = set(rows.filter(rule.expression())[C.SYMBOL].to_list())
    return tuple(s for s in history.panel.symbols if s in ok)


# --------------------------------------------------------------------------- decisions


@dataclass(frozen=True, eq=False)
class WindowDecision:
    """What was decided at one rebalance, from the training rows only."""

    window: Window
    eligible: tuple[str, ...]
    pool: tuple[str, ...]  # eligible symbols with enough returns in the training rows
    books: Mapping[str, Mapping[str, float]]  # book → {symbol: signed weight}; a missing book holds cash
    selection: SelectionResult | None = None
    regime: Regime | None = None
    sleeve: SleeveWeights | None = None
    error: str | None = None  # why the profile book holds cash
    seconds: float = 0.0

    @property
    def stage(self) -> int | None:
        """The HTR stage reached (None when selection did not run)."""
        return None if self.selection is None else self.selection.stage_reached

    @property
    def winners(self) -> int:
        return 0 if self.selection is None else len(self.selection.winners)

    def attempts(self) -> list[dict]:
        """Every optimizer attempt of the fallback chain."""
        if self.sleeve is None:
            return []
        return [asdict(a) for a in self.sleeve.attempts]


Decider = Callable[[History, Window, tuple[str, ...]], WindowDecision]
"""(history, window, eligible symbols) → the window's books, looking only at rows before `window.test_start`."""


def _pool(train: ReturnsPanel, eligible: Sequence[str], min_history: int) -> list[str]:
    ok = set(eligible)
    obs = train.observations()
    return [s for s, n in zip(train.symbols, obs, strict=True) if s in ok and n >= min_history]


def _equal_weight(atom_ids: Sequence[str]) -> dict[str, float]:
    """Equal weight over atoms, flattened to signed per-symbol weights (exactly once)."""
    if not atom_ids:
        return {}
    n = len(atom_ids)
    exposure = flatten_weights(AtomWeights(tuple(atom_ids), np.full(n, 1.0 / n)))
    return {s: float(w) for s, w in zip(exposure.symbols, exposure.net, strict=True) if w != 0}


def _unselected(atoms: Sequence[str]) -> SelectionResult:
    """A selection that admits every atom, each in its own cluster (for deciders that skip HTR)."""
    winners = []
    for k, a in enumerate(atoms):
        symbol, logic, direction = C.split_atom_id(a)
        winners.append(Winner(a, symbol, logic, direction, symbol, k, 1.0, 0.0, 0, ()))
    n = len(winners)
    funnel = Funnel(n, n, {}, {}, n, n, n, {0: n}, n)
    clusters = {k: (a,) for k, a in enumerate(atoms)}
    return SelectionResult(tuple(winners), funnel, 0, clusters, pl.DataFrame({C.ATOM_ID: list(atoms)}), {}, None)


def _why(decision: SleeveDecision) -> str:
    """Why a decision with winners has no weights, as the windows table says it."""
    exc = decision.error
    return f"optimization: {exc.__class__.__name__}: {exc}"


def _signed(sleeve: SleeveWeights) -> dict[str, float]:
    exposure = flatten_weights(sleeve.weights)
    return {s: float(w) for s, w in zip(exposure.symbols, exposure.net, strict=True) if w != 0}


@dataclass(frozen=True, eq=False)
class SleeveDecider:
    """The sleeve per window: HTR selection → synthesis → optimization with the fallback chain."""

    candidates: pl.DataFrame
    symbol_metadata: pl.DataFrame
    settings: Settings
    selection_params: SelectionParams
    metadata_required: bool = True  # unknown tick/lot size vetoes (see nodes.selection.metadata_required)

    def __call__(self, history: History, window: Window, eligible: tuple[str, ...]) -> WindowDecision:
        t0 = time.perf_counter()
        train = history.training_panel(window.train_start, window.test_start)
        pool = _pool(train, eligible, self.settings.profile.min_history_days)
        raw = self.candidates.filter(pl.col(C.SYMBOL).is_in(pool))[C.ATOM_ID].to_list()
        books: dict[str, dict[str, float]] = {RAW_EW: _equal_weight(raw)}

        def done(error: str | None = None, **kw: object) -> WindowDecision:
            return WindowDecision(
                window, eligible, tuple(pool), books, error=error, seconds=time.perf_counter() - t0, **kw
            )

        if not pool:
            return done(f"no eligible symbol has {self.settings.profile.min_history_days} returns in the training rows")
        panel = train.columns(pool)
        decision_ms = int(history.panel.dates[window.test_start - 1])
        decision = decide(
            panel,
            self.candidates,
            self.symbol_metadata,
            history.selection_ratings(decision_ms),
            self.selection_params,
            self.settings,
            self.metadata_required,
        )
        selection = decision.selection
        if not selection.winners:
            return done(f"selection: no winners ({selection.reason})", selection=selection)
        books[FILTERED_EW] = _equal_weight(selection.winner_ids)
        if decision.sleeve_weights is None:  # infeasible caps, too few dense rows, or the whole chain failed
            return done(_why(decision), selection=selection)
        books[PROFILE] = _signed(decision.sleeve_weights)
        return done(selection=selection, regime=decision.regime, sleeve=decision.sleeve_weights)


@dataclass(frozen=True, eq=False)
class OptimizerDecider:
    """No selection: every pool symbol as a LONG atom straight into analysis and optimization (and its chain).

    For large synthetic universes (benchmarks) where HTR would dominate; raw_ew and filtered_ew coincide. Every
    atom is its own cluster, so a profile cluster cap acts as a second per-atom cap.
    """

    settings: Settings
    logic: str = "all"

    def __call__(self, history: History, window: Window, eligible: tuple[str, ...]) -> WindowDecision:
        t0 = time.perf_counter()
        train = history.training_panel(window.train_start, window.test_start)
        pool = _pool(train, eligible, self.settings.profile.min_history_days)
        atoms = [C.atom_id(s, self.logic, C.LONG) for s in pool]
        ew = _equal_weight(atoms)
        books: dict[str, dict[str, float]] = {RAW_EW: ew, FILTERED_EW: ew}
        if not pool:
            return WindowDecision(window, eligible, (), books, error="empty pool", seconds=time.perf_counter() - t0)
        decision = allocate(_unselected(atoms), train.columns(pool), self.settings)
        sleeve = decision.sleeve_weights
        if sleeve is None:
            err = _why(decision)
            return WindowDecision(window, eligible, tuple(pool), books, error=err, seconds=time.perf_counter() - t0)
        books[PROFILE] = _signed(sleeve)
        return WindowDecision(
            window,
            eligible,
            tuple(pool),
            books,
            regime=decision.regime,
            sleeve=sleeve,
            seconds=time.perf_counter() - t0,
        )


# --------------------------------------------------------------------------- the backtest


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


def book_targets(decisions: Sequence[WindowDecision], symbols: Sequence[str], book: str) -> np.ndarray:
    """R×N signed targets of one book (zeros = cash where a window has no such book)."""
    col = {s: j for j, s in enumerate(symbols)}
    out = np.zeros((len(decisions), len(symbols)))
    for k, d in enumerate(decisions):
        for s, w in d.books.get(book, {}).items():
            out[k, col[s]] = w
    return out


def periods_per_year(asset_class: Sequence[str]) -> int:
    """365 when any asset is crypto (24/7 rows), else 252."""
    return PERIODS[C.CRYPTO] if C.CRYPTO in set(asset_class) else PERIODS[C.EQUITY]


def run_backtest(history: History, decide: Decider, params: WalkForwardParams) -> BacktestResult:
    """Walk forward over `history`: decide each window point in time, simulate the books, measure, report."""
    windows = walk_forward_windows(history.panel.dates.size, params)
    warm_simulation()
    decisions = tuple(decide(history, w, eligible_symbols(history, w.test_start, params.eligibility)) for w in windows)
    if all(d.error for d in decisions):
        msg = f"every one of {len(decisions)} walk-forward windows failed; first: {decisions[0].error}"
        raise WalkForwardError(msg)
    first, stop = windows[0].test_start, windows[-1].test_stop
    rows = np.array([w.test_start - first for w in windows], dtype=np.int64)
    symbols = history.panel.symbols
    targets = {b: book_targets(decisions, symbols, b) for b in BOOKS}
    dates = history.panel.dates[first:stop]
    sims = simulate_books(
        history.panel.returns[first:stop], rows, targets, fees=params.fees, slippage=params.slippage, index=dates
    )
    ppy = periods_per_year(history.panel.asset_class)
    table = _window_table(decisions, sims, rows, dates, ppy, history.panel.dates)
    return BacktestResult(
        params=params,
        periods_per_year=ppy,
        dates=dates,
        returns={b: sims[b].returns for b in BOOKS},
        windows=table,
        metrics=_metrics(sims, decisions, params, ppy, dates, symbols),
        forensic=_forensic(table, decisions, params),
        decisions=decisions,
        simulations=sims,
    )


def _window_table(
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


def _metrics(
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


def _forensic(table: pl.DataFrame, decisions: Sequence[WindowDecision], params: WalkForwardParams) -> dict:
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
