"""The orders of a finished run: its target weights and the trader's capital and holdings → orders.csv, orders.json.

Where things come from:

- Targets: `weights.csv` (a sleeve run: `net_weight`) or `flattened_weights.csv` (a meta run: `net`, one line per
  symbol, every quote kept). Prices and the venue's tick/lot/min notional: the run's weights files (a meta run: its
  sleeves' files, the newest `price_bar` winning); a symbol they lack (a holding outside the weights) is priced from
  the lakehouse — its last stored bar at or before the decision bar — and its metadata is the lakehouse's version as
  of the run's date. A holding with no price there is listed as `unpriced` (not valued, no order).
- Holdings: `trade.holdings` (CSV `symbol,quantity`, negative = short), or `trade.balances=true`: the account's
  balances through ccxt `fetch_balance` on the run's ccxt venue (API keys from the environment: `<EXCHANGE>_API_KEY`,
  `<EXCHANGE>_SECRET`, `<EXCHANGE>_PASSWORD`, never from the config, which manifests record). A currency's total
  balance goes to the spot symbol of that base with the largest |target weight| (none: `<CUR>/<quote>`, to be sold);
  balances of the targets' quote currencies are cash, and the capital when `trade.capital` is not set.
- Capital: cash in the prices' quote currency; several quote currencies (USDT, USDC) count as one unit.

Equity E = capital + Σ holdings × price; target quantity = weight × E / price, rounded to whole lots by
`dataflows.trade.rounding` (budget: gross exposure <= E). A lot the venue does not publish is `trade.default_lot`,
else the quantity stays fractional; each such row says so in `note`. Limits: buys at the price rounded down to the
tick, sells rounded up. A symbol held but not in the weights has target 0: it is sold (bought back if short).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import math
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from dataflows import columns as C
from dataflows.errors import ConfigError, DataflowsError
from dataflows.trade.rounding import Book, lots_quantity, round_book, tick_limits

log = logging.getLogger("dataflows.trade")

BUDGET_RULE = (
    "gross exposure <= equity (leverage 1): a short counts at |quantity| x price, as if fully collateralised, "
    "and its proceeds never fund a long"
)
COLUMNS = (
    C.SYMBOL, "side", "order_quantity", "target_quantity", "current_quantity", "limit_price", "notional", "price",
    "price_bar", "target_weight", "final_weight", C.LOT_SIZE, C.TICK_SIZE, C.MIN_NOTIONAL, "status", "note",
)  # fmt: skip
_FLOAT_META = {"price": pl.Float64, C.TICK_SIZE: pl.Float64, C.LOT_SIZE: pl.Float64, C.MIN_NOTIONAL: pl.Float64}


def read_holdings(path: str | Path) -> dict[str, float]:
    """`symbol,quantity` rows (header first; other columns ignored) → {symbol: quantity}; `ConfigError` naming the
    file and line for anything else (missing, unreadable, no such columns, not a finite number, a symbol twice)."""
    where = f"trade.holdings={path}"
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        msg = f"{where}: no such file ({file.resolve()})"
        raise ConfigError(msg) from None
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"{where}: cannot read it ({getattr(exc, 'strerror', None) or exc})"
        raise ConfigError(msg) from None
    rows = list(csv.reader(text.splitlines()))
    header = [h.strip().lower() for h in rows[0]] if rows else []
    if "symbol" not in header or "quantity" not in header:
        msg = f"{where}: the first line must name the columns symbol,quantity (got {','.join(header) or 'nothing'})"
        raise ConfigError(msg)
    at_symbol, at_qty = header.index("symbol"), header.index("quantity")
    out: dict[str, float] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        symbol = row[at_symbol].strip() if at_symbol < len(row) else ""
        raw = row[at_qty].strip() if at_qty < len(row) else ""
        try:
            quantity = float(raw)
        except ValueError:
            quantity = math.nan
        if not symbol or not math.isfinite(quantity):
            msg = f"{where}: line {line}: expected a symbol and a finite quantity, got {','.join(row)!r}"
            raise ConfigError(msg)
        if symbol in out:
            msg = f"{where}: line {line}: {symbol} is listed twice; give one net quantity per symbol"
            raise ConfigError(msg)
        out[symbol] = quantity
    return out


# --------------------------------------------------------------------------------------------- the run


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


# --------------------------------------------------------------------------------------------- orders


@dataclass(frozen=True)
class Orders:
    """orders.csv's rows and orders.json's summary."""

    table: pl.DataFrame
    summary: dict[str, Any]


def build_orders(
    run: RunTargets,
    *,
    capital: float,
    holdings: dict[str, float],
    default_lot: float | None = None,
    lakehouse: Any = None,
    risk_days: int = 365,
    source: str = "none",
) -> Orders:
    """The orders that take `holdings` (+ `capital` in cash) to the run's targets, in whole lots (see the module)."""
    table = run.table
    missing = [s for s in holdings if s not in set(table[C.SYMBOL].to_list())]
    if missing:
        extra = pl.DataFrame({C.SYMBOL: missing, "target_weight": [0.0] * len(missing)})
        table = pl.concat([table, extra], how="diagonal_relaxed")
    table = _fill_from_lakehouse(table, run, lakehouse)
    notes: dict[str, list[str]] = {s: [] for s in table[C.SYMBOL].to_list()}
    for s in missing:
        notes[s].append("not in the weights: target 0")
    priced = table.filter(pl.col("price").is_not_null() & (pl.col("price") > 0))
    unpriced = table.filter(~pl.col(C.SYMBOL).is_in(priced[C.SYMBOL].to_list()))
    lacking = unpriced.filter(pl.col("target_weight") != 0)[C.SYMBOL].to_list()
    if lacking:
        msg = f"run {run.run_id}: no price for target symbol(s) {lacking} in its weights files or the lakehouse"
        raise DataflowsError(msg)

    symbols = priced[C.SYMBOL].to_list()
    w = priced["target_weight"].to_numpy().astype(np.float64)
    price = priced["price"].to_numpy().astype(np.float64)
    tick = priced[C.TICK_SIZE].fill_null(np.nan).to_numpy().astype(np.float64)
    lot = priced[C.LOT_SIZE].fill_null(np.nan).to_numpy().astype(np.float64)
    minimum = priced[C.MIN_NOTIONAL].fill_null(np.nan).to_numpy().astype(np.float64)
    held = np.array([holdings.get(s, 0.0) for s in symbols])
    for i, s in enumerate(symbols):
        if not np.isfinite(lot[i]):
            notes[s].append(
                f"lot unknown: trade.default_lot={default_lot} used"
                if default_lot is not None
                else "lot unknown: fractional quantity (set trade.default_lot to round)"
            )
        if not np.isfinite(tick[i]):
            notes[s].append("tick unknown: limit = price")
        if not np.isfinite(minimum[i]):
            notes[s].append("min notional unknown: not checked")
    lot_used = np.where(np.isfinite(lot), lot, np.nan if default_lot is None else default_lot)
    bid, ask = tick_limits(price, tick)
    book = Book(w, price, lot_used, held, float(capital), bid, ask, np.nan_to_num(minimum, nan=0.0))
    rounded = round_book(book)
    equity = rounded.equity
    ideal = w * equity / price

    rows = []
    for i, s in enumerate(symbols):
        k, order = rounded.lots[i], rounded.order[i]
        side = "buy" if k > 0 else "sell" if k < 0 else ""
        limit = bid[i] if k > 0 else ask[i] if k < 0 else math.nan
        status = "order" if k != 0 else "none"
        wanted = _nearest_order(ideal[i], held[i], lot_used[i])  # the order to the nearest whole-lot position
        small = np.isfinite(minimum[i]) and wanted != 0 and _notional(wanted, bid[i], ask[i]) < minimum[i]
        if k == 0 and wanted != 0:
            if small:
                status = "dropped"
                notional_w = _notional(wanted, bid[i], ask[i])
                notes[s].append(f"order of {_fmt(wanted)} ({notional_w:.2f}) below min notional {_fmt(minimum[i])}")
            else:
                notes[s].append("not traded: the budget goes further elsewhere")
        elif small and abs(order - wanted) > 1e-9 * max(1.0, abs(wanted)):
            notes[s].append(f"min notional {_fmt(minimum[i])}: order {_fmt(order)} instead of {_fmt(wanted)}")
        rows.append(
            {
                C.SYMBOL: s,
                "side": side,
                "order_quantity": order,
                "target_quantity": _add(held[i], order),
                "current_quantity": held[i],
                "limit_price": limit if k != 0 else None,
                "notional": _mul(abs(order), limit) if k != 0 else 0.0,
                "price": price[i],
                "price_bar": priced["price_bar"][i],
                "target_weight": w[i],
                "final_weight": rounded.weight[i],
                C.LOT_SIZE: None if not np.isfinite(lot_used[i]) else lot_used[i],
                C.TICK_SIZE: None if not np.isfinite(tick[i]) else tick[i],
                C.MIN_NOTIONAL: None if not np.isfinite(minimum[i]) else minimum[i],
                "status": status,
                "note": "; ".join(notes[s]),
            }
        )
    for s in unpriced[C.SYMBOL].to_list():
        rows.append(
            {
                C.SYMBOL: s,
                "side": "",
                "order_quantity": 0.0,
                "current_quantity": holdings.get(s, 0.0),
                "target_weight": 0.0,
                "status": "unpriced",
                "note": "; ".join(
                    [*notes[s], "no price at the decision bar: not valued, no order (trade it yourself)"]
                ),
            }
        )
    frame = pl.DataFrame(rows, schema=_schema(), orient="row").select(COLUMNS)
    summary = _summary(run, rounded, book, frame, capital, source)
    summary["tracking_error"] = _tracking_error(run, lakehouse, symbols, rounded.weight - w, risk_days)
    return Orders(frame, summary)


