"""The lakehouse keeps clean inspections by content: stages of one run re-reading a file parse it once, and a file
rewritten in between (another process's atomic replace) is read again."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from dataflows import columns as C
from dataflows.lakehouse.store import Lakehouse

DAY = 86_400_000


def _bars(start_day: int, n: int, close: float) -> pl.DataFrame:
    ts = [(start_day + i) * DAY for i in range(n)]
    return pl.DataFrame(
        {
            C.TS: ts,
            "open": [close] * n,
            "high": [close * 1.01] * n,
            "low": [close * 0.99] * n,
            "close": [close] * n,
            "volume": [10.0] * n,
        }
    )


def test_same_bytes_are_inspected_once_and_a_rewrite_is_read_again(tmp_path: Path) -> None:
    lh = Lakehouse(tmp_path)
    lh.merge_write("v", "1d", "AAA/USDT", _bars(20_000, 5, 1.0))
    first = lh.inspect("v", "1d", "AAA/USDT")
    assert first is not None and first.clean.height == 5
    assert lh.inspect("v", "1d", "AAA/USDT") is first  # same content: the cached inspection
    other = Lakehouse(tmp_path)  # another process's handle appends bars: new content on disk
    other.merge_write("v", "1d", "AAA/USDT", _bars(20_005, 3, 2.0))
    again = lh.inspect("v", "1d", "AAA/USDT")
    assert again is not first and again.clean.height == 8
    assert lh.read("v", "1d", "AAA/USDT")["close"].to_list()[-1] == 2.0
