"""The structured record of a run: steps, tool calls, usage and cost."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from .accounting import add_costs
from .llm import Usage
from .providers.base import ExecResult
from .tools.effects import ActionView, Effect

CallOutcome = Literal["ran", "failed", "denied", "blocked", "invalid"]
"""ran: the tool ran and succeeded; failed: it ran and failed; denied: an interceptor or hook
said no; blocked: a policy check or a failing interceptor stopped it; invalid: bad arguments."""


@dataclass
class ToolCallRecord:
    """One tool call: what was asked, what it was declared to do, what happened."""

    id: str
    name: str
    arguments: dict[str, Any] | str
    """Parsed arguments, or the raw text when the model sent malformed JSON."""
    result: str = ""
    ok: bool = True
    duration: float = 0.0
    exec_result: ExecResult | None = None
    effects: tuple[Effect, ...] = ()
    view: ActionView | None = None
    """How the call looks, from its tool: the code, command or diff, and the cell it becomes."""
    outcome: CallOutcome = "ran"
    origin: Literal["model", "code"] = "model"
    """``code``: a custom tool called by code that ``run_python`` ran."""

    @property
    def ran(self) -> bool:
        """Whether the tool was invoked (it may have failed)."""
        return self.outcome in ("ran", "failed")


@dataclass
class Step:
    """One model turn and the tool calls it made."""

    turn: int
    content: str
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost: float | None = 0.0
    """US$; None when the model's price is unknown."""
    llm_duration: float = 0.0


@dataclass(frozen=True, slots=True)
class NotRestorable:
    """Something undo cannot put back, listed before the step runs: a variable (or what the code does) and why."""

    name: str
    reason: str

    def line(self) -> str:
        return f"{self.name}: {self.reason}"


@dataclass(frozen=True, slots=True)
class UndoPoint:
    """Saved before one step that ran code in the kernel, so that ``%agent undo`` can put the variables back."""

    call_id: str
    turn: int
    saved: tuple[str, ...]
    """Variables first saved by this step: their values before the run are kept."""
    not_restorable: tuple[NotRestorable, ...] = ()
    copied_bytes: int = 0
    """About the bytes this step's copies take, or can take: a copy-on-write copy (a pandas object)
    counts its full size, which it takes only where the step rewrites it."""
    duration: float = 0.0


@dataclass
class RunRecord:
    run_id: str
    prompt: str
    model: str
    provider: str
    steps: list[Step] = field(default_factory=list)
    answer: str | None = None
    error: str | None = None
    undo_points: list[UndoPoint] = field(default_factory=list)
    """What was checkpointed before each step that ran code in the live kernel (see ``%agent undo``)."""
    started_at: float = field(default_factory=time.time)
    duration: float = 0.0

    @property
    def usage(self) -> Usage:
        total = Usage()
        for step in self.steps:
            total = total + step.usage
        return total

    @property
    def cost(self) -> float | None:
        """US$ of every step; None when a step's price is unknown."""
        return add_costs(step.cost for step in self.steps)

    @property
    def tool_calls(self) -> list[ToolCallRecord]:
        return [call for step in self.steps for call in step.tool_calls]


class RunResult(str):
    """The final answer (a ``str``) with the run's record attached as ``.record``."""

    record: RunRecord

    def __new__(cls, answer: str, record: RunRecord) -> "RunResult":
        instance = super().__new__(cls, answer)
        instance.record = record
        return instance

    @property
    def usage(self) -> Usage:
        return self.record.usage

    @property
    def cost(self) -> float | None:
        return self.record.cost
