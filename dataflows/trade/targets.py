"""A finished run's targets: its weights, with the prices and venue metadata to trade them.

Targets come from `weights.csv` (a sleeve run: `net_weight`) or `flattened_weights.csv` (a meta run: `net`, one
line per symbol, every quote kept). Prices and the venue's tick/lot/min notional come from the run's weights files
(a meta run: its sleeves' files, the newest `price_bar` winning); a symbol they lack (a holding outside the weights)
is priced from the lakehouse — its last stored bar at or before the decision bar — and its metadata is the
lakehouse's version as of the run's date. A holding with no price there is listed as `unpriced` (not valued, no
order).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from dataflows import columns as C
from dataflows.errors import ConfigError

_FLOAT_META = {"price": pl.Float64, C.TICK_SIZE: pl.Float64, C.LOT_SIZE: pl.Float64, C.MIN_NOTIONAL: pl.Float64}


@dataclass(frozen=True)
class RunTargets:
    """A finished run's target weights with their prices and venue metadata, and where to look up the rest."""

    run_dir: Path
    run_id: str
    as_of: str
    kind: str  # "run" | "meta"
    table: pl.DataFrame  # symbol, target_weight, price, price_bar, tick_size, lot_size, min_notional
    venue: str | None  # lakehouse namespace of the run's bars
    venue_config: dict[str, Any]  # the run's resolved `venue` config (ccxt balances)
    timeframe: str
    classes: dict[str, str]  # symbol → asset class (candidates)


def load_run(run_dir: Path) -> RunTargets:
    """The targets of a sleeve run (weights.csv) or a meta run (flattened_weights.csv + its sleeves' weights)."""
    manifest_path = run_dir / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        msg = f"{run_dir}: not a run folder this version wrote ({manifest_path.name}: {exc})"
        raise ConfigError(msg) from None
    config = manifest.get("config") or {}
    folders = [run_dir, *_pinned_folders(run_dir)]
    priced = _priced_rows([p for f in folders for p in sorted(f.rglob("weights.csv"))])
    if (run_dir / "flattened_weights.csv").is_file():
        flat = pl.read_csv(run_dir / "flattened_weights.csv", columns=[C.SYMBOL, "net"])
        targets, kind = flat.rename({"net": "target_weight"}), "meta"
    elif (run_dir / "weights.csv").is_file():
        weights = pl.read_csv(run_dir / "weights.csv", columns=[C.SYMBOL, "net_weight"])
        targets, kind = weights.rename({"net_weight": "target_weight"}), "run"
    else:
        msg = f"{run_dir}: no weights.csv or flattened_weights.csv (did the run stop after the data phase?)"
        raise ConfigError(msg)
    table = targets.join(priced, on=C.SYMBOL, how="left", maintain_order="left")
    venues, classes = set(), {}
    for f in folders:
        for path in f.rglob("candidates.json"):
            for cand in json.loads(path.read_text()).get("candidates", []):
                venues.add(cand.get(C.VENUE))
                classes.setdefault(cand[C.SYMBOL], cand.get(C.ASSET_CLASS) or C.CRYPTO)
    return RunTargets(
        run_dir=run_dir,
        run_id=str(manifest.get("run_id") or run_dir.name),
        as_of=str(manifest.get("as_of") or ""),
        kind=kind,
        table=table,
        venue=next(iter(venues)) if len(venues) == 1 else None,
        venue_config=dict(config.get("venue") or {}),
        timeframe=str((config.get("data") or {}).get("timeframe") or "1d"),
        classes=classes,
    )


def _pinned_folders(run_dir: Path) -> list[Path]:
    out = []
    for pointer in run_dir.rglob("pinned.json"):
        path = Path(json.loads(pointer.read_text()).get("path") or "")
        if path.is_dir():
            out.append(path)
    return out


def _priced_rows(files: list[Path]) -> pl.DataFrame:
    """Price, price bar and metadata per symbol from weights files (the newest price bar wins)."""
    frames = []
    wanted = (C.SYMBOL, "price", "price_bar", C.TICK_SIZE, C.LOT_SIZE, C.MIN_NOTIONAL)
    for path in files:
        head = pl.read_csv(path, n_rows=0).columns
        if not set(wanted) <= set(head):
            continue  # a run written before weights carried prices: the lakehouse prices it
        frames.append(pl.read_csv(path, columns=list(wanted), schema_overrides=_FLOAT_META | {"price_bar": pl.String}))
    schema = {C.SYMBOL: pl.String, "price_bar": pl.String, **_FLOAT_META}
    if not frames:
        return pl.DataFrame(schema=schema)
    rows = pl.concat([f.cast(schema) for f in frames]).drop_nulls("price")  # type: ignore[arg-type]
    return rows.sort("price_bar").unique(C.SYMBOL, keep="last")


def _decision_ms(run: RunTargets) -> int:
    bars = [b for b in run.table["price_bar"].to_list() if b] if "price_bar" in run.table.columns else []
    if bars:
        return int(dt.datetime.fromisoformat(max(bars).replace("Z", "+00:00")).timestamp() * 1000)
    from dataflows.lakehouse.calendar import DAY_MS

    as_of = dt.datetime.fromisoformat(run.as_of)
    return int(as_of.timestamp() * 1000) // DAY_MS * DAY_MS - DAY_MS  # the last completed daily bar


def _fill_from_lakehouse(table: pl.DataFrame, run: RunTargets, lakehouse: Any) -> pl.DataFrame:
    """Price, price bar and metadata from the lakehouse for the symbols the run's weights files do not price."""
    for col, dtype in {"price_bar": pl.String, **_FLOAT_META}.items():
        if col not in table.columns:
            table = table.with_columns(pl.lit(None, dtype=dtype).alias(col))
    need = table.filter(pl.col("price").is_null())[C.SYMBOL].to_list()
    if not need or lakehouse is None or run.venue is None:
        return table
    from dataflows.lakehouse import metadata
    from dataflows.timestamps import iso

    end = _decision_ms(run)
    as_of_day = dt.datetime.fromisoformat(run.as_of).date() if run.as_of else dt.date.max
    meta = metadata.read(lakehouse).filter((pl.col(C.VENUE) == run.venue) & (pl.col(C.AS_OF) <= as_of_day))
    meta = meta.sort(C.AS_OF).unique(C.SYMBOL, keep="last")
    fills = []
    for s in need:
        bars = lakehouse.read(run.venue, run.timeframe, s)
        if bars is None:
            continue
        bars = bars.filter(pl.col(C.TS).dt.epoch("ms") <= end)
        if bars.height == 0:
            continue
        row = meta.filter(pl.col(C.SYMBOL) == s)
        fills.append(
            {
                C.SYMBOL: s,
                "price": float(bars[C.CLOSE][-1]),
                "price_bar": iso(int(bars[C.TS].dt.epoch("ms")[-1])),
                **{f: (row[f][0] if row.height else None) for f in (C.TICK_SIZE, C.LOT_SIZE, C.MIN_NOTIONAL)},
            }
        )
    if not fills:
        return table
    filled = pl.DataFrame(fills, schema={C.SYMBOL: pl.String, "price_bar": pl.String, **_FLOAT_META})
    return table.update(filled, on=C.SYMBOL, how="left")