def _nearest_order(ideal: float, held: float, lot: float) -> float:
    """The order (quantity) to the lattice point nearest the ideal quantity."""
    if not np.isfinite(lot):
        return ideal - held
    return lots_quantity(round((ideal - held) / lot), lot)


def _notional(quantity: float, bid: float, ask: float) -> float:
    return abs(quantity) * (bid if quantity > 0 else ask)


def _add(a: float, b: float) -> float:
    return float(Decimal(repr(float(a))) + Decimal(repr(float(b))))


def _mul(a: float, b: float) -> float:
    return float(Decimal(repr(float(a))) * Decimal(repr(float(b))))


def _fmt(x: float) -> str:
    return f"{x:.10g}"


def _schema() -> dict:
    floats = ("order_quantity", "target_quantity", "current_quantity", "limit_price", "notional", "price")
    floats += ("target_weight", "final_weight", C.LOT_SIZE, C.TICK_SIZE, C.MIN_NOTIONAL)
    return {
        C.SYMBOL: pl.String,
        "side": pl.String,
        **dict.fromkeys(floats, pl.Float64),
        "price_bar": pl.String,
        "status": pl.String,
        "note": pl.String,
    }


def _summary(
    run: RunTargets, rounded: Any, book: Book, frame: pl.DataFrame, capital: float, source: str
) -> dict[str, Any]:
    d = rounded.weight - book.weight
    traded = frame.filter(pl.col("status") == "order")
    spent = float((traded["order_quantity"] * traded["limit_price"]).sum()) if traded.height else 0.0
    bars = [b for b in frame["price_bar"].to_list() if b]
    return {
        "run_id": run.run_id,
        "run_dir": str(run.run_dir),
        "kind": run.kind,
        "as_of": run.as_of,
        "price_bar": max(bars) if bars else None,
        "holdings": source,
        "capital": float(capital),
        "holdings_value": float(np.dot(book.held, book.price)),
        "equity": rounded.equity,
        "budget": BUDGET_RULE,
        "gross_target": float(np.abs(book.weight).sum()),
        "gross_final": rounded.gross,
        "unallocated": rounded.equity * (1.0 - rounded.gross),
        "cash_after": float(capital) - spent,
        "buy_notional": float(traded.filter(pl.col("side") == "buy")["notional"].sum()),
        "sell_notional": float(traded.filter(pl.col("side") == "sell")["notional"].sum()),
        "orders": traded.height,
        "dropped": int((frame["status"] == "dropped").sum()),
        "unpriced": int((frame["status"] == "unpriced").sum()),
        "weight_error": {"l1": float(np.abs(d).sum()), "l2": float(np.sqrt((d * d).sum())), "max": _max_abs(d)},
        "greedy_l1": rounded.greedy_l1,
        "method": rounded.method,
        "solver": rounded.status,
        "currency": "prices in their quote currency; several quote currencies count as one unit",
    }


