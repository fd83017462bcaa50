"""The Hydra edge: compose the config, turn it into frozen `Settings`, run a verb, map errors to exit codes.

Everything below this module takes plain values; Hydra never leaks further in.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from typing import Any

from dataflows.config import Settings, conf_dir, register_schema, settings_from_cfg
from dataflows.errors import ConfigError, DataflowsError

log = logging.getLogger("dataflows")


def launch(verb: str) -> None:
    """Run `verb` under `@hydra.main` with the packaged `conf/`.

    A single run exits with its code. In a sweep (`-m`) a failing job must not stop the sweep (Hydra's launcher
    does not catch `SystemExit`, and re-raises a job's exception before the comparison table is written): each
    job returns `{"exit_code", "error"}` instead, the sweep goes on, and the process exits afterwards with the
    worst job's code.
    """
    import hydra

    register_schema()
    codes: list[int] = []

    @hydra.main(version_base=None, config_path=str(conf_dir()), config_name="config")
    def _main(cfg: Any) -> dict[str, Any] | None:
        if not _in_multirun():
            code = dispatch(verb, cfg)
            if code:
                raise SystemExit(code)
            return None
        outcome = sweep_job(verb, cfg)
        codes.append(outcome["exit_code"])
        return outcome

    _main()
    from dataflows.meta.sweep import last_sweep_exit_code

    worst = max([*codes, last_sweep_exit_code()])  # the callback also sees jobs run in other processes
    if worst:
        failed = sum(1 for c in codes if c) or "some"
        sys.stderr.write(f"error: {failed} of {len(codes) or 'the'} sweep job(s) failed (see comparison.md)\n")
        raise SystemExit(worst)


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def sweep_job(verb: str, cfg: Any) -> dict[str, Any]:
    """One job of a sweep: never raises; `{"exit_code": int, "error": str | None}` for the comparison table."""
    try:
        code, error = _dispatch(verb, cfg)
    except Exception as exc:  # a crash is this job's outcome, not the sweep's end; its traceback goes to the log
        log.exception("sweep job crashed")
        code, error = 1, f"{exc.__class__.__name__}: {exc}"
    return {"exit_code": code, "error": error}


def _setup_logging() -> None:
    root = logging.getLogger()
    if any(getattr(h, "_dataflows", False) for h in root.handlers):
        return
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        from dataflows.console import err_console

        handler: logging.Handler = RichHandler(console=err_console(), show_path=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._dataflows = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for noisy in ("hamilton", "numba", "urllib3", "ccxt", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from dataflows.driver import quiet_hamilton

    quiet_hamilton()


def dispatch(verb: str, cfg: Any) -> int:
    """Run one verb on a composed config; returns the exit code (0 ok) after printing a one-line reason."""
    return _dispatch(verb, cfg)[0]


def _dispatch(verb: str, cfg: Any) -> tuple[int, str | None]:
    _setup_logging()
    try:
        check_group_choices()
        settings = named_scanner(settings_from_cfg(cfg))
        from omegaconf import OmegaConf

        resolved = OmegaConf.to_container(cfg, resolve=True)
        check_known_keys(resolved)
        resolved["data"]["root"] = settings.data.root  # absolute, as every process of this run uses it
        for key in ("path", "metadata"):
            if resolved.get("venue", {}).get(key) is not None:
                resolved["venue"][key] = getattr(settings.venue, key)
        if verb == "run":
            return run(settings, resolved), None
        if verb == "audit":
            return audit(settings), None
        if verb == "viz":
            from dataflows.viz import viz

            return viz(settings), None
        if verb == "runs":
            return runs(settings), None
        from dataflows.explore import VERBS as EXPLORE

        if verb in EXPLORE:  # the read-only verbs that help find one's way (list, scan, config)
            return EXPLORE[verb](settings, resolved), None
        msg = f"unknown verb {verb!r}"
        raise DataflowsError(msg)
    except DataflowsError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code, str(exc)
    except (KeyboardInterrupt, Exception) as exc:
        from dataflows.runs import interrupt_of

        interrupted = interrupt_of(exc)
        if interrupted is None:
            raise
        reason = str(interrupted) or "interrupted"
        sys.stderr.write(f"error: {reason}\n")
        return getattr(interrupted, "exit_code", 130), reason


OPTIONAL_GROUPS = ("scanner", "meta")  # `optional` in conf/config.yaml: Hydra ignores an unknown name silently


def check_group_choices() -> None:
    """`scanner=NAME` / `meta=NAME` must name a file of `conf/scanner/` / `conf/meta/` (`ConfigError`, exit 2)."""
    from hydra.core.hydra_config import HydraConfig

    from dataflows.config import conf_dir

    if not HydraConfig.initialized():
        return
    choices = HydraConfig.get().runtime.choices
    for group in OPTIONAL_GROUPS:
        name = choices.get(group)
        folder = (conf_dir() / group).resolve()
        path = (folder / f"{name}.yaml").resolve()
        if name is None or (path.is_file() and path.parent == folder):  # `../profile/x` is not a scanner
            continue
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        msg = f"{group}={name}: no such {group} (no conf/{group}/{name}.yaml); known {group} options: {known}"
        raise ConfigError(msg)


def named_scanner(settings: Settings) -> Settings:
    """`scanner=NAME` composes the file's content without its name: the spec is named after the file (in funnels,
    candidates.json and the hint of a scan that finds nothing), not after its `logic`."""
    from hydra.core.hydra_config import HydraConfig

    if settings.scanner is None or settings.scanner.get("name") or not HydraConfig.initialized():
        return settings
    choice = HydraConfig.get().runtime.choices.get("scanner")
    if not choice:
        return settings
    import dataclasses

    return dataclasses.replace(settings, scanner={**settings.scanner, "name": choice})


def check_known_keys(resolved: Any, cls: type = Settings, prefix: str = "") -> None:
    """Every key of the composed config is a field of `Settings` (free-form dicts such as `venue.options`, `scanner`
    and `meta` excepted). Hydra refuses unknown keys, but `+key=value` appends them to the typed schema, where
    nothing would read them: `ConfigError` (exit 2) naming the key."""
    import dataclasses
    import typing

    if not isinstance(resolved, dict):
        return
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key, value in resolved.items():
        if key not in names:
            msg = f"{prefix}{key} is not a config key (nothing reads it); known keys here: {names}"
            raise ConfigError(msg)
        hint = hints.get(key)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            check_known_keys(value, hint, f"{prefix}{key}.")


class Terminated(KeyboardInterrupt):
    """SIGTERM during a run: unwinds like Ctrl-C so the run's manifest ends as `failed` (exit 143)."""

    exit_code = 143


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated("terminated by SIGTERM")


