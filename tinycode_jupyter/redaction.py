"""The one secret redactor: debug logs, checkpoint commit messages and exported notebooks all use :func:`redact`.

A secret is replaced by ``***``; a well-known prefix (``sk-``, ``ghp_``, ``AKIA``, the auth
scheme, the user of a URL) is kept so a reader still sees what kind of secret was there.
Covered: provider API keys (OpenAI/Anthropic/Langfuse ``sk-``/``pk-``/``rk-``, Stripe
``sk_live_``/``pk_test_``/``rk_live_``…, AWS ``AKIA``/``ASIA``, GitHub, GitLab, Slack, Google,
Hugging Face), JSON web tokens, PEM private keys, ``Authorization: Bearer|Basic|Token …``,
passwords in URLs (``https://user:pass@host``), ``api_key=``/``x-api-key:``/``"password": "…"``
style assignments and headers, ``NAME_KEY=…`` shell assignments, the values of environment
variables whose names say they hold secrets, and any literal strings the caller adds.
"""
from __future__ import annotations

import os
import re
from typing import Any, Iterable

MASK = "***"
_SECRET_ENV_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
_MIN_SECRET_LENGTH = 6
"""Shorter env values (``1``, ``true``) are too common to redact without mangling the text."""
_KEYWORDS = r"api[_-]?key|apikey|(?:access|secret|private)[_-]?key|token|secret|password|passwd|credentials?|authorization"

# (pattern, words one of which the lowercased text must contain for the pattern to be tried).
# Each pattern's first group is kept, the rest of the match becomes MASK. Every pattern starts
# at a word boundary or a literal and repeats only what it consumes (or a bounded count), so
# the time stays linear in the length of the text, whatever the text.
_PATTERNS: list[tuple[re.Pattern[str], tuple[str, ...]]] = [
    (re.compile(r"(-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----)(?:(?!-----BEGIN )[\s\S]){0,16000}?-----END [A-Z ]{0,40}PRIVATE KEY-----"),
     ("private key-----",)),
    (re.compile(r"\b((?:sk|pk|rk)_(?:live|test)_)[A-Za-z0-9]{8,}"), ("_live_", "_test_")),  # Stripe
    (re.compile(r"\b((?:sk|pk|rk)-)[A-Za-z0-9_\-]{6,}"), ("sk-", "pk-", "rk-")),  # OpenAI, Anthropic, Langfuse
    (re.compile(r"\b((?:AKIA|ASIA))[0-9A-Z]{16}\b"), ("akia", "asia")),  # AWS access key ids
    (re.compile(r"\b((?:ghp|gho|ghu|ghs|ghr)_)[A-Za-z0-9]{20,}"), ("gh",)),  # GitHub
    (re.compile(r"\b(github_pat_)[A-Za-z0-9_]{20,}"), ("github_pat_",)),
    (re.compile(r"\b(glpat-)[A-Za-z0-9_\-]{20,}"), ("glpat-",)),  # GitLab
    (re.compile(r"\b(xox[abposr]-)[A-Za-z0-9-]{10,}"), ("xox",)),  # Slack
    (re.compile(r"\b(AIza)[0-9A-Za-z_\-]{35}"), ("aiza",)),  # Google
    (re.compile(r"\b(hf_)[A-Za-z0-9]{30,}"), ("hf_",)),  # Hugging Face
    (re.compile(r"(?<![\w-])()eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]+"), ("eyj",)),  # JSON web tokens
    # An auth scheme and its credentials; a plain lowercase word after it ("basic statistics") is prose.
    (re.compile(r"\b((?i:bearer|basic|token)\s{1,8})(?=[\w.~+/=-]*[A-Z0-9.~+/=-])[\w.~+/=-]{4,}"),
     ("bearer", "basic", "token")),
    (re.compile(r"(?<![\w+.-])([a-zA-Z][a-zA-Z0-9+.-]{0,30}://[^\s/:@]{1,200}:)[^\s/]{1,200}(?=@)"), ("://",)),  # user:pass@
    # "password": "two words", api_key='…': a quoted value, up to its closing quote.
    (re.compile(rf"(?i)((?:{_KEYWORDS})[\\\"']{{0,3}}\s{{0,8}}[:=]\s{{0,8}}\\?([\"']))(?!(?:bearer|basic|token)\s)"
                r"[^\"'\\\n]{1,500}(?=\\?\2)"),
     ("key", "token", "secret", "passw", "credential", "authorization")),
    # api_key=…, x-api-key: …; not code: a call, an attribute, an f-string, or a variable passed on
    # (token = tokenize(text), f"Bearer {token}", Client(api_key=api_key), {"token": token}).
    (re.compile(rf"(?i)((?:{_KEYWORDS})[\\\"']{{0,3}}\s{{0,8}}[:=]\s{{0,8}}[\\\"']{{0,3}})"
                r"(?!(?:bearer|basic|token)\s|\*\*\*)(?![A-Za-z_]+\s*[,})\]]|[fFrRbBuU]{1,2}[\"'])[^\s\\\"',;&}\])(\[]+(?![(\[.\w])"),
     ("key", "token", "secret", "passw", "credential", "authorization")),
    (re.compile(r"(\b[A-Z][A-Z0-9_]{0,64}(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD)=)[^\s'\"]+"),  # STRIPE_KEY=… make
     ("key=", "token=", "secret=", "password=", "passwd=")),
]  # fmt: skip


def secret_env_values(environ: dict[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names say they hold secrets, longest first."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if _SECRET_ENV_NAME.search(k) and len(v) >= _MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)


def redact(text: str, extra_secrets: Iterable[str] = ()) -> str:
    """``text`` with API keys, tokens, passwords and secret env values replaced by ``***``."""
    for secret in [*extra_secrets, *secret_env_values()]:
        if secret and secret in text:
            text = text.replace(secret, MASK)
    lowered = text.lower()
    for pattern, words in _PATTERNS:
        if any(word in lowered for word in words):
            text = pattern.sub(r"\1" + MASK, text)
    return text


def redact_notebook(notebook: dict[str, Any]) -> dict[str, Any]:
    """An nbformat v4 notebook dict with :func:`redact` applied to every source and text output (not images)."""
    cells = [_redact_cell(cell) for cell in notebook.get("cells", [])]
    return {**notebook, "cells": cells}


def _redact_cell(cell: dict[str, Any]) -> dict[str, Any]:
    redacted = {**cell, "source": _redact_text(cell.get("source", ""))}
    if "outputs" in cell:
        redacted["outputs"] = [_redact_output(output) for output in cell["outputs"]]
    return redacted


def _redact_output(output: dict[str, Any]) -> dict[str, Any]:
    redacted = {key: _redact_text(value) if key in ("text", "evalue") else value for key, value in output.items()}
    if "traceback" in output:
        redacted["traceback"] = [redact(line) for line in output["traceback"]]
    if "data" in output:
        redacted["data"] = {mime: _redact_text(value) if mime.startswith("text/") else value for mime, value in output["data"].items()}
    return redacted


def _redact_text(value: Any) -> Any:
    """A string or nbformat's list of lines, redacted; anything else unchanged."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return redact("".join(value)).splitlines(keepends=True) if value else value
    return value
