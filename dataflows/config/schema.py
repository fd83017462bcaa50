"""The OmegaConf/Hydra edge of the settings: schemas mirrored from the frozen classes, Hydra's registration, and
the one conversion of a composed config into frozen, validated `Settings`.

OmegaConf needs mutable dataclasses, so each frozen settings class has generated mirrors (one definition, the
frozen class). Two flavours: Hydra composes `conf/` against a mirror whose `choice(...)` fields are plain strings, so
unknown keys and wrong types stop the composition (Hydra's error, exit 1); `settings_from_cfg` then merges the
composed config into the typed mirror, where those fields are their `StrEnum`, and a value outside it becomes a
one-line `ConfigError` naming the key and the accepted values (exit 2), like every other bad value.
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from dataclasses import field
from pathlib import Path
from typing import Any

from dataflows.config.choices import CHOICES, Choice, not_one_of
from dataflows.config.settings import Settings
from dataflows.errors import ConfigError

_MIRRORS: dict[tuple[type, bool], type] = {}


def schema_class(cls: type, *, typed_choices: bool = True) -> type:
    """A mutable dataclass with the fields of frozen `cls` (nested settings classes mirrored too); with
    `typed_choices`, each `choice(...)` field is typed by its enum instead of `str`."""
    if (cls, typed_choices) in _MIRRORS:
        return _MIRRORS[cls, typed_choices]
    hints = typing.get_type_hints(cls)
    fields = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            mirror = schema_class(tp, typed_choices=typed_choices)
            fields.append((f.name, mirror, field(default_factory=mirror)))
            continue
        if typed_choices and CHOICES in f.metadata:
            tp = _with_choices(tp, f.metadata[CHOICES])
        if f.default_factory is not dataclasses.MISSING:
            fields.append((f.name, tp, field(default_factory=f.default_factory)))
        else:
            fields.append((f.name, tp, field(default=f.default)))
    name = f"{cls.__name__}{'Typed' if typed_choices else 'Schema'}"
    _MIRRORS[cls, typed_choices] = dataclasses.make_dataclass(name, fields)
    return _MIRRORS[cls, typed_choices]


def _with_choices(tp: Any, kind: type[Choice]) -> Any:
    """`str`, `str | None` or `list[str]` with `kind` in place of `str`."""
    if tp is str:
        return kind
    args = typing.get_args(tp)
    if typing.get_origin(tp) is list:
        return list[_with_choices(args[0], kind)]  # type: ignore[misc]
    if set(args) == {str, type(None)}:
        return kind | None
    msg = f"a choice field must be str, str | None or list[str], not {tp}"
    raise TypeError(msg)


def freeze(cls: type, value: Any) -> Any:
    """A mirror instance (from `OmegaConf.to_object`) → the frozen `cls`, enum members back to plain strings."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        item = getattr(value, f.name)
        tp = hints[f.name]
        kwargs[f.name] = freeze(tp, item) if dataclasses.is_dataclass(tp) else _plain(item)
    return cls(**kwargs)


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def load(cls: type, *layers: Any, where: str = "") -> Any:
    """`layers` (DictConfigs or dicts) merged over the typed mirror of `cls`, frozen; a value OmegaConf refuses is
    one `ConfigError` line naming the key (prefixed with `where`)."""
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    # a composed DictConfig is typed by Hydra's schema, which OmegaConf will not merge into another class: its
    # content (interpolations unresolved) goes over the typed mirror instead
    plain = [OmegaConf.to_container(x) if isinstance(x, DictConfig) else x for x in layers]
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema_class(cls)), *plain)
        values = OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        raise _one_line(cls, exc, where) from None
    return freeze(cls, values)


def _one_line(cls: type, exc: Any, where: str) -> ConfigError:
    """OmegaConf's error as one line: a refused choice lists the accepted values, anything else keeps its reason."""
    key = str(getattr(exc, "full_key", None) or "")
    kind = _choice_at(cls, key)
    if kind is not None:
        return not_one_of(f"{where}{key}", getattr(exc, "value", None), kind)
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return ConfigError(f"{where}{reason}" if not key or key in reason else f"{where}{key}: {reason}")


def _choice_at(cls: type, key: str) -> type[Choice] | None:
    """The enum of the `choice(...)` field at dotted `key` of `cls` (a list item `a.b[1]` counts), else None."""
    for part in key.split("[")[0].split(".") if key else ():
        fields = {f.name: f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}
        if part not in fields:
            return None
        f = fields[part]
        if CHOICES in f.metadata:
            return f.metadata[CHOICES]
        cls = typing.get_type_hints(cls)[part]
    return None


def register_schema() -> None:
    """Register the composition schema with Hydra's ConfigStore as `settings_schema` (idempotent)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="settings_schema", node=schema_class(Settings, typed_choices=False))


def settings_from_cfg(cfg: Any) -> Settings:
    """DictConfig (composed by Hydra) → frozen `Settings`, every choice and check validated, paths absolute."""
    return absolute_paths(load(Settings, cfg).validate())


def absolute_paths(settings: Settings) -> Settings:
    """`data.root`, `venue.path` and `venue.metadata` as absolute paths, resolved once here at the edge: a Ray worker
    started from another folder must use the driver's lakehouse and files, not resolve them against its own cwd."""

    def absolute(value: str | None) -> str | None:
        return None if value is None else str(Path(value).expanduser().resolve())

    venue = dataclasses.replace(
        settings.venue, path=absolute(settings.venue.path), metadata=absolute(settings.venue.metadata)
    )
    data = dataclasses.replace(settings.data, root=str(absolute(settings.data.root)))
    return dataclasses.replace(settings, data=data, venue=venue)


def conf_dir() -> Path:
    """The `conf/` folder: beside the package in a checkout, inside it (`_conf`) in a wheel."""
    package = Path(__file__).resolve().parents[1]  # dataflows/
    for candidate in (package.parent / "conf", package / "_conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    msg = f"cannot find the conf/ folder near {package}; reinstall the package"
    raise ConfigError(msg)
