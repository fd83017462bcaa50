"""`python -m dataflows VERB --help`: every key of the composed config, its value and the one-line description
written beside its field in `dataflows/config/settings.py`. Composes with Hydra's compose API and reads the
settings' source; imports no pipeline module, so it stays fast."""

from __future__ import annotations

import ast
import dataclasses
import io
import textwrap
import tokenize
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dataflows.config import Settings, conf_dir

HELP_FLAGS = ("-h", "--help")
_VALUE_FLAGS = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn", "--config-dir"}
_VALUE_FLAGS |= {"-cd", "--experimental-rerun", "--info", "-i"}
FREE_FORM = {
    "scanner": "scanner spec (see `list scanners`)",
    "meta": "meta-portfolio setting (dataflows/meta/config.py)",
}


def field_descriptions(cls: type = Settings, prefix: str = "") -> dict[str, str]:
    """Dotted key -> the comment written beside its field in `dataflows/config/settings.py` (nested config classes:
    their docstring's first line). Reads the source, imports nothing else."""
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
    """Trailing comments of `dataflows/config/settings.py` by line, and each class field's line span."""
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
    overrides (without any: the defaults) and its description from `dataflows/config/settings.py`."""
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
