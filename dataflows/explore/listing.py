"""`python -m dataflows list [profiles|scanners|metas|venues|executors]`: the options of the config groups, read from
`conf/` directly (no Hydra, no pipeline import), with what describes each option. `list runs` is the `runs` verb."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from dataflows.config import ProfileConfig, conf_dir
from dataflows.errors import ConfigError
from dataflows.explore.output import Table, emit

GROUPS = {  # `list` word -> config group (folder of conf/)
    "profiles": "profile",
    "scanners": "scanner",
    "metas": "meta",
    "venues": "venue",
    "executors": "executor",
}
LIST_WORDS = (*GROUPS, "runs")


def list_groups(word: str | None, out: TextIO | None = None) -> int:
    """`python -m dataflows list [profiles|scanners|metas|venues|executors]`: the options of one config group, or
    of all of them; read from `conf/` without Hydra. (`list runs` is the `runs` verb: it needs `data.root`.)"""
    if word is None:
        words = list(GROUPS)
    else:
        key = word if word in GROUPS else f"{word}s"
        if key not in GROUPS:
            msg = f"list {word!r}: expected one of {list(LIST_WORDS)}"
            raise ConfigError(msg)
        words = [key]
    emit([group_table(GROUPS[w]) for w in words], out)
    return 0


def group_table(group: str) -> Table:
    """The options of one config group (`conf/<group>/*.yaml`) with what describes them."""
    folder = conf_dir() / group
    chosen = default_choices().get(group)
    title = f"{GROUPS_TITLE[group]} (conf/{group}/; choose with {group}=NAME"
    title += f", default {chosen})" if chosen else ")"
    builders: dict[str, tuple[list[str], Callable[[str, dict, Path], list[Any]]]] = {
        "profile": (["name", "description", "scanners", "optimizer"], _profile_row),
        "scanner": (["name", "direction", "inherits", "filters", "limit", "description"], _scanner_row),
        "meta": (["name", "description", "sleeves", "method"], _meta_row),
        "venue": (["name", "kind", "description"], _venue_row),
        "executor": (["name", "kind", "description"], _venue_row),
    }
    columns, row = builders[group]
    rows = [row(p.stem, read_yaml(p), folder) for p in sorted(folder.glob("*.yaml"))]
    return Table(title, columns, rows)


GROUPS_TITLE = {g: w for w, g in GROUPS.items()}


def read_yaml(path: Path) -> dict:
    import yaml

    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        msg = f"{path} is not readable YAML ({exc.__class__.__name__})"
        raise ConfigError(msg) from None
    if not isinstance(raw, dict):
        msg = f"{path} must hold a mapping"
        raise ConfigError(msg)
    return raw


def lead_comment(path: Path) -> str:
    """The first sentence of a YAML file's leading comment block (what the file says it is)."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    text = " ".join(lines)
    return re.split(r"(?<=\.)\s", text, maxsplit=1)[0] if text else ""


def default_choices() -> dict[str, str]:
    """The default option of each group, from the defaults list of `conf/config.yaml`."""
    out = {}
    for item in read_yaml(conf_dir() / "config.yaml").get("defaults", []):
        if isinstance(item, dict):
            for key, value in item.items():
                name = str(key).removeprefix("optional ").strip()
                if value is not None and "/" not in name and not name.startswith("override"):
                    out[name] = str(value)
    return out


def _profile_row(name: str, raw: dict, folder: Path) -> list[Any]:
    default = ProfileConfig()
    description = raw.get("description") or lead_comment(folder / f"{name}.yaml")
    return [name, description, list(raw.get("scanners") or []), raw.get("optimizer") or default.optimizer]


def inherits(raw: dict, folder: Path) -> list[str]:
    """The `base:` chain of a scanner spec, nearest first (a missing or cyclic base ends the chain)."""
    chain: list[str] = []
    base = raw.get("base")
    while base is not None and base not in chain and len(chain) < 16:
        chain.append(str(base))
        path = folder / f"{base}.yaml"
        base = read_yaml(path).get("base") if path.is_file() else None
    return chain


def _scanner_row(name: str, raw: dict, folder: Path) -> list[Any]:
    from dataflows import scanners

    try:
        spec = scanners.load(name, folder)
        direction, filters, limit = spec.direction, [f.name for f in spec.filters], spec.limit
    except ConfigError as exc:  # shown, not fatal: `list` must still list the others
        direction, filters, limit = "invalid", [str(exc)], None
    description = raw.get("description") or lead_comment(folder / f"{name}.yaml")
    return [name, direction, inherits(raw, folder), filters, limit, description]


def sleeve_label(name: str, sleeve: Any) -> str:
    """`long=crypto_long`, `book=meta:crypto_long_short`, `old=pinned:<run_id>`, `x=inline:<name>`."""
    if isinstance(sleeve, dict):
        if sleeve.get("meta"):
            what = f"meta:{sleeve['meta']}"
        elif sleeve.get("run_id"):
            what = f"pinned:{sleeve['run_id']}"
        elif sleeve.get("profile"):
            what = str(sleeve["profile"])
        else:
            what = f"inline:{sleeve.get('name', '?')}"
        if sleeve.get("optimizer"):
            what += f" ({sleeve['optimizer']})"
        return f"{name}={what}"
    return f"{name}={sleeve}"


def _meta_row(name: str, raw: dict, folder: Path) -> list[Any]:
    sleeves = raw.get("sleeves") or {}
    labels = [sleeve_label(str(k), v) for k, v in sleeves.items()] if isinstance(sleeves, dict) else [str(sleeves)]
    description = raw.get("description") or lead_comment(folder / f"{name}.yaml")
    return [raw.get("name") or name, description, labels, raw.get("method") or "risk_parity"]


def _venue_row(name: str, raw: dict, folder: Path) -> list[Any]:
    return [name, raw.get("kind"), lead_comment(folder / f"{name}.yaml")]
