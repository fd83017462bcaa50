"""Account balances through ccxt offline: a real `ccxt.okx` signs and sends `fetch_balance` to a fake session that
serves OKX's recorded answer (`tests/fixtures/ccxt/okx/account_balance.json`, from ccxt's own static test data), and
ccxt's parser turns it into totals; then `trade.balances=true` turns them into holdings and capital for orders."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from dataflows.config import TradeConfig
from dataflows.errors import VenueError
from dataflows.trade.orders import account_venue, orders_for_run
from tests.venues.ccxt_fakes import FakeOkx, make_venue

TOTALS = {"BTC": 1.06126645222, "ETH": 5.0, "LTC": 10.29979, "USDC": 2973.521, "USDT": 0.000258796}


class FakeOkxAccount(FakeOkx):
    """FakeOkx plus the private trading-account balance endpoint (recorded) and an empty currency list (built by
    us in OKX's envelope); remembers the signed balance request's headers."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: dict[str, str] = {}

    def request(self, method: str, url: str, **kwargs: object):  # type: ignore[no-untyped-def]
        if "/account/balance" in url:
            self.headers = dict(kwargs.get("headers") or {})  # type: ignore[call-overload]
        return super().request(method, url, **kwargs)

    def route(self, path: str, query: dict[str, str]) -> tuple[int, str]:
        if path == "/api/v5/asset/currencies":  # with keys set, ccxt's load_markets asks for currencies too
            return 200, '{"code":"0","data":[],"msg":""}'  # OKX's envelope, no currency records: ccxt keeps codes
        if path == "/api/v5/account/balance":
            if not self.headers.get("OK-ACCESS-KEY"):
                return 401, '{"code":"50111","msg":"Invalid OK-ACCESS-KEY"}'
            return 200, self.fixture("account_balance.json")
        return super().route(path, query)


def _okx_with_keys() -> tuple:
    venue, fake = make_venue("okx", FakeOkxAccount())
    venue.exchange.apiKey, venue.exchange.secret, venue.exchange.password = "key", "secret", "passphrase"
    return venue, fake


def test_fetch_balance_totals_through_ccxts_parser() -> None:
    venue, fake = _okx_with_keys()
    assert venue.balances() == pytest.approx(TOTALS)  # `eq` per currency (free + frozen), as ccxt reads it
    assert ("/api/v5/account/balance", {}) in fake.calls
    assert fake.headers["OK-ACCESS-KEY"] == "key" and fake.headers["OK-ACCESS-SIGN"]  # ccxt signed it


def test_balances_without_keys_is_a_one_line_venue_error() -> None:
    venue, _ = make_venue("okx", FakeOkxAccount())
    with pytest.raises(VenueError, match=r"okx fetch_balance failed \(AuthenticationError: .*apiKey") as info:
        venue.balances()
    assert "\n" not in str(info.value)


def test_keys_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKX_API_KEY", "k")
    monkeypatch.setenv("OKX_SECRET", "s")
    monkeypatch.setenv("OKX_PASSWORD", "p")
    venue = account_venue({"kind": "ccxt", "exchange": "okx", "options": {}, "market_types": ["spot"]})
    assert (venue.exchange.apiKey, venue.exchange.secret, venue.exchange.password) == ("k", "s", "p")


def test_orders_from_the_account_balances(tmp_path: Path) -> None:
    """A finished ccxt run (hand-made folder) traded from the account: BTC and ETH balances are the holdings of
    BTC/USDT and ETH/USDT, LTC and USDC (no target's base or quote) are sold through LTC/USDT and USDC/USDT, USDT
    (the targets' quote) is the capital."""
    run_dir = tmp_path / "runs" / "okx_run"
    run_dir.mkdir(parents=True)
    manifest = {
        "run_id": "okx_run",
        "as_of": "2026-06-15T00:00:00+00:00",
        "outcome": "ok",
        "config": {"venue": {"kind": "ccxt", "exchange": "okx"}, "data": {"timeframe": "1d"}},
    }
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    bar = "2026-06-14T00:00:00Z"
    pl.DataFrame(
        {
            "symbol": ["BTC/USDT", "ETH/USDT"],
            "weight": [0.6, 0.4],
            "net_weight": [0.6, 0.4],
            "price": [60000.0, 3000.0],
            "price_bar": [bar, bar],
            "tick_size": [0.1, 0.01],
            "lot_size": [1e-8, 1e-6],
            "min_notional": [None, None],
        }
    ).write_csv(run_dir / "weights.csv")
    venue, _ = _okx_with_keys()
    trade = TradeConfig(balances=True)
    orders = orders_for_run(run_dir, trade, data_root=tmp_path, venue=venue)
    rows = {r["symbol"]: r for r in orders.table.iter_rows(named=True)}
    assert rows["BTC/USDT"]["current_quantity"] == TOTALS["BTC"] and rows["ETH/USDT"]["current_quantity"] == 5.0
    for cur in ("LTC", "USDC"):  # no target of that base, USDC no target's quote: to be sold, priced nowhere here
        row = rows[f"{cur}/USDT"]
        assert row["current_quantity"] == TOTALS[cur] and row["status"] == "unpriced"
    s = orders.summary
    assert s["capital"] == TOTALS["USDT"]  # trade.capital unset: the targets' quote currency in the account
    assert s["cash_balances"] == {"USDT": TOTALS["USDT"]}
    assert s["equity"] == pytest.approx(s["capital"] + TOTALS["BTC"] * 60000 + 5 * 3000)
    assert s["holdings"] == "okx balances (ccxt fetch_balance)"
    btc = rows["BTC/USDT"]  # 60% of ~78.7k at 60,000: ~0.79 BTC wanted, 1.06 held: a sale, in whole satoshis
    assert btc["side"] == "sell" and abs(btc["order_quantity"] * 1e8 - round(btc["order_quantity"] * 1e8)) < 1e-6
