"""Several real data phases on one lakehouse at once: `python -m dataflows run flow.data_only=true` and
`python -m dataflows audit` processes sharing one `data.root` (small synthetic universe, GAPPY/USDT's transient gap
among the candidates). Every process exits 0, no (symbol, range) is fetched twice (a holder's delayed re-ask of a
range it just missed aside), every symbol is repaired by one holder, and the lakehouse ends exactly as a serial run
of the same commands leaves it (bars, registry series rows, holes, the fetches themselves).

The default suite runs one mixed case (two runs of one profile, an overlapping profile and an audit); the campaign
of repeated cases is `@pytest.mark.slow` and prints its figures.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dataflows.venues.synthetic import GAPPY, SyntheticVenue
from tests.lakehouse._fetchlog import duplicate_fetches, split_symbols
from tests.lakehouse.conftest import REPO, LakeState, frames_equal, lake_state

AS_OF = "2026-06-30"
HISTORY = 150  # GAPPY's transient gap (2026-02-01..05) is the head of this window: a miss would set a floor
BASE = (
    "flow.data_only=true",
    "venue.n_crypto=22",
    "venue.n_equity=0",
    f"data.history_days={HISTORY}",
    f"run.as_of={AS_OF}",
    "data.progress=false",
    "data.concurrency=2",
)
LONG = ("run",)  # crypto_long: 11 candidates, GAPPY among them
LONG_TOP8 = ("run", "scanner=crypto_liquid_long", "++scanner.limit=8")  # overlaps LONG, GAPPY included
SHORT = ("run", "profile=crypto_short")  # other symbols (USDC pairs)
AUDIT = ("audit",)  # reads, reconciles, fetches nothing
TIMEOUT_S = 240.0


def all_symbols() -> tuple[str, ...]:
    from tests.lakehouse.conftest import AS_OF_MS

    return SyntheticVenue(seed=0, as_of_ms=AS_OF_MS, n_crypto=22, n_equity=0).symbols


def command(root: Path, spec: tuple[str, ...]) -> list[str]:
    verb, *extra = spec
    return [sys.executable, "-m", "dataflows", verb, *BASE, f"data.root={root}", *extra]


def launch(root: Path, specs: list[tuple[str, ...]], logs: Path) -> list[tuple[int, str]]:
    """Start every command at once, wait for all (killing them on timeout); (exit code, stderr tail) each."""
    logs.mkdir(parents=True, exist_ok=True)
    env = os.environ | {"PYTHONPATH": str(REPO)}
    procs, files = [], []
    try:
        for i, spec in enumerate(specs):
            err = logs / f"p{i}.err"
            files.append(err)
            with open(logs / f"p{i}.out", "wb") as fo, open(err, "wb") as fe:
                procs.append(subprocess.Popen(command(root, spec), stdout=fo, stderr=fe, env=env, cwd=REPO))
        deadline = time.monotonic() + TIMEOUT_S
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait(timeout=30)
    return [(p.returncode, f.read_text()[-3000:]) for p, f in zip(procs, files, strict=True)]


def fetch_multiset(state: LakeState) -> collections.Counter:
    return collections.Counter(
        (f["symbol"], f["start_ts"], f["end_ts"], f["kind"], f["rows"], f["outcome"], f.get("reask", 0))
        for f in state.fetches
    )


def differences(state: LakeState, serial: LakeState) -> list[str]:
    """How a lakehouse differs from the serial one (empty: equal)."""
    out = []
    if differ := frames_equal(state.frames, serial.frames):
        out.append(f"stored bars differ: {differ}")

    def rows(s: LakeState) -> dict:
        return {k: (r["first_ts"], r["last_ts"], r["rows"], r["floor_ts"]) for k, r in s.series.items() if r["rows"]}

    if rows(state) != rows(serial):
        out.append(f"registry series rows differ: {rows(state)} vs {rows(serial)}")
    out += [
        f"registry out of sync for {s}" for s, r in state.series.items() if r["content_hash"] != state.hashes.get(s)
    ]
    if state.holes != serial.holes:
        out.append(f"holes differ: {state.holes} vs {serial.holes}")
    if fetch_multiset(state) != fetch_multiset(serial):
        out.append(
            f"fetches differ: {fetch_multiset(state) - fetch_multiset(serial)} / {fetch_multiset(serial) - fetch_multiset(state)}"
        )
    return out


_SERIAL: dict[tuple, LakeState] = {}


def serial(tmp_root: Path, specs: list[tuple[str, ...]]) -> LakeState:
    """The lakehouse the same `run` commands leave when run one after another (audits change nothing)."""
    runs = tuple(sorted({s for s in specs if s[0] == "run"}))
    if runs not in _SERIAL:
        root = tmp_root / f"serial{len(_SERIAL)}"
        for spec in runs:
            ((code, err),) = launch(root, [spec], root.parent / f"{root.name}-logs")
            assert code == 0, f"serial {spec} exited {code}:\n{err}"
        _SERIAL[runs] = lake_state(root, all_symbols())
    return _SERIAL[runs]


def check_case(tmp_root: Path, name: str, specs: list[tuple[str, ...]]) -> dict:
    """Run `specs` at once on a fresh root; returns the case's figures and problems."""
    root = tmp_root / name
    results = launch(root, specs, tmp_root / f"{name}-logs")
    state = lake_state(root, all_symbols())
    problems = [f"{spec} exited {code}:\n{err}" for spec, (code, err) in zip(specs, results, strict=True) if code]
    dups = duplicate_fetches(state.fetches)
    if dups:
        problems.append(f"fetched more than once: {dups}")
    if split := split_symbols(state.fetches):
        problems.append(f"symbols repaired by several holders: {split}")
    problems += differences(state, serial(tmp_root, specs))
    leases = _leases_left(root)
    if leases:
        problems.append(f"leases left behind: {leases}")
    return {
        "processes": len(specs),
        "nonzero": sum(1 for code, _ in results if code),
        "duplicates": len(dups),
        "gappy_rows": state.frames[GAPPY].height if GAPPY in state.frames else 0,
        "problems": problems,
        "root": root,
    }


