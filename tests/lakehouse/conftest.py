"""Helpers for the lakehouse crash-safety and concurrency tests: start `_ingest_worker.py` processes (always reaped),
and inspect a lakehouse on disk (files, registry, fetch log) without changing it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest

from dataflows import columns as C

WORKER = Path(__file__).with_name("_ingest_worker.py")
REPO = Path(__file__).resolve().parents[2]
VENUE = "synthetic"
TIMEFRAME = "1d"
AS_OF_MS = int(dt.datetime(2026, 6, 30, 15, tzinfo=dt.UTC).timestamp() * 1000)  # mid-bar: a forming bar exists

# Crypto (24/7) and equities (sessions), with planted defects kept on: PURGED (no history before 2025-06-01, so
# the head is confirmed missing and the registry gets a floor), GONE (delisted: the tail is confirmed missing),
# PUMP (a +900% close, stored like any bar), a digit symbol, a perp with ':' and an equity with '.'.
# GAPPY (a transient gap served to the *first* response of each venue instance) is left out of the random
# campaigns, which compare against one fixed expected lakehouse: a killed run's fresh venue connection omits the gap
# again, and the same run's re-ask in its next round is what fills it (tests/lakehouse/test_holes.py covers it).
SYMBOLS = (
    "BTC/USDT",
    "PURGED/USDT",
    "GONE/USDT",
    "1000PEPE/USDT",
    "BTC/USDT:USDT",
    "PUMP/USDT",
    "ACME",
    "BRK.B",
)
MORE_SYMBOLS = ("ETH/USDT", "SOL/USDT", "XRP/USDT", "DOGE/USDT", "USDC/USDT", "DAI/USDT", "NOVA", "QBIT", "BNKA")


# --- worker processes ----------------------------------------------------------------------------------------


class Workers:
    """Starts ingest workers and guarantees every one of them is reaped (killed if still running) at teardown."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen] = []
        self.logs: dict[int, tuple[Path, Path]] = {}

    @staticmethod
    def command(data_root: Path, symbols: tuple[str, ...], **opts: object) -> list[str]:
        cmd = [
            sys.executable,
            str(WORKER),
            "--data-root",
            str(data_root),
            "--as-of-ms",
            str(opts.pop("as_of_ms", AS_OF_MS)),
            "--symbols",
            ",".join(symbols),
        ]
        for key, value in opts.items():
            flag = "--" + key.replace("_", "-")
            if isinstance(value, bool):
                cmd.append(flag if value else "--no-" + flag[2:])
            else:
                cmd += [flag, str(value)]
        return cmd

    def start(self, data_root: Path, symbols: tuple[str, ...], **opts: object) -> subprocess.Popen:
        n = len(self.procs) + 1
        out, err = self.log_dir / f"worker{n}.out", self.log_dir / f"worker{n}.err"
        env = os.environ | {"PYTHONPATH": str(REPO)}
        with open(out, "wb") as fo, open(err, "wb") as fe:
            proc = subprocess.Popen(self.command(data_root, symbols, **opts), stdout=fo, stderr=fe, env=env, cwd=REPO)
        self.procs.append(proc)
        self.logs[proc.pid] = (out, err)
        return proc

    def finish(self, proc: subprocess.Popen, timeout: float = 120.0) -> dict:
        """Wait for a worker, require success, return its JSON summary."""
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(proc)
            pytest.fail(f"worker {proc.pid} did not finish within {timeout}s:\n{self.stderr(proc)}")
        assert rc == 0, f"worker {proc.pid} exited with {rc}:\n{self.stderr(proc)}"
        return json.loads(self.logs[proc.pid][0].read_text().strip().splitlines()[-1])

    def run(self, data_root: Path, symbols: tuple[str, ...], timeout: float = 120.0, **opts: object) -> dict:
        return self.finish(self.start(data_root, symbols, **opts), timeout)

    @staticmethod
    def kill(proc: subprocess.Popen) -> int:
        """SIGKILL the worker (a no-op if it already exited) and reap it; returns its exit code."""
        proc.send_signal(signal.SIGKILL)
        return proc.wait(timeout=30)

    def stderr(self, proc: subprocess.Popen) -> str:
        return self.logs[proc.pid][1].read_text()[-4000:]

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.fixture
def workers(tmp_path: Path):
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    w = Workers(log_dir)
    try:
        yield w
    finally:
        w.close()


# --- inspecting a lakehouse ----------------------------------------------------------------------------------


@dataclass(repr=False)
class LakeState:
    """What a lakehouse holds, read without modifying it."""

    frames: dict[str, pl.DataFrame]  # symbol -> stored bars
    hashes: dict[str, str]  # symbol -> sha256 of the file
    temps: list[Path]  # leftover temp files of interrupted writes
    series: dict[str, dict] = field(default_factory=dict)  # symbol -> registry series row
    holes: set[tuple] = field(default_factory=set)  # (symbol, start, end, kind)
    fetches: list[dict] = field(default_factory=list)  # the fetch log

    def __repr__(self) -> str:
        rows = {s: f.height for s, f in sorted(self.frames.items())}
        return (
            f"LakeState(rows={rows}, temps={len(self.temps)}, holes={sorted(self.holes)}, fetches={len(self.fetches)})"
        )

    def bars(self) -> int:
        return sum(f.height for f in self.frames.values())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ohlcv_dir(data_root: Path) -> Path:
    return data_root / "lakehouse" / "ohlcv" / VENUE / TIMEFRAME


