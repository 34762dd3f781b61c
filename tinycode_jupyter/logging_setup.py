"""Debug logging with secrets redacted: one switch, ``enable_debug_logging()`` or ``TINYCODE_DEBUG=1``.

The package logs through :mod:`logging` under the ``tinycode_jupyter`` logger and
never configures handlers on import. :func:`enable_debug_logging` adds one
handler that shows model requests and tool calls. Every record that handler
writes is passed through :func:`~tinycode_jupyter.redaction.redact` first, the
same redactor that commit messages and exported notebooks use: API keys, tokens,
passwords and the values of secret-named environment variables never reach the output.
"""
from __future__ import annotations

import logging
import os
import sys
from typing import Iterable, TextIO

from .redaction import redact as redact  # the one redactor; callers may import it from here

DEBUG_ENV = "TINYCODE_DEBUG"
PACKAGE_LOGGER = "tinycode_jupyter"


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and traceback) with :func:`redact` before it is written."""

    def __init__(self, extra_secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.extra_secrets = [s for s in extra_secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self.extra_secrets)
        record.args = None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info), self.extra_secrets)
            record.exc_info = None
        return True


class _DebugHandler(logging.StreamHandler):
    """The handler :func:`enable_debug_logging` installs (a distinct type, so it is installed once)."""


def enable_debug_logging(stream: TextIO | None = None, *, level: int = logging.DEBUG, secrets: Iterable[str] = ()) -> logging.Handler:
    """Log model requests, responses and tool calls to ``stream`` (default stderr), secrets redacted.

    Calling it again replaces the previous debug handler. ``secrets`` adds literal
    strings to redact (the ``api_key`` given to an agent is never logged anyway).
    litellm's own loggers are left alone: they have their own handler, which this
    redaction cannot reach.
    """
    disable_debug_logging()
    handler = _DebugHandler(stream if stream is not None else sys.stderr)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    logger = logging.getLogger(PACKAGE_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler


def disable_debug_logging() -> None:
    """Remove the handler installed by :func:`enable_debug_logging`, if any."""
    logger = logging.getLogger(PACKAGE_LOGGER)
    for handler in [h for h in logger.handlers if isinstance(h, _DebugHandler)]:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


def enable_debug_logging_from_env() -> logging.Handler | None:
    """Turn debug logging on when ``TINYCODE_DEBUG`` is set to 1/true/yes (once)."""
    if os.environ.get(DEBUG_ENV, "").strip().lower() not in ("1", "true", "yes", "on"):
        return None
    installed = [h for h in logging.getLogger(PACKAGE_LOGGER).handlers if isinstance(h, _DebugHandler)]
    return installed[0] if installed else enable_debug_logging()