def _max_abs(d: np.ndarray) -> float:
    return float(np.abs(d).max()) if d.size else 0.0


def _tracking_error(run: RunTargets, lakehouse: Any, symbols: list[str], d: np.ndarray, days: int) -> dict[str, Any]:
    """Ex-ante tracking error √(dᵀΣd) of the rounded book against the targets, Σ the sample covariance of daily
    returns over `days` days ending at the decision bar (the lakehouse's bars); or why it could not be had."""
    from dataflows.returns import build_returns, dense

    moved = [j for j in range(len(symbols)) if d[j] != 0.0]
    if not moved:
        return {"daily": 0.0, "annualized": 0.0, "basis": "the rounded book equals the targets"}
    if lakehouse is None or run.venue is None:
        return {"daily": None, "annualized": None, "reason": "no lakehouse or venue to read returns from"}
    names = [symbols[j] for j in moved]
    end = _decision_ms(run)
    try:
        panel = build_returns(
            lakehouse, run.venue, run.timeframe, names, {s: run.classes.get(s, C.CRYPTO) for s in names},
            end_ms=end, days=days,
        )  # fmt: skip
        x, first = dense(panel.returns, min_rows=30, labels=names)
    except (DataflowsError, ValueError) as exc:
        return {"daily": None, "annualized": None, "reason": f"covariance not at hand: {exc}"}
    cov = np.atleast_2d(np.cov(x, rowvar=False))
    dv = d[moved]
    daily = float(np.sqrt(max(float(dv @ cov @ dv), 0.0)))
    dates = panel.dates[first:]
    span_days = (int(dates[-1]) - int(dates[0])) / 86_400_000 + 1
    per_year = x.shape[0] * 365.25 / span_days
    return {
        "daily": daily,
        "annualized": daily * math.sqrt(per_year),
        "basis": f"sample covariance of {x.shape[0]} daily returns ({_day(int(dates[0]))} to {_day(int(dates[-1]))})",
    }


