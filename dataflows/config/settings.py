"""The settings tree: frozen dataclasses, one per config group, built once from Hydra's config and then passed
around as plain values.

Each field's trailing comment is its description in `python -m dataflows run --help` (`dataflows.explore`). A field
declared with `choice(...)` accepts only its enum's values (`dataflows.config.choices`); `Settings.validate()` adds
the checks types cannot express (`dataflows.config.checks`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataflows import columns as C
from dataflows.config.choices import (
    CHOICES,
    AssetClass,
    Covariance,
    ExecutorKind,
    Linkage,
    Optimizer,
    VenueKind,
    choice,
)
from dataflows.errors import ConfigError


@dataclass(frozen=True)
class RunConfig:
    """What this run is: its id, its clock."""

    as_of: str | None = None  # ISO date (= end of that day, UTC) or datetime; None = now
    id: str | None = None  # default: <as_of>_<profile>_<random>; one safe path component


@dataclass(frozen=True)
class DataConfig:
    """Where the lakehouse lives and how the data phase repairs it."""

    root: str = "./data"  # lakehouse (lakehouse/) and run folders (runs/); relative to the working directory
    timeframe: str = "1d"  # bar length of every series (1d)
    history_days: int = 730  # required history window ending at the last completed bar
    max_repair_rounds: int = 3  # audit → fetch → re-audit loops before giving up
    concurrency: int = 4  # parallel symbol fetches
    retries: int = 5  # attempts per venue call on rate limits and network errors
    retry_wait_s: float = 0.5  # first backoff; doubles up to retry_wait_max_s
    retry_wait_max_s: float = 8.0  # longest backoff between two attempts
    lease_s: float = 120.0  # a fetch lease expires after this (crashed holder)
    lease_wait_s: float = 300.0  # how long to wait for another process's lease
    progress: bool = True  # rich progress bar (only when stderr is a terminal)
    max_gap_bars: int = 14  # a confirmed interior venue gap of at most this many bars is accepted (returns span it)
    hole_recheck_days: float = 7.0  # a confirmed-missing range is asked again after this many days
    recheck_holes: bool = False  # forget every confirmed-missing range of the candidates before auditing
    max_file_mb: float = 1024.0  # files venue: a larger file is refused (named) instead of being read


@dataclass(frozen=True)
class GuardConfig:
    """Toxic-data policy: the one place its thresholds live."""

    max_abs_return: float = 5.0  # |daily simple return| >= 500% is toxic
    flat_bars: int = 20  # this many identical closes in a row is a flat line
    spike_mult: float = 100.0  # volume > spike_mult x median of the previous spike_window bars
    spike_window: int = 30  # bars of the median a volume spike is measured against
    quarantine_days: int = 30  # a quarantine entry expires after this
    lookback_days: int = 0  # 0 = scan the whole required history window


@dataclass(frozen=True)
class HealthConfig:
    """The strict gate after repair."""

    strict: bool = True  # UNREPAIRABLE candidates fail the run (false: excluded and reported)
    min_healthy: int = 1  # fewer healthy candidates than this fails the run


@dataclass(frozen=True)
class VenueConfig:
    """Which venue and its options; fields that do not apply to `kind` must stay at their defaults."""

    kind: str = choice(VenueKind, "synthetic")  # synthetic | ccxt | files (choose with venue=NAME)
    # synthetic
    seed: int = 0  # synthetic world: same seed and as_of, same bars
    n_crypto: int = 150  # synthetic crypto markets
    n_equity: int = 60  # synthetic equities
    page_limit: int = 1000  # bars per ohlcv page the synthetic venue serves
    error_rate: float = 0.0  # probability of an injected 429 / network error per call, in [0, 1)
    rate_limit_per_sec: float | None = None  # calls per second before a 429; null = unlimited
    defects: bool = True  # plant the documented defects (PUMP, FLAT, GAPPY, SPIKE, PURGED, NOLOT)
    # ccxt
    exchange: str | None = None  # ccxt exchange id (binance, kraken, ...); required with venue=ccxt
    options: dict[str, Any] = field(default_factory=dict)  # passed to the ccxt exchange constructor
    market_types: list[str] = field(default_factory=lambda: ["spot", "swap"])  # ccxt market types loaded
    # files
    path: str | None = None  # folder of CSV/Parquet OHLCV files, one per symbol; required with venue=files
    metadata: str | None = None  # sidecar with tick/lot/min notional/listing per symbol; null = metadata.csv if present
    # ccxt and files
    asset_class: str = choice(AssetClass, C.CRYPTO)  # crypto (24/7) | equity (exchange sessions)
    calendar: str | None = None  # exchange calendar of equities (exchange_calendars name); null = XNYS


@dataclass(frozen=True)
class ExecutorConfig:
    """Where the DAG runs."""

    kind: str = choice(ExecutorKind, "local")  # local (this process) | ray (choose with executor=NAME)
    num_cpus: int | None = None  # CPUs of a local Ray cluster; null = all
    address: str | None = None  # Ray cluster to join (ray://host:10001); null = start a local one


@dataclass(frozen=True)
class ValidationConfig:
    """Walk-forward validation of a sleeve (rows of the returns matrix)."""

    train: int = 252  # training rows per window
    test: int = 20  # test rows per window (= step: no overlap, no gap)
    anchored: bool = False  # expanding training window
    fees: float = 0.001  # proportional, per traded notional
    slippage: float = 0.0005  # proportional, per traded notional, on top of fees
    eligibility_field: str | None = None  # e.g. recommend_all: eligible by the features row at t−1
    eligibility_op: str = ">"  # comparison of eligibility_field with eligibility_value
    eligibility_value: float = 0.0  # threshold of eligibility_field


@dataclass(frozen=True)
class ProfileConfig:
    """A sleeve: which scanners feed it and how its portfolio is built."""

    name: str = "default"  # the profile's name (run ids, reports)
    description: str = ""  # one line for `python -m dataflows list profiles` and reports
    scanners: list[str] = field(default_factory=list)  # scanner names (conf/scanner/) whose candidates feed the sleeve
    # aggregation
    train_days: int = 365  # calendar days of the training window, ending at the last completed bar
    min_history_days: int = 120  # returns an asset needs inside the window
    # natural selection (HTR, docs/selection.md)
    min_winners: int = 15  # selection tops up to this many winners (leader fallback)
    max_winners: int = 25  # at most this many winners, by score
    top_n: int = 2  # per cluster and direction
    cluster_threshold: float = 0.5  # correlation-distance threshold that cuts the clustering tree
    # optimization
    optimizer: str = choice(Optimizer, "hrp")  # hrp | min_variance | max_sharpe | risk_parity | equal_weight
    fallbacks: list[str] = field(  # tried next, in turn
        default_factory=lambda: ["min_variance", "hrp", "equal_weight"], metadata={CHOICES: Optimizer}
    )
    covariance: str = choice(  # MinVar/MaxSharpe/risk-parity input: sample | ledoit_wolf | oas | ridge (HRP: sample)
        Covariance, "sample"
    )
    min_weight: float = 1e-4  # atoms below it are dropped, the rest refilled within caps; 1 bp >> solver dust; 0 = off
    weight_cap: float = 0.25  # hard cap per atom (n · cap < 1 is infeasible and says so)
    cluster_cap: float | None = None  # hard cap per correlation cluster (null = none; needs enough clusters)
    regime_caps: bool = True  # tighten the cluster cap in CRISIS (0.15) and TURBULENT (0.20) regimes
    linkage: str = choice(Linkage, "single")  # HRP linkage: single | complete | average | weighted | ward
    optimal_ordering: bool = False  # optimal leaf ordering (costly on large Ward trees)
    risk_free: float = 0.0  # annual, for MaxSharpe
    require_metadata: bool | None = None  # unknown tick/lot size vetoes an atom; null = where the venue publishes them
    benchmark: str | None = None  # the reports' yardstick: null = the equal-weight pool, or a symbol bought and held
    validation: ValidationConfig = field(default_factory=ValidationConfig)


@dataclass(frozen=True)
class FlowConfig:
    """Which optional stages run."""

    skip_analysis: bool = False  # skip heavy visuals (cluster heatmap, plots/) in the tearsheet
    skip_validation: bool = False  # skip the walk-forward backtest
    data_only: bool = False  # stop after the data phase (no selection, weights or report)


@dataclass(frozen=True)
class VizConfig:
    """Output of `python -m dataflows viz`."""

    output: str = "dag.svg"  # .svg, .png or .pdf


@dataclass(frozen=True)
class TradeConfig:
    """Orders from weights: capital, current holdings, lot rounding (see docs/orders.md)."""

    capital: float | None = None  # cash to invest, quote currency; set it and `run` also writes orders.csv
    holdings: str | None = None  # CSV `symbol,quantity` of current positions (negative = short); null = none
    balances: bool = False  # holdings from the exchange account (ccxt fetch_balance; venue=ccxt; keys from env)
    default_lot: float | None = None  # lot where the venue publishes none; null = fractional (no rounding)
    risk_days: int = 365  # days of daily returns behind the covariance of the ex-ante tracking error
    run: str | None = None  # `orders` verb: the run folder (or run id under data.root/runs) to trade

    def __post_init__(self) -> None:
        from dataflows.config.checks import check_trade

        check_trade(self)


@dataclass(frozen=True)
class Settings:
    """The whole resolved configuration of one invocation."""

    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    guard: GuardConfig = field(default_factory=GuardConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    venue: VenueConfig = field(default_factory=VenueConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    profile: ProfileConfig = field(default_factory=ProfileConfig)
    scanner: dict[str, Any] | None = None  # a scanner spec chosen with `scanner=NAME` replaces the profile's list
    meta: dict[str, Any] | None = None  # a meta-portfolio over several sleeves, chosen with `meta=NAME` (conf/meta/)
    optimizer: str | None = choice(Optimizer, None)  # `optimizer=max_sharpe` overrides the profile's optimizer
    flow: FlowConfig = field(default_factory=FlowConfig)
    viz: VizConfig = field(default_factory=VizConfig)
    trade: TradeConfig = field(default_factory=TradeConfig)

    @property
    def method(self) -> str:
        """The optimizer this run uses first."""
        return self.optimizer or self.profile.optimizer

    @property
    def fallback_chain(self) -> list[str]:
        """The primary optimizer, then the profile's fallbacks (each once)."""
        chain: list[str] = []
        for m in [self.method, *self.profile.fallbacks]:
            if m not in chain:
                chain.append(m)
        return chain

    @property
    def as_of(self) -> dt.datetime:
        """`run.as_of` as an aware UTC datetime (a bare date means the end of that day)."""
        return parse_as_of(self.run.as_of)

    @property
    def as_of_ms(self) -> int:
        return int(self.as_of.timestamp() * 1000)

    @property
    def venue_name(self) -> str:
        """The venue's lakehouse namespace: `synthetic` (seed 0) / `synthetic-seed<N>`, the ccxt exchange id, or
        `files-<folder>-<path hash>`: everything that changes the bars."""
        if self.venue.kind == "ccxt":
            return str(self.venue.exchange)
        if self.venue.kind == "files":
            from dataflows.venues.files import venue_name

            return venue_name(str(self.venue.path))
        from dataflows.venues.synthetic import venue_name as synthetic_name

        return synthetic_name(self.venue.seed)

    @property
    def data_root(self) -> Path:
        return Path(self.data.root).expanduser().resolve()

    def validate(self) -> Settings:
        """Checks types cannot express; raises `ConfigError` naming the key."""
        from dataflows.config.checks import check_settings

        check_settings(self)
        return self


def parse_as_of(value: str | None) -> dt.datetime:
    """Parse `run.as_of`: None → now (UTC); `YYYY-MM-DD` → the end of that day; ISO datetimes as given (naive = UTC)."""
    if value is None:
        return dt.datetime.now(dt.UTC).replace(microsecond=0)
    text = str(value).strip()
    try:
        if len(text) == 10:
            return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), dt.UTC) + dt.timedelta(days=1)
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        msg = f"run.as_of={value!r} is not an ISO date (2026-06-30) or datetime (2026-06-30T12:00:00Z)"
        raise ConfigError(msg) from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
