"""Discovery: scanners turn the venue's markets and tickers into candidates (written to candidates.json)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from dataflows import columns as C
from dataflows import scanners
from dataflows.config import Settings, conf_dir
from dataflows.lakehouse import atomic
from dataflows.venues.base import Venue, market_schema, throttle, ticker_schema


def markets(venue: Venue) -> pl.DataFrame:
    """Every market the venue lists, in the canonical market schema."""
    throttle(venue)
    return venue.markets().cast(market_schema())  # type: ignore[arg-type]


def tickers(venue: Venue) -> pl.DataFrame:
    """The venue's current tickers (last, 24h quote volume, change)."""
    throttle(venue)
    return venue.tickers().cast(ticker_schema())  # type: ignore[arg-type]


def scanner_specs(settings: Settings) -> list[scanners.ScannerSpec]:
    """The scanners of this run: `scanner=NAME` if given, else the profile's list (inheritance resolved)."""
    folder = conf_dir() / "scanner"
    if settings.scanner is not None:
        return [scanners.from_mapping(dict(settings.scanner), folder)]
    return [scanners.load(name, folder) for name in settings.profile.scanners]


def candidates(
    markets: pl.DataFrame,
    tickers: pl.DataFrame,
    scan_ratings: pl.DataFrame,
    scanner_specs: list[scanners.ScannerSpec],
    venue: Venue,
) -> pl.DataFrame:
    """Candidates of every scanner in the canonical schema, one atom per base per (logic, direction)."""
    universe = markets.join(tickers, on=C.SYMBOL, how="left").join(scan_ratings, on=C.SYMBOL, how="left")
    frames = [scanners.scan(spec, universe, venue.name) for spec in scanner_specs]
    return pl.concat(frames) if frames else pl.DataFrame(schema=scanners.candidate_schema())


def candidates_json(candidates: pl.DataFrame, run_dir: Path) -> Path:
    """candidates.json in the run folder."""
    path = run_dir / "candidates.json"
    rows = json.loads(candidates.write_json())
    atomic.write_json(path, {"count": candidates.height, "candidates": rows})
    return path
