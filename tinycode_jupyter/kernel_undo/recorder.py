"""Checkpoints an agent's runs for undo: before each step that runs code in the live kernel, and the files once per run.

A run that only changes notebook cells (``edits_cell``) gets a checkpoint too, so undo reverts its cells.

:class:`UndoRecorder` is an interceptor (asked before every tool call, after the policy checks,
before approval) and a hook (it learns which calls did not run, and the names a run leaves).
Before a ``runs_python`` step in a provider that shares the user's namespace, it saves what the
step can change on the kernel's main thread (:mod:`.snapshot`), appends the
:class:`~tinycode_jupyter.record.UndoPoint` to the run record, and shows what cannot be
restored through :attr:`UndoRecorder.notify` before the step runs. Before the run's first step
that can change files, with git checkpoints on, it checkpoints the work dir, so undo has the
files as they were before the run.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..actions import Action, Interceptor
from ..agent import _CHANGES_FILES
from ..checkpoints import CheckpointError
from ..events import AgentEnd, Hook, ToolEnd
from ..record import UndoPoint
from .history import UndoHistory
from .snapshot import RunCheckpoint

if TYPE_CHECKING:
    from ..agent import TinyCodeAgent

CHECKPOINTS_OFF = "git checkpoints were off (auto_git_checkpoint=True turns them on)"


class UndoRecorder(Interceptor, Hook):
    """Records ``agent``'s runs in ``history``; add it with ``agent.add_callback(recorder)``."""

    def __init__(self, history: UndoHistory, agent: "TinyCodeAgent") -> None:
        self.history = history
        self.agent = agent
        self.notify: Callable[[str], None] | None = None
        """Shows a line where the run is watched (the agent cell); None: the run record only."""

    # --- before a tool call ----------------------------------------------------------------
    async def intercept(self, action: Action) -> None:
        if action.origin != "model":  # a custom tool called by code: the step running that code was saved
            return None
        changes_files = any(effect.kind in _CHANGES_FILES for effect in action.effects)
        edits_cells = any(effect.kind == "edits_cell" for effect in action.effects)
        if not changes_files and not edits_cells:
            return None
        sources = [effect.payload for effect in action.effects if effect.kind == "runs_python"]
        shell = self._shell() if sources else None
        run = self.history.find(action.run_id)
        if run is None:
            if shell is None and not edits_cells and not self.agent.checkpointer.enabled:
                return None
            run = self.history.begin(action.run_id, self._prompt(action.run_id))
        if changes_files and run.file_commit is None and run.file_note is None:
            await self._files_before(run)
        if shell is not None:
            point = await self._on_main(lambda: run.save_step(shell.user_ns, shell.user_ns_hidden,
                                                              [_plain_python(shell, s) for s in sources],
                                                              action.call.id, action.turn))  # fmt: skip
            self._add_to_record(action.run_id, point)
            if point.not_restorable and self.notify is not None:
                self.notify(notice(point))
        return None

    def _shell(self) -> Any:
        provider = self.agent.provider
        return getattr(provider, "shell", None) if provider.capabilities.shares_user_namespace else None

    def _prompt(self, run_id: str) -> str:
        record = self.agent.last_run
        return record.prompt if record is not None and record.run_id == run_id else ""

    async def _on_main(self, func: Callable[[], UndoPoint]) -> UndoPoint:
        runner = getattr(self.agent.provider, "main_thread_runner", None)
        return await runner(func) if runner is not None else func()

    def _add_to_record(self, run_id: str, point: UndoPoint) -> None:
        record = self.agent.last_run
        if record is not None and record.run_id == run_id:
            record.undo_points.append(point)

    async def _files_before(self, run: RunCheckpoint) -> None:
        """Checkpoint the work dir before the run's first step that can change it (nothing is committed if
        nothing changed since the last checkpoint), and remember that commit for undo."""
        checkpointer = self.agent.checkpointer
        if not checkpointer.enabled or not self.agent.provider.capabilities.workdir_on_host:
            run.file_note = CHECKPOINTS_OFF
            return
        result = await checkpointer.checkpoint(f"before run {run.run_id}", run.prompt)
        run.checkpointer = checkpointer
        if result.committed:
            run.file_commit = result.commit
            return
        try:
            latest = await checkpointer.log()
        except CheckpointError as exc:
            run.file_note = f"the git checkpoints could not be read: {exc}"
            return
        if latest:
            run.file_commit = latest[0].commit
        else:
            run.file_note = result.note or "the work dir had no git checkpoint before the run"

    # --- after ------------------------------------------------------------------------------
    def on_tool_end(self, event: ToolEnd) -> None:
        """A call that was denied, blocked or invalid did not run: what it saved first is forgotten."""
        if event.record.ran:
            return
        run = self.history.find(event.run_id)
        if run is not None:
            run.discard(event.tool_call.id)
        record = self.agent.last_run
        if record is not None and record.run_id == event.run_id:
            record.undo_points[:] = [p for p in record.undo_points if p.call_id != event.tool_call.id]

    def on_agent_end(self, event: AgentEnd) -> None:
        """The names the run leaves: undo removes the ones it created (and none made after it)."""
        run = self.history.find(event.run_id)
        shell = self._shell()
        if run is not None and shell is not None:
            run.finish(shell.user_ns)  # one C-level copy of the keys under the GIL: safe from this thread


def notice(point: UndoPoint) -> str:
    """The line shown before a step: what undo will not be able to put back."""
    return "↩ Undo cannot restore these, and will leave them as they are: " + "; ".join(
        item.line() for item in point.not_restorable)


def _plain_python(shell: Any, source: str | None) -> str | None:
    """The step's source as IPython will run it (magics and ``!`` lines become calls)."""
    if source is None:
        return None
    try:
        return str(shell.transform_cell(source))
    except Exception:  # IPython could not read it: it will not run either
        return source
