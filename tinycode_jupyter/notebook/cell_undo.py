"""The kernel's side of undoing runs' cells: ``%agent undo`` asks the notebook's owner to revert each run.

:class:`NotebookCellReverter` is the :class:`~tinycode_jupyter.kernel_undo.CellReverter` that
``%agent undo`` passes to :meth:`~tinycode_jupyter.kernel_undo.UndoHistory.undo`. It finds the
notebook the way a run does (the owner that answers a hello sent with the undo cell's id), sends
``revert_run`` for each run (newest first) and says in one line what happened, or why nothing
did: no owner answered (a read-only notebook), or the undo did not come from a cell.
"""
from __future__ import annotations

from typing import Awaitable, Callable, Sequence

from .base import Notebook, NotebookError, NotebookReadOnly

NO_CELL = "the undo did not come from a notebook cell, so no notebook was asked"


class NotebookCellReverter:
    """Reverts the cells of runs in the notebook ``find()`` returns; ``kernel_cell_id``: the cell asking."""

    def __init__(self, find: Callable[[], Awaitable[Notebook]], kernel_cell_id: str | None) -> None:
        self.find = find
        self.kernel_cell_id = kernel_cell_id

    async def revert_runs(self, run_ids: Sequence[str]) -> str:
        if self.kernel_cell_id is None:
            return f"not reverted: {NO_CELL}"
        notebook = await self.find()
        done: list[str] = []
        try:
            for run_id in run_ids:
                done.append((await notebook.revert(run_id)).line())
        except NotebookReadOnly as exc:
            return f"not reverted: {exc}"
        except NotebookError as exc:
            return "; ".join(done + [f"not reverted from run {run_ids[len(done)]} on: {exc}"])
        finally:
            await notebook.close()
        return "; ".join(done)
