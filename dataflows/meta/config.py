"""Meta-portfolio config: the `meta` Hydra group (a plain dict) parsed once into frozen dataclasses.

A meta config (`conf/meta/<name>.yaml`, chosen with `meta=<name>`):

```yaml
name: crypto_long_short        # the meta's name (run ids, cycle messages); default: the file name / "meta"
method: risk_parity            # risk_parity (default) | hrp | min_variance
min_weight: 0.0                # default bounds for every sleeve (each sleeve may override them)
max_weight: 1.0
allow_failed_sleeves: false    # true: a failed sleeve is dropped (and the outputs say so) instead of failing the run
max_asset_weight: null         # hard cap on |net| per symbol after flattening (see dataflows.meta.flatten)
net_by_base: false             # true: also netted_weights.csv, one line per base (BTC/USDT + BTC/USDC → BTC)
sleeves:
  long: crypto_long                                  # a profile name (conf/profile/) or a meta name (conf/meta/)
  short: {profile: crypto_short, max_weight: 0.8}    # explicit profile, with bounds / optimizer / profile_overrides
  book: {meta: crypto_long_short}                    # a nested meta: its flattened weights act as one sleeve
  old: {profile: crypto_long, run_id: 20260701T000000Z_crypto_long_run_a1b2c3}   # pinned: that run, as given
  inline: {name: crypto_long, scanners: [...], ...}  # a whole profile (package-placed `/profile@sleeves.x`)
```

Every key is checked: unknown keys are a `ConfigError` naming the key. Bounds must satisfy
0 <= min_weight <= max_weight <= 1 and Σ min <= 1 <= Σ max (else no fully invested meta-portfolio exists).
Nested metas recurse to depth 3 (the top meta is depth 1); a meta that reaches itself is a cycle (`ConfigError`
naming the path). Profiles and nested metas are composed from `conf/` by `dataflows.meta.compose`, in the driver.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataflows.config import META_METHODS, MetaMethod, Optimizer, ProfileConfig, check_choice
from dataflows.errors import ConfigError
from dataflows.meta.compose import NAME, compose_group, compose_once, kind_of, load_profile

METHODS = META_METHODS  # a meta's `method`s (MetaMethod)
MAX_DEPTH = 3
META_KEYS = frozenset(
    {
        "name",
        "description",
        "method",
        "min_weight",
        "max_weight",
        "allow_failed_sleeves",
        "max_asset_weight",
        "net_by_base",
        "sleeves",
    }
)
SLEEVE_KEYS = frozenset({"profile", "meta", "run_id", "min_weight", "max_weight", "optimizer", "profile_overrides"})
SLEEVE_META_KEYS = frozenset({"run_id", "min_weight", "max_weight", "optimizer"})  # allowed beside an inline profile


@dataclass(frozen=True)
class SleeveSpec:
    """One sleeve of a meta: a profile run fresh, a pinned run reused as given, or a nested meta."""

    name: str
    kind: str  # "profile" | "pinned" | "meta"
    min_weight: float
    max_weight: float
    profile: ProfileConfig | None = None  # kind profile / pinned
    optimizer: str | None = None  # overrides the profile's optimizer (kind profile)
    run_id: str | None = None  # kind pinned: data/runs/<run_id>/
    meta: MetaSpec | None = None  # kind meta

    @property
    def label(self) -> str:
        """What the sleeve is, for tables: the profile name, `meta:<name>` or `pinned:<run_id>`."""
        if self.kind == "meta" and self.meta is not None:
            return f"meta:{self.meta.name}"
        if self.kind == "pinned":
            return f"pinned:{self.run_id}"
        return self.profile.name if self.profile is not None else self.name


@dataclass(frozen=True)
class MetaSpec:
    """A validated meta-portfolio: its sleeves, method, bounds policy and flattening cap."""

    name: str
    sleeves: tuple[SleeveSpec, ...]
    method: str = "risk_parity"
    allow_failed_sleeves: bool = False
    max_asset_weight: float | None = None
    depth: int = 1
    description: str = ""
    net_by_base: bool = False  # also a netted view, one line per base currency (orders keep the per-quote lines)

    def sleeve(self, name: str) -> SleeveSpec:
        for s in self.sleeves:
            if s.name == name:
                return s
        msg = f"meta {self.name!r} has no sleeve {name!r}"
        raise KeyError(msg)


def parse_meta(raw: dict[str, Any], *, data_root: Path | None = None, default_name: str = "meta") -> MetaSpec:
    """Validate the `meta` group's dict into a `MetaSpec` (nested metas and profiles resolved, pins checked)."""
    if not isinstance(raw, dict):
        msg = f"meta must be a mapping of meta settings, got {type(raw).__name__}"
        raise ConfigError(msg)
    name = str(raw.get("name") or default_name)
    with compose_once():
        return _parse(raw, name=name, stack=(), data_root=data_root)


