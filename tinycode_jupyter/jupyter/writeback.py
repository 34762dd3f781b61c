"""JupyterNotebookCallback: write what the agent did back into the notebook as cells.

Mechanisms, best first:
- the frontend extension (JupyterLab 4 / Notebook 7) or the headless runner answers on
  the comm (:mod:`.comm_protocol`): every code cell that worked is inserted live below
  the agent's cell, a re-run replaces the cells of the previous run, never a user's
  cell, and the agent cell is then marked as answered (:mod:`.answered`);
- otherwise ``set_next_input``: one combined code cell after the agent's cell finishes.

Every cell written live is stamped as the agent's (``cell_id``, ``source_sha``:
:func:`~tinycode_jupyter.notebook.records.stamp_agent_cell`). A run from a chat (the sidebar,
``%agent chat``) has no agent cell: it appends below its anchor instead of replacing, and
records its prompt (:mod:`.asked`).
"""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Callable, Literal

from ..events import AgentEnd, AgentStart, Hook, LLMEnd, ToolEnd
from ..notebook.records import stamp_agent_cell
from . import cells as cellmod
from .comm_protocol import HELLO, HELLO_TIMEOUT, METADATA_KEY, TARGET, VERSION

log = logging.getLogger(__name__)
UNANSWERED_RETRY_TIMEOUT = 0.15
"""Seconds to wait for a frontend after the previous run's handshake went unanswered."""
Schedule = Callable[[Callable[[], Any]], None]
Role = Literal["prompt", "code", "answer"]
OnWritten = Callable[[str, Role, "str | None"], None]
"""Told of each cell sent to the frontend: its id, what it holds, and the tool call it came from."""

if TYPE_CHECKING:
    from .asked import Asked


class CommChannel:
    """The kernel's end of the cell-insertion comm.

    Each run opens a fresh comm and asks again, so a reloaded page or a second frontend
    that opened the notebook later still gets the cells. When the last handshake went
    unanswered (VS Code, classic Notebook) the next one waits only briefly.
    """

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self._comm: Any = None
        self._ready = threading.Event()
        self._answered_before: bool | None = None

    def frontend_ready(self, timeout: float = HELLO_TIMEOUT) -> bool:
        """Open a new comm and wait for a frontend's ``ready``."""
        self._ready.clear()
        self.schedule(self._open)
        wait = timeout if self._answered_before is not False else min(timeout, UNANSWERED_RETRY_TIMEOUT)
        self._answered_before = self._ready.wait(wait)
        return self._answered_before

    def send(self, data: dict[str, Any]) -> None:
        comm = self._comm
        self.schedule(lambda: comm.send(data))

    def _open(self) -> None:
        from comm import create_comm

        if self._comm is not None:
            self._comm.close()
        self._comm = create_comm(target_name=TARGET, data=HELLO)
        self._comm.on_msg(self._on_message)

    def _on_message(self, message: dict[str, Any]) -> None:
        data = message.get("content", {}).get("data", {})
        if data.get("action") == "ready" and data.get("version") == VERSION:
            self._ready.set()


