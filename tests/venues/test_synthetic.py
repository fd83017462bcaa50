"""The synthetic venue: determinism, prefix stability, calendars, paging, planted defects and misbehaviour."""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl
import pytest

from dataflows import columns as C
from dataflows.errors import ConfigError, RateLimited, TransientVenueError, VenueError
from dataflows.lakehouse.calendar import DAY_MS
from dataflows.venues import synthetic as S
from dataflows.venues.base import Venue, fetch_range, market_schema, ticker_schema
from dataflows.venues.synthetic import venue as synthetic_venue


def _ms(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso).replace(tzinfo=dt.UTC).timestamp() * 1000)


AS_OF = _ms("2026-06-01T12:00:00")  # a Monday: crypto and equity bars are both forming
LATER = _ms("2026-06-10T12:00:00")
EARLY = _ms("2025-03-01T06:00:00")  # before PURGED_FROM, some late listings and a 512-day block boundary


@pytest.fixture(scope="module")
def venue() -> S.SyntheticVenue:
    return S.SyntheticVenue(as_of_ms=AS_OF)


@pytest.fixture(scope="module")
def later() -> S.SyntheticVenue:
    return S.SyntheticVenue(as_of_ms=LATER)


def _epoch(frame: pl.DataFrame) -> np.ndarray:
    return frame[C.TS].dt.epoch("ms").to_numpy()


def _log_returns(frame: pl.DataFrame) -> np.ndarray:
    return np.diff(np.log(frame[C.CLOSE].to_numpy()))


def _at(frame: pl.DataFrame, iso: str) -> dict:
    return frame.filter(pl.col(C.TS) == dt.datetime.fromisoformat(iso).replace(tzinfo=dt.UTC)).row(0, named=True)


def _regular_crypto(v: S.SyntheticVenue) -> list[str]:
    special = {*S.DEFECTS, S.DELISTED, S.PERP, *S.USDC_PAIRS, *S.STABLECOINS}
    return [s for s in v.symbols if v.asset_class(s) == C.CRYPTO and s not in special]


# ---------------------------------------------------------------------------------------------- the universe


def test_protocol_and_schemas(venue: S.SyntheticVenue) -> None:
    assert isinstance(venue, Venue)
    assert (venue.name, venue.page_limit, venue.rate_limit_per_sec) == ("synthetic", 1000, None)
    markets, tickers = venue.markets(), venue.tickers()
    assert markets.schema == pl.Schema(market_schema())
    assert tickers.schema == pl.Schema(ticker_schema())
    assert markets[C.SYMBOL].is_unique().all()
    assert venue.ohlcv("BTC/USDT", "1d", 0, 10).schema == pl.Schema(C.ohlcv_schema())


def test_universe_shape(venue: S.SyntheticVenue) -> None:
    markets = venue.markets()
    by_class = dict(markets.group_by(C.ASSET_CLASS).len().iter_rows())
    assert by_class == {C.CRYPTO: 150, C.EQUITY: 60}
    symbols = set(markets[C.SYMBOL])
    assert {S.PERP, S.DIGIT_SYMBOL, "BRK.B", "ACME", *S.STABLECOINS, *S.USDC_PAIRS, *S.DEFECTS} <= symbols
    perp = markets.filter(pl.col(C.SYMBOL) == S.PERP).row(0, named=True)
    assert (perp["type"], perp[C.BASE], perp[C.QUOTE]) == ("swap", "BTC", "USDT")
    equities = markets.filter(pl.col(C.ASSET_CLASS) == C.EQUITY)
    assert set(equities[C.QUOTE]) == {"USD"}
    crypto = markets.filter(pl.col(C.ASSET_CLASS) == C.CRYPTO)
    assert (crypto[C.QUOTE] == "USDT").mean() > 0.9
    # Several bases trade against USDT and USDC; the USDT pair is the most liquid.
    tickers = venue.tickers()
    qv = dict(zip(tickers[C.SYMBOL], tickers[C.QUOTE_VOLUME], strict=True))
    for pair in S.USDC_PAIRS:
        base = pair.split("/")[0]
        assert qv[f"{base}/USDT"] > qv[pair]
    # Every planted cluster has several members; the perp and USDC pairs share their base's cluster.
    sizes = collections.Counter(venue.clusters.values())
    assert set(sizes) == {*S.CRYPTO_CLUSTERS, *S.EQUITY_SECTORS, S.STABLE_CLUSTER}
    assert min(sizes.values()) >= 3
    assert venue.clusters[S.PERP] == venue.clusters["BTC/USDT"]


