"""`python -m dataflows config`: the resolved config as YAML, then each scanner the run uses as it uses it (`base:`
inheritance applied), for a meta those of every profile sleeve."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from dataflows.config import Settings, conf_dir
from dataflows.explore.listing import inherits, read_yaml
from dataflows.explore.output import write


def scanner_views(settings: Settings, inline_name: str | None = None) -> dict[str, dict[str, Any]]:
    """Each scanner this config runs, as the run uses it (`base:` inheritance applied, removed filters gone),
    by name; for a meta, the scanners of every profile sleeve (nested metas included). A scanner chosen with
    `scanner=NAME` is shown under `inline_name` (its file's name) when given."""
    from dataflows.nodes.discovery import scanner_specs

    folder = conf_dir() / "scanner"
    views: dict[str, dict[str, Any]] = {}
    for each, raw in _scanning_settings(settings):
        for spec in scanner_specs(each.profile, each.scanner):
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
        "# not a config key: each scanner this config runs, `base:` inheritance applied (dataflows/scanners/specs.py)",
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
