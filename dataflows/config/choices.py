"""The config's closed sets of values: one `StrEnum` per choice, the single list of what a key accepts.

A settings field declared with `choice(Enum, default)` is a plain `str` in the frozen settings (so frames, JSON and
YAML see exactly the string) and the enum in the typed OmegaConf schema, which refuses any other value and names
the key (`dataflows.config.schema`). Members are named after their values: OmegaConf looks a string up by name.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from dataflows import columns as C
from dataflows.errors import ConfigError

CHOICES = "choices"  # field metadata key: the enum a field's values come from


class Choice(enum.StrEnum):
    """A config value out of a fixed set: equal to, hashed and formatted as its string."""

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """Every accepted value, as plain strings, in declaration order."""
        return tuple(m.value for m in cls)


class VenueKind(Choice):
    """`venue.kind`: where bars come from (chosen with `venue=NAME`)."""

    synthetic = "synthetic"
    ccxt = "ccxt"
    files = "files"


class ExecutorKind(Choice):
    """`executor.kind`: where the DAG runs (chosen with `executor=NAME`)."""

    local = "local"
    ray = "ray"


class AssetClass(Choice):
    """`venue.asset_class`: 24/7 crypto or equities with exchange sessions."""

    crypto = C.CRYPTO
    equity = C.EQUITY


class Optimizer(Choice):
    """`optimizer`, `profile.optimizer`, `profile.fallbacks` and a meta sleeve's `optimizer`."""

    hrp = "hrp"
    min_variance = "min_variance"
    max_sharpe = "max_sharpe"
    risk_parity = "risk_parity"
    equal_weight = "equal_weight"


class Covariance(Choice):
    """`profile.covariance`: the estimator MinVar, MaxSharpe and risk parity see (`dataflows.portfolio.covariance`)."""

    sample = "sample"
    ledoit_wolf = "ledoit_wolf"
    oas = "oas"
    ridge = "ridge"


class Linkage(Choice):
    """`profile.linkage`: how HRP's clustering tree joins clusters."""

    single = "single"
    complete = "complete"
    average = "average"
    weighted = "weighted"
    ward = "ward"


class MetaMethod(Choice):
    """A meta's `method`: how the sleeves are weighted against each other."""

    risk_parity = "risk_parity"
    hrp = "hrp"
    min_variance = "min_variance"


VENUE_KINDS = VenueKind.values()
EXECUTOR_KINDS = ExecutorKind.values()
OPTIMIZERS = Optimizer.values()
COVARIANCES = Covariance.values()
LINKAGES = Linkage.values()
META_METHODS = MetaMethod.values()


def choice(kind: type[Choice], default: str | None) -> Any:
    """A settings field whose value comes from `kind` (a plain `str`; a list field sets `metadata={CHOICES: kind}`)."""
    if default is not None:
        kind(default)  # a typo in a default fails at import
    return dataclasses.field(default=default, metadata={CHOICES: kind})


def not_one_of(key: str, value: Any, kind: type[Choice]) -> ConfigError:
    """The one-line error of a value outside `kind`, naming the key and every accepted value."""
    return ConfigError(f"{key}={value!r} is not one of {list(kind.values())}")


def check_choice(key: str, value: Any, kind: type[Choice]) -> str:
    """`value` as a plain string of `kind` (for mappings no schema types, e.g. a meta's), else `not_one_of`."""
    if not isinstance(value, str) or value not in kind.values():
        raise not_one_of(key, value, kind)
    return str(value)
