"""`python -m dataflows VERB [hydra overrides]`: strip the verb, then hand argv to Hydra.

Answered here, without Hydra's app: `--help` (the verbs), `VERB --help` (every key, `dataflows.explore.key_help`)
and `list [GROUP]` (read from `conf/`; its positional word would be an invalid Hydra override). `list runs` is `runs`.
"""

from __future__ import annotations

import sys
import textwrap

VERBS = {
    "run": "run the pipeline: data phase (discover, audit, repair, guard, metadata, ratings, health gate), then the "
    "sleeve (selection, weights with fallbacks, walk-forward validation, report.html); with meta=NAME a "
    "meta-portfolio over several sleeves. Prints the run folder (data/runs/<RUN_ID>/)",
    "scan": "dry run of discovery as of run.as_of: each scanner's funnel and the candidates (writes nothing)",
    "config": "print the resolved config as YAML, with each scanner the run uses after inheritance",
    "list": "list the config options: list [profiles|scanners|metas|venues|executors|runs]",
    "audit": "print lakehouse health for the configured candidates without fetching",
    "viz": "draw the DAG this config builds (viz.output=dag.svg|.png|.pdf; needs graphviz's `dot`)",
    "runs": "list the run folders under data.root with their state (ok, failed, running, interrupted)",
    "orders": "turn a finished run into orders: orders RUN_DIR trade.capital=CASH [trade.holdings=FILE.csv | "
    "trade.balances=true]; writes RUN_DIR/orders/<time>/orders.csv + orders.json (whole lots, tick limits)",
}
USAGE = (
    "usage: python -m dataflows {"
    + ",".join(VERBS)
    + "} [key=value ...] [-m for a multirun sweep]\n\n"
    + "\n".join(
        textwrap.fill(text, 116, initial_indent=f"  {verb:<7}", subsequent_indent=" " * 9)
        for verb, text in VERBS.items()
    )
    + "\n\nExamples:\n"
    "  python -m dataflows list                                   # profiles, scanners, metas, venues, executors\n"
    "  python -m dataflows list scanners                          # what each scanner filters and inherits\n"
    "  python -m dataflows scan profile=crypto_short run.as_of=2026-06-30   # candidates and funnels, no run\n"
    "  python -m dataflows scan scanner=crypto_rating_long\n"
    "  python -m dataflows config profile=equities_trend          # resolved YAML, merged scanners\n"
    "  python -m dataflows run\n"
    "  python -m dataflows run profile=crypto_short run.as_of=2026-06-30\n"
    "  python -m dataflows run meta=crypto_long_short\n"
    "  python -m dataflows audit venue.seed=7\n"
    "  python -m dataflows viz viz.output=dag.png\n"
    "  python -m dataflows runs data.root=./data                  # or: list runs data.root=./data\n"
    "  python -m dataflows orders data/runs/<RUN_ID> trade.capital=100000 trade.holdings=holdings.csv\n\n"
    "`python -m dataflows run --help` lists every config group and key with its default and meaning.\n"
)
LIST_USAGE = (
    "usage: python -m dataflows list [profiles|scanners|metas|venues|executors]\n"
    "       python -m dataflows list runs [data.root=DIR]\n\n"
    "Without a word: every config group. A rich table on a terminal, tab-separated lines when piped.\n"
)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        raise SystemExit(0 if args else 2)
    verb, rest = args[0], args[1:]
    if verb not in VERBS:
        sys.stderr.write(f"error: unknown verb {verb!r}; expected one of {list(VERBS)}\n\n{USAGE}")
        raise SystemExit(2)
    if verb == "list":
        if rest[:1] != ["runs"]:
            raise SystemExit(_list(rest))
        verb, rest = "runs", rest[1:]
    if verb == "orders" and rest and "=" not in rest[0] and not rest[0].startswith("-"):
        rest = [f"trade.run={rest[0]}", *rest[1:]]  # `orders RUN_DIR ...`: the run folder is `trade.run`
    if any(a in ("-h", "--help") for a in rest):
        from dataflows.explore import key_help, write

        write(key_help(verb, VERBS[verb], rest))
        raise SystemExit(0)
    sys.argv = [f"dataflows {verb}", *rest]
    from dataflows.app import launch

    launch(verb)


def _list(rest: list[str]) -> int:
    """`list [GROUP]` without Hydra; one-line errors (exit 2) for anything else."""
    from dataflows.errors import ConfigError
    from dataflows.explore import LIST_WORDS, list_groups, write

    if any(a in ("-h", "--help") for a in rest):
        write(LIST_USAGE)
        return 0
    if len(rest) > 1 or any("=" in a or a.startswith("-") for a in rest):
        sys.stderr.write(f"error: list takes one word of {list(LIST_WORDS)} and no overrides, got {rest}\n")
        return 2
    try:
        return list_groups(rest[0] if rest else None)
    except ConfigError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code


if __name__ == "__main__":
    main()