class JupyterNotebookCallback(Hook):
    """Inserts the run's code cells that worked (with outputs) and the answer below the agent's cell.

    ``anchor_cell_id`` is the agent cell's id (from the execute request); ``schedule``
    runs a function on the kernel's main thread; ``channel`` is the kernel's cells comm.
    Only what worked is written (:class:`.cells.WorkedOnly`): a failed step's cell waits
    until a later step works (then it is dropped) or the run ends (then it is written).
    ``mark_answered(run_id)`` is called on the main thread once a run that answered has had
    its cells written live, so the agent cell can be marked as answered (:mod:`.answered`).

    ``asked``: the run comes from a chat; its cells are appended below the anchor (the cells of
    earlier runs stay), carry the prompt, and a markdown cell saying what was asked comes first.
    ``on_written`` is told of each cell written live (from the agent's thread).
    """

    def __init__(self, anchor_cell_id: str | None, channel: CommChannel | None,
                 set_next_input: Callable[[str], None] | None, schedule: Schedule,
                 mark_answered: Callable[[str], None] | None = None, *, asked: Asked | None = None,
                 on_written: OnWritten | None = None) -> None:  # fmt: skip
        self.anchor_cell_id = anchor_cell_id
        self.channel = channel
        self.set_next_input = set_next_input
        self.schedule = schedule
        self.mark_answered = mark_answered
        self.asked = asked
        self.on_written = on_written
        self.mechanism: str = "none"
        self._inserted = 0
        self._turn_tokens = 0
        self._choice: cellmod.WorkedOnly[tuple[dict[str, Any], str]] = cellmod.WorkedOnly()
        self.model = ""
        self.provider = "kernel"

    @property
    def live(self) -> bool:
        return self._live_channel() is not None

    def _live_channel(self) -> CommChannel | None:
        """The comm when this run's cells are written live, else None."""
        return self.channel if self.mechanism == "comm" else None

    def on_agent_start(self, event: AgentStart) -> None:
        self._inserted = 0
        self._choice = cellmod.WorkedOnly()
        self.model, self.provider = event.model, event.provider
        if self.channel is not None and self.anchor_cell_id and self.channel.frontend_ready():
            self.mechanism = "comm"
            if self.asked is None:
                self.channel.send({"action": "replace_run", "anchor_cell_id": self.anchor_cell_id, "run_id": event.run_id})
        else:
            self.mechanism = "set_next_input" if self.set_next_input is not None else "none"

    def on_llm_end(self, event: LLMEnd) -> None:
        self._turn_tokens = event.response.usage.total_tokens if event.response else 0

    def on_tool_end(self, event: ToolEnd) -> None:
        channel = self._live_channel()
        if channel is None:
            return
        cell = cellmod.cell_for_call(event.record, self._metadata(event.run_id, event.turn), self.provider)
        if cell is not None:
            for ready, call_id in self._choice.add((cell, event.tool_call.id), cellmod.keeps_its_cell(event.record)):
                self._upsert(channel, event.run_id, ready, "code", call_id)

    def on_agent_end(self, event: AgentEnd) -> None:
        record = event.record
        if record is None:
            return
        channel = self._live_channel()
        if channel is not None:
            for unfixed, call_id in self._choice.finish():
                self._upsert(channel, record.run_id, unfixed, "code", call_id)
            if record.answer:
                turn = record.steps[-1].turn if record.steps else 0
                answer = cellmod.answer_cell(record.answer, self._metadata(record.run_id, turn))
                self._upsert(channel, record.run_id, answer, "answer")
                if record.error is None and self.mark_answered is not None:
                    mark, run_id = self.mark_answered, record.run_id
                    self.schedule(lambda: mark(run_id))
        elif self.mechanism == "set_next_input":
            source = cellmod.combined_source(record)
            set_next_input = self.set_next_input
            if source is not None and set_next_input is not None:
                self.schedule(lambda: set_next_input(source))

    def _metadata(self, run_id: str, turn: int) -> dict[str, Any]:
        metadata = cellmod.cell_metadata(run_id, 0, turn, self.model, self._turn_tokens, self.anchor_cell_id, self.provider)
        if self.asked is not None:
            metadata[METADATA_KEY]["prompt"] = self.asked.prompt
        return metadata

    def _upsert(self, channel: CommChannel, run_id: str, cell: dict[str, Any], role: Role,
                call_id: str | None = None) -> None:  # fmt: skip
        """Send one cell, numbered as the run's next written cell, stamped as the agent's; a chat run's
        question goes first."""
        if self.asked is not None and self._inserted == 0 and role != "prompt":
            turn = cell["metadata"][METADATA_KEY]["turn"]
            self._upsert(channel, run_id, self.asked.cell(self._metadata(run_id, turn)), "prompt")
        cell["metadata"][METADATA_KEY]["step"] = self._inserted
        self._inserted += 1
        stamp_agent_cell(cell)
        channel.send({"action": "upsert_cell", "anchor_cell_id": self.anchor_cell_id, "run_id": run_id, "cell": cell})
        if self.on_written is not None:
            self.on_written(cell["id"], role, call_id)
