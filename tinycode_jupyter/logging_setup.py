"""Debug logging with secrets redacted: one switch, ``enable_debug_logging()`` or ``TINYCODE_DEBUG=1``.

The package logs through :mod:`logging` under the ``tinycode_jupyter`` logger and
never configures handlers on import. :func:`enable_debug_logging` adds one
handler that shows model requests and tool calls. Every record that handler
writes is passed through :func:`redact` first: API keys (``sk-...``), bearer
tokens, ``api_key=...``-style assignments, and the values of environment
variables whose names contain KEY, TOKEN, SECRET or PASSWORD never reach the output.
"""
from __future__ import annotations

import logging
import os
import re
import sys
from typing import Iterable, TextIO

DEBUG_ENV = "TINYCODE_DEBUG"
PACKAGE_LOGGER = "tinycode_jupyter"
MASK = "***"
_SECRET_ENV_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
_MIN_SECRET_LENGTH = 6
"""Shorter env values (``1``, ``true``) are too common to redact without mangling the log."""
_PATTERNS = [
    (re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_\-]{6,}"), r"\1-" + MASK),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._\-~+/=]{4,}"), r"\1 " + MASK),
    (
        re.compile(r"(?i)([\\\"']*[\w-]*(?:api[_-]?key|token|secret|password|authorization)[\\\"']*\s*[:=]\s*[\\\"']*)(?!(?:bearer|basic)\s)([^\s\\\"',}\]]+)"),
        r"\1" + MASK,
    ),
]


def secret_env_values(environ: dict[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names say they hold secrets, longest first."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if _SECRET_ENV_NAME.search(k) and len(v) >= _MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)


def redact(text: str, extra_secrets: Iterable[str] = ()) -> str:
    """``text`` with API keys, tokens and secret env values replaced by ``***``."""
    for secret in [*extra_secrets, *secret_env_values()]:
        if secret and secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


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


class _DebugHandler(logging.StreamHandler):  # type: ignore[type-arg]
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
