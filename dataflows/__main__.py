"""`python -m dataflows run|viz|audit|runs [hydra overrides]`: strip the verb, then hand argv to Hydra."""

from __future__ import annotations

import sys

VERBS = {
    "run": "run the pipeline (data phase: discover, audit, repair, guard, metadata, health gate)",
    "audit": "print lakehouse health for the configured candidates without fetching",
    "viz": "draw the DAG this config builds (viz.output=dag.svg|.png|.pdf; needs graphviz's `dot`)",
    "runs": "list the run folders under data.root with their state (ok, failed, running, interrupted)",
}
USAGE = (
    "usage: python -m dataflows {run,audit,viz,runs} [key=value ...] [-m for a multirun sweep]\n\n"
    + "\n".join(f"  {verb:<6} {text}" for verb, text in VERBS.items())
    + "\n\nExamples:\n"
    "  python -m dataflows run\n"
    "  python -m dataflows run profile=crypto_short run.as_of=2026-06-30\n"
    "  python -m dataflows audit venue.seed=7\n"
    "  python -m dataflows viz viz.output=dag.png\n"
    "  python -m dataflows runs data.root=./data\n\n"
    "`python -m dataflows run --help` lists every config group and key (Hydra's help).\n"
)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        raise SystemExit(0 if args else 2)
    verb = args[0]
    if verb not in VERBS:
        sys.stderr.write(f"error: unknown verb {verb!r}; expected one of {list(VERBS)}\n\n{USAGE}")
        raise SystemExit(2)
    sys.argv = [f"dataflows {verb}", *args[1:]]
    from dataflows.app import launch

    launch(verb)


if __name__ == "__main__":
    main()
