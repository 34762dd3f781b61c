"""A line in the agent cell's output, from the agent's thread: what undo will not be able to restore."""
from __future__ import annotations

from typing import Any, Callable

from ..untrusted_text import markdown_text, terminal_text

Schedule = Callable[[Callable[[], Any]], None]


def cell_notice(schedule: Schedule) -> Callable[[str], None]:
    """Shows ``text`` in the cell, scheduled on the kernel's main thread (where outputs reach the cell)."""

    def show(text: str) -> None:
        from IPython.display import display

        bundle = {"text/markdown": markdown_text(text), "text/plain": terminal_text(text)}
        schedule(lambda: display(bundle, raw=True))

    return show
