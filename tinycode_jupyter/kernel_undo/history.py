"""The kernel's undo history: one checkpoint per agent run, and :meth:`UndoHistory.undo` to go back N runs.

Undo puts back, newest run first, the variables each run could change (:mod:`.restore`), then the
work dir's files to the git checkpoint taken before the oldest of those runs (when git checkpoints
are on), then the notebook's cells through the :class:`CellReverter` given to :meth:`UndoHistory.undo`
(``%agent undo`` gives :class:`~tinycode_jupyter.notebook.cell_undo.NotebookCellReverter`: the notebook
owner's ``revert_run``; without one, cells are left as they are).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable, Protocol, Sequence, TypeVar

from ..errors import TinyCodeError
from ..record import NotRestorable
from .restore import Restored, restore_run
from .snapshot import DEFAULT_MAX_COPY_BYTES, RunCheckpoint

T = TypeVar("T")
OnMain = Callable[[Callable[[], T]], Awaitable[T]]
DEFAULT_MAX_RUNS = 10


class UndoError(TinyCodeError):
    """An undo that cannot be done as asked (more runs than the history holds, a run in progress)."""


@dataclass(frozen=True)
class UndoConfig:
    """``max_copy_bytes``: the most one run's checkpoints copy (objects past it are listed, not copied);
    ``max_runs``: the runs kept for undo (older ones are forgotten, and their copies freed)."""

    max_copy_bytes: int = DEFAULT_MAX_COPY_BYTES
    max_runs: int = DEFAULT_MAX_RUNS

    def __post_init__(self) -> None:
        if self.max_copy_bytes < 0 or self.max_runs < 1:
            raise ValueError(f"UndoConfig: max_copy_bytes must be >= 0 and max_runs >= 1, got {self}")

    @classmethod
    def from_environment(cls) -> "UndoConfig":
        """``TINYCODE_UNDO_MAX_MB`` and ``TINYCODE_UNDO_RUNS``, else the defaults."""
        megabytes = os.environ.get("TINYCODE_UNDO_MAX_MB", "").strip()
        runs = os.environ.get("TINYCODE_UNDO_RUNS", "").strip()
        try:
            return cls(int(float(megabytes) * 2**20) if megabytes else DEFAULT_MAX_COPY_BYTES,
                       int(runs) if runs else DEFAULT_MAX_RUNS)  # fmt: skip
        except ValueError as exc:
            raise UndoError(f"TINYCODE_UNDO_MAX_MB / TINYCODE_UNDO_RUNS: {exc}") from None


class CellReverter(Protocol):
    """Reverts the notebook cells that runs wrote or changed; returns one line saying what it did."""

    async def revert_runs(self, run_ids: Sequence[str]) -> str: ...


@dataclass(frozen=True)
class UndoneRun:
    run_id: str
    prompt: str


@dataclass(frozen=True)
class UndoReport:
    """What an undo did: the runs undone (newest first) and, for the kernel, the files and the cells."""

    runs: tuple[UndoneRun, ...] = ()
    restored: tuple[str, ...] = ()
    """Variables put back to their value before the runs."""
    removed: tuple[str, ...] = ()
    """Variables the runs created, now deleted."""
    brought_back: tuple[str, ...] = ()
    """Variables the runs deleted, bound again."""
    not_restored: tuple[NotRestorable, ...] = ()
    """What was left as it is, and why (each was listed before its step ran)."""
    files: str | None = None
    cells: str | None = None

    def text(self) -> str:
        """What happened, for the cell or a button's tooltip: one line, plus one per thing left as is."""
        if not self.runs:
            return "Nothing to undo: no agent run has changed this kernel since it started (or since the last undo)."
        which = ", ".join(f"{run.run_id} ({_excerpt(run.prompt)})" for run in self.runs)
        parts = [f"restored {_names(self.restored)}" if self.restored else "",
                 f"removed {_names(self.removed)}" if self.removed else "",
                 f"brought back {_names(self.brought_back)}" if self.brought_back else ""]  # fmt: skip
        done = "; ".join(p for p in parts if p) or "no variable had changed"
        lines = [f"Undid {len(self.runs)} run{'s' if len(self.runs) > 1 else ''} {which}: {done}."]
        lines += [f"Not restored, left as is: {item.line()}" for item in self.not_restored]
        lines += [f"Files: {self.files}"] if self.files else []
        lines += [f"Cells: {self.cells}"] if self.cells else []
        return "\n".join(lines)


