"""Price paths of the synthetic world: factor returns, regimes, trends, OHLC bars, volumes and the forming bar.

Returns combine a market factor (crypto and equity, partly shared) plus cluster (crypto) or sector (equity)
factors through symbol-specific betas, Markov volatility/drift regimes, slowly varying trends and Student-t
innovations; log prices revert slowly to their anchor. Every recursion runs forward from genesis, so bars for a
date never depend on as_of.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dataflows import columns as C
from dataflows.lakehouse.calendar import DAY_MS, WEEKDAYS, Calendar, calendar_for
from dataflows.venues.synthetic.defects import _plant
from dataflows.venues.synthetic.streams import (
    _BLOCK_DAYS,
    _N_STREAMS,
    _T_DF,
    _TAG_FORMING,
    _TAG_PARAMS,
    _TAG_REGIME,
    _TAG_SYMBOL,
    _ar1,
    _draws,
    _entity,
    _factor,
    _is_weekday,
)
from dataflows.venues.synthetic.universe import STABLE_CLUSTER, _Spec

# Markov regimes (calm, normal, stress): volatility multiplier, market drift per day, transition matrix.
_REGIME_VOL = np.array([0.7, 1.0, 1.9])
_REGIME_DRIFT = {C.CRYPTO: np.array([0.0025, 0.0, -0.005]), C.EQUITY: np.array([0.0008, 0.0002, -0.0015])}
_REGIME_P = np.array([[0.985, 0.013, 0.002], [0.012, 0.975, 0.013], [0.005, 0.055, 0.94]])

_PULL = {C.CRYPTO: 1 / 500, C.EQUITY: 1 / 500, STABLE_CLUSTER: 0.3}  # log-price mean reversion per day
_DELIST_CRASH_DAYS, _DELIST_CRASH_DRIFT = 150, -0.012
_WEEKEND_SCALE = 0.3  # equities: news over a weekend moves Monday's close, but less than trading days
_OPEN_GAP_SHARE = 0.35  # equities: share of the close-to-close move realised at the open


@dataclass
class _Series:
    """The bars one symbol serves at this venue's as_of (final values; `forming` replaces the last row)."""

    ts: np.ndarray
    ohlcv: np.ndarray  # shape (5, n): open, high, low, close, volume
    forming: np.ndarray | None  # shape (5,) or None when the last row is complete


def _regimes(seed: int, name: str, first_day: int, n_days: int) -> np.ndarray:
    """Markov regime path (0 calm, 1 normal, 2 stress), sequential from `first_day` in state normal."""
    u = _draws(seed, _TAG_REGIME, _entity(name), first_day, n_days, lambda g: g.random(_BLOCK_DAYS))
    cum = np.cumsum(_REGIME_P, axis=1)
    out, state = np.empty(n_days, dtype=np.int64), 1
    for t in range(n_days):
        state = min(int(np.searchsorted(cum[state], u[t], side="right")), 2)
        out[t] = state
    return out