def test_listed_at_is_first_bar_and_late_listings_exist(venue: S.SyntheticVenue) -> None:
    markets = venue.markets()
    genesis = dt.datetime(2019, 1, 1, tzinfo=dt.UTC)
    for symbol, listed_at in zip(markets[C.SYMBOL], markets[C.LISTED_AT], strict=True):
        if symbol == S.PURGED:
            continue
        assert venue.truth(symbol)[C.TS][0] == listed_at, symbol
    late = markets.filter(pl.col(C.LISTED_AT) > genesis + dt.timedelta(days=365))
    assert late.height >= 20
    early = S.SyntheticVenue(as_of_ms=EARLY, n_equity=60)
    assert len(early.symbols) < len(venue.symbols)


# ---------------------------------------------------------------------------------- determinism and prefixes


def test_deterministic_across_instances(venue: S.SyntheticVenue) -> None:
    other = S.SyntheticVenue(as_of_ms=AS_OF)
    for symbol in venue.symbols:
        assert venue.truth(symbol).equals(other.truth(symbol)), symbol
    assert venue.ohlcv("ETH/USDT", "1d", AS_OF - DAY_MS, 5).equals(other.ohlcv("ETH/USDT", "1d", AS_OF - DAY_MS, 5))
    assert venue.markets().equals(other.markets())
    assert venue.tickers().equals(other.tickers())
    reseeded = S.SyntheticVenue(as_of_ms=AS_OF, seed=1)
    assert not venue.truth("ETH/USDT").equals(reseeded.truth("ETH/USDT"))


def test_pickles_and_rebuilds_from_kwargs(venue: S.SyntheticVenue) -> None:
    clone = pickle.loads(pickle.dumps(venue))
    rebuilt = S.SyntheticVenue(**venue.kwargs)
    for symbol in ("BTC/USDT", "BRK.B", S.PUMP):
        assert clone.truth(symbol).equals(venue.truth(symbol))
        assert rebuilt.truth(symbol).equals(venue.truth(symbol))


@pytest.mark.parametrize("early_as_of", [EARLY, AS_OF])
def test_prefix_stable(early_as_of: int, later: S.SyntheticVenue) -> None:
    early = S.SyntheticVenue(as_of_ms=early_as_of)
    assert set(early.symbols) <= set(later.symbols)
    grew = 0
    for symbol in early.symbols:
        old, new = early.truth(symbol), later.truth(symbol)
        assert new.head(old.height).equals(old), symbol
        grew += new.height > old.height
    assert grew > 0.9 * len(early.symbols)


# ------------------------------------------------------------------------------------------------ calendars


