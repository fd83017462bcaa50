"""Config: every option of every group composes; unknown keys, wrong types and bad values are errors naming the key."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigKeyError, ValidationError

from dataflows.config import Settings, conf_dir, parse_as_of, settings_from_cfg
from dataflows.errors import ConfigError, UnsafeKey
from tests.conftest import compose

GROUPS = ("profile", "venue", "executor", "scanner")
REQUIRED = {"venue=ccxt": ["venue.exchange=binance"], "venue=files": ["venue.path=/tmp"]}


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in _options(g)])
def test_every_group_option_composes(group, option):
    override = f"{group}={option}"
    settings = settings_from_cfg(compose([override, *REQUIRED.get(override, [])]))
    assert isinstance(settings, Settings)
    if group == "profile":
        assert settings.profile.name == option and settings.profile.scanners


def test_settings_are_frozen():
    settings = settings_from_cfg(compose())
    with pytest.raises(AttributeError):
        settings.data.root = "/elsewhere"  # type: ignore[misc]


@pytest.mark.parametrize("override", ["run.nope=1", "data.concurrencyy=2", "profile.colour=red"])
def test_unknown_keys_name_the_key(override):
    with pytest.raises((ConfigCompositionException, ConfigKeyError)) as info:
        compose([override])
    text = str(info.value) + str(info.value.__cause__)
    assert override.split("=")[0].split(".")[-1] in text


def test_wrong_type_names_the_key():
    with pytest.raises((ConfigCompositionException, ValidationError)) as info:
        compose(["data.history_days=many"])
    assert "history_days" in str(info.value) + str(info.value.__cause__)


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("venue.error_rate=1.5", "venue.error_rate"),
        ("data.timeframe=7m", "timeframe"),
        ("run.as_of=yesterday", "run.as_of"),
        ("data.concurrency=0", "data.concurrency"),
        ("venue=ccxt", "venue.exchange"),
        ("venue=files", "venue.path"),
        ("venue.kind=bloomberg", "venue.kind"),
    ],
)
def test_bad_values_are_config_errors(override, fragment):
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        settings_from_cfg(compose([override]))


@pytest.mark.parametrize("run_id", ["../escape", "a/b", ".hidden", "", "x" * 200, "a..b"])
def test_bad_run_ids_are_rejected(run_id):
    with pytest.raises(UnsafeKey, match=r"run\.id"):
        settings_from_cfg(compose([f"run.id='{run_id}'"]))


def test_as_of_parsing():
    assert parse_as_of("2026-06-30") == dt.datetime(2026, 7, 1, tzinfo=dt.UTC)  # a date means the end of that day
    assert parse_as_of("2026-06-30T12:00:00") == dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC)
    assert parse_as_of("2026-06-30T14:00:00+02:00") == dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC)
    assert parse_as_of(None).tzinfo is dt.UTC


def test_no_hydra_key_equals_a_node_name():
    """A config key equal to a node name silently replaces the node in Hamilton: forbid it."""
    from dataflows.driver import build_driver, hamilton_config

    settings = settings_from_cfg(compose())
    nodes = {n.name for n in build_driver(settings).list_available_variables() if not n.is_external_input}
    assert not set(hamilton_config(settings)) & nodes


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["venue.calendar=XLON"], "venue.calendar"),
        (["venue.metadata=/tmp/m.csv"], "venue.metadata"),
        (["venue=ccxt", "venue.exchange=okx", "venue.path=/tmp"], "venue.path"),
    ],
)
def test_venue_keys_of_another_venue_are_refused(tmp_path, overrides, key):
    from tests.conftest import make_settings

    with pytest.raises(ConfigError, match=rf"{re.escape(key)} does not apply to venue="):
        make_settings(tmp_path, *overrides)


@pytest.mark.parametrize(("as_of", "fragment"), [("2999-01-01", "is in the future"), ("2010-01-01", "first day")])
def test_as_of_outside_the_world_is_refused(tmp_path, as_of, fragment):
    from tests.conftest import make_settings

    with pytest.raises(ConfigError, match=rf"run\.as_of='{as_of}' {fragment}" if "future" in fragment else fragment):
        make_settings(tmp_path, f"run.as_of={as_of}")


def test_paths_are_absolute_once_at_the_edge(tmp_path, monkeypatch):
    """A Ray worker started from another folder must see the driver's lakehouse and files, not its own cwd's."""
    from dataflows.config import settings_from_cfg

    (tmp_path / "driver" / "ohlcv").mkdir(parents=True)
    (tmp_path / "worker").mkdir()
    monkeypatch.chdir(tmp_path / "driver")
    settings = settings_from_cfg(
        compose(["data.root=./data", "venue=files", "venue.path=ohlcv", "venue.metadata=ohlcv/meta.csv"])
    )
    monkeypatch.chdir(tmp_path / "worker")  # what a worker in another folder would do with the same Settings
    assert settings.data_root == tmp_path / "driver" / "data"
    assert settings.venue.path == str(tmp_path / "driver" / "ohlcv")
    assert settings.venue.metadata == str(tmp_path / "driver" / "ohlcv" / "meta.csv")
    assert settings.venue_name.startswith("files-ohlcv-")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "profile.covariance=bogus",
            "profile.covariance='bogus' is not one of ['sample', 'ledoit_wolf', 'oas', 'ridge']",
        ),
        ("optimizer=nope", "optimizer='nope' is not one of ['hrp', 'min_variance', 'max_sharpe', 'risk_parity', "),
        ("profile.optimizer=nope", "profile.optimizer='nope' is not one of ['hrp', "),
        ("profile.fallbacks=[hrp,nope]", "profile.fallbacks[1]='nope' is not one of ['hrp', "),
        ("profile.linkage=centroid", "profile.linkage='centroid' is not one of ['single', 'complete', "),
        ("venue.asset_class=bond", "venue.asset_class='bond' is not one of ['crypto', 'equity']"),
        ("executor.kind=slurm", "executor.kind='slurm' is not one of ['local', 'ray']"),
    ],
)
def test_a_wrong_choice_is_one_line_naming_key_and_values(override, message):
    """Hydra composes any string (its errors are multi-line, exit 1); the typed schema refuses it in one line."""
    cfg = compose([override])
    with pytest.raises(ConfigError) as info:
        settings_from_cfg(cfg)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_choices_are_plain_strings_in_settings():
    """Frames, JSON and YAML must see the string, not the enum (polars would make an Enum column of it)."""
    settings = settings_from_cfg(compose(["optimizer=max_sharpe", "profile.covariance=oas"]))
    values = [settings.optimizer, settings.profile.covariance, settings.profile.linkage, settings.venue.kind]
    values += [settings.executor.kind, settings.venue.asset_class, *settings.profile.fallbacks]
    assert all(type(v) is str for v in values), values
    assert settings.method == "max_sharpe" and settings.profile.covariance == "oas"


def test_choice_lists_match_their_consumers():
    from dataflows import columns as C
    from dataflows.config import COVARIANCES, OPTIMIZERS, AssetClass, MetaMethod, Optimizer
    from dataflows.portfolio.covariance import ESTIMATORS
    from dataflows.portfolio.registry import OPTIMIZERS as REGISTRY

    assert COVARIANCES == ESTIMATORS and tuple(REGISTRY) == OPTIMIZERS
    assert AssetClass.values() == C.ASSET_CLASSES and set(MetaMethod.values()) <= set(Optimizer.values())
