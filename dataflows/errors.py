"""Typed errors. Every message names the offending input and what to do about it."""

from __future__ import annotations


class DataflowsError(Exception):
    """Base class: the CLI prints `str(error)` as a one-line reason and exits non-zero."""

    exit_code = 2


class ConfigError(DataflowsError):
    """A configuration key or value is invalid."""


class HistoryUnavailable(ConfigError):
    """The venue cannot serve bars as old as the configured window needs (an OHLC endpoint with a hard history
    cap); the message names the cap and the key to change."""


class VenueError(DataflowsError):
    """The venue failed in a way retries did not fix, or answered with something unusable."""


class RateLimited(VenueError):
    """The venue asked us to slow down (HTTP 429 or equivalent); retried with backoff."""


class TransientVenueError(VenueError):
    """A network-level failure worth retrying."""


class BadPayload(VenueError):
    """The venue returned data that fails validation (wrong shape, NaN prices, high < low, ...)."""


class LakehouseError(DataflowsError):
    """Stored data is unreadable or inconsistent in a way that needs a person."""


class UnsafeKey(DataflowsError):
    """A symbol, run id or path component would escape its folder."""


class HealthGateError(DataflowsError):
    """The strict health gate failed after repair; the message names each symbol and reason."""

    exit_code = 3


class RatingsMismatch(DataflowsError):
    """The backfilled ratings disagree with the venue's own snapshot where they must agree exactly."""

    exit_code = 3
