"""The cells a run has seen, and how the model's cell ids resolve against them.

The model may give an id or a unique prefix of one (the outline shows prefixes). An id that
matches nothing is an error that lists the closest valid ids, with their positions and first lines.
"""
from __future__ import annotations

import difflib
from dataclasses import replace
from collections.abc import Iterable

from .base import CellInfo, NotebookError, NotebookState
from .context import one_line, short_ids

MIN_PREFIX = 3
MAX_SUGGESTIONS = 5


class CellIndex:
    """The latest state of each cell seen in this run, in notebook order."""

    def __init__(self) -> None:
        self.cells: dict[str, CellInfo] = {}
        self.agent_cell_id: str | None = None

    def update(self, state: NotebookState, complete: bool) -> None:
        """Take in what a look at the notebook returned; ``complete``: it listed every cell."""
        if complete:
            self.cells = {}
        for cell in state.cells:
            self.cells[cell.id] = cell
        self.agent_cell_id = state.agent_cell_id or self.agent_cell_id

    def put(self, cell: CellInfo) -> None:
        self.cells[cell.id] = cell

    def inserted(self, cell: CellInfo) -> None:
        """A new cell at ``cell.index``: the cells from there on move down one."""
        self._shift(cell.index, +1)
        self.cells[cell.id] = cell

    def removed(self, cell: CellInfo) -> None:
        self.cells.pop(cell.id, None)
        self._shift(cell.index + 1, -1)

    def _shift(self, start: int, by: int) -> None:
        for cell_id, cell in self.cells.items():
            if cell.index >= start:
                self.cells[cell_id] = replace(cell, index=cell.index + by)

    def ordered(self) -> list[CellInfo]:
        return sorted(self.cells.values(), key=lambda c: c.index)

    def lookup(self, given: str) -> str | None:
        """The full id ``given`` names (itself, or the one id it is a prefix of), or None."""
        if given in self.cells:
            return given
        matches = [cell_id for cell_id in self.cells if len(given) >= MIN_PREFIX and cell_id.startswith(given)]
        return matches[0] if len(matches) == 1 else None

    def resolve(self, given: str) -> str:
        """The full id, or :class:`NotebookError` ``unknown_cell`` naming the closest valid ids."""
        found = self.lookup(given)
        if found is not None:
            return found
        matches = [cell_id for cell_id in self.cells if len(given) >= MIN_PREFIX and cell_id.startswith(given)]
        if len(matches) > 1:
            raise NotebookError("unknown_cell", f"the id {given!r} is the start of {len(matches)} cells' ids; give more "
                                f"of it: {self.describe(matches)}", {"cell_id": given})  # fmt: skip
        raise NotebookError("unknown_cell", f"no cell has the id {given!r}. {self.nearby(given)}", {"cell_id": given})

    def nearby(self, given: str) -> str:
        ordered = self.ordered()
        if not ordered:
            return "The notebook has no cells."
        shown = short_ids(ordered)
        close = difflib.get_close_matches(given, list(shown.values()) + list(shown), n=MAX_SUGGESTIONS, cutoff=0.4)
        by_shown = {v: k for k, v in shown.items()}
        closest = list(dict.fromkeys(by_shown.get(c, c) for c in close))
        if not closest:
            closest = [c.id for c in ordered[:MAX_SUGGESTIONS]]
            return f"Valid ids are {self.describe(closest)}{' …' if len(ordered) > MAX_SUGGESTIONS else ''}; read_cells() lists all."
        return f"Closest valid ids: {self.describe(closest)}; read_cells() lists all."

    def describe(self, ids: Iterable[str]) -> str:
        shown = short_ids(self.ordered())
        parts = []
        for cell_id in ids:
            cell = self.cells[cell_id]
            parts.append(f"{shown.get(cell_id, cell_id)!r} (#{cell.index + 1}: {one_line(cell.first_line, 40) or 'empty'})")
        return ", ".join(parts)
