"""Run folders and their manifests: `data/runs/<RUN_ID>/`, where everything a run produces lives.

Lifecycle of `manifest.json` (every write atomic: temp file, fsync, rename):

- `running`: written before the folder appears under its name (the folder is built as a hidden temp folder, the
  manifest written into it, then renamed into place; `folders`), with the resolved config, command line, as_of,
  start time, and the pid, process start time and host of the process that owns the run (`identity`).
- `ok` / `failed`: rewritten when the run ends, with the finish time, per-node timings, lakehouse hashes and, when
  failed, the one-line reason and the exit code (`dataflows.runs.RunRecord`, driven by the Hamilton lifecycle
  adapter `dataflows.driver.RunRecorder`; `record`).
- `interrupted` is never written: a reader reports a `running` manifest as `interrupted` when it was written on
  this host and its process is gone (no such pid, a zombie, or a pid reused by a process that started later).
  A `running` run of another host stays `running` (its liveness cannot be checked from here).

`run_state(folder)` is the one reader; `require_finished` is what pinning and comparing use: anything but `ok`
(running, interrupted, failed, no manifest, unreadable manifest) is refused with one line naming the run and state
(`state`).
"""

from dataflows.runs.folders import check_data_root, new_record, new_run, place
from dataflows.runs.identity import (
    PACKAGES,
    command_line,
    environment,
    git_state,
    jsonable,
    owner,
    package_versions,
    process_alive,
    process_start,
)
from dataflows.runs.record import RunContext, RunRecord, failure, interrupt_of, start_record
from dataflows.runs.state import (
    FAILED,
    INTERRUPTED,
    MANIFEST,
    NO_MANIFEST,
    OK,
    RUNNING,
    UNREADABLE,
    RunState,
    list_runs,
    require_finished,
    run_state,
)

__all__ = [
    "FAILED",
    "INTERRUPTED",
    "MANIFEST",
    "NO_MANIFEST",
    "OK",
    "PACKAGES",
    "RUNNING",
    "UNREADABLE",
    "RunContext",
    "RunRecord",
    "RunState",
    "check_data_root",
    "command_line",
    "environment",
    "failure",
    "git_state",
    "interrupt_of",
    "jsonable",
    "list_runs",
    "new_record",
    "new_run",
    "owner",
    "package_versions",
    "place",
    "process_alive",
    "process_start",
    "require_finished",
    "run_state",
    "start_record",
]