def _parse(raw: dict[str, Any], *, name: str, stack: tuple[str, ...], data_root: Path | None) -> MetaSpec:
    where = ".".join(("meta", *stack[1:], name)) if stack else "meta"
    unknown = sorted(set(raw) - META_KEYS)
    if unknown:
        msg = f"{where}.{unknown[0]} is not a meta key; expected one of {sorted(META_KEYS)}"
        raise ConfigError(msg)
    stack = (*stack, name)
    if len(stack) > MAX_DEPTH:
        msg = f"meta nesting is deeper than {MAX_DEPTH}: {' → '.join(stack)}"
        raise ConfigError(msg)
    method = check_choice(f"{where}.method", raw.get("method") or MetaMethod.risk_parity.value, MetaMethod)
    lo_default = _fraction(f"{where}.min_weight", raw.get("min_weight", 0.0))
    hi_default = _fraction(f"{where}.max_weight", raw.get("max_weight", 1.0))
    allow = raw.get("allow_failed_sleeves", False)
    if not isinstance(allow, bool):
        msg = f"{where}.allow_failed_sleeves={allow!r} must be true or false"
        raise ConfigError(msg)
    cap = raw.get("max_asset_weight")
    if cap is not None:
        cap = _fraction(f"{where}.max_asset_weight", cap)
        if cap <= 0:
            msg = f"{where}.max_asset_weight={cap} must be in (0, 1] or null"
            raise ConfigError(msg)
    net_by_base = raw.get("net_by_base", False)
    if not isinstance(net_by_base, bool):
        msg = f"{where}.net_by_base={net_by_base!r} must be true or false"
        raise ConfigError(msg)
    sleeves_raw = raw.get("sleeves")
    if not isinstance(sleeves_raw, dict) or not sleeves_raw:
        msg = f"{where}.sleeves must map sleeve names to profiles, metas or pinned runs (got {sleeves_raw!r})"
        raise ConfigError(msg)
    sleeves = tuple(
        _sleeve(str(k), v, where=f"{where}.sleeves.{k}", lo=lo_default, hi=hi_default, stack=stack, root=data_root)
        for k, v in sleeves_raw.items()
    )
    check_bounds([s.min_weight for s in sleeves], [s.max_weight for s in sleeves], where=where)
    return MetaSpec(
        name=name,
        sleeves=sleeves,
        method=method,
        allow_failed_sleeves=allow,
        max_asset_weight=cap,
        depth=len(stack),
        description=str(raw.get("description") or ""),
        net_by_base=net_by_base,
    )


