"""Read-only verbs that help a user find their way from the terminal: `list`, `scan`, `config` and the keys' help.

- `list [profiles|scanners|metas|venues|executors]` reads `conf/` directly (no Hydra, no pipeline import);
  `list runs` is the `runs` verb.
- `scan` runs only the discovery part of the DAG (`SCAN_OUTPUTS`) on a read-only lakehouse: no run folder, nothing
  written, no OHLCV fetched (a live venue asked about a past `as_of` derives its tickers from bars, as `run` does).
- `config` prints the resolved config as YAML, with each scanner the run uses after `base:` inheritance.
- `key_help` is `python -m dataflows <verb> --help`: every key of the composed config, its value and the one-line
  description written beside its field in `dataflows/config.py`.

`VERBS` maps a verb to `fn(settings, resolved_config) -> exit code`; `dataflows.app` dispatches to it. Output is a
rich table on a terminal and tab-separated lines (a header row first) when piped.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import io
import os
import re
import sys
import textwrap
import tokenize
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from dataflows.config import ProfileConfig, Settings, conf_dir
from dataflows.errors import ConfigError

SCAN_OUTPUTS = ("candidates", "discovery_funnel")
"""What `scan` asks the DAG for: nothing that writes (`candidates_json`) or fetches bars (audit, repair)."""

GROUPS = {  # `list` word -> config group (folder of conf/)
    "profiles": "profile",
    "scanners": "scanner",
    "metas": "meta",
    "venues": "venue",
    "executors": "executor",
}
LIST_WORDS = (*GROUPS, "runs")


# --------------------------------------------------------------------------------------------- output


@dataclass
class Table:
    """Rows to show: a rich table on a terminal, a header row and tab-separated lines when piped."""

    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    caption: str = ""
    percent: tuple[str, ...] = ()  # columns holding fractions, shown as percentages on a terminal


def emit(tables: list[Table], out: TextIO | None = None) -> None:
    """Write `tables` to `out` (stdout): rich tables when it is a terminal, plain lines otherwise.

    Plain: each table is `# title`, a tab-separated header row, then one tab-separated line per row (blank line
    between tables), so `cut -f1`, `grep` and `awk -F'\\t'` work on it."""
    out = sys.stdout if out is None else out
    if out.isatty():
        from rich.console import Console
        from rich.table import Table as RichTable

        console = Console(file=out, markup=False, highlight=False)  # `[spot]` in a step is text, not a style tag
        for t in tables:
            rt = RichTable(title=t.title, caption=t.caption or None, title_justify="left")
            numeric = [
                bool(t.rows) and all(isinstance(r[i], int | float) for r in t.rows) for i in range(len(t.columns))
            ]
            for col, right in zip(t.columns, numeric, strict=True):
                rt.add_column(col, overflow="fold", justify="right" if right else "left")
            for row in t.rows:
                rt.add_row(
                    *(
                        f"{v:+.2%}" if c in t.percent and isinstance(v, float) else _cell(v, pretty=True)
                        for c, v in zip(t.columns, row, strict=True)
                    )
                )
            console.print(rt)
        return
    chunks = []
    for t in tables:
        lines = [f"# {t.title}", "\t".join(t.columns)]
        lines += ["\t".join(_cell(v, pretty=False) for v in row) for row in t.rows]
        if t.caption:
            lines.append(f"# {t.caption}")
        chunks.append("\n".join(lines) + "\n")
    write("\n".join(chunks), out)


def write(text: str, out: TextIO | None = None) -> None:
    """Write to stdout; a reader that went away (`| head`) ends the output quietly instead of a traceback."""
    out = sys.stdout if out is None else out
    try:
        out.write(text)
        out.flush()
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError):  # further writes (and the exit flush) go nowhere
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())


def _cell(value: Any, *, pretty: bool) -> str:
    if value is None:
        return "" if pretty else "-"
    if isinstance(value, float):
        if not pretty:
            return repr(value)  # exact: what candidates.json holds
        return f"{value:,.0f}" if abs(value) >= 1e5 else f"{value:,.2f}" if abs(value) >= 100 else f"{value:.6g}"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v, pretty=pretty) for v in value)
    text = str(value)
    return text if pretty else text.replace("\t", " ").replace("\n", " ")


# --------------------------------------------------------------------------------------------- list


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


# --------------------------------------------------------------------------------------------- scan


def discover(settings: Settings, *, lakehouse: Any = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Discovery only (`SCAN_OUTPUTS`): candidates and each scanner's funnel as of `settings.as_of`.

    The lakehouse is opened read-only (stored bars and features are read, nothing is written); `overrides` replace
    DAG nodes (e.g. a `venue` whose calls the caller counts)."""
    from dataflows.driver import build_driver
    from dataflows.lakehouse.store import Lakehouse
    from dataflows.runs import check_data_root

    if lakehouse is None:
        lakehouse = Lakehouse(check_data_root(settings, create=False), read_only=True)
    inputs = {"settings": settings, "lakehouse": lakehouse, "as_of_ms": settings.as_of_ms}
    return build_driver(settings).execute(list(SCAN_OUTPUTS), inputs=inputs, overrides=overrides or None)


