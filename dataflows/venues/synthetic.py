"""The embedded synthetic venue: a deterministic, offline stand-in for a real exchange.

The main job and almost every test run on it. Bars are a pure function of (seed, genesis, symbol, bar date):
every random draw comes from `np.random.default_rng([seed, tag, entity, block])` for one block of calendar
days, and every recursion (regimes, drifts, prices) runs forward from `genesis`, so a venue with a later
`as_of_ms` serves exactly the same completed bars for earlier dates and only appends new ones.

The market: ~150 crypto pairs (24/7) and ~60 equities (weekday sessions) with a market factor plus cluster
(crypto) or sector (equity) factors, symbol-specific betas, Markov volatility/drift regimes, slowly varying
trends and Student-t innovations. Listings arrive late, one symbol is delisted, stablecoins hover at 1, and
the defects in `DEFECTS` are planted at fixed dates. Venue behaviour: `ohlcv` pages (`page_limit`), serves the
forming bar with partial values, and can inject rate-limit and network errors or enforce a rate limit.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from dataflows import columns as C
from dataflows.errors import ConfigError, RateLimited, TransientVenueError, VenueError
from dataflows.lakehouse.calendar import DAY_MS, WEEKDAYS, Calendar, calendar_for
from dataflows.venues.base import market_schema, ticker_schema

if TYPE_CHECKING:
    from collections.abc import Callable

GENESIS = "2019-01-01"
TIMEFRAMES = ("1d",)

# Planted defects (active when `defects=True`). Dates are fixed so every as_of in 2026 sees the same defects.
PUMP = "PUMP/USDT"
PUMP_DATE = "2026-03-10"
FLAT = "FLAT/USDT"
FLAT_FROM = "2026-01-01"
GAPPY = "GAPPY/USDT"
GAP_FROM = "2026-02-01"
GAP_TO = "2026-02-05"
SPIKE = "SPIKE/USDT"
SPIKE_DATE = "2026-04-15"
SPIKE_FACTOR = 1000.0
PURGED = "PURGED/USDT"
PURGED_FROM = "2025-06-01"
NOLOT = "NOLOT/USDT"

DEFECTS: dict[str, str] = {
    PUMP: f"one daily close x10 (+900%) on {PUMP_DATE}; the next bar opens there and closes back on trend",
    FLAT: f"stale price feed from {FLAT_FROM}: open = high = low = close, constant; volume still reported",
    GAPPY: (
        f"the first ohlcv response of a venue instance that would contain bars {GAP_FROM}..{GAP_TO} "
        "omits them; later responses return them"
    ),
    SPIKE: f"volume x{SPIKE_FACTOR:g} on {SPIKE_DATE}; price normal",
    PURGED: f"markets() says listed_at = genesis, but bars exist only from {PURGED_FROM}; low volume",
    NOLOT: "markets() has lot_size null (missing metadata stays missing)",
}

# Listing features (always present, independent of `defects`).
DELISTED = "GONE/USDT"
DELISTED_LAST_BAR = "2025-10-15"
STABLECOINS = ("USDC/USDT", "FDUSD/USDT", "DAI/USDT")
PERP = "BTC/USDT:USDT"
USDC_PAIRS = ("BTC/USDC", "ETH/USDC", "SOL/USDC", "XRP/USDC", "DOGE/USDC")
DIGIT_SYMBOL = "1000PEPE/USDT"

CRYPTO_CLUSTERS = ("majors", "layer1", "layer2", "defi", "meme", "ai", "gaming", "infra")
EQUITY_SECTORS = ("tech", "financials", "energy", "health", "consumer")
STABLE_CLUSTER = "stable"

# Core crypto symbols, always present: symbol -> (cluster, anchor price, log10 quote volume/day, listed).
_CORE_CRYPTO: dict[str, tuple[str, float, float, str]] = {
    "BTC/USDT": ("majors", 40_000.0, 9.9, GENESIS),
    "ETH/USDT": ("majors", 2_500.0, 9.6, GENESIS),
    "SOL/USDT": ("layer1", 60.0, 9.2, "2020-08-11"),
    "XRP/USDT": ("majors", 0.5, 9.1, GENESIS),
    "DOGE/USDT": ("meme", 0.08, 8.9, "2019-07-05"),
    "USDC/USDT": (STABLE_CLUSTER, 1.0, 9.2, GENESIS),
    "FDUSD/USDT": (STABLE_CLUSTER, 1.0, 8.9, "2023-07-26"),
    "DAI/USDT": (STABLE_CLUSTER, 1.0, 7.3, "2020-03-20"),
    DIGIT_SYMBOL: ("meme", 0.005, 8.6, "2023-05-05"),
    PUMP: ("meme", 0.8, 8.5, "2021-03-01"),
    FLAT: ("defi", 3.0, 8.5, "2020-06-15"),
    GAPPY: ("layer1", 12.0, 8.6, GENESIS),
    SPIKE: ("ai", 0.4, 8.4, "2021-09-01"),
    PURGED: ("gaming", 0.06, 5.4, GENESIS),
    NOLOT: ("layer2", 1.5, 7.6, "2022-01-10"),
    DELISTED: ("layer1", 2.0, 7.4, GENESIS),
}
# Instruments on the same base asset: symbol -> (underlying, volume relative to it, listing date, type).
_LINKED: dict[str, tuple[str, float, str, str]] = {
    PERP: ("BTC/USDT", 0.8, "2019-09-10", "swap"),
    "BTC/USDC": ("BTC/USDT", 0.12, "2023-03-13", "spot"),
    "ETH/USDC": ("ETH/USDT", 0.10, "2023-03-13", "spot"),
    "SOL/USDC": ("SOL/USDT", 0.08, "2023-09-01", "spot"),
    "XRP/USDC": ("XRP/USDT", 0.06, "2024-01-15", "spot"),
    "DOGE/USDC": ("DOGE/USDT", 0.05, "2024-01-15", "spot"),
}
# Regular crypto bases, most liquid first, as "BASE:cluster".
_REGULAR_CRYPTO = """
BNB:majors ADA:majors AVAX:layer1 LINK:defi TRX:majors SHIB:meme TON:layer1 DOT:layer1 ARB:layer2 SUI:layer1
LTC:majors OP:layer2 NEAR:layer1 FET:ai WIF:meme UNI:defi BCH:majors APT:layer1 RNDR:ai FIL:infra
INJ:layer1 TAO:ai BONK:meme ATOM:layer1 ETC:majors AAVE:defi IMX:gaming SEI:layer1 TIA:layer1 STRK:layer2
FLOKI:meme WLD:ai MATIC:layer2 LDO:defi HBAR:layer1 ICP:layer1 ENA:defi XLM:majors GALA:gaming JUP:defi
SAND:gaming MKR:defi AR:infra CRV:defi PENDLE:defi GRT:ai MANA:gaming RUNE:defi AXS:gaming ORDI:meme
KAS:layer1 XMR:majors ALGO:layer1 EGLD:layer1 VET:layer1 APE:gaming FTM:layer1 THETA:ai DYDX:defi CHZ:gaming
EOS:majors MNT:layer2 ZK:layer2 FLOW:layer1 MINA:layer1 QNT:infra SNX:defi COMP:defi BOME:meme PEOPLE:meme
AGIX:ai OCEAN:ai ARKM:ai AKT:ai CAKE:defi GMX:defi SUSHI:defi 1INCH:defi YFI:defi BAL:defi
ENJ:gaming ILV:gaming YGG:gaming MAGIC:gaming PIXEL:gaming BEAM:gaming METIS:layer2 MANTA:layer2 LRC:layer2
SKL:layer2 CELR:layer2 BLAST:layer2 STORJ:infra ANKR:infra BAT:infra IOTA:infra HNT:infra KAVA:layer1
ROSE:layer1 ONE:layer1 CELO:layer1 ZIL:layer1 OSMO:defi RPL:defi TURBO:meme MEME:meme NEIRO:meme DOGS:meme
NMR:ai AI:ai IOTX:infra API3:infra BAND:infra OGN:defi RSR:defi ZRX:defi KNC:defi UMA:defi
ALICE:gaming SLP:gaming GMT:gaming HIGH:gaming ASTR:layer1 GLMR:layer1 CFX:layer1 ICX:layer1 ONT:layer1
WAVES:layer1 SC:infra HOT:infra RVN:infra DENT:meme BABYDOGE:meme SATS:meme RAD:infra GLM:infra CTSI:infra
LPT:ai
"""
# Equities, most liquid first, as "TICKER:sector".
_EQUITIES = """
ACME:tech BRK.B:financials NOVA:tech QBIT:tech BNKA:financials OILX:energy MEDX:health CLDX:tech
SHOPR:consumer CAPX:financials CURE:health SOLR:energy SYNQ:tech BRND:consumer GENE:health PAYN:financials
DATX:tech
GASP:energy FOOD:consumer PHRM:health PIXL:tech LOAN:financials WNDY:energy RETL:consumer BIOT:health
CHPS:tech INSR:financials PETR:energy AUTO:consumer VAXN:health NETW:tech FNDX:financials DRLL:energy
HOME:consumer HLTH:health SOFW:tech TRST:financials GRID:energy TOYS:consumer DOCS:health ROBO:tech
MUTL:financials NUKE:energy WEAR:consumer CLNC:health LASR:tech CRDT:financials COAL:energy CAFE:consumer
SURG:health CYBR:tech VLTB:financials PIPE:energy MALL:consumer DNTL:health OPTX:tech BROK:financials
REFN:energy TRVL:consumer LABS:health
"""

# Random streams: each draw is keyed by (seed, tag, entity, block).
_TAG_PARAMS, _TAG_SYMBOL, _TAG_FACTOR, _TAG_REGIME, _TAG_FORMING, _TAG_ERROR = range(1, 7)
_BLOCK_DAYS = 512
_T_DF = 4.0
_N_STREAMS = 6  # per-symbol draws per day: innovation, volume, high, low, open/basis, drift

# Markov regimes (calm, normal, stress): volatility multiplier, market drift per day, transition matrix.
_REGIME_VOL = np.array([0.7, 1.0, 1.9])
_REGIME_DRIFT = {C.CRYPTO: np.array([0.0025, 0.0, -0.005]), C.EQUITY: np.array([0.0008, 0.0002, -0.0015])}
_REGIME_P = np.array([[0.985, 0.013, 0.002], [0.012, 0.975, 0.013], [0.005, 0.055, 0.94]])

_SIGMA = {  # typical daily volatility per cluster / sector
    "majors": 0.032,
    "layer1": 0.05,
    "layer2": 0.055,
    "defi": 0.055,
    "meme": 0.075,
    "ai": 0.06,
    "gaming": 0.055,
    "infra": 0.05,
    "tech": 0.022,
    "financials": 0.016,
    "energy": 0.02,
    "health": 0.015,
    "consumer": 0.013,
    STABLE_CLUSTER: 0.0003,
}
_PULL = {C.CRYPTO: 1 / 500, C.EQUITY: 1 / 500, STABLE_CLUSTER: 0.3}  # log-price mean reversion per day
_DELIST_CRASH_DAYS, _DELIST_CRASH_DRIFT = 150, -0.012
_WEEKEND_SCALE = 0.3  # equities: news over a weekend moves Monday's close, but less than trading days
_OPEN_GAP_SHARE = 0.35  # equities: share of the close-to-close move realised at the open


def venue_name(seed: int, genesis: str = GENESIS) -> str:
    """The lakehouse namespace of a synthetic world: `synthetic` for seed 0, `synthetic-seed<N>` otherwise (and
    `-genesis<date>` for another genesis), so two worlds never share stored bars."""
    name = "synthetic" if seed == 0 else f"synthetic-seed{seed}"
    return name if genesis == GENESIS else f"{name}-genesis{genesis}"


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


@dataclass(frozen=True)
class _Spec:
    """Everything fixed about one symbol."""

    symbol: str
    base: str
    quote: str
    kind: str
    asset_class: str
    cluster: str
    anchor: float
    sigma: float
    log_qv: float
    listed: int
    served_from: int
    last: int | None
    link: str | None
    betas: tuple[float, float, float]  # market, cluster, idiosyncratic (normalised to unit variance)
    drift_sd: float
    decimals: int  # prices are multiples of the tick 10**-decimals
    lot: float | None
    min_notional: float | None


@dataclass
class _Series:
    """The bars one symbol serves at this venue's as_of (final values; `forming` replaces the last row)."""

    ts: np.ndarray
    ohlcv: np.ndarray  # shape (5, n): open, high, low, close, volume
    forming: np.ndarray | None  # shape (5,) or None when the last row is complete


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


