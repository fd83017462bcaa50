"""Sleeve return streams read back from a finished run folder: the walk-forward's out-of-sample stream, or a run's
weights applied to the lakehouse returns of its training window (a pinned sleeve without a walk-forward, and the
sweep's comparison table)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl

from dataflows.config import Settings
from dataflows.errors import DataflowsError

__all__ = ["backtest_stream", "reconstructed_stream"]


def backtest_stream(folder: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The walk-forward out-of-sample stream (`backtest/returns.parquet`, column `profile`) if the run has one."""
    path = folder / "backtest" / "returns.parquet"
    if not path.is_file():
        return None
    frame = pl.read_parquet(path)
    if "date" not in frame.columns or "profile" not in frame.columns:
        msg = f"{path} lacks the `date` and `profile` columns of a walk-forward returns file"
        raise DataflowsError(msg)
    return _epoch_ms(frame["date"]), frame["profile"].cast(pl.Float64).to_numpy()


def _epoch_ms(dates: pl.Series) -> np.ndarray:
    if dates.dtype == pl.Date:
        dates = dates.cast(pl.Datetime("ms"))
    if isinstance(dates.dtype, pl.Datetime):
        return dates.dt.epoch("ms").to_numpy().astype(np.int64)
    return dates.cast(pl.Int64).to_numpy()


def reconstructed_stream(folder: Path, weights: pl.DataFrame, base: Settings) -> tuple[np.ndarray, np.ndarray]:
    """A pinned run's in-sample stream: its (possibly edited) weights on the lakehouse returns of its window."""
    from dataflows.lakehouse.calendar import calendar_for
    from dataflows.lakehouse.store import Lakehouse
    from dataflows.returns import build_returns, dense

    manifest_path, cands_path = folder / "manifest.json", folder / "candidates.json"
    if not (manifest_path.is_file() and cands_path.is_file()):
        msg = f"pinned run {folder.name!r} has no manifest.json/candidates.json to rebuild its return stream from"
        raise DataflowsError(msg)
    manifest = json.loads(manifest_path.read_text())
    cfg = manifest.get("config") or {}
    cands = json.loads(cands_path.read_text())["candidates"]
    classes = {c["symbol"]: c["asset_class"] for c in cands}
    venues = {c["venue"] for c in cands}
    symbols = weights["symbol"].to_list()
    missing = [s for s in symbols if s not in classes]
    if missing or len(venues) != 1:
        msg = f"pinned run {folder.name!r}: weights name symbols {missing} that are not among its candidates"
        raise DataflowsError(msg)
    timeframe = (cfg.get("data") or {}).get("timeframe", base.data.timeframe)
    train_days = int((cfg.get("profile") or {}).get("train_days", 365))
    as_of_ms = int(dt.datetime.fromisoformat(manifest["as_of"]).timestamp() * 1000)
    vcfg = cfg.get("venue") or {}
    equities = vcfg.get("calendar")  # None = XNYS
    if vcfg.get("kind", base.venue.kind) == "synthetic":
        from dataflows.venues.synthetic import SyntheticVenue

        equities = SyntheticVenue.equity_calendar
    end_ms = max(calendar_for(classes[s], timeframe, equities).last_completed(as_of_ms) for s in symbols)
    root = Path((manifest.get("inputs") or {}).get("lakehouse") or base.data_root / "lakehouse")
    lh = Lakehouse(root.parent if root.name == "lakehouse" else base.data_root)
    panel = build_returns(lh, venues.pop(), timeframe, symbols, classes, end_ms=end_ms, days=train_days)
    x, first = dense(panel.returns, min_rows=2, labels=symbols)
    return np.asarray(panel.dates[first:], dtype=np.int64), x @ weights["net_weight"].to_numpy().astype(np.float64)