def scan(settings: Settings, resolved: dict) -> int:
    """`python -m dataflows scan [profile=... | scanner=...] [run.as_of=...]`: each scanner's funnel and the
    candidates a run would start from. Nothing found is `NoCandidates` (one line, exit 2)."""
    if settings.meta is not None:
        sleeves = settings.meta.get("sleeves") or {}
        labels = ", ".join(sleeve_label(str(k), v) for k, v in sleeves.items()) if isinstance(sleeves, dict) else ""
        msg = (
            f"scan shows one profile's or scanner's discovery, not a meta's (sleeves: {labels}); "
            "scan a sleeve's profile, e.g. `python -m dataflows scan profile=NAME`"
        )
        raise ConfigError(msg)
    result = discover(settings)
    emit(scan_tables(settings, result["discovery_funnel"], result["candidates"]))
    return 0


def scan_tables(settings: Settings, funnels: dict[str, list[dict]], candidates: Any) -> list[Table]:
    """One funnel table per scanner, then the candidates table."""
    from dataflows.timestamps import iso

    when = iso(settings.as_of_ms)
    tables = []
    for name, funnel in funnels.items():
        rows = []
        for e in funnel:
            removed = str(e["removed"]) if e["removed"] else ""
            if e.get("unknown"):
                removed += f" ({e['unknown']} without a value)"
            rows.append([e["step"], e["left"], removed])
        tables.append(Table(f"scanner {name}: funnel as of {when}", ["step", "left", "removed"], rows))
    columns = ["symbol", "scanner", "direction", "asset_class", "quote_volume", "last", "change"]
    if candidates["rating"].is_not_null().any():
        columns.append("rating")
    rows = [[r[c] for c in columns] for r in candidates.iter_rows(named=True)]
    title = (
        f"{candidates.height} candidate{'' if candidates.height == 1 else 's'} as of {when} on {settings.venue_name}"
    )
    caption = "quote_volume: traded value of the last completed bar (24h, quote currency); change: over that bar"
    tables.append(Table(title, columns, rows, caption, percent=("change",)))
    return tables


# --------------------------------------------------------------------------------------------- config


def scanner_views(settings: Settings, inline_name: str | None = None) -> dict[str, dict[str, Any]]:
    """Each scanner this config runs, as the run uses it (`base:` inheritance applied, removed filters gone),
    by name; for a meta, the scanners of every profile sleeve (nested metas included). A scanner chosen with
    `scanner=NAME` is shown under `inline_name` (its file's name) when given."""
    from dataflows.nodes.discovery import scanner_specs

    folder = conf_dir() / "scanner"
    views: dict[str, dict[str, Any]] = {}
    for each, raw in _scanning_settings(settings):
        for spec in scanner_specs(each):
            chain = inherits(raw if raw is not None else read_yaml(folder / f"{spec.name}.yaml"), folder)
            views[inline_name if raw is not None and inline_name else spec.name] = {
                "inherits": chain,
                "direction": spec.direction,
                "logic": spec.logic,
                "universe": dict(spec.universe),
                "filters": {f.name: {"field": f.field, "op": f.op, "value": f.value} for f in spec.filters},
                "sort": {"by": spec.sort_by, "descending": spec.descending},
                "limit": spec.limit,
            }
    return views