class UndoHistory:
    """The runs that can be undone in one kernel, oldest first; at most ``config.max_runs`` of them."""

    def __init__(self, config: UndoConfig | None = None) -> None:
        self.config = config or UndoConfig()
        self.runs: list[RunCheckpoint] = []

    def begin(self, run_id: str, prompt: str) -> RunCheckpoint:
        """The checkpoint of a new run (the oldest ones are forgotten past ``max_runs``)."""
        run = RunCheckpoint(run_id, prompt, self.config.max_copy_bytes)
        self.runs.append(run)
        del self.runs[:-self.config.max_runs]
        return run

    def find(self, run_id: str) -> RunCheckpoint | None:
        return next((run for run in reversed(self.runs) if run.run_id == run_id), None)

    def runs_back_to(self, run_id: str) -> int:
        """How many runs to undo to undo ``run_id``: it and every run after it."""
        for back, run in enumerate(reversed(self.runs), start=1):
            if run.run_id == run_id:
                return back
        raise UndoError(f"run {run_id} cannot be undone: it was undone already, or it is older than the last "
                        f"{self.config.max_runs} runs the history keeps")  # fmt: skip

    async def undo(self, count: int, namespace: dict[str, Any], hidden: Iterable[str] = (),
                   on_main: OnMain[Any] | None = None, cells: CellReverter | None = None) -> UndoReport:  # fmt: skip
        """Undo the last ``count`` runs: variables (on the kernel's main thread, through ``on_main``), files, and
        the notebook's cells through ``cells`` (None: left as they are)."""
        if count < 1:
            raise UndoError(f"undo: the number of runs must be 1 or more, got {count}")
        if not self.runs:
            return UndoReport()
        if count > len(self.runs):
            held = len(self.runs)
            raise UndoError(f"undo {count}: only {held} run{'s' if held > 1 else ''} can be undone "
                            f"(the history keeps the last {self.config.max_runs})")  # fmt: skip
        taken = self.runs[-count:][::-1]
        del self.runs[-count:]
        hidden = frozenset(hidden)

        def restore_all() -> tuple[list[Restored], frozenset[str]]:
            return [restore_run(run, namespace, hidden) for run in taken], frozenset(namespace)

        parts, names_now = await on_main(restore_all) if on_main is not None else restore_all()
        files = await _restore_files(taken)
        cells_done = await cells.revert_runs([run.run_id for run in taken]) if cells is not None else None
        return _report(taken, parts, names_now, files, cells_done)


async def _restore_files(taken: list[RunCheckpoint]) -> str | None:
    """The work dir back to the checkpoint before the oldest run that has one; what happened, or None."""
    oldest = next((run for run in reversed(taken) if run.file_commit), None)
    if oldest is None or oldest.checkpointer is None or oldest.file_commit is None:
        notes = {run.file_note for run in taken if run.file_note}
        return f"not restored: {'; '.join(sorted(notes))}" if notes else None
    result = await oldest.checkpointer.restore(oldest.file_commit)
    if result.committed or result.note is None:
        return f"back to git checkpoint {oldest.file_commit[:12]} (before run {oldest.run_id})"
    return f"not restored: {result.note}"


def _report(taken: list[RunCheckpoint], parts: list[Restored], names_now: frozenset[str], files: str | None,
            cells: str | None) -> UndoReport:  # fmt: skip
    """One report for several runs: each name once, in the category that describes it now."""
    removed = {n for part in parts for n in part.removed if n not in names_now}
    brought_back = {n for part in parts for n in part.brought_back if n in names_now}
    restored = {n for part in parts for n in part.restored if n in names_now} - brought_back
    refused: dict[str, NotRestorable] = {}
    for part in parts:
        for item in part.not_restored:
            refused.setdefault(item.name, item)
    runs = tuple(UndoneRun(run.run_id, run.prompt) for run in taken)
    return UndoReport(runs, tuple(sorted(restored)), tuple(sorted(removed)), tuple(sorted(brought_back)),
                      tuple(refused.values()), files, cells)  # fmt: skip


def _names(names: Sequence[str]) -> str:
    return ", ".join(names)


def _excerpt(prompt: str, limit: int = 40) -> str:
    line = next((line.strip() for line in prompt.splitlines() if line.strip()), "")
    return repr(line if len(line) <= limit else line[:limit - 1] + "…")