def read_files(data_root: Path, symbols: tuple[str, ...]) -> tuple[dict[str, pl.DataFrame], dict[str, str], list]:
    """Every data file under the lakehouse must be a readable, canonical, sorted OHLCV file of a known symbol;
    anything else must be a temp file of an interrupted write (which must not look like a data file)."""
    from dataflows.lakehouse.keys import decode_symbol

    frames, hashes, temps = {}, {}, []
    root = data_root / "lakehouse" / "ohlcv"
    if not root.exists():
        return frames, hashes, temps
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name.startswith(".") and path.name.endswith(".tmp"):
            assert not path.match("*.parquet"), path
            temps.append(path)
            continue
        assert path.parent == ohlcv_dir(data_root), f"unexpected file {path}"
        assert path.suffix == ".parquet", f"unexpected file {path}"
        symbol = decode_symbol(path.stem)
        assert symbol in symbols, f"file {path} decodes to {symbol!r}, not a requested symbol"
        frame = pl.read_parquet(path)  # raises on a torn file
        assert dict(frame.schema) == C.ohlcv_schema(), f"{path}: schema {frame.schema}"
        assert frame.height > 0, f"{path}: empty data file"
        ts = frame[C.TS]
        assert ts.null_count() == 0 and ts.is_sorted() and ts.n_unique() == frame.height, f"{path}: bad ts"
        frames[symbol], hashes[symbol] = frame, sha256(path)
    return frames, hashes, temps


def scratch_copy(data_root: Path, dest: Path) -> Path:
    """Copy a lakehouse (files and registry with its WAL, not the shared-memory index) to `dest`, so it can be
    inspected or reconciled while the original stays exactly as the crash left it. Returns the copy's data root."""
    shutil.rmtree(dest, ignore_errors=True)
    src = data_root / "lakehouse"
    dest.mkdir(parents=True)
    if not src.exists():
        return dest
    shutil.copytree(src, dest / "lakehouse", ignore=shutil.ignore_patterns("*.sqlite-shm"))
    return dest


def read_registry(data_root: Path) -> tuple[dict[str, dict], set[tuple], list[dict]]:
    """Series rows, holes and fetch log, read from a copy (so the live registry and its WAL stay untouched)."""
    import sqlite3

    if not (data_root / "lakehouse" / "registry.sqlite").exists():
        return {}, set(), []
    snap = scratch_copy(data_root, data_root.parent / f".{data_root.name}-registry-snapshot")
    conn = sqlite3.connect(snap / "lakehouse" / "registry.sqlite")
    try:
        conn.row_factory = sqlite3.Row
        series = {
            r["symbol"]: dict(r)
            for r in conn.execute("SELECT * FROM series WHERE venue=? AND timeframe=?", (VENUE, TIMEFRAME))
        }
        holes = {
            (r["symbol"], r["start_ts"], r["end_ts"], r["kind"])
            for r in conn.execute("SELECT * FROM holes WHERE venue=? AND timeframe=?", (VENUE, TIMEFRAME))
        }
        fetches = [dict(r) for r in conn.execute("SELECT * FROM fetches WHERE venue=? ORDER BY id", (VENUE,))]
    finally:
        conn.close()
        shutil.rmtree(snap, ignore_errors=True)
    return series, holes, fetches


def lake_state(data_root: Path, symbols: tuple[str, ...]) -> LakeState:
    frames, hashes, temps = read_files(data_root, symbols)
    series, holes, fetches = read_registry(data_root)
    return LakeState(frames, hashes, temps, series, holes, fetches)


def ts_ms(frame: pl.DataFrame) -> pl.Series:
    return frame[C.TS].dt.epoch("ms")


def assert_contains(big: pl.DataFrame, small: pl.DataFrame, what: str) -> None:
    """Every row of `small` is in `big`, with identical values."""
    joined = small.join(big, on=C.TS, how="left", suffix="_big")
    lost = joined.filter(pl.col(f"{C.CLOSE}_big").is_null())
    assert lost.height == 0, f"{what}: {lost.height} bars lost, e.g. {lost[C.TS].head(3).to_list()}"
    changed = joined.filter(pl.any_horizontal(*(pl.col(c) != pl.col(f"{c}_big") for c in C.OHLCV[1:])))
    assert changed.height == 0, f"{what}: {changed.height} stored bars changed value"


def frames_equal(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> list[str]:
    """Symbols whose stored frames differ (or exist on one side only)."""
    return sorted(s for s in set(a) | set(b) if s not in a or s not in b or not a[s].equals(b[s]))
