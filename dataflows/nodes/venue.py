"""Source stage: the market-data venue chosen by `venue=...` (each variant visible in the DAG)."""

from __future__ import annotations

from hamilton.function_modifiers import config

from dataflows.config import DataConfig, VenueConfig
from dataflows.venues.base import Venue


def _synthetic_kwargs(venue_config: VenueConfig, as_of_ms: int) -> dict:
    """Constructor arguments of the synthetic venue for these settings (also used by tests to build their own)."""
    v = venue_config
    return {
        "seed": v.seed,
        "as_of_ms": as_of_ms,
        "n_crypto": v.n_crypto,
        "n_equity": v.n_equity,
        "page_limit": v.page_limit,
        "rate_limit_per_sec": v.rate_limit_per_sec,
        "error_rate": v.error_rate,
        "defects": v.defects,
    }


@config.when(venue_kind="synthetic")
def venue__synthetic(venue_config: VenueConfig, as_of_ms: int) -> Venue:
    """The embedded deterministic venue, whose "now" is run.as_of."""
    from dataflows.venues.synthetic import SyntheticVenue

    return SyntheticVenue(**_synthetic_kwargs(venue_config, as_of_ms))


@config.when(venue_kind="ccxt")
def venue__ccxt(venue_config: VenueConfig) -> Venue:
    """Any ccxt exchange (ccxt rate-limits and retries itself) with the market types of `venue.market_types`."""
    from dataflows.venues.ccxt_venue import CcxtVenue

    v = venue_config
    return CcxtVenue(v.exchange, options=dict(v.options), asset_class=v.asset_class, market_types=list(v.market_types))


@config.when(venue_kind="files")
def venue__files(venue_config: VenueConfig, data_config: DataConfig, venue_name: str, as_of_ms: int) -> Venue:
    """A folder of CSV/Parquet OHLCV files, one per symbol (optional metadata sidecar), whose "now" is run.as_of."""
    from dataflows.venues.files import FilesVenue

    v = venue_config
    return FilesVenue(
        v.path,
        asset_class=v.asset_class,
        name=venue_name,
        as_of_ms=as_of_ms,
        metadata=v.metadata,
        timeframe=data_config.timeframe,
        max_file_mb=data_config.max_file_mb,
    )
