"""Meta config choices: the method, a sleeve's optimizer and its profile overrides refuse unknown values in one line
naming the key and every accepted value; accepted values stay plain strings."""

from __future__ import annotations

import pytest

from dataflows.errors import ConfigError
from dataflows.meta.config import parse_meta


@pytest.mark.parametrize(
    ("sleeve", "message"),
    [
        (
            {"profile": "crypto_long", "optimizer": "bogus"},
            "meta.sleeves.a.optimizer='bogus' is not one of ['hrp', 'min_variance', 'max_sharpe', 'risk_parity', ",
        ),
        (
            {"profile": "crypto_long", "profile_overrides": {"covariance": "bogus"}},
            "meta.sleeves.a: invalid profile: covariance='bogus' is not one of ['sample', 'ledoit_wolf', 'oas', ",
        ),
        (
            {"profile": "crypto_long", "profile_overrides": {"fallbacks": ["hrp", "bogus"]}},
            "meta.sleeves.a: invalid profile: fallbacks[1]='bogus' is not one of ['hrp', ",
        ),
        (
            {"profile": "crypto_long", "profile_overrides": {"train_days": "many"}},
            "meta.sleeves.a: invalid profile: train_days: Value 'many' of type 'str' could not be converted",
        ),
    ],
)
def test_sleeve_choices_are_one_line(sleeve: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_meta({"sleeves": {"a": sleeve, "b": "crypto_short"}})
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_method_is_checked_and_values_stay_plain() -> None:
    with pytest.raises(ConfigError, match=r"^meta\.method=3 is not one of \['risk_parity', 'hrp', 'min_variance'\]$"):
        parse_meta({"sleeves": {"a": "crypto_long"}, "method": 3})
    spec = parse_meta(
        {
            "method": "hrp",
            "sleeves": {
                "a": {"profile": "crypto_long", "optimizer": "max_sharpe", "profile_overrides": {"linkage": "ward"}}
            },
        }
    )
    sleeve = spec.sleeve("a")
    assert sleeve.profile is not None
    values = [
        spec.method,
        sleeve.optimizer,
        sleeve.profile.linkage,
        sleeve.profile.optimizer,
        sleeve.profile.covariance,
    ]
    assert values == ["hrp", "max_sharpe", "ward", "hrp", "sample"] and all(type(v) is str for v in values)
