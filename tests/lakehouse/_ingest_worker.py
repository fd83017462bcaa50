"""Ingest synthetic-venue symbols into a lakehouse: the process the crash and concurrency tests start (and kill).

    python tests/lakehouse/_ingest_worker.py --data-root DIR --as-of-ms MS --symbols BTC/USDT,ACME [options]

It runs the real smart-fetch loop (`Repairer.run`) once per stage. With `--stages K` the ingestion is split into K
stages that move `as_of` forward by `--stage-step-days` and widen the history window up to `--history-days`, so
every symbol is written several times (an initial fetch, then head and tail merges) — more crash windows per
symbol. An uninterrupted run ends with each symbol's required window [as_of − history_days, last completed bar].

`--barrier PATH` makes the worker (after its imports, and after touching `--ready PATH` if given) wait until PATH
exists, so two workers can be released at the same moment. On success it prints one JSON line: per-stage actions
and final audit statuses.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

T0 = time.perf_counter()

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import polars as pl  # noqa: E402

from dataflows import columns as C  # noqa: E402
from dataflows.lakehouse.audit import Candidate  # noqa: E402
from dataflows.lakehouse.calendar import DAY_MS  # noqa: E402
from dataflows.lakehouse.repair import Repairer, RepairPolicy  # noqa: E402
from dataflows.lakehouse.store import Lakehouse  # noqa: E402
from dataflows.venues.synthetic import SyntheticVenue  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", required=True, type=Path)
    p.add_argument("--as-of-ms", required=True, type=int)
    p.add_argument("--symbols", required=True, help="comma-separated venue symbols")
    p.add_argument("--history-days", type=int, default=400)
    p.add_argument("--stages", type=int, default=1)
    p.add_argument("--stage-step-days", type=int, default=30)
    p.add_argument("--page-limit", type=int, default=100)
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--max-rounds", type=int, default=3)
    p.add_argument("--lease-s", type=float, default=60.0)
    p.add_argument("--lease-wait-s", type=float, default=120.0)
    p.add_argument("--reask-delay-s", type=float, default=0.05, help="re-ask a missed range after this")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-crypto", type=int, default=22)
    p.add_argument("--n-equity", type=int, default=5)
    p.add_argument("--defects", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--ready", type=Path, default=None, help="touch this file once imported and set up")
    p.add_argument("--barrier", type=Path, default=None, help="wait for this file to exist before ingesting")
    p.add_argument("--barrier-timeout-s", type=float, default=60.0)
    p.add_argument("--trace", type=Path, default=None, help="append one line per phase reached (flushed)")
    return p.parse_args(argv)


def candidates(venue: SyntheticVenue, symbols: list[str]) -> list[Candidate]:
    markets = venue.markets().filter(pl.col(C.SYMBOL).is_in(symbols))
    by_symbol = {r[C.SYMBOL]: r for r in markets.iter_rows(named=True)}
    unknown = [s for s in symbols if s not in by_symbol]
    if unknown:
        raise SystemExit(f"symbols not listed at as_of: {unknown}")
    out = []
    for s in symbols:
        r = by_symbol[s]
        listed = r[C.LISTED_AT]
        out.append(Candidate(s, r[C.ASSET_CLASS], None if listed is None else int(listed.timestamp() * 1000)))
    return out


def stage_plan(args: argparse.Namespace) -> list[tuple[int, int]]:
    """(as_of_ms, history_days) of each stage; the last stage is (args.as_of_ms, args.history_days)."""
    k = max(1, args.stages)
    plan = []
    for i in range(k):
        as_of = args.as_of_ms - (k - 1 - i) * args.stage_step_days * DAY_MS
        plan.append((as_of, max(1, round(args.history_days * (i + 1) / k))))
    return plan


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    trace = open(args.trace, "a", buffering=1) if args.trace is not None else None  # noqa: SIM115
    try:
        return ingest(args, trace)
    finally:
        if trace is not None:
            trace.close()


def ingest(args: argparse.Namespace, trace) -> int:
    def mark(event: str) -> None:
        if trace is not None:
            trace.write(f"{time.perf_counter() - T0:.4f} {event}\n")

    symbols = [s for s in args.symbols.split(",") if s]
    lh = Lakehouse(args.data_root)
    mark("ready")
    if args.ready is not None:
        args.ready.touch()
    if args.barrier is not None:
        deadline = time.monotonic() + args.barrier_timeout_s
        while not args.barrier.exists():
            if time.monotonic() > deadline:
                raise SystemExit(f"barrier {args.barrier} did not appear within {args.barrier_timeout_s}s")
            time.sleep(0.001)
    t_start = time.perf_counter()
    stages = []
    for i, (as_of, history_days) in enumerate(stage_plan(args)):
        mark(f"stage{i}")
        venue = SyntheticVenue(
            seed=args.seed,
            as_of_ms=as_of,
            n_crypto=args.n_crypto,
            n_equity=args.n_equity,
            page_limit=args.page_limit,
            defects=args.defects,
        )
        policy = RepairPolicy(
            timeframe="1d",
            history_days=history_days,
            max_rounds=args.max_rounds,
            concurrency=args.concurrency,
            retry_wait_s=0.01,
            retry_wait_max_s=0.05,
            lease_s=args.lease_s,
            lease_wait_s=args.lease_wait_s,
            reask_delay_s=args.reask_delay_s,
            progress=False,
        )
        report = Repairer(lh, venue, policy, as_of).run(candidates(venue, symbols))
        stages.append(
            {
                "as_of_ms": as_of,
                "history_days": history_days,
                "rounds": report.rounds,
                "actions": [
                    {k: a.as_dict()[k] for k in ("symbol", "round", "pass_name", "outcome", "rows_fetched", "added")}
                    for a in report.actions
                ],
                "after": {a.symbol: a.data_status for a in report.after},
                "ohlcv_requests": len(venue.ohlcv_requests),
            }
        )
    summary = {
        "stages": stages,
        "import_s": round(t_start - T0, 4) if args.barrier is None else None,
        "ingest_s": round(time.perf_counter() - t_start, 4),
        "total_s": round(time.perf_counter() - T0, 4),
    }
    mark("done")
    print(json.dumps(summary))
    lh.registry.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