def _generate(specs: list[_Spec], seed: int, genesis: int, as_of_ms: int, defects: bool) -> dict[str, _Series]:
    """Final OHLCV of every symbol from genesis to as_of's day, plus the forming bar's partial values."""
    last_day = as_of_ms // DAY_MS
    n_days = last_day - genesis + 1
    days = np.arange(genesis, last_day + 1)
    weekday = _is_weekday(days)
    n = len(specs)
    index = {s.symbol: i for i, s in enumerate(specs)}
    scale_t = np.sqrt(_T_DF / (_T_DF - 2))

    def symbol_draw(g: np.random.Generator) -> np.ndarray:
        out = np.empty((_N_STREAMS, _BLOCK_DAYS))
        out[0] = g.standard_t(_T_DF, _BLOCK_DAYS) / scale_t
        out[1:] = g.standard_normal((_N_STREAMS - 1, _BLOCK_DAYS))
        return out

    eps = np.empty((_N_STREAMS, n, n_days))
    for i, s in enumerate(specs):
        _draws(seed, _TAG_SYMBOL, _entity(s.symbol), genesis, n_days, symbol_draw, out=eps[:, i])
    classes = (C.CRYPTO, C.EQUITY)
    mkt = {ac: _factor(seed, f"market:{ac}", genesis, n_days) for ac in classes}
    # The equity market shares part of its shocks with crypto's.
    mkt[C.EQUITY] = 0.3 * mkt[C.CRYPTO] + np.sqrt(1 - 0.09) * mkt[C.EQUITY]
    regimes = {ac: _regimes(seed, f"regime:{ac}", genesis, n_days) for ac in classes}
    groups = {s.cluster for s in specs} - {STABLE_CLUSTER}
    group_f = {c: _factor(seed, f"cluster:{c}", genesis, n_days) for c in sorted(groups)}

    sigma = np.array([s.sigma for s in specs])[:, None]
    betas = np.array([s.betas for s in specs])
    vol_mult = np.ones((n, n_days))
    drift_mkt = np.zeros((n, n_days))
    unit = betas[:, 2:3] * eps[0]
    for i, s in enumerate(specs):
        if s.cluster == STABLE_CLUSTER:
            continue
        vol_mult[i] = _REGIME_VOL[regimes[s.asset_class]]
        drift_mkt[i] = betas[i, 0] * _REGIME_DRIFT[s.asset_class][regimes[s.asset_class]]
        unit[i] += betas[i, 0] * mkt[s.asset_class] + betas[i, 1] * group_f[s.cluster]
    drift_sd = np.array([s.drift_sd for s in specs])
    z0 = [np.random.default_rng([seed, _TAG_PARAMS, _entity(s.symbol), 2]).standard_normal() for s in specs]
    x0 = drift_sd * np.array(z0)
    phi = 0.995
    trend = _ar1(drift_sd[:, None] * np.sqrt(1 - phi**2) * eps[5], phi, x0)
    ret = sigma * vol_mult
    ret *= unit
    ret += drift_mkt
    ret += trend
    del unit, drift_mkt, trend  # (n, days) arrays: free each one as soon as it is used (2,000 symbols: ~44 MB each)
    is_eq = np.array([s.asset_class == C.EQUITY for s in specs])
    ret[np.ix_(is_eq, ~weekday)] *= _WEEKEND_SCALE
    for i, s in enumerate(specs):
        if s.last is not None:
            crash = (days > s.last - _DELIST_CRASH_DAYS) & (days <= s.last)
            ret[i, crash] += _DELIST_CRASH_DRIFT
    pull = np.array([_PULL[STABLE_CLUSTER if s.cluster == STABLE_CLUSTER else s.asset_class] for s in specs])
    log_c = np.log([s.anchor for s in specs])[:, None] + _ar1(ret, 1.0 - pull)

    # Opens: crypto trades continuously (open = previous close); equities gap at the session open.
    log_o = np.empty_like(log_c)
    log_o[:, 1:] = log_c[:, :-1]
    log_o[:, 0] = log_c[:, 0] - ret[:, 0]
    if is_eq.any():
        wd = np.flatnonzero(weekday)
        close_wd = log_c[np.ix_(is_eq, wd)]
        prev = np.empty_like(close_wd)
        prev[:, 1:] = close_wd[:, :-1]
        prev[:, 0] = close_wd[:, 0] - ret[is_eq][:, wd[0]]
        gap = _OPEN_GAP_SHARE * (close_wd - prev) + 0.2 * sigma[is_eq] * eps[4][np.ix_(is_eq, wd)]
        log_o[np.ix_(is_eq, wd)] = prev + gap
    del ret
    wick = 0.5 * sigma * vol_mult
    del vol_mult
    log_h = np.maximum(log_o, log_c)
    log_h += wick * np.abs(eps[2])
    log_l = np.minimum(log_o, log_c)
    log_l -= wick * np.abs(eps[3])
    del wick
    # Same-base instruments (USDC pairs, the perp) follow their underlying plus a small basis.
    for i, s in enumerate(specs):
        if s.link is not None:
            u = index[s.link]
            basis = _ar1(0.0004 * np.sqrt(1 - 0.81) * eps[4, i], 0.9)
            for arr in (log_o, log_h, log_l, log_c):
                arr[i] = arr[u] + basis
    o, h, lo, c = (np.exp(a, out=a) for a in (log_o, log_h, log_l, log_c))  # in place: the logs are not used again
    del log_o, log_h, log_l, log_c
    activity = 0.3 * (np.minimum(np.abs(eps[0]), 5.0) - 0.8)  # busier on big moves, bounded
    log_qv = np.array([s.log_qv for s in specs])[:, None] * np.log(10) + _ar1(
        0.35 * np.sqrt(1 - 0.92**2) * eps[1], 0.92
    )
    del eps
    log_qv += activity
    del activity
    typical = h + lo
    typical += c
    typical /= 3.0
    vol = np.exp(log_qv, out=log_qv)
    vol /= typical
    del typical

    if defects:
        _plant(index, days, o, h, lo, c, vol)
    scale = 10.0 ** np.array([s.decimals for s in specs], dtype=float)[:, None]
    o, h, lo, c = (_to_tick(a, scale) for a in (o, h, lo, c))
    h = np.maximum(np.maximum(h, o, out=h), c, out=h)  # = np.maximum.reduce([h, o, c]) without the stacked copy
    lo = np.minimum(np.minimum(lo, o, out=lo), c, out=lo)

    out: dict[str, _Series] = {}
    for i, s in enumerate(specs):
        cal = calendar_for(s.asset_class, "1d", WEEKDAYS)
        end = last_day if s.last is None else min(s.last, last_day)
        keep = (days >= s.served_from) & (days <= end)
        if s.asset_class == C.EQUITY:
            keep &= weekday
        cols = np.flatnonzero(keep)
        ts = days[cols].astype(np.int64) * DAY_MS
        bars = np.stack([o[i, cols], h[i, cols], lo[i, cols], c[i, cols], vol[i, cols]])
        forming = None
        if ts.size and cal.completes_at(int(ts[-1])) > as_of_ms:
            forming = _forming(seed, s, cal, int(ts[-1]), as_of_ms, bars[:, -1])
        out[s.symbol] = _Series(ts=ts, ohlcv=bars, forming=forming)
    return out


