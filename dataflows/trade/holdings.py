"""What the trader holds: a holdings file (`trade.holdings`) or a ccxt account's balances (`trade.balances`).

- `trade.holdings`: CSV `symbol,quantity`, negative = short.
- `trade.balances=true`: the account's balances through ccxt `fetch_balance` on the run's ccxt venue (API keys from
  the environment: `<EXCHANGE>_API_KEY`, `<EXCHANGE>_SECRET`, `<EXCHANGE>_PASSWORD`, never from the config, which
  manifests record). A currency's total balance goes to the spot symbol of that base with the largest |target
  weight| (none: `<CUR>/<quote>`, to be sold); balances of the targets' quote currencies are cash, and the capital
  when `trade.capital` is not set.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

import polars as pl

from dataflows import columns as C
from dataflows.errors import ConfigError


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
