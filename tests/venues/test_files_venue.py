"""FilesVenue: symbol and timestamp rules, the protocol frames, and every kind of hostile file."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from dataflows import columns as C
from dataflows.errors import BadPayload, ConfigError, VenueError
from dataflows.lakehouse.keys import encode_symbol
from dataflows.venues.base import Venue, fetch_range, market_schema, ticker_schema
from dataflows.venues.files import FilesVenue

DAY = 86_400_000
HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def _bars(n: int, step: int = DAY, start: int = T0) -> dict[str, list]:
    """n consistent bars: close rises 1 per bar from 100, volume 10."""
    closes = [100.0 + i for i in range(n)]
    return {
        "ts": [start + i * step for i in range(n)],
        "open": [c - 0.5 for c in closes],
        "high": [c + 1.0 for c in closes],
        "low": [c - 1.0 for c in closes],
        "close": closes,
        "volume": [10.0] * n,
    }


def _csv(folder: Path, stem: str, data: dict[str, list]) -> Path:
    path = folder / f"{stem}.csv"
    pl.DataFrame(data).write_csv(path)
    return path


def _text(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def _bad(tmp_path: Path, match: str) -> None:
    with pytest.raises(BadPayload, match=match):
        FilesVenue(tmp_path).markets()


def test_csv_venue_protocol(tmp_path: Path) -> None:
    _csv(tmp_path, "BTCUSDT", _bars(10))
    _csv(tmp_path, "ETHUSDT", _bars(3, start=T0 + 5 * DAY))
    _text(tmp_path, ".hidden.csv", "not,a,bar\n")  # ignored: hidden
    _text(tmp_path, "notes.txt", "ignored: not .csv/.parquet\n")
    venue = FilesVenue(tmp_path)
    assert isinstance(venue, Venue)
    assert venue.name.startswith(f"files-{tmp_path.name}-") and len(venue.name) == len(f"files-{tmp_path.name}-") + 8
    assert venue.rate_limit_per_sec is None

    markets = venue.markets()
    assert markets.schema == pl.Schema(market_schema())
    assert markets[C.SYMBOL].to_list() == ["BTCUSDT", "ETHUSDT"]
    eth = markets.row(1, named=True)
    assert eth[C.LISTED_AT] == datetime(2024, 1, 6, tzinfo=UTC)
    assert eth[C.ACTIVE] is True
    assert eth[C.ASSET_CLASS] == "crypto"
    assert all(eth[k] is None for k in (C.TICK_SIZE, C.LOT_SIZE, C.MIN_NOTIONAL, C.BASE, C.QUOTE, "type"))

    tickers = venue.tickers()
    assert tickers.schema == pl.Schema(ticker_schema())
    btc = tickers.row(0, named=True)
    assert btc[C.LAST] == 109.0
    assert btc[C.QUOTE_VOLUME] == 1090.0  # daily bars: the last bar alone
    assert btc[C.CHANGE] == pytest.approx(109 / 108 - 1)

    page = venue.ohlcv("BTCUSDT", "1d", T0 + 2 * DAY, 3)
    assert page.schema == pl.Schema(C.ohlcv_schema())
    assert page[C.TS].dt.epoch("ms").to_list() == [T0 + 2 * DAY, T0 + 3 * DAY, T0 + 4 * DAY]
    assert page[C.CLOSE].to_list() == [102.0, 103.0, 104.0]
    assert venue.ohlcv("BTCUSDT", "1d", T0 + 10 * DAY, 3).height == 0
    frame = fetch_range(venue, "BTCUSDT", "1d", T0 + DAY, T0 + 8 * DAY)
    assert frame.height == 8


def test_tickers_on_hourly_bars(tmp_path: Path) -> None:
    _csv(tmp_path, "SOLUSDT", _bars(30, step=HOUR))
    (row,) = FilesVenue(tmp_path).tickers().iter_rows(named=True)
    assert row[C.LAST] == 129.0
    assert row[C.QUOTE_VOLUME] == pytest.approx(10 * sum(range(106, 130)))  # the 24 bars opened in the last day
    assert row[C.CHANGE] == pytest.approx(129 / 105 - 1)  # bar opened exactly 24 h before the last one


def test_ticker_change_null_without_a_day_of_history(tmp_path: Path) -> None:
    _csv(tmp_path, "SOLUSDT", _bars(5, step=HOUR))
    assert FilesVenue(tmp_path).tickers()[C.CHANGE].to_list() == [None]


def test_parquet_with_encoded_stem_and_datetimes(tmp_path: Path) -> None:
    data = _bars(4)
    data["ts"] = [datetime.fromtimestamp(t / 1000, UTC).replace(tzinfo=None) for t in data["ts"]]  # naive = UTC
    pl.DataFrame(data).write_parquet(tmp_path / f"{encode_symbol('BTC/USDT:USDT')}.parquet")
    venue = FilesVenue(tmp_path, asset_class="crypto", name="my-files")
    assert venue.name == "my-files"
    market = venue.markets().row(0, named=True)
    assert (market[C.SYMBOL], market[C.BASE], market[C.QUOTE]) == ("BTC/USDT:USDT", "BTC", "USDT")
    assert venue.ohlcv("BTC/USDT:USDT", "1d", 0, 10)[C.TS].dt.epoch("ms").to_list() == _bars(4)["ts"]


def test_parquet_dates_and_tz_aware_datetimes(tmp_path: Path) -> None:
    data = _bars(3)
    data["date"] = [date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)]
    del data["ts"]
    pl.DataFrame(data).write_parquet(tmp_path / "AAPL.parquet")
    paris = _bars(2)
    paris["ts"] = pl.Series([datetime(2024, 1, 1, 1), datetime(2024, 1, 2, 1)]).dt.replace_time_zone("Europe/Paris")
    pl.DataFrame(paris).write_parquet(tmp_path / "MSFT.parquet")
    venue = FilesVenue(tmp_path, asset_class="equity")
    assert venue.bars("AAPL")[C.TS].dt.epoch("ms").to_list() == [T0, T0 + DAY, T0 + 2 * DAY]
    assert venue.bars("MSFT")[C.TS].dt.epoch("ms").to_list() == [T0, T0 + DAY]
    assert venue.markets()[C.ASSET_CLASS].to_list() == ["equity", "equity"]


def test_symbol_column_used_when_stem_is_not_encoded(tmp_path: Path) -> None:
    data = _bars(3) | {"Symbol": ["BTC/USDT"] * 3}
    _csv(tmp_path, "BTC_USDT", data)
    _csv(tmp_path, "ETH_USDT", _bars(3))  # no symbol column: the stem as is
    assert FilesVenue(tmp_path).symbols() == ["BTC/USDT", "ETH_USDT"]


@pytest.mark.parametrize(
    ("header", "values"),
    [
        ("timestamp", [str(T0 // 1000), str(T0 // 1000 + 86_400)]),  # epoch seconds
        ("TS", [str(T0), str(T0 + DAY)]),  # epoch ms, upper-case header
        ("Date", ["2024-01-01", "2024-01-02"]),  # ISO dates
        ("time", ["2024-01-01T00:00:00Z", "2024-01-02 02:00:00+02:00"]),  # ISO datetimes with offsets
    ],
)
def test_timestamp_formats(tmp_path: Path, header: str, values: list[str]) -> None:
    lines = [f"{header},Open,HIGH,low,close,Volume,extra"] + [f"{v},1,2,0.5,1.5,3,x" for v in values]
    _text(tmp_path, "X.csv", "\n".join(lines) + "\n")
    assert FilesVenue(tmp_path).bars("X")[C.TS].dt.epoch("ms").to_list() == [T0, T0 + DAY]


def test_unsorted_unique_timestamps_are_sorted(tmp_path: Path) -> None:
    data = {k: list(reversed(v)) for k, v in _bars(5).items()}
    _csv(tmp_path, "X", data)
    bars = FilesVenue(tmp_path).bars("X")
    assert bars[C.TS].is_sorted()
    assert bars[C.CLOSE].to_list() == [100.0, 101.0, 102.0, 103.0, 104.0]


def test_timeframe_must_match_bar_spacing(tmp_path: Path) -> None:
    _csv(tmp_path, "X", _bars(48, step=HOUR))
    venue = FilesVenue(tmp_path)
    assert venue.ohlcv("X", "1h", 0, 5).height == 5
    with pytest.raises(VenueError, match=r"X\.csv holds bars 3600s apart .* timeframe '1d'"):
        venue.ohlcv("X", "1d", 0, 5)
    with pytest.raises(ConfigError, match="timeframe 'daily'"):
        venue.ohlcv("X", "daily", 0, 5)


def test_unknown_symbol(tmp_path: Path) -> None:
    _csv(tmp_path, "X", _bars(2))
    with pytest.raises(VenueError, match=r"no file for symbol 'Y'"):
        FilesVenue(tmp_path).ohlcv("Y", "1d", 0, 5)


def test_folder_and_name_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a directory"):
        FilesVenue(tmp_path / "missing")
    with pytest.raises(ConfigError, match="not a safe path component"):
        FilesVenue(tmp_path, name="../escape")
    with pytest.raises(ConfigError, match=r"no \.csv or \.parquet files"):
        FilesVenue(tmp_path).markets()


def _with(column: str, row: int, value: object, n: int = 5) -> dict[str, list]:
    data = _bars(n)
    data[column][row] = value
    return data


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (_with("close", 2, float("nan")), r"NaN or infinite value at row 3 \(2024-01-03T00:00:00Z\)"),
        (_with("high", 1, float("inf")), "NaN or infinite value at row 2"),
        (_with("low", 4, 0.0), "zero or negative price at row 5"),
        (_with("open", 0, -3.0), "zero or negative price at row 1"),
        (_with("volume", 3, -1.0), "negative volume at row 4"),
        (_with("high", 3, 90.0), "high < low at row 4"),
        (_with("high", 1, 100.9), "high below open or close at row 2"),
        (_with("low", 1, 101.0), "low above open or close at row 2"),
        (_with("ts", 3, T0 + DAY), r"duplicate timestamp 2024-01-02T00:00:00Z at rows \[2, 4\]"),
        (_with("ts", 2, (T0 + 2 * DAY) // 1000), r"mixes epoch seconds \(row 3: .*\) and milliseconds \(row 1"),
        (_with("ts", 0, 20240101), r"row 1: 20240101.0 is neither epoch seconds .* nor epoch milliseconds"),
        (_with("ts", 0, T0 * 1000), r"row 1: .* is neither epoch seconds"),
    ],
    ids=[
        "nan",
        "inf",
        "zero",
        "negative",
        "negative-volume",
        "high<low",
        "high<close",
        "low>open",
        "duplicate",
        "mixed-units",
        "yyyymmdd",
        "microseconds",
    ],
)
def test_hostile_values(tmp_path: Path, data: dict[str, list], match: str) -> None:
    path = _csv(tmp_path, "BAD", data)
    _bad(tmp_path, rf"{re.escape(str(path))}: .*{match}")


def test_hostile_values_in_parquet(tmp_path: Path) -> None:
    path = tmp_path / "BAD.parquet"
    pl.DataFrame(_with("close", 1, float("nan"))).write_parquet(path)
    _bad(tmp_path, rf"{re.escape(str(path))}: NaN or infinite value at row 2")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("ts,open,high,low,close\n1704067200000,1,2,0.5,1.5\n", r"missing columns \['volume'\]"),
        ("open,high,low,close,volume\n1,2,0.5,1.5,3\n", r"missing columns \['ts\|timestamp\|date\|time'\]"),
        ("date,time,open,high,low,close,volume\n2024-01-01,00:00,1,2,0.5,1.5,3\n", "ambiguous timestamp columns"),
        ("ts,open,high,low,close,volume,Close\n1704067200000,1,2,0.5,1.5,3,1\n", "differ only by case"),
        ("ts,open,high,low,close,volume\n1704067200000,1,2,0.5,abc,3\n", r"'close' row 1: 'abc' is not a number"),
        ("ts,open,high,low,close,volume\n1704067200000,1,2,0.5,,3\n", "missing value at row 1"),
        ("ts,open,high,low,close,volume\n,1,2,0.5,1.5,3\n", "row 1: missing timestamp"),
        ("ts,open,high,low,close,volume\n01/02/2024,1,2,0.5,1.5,3\n", "neither an epoch number nor an ISO 8601"),
        (
            "ts,open,high,low,close,volume\n2024-01-01,1,2,0.5,1.5,3\n1704153600000,1,2,0.5,1.5,3\n",
            "mixes epoch numbers",
        ),
        ("ts,open,high,low,close,volume\n", "no rows"),
        ("ts,open,high,low,close,volume\n1704067200000,1,2\n1704153600000,1,2,0.5,1.5,3,9,9\n", "unreadable csv"),
        ("", "unreadable csv"),
    ],
    ids=[
        "no-volume",
        "no-ts",
        "two-ts",
        "case-clash",
        "abc",
        "empty-cell",
        "no-timestamp",
        "us-date",
        "iso-and-epoch",
        "header-only",
        "ragged",
        "empty-file",
    ],
)
def test_hostile_csv(tmp_path: Path, text: str, match: str) -> None:
    path = _text(tmp_path, "BAD.csv", text)
    _bad(tmp_path, rf"{re.escape(str(path))}: .*{match}")


def test_truncated_parquet(tmp_path: Path) -> None:
    good = tmp_path / "good.parquet"
    pl.DataFrame(_bars(200)).write_parquet(good)
    path = tmp_path / "BAD.parquet"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    good.unlink()
    _bad(tmp_path, rf"{re.escape(str(path))}: unreadable parquet file")


def test_not_parquet_at_all(tmp_path: Path) -> None:
    path = _text(tmp_path, "BAD.parquet", "ts,open\n1,2\n")
    _bad(tmp_path, rf"{re.escape(str(path))}: unreadable parquet file")


def test_several_symbols_in_one_file(tmp_path: Path) -> None:
    path = _csv(tmp_path, "MIX", _bars(2) | {"symbol": ["BTC/USDT", "ETH/USDT"]})
    _bad(tmp_path, rf"{re.escape(str(path))}: the symbol column holds several symbols")


def test_two_files_for_one_symbol(tmp_path: Path) -> None:
    _csv(tmp_path, "X", _bars(2))
    pl.DataFrame(_bars(2)).write_parquet(tmp_path / "X.parquet")
    _bad(tmp_path, r"both hold symbol 'X'")


def test_a_bad_file_does_not_block_other_symbols(tmp_path: Path) -> None:
    _csv(tmp_path, "GOOD", _bars(3))
    _csv(tmp_path, "BAD", _with("close", 1, float("nan")))
    (tmp_path / "CUT.parquet").write_bytes(b"PAR1\x00\x01")
    venue = FilesVenue(tmp_path)
    assert venue.symbols() == ["BAD", "CUT", "GOOD"]
    assert venue.ohlcv("GOOD", "1d", 0, 10).height == 3
    with pytest.raises(BadPayload, match=r"BAD\.csv"):
        venue.ohlcv("BAD", "1d", 0, 10)
    with pytest.raises(BadPayload, match=r"CUT\.parquet: unreadable parquet file"):
        venue.ohlcv("CUT", "1d", 0, 10)
    with pytest.raises(BadPayload, match=r"BAD\.csv"):
        venue.markets()  # needs every file


# --- metadata sidecar, point in time, namespace ------------------------------------------------------------------


def test_sidecar_fills_known_metadata_and_is_not_a_symbol(tmp_path: Path) -> None:
    _csv(tmp_path, "AAA", _bars(5))
    _csv(tmp_path, "BBB", _bars(5))
    _text(
        tmp_path,
        "metadata.csv",
        "symbol,type,tick_size,lot_size,min_notional,listed_at,base,quote\n"
        "AAA,spot,0.01,1,5,2020-02-03,AAA,USD\nBBB,,,,,,,\nZZZ,spot,0.1,1,,,,\n",
    )
    venue = FilesVenue(tmp_path)
    assert venue.symbols() == ["AAA", "BBB"] and venue.publishes_metadata is False
    m = {r[C.SYMBOL]: r for r in venue.markets().iter_rows(named=True)}
    assert (m["AAA"]["type"], m["AAA"][C.TICK_SIZE], m["AAA"][C.LOT_SIZE], m["AAA"][C.MIN_NOTIONAL]) == (
        "spot",
        0.01,
        1.0,
        5.0,
    )
    assert m["AAA"][C.LISTED_AT] == datetime(2020, 2, 3, tzinfo=UTC) and m["AAA"][C.QUOTE] == "USD"
    # empty cells stay unknown; without a sidecar listing the first bar is the listing
    assert m["BBB"]["type"] is None and m["BBB"][C.TICK_SIZE] is None and m["BBB"][C.LOT_SIZE] is None
    assert m["BBB"][C.LISTED_AT] == datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("symbol,tick\nAAA,0.01\n", r"unknown \['tick'\]"),
        ("ticker,tick_size\nAAA,0.01\n", "no 'symbol' column"),
        ("symbol,tick_size\nAAA,0.01\nAAA,0.02\n", "row 2: symbol 'AAA' appears twice"),
        ("symbol,lot_size\nAAA,-1\n", r"row 1: lot_size='-1' is not a positive number"),
        ("symbol,min_notional\nAAA,ten\n", "min_notional='ten'"),
        ("symbol,listed_at\nAAA,03/02/2020\n", "listed_at='03/02/2020' is not an ISO date"),
    ],
)
def test_bad_sidecar_is_named(tmp_path: Path, text: str, match: str) -> None:
    _csv(tmp_path, "AAA", _bars(3))
    _text(tmp_path, "metadata.csv", text)
    with pytest.raises(BadPayload, match=match) as info:
        FilesVenue(tmp_path).markets()
    assert "metadata.csv" in str(info.value)


def test_sidecar_path_must_exist(tmp_path: Path) -> None:
    _csv(tmp_path, "AAA", _bars(3))
    with pytest.raises(ConfigError, match=r"venue\.metadata="):
        FilesVenue(tmp_path, metadata=tmp_path / "nope.csv")


def test_tickers_read_only_bars_completed_by_as_of(tmp_path: Path) -> None:
    _csv(tmp_path, "AAA", _bars(10))  # closes 100..109 on 2024-01-01..10
    _csv(tmp_path, "LATE", _bars(3, start=T0 + 8 * DAY))
    as_of = T0 + 5 * DAY + 12 * HOUR  # mid 2024-01-06: the bar of the 6th is still forming
    full = FilesVenue(tmp_path).tickers()
    past = FilesVenue(tmp_path, as_of_ms=as_of).tickers()
    assert full.filter(pl.col(C.SYMBOL) == "AAA")[C.LAST][0] == 109.0
    assert past[C.SYMBOL].to_list() == ["AAA"]  # LATE has no completed bar yet
    row = past.row(0, named=True)
    assert (row[C.LAST], row[C.QUOTE_VOLUME], row[C.CHANGE]) == (104.0, 1040.0, pytest.approx(104 / 103 - 1))


def test_two_folders_with_one_name_never_share_a_namespace(tmp_path: Path) -> None:
    a, b = tmp_path / "x" / "ohlcv", tmp_path / "y" / "ohlcv"
    for folder in (a, b):
        folder.mkdir(parents=True)
        _csv(folder, "AAA", _bars(3))
    assert FilesVenue(a).name != FilesVenue(b).name
    assert FilesVenue(a).name.startswith("files-ohlcv-") and FilesVenue(a).name == FilesVenue(a).name