def _day(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).date().isoformat()


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


# --------------------------------------------------------------------------------------------- balances


def holdings_from_balances(
    balances: dict[str, float], targets: pl.DataFrame
) -> tuple[dict[str, float], dict[str, float]]:
    """(holdings by symbol, cash by quote currency) from an account's total balance per currency.

    Quote currencies of the targets are cash. Another currency goes to the spot target of that base with the
    largest |weight|; with none it becomes `<CUR>/<main quote>` (not a target: it will be sold)."""
    symbols = targets[C.SYMBOL].to_list()
    weight = dict(zip(symbols, targets["target_weight"].to_list(), strict=True))
    quotes = [_quote(s) for s in symbols if _quote(s)]
    main = max(set(quotes), key=quotes.count) if quotes else None
    holdings: dict[str, float] = {}
    cash: dict[str, float] = {}
    for cur, total in sorted(balances.items()):
        if not total:
            continue
        if cur in quotes:
            cash[cur] = cash.get(cur, 0.0) + total
            continue
        spot = [s for s in symbols if ":" not in s and s.split("/")[0] == cur]
        symbol = max(spot, key=lambda s: abs(weight[s])) if spot else f"{cur}/{main}" if main else cur
        holdings[symbol] = holdings.get(symbol, 0.0) + total
    return holdings, cash


def _quote(symbol: str) -> str | None:
    return symbol.split("/", 1)[1].split(":", 1)[0] if "/" in symbol else None


def account_venue(venue_config: dict[str, Any]) -> Any:
    """The run's ccxt venue with API keys from the environment (`<EXCHANGE>_API_KEY`, `_SECRET`, `_PASSWORD`)."""
    from dataflows.venues.ccxt_venue import CcxtVenue

    if venue_config.get("kind") != "ccxt" or not venue_config.get("exchange"):
        msg = f"trade.balances=true needs a run on venue=ccxt (this run's venue is {venue_config.get('kind')!r})"
        raise ConfigError(msg)
    exchange = str(venue_config["exchange"])
    venue = CcxtVenue(
        exchange,
        options=venue_config.get("options") or {},
        market_types=venue_config.get("market_types") or None,
        asset_class=venue_config.get("asset_class") or C.CRYPTO,
    )
    for attr, suffix in (("apiKey", "API_KEY"), ("secret", "SECRET"), ("password", "PASSWORD")):
        value = os.environ.get(f"{exchange.upper()}_{suffix}")
        if value:
            setattr(venue.exchange, attr, value)
    return venue


# --------------------------------------------------------------------------------------------- entry points


def orders_for_run(run_dir: Path, trade: Any, *, data_root: Path, venue: Any = None) -> Orders:
    """Orders for the run in `run_dir` under the `trade` settings (`TradeConfig`); `venue` replaces the account's
    ccxt venue for `trade.balances` (tests)."""
    from dataflows.lakehouse.store import Lakehouse

    run = load_run(run_dir)
    holdings, cash, source = {}, {}, "none"
    if trade.holdings is not None:
        holdings, source = read_holdings(trade.holdings), str(Path(trade.holdings).expanduser().resolve())
    elif trade.balances:
        account = venue if venue is not None else account_venue(run.venue_config)
        holdings, cash = holdings_from_balances(account.balances(), run.table)
        source = f"{account.name} balances (ccxt fetch_balance)"
    capital = trade.capital
    if capital is None:
        if not trade.balances:
            msg = "trade.capital is not set: give the cash to invest, e.g. trade.capital=100000"
            raise ConfigError(msg)
        capital = float(sum(cash.values()))
    lakehouse = Lakehouse(data_root, read_only=True) if (data_root / "lakehouse").is_dir() else None
    out = build_orders(
        run,
        capital=float(capital),
        holdings=holdings,
        default_lot=trade.default_lot,
        lakehouse=lakehouse,
        risk_days=trade.risk_days,
        source=source,
    )
    if cash:
        out.summary["cash_balances"] = cash
    return out


