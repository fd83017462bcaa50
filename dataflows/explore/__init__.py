"""Read-only verbs that help a user find their way from the terminal: `list`, `scan`, `config` and the keys' help.

- `list [profiles|scanners|metas|venues|executors]` reads `conf/` directly (no Hydra, no pipeline import);
  `list runs` is the `runs` verb (`listing`).
- `scan` runs only the discovery part of the DAG (`SCAN_OUTPUTS`) on a read-only lakehouse: no run folder, nothing
  written, no OHLCV fetched (a live venue asked about a past `as_of` derives its tickers from bars, as `run` does;
  `scanning`).
- `config` prints the resolved config as YAML, with each scanner the run uses after `base:` inheritance
  (`resolved`).
- `key_help` is `python -m dataflows <verb> --help`: every key of the composed config, its value and the one-line
  description written beside its field in `dataflows/config/settings.py` (`keyhelp`).

`VERBS` maps a verb to `fn(settings, resolved_config) -> exit code`; `dataflows.app` dispatches to it (`verbs`).
Output is a rich table on a terminal and tab-separated lines (a header row first) when piped (`output`). Importing
this package imports no pipeline module: `VERB --help` and `list` stay fast.
"""

from dataflows.explore.keyhelp import (
    FREE_FORM,
    HELP_FLAGS,
    compose_plain,
    field_descriptions,
    flatten,
    format_value,
    help_overrides,
    key_help,
)
from dataflows.explore.listing import (
    GROUPS,
    GROUPS_TITLE,
    LIST_WORDS,
    default_choices,
    group_table,
    inherits,
    lead_comment,
    list_groups,
    read_yaml,
    sleeve_label,
)
from dataflows.explore.output import Table, emit, write
from dataflows.explore.resolved import scanner_views, show_config
from dataflows.explore.scanning import SCAN_OUTPUTS, discover, scan, scan_tables
from dataflows.explore.verbs import VERBS, orders

__all__ = [
    "FREE_FORM",
    "GROUPS",
    "GROUPS_TITLE",
    "HELP_FLAGS",
    "LIST_WORDS",
    "SCAN_OUTPUTS",
    "VERBS",
    "Table",
    "compose_plain",
    "default_choices",
    "discover",
    "emit",
    "field_descriptions",
    "flatten",
    "format_value",
    "group_table",
    "help_overrides",
    "inherits",
    "key_help",
    "lead_comment",
    "list_groups",
    "orders",
    "read_yaml",
    "scan",
    "scan_tables",
    "scanner_views",
    "show_config",
    "sleeve_label",
    "write",
]