def _leases_left(root: Path) -> list:
    import sqlite3

    db = sqlite3.connect(root / "lakehouse" / "registry.sqlite")
    try:
        return db.execute("SELECT symbol, holder FROM leases").fetchall()
    finally:
        db.close()


def poisoned(tmp_root: Path, root: Path) -> bool:
    """Whether a later run alone, on that lakehouse, fails (a hole confirmed for good)."""
    ((code, _),) = launch(root, [LONG], tmp_root / f"{root.name}-after-logs")
    return code != 0


def test_runs_and_an_audit_at_once_fetch_each_range_once(tmp_path):
    """Two runs of one profile, a run of an overlapping profile and an audit, at once on one data root."""
    case = check_case(tmp_path, "mixed", [LONG, LONG, LONG_TOP8, AUDIT])
    assert not case["problems"], "\n".join(case["problems"])
    assert case["gappy_rows"] == HISTORY


CAMPAIGN = [
    ("two_same", [LONG, LONG]),
    ("three_same", [LONG, LONG, LONG]),
    ("overlapping", [LONG, LONG_TOP8, SHORT]),
    ("audit_during_run", [LONG, AUDIT, LONG_TOP8]),
]


@pytest.mark.slow
def test_campaign_of_concurrent_runs(tmp_path, capsys):
    """12 repetitions of the cases above (3 each): no duplicate fetch, no failed run, no poisoned lakehouse."""
    totals = collections.Counter()
    problems = []
    for rep in range(3):
        for name, specs in CAMPAIGN:
            case = check_case(tmp_path, f"{name}{rep}", specs)
            totals["cases"] += 1
            totals["processes"] += case["processes"]
            totals["nonzero_exits"] += case["nonzero"]
            totals["duplicate_fetches"] += case["duplicates"]
            totals["short_gappy"] += case["gappy_rows"] != HISTORY
            totals["poisoned"] += poisoned(tmp_path, case["root"])
            problems += [f"{name}{rep}: {p}" for p in case["problems"]]
    with capsys.disabled():
        print(f"\nconcurrent-runs campaign: {dict(totals)}")
    assert not problems, "\n".join(problems[:10])
    assert totals["nonzero_exits"] == totals["duplicate_fetches"] == totals["poisoned"] == 0
