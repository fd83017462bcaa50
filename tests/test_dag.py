"""Structural contracts of the DAG: each stage reads what it must, after what must come first."""

from __future__ import annotations

import pytest

from dataflows.config import settings_from_cfg
from dataflows.driver import build_driver, run_outputs
from tests.conftest import compose


@pytest.fixture(scope="module")
def driver():
    return build_driver(settings_from_cfg(compose()))


def upstream(dr, name: str) -> set[str]:
    return {n.name for n in dr.what_is_upstream_of(name)}


@pytest.mark.parametrize(
    ("node", "needs"),
    [
        ("selection_ratings", "features_update"),  # ratings read from the matrix this run just updated
        ("training_returns", "healthy_symbols"),  # the sleeve only sees symbols that passed the gate
        ("healthy_symbols", "audit_file"),  # audit.json is saved before the gate can fail
        ("features_update", "repair_report"),  # ratings from repaired bars
        ("audit_after", "quarantine_table"),  # new quarantines are part of the final status
        ("sleeve_decision", "selection_ratings"),  # one decision function reads the training window's inputs
        ("sleeve_decision", "training_returns"),
        ("sleeve_weights", "sleeve_decision"),  # weights, regime and selection are the same decision's fields
        ("market_regime", "sleeve_decision"),
        ("report_html", "weights_table"),
        ("report_file", "report_html"),  # every file is a saver of a pure node
    ],
)
def test_stage_order(driver, node, needs):
    assert needs in upstream(driver, node)


def test_the_optimizer_is_chosen_inside_the_decision_not_by_a_dag_variant():
    """The configured optimizer is the first link of the chain run by `dataflows.sleeve` (through the registry):
    every optimizer builds the same DAG."""
    names = {
        method: {
            n.name for n in build_driver(settings_from_cfg(compose([f"optimizer={method}"]))).list_available_variables()
        }
        for method in ("hrp", "min_variance", "max_sharpe", "risk_parity", "equal_weight")
    }
    assert len({frozenset(v) for v in names.values()}) == 1
    assert "sleeve_decision" in names["hrp"] and "primary_attempt" not in names["hrp"]


def test_data_only_stops_before_the_sleeve():
    settings = settings_from_cfg(compose(["flow.data_only=true"]))
    outputs = run_outputs(build_driver(settings), settings)
    assert "weights_csv_file" not in outputs and "healthy_symbols" in outputs and "audit_file" in outputs


def test_no_helper_is_a_stray_node(tmp_path):
    """A public helper in a node module becomes a Hamilton node whose parameters look like DAG inputs."""
    from dataflows.driver import build_driver
    from tests.conftest import make_settings

    dr = build_driver(make_settings(tmp_path))
    external = {v.name for v in dr.list_available_variables() if v.is_external_input}
    config_keys = {"validate", "venue_kind", "plots", "trade"}
    assert external - config_keys == {"as_of_ms", "lakehouse", "run_dir", "run_id", "settings"}
