"""Multirun comparison table: a Hydra callback that writes `comparison.csv` and `comparison.md` into the sweep folder.

Configured in `conf/config.yaml` under `hydra.callbacks` (`_target_: dataflows.meta.sweep.ComparisonTable`); it only
acts in multirun mode (`python -m dataflows run -m profile=crypto_long,crypto_short`).

How each job's run folder is found (the run itself only prints it): `on_job_start` notes the time; `on_job_end`
looks for `<data.root>/runs/*/manifest.json` started at or after that time whose recorded config equals the job's
resolved config (the newest such run), and writes a pointer `run.json` (job number, overrides, status, run folder)
into the job's sweep subfolder `<hydra.sweep.dir>/<job num>/`. `on_multirun_end` reads those pointers and builds one
row per job. Pointers make the table independent of the launcher (a parallel launcher runs `on_job_end` in the job's
own process) and of other runs landing in the same data root meanwhile.

Columns: job, overrides, status, run_id, kind (run | meta), profile (the profile, or the meta's name), optimizer
(the sleeve's optimizer and whether a fallback produced it, or the meta method), stream (in_sample |
out_of_sample) and its metrics — total_return, annual_return (CAGR), annual_vol, sharpe, sortino, max_drawdown (a
positive fraction), calmar, hit_rate, by the one definition of `dataflows.validation.metrics`, and days — then the
walk-forward's out-of-sample Sharpe when the run has `backtest/metrics.json`, the number of assets and the top
weights. Only a run whose manifest says `ok` is summarised; any other state (`failed`, `running`, `interrupted`, no
manifest — see `dataflows.runs.run_state`) gets no metrics, and a job that completed with such a run says
`NOT OK (run <state>: <reason>)`. A single run's in-sample stream is its weights file applied to the lakehouse returns of its training window; a meta run's is
its `meta_stream.parquet` (out_of_sample only when every sleeve's stream was).

A failing job does not stop the sweep: under multirun each job returns `{"exit_code", "error"}` instead of
exiting (`dataflows.app.sweep_job`), its row says `FAILED (exit N): reason`, and after the table is written the
process exits with the worst job's code (`last_sweep_exit_code`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

log = logging.getLogger("dataflows.sweep")

METRICS = ("total_return", "annual_return", "annual_vol", "sharpe", "sortino", "max_drawdown", "calmar", "hit_rate")
COLUMNS = (
    "job",
    "overrides",
    "status",
    "run_id",
    "kind",
    "profile",
    "optimizer",
    "stream",
    *METRICS,
    "days",
    "oos_sharpe",
    "assets",
    "top_weights",
    "run_dir",
)


class ComparisonTable(Callback):
    """Hydra callback: one row per multirun job with its run's profile, optimizer, metrics and top weights."""

    def __init__(self, top: int = 5) -> None:
        self.top = int(top)
        self._job_start: dt.datetime | None = None

    def on_job_start(self, config: Any, **kwargs: Any) -> None:
        if _multirun(config):
            self._job_start = dt.datetime.now(dt.UTC)

    def on_job_end(self, config: Any, job_return: Any, **kwargs: Any) -> None:
        if not _multirun(config):
            return
        from omegaconf import OmegaConf

        from dataflows.lakehouse import atomic

        task_cfg = OmegaConf.to_container(job_return.cfg, resolve=True)
        root = Path(str(OmegaConf.select(config, "data.root"))).expanduser().resolve()
        run_dir = find_run(root, self._job_start, task_cfg)
        status = getattr(job_return.status, "name", str(job_return.status))
        value = job_return._return_value
        code = None
        if status != "COMPLETED":  # an exception Hydra caught (our jobs return instead, see dataflows.app)
            error, code = f"{value.__class__.__name__}: {value}", 1
        elif isinstance(value, dict) and "exit_code" in value:
            code, error = int(value["exit_code"]), value.get("error")
            status = "COMPLETED" if code == 0 else "FAILED"
        else:
            error = None
        pointer = {
            "job": int(config.hydra.job.num),
            "overrides": list(job_return.overrides or []),
            "status": status,
            "exit_code": code,
            "error": error,
            "run_dir": None if run_dir is None else str(run_dir),
        }
        atomic.write_json(Path(str(config.hydra.runtime.output_dir)) / "run.json", pointer)

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        import polars as pl

        sweep_dir = Path(str(config.hydra.sweep.dir)).expanduser().resolve()
        paths = sorted(sweep_dir.glob("*/run.json"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
        pointers = [json.loads(p.read_text()) for p in paths]
        rows = [comparison_row(p, self.top) for p in pointers]
        _LAST_SWEEP["exit_code"] = max((int(p.get("exit_code") or 0) for p in pointers), default=0)
        table = pl.DataFrame(rows, schema=_schema(), orient="row") if rows else pl.DataFrame(schema=_schema())
        write_tables(table, sweep_dir)
        log.info("comparison of %d run(s) → %s", table.height, sweep_dir / "comparison.md")


_LAST_SWEEP: dict[str, int] = {"exit_code": 0}


def last_sweep_exit_code() -> int:
    """The worst exit code among the jobs of the last sweep this process finished (0 if none failed)."""
    return _LAST_SWEEP["exit_code"]


def _multirun(config: Any) -> bool:
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    return OmegaConf.select(config, "hydra.mode") == RunMode.MULTIRUN


def find_run(root: Path, since: dt.datetime | None, task_cfg: Any) -> Path | None:
    """The newest run under `root/runs` started at/after `since` whose manifest config equals the job's config."""
    best: tuple[str, Path] | None = None
    loose: tuple[str, Path] | None = None
    for manifest in (root / "runs").glob("*/manifest.json"):
        try:
            body = json.loads(manifest.read_text())
            started = dt.datetime.fromisoformat(body["started_at"])
        except (OSError, ValueError, KeyError):
            continue
        if since is not None and started < since - dt.timedelta(seconds=1):
            continue
        key = (body["started_at"], manifest.parent)
        if body.get("config") == task_cfg and (best is None or key > best):
            best = key
        if loose is None or key > loose:
            loose = key
    chosen = best or loose
    return None if chosen is None else chosen[1]


def comparison_row(pointer: dict[str, Any], top: int = 5) -> dict[str, Any]:
    """One table row from a job's pointer (`run.json`) and its run folder."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    status = pointer["status"]
    if status != "COMPLETED":
        code = pointer.get("exit_code")
        status = f"{status} (exit {code}): {pointer.get('error')}" if code else f"{status}: {pointer.get('error')}"
    row |= {"job": pointer["job"], "overrides": " ".join(pointer["overrides"]), "status": status}
    folder = Path(pointer["run_dir"]) if pointer.get("run_dir") else None
    if folder is None or not folder.is_dir():
        return row
    from dataflows.runs import run_state

    state = run_state(folder)
    manifest = state.manifest
    row |= {"run_id": manifest.get("run_id") or folder.name, "run_dir": str(folder)}
    if not state.ok:  # an unfinished or failed run is never compared (nor listed as ok): its state and reason
        if status == "COMPLETED":
            row["status"] = f"NOT OK (run {state.state}: {state.reason})"
        return row
    try:
        if (folder / "meta_weights.csv").is_file():
            row |= _meta_row(folder, manifest, top)
        elif (folder / "weights.parquet").is_file():
            row |= _sleeve_row(folder, manifest, top)
    except Exception as exc:  # one unreadable run must not lose the whole table; the row says why
        log.warning("comparison: cannot summarise %s: %s", folder, exc)
        row["status"] = f"{row['status']} (unreadable: {exc.__class__.__name__}: {exc})"
    return row


def _sleeve_row(folder: Path, manifest: dict, top: int) -> dict[str, Any]:
    import polars as pl

    from dataflows.config import DataConfig, Settings
    from dataflows.meta.streams import reconstructed_stream

    weights = pl.read_parquet(folder / "weights.parquet")
    sleeve = manifest.get("sleeve") or {}
    cfg = manifest.get("config") or {}
    optimizer = sleeve.get("optimizer") or (weights["optimizer"][0] if weights.height else None)
    if sleeve.get("fallback_used"):
        optimizer = f"{optimizer} (fallback)"
    root = Path((cfg.get("data") or {}).get("root") or ".").expanduser().resolve()
    base = Settings(data=DataConfig(root=str(root)))
    dates, rets = reconstructed_stream(folder, weights.select("symbol", "weight", "net_weight"), base)
    out = {
        "kind": "run",
        "profile": (cfg.get("profile") or {}).get("name"),
        "optimizer": optimizer,
        "stream": "in_sample",
        "assets": weights.height,
        "top_weights": _top(weights["symbol"].to_list(), weights["net_weight"].to_numpy(), top),
        "oos_sharpe": _oos_sharpe(folder),
    }
    return out | metrics(dates, rets)


def _meta_row(folder: Path, manifest: dict, top: int) -> dict[str, Any]:
    import polars as pl

    flat = pl.read_csv(folder / "flattened_weights.csv").sort("gross", descending=True)
    stream = pl.read_parquet(folder / "meta_stream.parquet")
    meta = manifest.get("meta") or {}
    kinds = {s.get("stream") for s in manifest.get("sleeves", []) if s.get("status") == "ok"}
    return {
        "kind": "meta",
        "profile": meta.get("name"),
        "optimizer": meta.get("method"),
        "stream": "out_of_sample" if kinds == {"out_of_sample"} else "in_sample",
        "assets": flat.height,
        "top_weights": _top(flat["symbol"].to_list(), flat["net"].to_numpy(), top),
    } | metrics(stream["date"].to_numpy(), stream["returns"].to_numpy())


def metrics(dates: Any, returns: Any) -> dict[str, Any]:
    """The stream's headline metrics (`dataflows.validation.metrics.series_metrics`, the definition every report
    uses), annualized by its calendar (weekend rows: 365 a year, else 252), and its number of days."""
    import numpy as np

    from dataflows.validation import metrics as M

    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2:
        return {"days": int(r.size)}
    m = M.series_metrics(r, M.periods_per_year_of(np.asarray(dates, dtype=np.int64)))
    return {k: m[k] for k in METRICS} | {"days": int(r.size)}


def _oos_sharpe(folder: Path) -> float | None:
    path = folder / "backtest" / "metrics.json"
    if not path.is_file():
        return None
    value = ((json.loads(path.read_text()).get("books") or {}).get("profile") or {}).get("sharpe")
    return None if value is None else float(value)


def _top(symbols: list[str], net: Any, top: int) -> str:
    import numpy as np

    order = np.argsort(-np.abs(net))[:top]
    return ", ".join(f"{symbols[i]} {net[i]:+.1%}" for i in order)


def _schema() -> dict[str, Any]:
    import polars as pl

    floats = {*METRICS, "oos_sharpe"}
    ints = {"job", "days", "assets"}
    return {c: pl.Float64 if c in floats else pl.Int64 if c in ints else pl.String for c in COLUMNS}


def write_tables(table: Any, sweep_dir: Path) -> None:
    """comparison.csv (every column) and comparison.md (a readable table) in the sweep folder."""
    from dataflows.lakehouse import atomic

    sweep_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_bytes(sweep_dir / "comparison.csv", table.write_csv().encode())
    shown = [c for c in COLUMNS if c not in ("overrides", "run_dir")]
    lines = [
        f"# Sweep comparison ({table.height} run(s))",
        "",
        "| " + " | ".join(shown) + " |",
        "|" + "|".join("---" for _ in shown) + "|",
    ]
    for row in table.iter_rows(named=True):
        lines.append("| " + " | ".join(_cell(row[c]) for c in shown) + " |")
    lines += ["", "Overrides and run folders per job are in comparison.csv."]
    atomic.write_bytes(sweep_dir / "comparison.md", ("\n".join(lines) + "\n").encode())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value).replace("|", "\\|")