def run(settings: Settings, resolved: dict) -> int:
    """The main job: data phase, then (unless flow.data_only) the sleeve — or a meta-portfolio; prints the run folder.

    SIGTERM unwinds the run like Ctrl-C (`Terminated`), so its manifest ends as `failed` (exit 143)."""
    import signal
    import threading

    from dataflows.trade.orders import check_run_trade

    check_run_trade(settings)  # trade.* keys that cannot work for this run fail now, not after it
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main else None
    try:
        if settings.meta is not None:  # a meta-portfolio over several sleeves
            from dataflows.meta.run import run_meta

            return run_meta(settings, resolved)
        from dataflows.single import run_single

        return run_single(settings, resolved)
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


def audit(settings: Settings) -> int:
    """Print the health table of the configured candidates; fetches nothing."""
    from rich.console import Console
    from rich.table import Table

    from dataflows.driver import build_driver
    from dataflows.lakehouse.store import Lakehouse
    from dataflows.runs import check_data_root

    lh = Lakehouse(check_data_root(settings, create=False), read_only=True)
    dr = build_driver(settings)  # the audit needs no run folder and writes nothing (a read-only lakehouse)
    res = dr.execute(
        ["audit_before_table"], inputs={"settings": settings, "lakehouse": lh, "as_of_ms": settings.as_of_ms}
    )
    table = res["audit_before_table"]
    console = Console(width=160)
    out = Table(title=f"lakehouse health as of {settings.as_of.isoformat()} ({settings.venue.kind})")
    for col in ("symbol", "status", "missing_bars", "reason"):
        out.add_column(col, overflow="fold")
    for row in table.iter_rows(named=True):
        out.add_row(row["symbol"], row["status"], str(row["missing_bars"]), row["reason"])
    console.print(out)
    counts = ", ".join(f"{s}: {n}" for s, n in sorted(table["status"].value_counts().rows()))
    console.print(f"{table.height} symbols — {counts}")
    return 0


def runs(settings: Settings) -> int:
    """Print every run folder under `data.root` with its state (see `dataflows.runs.run_state`)."""
    from dataflows.runs import check_data_root, list_runs

    states = list_runs(check_data_root(settings, create=False))
    width = max((len(s.run_id) for s in states), default=6)
    lines = [f"{'run_id':<{width}}  {'state':<19}  {'as_of':<25}  {'started_at':<32}  reason"]
    for s in states:
        m = s.manifest
        lines.append(
            f"{s.run_id:<{width}}  {s.state:<19}  {m.get('as_of') or '':<25}  {m.get('started_at') or '':<32}  "
            + (s.reason or "")
        )
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(Counter(s.state for s in states).items()))
    sys.stdout.write(
        "\n".join(lines)
        + f"\n{len(states)} run(s) in {settings.data_root / 'runs'}"
        + (f" — {counts}" if counts else "")
        + "\n"
    )
    return 0