def _to_tick(price: np.ndarray | float, scale: np.ndarray | float) -> np.ndarray:
    """Round to the tick 1 / scale (a power of ten), never below one tick; exact decimals like 67966.9."""
    return np.maximum(np.round(np.asarray(price) * scale), 1.0) / scale


def _forming(seed: int, s: _Spec, cal: Calendar, ts: int, as_of_ms: int, final: np.ndarray) -> np.ndarray:
    """Partial values of the bar opened at `ts` as seen at `as_of_ms` (bridge from open to close)."""
    frac = (as_of_ms - ts) / (cal.completes_at(ts) - ts)
    g = np.random.default_rng([seed, _TAG_FORMING, _entity(s.symbol), as_of_ms])
    z, (u1, u2, u3) = g.standard_normal(), g.random(3)
    o, h, lo, c, v = final
    lo_, hi_ = np.log(lo), np.log(h)
    mid = np.log(o) + frac * (np.log(c) - np.log(o))
    sd = s.sigma * np.sqrt(frac * (1 - frac))
    close = float(np.exp(np.clip(mid + sd * z, lo_, hi_)))
    scale = 10.0**s.decimals
    close = float(_to_tick(close, scale))
    top, bottom = max(o, close), min(o, close)
    high = top + (h - top) * frac * u1
    low = bottom - (bottom - lo) * frac * u2
    high = max(float(_to_tick(high, scale)), top)
    low = min(float(_to_tick(low, scale)), bottom)
    return np.array([o, high, low, close, v * frac * (0.85 + 0.15 * u3)])
