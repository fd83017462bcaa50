"""Netting the flattened meta book by base currency (`net_by_base`): BTC/USDT long and BTC/USDC short are one BTC
line in the netted view; the flattened per-quote lines (what orders trade) are unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from dataflows.errors import ConfigError
from dataflows.meta.config import parse_meta
from dataflows.meta.flatten import SleeveBook, base_of, flatten, net_by_base


def test_same_base_across_quotes_and_markets_is_one_line() -> None:
    books = [
        SleeveBook("long", ("BTC/USDT", "ETH/USDT", "AAPL"), np.array([0.5, 0.3, 0.2]), np.array([0.5, 0.3, 0.2])),
        SleeveBook("short", ("BTC/USDC", "BTC/USDT:USDT"), np.array([0.6, 0.4]), np.array([-0.6, -0.4])),
    ]
    flat = flatten({"long": 0.5, "short": 0.5}, books, None)
    assert flat.symbols == ("BTC/USDT", "ETH/USDT", "AAPL", "BTC/USDC", "BTC/USDT:USDT")  # per quote: kept
    netted = net_by_base(flat)
    rows = {b: (g, n) for b, g, n in zip(netted.bases, netted.gross, netted.net, strict=True)}
    assert rows["BTC"] == pytest.approx((0.25 + 0.3 + 0.2, 0.25 - 0.3 - 0.2))  # long 0.25, shorts 0.3 + 0.2
    assert rows["ETH"] == pytest.approx((0.15, 0.15)) and rows["AAPL"] == pytest.approx((0.1, 0.1))
    assert netted.members["BTC"] == pytest.approx({"BTC/USDT": 0.25, "BTC/USDC": -0.3, "BTC/USDT:USDT": -0.2})
    assert netted.net.sum() == pytest.approx(flat.net.sum()) and netted.gross.sum() == pytest.approx(flat.gross.sum())


def test_base_of_unified_symbols() -> None:
    assert [base_of(s) for s in ("BTC/USDT", "BTC/USDT:USDT", "AAPL", "BTCUSD")] == ["BTC", "BTC", "AAPL", "BTCUSD"]


def test_net_by_base_is_a_checked_meta_key() -> None:
    raw = {"sleeves": {"long": "crypto_long"}}
    assert parse_meta(raw).net_by_base is False
    assert parse_meta({**raw, "net_by_base": True}).net_by_base is True
    with pytest.raises(ConfigError, match=r"meta\.net_by_base='yes' must be true or false"):
        parse_meta({**raw, "net_by_base": "yes"})
