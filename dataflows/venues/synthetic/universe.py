"""The synthetic venue's universe: which symbols exist, when they list, and everything fixed about each one.

~150 crypto pairs (24/7) and ~60 equities (weekday sessions): a core of named crypto symbols (the majors, the
stablecoins and the defect carriers), instruments linked to an underlying (USDC pairs, a perpetual), then regular
crypto bases and equities, most liquid first. Each symbol's parameters (anchor price, volatility, betas, tick and
lot size, listing date) are drawn from its own keyed stream, so they do not depend on `n_crypto` / `n_equity`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dataflows import columns as C
from dataflows.errors import ConfigError
from dataflows.venues.synthetic.defects import FLAT, GAPPY, NOLOT, PUMP, PURGED, PURGED_FROM, SPIKE
from dataflows.venues.synthetic.streams import _TAG_PARAMS, _day, _entity, _next_weekday

GENESIS = "2019-01-01"
TIMEFRAMES = ("1d",)

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
