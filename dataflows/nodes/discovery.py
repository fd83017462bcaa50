"""Discovery: scanners turn the venue's markets and tickers, as of the run, into candidates (candidates.json).

Point in time: markets listed after `as_of` are out, and tickers (last price, 24h quote volume, change) describe the
last bar completed by `as_of`. A venue whose clock is the run's (`venue.as_of_ms`: synthetic, files) answers that
itself; a live venue (ccxt) serves its own tickers only when `as_of` is now, otherwise they are derived from its
bars up to `as_of`, fetched for the markets inside the scanners' universes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable

import polars as pl
from hamilton.function_modifiers import source, value

from dataflows import columns as C
from dataflows import scanners
from dataflows.artifacts import save_to
from dataflows.config import DataConfig, ProfileConfig, VenueConfig, conf_dir
from dataflows.errors import BadPayload, ConfigError, RateLimited, TransientVenueError, VenueError
from dataflows.lakehouse import features
from dataflows.lakehouse.calendar import calendar_for, timeframe_ms
from dataflows.lakehouse.repair import RepairPolicy, retrying
from dataflows.lakehouse.store import Lakehouse
from dataflows.timestamps import iso
from dataflows.venues.base import Venue, fetch_range, market_schema, throttle, ticker_schema, tickers_from_bars

log = logging.getLogger(__name__)

DERIVED_TICKER_BARS = 10
"""Bars fetched back from `as_of` to derive a past ticker (covers a long weekend on session calendars)."""


class NoCandidates(ConfigError):
    """Discovery found nothing: the message shows each scanner's funnel and the step that removed the markets."""


def _venue_call(
    venue: Venue, policy: RepairPolicy, venue_config: VenueConfig, call: str, fn: Callable[[], pl.DataFrame]
) -> pl.DataFrame:
    """`fn()` (throttled) under the repair's retry policy; a final failure is one `VenueError` naming the call and
    the keys to change."""

    def once() -> pl.DataFrame:
        throttle(venue)
        return fn()

    try:
        return retrying(policy, once)
    except (RateLimited, TransientVenueError) as exc:
        rate = venue_config.error_rate
        injected = f"; venue.error_rate={rate} injects these failures" if rate else ""
        msg = (
            f"{venue.name} {call} failed after data.retries={policy.retries} attempts "
            f"({exc.__class__.__name__}: {exc}): retry later or raise data.retries{injected}"
        )
        raise VenueError(msg) from exc


def _shaped(venue: Venue, call: str, frame: object, schema: dict) -> pl.DataFrame:
    """The venue's answer in `schema`, or `BadPayload` naming the venue, the call and what is wrong."""
    if not isinstance(frame, pl.DataFrame):
        msg = f"{venue.name} {call} returned {type(frame).__name__}, expected a table with columns {list(schema)}"
        raise BadPayload(msg)
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        msg = f"{venue.name} {call} returned columns {frame.columns}, missing {missing}"
        raise BadPayload(msg)
    try:
        return frame.cast(schema)  # type: ignore[arg-type]
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        msg = f"{venue.name} {call} returned values of the wrong type ({exc.__class__.__name__}: {first})"
        raise BadPayload(msg) from exc


def markets(venue: Venue, repair_policy: RepairPolicy, venue_config: VenueConfig) -> pl.DataFrame:
    """Every market the venue lists, in the canonical market schema (listing dates are applied by the scanners)."""
    answer = _venue_call(venue, repair_policy, venue_config, "markets()", venue.markets)
    return _shaped(venue, "markets()", answer, market_schema())


def scanner_specs(profile_config: ProfileConfig, scanner_config: dict | None) -> list[scanners.ScannerSpec]:
    """The scanners of this run: `scanner=NAME` if given, else the profile's list (inheritance resolved)."""
    folder = conf_dir() / "scanner"
    if scanner_config is not None:
        return [scanners.from_mapping(dict(scanner_config), folder)]
    return [scanners.load(name, folder) for name in profile_config.scanners]


def tickers(
    venue: Venue,
    markets: pl.DataFrame,
    scanner_specs: list[scanners.ScannerSpec],
    lakehouse: Lakehouse,
    equity_calendar: str,
    repair_policy: RepairPolicy,
    venue_config: VenueConfig,
    data_config: DataConfig,
    as_of_ms: int,
) -> pl.DataFrame:
    """Tickers as of the run: the venue's own when its clock is the run's or `as_of` is now, else derived from the
    bars completed by `as_of` (stored bars where they reach the last completed bar, else fetched) for the markets
    inside the scanners' universes."""
    tf = data_config.timeframe
    bar_ms = timeframe_ms(tf)
    live = getattr(venue, "as_of_ms", None) == as_of_ms or as_of_ms >= time.time() * 1000 - bar_ms
    if live:
        answer = _venue_call(venue, repair_policy, venue_config, "tickers()", venue.tickers)
        return _shaped(venue, "tickers()", answer, ticker_schema())
    classes: dict[str, str] = {}
    for spec in scanner_specs:
        universe = scanners.universe_frame(spec, markets, as_of_ms)
        classes.update(zip(universe[C.SYMBOL], universe[C.ASSET_CLASS], strict=True))
    start = as_of_ms - (DERIVED_TICKER_BARS + 1) * bar_ms
    bars, fetched = {}, 0
    for symbol, asset_class in classes.items():
        last = calendar_for(asset_class, tf, equity_calendar).last_completed(as_of_ms)
        stored = lakehouse.read(venue.name, tf, symbol)
        if stored is not None:
            ts = stored[C.TS].dt.epoch("ms")
            stored = stored.filter((ts >= start) & (ts <= last))
        if stored is None or stored.height == 0 or int(stored[C.TS].dt.epoch("ms").max()) < last:
            call = f"ohlcv({symbol!r}, {tf!r}) for its ticker as of {iso(as_of_ms)}"
            stored = _venue_call(
                venue,
                repair_policy,
                venue_config,
                call,
                lambda s=symbol: fetch_range(venue, s, tf, start, as_of_ms - 1),
            )
            fetched += 1
        bars[symbol] = stored
    log.info("tickers as of %s derived from bars of %d symbols (%d fetched)", iso(as_of_ms), len(bars), fetched)
    return tickers_from_bars(bars, as_of_ms, bar_ms)


