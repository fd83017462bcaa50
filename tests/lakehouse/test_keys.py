"""Symbol keys are reversible and path-safe; run ids and paths cannot escape their folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataflows.errors import UnsafeKey
from dataflows.lakehouse.keys import contained, decode_symbol, encode_symbol, validate_run_id, validate_symbol

symbols = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp", "Cf", "Co", "Cn"), blacklist_characters="|"
    ),
    min_size=1,
    max_size=40,
)


@given(symbols)
def test_roundtrip_and_single_safe_component(symbol):
    key = encode_symbol(symbol)
    assert decode_symbol(key) == symbol
    assert "/" not in key and key not in (".", "..") and not key.startswith(".")
    assert set(key) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-%")


def test_distinct_symbols_distinct_keys():
    names = ["BTC/USDT", "BTC_USDT", "BTC-USDT", "BTC%2FUSDT", "BTC/USDT:USDT", "btc/usdt"]
    assert len({encode_symbol(s) for s in names}) == len(names)


@pytest.mark.parametrize("bad", ["", "a b", "tab\t", "x|y", "\x00", "z" * 101, None, 42])
def test_invalid_symbols_are_rejected(bad):
    with pytest.raises(UnsafeKey):
        validate_symbol(bad)


@pytest.mark.parametrize("bad", ["%2", "%zz", "a/b", "%2f", "..", "%C3"])
def test_non_canonical_keys_are_rejected(bad):
    with pytest.raises(UnsafeKey):
        decode_symbol(bad)


def test_traversal_symbol_stays_inside(tmp_path: Path):
    from dataflows.lakehouse.store import Lakehouse

    lh = Lakehouse(tmp_path)
    path = lh.ohlcv_path("synthetic", "1d", "../../etc/passwd")
    assert tmp_path.resolve() in path.parents and path.name == "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd.parquet"


def test_contained_rejects_escape(tmp_path: Path):
    with pytest.raises(UnsafeKey):
        contained(tmp_path, "..", "x")
    assert validate_run_id("2026-06-30_crypto.long") == "2026-06-30_crypto.long"