def test_equities_trade_weekdays_and_crypto_every_day(venue: S.SyntheticVenue) -> None:
    for symbol in venue.symbols:
        ts = _epoch(venue.truth(symbol))
        if ts.size < 2:
            continue
        if venue.asset_class(symbol) == C.EQUITY:
            weekday = (ts // DAY_MS + 3) % 7
            assert (weekday < 5).all(), symbol
            assert set(np.diff(ts) // DAY_MS) <= {1, 3}, symbol
        else:
            assert (np.diff(ts) == DAY_MS).all(), symbol


# ---------------------------------------------------------------------------------------- venue behaviour


@pytest.mark.parametrize("symbol", ["BTC/USDT", "ACME"])
def test_forming_bar_is_partial(symbol: str, venue: S.SyntheticVenue, later: S.SyntheticVenue) -> None:
    page = venue.ohlcv(symbol, "1d", AS_OF - 3 * DAY_MS, 10)
    forming = page.row(-1, named=True)
    day = AS_OF - AS_OF % DAY_MS
    assert _epoch(page)[-1] == day
    assert _epoch(venue.truth(symbol))[-1] < day  # truth holds completed bars only
    final = later.truth(symbol).filter(pl.col(C.TS).dt.epoch("ms") == day).row(0, named=True)
    assert forming[C.OPEN] == final[C.OPEN]
    assert forming[C.VOLUME] < final[C.VOLUME]
    assert forming[C.HIGH] <= final[C.HIGH]
    assert forming[C.LOW] >= final[C.LOW]
    assert (forming[C.CLOSE], forming[C.VOLUME]) != (final[C.CLOSE], final[C.VOLUME])
    # Bars after as_of never appear.
    assert venue.ohlcv(symbol, "1d", AS_OF, 10).height == 0


def test_weekend_equity_has_no_forming_bar() -> None:
    saturday = S.SyntheticVenue(as_of_ms=_ms("2026-05-30T12:00:00"))
    page = saturday.ohlcv("ACME", "1d", _ms("2026-05-25T00:00:00"), 10)
    assert page.equals(saturday.truth("ACME").tail(5))
    assert _epoch(page)[-1] == _ms("2026-05-29T00:00:00")


def test_page_limit_and_fetch_range() -> None:
    v = S.SyntheticVenue(as_of_ms=AS_OF, page_limit=200)
    assert v.ohlcv("ETH/USDT", "1d", 0, 5000).height == 200
    assert v.ohlcv("ETH/USDT", "1d", 0, 7).height == 7
    full = fetch_range(v, "ETH/USDT", "1d", 0, AS_OF)
    truth = v.truth("ETH/USDT")
    assert full.height == truth.height + 1  # + the forming bar
    assert full.head(truth.height).equals(truth)
    requests = [r for r in v.ohlcv_requests if r[0] == "ETH/USDT"][2:]
    assert len(requests) >= truth.height // 200
    assert all(rows <= 200 for _, _, _, rows in requests)
    assert v.calls["ohlcv"] == len(v.ohlcv_requests)


def test_bad_requests_name_the_input(venue: S.SyntheticVenue) -> None:
    with pytest.raises(VenueError, match="NOPE/USDT"):
        venue.ohlcv("NOPE/USDT", "1d", 0, 10)
    with pytest.raises(ConfigError, match="'1h'"):
        venue.ohlcv("BTC/USDT", "1h", 0, 10)
    with pytest.raises(ConfigError, match="n_crypto"):
        S.SyntheticVenue(as_of_ms=AS_OF, n_crypto=3)


def test_thread_safe_instrumentation() -> None:
    v = S.SyntheticVenue(as_of_ms=AS_OF, page_limit=300)
    symbols = _regular_crypto(v)[:40]
    with ThreadPoolExecutor(8) as pool:
        frames = list(pool.map(lambda s: fetch_range(v, s, "1d", 0, AS_OF), symbols))
    assert all(f.height == v.truth(s).height + 1 for s, f in zip(symbols, frames, strict=True))
    assert v.calls["ohlcv"] == len(v.ohlcv_requests)
    assert sum(rows for *_, rows in v.ohlcv_requests) == sum(f.height for f in frames)


def test_injected_errors_rate_and_determinism() -> None:
    def outcomes(v: S.SyntheticVenue, n: int) -> list[str]:
        out = []
        for _ in range(n):
            try:
                v.ohlcv("BTC/USDT", "1d", AS_OF - DAY_MS, 1)
                out.append("ok")
            except (RateLimited, TransientVenueError) as error:
                out.append(type(error).__name__)
        return out

    first = outcomes(S.SyntheticVenue(as_of_ms=AS_OF, error_rate=0.2), 2000)
    again = outcomes(S.SyntheticVenue(as_of_ms=AS_OF, error_rate=0.2), 2000)
    assert first == again
    counts = {k: first.count(k) for k in ("ok", "RateLimited", "TransientVenueError")}
    assert 330 <= counts["RateLimited"] + counts["TransientVenueError"] <= 470
    assert min(counts["RateLimited"], counts["TransientVenueError"]) > 120
    assert outcomes(S.SyntheticVenue(as_of_ms=AS_OF, error_rate=0.2, seed=3), 2000) != first
    assert set(outcomes(S.SyntheticVenue(as_of_ms=AS_OF), 200)) == {"ok"}


def test_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]  # the rate limit's clock, advanced by hand: the window is one second of it
    monkeypatch.setattr(synthetic_venue, "_clock", lambda: now[0])
    v = S.SyntheticVenue(as_of_ms=AS_OF, rate_limit_per_sec=5)
    for _ in range(5):
        v.ohlcv("BTC/USDT", "1d", AS_OF - DAY_MS, 1)
    with pytest.raises(RateLimited, match="5 requests per second"):
        v.ohlcv("BTC/USDT", "1d", AS_OF - DAY_MS, 1)
    assert v.throttled == 1
    now[0] += 0.5
    with pytest.raises(RateLimited, match="5 requests per second"):
        v.ohlcv("BTC/USDT", "1d", AS_OF - DAY_MS, 1)
    assert v.throttled == 2
    now[0] += 0.5  # one second after the first five calls: they leave the window
    assert v.ohlcv("BTC/USDT", "1d", AS_OF - DAY_MS, 1).height == 1
    assert v.throttled == 2


# ------------------------------------------------------------------------------------------- market realism


def test_ohlc_consistent_positive_and_realistic(venue: S.SyntheticVenue) -> None:
    for symbol in venue.symbols:
        bars = venue.ohlcv(symbol, "1d", 0, 10_000)  # the full history plus the forming bar
        if bars.height == 0:
            continue
        o, h, lo, c, v = (bars[k].to_numpy() for k in C.OHLCV[1:])
        assert np.isfinite(np.stack([o, h, lo, c, v])).all(), symbol
        assert (lo > 0).all(), symbol
        assert (v >= 0).all(), symbol
        assert (lo <= np.minimum(o, c)).all(), symbol
        assert (h >= np.maximum(o, c)).all(), symbol
        floor, cap = (1.0, 5_000) if venue.asset_class(symbol) == C.EQUITY else (1e-5, 1e6)
        assert floor < lo.min(), symbol
        assert h.max() < cap, symbol
    tickers = venue.tickers().join(venue.markets(), on=C.SYMBOL)
    crypto_qv = tickers.filter(pl.col(C.ASSET_CLASS) == C.CRYPTO)[C.QUOTE_VOLUME]
    equity_qv = tickers.filter(pl.col(C.ASSET_CLASS) == C.EQUITY)[C.QUOTE_VOLUME]
    assert crypto_qv.min() > 3e4
    assert crypto_qv.max() > 3e9
    assert equity_qv.min() > 3e6
    assert equity_qv.max() > 1e9


def test_stablecoins_hold_the_peg(venue: S.SyntheticVenue) -> None:
    for symbol in S.STABLECOINS:
        closes = venue.truth(symbol)[C.CLOSE].to_numpy()
        assert np.abs(closes - 1).max() < 0.01, symbol
        assert _log_returns(venue.truth(symbol)).std() < 1e-3, symbol
    assert _log_returns(venue.truth("BTC/USDT")).std() > 0.01


def test_cluster_correlation(venue: S.SyntheticVenue) -> None:
    symbols = [s for s in _regular_crypto(venue) if venue.truth(s).height > 800]
    start = _epoch(venue.truth("BTC/USDT"))[-730]
    returns = np.stack([_log_returns(venue.truth(s).filter(pl.col(C.TS).dt.epoch("ms") >= start)) for s in symbols])
    corr = np.corrcoef(returns)
    intra, inter = [], []
    for i, j in itertools.combinations(range(len(symbols)), 2):
        same = venue.clusters[symbols[i]] == venue.clusters[symbols[j]]
        (intra if same else inter).append(corr[i, j])
    assert np.mean(intra) > np.mean(inter) + 0.15
    assert np.mean(inter) > 0.1  # the market factor


def test_fat_tails(venue: S.SyntheticVenue) -> None:
    kurtosis = []
    for symbol in ("BTC/USDT", "ETH/USDT", "LINK/USDT", "AVAX/USDT", "ACME"):
        r = _log_returns(venue.truth(symbol))
        z = (r - r.mean()) / r.std()
        kurtosis.append((z**4).mean() - 3)
    assert min(kurtosis) > 0
    assert np.median(kurtosis) > 1


# ------------------------------------------------------------------------------------------ planted defects


def test_pump(venue: S.SyntheticVenue) -> None:
    truth = venue.truth(S.PUMP)
    closes = truth[C.CLOSE].to_numpy()
    t = int(np.flatnonzero(_epoch(truth) == _ms(S.PUMP_DATE))[0])
    assert closes[t] / closes[t - 1] - 1 > 6  # about +900%
    assert closes[t + 1] / closes[t] - 1 < -0.8  # and back
    others = np.delete(np.abs(np.diff(closes) / closes[:-1]), [t - 1, t])
    assert others.max() < 1.5


def test_flat(venue: S.SyntheticVenue) -> None:
    tail = venue.truth(S.FLAT).filter(pl.col(C.TS).dt.epoch("ms") >= _ms(S.FLAT_FROM))
    assert tail.height >= 30
    prices = tail.select(C.PRICES).to_numpy()
    assert (prices == prices[0, 0]).all()
    assert venue.truth(S.FLAT).filter(pl.col(C.TS).dt.epoch("ms") < _ms(S.FLAT_FROM))[C.CLOSE].n_unique() > 100


def test_gappy_first_response_has_a_hole_then_heals() -> None:
    v = S.SyntheticVenue(as_of_ms=AS_OF)
    # A request that does not reach the gap leaves it pending.
    assert v.ohlcv(S.GAPPY, "1d", _ms("2026-03-01"), 5).height == 5
    first = fetch_range(v, S.GAPPY, "1d", 0, AS_OF)
    truth = v.truth(S.GAPPY)
    missing = set(_epoch(truth)) - set(_epoch(first))
    expected = {_ms(S.GAP_FROM) + k * DAY_MS for k in range(5)}
    assert missing == expected
    assert _epoch(first)[0] < min(expected)
    assert _epoch(first)[-1] > max(expected)
    second = fetch_range(v, S.GAPPY, "1d", 0, AS_OF)
    assert second.head(truth.height).equals(truth)
    repair = v.ohlcv(S.GAPPY, "1d", _ms(S.GAP_FROM), 5)
    assert set(_epoch(repair)) == expected


def test_spike(venue: S.SyntheticVenue) -> None:
    truth = venue.truth(S.SPIKE)
    volume = truth[C.VOLUME].to_numpy()
    t = int(np.flatnonzero(_epoch(truth) == _ms(S.SPIKE_DATE))[0])
    assert volume[t] > 300 * np.median(volume[t - 30 : t])
    r = np.abs(_log_returns(truth))
    assert r[t - 1] < 0.3


def test_purged(venue: S.SyntheticVenue) -> None:
    listed = venue.markets().filter(pl.col(C.SYMBOL) == S.PURGED)[C.LISTED_AT][0]
    first = venue.truth(S.PURGED)[C.TS][0]
    assert listed == dt.datetime(2019, 1, 1, tzinfo=dt.UTC)
    assert first == dt.datetime.fromisoformat(S.PURGED_FROM).replace(tzinfo=dt.UTC)
    assert venue.ohlcv(S.PURGED, "1d", 0, 1)[C.TS][0] == first
    qv = venue.tickers().filter(pl.col(C.SYMBOL) == S.PURGED)[C.QUOTE_VOLUME][0]
    assert qv < 2e6


def test_nolot(venue: S.SyntheticVenue) -> None:
    markets = venue.markets()
    assert markets.filter(pl.col(C.SYMBOL) == S.NOLOT)[C.LOT_SIZE].is_null().all()
    assert markets.filter(pl.col(C.SYMBOL) != S.NOLOT)[C.LOT_SIZE].is_not_null().all()


def test_defect_symbols_are_liquid_enough(venue: S.SyntheticVenue) -> None:
    crypto = set(_regular_crypto(venue)) | {*S.DEFECTS}
    ranked = venue.tickers().filter(pl.col(C.SYMBOL).is_in(list(crypto))).sort(C.QUOTE_VOLUME, descending=True)
    top50 = set(ranked.head(50)[C.SYMBOL])
    assert {S.PUMP, S.FLAT, S.GAPPY, S.SPIKE} <= top50
    assert S.PURGED not in top50


def test_defects_off() -> None:
    v = S.SyntheticVenue(as_of_ms=AS_OF, defects=False)
    pump = v.truth(S.PUMP)
    assert np.abs(_log_returns(pump)).max() < 1.0
    assert v.truth(S.FLAT).tail(30)[C.CLOSE].n_unique() > 20
    assert fetch_range(v, S.GAPPY, "1d", 0, AS_OF).height == v.truth(S.GAPPY).height + 1
    assert v.truth(S.PURGED)[C.TS][0] == dt.datetime(2019, 1, 1, tzinfo=dt.UTC)
    assert v.markets()[C.LOT_SIZE].is_not_null().all()
    assert set(S.DEFECTS) <= set(v.symbols)


# ---------------------------------------------------------------------------------------- delisted symbol


def test_delisted(venue: S.SyntheticVenue) -> None:
    row = venue.markets().filter(pl.col(C.SYMBOL) == S.DELISTED).row(0, named=True)
    assert row[C.ACTIVE] is False
    assert venue.markets().filter(pl.col(C.SYMBOL) != S.DELISTED)[C.ACTIVE].all()
    assert venue.truth(S.DELISTED)[C.TS][-1] == dt.datetime.fromisoformat(S.DELISTED_LAST_BAR).replace(tzinfo=dt.UTC)
    assert venue.ohlcv(S.DELISTED, "1d", _ms("2026-01-01"), 10).height == 0
    assert S.DELISTED not in set(venue.tickers()[C.SYMBOL])
    before = S.SyntheticVenue(as_of_ms=EARLY)
    assert before.markets().filter(pl.col(C.SYMBOL) == S.DELISTED)[C.ACTIVE][0] is True


def test_each_seed_has_its_own_lakehouse_namespace() -> None:
    from tests.conftest import make_settings

    names = {seed: S.SyntheticVenue(seed=seed, as_of_ms=_ms("2026-01-01T00:00:00")).name for seed in (0, 7)}
    assert names == {0: "synthetic", 7: "synthetic-seed7"}
    for seed, name in names.items():
        assert make_settings("/tmp/unused", f"venue.seed={seed}").venue_name == name
