"""The walk-forward plan: its parameters, validated on construction (`ConfigError`), and the windows they lay out.

Windows. On the rows of the full returns panel (T rows, oldest first): the first rebalance is row `train`, each
window trains on rows [t − train, t) (anchored: [0, t)) and tests on rows [t, t + test); the next rebalance is
t + step. step = test (test windows never overlap and leave no gap, so holdings carry from one window into the
next and the stitched series covers every row from the first rebalance to the end). The last window may be short
(`partial`); fewer than train + 1 rows is `NotEnoughHistory`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import asdict, dataclass

import polars as pl

from dataflows import columns as C
from dataflows.errors import ConfigError, DataflowsError
from dataflows.lakehouse import features
from dataflows.returns import NotEnoughHistory

_OPS: dict[str, Callable] = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


class WalkForwardError(DataflowsError):
    """The walk-forward cannot run or produced nothing usable; the message says which window and why."""


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