def _scanning_settings(settings: Settings) -> Iterator[tuple[Settings, dict | None]]:
    """The settings whose scanners run (one per profile sleeve of a meta), with the inline scanner spec if any."""
    if settings.meta is None:
        yield settings, (dict(settings.scanner) if settings.scanner is not None else None)
        return
    from dataflows.meta.config import parse_meta

    def leaves(spec: Any) -> Iterator[Any]:
        for sleeve in spec.sleeves:
            if sleeve.kind == "meta" and sleeve.meta is not None:
                yield from leaves(sleeve.meta)
            elif sleeve.kind == "profile" and sleeve.profile is not None:
                yield sleeve.profile

    for profile in leaves(parse_meta(dict(settings.meta), data_root=settings.data_root)):
        yield dataclasses.replace(settings, profile=profile, scanner=None, meta=None), None


def show_config(settings: Settings, resolved: dict) -> int:
    """`python -m dataflows config [overrides]`: the resolved config as YAML (interpolations applied, paths
    absolute), then the scanners it runs after inheritance."""
    import yaml

    choices = _hydra_choices()
    head = [
        "# the resolved config (interpolations applied, data.root and venue paths absolute)",
        f"# as of {settings.as_of.isoformat()}" + ("" if settings.run.as_of else " (run.as_of=null: now)"),
    ]
    if choices:
        head.append("# groups: " + " ".join(f"{g}={choices[g]}" for g in sorted(choices)))
    body = yaml.safe_dump(resolved, sort_keys=False, default_flow_style=False, width=120)
    tail = [
        "# not a config key: each scanner this config runs, `base:` inheritance applied (dataflows/scanners.py)",
        yaml.safe_dump(
            {"scanners": scanner_views(settings, choices.get("scanner"))},
            sort_keys=False,
            default_flow_style=False,
            width=120,
        ),
    ]
    write("\n".join([*head, body.rstrip("\n"), *tail]))
    return 0


def _hydra_choices() -> dict[str, str]:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return {}
    choices = HydraConfig.get().runtime.choices
    return {str(k): str(v) for k, v in choices.items() if v is not None and not str(k).startswith("hydra/")}


def orders(settings: Settings, resolved: dict) -> int:
    """`orders RUN_DIR trade.capital=...`: a finished run's orders (`dataflows.trade.orders`; writes only under
    RUN_DIR/orders/)."""
    from dataflows.trade.orders import orders_verb

    return orders_verb(settings, resolved)


VERBS: dict[str, Callable[[Any, dict], int]] = {"scan": scan, "config": show_config, "orders": orders}


# --------------------------------------------------------------------------------------------- --help

HELP_FLAGS = ("-h", "--help")
_VALUE_FLAGS = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn", "--config-dir"}
_VALUE_FLAGS |= {"-cd", "--experimental-rerun", "--info", "-i"}
FREE_FORM = {
    "scanner": "scanner spec (see `list scanners`)",
    "meta": "meta-portfolio setting (dataflows/meta/config.py)",
}


def field_descriptions(cls: type = Settings, prefix: str = "") -> dict[str, str]:
    """Dotted key -> the comment written beside its field in `dataflows/config.py` (nested config classes: their
    docstring's first line). Reads the source, imports nothing else."""
    comments, lines = _source_comments()
    out: dict[str, str] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        tp = hints[f.name]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            out[key] = (tp.__doc__ or "").strip().splitlines()[0] if tp.__doc__ else ""
            out.update(field_descriptions(tp, f"{key}."))
        else:
            span = lines.get((cls.__name__, f.name), ())
            out[key] = next((comments[n] for n in span if n in comments), "")
    return out


def _source_comments() -> tuple[dict[int, str], dict[tuple[str, str], range]]:
    """Trailing comments of `dataflows/config.py` by line, and each class field's line span."""
    import dataflows.config.settings as config_module

    source = Path(config_module.__file__).read_text()
    comments = {
        tok.start[0]: tok.string.lstrip("#").strip()
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT and tok.line[: tok.start[1]].strip()
    }
    spans = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                    spans[node.name, stmt.target.id] = range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1)
    return comments, spans