def write_orders(folder: Path, orders: Orders) -> dict[str, Path]:
    """orders.csv and orders.json in `folder` (atomic writes)."""
    from dataflows.lakehouse import atomic

    folder.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = folder / "orders.csv", folder / "orders.json"
    atomic.write_bytes(csv_path, orders.table.write_csv().encode())
    atomic.write_json(json_path, orders.summary)
    return {"csv": csv_path, "json": json_path}


def check_run_trade(settings: Any) -> None:
    """`run`'s trade keys, checked before the run starts: `trade.run` belongs to the `orders` verb, and
    `trade.balances` needs a ccxt venue (`ConfigError`, exit 2)."""
    trade = settings.trade
    if trade.run is not None:
        msg = "trade.run names the run the `orders` verb reads; `run` trades its own weights (trade.capital=...)"
        raise ConfigError(msg)
    if trade.balances and settings.venue.kind != "ccxt":
        msg = (
            f"trade.balances=true reads a ccxt account; this run's venue is {settings.venue.kind} (use trade.holdings)"
        )
        raise ConfigError(msg)


def run_orders(settings: Any, run_dir: Path) -> dict[str, Any] | None:
    """`run ... trade.capital=...`: orders.csv / orders.json in the run folder before its manifest ends (None when no
    trade was asked for); the manifest keeps the summary."""
    trade = settings.trade
    if trade.capital is None and not trade.balances:
        return None
    orders = orders_for_run(run_dir, trade, data_root=settings.data_root)
    write_orders(run_dir, orders)
    for line in summary_line(orders.summary).splitlines():
        log.info("%s", line)
    return orders.summary


def resolve_run(settings: Any) -> Path:
    """`trade.run`: a run folder, or a run id under `data.root/runs/`; it must have finished ok."""
    from dataflows.runs import require_finished

    given = settings.trade.run
    if not given:
        msg = "orders needs a run: python -m dataflows orders data/runs/<RUN_ID> trade.capital=100000"
        raise ConfigError(msg)
    path = Path(given).expanduser()
    folder = path if path.is_dir() else settings.data_root / "runs" / given
    if not folder.is_dir():
        msg = f"trade.run={given!r}: no such run folder ({path} or {settings.data_root / 'runs' / given})"
        raise ConfigError(msg)
    require_finished(folder.resolve(), what=f"trade.run={given!r}")
    return folder.resolve()


def orders_verb(settings: Any, resolved: dict) -> int:
    """`python -m dataflows orders RUN_DIR trade.capital=... [trade.holdings=FILE | trade.balances=true]`: writes
    `RUN_DIR/orders/<UTC time>/orders.csv` + `orders.json` (the run's own files stay as they are), prints a summary
    on stderr and the folder on stdout."""
    import sys

    run_dir = resolve_run(settings)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    root = Path((manifest.get("inputs") or {}).get("lakehouse") or settings.data_root / "lakehouse").parent
    orders = orders_for_run(run_dir, settings.trade, data_root=root)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = run_dir / "orders" / stamp
    files = write_orders(folder, orders)
    sys.stderr.write(summary_line(orders.summary) + f"\norders: {files['csv']}\n")
    sys.stdout.write(f"{folder}\n")
    return 0


def summary_line(s: dict[str, Any]) -> str:
    """Two lines a trader reads first: the orders, the money, the error."""
    te = s.get("tracking_error") or {}
    te_text = (
        f"ex-ante tracking error {100 * te['daily']:.3g}% daily ({100 * te['annualized']:.3g}% annualized)"
        if te.get("daily") is not None
        else f"tracking error: {te.get('reason', 'n/a')}"
    )
    greedy = s.get("greedy_l1")
    return (
        f"orders for {s['run_id']}: {s['orders']} order(s), buys {s['buy_notional']:,.2f}, sells "
        f"{s['sell_notional']:,.2f}, {s['dropped']} dropped below min notional, {s['unpriced']} unpriced; equity "
        f"{s['equity']:,.2f}, cash after {s['cash_after']:,.2f}, unallocated {s['unallocated']:,.2f}\n"
        f"weight error L1 {100 * s['weight_error']['l1']:.3g}% of equity (greedy rounding "
        + ("infeasible" if greedy is None else f"{100 * greedy:.3g}%")
        + f"; {s['method']}), {te_text}"
    )
