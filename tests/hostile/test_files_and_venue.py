"""Hostile files-venue folders and failing venues.

Each case checks the outcome (typed error, exit code or status), that the message names the input (file, call or
key), no traceback through the CLI entry (`dataflows.app.dispatch`), and that stored bars are unchanged.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import polars as pl
import pytest

from dataflows import columns as C
from dataflows.errors import BadPayload, RateLimited, TransientVenueError, VenueError
from dataflows.lakehouse.audit import Candidate
from dataflows.lakehouse.repair import Repairer, RepairPolicy
from dataflows.lakehouse.store import Lakehouse
from dataflows.venues.files import FilesVenue
from tests.conftest import make_settings, synthetic_venue
from tests.hostile._dispatch import dispatch_captured

DAY = 86_400_000
HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01
AS_OF = "2024-12-31"
SMALL = ("venue.n_crypto=22", "venue.n_equity=0", "venue.defects=false", "data.history_days=60")


def bars(n: int = 400, step: int = DAY, start: int = T0) -> pl.DataFrame:
    closes = [100.0 + (i % 17) for i in range(n)]
    return pl.DataFrame(
        {
            "ts": [start + i * step for i in range(n)],
            "open": closes,
            "high": [c + 1 for c in closes],
            "low": [c - 1 for c in closes],
            "close": closes,
            "volume": [10.0 + i for i in range(n)],
        }
    )


def folder(tmp_path: Path) -> Path:
    """A folder with two good symbols."""
    src = tmp_path / "src"
    src.mkdir()
    bars().write_csv(src / "GOOD1.csv")
    bars().with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC"))).write_parquet(src / "GOOD2.parquet")
    return src


def dispatch(verb: str, *overrides: str) -> tuple[int, str]:
    return dispatch_captured(verb, list(overrides))


def files_run(src: Path, root: Path, *extra: str, verb: str = "run") -> tuple[int, str]:
    args = [f"data.root={root}", f"run.as_of={AS_OF}", "venue=files", f"venue.path={src}", "profile=files_long"]
    args += ["flow.data_only=true", "data.history_days=200", "profile.min_history_days=100"]
    return dispatch(verb, *args, *([] if verb == "audit" else ["run.id=x"]), *extra)


def hashes(root: Path) -> dict[str, str]:
    base = root / "lakehouse" / "ohlcv"
    return {
        str(p.relative_to(base)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(base.rglob("*.parquet"))
    }


# --- hostile files: each breaks the folder, the message names the file ---------------------------------------------


def _write(src: Path, name: str, content) -> Path:
    path = src / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content)
    elif name.endswith(".csv"):
        content.write_csv(path)
    else:
        content.write_parquet(path)
    return path


HOSTILE_FILES = {
    "binary_junk_csv": ("JUNK.csv", b"\x00\xff\xfe" * 300 + b"\n\x01,\x02", r"JUNK\.csv"),
    "binary_junk_parquet": ("JUNK.parquet", b"PAR1\x00\x00garbage", r"JUNK\.parquet: unreadable"),
    "empty_csv": ("EMPTY.csv", b"", r"EMPTY\.csv"),
    "header_only": ("HDR.csv", "ts,open,high,low,close,volume\n", r"HDR\.csv: no rows"),
    "no_close_column": ("NOCLOSE.csv", bars().drop("close"), r"NOCLOSE\.csv: missing columns \['close'\]"),
    "no_ts_column": ("NOTS.csv", bars().drop("ts"), r"NOTS\.csv: missing columns"),
    "two_ts_columns": ("TWO.csv", bars().with_columns(pl.col("ts").alias("date")), r"TWO\.csv: ambiguous timestamp"),
    "case_twins": ("CASE.csv", bars().with_columns(pl.col("close").alias("Close ")), r"CASE\.csv: columns"),
    "mixed_s_and_ms": (
        "MIXED.csv",
        bars().with_columns(pl.when(pl.int_range(pl.len()) < 5).then(pl.col("ts") // 1000).otherwise("ts").alias("ts")),
        r"MIXED\.csv: timestamp column 'ts' mixes epoch seconds",
    ),
    "microseconds_epoch": ("MICRO.csv", bars().with_columns(pl.col("ts") * 1000), r"MICRO\.csv: .*neither epoch"),
    "zero_timestamps": ("ZERO.csv", bars().with_columns(pl.lit(0).alias("ts")), r"ZERO\.csv: .*neither epoch"),
    "iso_and_epoch": (
        "ISOEP.csv",
        "ts,open,high,low,close,volume\n2024-01-01,1,2,0.5,1,1\n1704153600000,1,2,0.5,1,1\n",
        r"ISOEP\.csv: .*mixes epoch numbers",
    ),
    "text_price": (
        "TEXT.csv",
        "ts,open,high,low,close,volume\n2024-01-01,1,2,0.5,one,1\n",
        r"TEXT\.csv: column 'close' row 1: 'one' is not a number",
    ),
    "nan_price": ("NAN.csv", bars().with_columns(pl.lit(float("nan")).alias("close")), r"NAN\.csv: NaN"),
    "negative_price": ("NEG.csv", bars().with_columns(pl.lit(-1.0).alias("low")), r"NEG\.csv: zero or negative"),
    "high_below_low": ("HBL.csv", bars().with_columns(pl.lit(0.5).alias("high")), r"HBL\.csv: high < low"),
    "duplicate_ts": ("DUP.csv", pl.concat([bars(), bars().tail(1)]), r"DUP\.csv: duplicate timestamp"),
    "several_symbols": (
        "MULTI.csv",
        bars(4).with_columns(pl.Series("symbol", ["A", "B", "A", "B"])),
        r"MULTI\.csv: the symbol column holds several",
    ),
    "parquet_text_ts": ("PTXT.parquet", bars().with_columns(pl.lit("soon").alias("ts")), r"PTXT\.parquet: .*'soon'"),
}


@pytest.mark.parametrize("case", list(HOSTILE_FILES))
def test_hostile_file_is_refused_naming_it(tmp_path, case):
    name, content, match = HOSTILE_FILES[case]
    src = folder(tmp_path)
    _write(src, name, content)
    venue = FilesVenue(src, as_of_ms=T0 + 400 * DAY)
    with pytest.raises(BadPayload, match=match):
        venue.tickers()


@pytest.mark.parametrize("case", ["binary_junk_csv", "no_close_column", "mixed_s_and_ms", "duplicate_ts"])
def test_hostile_file_through_the_cli_is_one_line(tmp_path, case):
    name, content, _ = HOSTILE_FILES[case]
    src = folder(tmp_path)
    root = tmp_path / "data"
    code, err = files_run(src, root)
    assert code == 0, err
    stored = hashes(root)
    _write(src, name, content)
    code, err = files_run(src, root, "run.id=y")
    assert code == 2 and "Traceback" not in err, err
    line = next(line for line in err.splitlines() if line.startswith("error:"))
    assert str(src / name) in line
    assert hashes(root) == stored


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_oversize_file_is_refused_naming_file_size_and_key(tmp_path, suffix):
    src = tmp_path / "src"
    src.mkdir()
    big = bars(3000)
    path = src / f"BIG.{suffix}"
    big.write_csv(path) if suffix == "csv" else big.write_parquet(path)
    with pytest.raises(BadPayload, match=r"BIG\.\w+: 0 MB is over data\.max_file_mb=0\.01") as info:
        FilesVenue(src, max_file_mb=0.01).markets()
    assert "raise data.max_file_mb" in str(info.value)
    FilesVenue(src, max_file_mb=10).markets()  # under the limit: read


@pytest.mark.parametrize("verb", ["run", "audit"])
def test_oversize_file_through_the_cli(tmp_path, verb):
    src = folder(tmp_path)
    bars(3000).write_csv(src / "BIG.csv")
    code, err = files_run(src, tmp_path / "data", "data.max_file_mb=0.05", verb=verb)
    assert code == 2 and "Traceback" not in err, err
    assert str(src / "BIG.csv") in err and "data.max_file_mb=0.05" in err and " MB is over" in err


@pytest.mark.parametrize("value", ["0", "-1"])
def test_max_file_mb_must_be_positive(tmp_path, value):
    code, err = files_run(folder(tmp_path), tmp_path / "data", f"data.max_file_mb={value}")
    assert code == 2 and "Traceback" not in err and "data.max_file_mb" in err


def test_hourly_file_for_a_daily_run_is_named_and_nothing_stored(tmp_path):
    src = folder(tmp_path)
    bars(24 * 400, step=HOUR).write_csv(src / "HOURLY.csv")
    venue = FilesVenue(src, as_of_ms=T0 + 400 * DAY)
    with pytest.raises(VenueError, match=r"HOURLY\.csv holds bars 3600s apart"):
        venue.ohlcv("HOURLY", "1d", T0, 10)
    code, err = files_run(src, tmp_path / "data", "health.strict=false")
    assert "Traceback" not in err, err
    assert "HOURLY.csv holds bars 3600s apart" in err or code == 0
    lh = Lakehouse(tmp_path / "data", read_only=True)
    assert lh.read(venue.name, "1d", "HOURLY") is None  # never stored as daily bars


@pytest.mark.parametrize(
    "ts",
    [
        pl.Datetime("us", "UTC"),
        pl.Datetime("ns", "UTC"),
        pl.Datetime("us"),
        pl.Datetime("ms", "Europe/Berlin"),
        pl.Date,
    ],
    ids=str,
)
def test_parquet_timestamps_of_any_unit_are_read(tmp_path, ts):
    src = tmp_path / "src"
    src.mkdir()
    frame = bars().with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))
    if ts == pl.Date:
        frame = frame.with_columns(pl.col("ts").dt.date())
    elif ts.time_zone not in (None, "UTC"):
        frame = frame.with_columns(pl.col("ts").dt.convert_time_zone(ts.time_zone))
    else:
        frame = frame.with_columns(pl.col("ts").dt.replace_time_zone(ts.time_zone).dt.cast_time_unit(ts.time_unit))
    frame.write_parquet(src / "X.parquet")
    got = FilesVenue(src).bars("X")
    assert got[C.TS].dt.epoch("ms").to_list() == bars()["ts"].to_list()


def test_extra_columns_are_not_read(tmp_path):
    """Only the timestamp and OHLCV columns are read: a wide text column is ignored (and never parsed)."""
    src = tmp_path / "src"
    src.mkdir()
    bars().with_columns(pl.lit("x" * 2000).alias("notes"), pl.lit("junk").alias("open_interest")).write_csv(
        src / "WIDE.csv"
    )
    venue = FilesVenue(src, as_of_ms=T0 + 400 * DAY)
    assert venue.bars("WIDE").columns == list(C.OHLCV)
    assert venue.tickers().height == 1


def test_discovery_keeps_only_a_summary_per_file(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(12):
        bars().write_csv(src / f"S{i:02d}.csv")
    venue = FilesVenue(src, as_of_ms=T0 + 400 * DAY)
    markets, tickers = venue.markets(), venue.tickers()
    assert markets.height == tickers.height == 12
    assert len(venue._bars) == 0, "discovery holds no full file"
    assert max(frame.height for _, frame in venue._summaries.values()) <= 3
    venue.ohlcv("S03", "1d", T0, 5)
    assert list(venue._bars) == [src / "S03.csv"]


# --- failing venues: discovery and repair retry within budget, then one line naming the call and keys -----------------


class Flaky:
    """Wraps a venue: its calls named in `fail` raise `error` `times` times (forever with None), then succeed."""

    def __init__(self, inner, fail: set[str], error: type[Exception], times: int | None = None, payload=None):
        self.inner, self.fail, self.error, self.times, self.payload = inner, fail, error, times, payload
        self.name, self.page_limit, self.rate_limit_per_sec = inner.name, inner.page_limit, None
        self.calls: dict[str, int] = {}
        self.as_of_ms = getattr(inner, "as_of_ms", None)
        self.equity_calendar = getattr(inner, "equity_calendar", None)

    def _call(self, what: str, fn):
        self.calls[what] = self.calls.get(what, 0) + 1
        if what in self.fail and (self.times is None or self.calls[what] <= self.times):
            if self.payload is not None:
                return self.payload
            raise self.error(f"{self.name}: injected {self.error.__name__} in {what}")
        return fn()

    def markets(self):
        return self._call("markets", self.inner.markets)

    def tickers(self):
        return self._call("tickers", self.inner.tickers)

    def ohlcv(self, symbol, timeframe, since_ms, limit):
        return self._call("ohlcv", lambda: self.inner.ohlcv(symbol, timeframe, since_ms, limit))


def _settings(tmp_path, *extra):
    return make_settings(tmp_path / "data", *SMALL, "data.retries=3", "data.retry_wait_max_s=0.02", *extra)


@pytest.mark.parametrize("error", [RateLimited, TransientVenueError])
@pytest.mark.parametrize("call", ["markets", "tickers"])
def test_discovery_call_failing_beyond_the_budget_names_call_and_keys(tmp_path, call, error):
    from dataflows.nodes import discovery
    from dataflows.nodes.audit import repair_policy

    settings = _settings(tmp_path)
    venue = Flaky(synthetic_venue(settings), {call}, error)
    if call == "markets":
        with pytest.raises(VenueError) as info:
            discovery.markets(venue, repair_policy(settings.data), settings.venue)
    else:
        with pytest.raises(VenueError) as info:
            discovery.tickers(
                venue,
                None,
                [],
                None,
                "XNYS",
                repair_policy(settings.data),
                settings.venue,
                settings.data,
                venue.as_of_ms,
            )
    msg = str(info.value)
    assert f"{call}()" in msg and "data.retries=3" in msg and error.__name__ in msg
    assert venue.calls[call] == 3


@pytest.mark.parametrize("error", [RateLimited, TransientVenueError])
def test_discovery_retries_within_the_budget(tmp_path, error):
    from dataflows.nodes import discovery
    from dataflows.nodes.audit import repair_policy

    settings = _settings(tmp_path)
    venue = Flaky(synthetic_venue(settings), {"markets"}, error, times=2)
    assert discovery.markets(venue, repair_policy(settings.data), settings.venue).height > 0
    assert venue.calls["markets"] == 3


@pytest.mark.parametrize("error", [RateLimited, TransientVenueError])
def test_derived_tickers_fetch_failing_beyond_the_budget(tmp_path, error):
    from dataflows.nodes import discovery
    from dataflows.nodes.audit import repair_policy

    settings = _settings(tmp_path)
    inner = synthetic_venue(settings)
    venue = Flaky(inner, {"ohlcv"}, error)
    venue.as_of_ms = None  # a live venue asked about the past: tickers are derived from bars
    specs = discovery.scanner_specs(settings.profile, settings.scanner)
    markets = inner.markets()
    lh = Lakehouse(tmp_path / "data")
    with pytest.raises(VenueError) as info:
        discovery.tickers(
            venue,
            markets,
            specs,
            lh,
            "XNYS",
            repair_policy(settings.data),
            settings.venue,
            settings.data,
            settings.as_of_ms,
        )
    msg = str(info.value)
    assert "ohlcv(" in msg and "for its ticker" in msg and "data.retries=3" in msg


@pytest.mark.parametrize(
    ("rate", "retries"),
    [("0.9", "1"), ("0.95", "2")],
)
def test_error_rate_beyond_the_budget_through_the_cli(tmp_path, rate, retries):
    code, err = dispatch(
        "run",
        f"data.root={tmp_path / 'data'}",
        "run.as_of=2026-06-30",
        "run.id=x",
        "flow.data_only=true",
        *SMALL,
        f"venue.error_rate={rate}",
        f"data.retries={retries}",
    )
    assert "Traceback" not in err, err
    assert code in (2, 3), err
    line = next(line for line in err.splitlines() if line.startswith("error:"))
    assert f"data.retries={retries}" in line or "venue_error" in line
    if code == 2:
        assert f"venue.error_rate={rate}" in line


def test_error_rate_within_the_budget_through_the_cli(tmp_path):
    code, err = dispatch(
        "run",
        f"data.root={tmp_path / 'data'}",
        "run.as_of=2026-06-30",
        "run.id=x",
        "flow.data_only=true",
        *SMALL,
        "venue.error_rate=0.3",
        "data.retries=8",
    )
    assert code == 0 and "Traceback" not in err, err


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (pl.DataFrame({"sym": ["X"]}), r"markets\(\) returned columns \['sym'\], missing"),
        ("not a frame", r"markets\(\) returned str"),
        (
            pl.DataFrame({C.SYMBOL: ["X"], C.LISTED_AT: ["yesterday"]}).with_columns(
                *(pl.lit(None).alias(c) for c in ("base", "quote", "type", "asset_class", "tick_size"))
            ),
            r"markets\(\) returned",
        ),
    ],
)
def test_malformed_markets_payload_is_bad_payload(tmp_path, payload, match):
    from dataflows.nodes import discovery
    from dataflows.nodes.audit import repair_policy

    settings = _settings(tmp_path)
    venue = Flaky(synthetic_venue(settings), {"markets"}, RateLimited, payload=payload)
    with pytest.raises(BadPayload, match=match):
        discovery.markets(venue, repair_policy(settings.data), settings.venue)


def _seed(tmp_path) -> tuple:
    settings = _settings(tmp_path)
    lh = Lakehouse(settings.data_root)
    policy = RepairPolicy(history_days=60, progress=False, retries=3, retry_wait_s=0.01, retry_wait_max_s=0.02)
    cands = [Candidate("BTC/USDT", C.CRYPTO), Candidate("ETH/USDT", C.CRYPTO)]
    Repairer(lh, synthetic_venue(settings), policy, settings.as_of_ms).run(cands)
    path = lh.ohlcv_path("synthetic", "1d", "BTC/USDT")
    frame = pl.read_parquet(path)
    frame.head(frame.height - 5).write_parquet(path)  # stale: the repair must fetch the tail
    return settings, lh, policy, cands


@pytest.mark.parametrize("error", [RateLimited, TransientVenueError])
def test_repair_failing_beyond_the_budget_keeps_stored_bars(tmp_path, error):
    settings, lh, policy, cands = _seed(tmp_path)
    stored = hashes(settings.data_root)
    venue = Flaky(synthetic_venue(settings), {"ohlcv"}, error)
    report = Repairer(lh, venue, policy, settings.as_of_ms).run(cands)
    after = {a.symbol: a for a in report.after}
    assert after["BTC/USDT"].status == "UNREPAIRABLE"
    assert "venue_error" in after["BTC/USDT"].reason and error.__name__ in after["BTC/USDT"].reason
    assert after["ETH/USDT"].status == "FRESH"
    assert hashes(settings.data_root) == stored


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (pl.DataFrame({"ts": [1]}), "lack columns"),
        (
            pl.DataFrame({c: ["x"] for c in C.OHLCV}),
            "malformed page",
        ),
        ("not a frame", "malformed page"),
        (pl.DataFrame({c: [float("nan")] for c in C.OHLCV}), "malformed page"),
    ],
)
def test_repair_malformed_payload_stores_nothing(tmp_path, payload, fragment):
    settings, lh, policy, cands = _seed(tmp_path)
    stored = hashes(settings.data_root)
    venue = Flaky(synthetic_venue(settings), {"ohlcv"}, RateLimited, payload=payload)
    report = Repairer(lh, venue, policy, settings.as_of_ms).run(cands[:1])
    assert report.after[0].status == "UNREPAIRABLE"
    assert "bad_payload" in report.after[0].reason and fragment in report.after[0].reason
    assert hashes(settings.data_root) == stored


def test_repair_within_the_budget_succeeds(tmp_path):
    settings, lh, policy, cands = _seed(tmp_path)
    venue = Flaky(synthetic_venue(settings), {"ohlcv"}, RateLimited, times=2)
    report = Repairer(lh, venue, policy, settings.as_of_ms).run(cands)
    assert {a.status for a in report.after} == {"FRESH"}


def test_folder_copy_keeps_working_after_a_bad_file_is_removed(tmp_path):
    """A bad file fails the run; removing it makes the same folder work again with the bars stored before."""
    src = folder(tmp_path)
    root = tmp_path / "data"
    assert files_run(src, root)[0] == 0
    stored = hashes(root)
    bad = _write(src, "JUNK.csv", b"\x00\x01")
    assert files_run(src, root, "run.id=y")[0] == 2
    bad.unlink()
    code, err = files_run(src, root, "run.id=z")
    assert code == 0, err
    assert hashes(root) == stored
    shutil.rmtree(src)
