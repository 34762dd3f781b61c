"""What a chat run leaves in the notebook about its question.

A run asked from the sidebar or from ``%agent chat`` has no agent cell holding its prompt. So its
cells record it: each written cell carries ``metadata.tinycode.prompt``, and a short markdown cell
above them says what was asked (``**Asked in the sidebar:** …``), the prompt shown as the text it
is (:func:`.literal_markdown`). It is a markdown cell, so Run All never asks the model again.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..untrusted_text import literal_markdown
from . import cells as cellmod
from .writeback import JupyterNotebookCallback, OnWritten

Surface = Literal["the sidebar", "the chat"]
SHOWN_CHARS = 1000
"""Characters of the prompt the markdown cell shows; the whole prompt is in the metadata."""


@dataclass(frozen=True)
class Asked:
    """The question of one chat run, and where it was asked."""

    prompt: str
    where: Surface

    def cell(self, metadata: dict[str, Any]) -> cellmod.Cell:
        """The markdown cell that says what was asked."""
        shown = self.prompt if len(self.prompt) <= SHOWN_CHARS else self.prompt[:SHOWN_CHARS] + "…"
        return cellmod.markdown_cell(f"**Asked in {self.where}:** {literal_markdown(shown)}", metadata)


def chat_writeback(session: Any, runner: Any, anchor_cell_id: str | None, asked: Asked,
                   on_written: OnWritten | None = None) -> JupyterNotebookCallback:  # fmt: skip
    """The write-back of a chat run: its cells appended below ``anchor_cell_id``, its question recorded."""
    return JupyterNotebookCallback(anchor_cell_id, session.cells_channel(runner), None, runner.call_on_main,
                                   asked=asked, on_written=on_written)  # fmt: skip
