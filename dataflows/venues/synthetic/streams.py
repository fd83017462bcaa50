"""Day arithmetic and the keyed random streams every draw of the synthetic world comes from.

Every draw is keyed by (seed, tag, entity, block): `entity` is a stable hash of a symbol or factor name and a block
covers `_BLOCK_DAYS` calendar days since 1970, so a day's draws depend neither on the universe's order nor on the
requested range (a later as_of only appends).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

_TAG_PARAMS, _TAG_SYMBOL, _TAG_FACTOR, _TAG_REGIME, _TAG_FORMING, _TAG_ERROR = range(1, 7)
_BLOCK_DAYS = 512
_T_DF = 4.0
_N_STREAMS = 6  # per-symbol draws per day: innovation, volume, high, low, open/basis, drift


def _day(iso: str) -> int:
    """Days since 1970-01-01 of an ISO date."""
    return (dt.date.fromisoformat(iso) - dt.date(1970, 1, 1)).days


def _entity(name: str) -> int:
    """Stable 64-bit id of a symbol or factor name (seeds must not depend on the universe's order)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def _is_weekday(day: np.ndarray | int) -> np.ndarray | bool:
    return (np.asarray(day) + 3) % 7 < 5


def _next_weekday(day: int) -> int:
    while not _is_weekday(day):
        day += 1
    return day


def _draws(
    seed: int,
    tag: int,
    entity: int,
    first_day: int,
    n_days: int,
    draw: Callable[[np.random.Generator], np.ndarray],
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Per-day draws for days [first_day, first_day + n_days), generated block by block (prefix-stable).

    `draw(rng)` returns one block, shape (..., _BLOCK_DAYS); block `b` covers days [b * B, (b + 1) * B) since
    1970, so a day's draws do not depend on the requested range.
    """
    end = first_day + n_days
    for b in range(first_day // _BLOCK_DAYS, (end - 1) // _BLOCK_DAYS + 1):
        block = draw(np.random.default_rng([seed, tag, entity, b]))
        if out is None:
            out = np.empty((*block.shape[:-1], n_days))
        lo, hi = max(b * _BLOCK_DAYS, first_day), min((b + 1) * _BLOCK_DAYS, end)
        out[..., lo - first_day : hi - first_day] = block[..., lo - b * _BLOCK_DAYS : hi - b * _BLOCK_DAYS]
    return out


def _ar1(innov: np.ndarray, phi: np.ndarray | float, x0: np.ndarray | float = 0.0) -> np.ndarray:
    """x_t = phi * x_{t-1} + innov_t along the last axis (rows are independent series)."""
    out = np.empty_like(innov)
    prev = np.broadcast_to(np.asarray(x0, dtype=float), innov.shape[:-1]).copy()
    for t in range(innov.shape[-1]):
        prev = phi * prev + innov[..., t]
        out[..., t] = prev
    return out


def _factor(seed: int, name: str, first_day: int, n_days: int) -> np.ndarray:
    """Unit-variance Student-t factor returns."""

    def draw(g: np.random.Generator) -> np.ndarray:
        return g.standard_t(_T_DF, _BLOCK_DAYS) / np.sqrt(_T_DF / (_T_DF - 2))

    return _draws(seed, _TAG_FACTOR, _entity(name), first_day, n_days, draw)
