"""Sleeves of a meta run: one data phase in the driver, pure decision tasks on the workers, folders by the driver.

A meta of N sleeves (nested metas included, at any depth) runs in three steps:

1. `prepare(plan)` — in the driver, against the driver's lakehouse. The venue's markets and tickers are asked once
   for every sleeve's scanners; each profile sleeve scans them with its own scanners (its own candidates); the data
   phase (audit, repair, toxic guard, metadata, ratings backfill and check) runs once for the union of all
   candidates; then each sleeve gets its folder (a `running` manifest), its `candidates.json` and `audit.json`
   (its own candidates only), its health gate, and its inputs read from the lakehouse: the training returns, the
   ratings rows before the decision bar, the walk-forward history, metadata. These are `SleeveInputs`: immutable
   and picklable, everything the decision needs and nothing that points at a disk.
2. `decide(inputs)` — on a worker (or in-process): the sleeve's Hamilton DAG from the returns onwards (selection,
   synthesis, analysis, optimization, report, walk-forward, plots), with the data phase's answers as overrides.
   It never opens the lakehouse or a shared path: its files are written in a private temporary folder and come
   back as bytes in the `SleeveOutput` (the folder is removed), with the node timings.
3. `finish(...)` — in the driver: the files are written into the sleeve's folder, its return stream, and the
   manifest ends `ok` (or `failed` with the worker's one-line reason).

Nested metas are composed in the driver from their sleeves' results (`dataflows.meta.run`): only profile sleeves
are tasks, all in one fan-out. Pinned sleeves are only read, in the driver.
"""

from dataflows.meta.sleeves.data_phase import BOUNDARY, Prepared, SleeveInputs, prepare, sleeve_settings
from dataflows.meta.sleeves.saving import failed_before_task, finish
from dataflows.meta.sleeves.task import SleeveOutput, decide

__all__ = [
    "BOUNDARY",
    "Prepared",
    "SleeveInputs",
    "SleeveOutput",
    "decide",
    "failed_before_task",
    "finish",
    "prepare",
    "sleeve_settings",
]