def scan_results(
    markets: pl.DataFrame,
    tickers: pl.DataFrame,
    scan_ratings: pl.DataFrame,
    scanner_specs: list[scanners.ScannerSpec],
    venue: Venue,
    as_of_ms: int,
) -> list[tuple[str, pl.DataFrame, list[dict]]]:
    """Per scanner: its name, its candidates and its funnel (markets left after each universe step and filter)."""
    universe = markets.join(tickers, on=C.SYMBOL, how="left").join(scan_ratings, on=C.SYMBOL, how="left")
    out = []
    for spec in scanner_specs:
        funnel: list[dict] = []
        frame = scanners.scan(spec, universe, venue.name, as_of_ms=as_of_ms, funnel=funnel)
        out.append((spec.name, frame, funnel))
    return out


def discovery_funnel(scan_results: list[tuple[str, pl.DataFrame, list[dict]]]) -> dict[str, list[dict]]:
    """Each scanner's funnel, by scanner name."""
    return {name: funnel for name, _, funnel in scan_results}


def candidates(scan_results: list[tuple[str, pl.DataFrame, list[dict]]], venue: Venue, as_of_ms: int) -> pl.DataFrame:
    """Candidates of every scanner in the canonical schema, one atom per base per (logic, direction); none at all
    is an error that names, per scanner, the step that removed the markets."""
    frames = [frame for _, frame, _ in scan_results]
    out = pl.concat(frames) if frames else pl.DataFrame(schema=scanners.candidate_schema())
    if out.height == 0:
        hint = "" if getattr(venue, "publishes_metadata", True) else ". For your own files try profile=files_long"
        raise NoCandidates(_no_candidates_message(scan_results, as_of_ms) + hint)
    return out


@save_to.run_json(run_dir=source("run_dir"), file=value("candidates.json"), output_name_="candidates_file")
def candidates_document(candidates: pl.DataFrame, discovery_funnel: dict[str, list[dict]]) -> dict:
    """candidates.json: the candidates with each scanner's funnel."""
    rows = json.loads(candidates.write_json())
    return {"count": candidates.height, "funnel": discovery_funnel, "candidates": rows}


def _no_candidates_message(scan_results: list[tuple[str, pl.DataFrame, list[dict]]], as_of_ms: int) -> str:
    parts = []
    for name, _, funnel in scan_results:
        emptied = next((e for e in funnel if e["left"] == 0), None)
        shown = funnel if emptied is None else funnel[: funnel.index(emptied) + 1]
        steps = " → ".join(f"{e['step']} {e['left']}" for e in shown)
        why = ""
        if emptied is not None and emptied["step"] not in ("markets",):
            unknown = emptied.get("unknown")
            why = f"; '{emptied['step']}' removed the last {emptied['removed']}"
            if unknown:
                why += f" ({unknown} had no value: the venue does not know it)"
            key = emptied["step"].split(" ")[0].rstrip(":")
            if key.startswith(("universe.", "filters.")):
                why += f" — drop it with `scanner={name} ++scanner.{key}=null`"
        parts.append(f"scanner {name}: {steps}{why}")
    return f"discovery found no candidates as of {iso(as_of_ms)}: " + "; ".join(parts)


def scan_ratings(venue: Venue, lakehouse: Lakehouse, scanner_specs: list, as_of_ms: int) -> pl.DataFrame:
    """Current ratings for scanner filters: the venue's snapshot when it has one, else the lakehouse's features row
    on the last completed bar (stale rows are not used). Empty unless a scanner filters or sorts on a rating."""
    from dataflows.scanners import RATING_FIELDS, candidate_rating_schema

    used = any(f.field in RATING_FIELDS for s in scanner_specs for f in s.filters) or any(
        s.sort_by in RATING_FIELDS for s in scanner_specs
    )
    if not used:
        return pl.DataFrame(schema=candidate_rating_schema())
    snapshot_fn = getattr(venue, "ratings_snapshot", None)
    if snapshot_fn is not None:
        snap = snapshot_fn(None)
    else:
        from dataflows.lakehouse.calendar import DAY_MS

        snap = features.as_of_rows(features.read(lakehouse), venue.name, as_of_ms - DAY_MS)
        fresh_after = dt.datetime.fromtimestamp((as_of_ms - 2 * DAY_MS) / 1000, dt.UTC)
        snap = snap.filter(pl.col(C.TS) >= fresh_after)
    return snap.select(C.SYMBOL, *features.RATINGS).cast(candidate_rating_schema())  # type: ignore[arg-type]