def help_overrides(args: list[str]) -> list[str]:
    """The `key=value` overrides among a verb's arguments (Hydra's flags and their values dropped)."""
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg.startswith("-"):
            skip = arg in _VALUE_FLAGS
        else:
            out.append(arg)
    return out


def compose_plain(overrides: list[str]) -> tuple[dict, dict[str, str]]:
    """The config `overrides` compose to, as a resolved dict, and the chosen option of each group."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from dataflows.config import register_schema

    register_schema()
    GlobalHydra.instance().clear()  # called before any Hydra app (`__main__`), never inside one
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        cfg = compose(config_name="config", overrides=overrides, return_hydra_config=True)
        choices = {str(k): str(v) for k, v in cfg.hydra.runtime.choices.items() if not str(k).startswith("hydra/")}
        resolved = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True)
    assert isinstance(resolved, dict)
    return resolved, choices


def key_help(verb: str, about: str, args: list[str]) -> str:
    """`python -m dataflows <verb> --help`: the config groups and every key, its value as composed with the given
    overrides (without any: the defaults) and its description from `dataflows/config.py`."""
    overrides = help_overrides(args)
    note = ""
    try:
        resolved, choices = compose_plain(overrides)
    except Exception as exc:  # a bad or sweep override: still help, with the defaults
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        note = f"(your overrides do not compose: {first}; showing the defaults)\n"
        resolved, choices = compose_plain([])
    descriptions = field_descriptions()
    lines = [
        f"usage: python -m dataflows {verb}{' RUN_DIR' if verb == 'orders' else ''} [group=NAME ...] [key=value ...]"
        + (" [-m for a multirun sweep]" if verb == "run" else ""),
        "",
        textwrap.fill(f"{verb}: {about}", 116),
        "",
        "Config groups (group=NAME; `python -m dataflows list` describes each option):",
    ]
    for group in ("profile", "venue", "executor", "scanner", "meta"):
        options = sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))
        chosen = choices.get(group) or "null"
        shown = [f"{o}*" if o == chosen else o for o in options]
        lines.append(f"  {group:<9} {' '.join(shown)}" + ("" if chosen in options else "  (none chosen*)"))
    lines += [
        "",
        "Keys (key=value; * marks the chosen group option above; value shown as composed"
        + (" with your overrides)" if overrides and not note else ")"),
    ]
    if note:
        lines.append(note.rstrip("\n"))
    section = None
    leaves = list(flatten(resolved))  # sections in config order, then the top-level leaves (optimizer, scanner=null)
    for key, value in [kv for kv in leaves if "." in kv[0]] + [kv for kv in leaves if "." not in kv[0]]:
        top = key.split(".", 1)[0]
        heading = top if "." in key else "other keys"
        if heading != section:
            section = heading
            about_top = descriptions.get(top, "") if "." in key else ""
            lines += ["", f"{heading}:" + (f" {about_top}" if about_top else "")]
        desc = descriptions.get(key) or FREE_FORM.get(top, "")
        setting = f"{key}={format_value(value)}"
        if len(setting) > 44:  # a long value: the description goes under it
            lines += [f"  {setting}", f"  {'':<44} {desc}".rstrip()]
        else:
            lines.append(f"  {setting:<44} {desc}".rstrip())
    lines += [
        "",
        "Hydra flags: -m (sweep over key=a,b), --cfg job (print the composed config), --info, --hydra-help",
        "More: python -m dataflows --help (verbs), list (config options), config (resolved YAML), scan (discovery)",
        "",
    ]
    return "\n".join(lines)


def flatten(tree: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Leaf keys of a nested dict, dotted, in order (an empty dict is a leaf)."""
    if isinstance(tree, dict) and (tree or not prefix):
        for key, value in tree.items():
            yield from flatten(value, f"{prefix}{key}" if not prefix else f"{prefix}.{key}")
    else:
        yield prefix, tree


def format_value(value: Any) -> str:
    """A value as one would write it on the command line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{format_value(v)}" for k, v in value.items()) + "}"
    text = str(value)
    return text if text else "''"
