"""Answered agent cells: an ``%%agent`` cell whose cells were written is not asked again.

When a run's cells have been written into the notebook (the frontend extension or
``tinycode run`` answered the write-back comm), the agent cell's first line gets a marker::

    %%agent --model gpt-4.1-mini --answered 5929bbcf5688:1c9e2a7b
    Load sales.csv and plot the monthly revenue.

``5929bbcf5688`` is the run whose cells sit below the cell; ``1c9e2a7b`` is the
:func:`answer_key` of the prompt and the options the cell had then. The marker lives in
the cell's source because that is the one thing every runner hands the kernel: JupyterLab,
Notebook 7, ``tinycode run``, papermill and nbval alike. The kernel writes it as an
IPython ``set_next_input`` payload with ``replace=True`` (JupyterLab and Notebook 7 replace
the cell's text with it, and ``tinycode run`` does the same: :func:`apply_replace_payload`).

Next time the cell runs, the kernel compares: the same key and no ``--rerun`` means the
cell is answered, and the model is not called. The cells below then run as ordinary
cells. A changed prompt or option changes the key, and the cell is asked again.

A client that knows the notebook can ask again anyway: an execute request whose
``metadata.tinycode.rerun`` is true (``tinycode run`` sends it for ``--rerun``, and when
none of the marker's cells is left in the notebook: :func:`needs_rerun`).
"""
from __future__ import annotations

import hashlib
import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

from ..option_values import BadOptionValue
from .comm_protocol import METADATA_KEY

OPTION = "--answered"
RERUN_OPTION = "--rerun"
KEY_CHARS = 8
_MARKER = re.compile(r"^(?P<run_id>[0-9A-Za-z_-]+):(?P<key>[0-9a-f]+)$")
_MARKER_WORDS = re.compile(r"\s+--answered(?:=|\s+)\S+")
_RERUN_WORD = re.compile(r"\s+--rerun(?=\s|$)")


@dataclass(frozen=True)
class Answered:
    """The run whose cells answer an agent cell, and the key of the prompt and options it answered."""

    run_id: str
    key: str

    def __str__(self) -> str:
        return f"{self.run_id}:{self.key}"

    def message(self, unbound: str | None = None) -> str:
        """What the cell shows instead of asking again."""
        note = f" (`{unbound}` is not set by an answered cell)" if unbound else ""
        return f"answered in run {self.run_id} — `{RERUN_OPTION}` to ask again{note}"


def parse_marker(text: str) -> Answered:
    """``RUN_ID:KEY`` as written by the kernel; :class:`BadOptionValue` otherwise."""
    match = _MARKER.match(text.strip())
    if match is None:
        raise BadOptionValue(f"{text!r} is not a marker written by tinycode (RUN_ID:KEY); remove {OPTION} to ask again")
    return Answered(match["run_id"], match["key"])


def answer_key(prompt: str, options: dict[str, Any]) -> str:
    """A short hash of the prompt and the options that change the question (None values left out)."""
    chosen = {name: value for name, value in options.items() if value is not None}
    text = json.dumps([prompt.strip(), chosen], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:KEY_CHARS]


def marked_source(code: str, answered: Answered) -> str | None:
    """The agent cell's source with the marker on its first line (and a one-shot ``--rerun`` dropped).

    ``code`` is the cell as the user wrote it (before IPython expands ``$names``); None when it
    is not an ``%%agent`` cell.
    """
    first, newline, body = code.partition("\n")
    if not first.lstrip().startswith("%%agent"):
        return None
    first = _RERUN_WORD.sub("", _MARKER_WORDS.sub("", first)).rstrip()
    return f"{first} {OPTION} {answered}{newline}{body.rstrip()}"


def marker_in(source: str) -> Answered | None:
    """The marker of an ``%%agent`` cell's source, if it has a well-formed one."""
    first = source.partition("\n")[0]
    if not first.lstrip().startswith("%%agent"):
        return None
    try:
        words = shlex.split(first)
    except ValueError:
        return None
    for index, word in enumerate(words):
        value = word[len(OPTION) + 1:] if word.startswith(OPTION + "=") else None
        if word == OPTION and index + 1 < len(words):
            value = words[index + 1]
        if value is not None:
            try:
                return parse_marker(value)
            except ValueError:
                return None
    return None


# --- the kernel's side ------------------------------------------------------------------
def request_parent(shell: Any) -> dict[str, Any]:
    """The request the kernel is handling now (an execute request, a comm message), or {} outside a kernel."""
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return {}
    try:
        parent = kernel.get_parent("shell")
    except TypeError:  # ipykernel 6
        parent = kernel.get_parent()
    return parent or {}


def rerun_requested(parent: dict[str, Any]) -> bool:
    """Whether the client asked for the cell to be asked again (``metadata.tinycode.rerun``)."""
    tag = (parent.get("metadata") or {}).get(METADATA_KEY)
    return isinstance(tag, dict) and tag.get("rerun") is True


def request_code(parent: dict[str, Any]) -> str | None:
    """The source of the cell being executed, as the frontend sent it."""
    code = (parent.get("content") or {}).get("code")
    return code if isinstance(code, str) else None


# --- a client's side (``tinycode run``) ---------------------------------------------------
def needs_rerun(cell: Any, cells: list[Any]) -> bool:
    """An answered agent cell none of whose cells is left in ``cells`` (nbformat cells) must be asked again."""
    source = cell.get("source", "")
    answered = marker_in("".join(source) if isinstance(source, list) else source)
    if answered is None:
        return False
    return not any(_run_id_of(c) == answered.run_id for c in cells)


def _run_id_of(cell: Any) -> Any:
    tag = (cell.get("metadata") or {}).get(METADATA_KEY)
    return tag.get("run_id") if isinstance(tag, dict) else None


def rerun_metadata() -> dict[str, Any]:
    """The execute request metadata that asks an agent cell again."""
    return {METADATA_KEY: {"rerun": True}}


def apply_replace_payload(cell: Any, execute_reply: dict[str, Any]) -> None:
    """Do what JupyterLab does with a ``set_next_input`` payload with ``replace=True``: replace the cell's source."""
    content = execute_reply.get("content") or {}
    if content.get("status") != "ok":
        return
    for payload in content.get("payload") or []:
        text = payload.get("text")
        if payload.get("source") == "set_next_input" and payload.get("replace") and isinstance(text, str):
            cell["source"] = text
