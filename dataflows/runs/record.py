"""The manifest of one run from `running` to `ok` / `failed` (`RunRecord`, each state written atomically), and what
a failure records: the one-line reason and exit code of the exception that ended the run."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataflows.errors import DataflowsError
from dataflows.lakehouse import atomic
from dataflows.runs.identity import command_line, environment, git_state, jsonable, owner, package_versions
from dataflows.runs.state import FAILED, MANIFEST, OK, RUNNING


@dataclass(frozen=True)
class RunContext:
    """Identity and folder of one run."""

    run_id: str
    run_dir: Path
    as_of: dt.datetime
    started_at: dt.datetime


@dataclass
class RunRecord:
    """The manifest of one run, from `running` to `ok` / `failed` (each state written atomically)."""

    ctx: RunContext
    body: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.ctx.run_dir / MANIFEST

    @property
    def finished(self) -> bool:
        return self.body.get("outcome") in (OK, FAILED)

    def write(self) -> None:
        atomic.write_json(self.path, self.body)

    def finish(
        self,
        outcome: str,
        *,
        error: str | None = None,
        exit_code: int = 0,
        inputs: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Write the final manifest (`ok` or `failed`, with reason and exit code); only the first call counts."""
        if self.finished:
            return
        finished = dt.datetime.now(dt.UTC)
        self.body |= {
            "finished_at": finished.isoformat(),
            "seconds": round((finished - self.ctx.started_at).total_seconds(), 3),
            "outcome": outcome,
            "error": error,
            "exit_code": exit_code,
            "node_timings_s": dict(self.timings),
            **({"inputs": inputs} if inputs is not None else {}),
            **(extra or {}),
        }
        self.write()

    def fail(self, exc: BaseException) -> None:
        """Record `exc` as the run's failure (no-op once finished)."""
        error, code = failure(exc)
        self.finish(FAILED, error=error, exit_code=code)


def interrupt_of(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C / SIGTERM (`app.Terminated`) behind `exc`, also when a library caught it and raised its own error
    in its place (found through `__cause__` / `__context__`), else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def failure(exc: BaseException) -> tuple[str, int]:
    """(one-line reason, exit code) of an exception ending a run."""
    if isinstance(exc, DataflowsError):
        return str(exc), exc.exit_code
    interrupted = interrupt_of(exc)
    if interrupted is not None:  # Ctrl-C, or SIGTERM turned into one by the CLI (`app.Terminated`)
        return str(interrupted) or "interrupted (Ctrl-C)", int(getattr(interrupted, "exit_code", 130))
    if isinstance(exc, SystemExit):
        code = exc.code if isinstance(exc.code, int) else 1
        return f"stopped (SystemExit {exc.code})", code
    first = (str(exc).splitlines() or [""])[0]
    return f"{exc.__class__.__name__}: {first}", 1


def start_record(ctx: RunContext, config: Any, *, kind: str = "run") -> RunRecord:
    body = {
        "run_id": ctx.run_id,
        "kind": kind,
        "outcome": RUNNING,
        "error": None,
        "exit_code": None,
        "as_of": ctx.as_of.isoformat(),
        "started_at": ctx.started_at.isoformat(),
        "command": command_line(),
        **owner(),
        "config": jsonable(config),
        "packages": dict(package_versions()),
        "git": dict(git_state()),
        "environment": dict(environment()),
    }
    return RunRecord(ctx, body)
