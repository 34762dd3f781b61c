"""The Notebook interface: what the agent can see and do in the notebook that started it.

Three backends implement it: a frontend or headless runner that owns the document, reached
over the request/response protocol (:mod:`.protocol`, :mod:`.comm_backend`), and the
read-only kernel history (:mod:`.readonly`) where nothing owns a document.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import TinyCodeError

CellType = Literal["code", "markdown", "raw"]
CELL_TYPES: tuple[CellType, ...] = ("code", "markdown", "raw")
UserCellPolicy = Literal["allow", "review", "deny", "read_only"]
"""What the document's owner does with an edit or delete of a user's cell: apply it, ask the
user (Accept/Reject), refuse it (headless without ``--allow-edits``), or nothing can change."""
ChangeKind = Literal["added", "edited", "deleted", "ran"]
TOOL_NAMES = ("read_cells", "insert_cell", "edit_cell", "delete_cell", "run_cells")
"""The notebook tools, offered to runs started from a notebook."""


@dataclass(frozen=True)
class CellInfo:
    """One cell as the agent sees it."""

    id: str
    index: int
    cell_type: CellType
    source: str
    execution_count: int | None = None
    outputs: tuple[dict[str, Any], ...] = ()
    agent: bool = False
    """Written by the agent and not since copied or edited by the user."""
    run_id: str | None = None
    """The run that wrote it (agent cells only)."""

    @property
    def first_line(self) -> str:
        return next((line for line in self.source.splitlines() if line.strip()), "")


@dataclass(frozen=True)
class CellChange:
    """A change the user made since the agent's last turn."""

    kind: ChangeKind
    cell_id: str
    index: int | None = None
    """Where the cell is now (None: deleted)."""
    first_line: str = ""
    detail: str = ""


@dataclass(frozen=True)
class TurnSnapshot:
    """The cells when the agent's last turn ended: ``(id, source_sha, was the agent's)`` in order."""

    run_id: str
    cells: tuple[tuple[str, str, bool], ...] = ()


@dataclass(frozen=True)
class NotebookState:
    """Everything one look at the notebook gives."""

    cells: tuple[CellInfo, ...]
    name: str = ""
    agent_cell_id: str | None = None
    last_turn: TurnSnapshot | None = None


class NotebookError(TinyCodeError):
    """A notebook request failed; ``code`` says why (see :data:`.protocol.ERROR_CODES`)."""

    def __init__(self, code: str, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail or {}


class NotebookReadOnly(NotebookError):
    """This backend cannot change the notebook; the change is only proposed."""

    def __init__(self, reason: str) -> None:
        super().__init__("read_only", reason)


@dataclass(frozen=True)
class RevertSummary:
    """What reverting one run did to the cells (the owner's ``revert_run`` result)."""

    run_id: str
    removed: tuple[str, ...] = ()
    """Cells the run inserted, removed."""
    restored: tuple[str, ...] = ()
    """Cells the run edited, back to their source before the run."""
    reinserted: tuple[str, ...] = ()
    """Cells the run deleted, back in the notebook."""
    kept: tuple[tuple[str, str], ...] = ()
    """``(cell id, why)`` of the cells the run touched that were left as they are (the user changed them since)."""

    def line(self) -> str:
        """One line: the cells removed, restored and brought back, then each kept cell with its reason."""
        parts = [f"{verb} {', '.join(ids)}" for verb, ids in (("removed", self.removed), ("restored", self.restored),
                                                              ("brought back", self.reinserted)) if ids]  # fmt: skip
        kept = [f"kept {cell_id} ({why})" for cell_id, why in self.kept]
        return f"run {self.run_id}: " + ("; ".join(parts + kept) or "no cell to change")


@dataclass
class RunInfo:
    """What writes are stamped with: the run, the agent cell and the model."""

    run_id: str = ""
    anchor_cell_id: str | None = None
    model: str = ""


class Notebook(abc.ABC):
    """The notebook a run was started from. Every method may raise :class:`NotebookError`."""

    policy: UserCellPolicy = "read_only"
    live: bool = False
    """True when changes are applied to a document (False: proposed only)."""
    why_not_live: str = ""

    @abc.abstractmethod
    async def state(self, cell_ids: list[str] | None = None) -> NotebookState:
        """The cells (all, or those of ``cell_ids`` that exist), in notebook order."""

    @abc.abstractmethod
    async def insert(self, source: str, cell_type: CellType, after_cell_id: str | None, run: RunInfo) -> CellInfo:
        """A new agent cell below ``after_cell_id`` (None: at the top); returns it with its new id."""

    @abc.abstractmethod
    async def edit(self, cell_id: str, new_source: str, expected_source: str, run: RunInfo) -> CellInfo:
        """Replace the source, if it is still ``expected_source``; the previous one is recorded."""

    @abc.abstractmethod
    async def delete(self, cell_id: str, expected_source: str, run: RunInfo) -> CellInfo:
        """Remove the cell, if its source is still ``expected_source``; it is recorded for restoring."""

    @abc.abstractmethod
    async def save_outputs(self, cell_id: str, outputs: list[dict[str, Any]], execution_count: int | None,
                           run: RunInfo) -> None:  # fmt: skip
        """Store a run's outputs in the cell, as running it in the frontend would."""

    @abc.abstractmethod
    async def remember_turn(self, snapshot: TurnSnapshot) -> None:
        """Keep ``snapshot`` for the next run's "changed since your last turn"."""

    @abc.abstractmethod
    async def revert(self, run_id: str) -> RevertSummary:
        """Undo what run ``run_id`` did to the cells (``revert_run`` in :mod:`.protocol`)."""

    async def close(self) -> None:
        return None
