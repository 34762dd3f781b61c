"""The read-only notebook: the kernel's own history, where no document owner answers.

Classic Notebook, VS Code and plain kernels have no extension that owns the document, so the
agent sees what the kernel ran (``In[n]`` as typed, ``Out[n]``) and every change is only
proposed: the tools show it as a diff in the cell output and tell the model why it was not applied.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable, TypeVar

from .base import CellInfo, CellType, Notebook, NotebookReadOnly, NotebookState, RevertSummary, RunInfo, TurnSnapshot

T = TypeVar("T")
OnMain = Callable[[Callable[[], T]], Awaitable[T]]
MAX_OUT_CHARS = 200
NOT_LIVE = ("no notebook frontend with the tinycode extension answered (classic Notebook, VS Code or a plain "
            "kernel), so the kernel cannot change cells; it can only show the change")  # fmt: skip


@dataclass
class TurnMemory:
    """Where a kernel keeps the last turn's snapshot when the notebook cannot (one per session)."""

    snapshot: TurnSnapshot | None = None


def history_id(number: int) -> str:
    return f"In[{number}]"


class HistoryNotebook(Notebook):
    """``In``/``Out`` as cells with ids ``In[1]``, ``In[2]``…; the last input is the cell running the agent."""

    live = False
    policy = "read_only"

    def __init__(self, shell: Any, memory: TurnMemory, on_main: OnMain | None = None, why_not_live: str = NOT_LIVE) -> None:
        self.shell = shell
        self.memory = memory
        self.on_main = on_main
        self.why_not_live = why_not_live

    async def state(self, cell_ids: list[str] | None = None) -> NotebookState:
        cells = await self.on_main(self._cells) if self.on_main is not None else self._cells()
        chosen = cells if cell_ids is None else tuple(c for c in cells if c.id in set(cell_ids))
        executing = cells[-1].id if cells else None
        return NotebookState(chosen, "kernel history", executing, self.memory.snapshot)

    def _cells(self) -> tuple[CellInfo, ...]:
        """On the kernel's main thread: ``repr`` of an output runs the user's code."""
        inputs = list(self.shell.history_manager.input_hist_raw)
        outputs = self.shell.user_ns.get("Out") or {}
        return tuple(CellInfo(history_id(n), n - 1, "code", source, n, _output(outputs, n))
                     for n, source in enumerate(inputs) if n > 0)  # fmt: skip

    async def insert(self, source: str, cell_type: CellType, after_cell_id: str | None, run: RunInfo) -> CellInfo:
        raise NotebookReadOnly(self.why_not_live)

    async def edit(self, cell_id: str, new_source: str, expected_source: str, run: RunInfo) -> CellInfo:
        raise NotebookReadOnly(self.why_not_live)

    async def delete(self, cell_id: str, expected_source: str, run: RunInfo) -> CellInfo:
        raise NotebookReadOnly(self.why_not_live)

    async def save_outputs(self, cell_id: str, outputs: list[dict[str, Any]], execution_count: int | None,
                           run: RunInfo) -> None:  # fmt: skip
        raise NotebookReadOnly(self.why_not_live)

    async def remember_turn(self, snapshot: TurnSnapshot) -> None:
        self.memory.snapshot = snapshot

    async def revert(self, run_id: str) -> RevertSummary:
        raise NotebookReadOnly(self.why_not_live)


def _output(outputs: dict[int, Any], number: int) -> tuple[dict[str, Any], ...]:
    if number not in outputs:
        return ()
    try:
        text = repr(outputs[number])
    except Exception as exc:  # a broken __repr__ must not break the context
        text = f"<unavailable: {type(exc).__name__}>"
    text = text if len(text) <= MAX_OUT_CHARS else text[: MAX_OUT_CHARS - 1] + "…"
    return ({"output_type": "execute_result", "data": {"text/plain": text}, "metadata": {}, "execution_count": number},)
