"""One window's decision, from its training rows only: the three books the walk-forward simulates.

Decisions are the live sleeve's own decision function, `dataflows.sleeve.decide`, on the training rows: HTR
selection → short synthesis → regime (it tightens cluster caps) → optimization input → the configured optimizer
and the fallback chain through the optimizer registry (every attempt recorded); `flatten_weights` then gives the
signed per-symbol book. MinVar and MaxSharpe re-solve problems built once per (size, cap) and kept by
`dataflows.portfolio.mvo` across windows.
A window whose selection ends without winners, or whose whole fallback chain fails, holds cash in that book and
says why (`WindowDecision.error`).

Three books per window: `profile` (the sleeve's weights), `filtered_ew` (equal weight over the winners' atoms) and
`raw_ew` (equal weight over every atom of the eligible pool); selection alpha = filtered_ew − raw_ew, optimization
alpha = profile − filtered_ew.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl

from dataflows import columns as C
from dataflows.analysis import Regime
from dataflows.config import ProfileConfig
from dataflows.returns import ReturnsPanel
from dataflows.selection.htr import Funnel, SelectionParams, SelectionResult, Winner
from dataflows.sleeve import SleeveDecision, SleeveWeights, allocate, decide
from dataflows.synthesis import AtomWeights, flatten_weights
from dataflows.validation.walkforward.history import History
from dataflows.validation.walkforward.plan import Window

PROFILE, RAW_EW, FILTERED_EW = "profile", "raw_ew", "filtered_ew"
BOOKS = (PROFILE, RAW_EW, FILTERED_EW)


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
    profile: ProfileConfig  # with a top-level `optimizer=` applied (`dataflows.sleeve.profile_of`)
    selection_params: SelectionParams
    metadata_required: bool = True  # unknown tick/lot size vetoes (see the sleeve stage's `metadata_required` node)

    def __call__(self, history: History, window: Window, eligible: tuple[str, ...]) -> WindowDecision:
        t0 = time.perf_counter()
        train = history.training_panel(window.train_start, window.test_start)
        pool = _pool(train, eligible, self.profile.min_history_days)
        raw = self.candidates.filter(pl.col(C.SYMBOL).is_in(pool))[C.ATOM_ID].to_list()
        books: dict[str, dict[str, float]] = {RAW_EW: _equal_weight(raw)}

        def done(error: str | None = None, **kw: object) -> WindowDecision:
            return WindowDecision(
                window, eligible, tuple(pool), books, error=error, seconds=time.perf_counter() - t0, **kw
            )

        if not pool:
            return done(f"no eligible symbol has {self.profile.min_history_days} returns in the training rows")
        panel = train.columns(pool)
        decision_ms = int(history.panel.dates[window.test_start - 1])
        decision = decide(
            panel,
            self.candidates,
            self.symbol_metadata,
            history.selection_ratings(decision_ms),
            self.selection_params,
            self.profile,
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

    profile: ProfileConfig  # with a top-level `optimizer=` applied (`dataflows.sleeve.profile_of`)
    logic: str = "all"

    def __call__(self, history: History, window: Window, eligible: tuple[str, ...]) -> WindowDecision:
        t0 = time.perf_counter()
        train = history.training_panel(window.train_start, window.test_start)
        pool = _pool(train, eligible, self.profile.min_history_days)
        atoms = [C.atom_id(s, self.logic, C.LONG) for s in pool]
        ew = _equal_weight(atoms)
        books: dict[str, dict[str, float]] = {RAW_EW: ew, FILTERED_EW: ew}
        if not pool:
            return WindowDecision(window, eligible, (), books, error="empty pool", seconds=time.perf_counter() - t0)
        decision = allocate(_unselected(atoms), train.columns(pool), self.profile)
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