def _regimes(seed: int, name: str, first_day: int, n_days: int) -> np.ndarray:
    """Markov regime path (0 calm, 1 normal, 2 stress), sequential from `first_day` in state normal."""
    u = _draws(seed, _TAG_REGIME, _entity(name), first_day, n_days, lambda g: g.random(_BLOCK_DAYS))
    cum = np.cumsum(_REGIME_P, axis=1)
    out, state = np.empty(n_days, dtype=np.int64), 1
    for t in range(n_days):
        state = min(int(np.searchsorted(cum[state], u[t], side="right")), 2)
        out[t] = state
    return out


def _factor(seed: int, name: str, first_day: int, n_days: int) -> np.ndarray:
    """Unit-variance Student-t factor returns."""

    def draw(g: np.random.Generator) -> np.ndarray:
        return g.standard_t(_T_DF, _BLOCK_DAYS) / np.sqrt(_T_DF / (_T_DF - 2))

    return _draws(seed, _TAG_FACTOR, _entity(name), first_day, n_days, draw)


def _uniform_int(u: float, lo: int, hi: int) -> int:
    return lo + int(u * (hi - lo))


def _build_specs(seed: int, genesis: int, n_crypto: int, n_equity: int, defects: bool) -> list[_Spec]:
    """The venue's universe (listed at any time), deterministic from `seed`."""
    crypto_pairs = [tok.split(":") for tok in _REGULAR_CRYPTO.split()]
    equities = [tok.split(":") for tok in _EQUITIES.split()]
    # Volume ranks scale with the named lists, so a symbol's volume does not depend on n_crypto / n_equity.
    n_rank_crypto, n_rank_equity = len(crypto_pairs), len(equities)
    n_core = len(_CORE_CRYPTO) + len(_LINKED)
    if n_crypto < n_core:
        msg = f"n_crypto={n_crypto} is below the {n_core} core symbols the synthetic venue always lists"
        raise ConfigError(msg)
    if n_equity < 0:
        msg = f"n_equity={n_equity} must be >= 0"
        raise ConfigError(msg)
    n_regular = n_crypto - n_core
    for k in range(len(crypto_pairs), n_regular):
        crypto_pairs.append([f"SYN{k:03d}", CRYPTO_CLUSTERS[k % len(CRYPTO_CLUSTERS)]])
    for k in range(len(equities), n_equity):
        equities.append([f"EQ{k:03d}", EQUITY_SECTORS[k % len(EQUITY_SECTORS)]])
    late_lo, late_hi = _day("2019-06-01"), _day("2025-12-31")
    delisted_last = _day(DELISTED_LAST_BAR)

    def spec(
        symbol: str,
        cluster: str,
        asset_class: str,
        rank_log_qv: float,
        anchor: float | None,
        listed: int,
        kind: str = "spot",
        link: str | None = None,
    ) -> _Spec:
        g = np.random.default_rng([seed, _TAG_PARAMS, _entity(symbol)])
        p = g.random(8)
        if anchor is None:
            lo, hi = {"meme": (2e-3, 0.5), "majors": (0.5, 300.0)}.get(cluster, (0.05, 50.0))
            lo, hi = (15.0, 400.0) if asset_class == C.EQUITY else (lo, hi)
            anchor = float(np.exp(np.log(lo) + p[0] * (np.log(hi) - np.log(lo))))
        stable = cluster == STABLE_CLUSTER
        sigma = _SIGMA[cluster] * (1.0 if stable else 0.85 + 0.35 * p[1])
        betas = np.array([0.6 + 0.4 * p[2], 0.5 + 0.4 * p[3], 0.5 + 0.4 * p[4]])
        betas = (0.0, 0.0, 1.0) if stable else tuple(float(b) for b in betas / np.linalg.norm(betas))
        base, _, quote = symbol.partition("/")
        quote = quote.split(":")[0] if quote else "USD"
        listed = max(listed, genesis)
        if asset_class == C.EQUITY:
            listed = _next_weekday(listed)
            decimals, lot, min_notional = 2, 1.0, 1.0
        elif stable:
            decimals, lot, min_notional = 4, 1.0, 5.0
        else:
            decimals = max(0, 5 - int(np.floor(np.log10(anchor))))
            lot = 10.0 ** min(0.0, np.floor(np.log10(1.0 / anchor)) - 1)
            min_notional = 5.0 if quote == "USDT" else 1.0
        served_from = listed
        if symbol == PURGED and defects:
            served_from = max(listed, _day(PURGED_FROM))
        if symbol == NOLOT and defects:
            lot = None
        return _Spec(
            symbol=symbol,
            base=base,
            quote=quote,
            kind=kind,
            asset_class=asset_class,
            cluster=cluster,
            anchor=anchor,
            sigma=sigma,
            log_qv=rank_log_qv + 0.15 * (p[5] - 0.5) * 2,
            listed=listed,
            served_from=served_from,
            last=delisted_last if symbol == DELISTED else None,
            link=link,
            betas=betas,
            drift_sd=0.0 if stable else (0.001 if asset_class == C.CRYPTO else 0.0003),
            decimals=decimals,
            lot=None if lot is None else float(lot),
            min_notional=min_notional,
        )

    specs = [spec(s, cl, C.CRYPTO, q, a, _day(d)) for s, (cl, a, q, d) in _CORE_CRYPTO.items()]
    by_symbol = {s.symbol: s for s in specs}
    for sym, (under, share, listed, kind) in _LINKED.items():
        u = by_symbol[under]
        specs.append(spec(sym, u.cluster, C.CRYPTO, u.log_qv + np.log10(share), u.anchor, _day(listed), kind, under))
    for j, (base, cluster) in enumerate(crypto_pairs[:n_regular]):
        symbol = f"{base}/USDT"
        g = np.random.default_rng([seed, _TAG_PARAMS, _entity(symbol), 1])
        u_late, u_day = g.random(2)
        listed = genesis if j < 20 or u_late > 0.35 else _uniform_int(u_day, late_lo, late_hi)
        specs.append(spec(symbol, cluster, C.CRYPTO, 9.3 - 3.9 * ((j + 1) / n_rank_crypto) ** 0.6, None, listed))
    for j, (ticker, sector) in enumerate(equities[:n_equity]):
        g = np.random.default_rng([seed, _TAG_PARAMS, _entity(ticker), 1])
        u_late, u_day = g.random(2)
        listed = genesis if j < 10 or u_late > 0.15 else _uniform_int(u_day, late_lo, late_hi)
        anchor = {"ACME": 120.0, "BRK.B": 320.0}.get(ticker)
        specs.append(spec(ticker, sector, C.EQUITY, 10.0 - 2.6 * ((j + 1) / n_rank_equity) ** 0.7, anchor, listed))
    return specs


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


