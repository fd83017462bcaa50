"""`dataflows.app.dispatch` in-process with stderr captured, for the hostile-input tests."""

from __future__ import annotations

import contextlib
import io
import logging

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