def _sleeve(
    name: str, value: Any, *, where: str, lo: float, hi: float, stack: tuple[str, ...], root: Path | None
) -> SleeveSpec:
    if not NAME.fullmatch(name):
        msg = f"{where}: sleeve names are 1-64 letters, digits, '_' or '-' starting with a letter or digit"
        raise ConfigError(msg)
    if isinstance(value, str):
        value = {kind_of(value, where): value}
    if not isinstance(value, dict):
        msg = f"{where} must be a profile name, a meta name or a mapping, got {value!r}"
        raise ConfigError(msg)
    value = dict(value)
    if "profile" not in value and "meta" not in value and ("scanners" in value or "name" in value):
        inline = {k: v for k, v in value.items() if k not in SLEEVE_META_KEYS}  # a package-placed whole profile
        value = {k: v for k, v in value.items() if k in SLEEVE_META_KEYS} | {"profile": inline}
    unknown = sorted(set(value) - SLEEVE_KEYS)
    if unknown:
        msg = f"{where}.{unknown[0]} is not a sleeve key; expected one of {sorted(SLEEVE_KEYS)}"
        raise ConfigError(msg)
    lo = _fraction(f"{where}.min_weight", value.get("min_weight", lo))
    hi = _fraction(f"{where}.max_weight", value.get("max_weight", hi))
    if lo > hi:
        msg = f"{where}: min_weight={lo} > max_weight={hi}"
        raise ConfigError(msg)
    if ("profile" in value) == ("meta" in value):
        msg = f"{where} needs exactly one of `profile` or `meta`"
        raise ConfigError(msg)
    optimizer = value.get("optimizer")
    if optimizer is not None:
        optimizer = check_choice(f"{where}.optimizer", optimizer, Optimizer)
    if "meta" in value:
        for key in ("run_id", "optimizer", "profile_overrides"):
            if key in value:
                msg = f"{where}.{key} does not apply to a nested meta"
                raise ConfigError(msg)
        meta_name = str(value["meta"])
        if meta_name in stack:
            msg = f"meta cycle: {' → '.join((*stack, meta_name))} ({where})"
            raise ConfigError(msg)
        if len(stack) + 1 > MAX_DEPTH:
            msg = f"meta nesting is deeper than {MAX_DEPTH}: {' → '.join((*stack, meta_name))} ({where})"
            raise ConfigError(msg)
        nested = _parse(compose_group("meta", meta_name, where), name=meta_name, stack=stack, data_root=root)
        return SleeveSpec(name=name, kind="meta", min_weight=lo, max_weight=hi, meta=nested)
    profile = load_profile(value["profile"], value.get("profile_overrides") or {}, where=where)
    run_id = value.get("run_id")
    if run_id is None:
        return SleeveSpec(name=name, kind="profile", min_weight=lo, max_weight=hi, profile=profile, optimizer=optimizer)
    if "profile_overrides" in value or optimizer is not None:
        msg = f"{where}: a pinned run (run_id) is used as given; optimizer/profile_overrides cannot change it"
        raise ConfigError(msg)
    run_id = _pinned(str(run_id), profile, where=where, root=root)
    return SleeveSpec(name=name, kind="pinned", min_weight=lo, max_weight=hi, profile=profile, run_id=run_id)


def _pinned(run_id: str, profile: ProfileConfig, *, where: str, root: Path | None) -> str:
    """A pinned run must exist, have finished `ok` (not running, interrupted, failed or without a manifest; see
    `dataflows.runs.run_state`) and belong to the sleeve's profile."""
    from dataflows.lakehouse.keys import validate_run_id
    from dataflows.runs import require_finished

    try:
        validate_run_id(run_id)
    except Exception as exc:
        msg = f"{where}.run_id: {exc}"
        raise ConfigError(msg) from None
    if root is None:
        return run_id
    folder = root / "runs" / run_id
    if not folder.is_dir():
        msg = f"{where}.run_id={run_id!r}: pinned run not found ({folder} does not exist)"
        raise ConfigError(msg)
    body = require_finished(folder, what=f"{where}.run_id").manifest
    if not (folder / "weights.parquet").is_file():
        msg = f"{where}.run_id={run_id!r}: pinned run not found ({folder / 'weights.parquet'} does not exist)"
        raise ConfigError(msg)
    pinned_profile = ((body.get("config") or {}).get("profile") or {}).get("name")
    if pinned_profile not in (None, profile.name):
        msg = f"{where}.run_id={run_id!r} is a {pinned_profile!r} run, but the sleeve's profile is {profile.name!r}"
        raise ConfigError(msg)
    return run_id


def check_bounds(lows: list[float], highs: list[float], *, where: str) -> None:
    """Σ min <= 1 <= Σ max, else no fully invested meta-portfolio respects the bounds (`ConfigError`)."""
    lo, hi = sum(lows), sum(highs)
    if lo > 1 + 1e-12:
        msg = f"{where}: sleeve min_weights sum to {lo:.6g} > 1; no fully invested meta-portfolio respects them"
        raise ConfigError(msg)
    if hi < 1 - 1e-12:
        msg = f"{where}: sleeve max_weights sum to {hi:.6g} < 1; no fully invested meta-portfolio respects them"
        raise ConfigError(msg)


def _fraction(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        msg = f"{key}={value!r} must be a number in [0, 1]"
        raise ConfigError(msg)
    return float(value)
