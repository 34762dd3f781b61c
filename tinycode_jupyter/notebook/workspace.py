"""One run started from a notebook: find the notebook, give the agent its context and tools, remember the turn.

:class:`NotebookConnector` (one per kernel session) finds the notebook for each run: the
document owner over a comm when one answers (JupyterLab / Notebook 7 with the extension, or
``tinycode run``), else the kernel's history, read-only. :func:`run_in_notebook` then runs the
agent with the outline, variables and changes appended to the prompt, the five notebook tools
and the user-cell guard for that run only, and saves the snapshot of the cells when it ends.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar, Union

from ..events import AgentEnd, AgentStart, Hook
from . import protocol
from .base import Notebook, NotebookError, NotebookState, RunInfo, TurnSnapshot
from .cell_index import CellIndex
from .comm_backend import CommTransport, Transport, connect
from .context import build_context, variables
from .readonly import HistoryNotebook, TurnMemory
from .records import source_sha
from .tools import CellTools, UserCellGuard

if TYPE_CHECKING:
    from ..agent import TinyCodeAgent
    from ..record import RunResult

log = logging.getLogger(__name__)
T = TypeVar("T")
OnMain = Callable[[Callable[[], T]], Awaitable[T]]
Schedule = Callable[[Callable[[], Any]], None]
PromptSource = Union[str, Callable[[NotebookState], str]]
"""A prompt, or what writes it from the notebook's state when the run starts (``%agent fix``, cell references)."""


class NotebookConnector:
    """Finds the notebook of each run of one kernel session.

    ``transport(schedule)`` makes the channel a hello goes out on: a comm (the default), or a
    :class:`~.comm_backend.DirectTransport` to a document owner in the kernel's own process.
    """

    def __init__(self, shell: Any, transport: Callable[[Schedule], Transport] = CommTransport) -> None:
        self.shell = shell
        self.memory = TurnMemory()
        self.transport = transport
        self._answered: bool | None = None

    async def find(self, schedule: Schedule, on_main: OnMain, kernel_cell_id: str | None) -> Notebook:
        """The document owner that answers (only asked when the run comes from a cell with an id), else the history.

        After a hello went unanswered in this kernel, later ones wait only briefly.
        """
        if kernel_cell_id is not None:
            timeout = protocol.UNANSWERED_HELLO_TIMEOUT if self._answered is False else protocol.HELLO_TIMEOUT
            found = await connect(self.transport(schedule), kernel_cell_id, timeout)
            self._answered = found is not None
            if found is not None:
                return found
        return HistoryNotebook(self.shell, self.memory, on_main)


class NotebookWorkspace(Hook):
    """The notebook tools and guard of one run; it learns the run's id when the run starts and
    saves the turn's snapshot when it ends."""

    def __init__(self, notebook: Notebook, agent: "TinyCodeAgent", kernel_cell_id: str | None) -> None:
        self.notebook = notebook
        self.index = CellIndex()
        self.run = RunInfo(anchor_cell_id=kernel_cell_id)
        self.cell_tools = CellTools(notebook, agent.provider, self.index, self.run, vision=agent.vision)
        self.guard = UserCellGuard(notebook, self.index)
        self._tool_names: list[str] = []

    async def look(self) -> NotebookState:
        """The notebook as the run starts (the index learns it, and which cell is the agent's)."""
        state = await self.notebook.state()
        self.index.update(state, complete=True)
        self.index.agent_cell_id = self.run.anchor_cell_id or state.agent_cell_id
        self.run.anchor_cell_id = self.index.agent_cell_id
        return state

    async def context(self, variables_text: str | None, state: NotebookState | None = None) -> str:
        return build_context(state or await self.look(), self.notebook, variables_text)

    def attach(self, agent: "TinyCodeAgent") -> None:
        self._tool_names = [agent.add_tool(item).name for item in self.cell_tools.tools()]
        agent.add_interceptor(self.guard)
        agent.add_callback(self)

    def detach(self, agent: "TinyCodeAgent") -> None:
        for name in self._tool_names:
            agent.remove_tool(name)
        agent.remove_callback(self.guard)
        agent.remove_callback(self)

    def on_agent_start(self, event: AgentStart) -> None:
        self.run.run_id, self.run.model = event.run_id, event.model

    async def on_agent_end(self, event: AgentEnd) -> None:
        """Remember the cells for the next run's "what changed"; a notebook gone meanwhile (an interrupt,
        a closed tab) only means the next run cannot say what changed, so it is logged, not shown."""
        try:
            state = await self.notebook.state()
            cells = tuple((c.id, source_sha(c.source), c.agent) for c in state.cells)
            await self.notebook.remember_turn(TurnSnapshot(event.run_id, cells))
        except NotebookError as exc:
            log.info("the notebook's state after run %s was not kept: %s", event.run_id, exc)


async def run_in_notebook(agent: "TinyCodeAgent", prompt: PromptSource, connector: NotebookConnector, schedule: Schedule,
                          on_main: OnMain, kernel_cell_id: str | None) -> "RunResult":  # fmt: skip
    """In a kernel: find the notebook, describe the user's variables and write the prompt (on the main thread), run."""
    from ..jupyter.variables import brief

    notebook = await connector.find(schedule, on_main, kernel_cell_id)
    try:
        shell = connector.shell
        shared = agent.provider.capabilities.shares_user_namespace
        names = await on_main(lambda: variables(shell.user_ns, shell.user_ns_hidden, brief)) if shared else None
        return await run_with_notebook(agent, prompt, notebook, kernel_cell_id, names, on_main)
    finally:
        await notebook.close()


async def run_with_notebook(agent: "TinyCodeAgent", prompt: PromptSource, notebook: Notebook, kernel_cell_id: str | None,
                            variables_text: str | None = None, on_main: OnMain | None = None) -> "RunResult":  # fmt: skip
    """Run ``agent`` on ``prompt`` with the notebook's context appended and its tools offered for this run only.

    A callable ``prompt`` is written from the notebook as the run starts (through ``on_main``); what it
    raises ends the run before any model call.
    """
    workspace = NotebookWorkspace(notebook, agent, kernel_cell_id)
    state = await workspace.look()
    if not isinstance(prompt, str):
        write = prompt
        prompt = await on_main(lambda: write(state)) if on_main is not None else write(state)
    context = await workspace.context(variables_text, state)
    workspace.attach(agent)
    try:
        return await agent.run(prompt, context=context)
    finally:
        workspace.detach(agent)
