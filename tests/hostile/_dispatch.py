"""The CLI in-process with its output captured (`cli`: `python -m dataflows ...`; `dispatch_captured`: one verb on a
composed config), for the hostile-input and exploration tests."""

from __future__ import annotations

import contextlib
import io
import logging
import sys

from tests.conftest import compose

FAST_RETRIES = ("data.progress=false", "data.retry_wait_s=0.01", "data.retry_wait_max_s=0.02")


def _drop_cli_handlers() -> None:
    logger = logging.getLogger()
    for handler in [h for h in logger.handlers if getattr(h, "_dataflows", False)]:
        logger.removeHandler(handler)


def dispatch_captured(verb: str, overrides: list[str]) -> tuple[int, str]:
    """(exit code, stderr) of one verb on the composed config; the CLI's log handler is rebound to the capture."""
    from dataflows.app import dispatch

    _drop_cli_handlers()
    err = io.StringIO()
    cfg = compose([*FAST_RETRIES, *overrides])
    try:
        with contextlib.redirect_stderr(err):
            code = dispatch(verb, cfg)
    finally:
        _drop_cli_handlers()
    return code, err.getvalue()


def cli(*args: str) -> tuple[int, str, str]:
    """`python -m dataflows *args` in this process: (exit code, stdout, stderr); the CLI's log handler binds the
    stderr of the call that created it, so it is dropped before and after."""
    from dataflows.__main__ import main

    root = logging.getLogger()
    argv, level = sys.argv[:], root.level
    out, err = io.StringIO(), io.StringIO()
    code = 0
    _drop_cli_handlers()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.argv = argv
            _drop_cli_handlers()
            root.setLevel(level)
    return code, out.getvalue(), err.getvalue()