def _plant(index: dict[str, int], days: np.ndarray, o, h, lo, c, vol) -> None:
    """Write the price and volume defects into the final bars (in place)."""

    def col(iso: str) -> int | None:
        day = _day(iso)
        return int(day - days[0]) if days[0] <= day <= days[-1] else None

    if PUMP in index and (t := col(PUMP_DATE)) is not None:
        i = index[PUMP]
        c[i, t] *= 10.0
        h[i, t] = max(h[i, t], c[i, t])
        if t + 1 < days.size:
            o[i, t + 1] = c[i, t]
            h[i, t + 1] = max(h[i, t + 1], o[i, t + 1])
    if FLAT in index and (t := col(FLAT_FROM)) is not None:
        i = index[FLAT]
        level = c[i, max(t - 1, 0)]
        quote_volume = vol[i, t:] * (h[i, t:] + lo[i, t:] + c[i, t:]) / 3.0
        o[i, t:] = h[i, t:] = lo[i, t:] = c[i, t:] = level
        vol[i, t:] = quote_volume / level
    if SPIKE in index and (t := col(SPIKE_DATE)) is not None:
        vol[index[SPIKE], t] *= SPIKE_FACTOR


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


def _frame(ts: np.ndarray, bars: np.ndarray) -> pl.DataFrame:
    """An OHLCV frame in `columns.ohlcv_schema()` from open times (ms) and a (5, n) value array."""
    data: dict[str, Any] = {C.TS: pl.Series(C.TS, ts, dtype=pl.Int64).cast(pl.Datetime("ms", "UTC"))}
    for name, values in zip(C.OHLCV[1:], bars, strict=True):
        data[name] = pl.Series(name, values, dtype=pl.Float64)
    return pl.DataFrame(data, schema=C.ohlcv_schema())


