"""References to cells in a prompt: ``{In[n]}``, ``{Out[n]}``, ``{Err[n]}`` (Jupyter AI's forms) and ``@cell:<id>``.

Each is replaced, where it stands, by a labelled code block: the source of execution ``n`` as
typed (``In``), the text of its result (``Out``, as the kernel displayed it), the traceback of its
error without colours (``Err``, from the kernel's :class:`~.error_log.ErrorLog`), or a notebook
cell's source and outputs (``@cell:``, an id or a unique prefix of one). Each block holds at most
:data:`REFERENCE_CHARS` characters of its text (a cell's source and its outputs each; head and
tail kept), and a prompt may hold
:data:`MAX_REFERENCES` different references: at most about 24,400 characters, 7,600 tokens by
tiktoken (``bench/bench_fix_prompt.py``), twice that if all are ``@cell:`` with long outputs. An unknown ``n`` or id is a one-line
:class:`UnknownReference`. Nothing is evaluated: ``n`` is read as digits, ids as characters.
``{name}`` and ``@name`` stay variable references (:mod:`.variables`).
"""
from __future__ import annotations

import re
from typing import Any

from ..errors import TinyCodeError
from ..notebook.base import NotebookState
from ..notebook.cell_errors import cut
from ..notebook.cell_index import CellIndex
from ..notebook.tools import outputs_text
from ..untrusted_text import code_block
from .error_log import ErrorLog

REFERENCE_CHARS = 3_000
MAX_REFERENCES = 8
FORMS = re.compile(r"\{(In|Out|Err)\[(\d+)\]\}|(?<![\w@.])@cell:([\w-]+(?:\[\d+\])?)")


class UnknownReference(TinyCodeError):
    """A reference in a prompt names an execution or a cell that does not exist (or has no output or error)."""


def expand_references(prompt: str, shell: Any, errors: ErrorLog, state: NotebookState) -> str:
    """``prompt`` with each reference replaced by what it names; call on the kernel's main thread."""
    found = list(dict.fromkeys(match[0] for match in FORMS.finditer(prompt)))
    if len(found) > MAX_REFERENCES:
        raise UnknownReference(f"the prompt has {len(found)} references; {MAX_REFERENCES} at most")
    if not found:
        return prompt
    texts: dict[str, str] = {}

    def replace(match: re.Match[str]) -> str:
        if match[0] not in texts:
            texts[match[0]] = _expanded(match, shell, errors, state)
        return texts[match[0]]

    return FORMS.sub(replace, prompt)


def _expanded(match: re.Match[str], shell: Any, errors: ErrorLog, state: NotebookState) -> str:
    if match[3] is not None:
        return _cell(match[3], state)
    kind, number = match[1], int(match[2])
    if kind == "In":
        return _block(f"In[{number}]", _input(shell, number, match[0]), "python")
    if kind == "Out":
        outputs = shell.user_ns.get("Out") or {}
        if number not in outputs:
            raise UnknownReference(f"{match[0]}: execution {number} has no result in Out{_known(outputs)}")
        return _block(f"Out[{number}]", _display_text(shell, outputs[number]), "text")
    error = errors.by_count(number)
    if error is None:
        raise UnknownReference(f"{match[0]}: execution {number} raised no error this kernel recorded{_known(errors.errors)}")
    return _block(f"Err[{number}] ({error.headline()})", error.traceback, "text")


def _input(shell: Any, number: int, written: str) -> str:
    inputs = shell.history_manager.input_hist_raw
    if not 0 < number < len(inputs):
        last = f" (In has 1 to {len(inputs) - 1})" if len(inputs) > 1 else " (nothing has run yet)"
        raise UnknownReference(f"{written}: no execution {number} in this kernel's history{last}")
    return str(inputs[number])


def _display_text(shell: Any, value: Any) -> str:
    """The result as the kernel displayed it (text/plain); a failing ``__repr__`` is named, not raised."""
    try:
        data, _ = shell.display_formatter.format(value, include=("text/plain",))
        return str(data.get("text/plain", ""))
    except Exception as exc:  # the user's repr failed: say so rather than fail the prompt
        return f"<its text is unavailable: {type(exc).__name__}>"


def _cell(given: str, state: NotebookState) -> str:
    index = CellIndex()
    index.update(state, complete=True)
    cell_id = index.lookup(given)
    if cell_id is None:
        raise UnknownReference(f"@cell:{given}: no cell has this id. {index.nearby(given)}")
    cell = index.cells[cell_id]
    outputs = outputs_text(cell.outputs, limit=REFERENCE_CHARS) if cell.cell_type == "code" else ""
    body = code_block(cut(cell.source, REFERENCE_CHARS), "python" if cell.cell_type == "code" else "")
    shown = f"\n{code_block(outputs, 'text')}" if outputs else ""
    return f"\ncell {cell.id} (#{cell.index + 1}, {cell.cell_type}):\n{body}{shown}\n"


def _block(label: str, text: str, language: str) -> str:
    return f"\n{label}:\n{code_block(cut(text, REFERENCE_CHARS), language)}\n"


def _known(numbers: Any) -> str:
    keys = sorted(numbers)[-8:]
    return f" (it has {', '.join(map(str, keys))})" if keys else ""
