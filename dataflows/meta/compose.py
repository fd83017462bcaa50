"""Profiles and metas named by a meta config, composed from `conf/` with Hydra's compose API (so defaults lists and
package-placed profiles work) in the driver: sleeves running on Ray workers get frozen values and never touch Hydra.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from dataflows.config import ProfileConfig, conf_dir, load, register_schema
from dataflows.errors import ConfigError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # a sleeve, profile or meta name
_CACHE: ContextVar[dict[tuple[str, str], dict[str, Any]] | None] = ContextVar("meta_composed", default=None)


@contextmanager
def compose_once() -> Iterator[None]:
    """Inside it, each profile or meta file is composed once, however many sleeves use it."""
    token = _CACHE.set({})
    try:
        yield
    finally:
        _CACHE.reset(token)


def load_profile(profile: str | dict[str, Any], overrides: dict[str, Any], *, where: str) -> ProfileConfig:
    """A profile by name (`conf/profile/<name>.yaml`, via Hydra compose) or inline, with overrides, type-checked."""
    if not isinstance(overrides, dict):
        msg = f"{where}.profile_overrides must be a mapping of profile keys, got {overrides!r}"
        raise ConfigError(msg)
    body = dict(profile) if isinstance(profile, dict) else compose_group("profile", str(profile), where)
    return load(ProfileConfig, body, overrides, where=f"{where}: invalid profile: ")


def kind_of(value: str, where: str) -> str:
    """A bare name is a profile or a meta, whichever file exists (both is ambiguous)."""
    root = conf_dir()
    is_profile = (root / "profile" / f"{value}.yaml").is_file()
    is_meta = (root / "meta" / f"{value}.yaml").is_file()
    if is_profile and is_meta:
        msg = f"{where}={value!r} names both a profile and a meta; write {{profile: {value}}} or {{meta: {value}}}"
        raise ConfigError(msg)
    if not (is_profile or is_meta):
        profiles = sorted(p.stem for p in (root / "profile").glob("*.yaml"))
        metas = sorted(p.stem for p in (root / "meta").glob("*.yaml"))
        msg = f"{where}={value!r} is neither a profile {profiles} nor a meta {metas}"
        raise ConfigError(msg)
    return "profile" if is_profile else "meta"


def compose_group(group: str, name: str, where: str) -> dict[str, Any]:
    """`<group>=<name>` composed with Hydra (so defaults lists and package-placed profiles work), as a plain dict."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf import OmegaConf

    if not NAME.fullmatch(name) or not (conf_dir() / group / f"{name}.yaml").is_file():
        options = sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))
        msg = f"{where}: {group} {name!r} does not exist; expected one of {options}"
        raise ConfigError(msg)
    cache = _CACHE.get()
    if cache is not None and (group, name) in cache:
        return copy.deepcopy(cache[group, name])
    register_schema()
    overrides = [f"{group}={name}"]
    try:
        if GlobalHydra.instance().is_initialized():  # inside @hydra.main (the CLI): reuse its config search path
            cfg = compose(config_name="config", overrides=overrides)
        else:
            with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
                cfg = compose(config_name="config", overrides=overrides)
    except HydraException as exc:
        msg = f"{where}: cannot compose {group}={name}: {str(exc).splitlines()[0]}"
        raise ConfigError(msg) from None
    body = OmegaConf.to_container(cfg[group], resolve=True)
    assert isinstance(body, dict)
    out = {str(k): v for k, v in body.items()}
    if cache is not None:
        cache[group, name] = copy.deepcopy(out)
    return out