class SyntheticVenue:
    """A deterministic exchange with crypto and equity symbols, planted defects and venue misbehaviour.

    `as_of_ms` is the venue's "now": symbols listed later do not exist yet, bars after it never appear and the
    bar containing it is served with partial values. The panel is generated on first use and cached.
    Instrumentation (thread-safe): `calls` counts protocol calls per method, `ohlcv_requests` records
    (symbol, since_ms, limit, rows returned) per served page, `injected` counts injected errors by class name,
    `throttled` counts calls refused by `rate_limit_per_sec`. Injected errors are a pure function of
    (seed, call number); with a thread pool the call order, hence which request fails, may differ per run.
    Pickling re-creates the venue from `kwargs` (fresh counters and a fresh transient gap).
    """

    equity_calendar = WEEKDAYS  # its own world: equities trade every weekday, no exchange holidays

    def __init__(
        self,
        *,
        seed: int = 0,
        as_of_ms: int,
        n_crypto: int = 150,
        n_equity: int = 60,
        page_limit: int = 1000,
        rate_limit_per_sec: float | None = None,
        error_rate: float = 0.0,
        defects: bool = True,
        genesis: str = GENESIS,
    ) -> None:
        self.kwargs: dict[str, Any] = dict(
            seed=seed,
            as_of_ms=as_of_ms,
            n_crypto=n_crypto,
            n_equity=n_equity,
            page_limit=page_limit,
            rate_limit_per_sec=rate_limit_per_sec,
            error_rate=error_rate,
            defects=defects,
            genesis=genesis,
        )
        if not isinstance(seed, int) or seed < 0:
            msg = f"seed={seed!r} must be a non-negative integer"
            raise ConfigError(msg)
        try:
            self._genesis = _day(genesis)
        except (TypeError, ValueError):
            msg = f"genesis={genesis!r} is not an ISO date (YYYY-MM-DD)"
            raise ConfigError(msg) from None
        if as_of_ms < self._genesis * DAY_MS:
            msg = f"as_of_ms={as_of_ms} is before genesis {genesis}"
            raise ConfigError(msg)
        if page_limit < 1:
            msg = f"page_limit={page_limit} must be >= 1"
            raise ConfigError(msg)
        if rate_limit_per_sec is not None and rate_limit_per_sec <= 0:
            msg = f"rate_limit_per_sec={rate_limit_per_sec} must be positive or None"
            raise ConfigError(msg)
        if not 0.0 <= error_rate < 1.0:
            msg = f"error_rate={error_rate} must be in [0, 1)"
            raise ConfigError(msg)
        self.seed, self.as_of_ms, self.defects = seed, int(as_of_ms), defects
        self.name: str = venue_name(seed, genesis)
        self.page_limit, self.rate_limit_per_sec, self.error_rate = page_limit, rate_limit_per_sec, error_rate
        as_of_day = self.as_of_ms // DAY_MS
        universe = _build_specs(seed, self._genesis, n_crypto, n_equity, defects)
        self._all_specs = universe  # generation needs link targets even if not listed yet
        self._specs = {s.symbol: s for s in universe if s.listed <= as_of_day}
        self.symbols: tuple[str, ...] = tuple(self._specs)
        self.clusters: dict[str, str] = {s.symbol: s.cluster for s in self._specs.values()}
        self.calls: collections.Counter[str] = collections.Counter()
        self.injected: collections.Counter[str] = collections.Counter()  # by error class name
        self.throttled = 0  # calls refused by rate_limit_per_sec
        self.ohlcv_requests: list[tuple[str, int, int, int]] = []
        self._lock = threading.Lock()
        self._panel_lock = threading.Lock()
        self._panel: dict[str, _Series] | None = None
        self._n_calls = 0
        self._stamps: collections.deque[float] = collections.deque()
        self._gap_served = False

    def __reduce__(self) -> tuple:
        """Pickles as its constructor arguments (a fresh connection to the same market)."""
        return _rebuild, (self.kwargs,)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"SyntheticVenue({args})"

    # ----------------------------------------------------------------------------------------------- protocol

    def markets(self) -> pl.DataFrame:
        """One row per symbol listed at as_of (delisted ones with active=False)."""
        self._enter("markets", "")
        rows = [
            {
                C.SYMBOL: s.symbol,
                C.BASE: s.base,
                C.QUOTE: s.quote,
                "type": s.kind,
                C.ASSET_CLASS: s.asset_class,
                C.TICK_SIZE: 10.0**-s.decimals,
                C.LOT_SIZE: s.lot,
                C.MIN_NOTIONAL: s.min_notional,
                C.LISTED_AT: dt.datetime.fromtimestamp(s.listed * 86400, tz=dt.UTC),
                C.ACTIVE: self._active(s),
            }
            for s in self._specs.values()
        ]
        return pl.DataFrame(rows, schema=market_schema())

    def tickers(self) -> pl.DataFrame:
        """Last price (the forming bar's close so far), last completed bar's quote volume, and the 24-hour change:
        last price against the close of the last bar completed at least 24 hours before as_of (a rolling 24 h
        change, as exchanges report it; at midnight that is the last completed bar against the one before)."""
        self._enter("tickers", "")
        panel = self._series()
        rows = []
        for s in self._specs.values():
            series = panel[s.symbol]
            if not self._active(s) or series.ts.size == 0:
                continue
            closes = series.ohlcv[3].copy()
            vols = series.ohlcv[4]
            if series.forming is not None:
                closes[-1] = series.forming[3]
            done = series.ts.size - (series.forming is not None)
            qv = float(closes[done - 1] * vols[done - 1]) if done else None
            ref = np.flatnonzero(series.ts + DAY_MS <= self.as_of_ms - DAY_MS)  # bars (daily) closed >= 24 h ago
            change = float(closes[-1] / closes[ref[-1]] - 1.0) if ref.size else None
            rows.append({C.SYMBOL: s.symbol, C.LAST: float(closes[-1]), C.QUOTE_VOLUME: qv, C.CHANGE: change})
        return pl.DataFrame(rows, schema=ticker_schema())

    def ohlcv(self, symbol: str, timeframe: str, since_ms: int, limit: int) -> pl.DataFrame:
        """At most min(limit, page_limit) bars with open time >= since_ms, oldest first, forming bar last."""
        self._enter("ohlcv", symbol)
        spec = self._spec(symbol)
        self._check_timeframe(timeframe, spec)
        if limit < 1:
            msg = f"ohlcv limit={limit} for {symbol!r} must be >= 1"
            raise VenueError(msg)
        series = self._series()[symbol]
        start = int(np.searchsorted(series.ts, since_ms, side="left"))
        stop = min(start + min(limit, self.page_limit), series.ts.size)
        ts, bars = series.ts[start:stop], series.ohlcv[:, start:stop].copy()
        if series.forming is not None and stop == series.ts.size and stop > start:
            bars[:, -1] = series.forming
        if symbol == GAPPY and self.defects and ts.size:
            hole = (ts >= _day(GAP_FROM) * DAY_MS) & (ts <= _day(GAP_TO) * DAY_MS)
            with self._lock:
                omit = hole.any() and not self._gap_served
                self._gap_served = self._gap_served or omit
            if omit:
                ts, bars = ts[~hole], bars[:, ~hole]
        with self._lock:
            self.ohlcv_requests.append((symbol, int(since_ms), int(limit), int(ts.size)))
        return _frame(ts, bars)

    # ------------------------------------------------------------------------------------------- test helpers

    def truth(self, symbol: str) -> pl.DataFrame:
        """Every completed bar the venue holds for `symbol` at as_of (defects included, transient gap not)."""
        self._spec(symbol)
        series = self._series()[symbol]
        done = series.ts.size - (series.forming is not None)
        return _frame(series.ts[:done], series.ohlcv[:, :done])

    def ratings_snapshot(self, symbols: list[str] | None = None) -> pl.DataFrame:
        """The screener's view: each symbol's technical ratings on its last completed bar, computed over the
        venue's whole history (like TradingView's Recommend.MA/Other/All columns). Columns: symbol, ts,
        recommend_ma, recommend_other, recommend_all."""
        from dataflows.lakehouse.panel import long_to_wide
        from kernels.ratings import technical_ratings

        with self._lock:
            self.calls["ratings_snapshot"] += 1
        wanted = [sym for sym in (symbols if symbols is not None else self.symbols) if self.truth(sym).height]
        long = pl.concat([self.truth(sym).with_columns(pl.lit(sym).alias(C.SYMBOL)) for sym in wanted])
        # one ragged panel (NaN before listing, after delisting, and on equities' weekends): the kernel rates each
        # column on its own bars, exactly as if computed alone
        fields = (C.HIGH, C.LOW, C.CLOSE, C.VOLUME)
        times, panel = long_to_wide(long, wanted, fields)
        del long
        last = np.array([int(np.flatnonzero(~np.isnan(panel[C.CLOSE][:, j]))[-1]) for j in range(len(wanted))])
        # Only each symbol's last completed bar is read: rate from that row on (`start`), per group of symbols
        # sharing it (the kernel still runs every bar; a full T×N×26 vote array was 1.2 GB at 2,000 symbols).
        rated = np.empty((3, len(wanted)))
        groups = {int(i): np.flatnonzero(last == i) for i in np.unique(last)}
        main = max(groups, key=lambda i: (groups[i].size, i))
        for i, cols in groups.items():
            whole = i == main  # the big group reads every column from row `main` on: no column copies
            r = technical_ratings(*(panel[f] if whole else panel[f][:, cols] for f in fields), start=i)
            pick = cols if whole else np.arange(cols.size)
            rated[:, cols] = (r.recommend_ma[0, pick], r.recommend_other[0, pick], r.recommend_all[0, pick])
        rows = [
            (
                sym,
                dt.datetime.fromtimestamp(times[last[j]] / 1000, dt.UTC),
                float(rated[0, j]),
                float(rated[1, j]),
                float(rated[2, j]),
            )
            for j, sym in enumerate(wanted)
        ]
        return pl.DataFrame(
            rows,
            orient="row",
            schema={
                C.SYMBOL: pl.String,
                C.TS: pl.Datetime("ms", "UTC"),
                "recommend_ma": pl.Float64,
                "recommend_other": pl.Float64,
                "recommend_all": pl.Float64,
            },
        ).fill_nan(None)

    def asset_class(self, symbol: str) -> str:
        """`crypto` or `equity`."""
        return self._spec(symbol).asset_class

    def calendar(self, symbol: str, timeframe: str = "1d") -> Calendar:
        """The trading calendar of `symbol`."""
        return calendar_for(self.asset_class(symbol), timeframe, self.equity_calendar)

    # ------------------------------------------------------------------------------------------------ private

    def _spec(self, symbol: str) -> _Spec:
        try:
            return self._specs[symbol]
        except KeyError:
            msg = f"synthetic venue has no symbol {symbol!r} listed at as_of_ms={self.as_of_ms}"
            raise VenueError(msg) from None

    def _check_timeframe(self, timeframe: str, spec: _Spec) -> None:
        if timeframe not in TIMEFRAMES:
            msg = f"synthetic venue serves timeframes {TIMEFRAMES}, not {timeframe!r} (for {spec.symbol!r})"
            raise ConfigError(msg)

    def _active(self, s: _Spec) -> bool:
        return s.last is None or (s.last + 1) * DAY_MS > self.as_of_ms

    def _series(self) -> dict[str, _Series]:
        """The generated panel, built once per instance."""
        if self._panel is None:
            with self._panel_lock:
                if self._panel is None:
                    self._panel = _generate(self._all_specs, self.seed, self._genesis, self.as_of_ms, self.defects)
        return self._panel

    def _enter(self, method: str, symbol: str) -> None:
        """Count the call, then apply the rate limit and the injected errors."""
        with self._lock:
            self.calls[method] += 1
            self._n_calls += 1
            n = self._n_calls
            if self.rate_limit_per_sec is not None and not self._admit():
                self.throttled += 1
                limit = self.rate_limit_per_sec
                msg = f"synthetic venue: {method}({symbol!r}) exceeds {limit:g} requests per second"
                raise RateLimited(msg)
            error = self._injected_error(n)
            if error is not None:
                self.injected[error.__name__] += 1
        if error is RateLimited:
            msg = f"synthetic venue: injected HTTP 429 on call {n}, {method}({symbol!r})"
            raise RateLimited(msg)
        if error is TransientVenueError:
            msg = f"synthetic venue: injected network error on call {n}, {method}({symbol!r})"
            raise TransientVenueError(msg)

    def _admit(self) -> bool:
        """Rolling one-second window of accepted calls (caller holds the lock)."""
        now = time.monotonic()
        while self._stamps and now - self._stamps[0] >= 1.0:
            self._stamps.popleft()
        if len(self._stamps) >= self.rate_limit_per_sec:
            return False
        self._stamps.append(now)
        return True

    def _injected_error(self, n: int) -> type[VenueError] | None:
        """The error injected on call number `n`, a pure function of (seed, n)."""
        if self.error_rate <= 0.0:
            return None
        draw = int.from_bytes(hashlib.blake2b(f"{self.seed}:{n}".encode(), digest_size=8).digest(), "little")
        if (draw >> 11) / 2.0**53 >= self.error_rate:
            return None
        return RateLimited if draw & 1 else TransientVenueError


def _rebuild(kwargs: dict[str, Any]) -> SyntheticVenue:
    return SyntheticVenue(**kwargs)
