"""Events the agent loop emits to hooks, and the decisions hooks may return.

Hooks are callables taking one :class:`Event` (sync or async). A ``tool_start``
hook may return :class:`Deny` or :class:`ModifyArguments`; a ``tool_end`` hook
may return :class:`ReplaceResult`; an ``llm_start`` hook may return
:class:`ModifyMessages` to change what is sent to the model. Subclass
:class:`Hook` to get one method per event name instead.

A hook that raises is logged and ignored, except :class:`StopRun`, which ends
the run with the typed error it carries (budgets use it).
"""
from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Literal, Union

if TYPE_CHECKING:
    from .errors import TinyCodeError
    from .llm import LLMResponse, ToolCall
    from .record import RunRecord
    from .tools.base import ToolResult

log = logging.getLogger(__name__)

EventName = Literal["agent_start", "llm_start", "llm_delta", "llm_end", "tool_start", "tool_end", "agent_end"]


@dataclass
class Event:
    name: EventName
    run_id: str
    turn: int = 0
    prompt: str | None = None
    """agent_start: the user's prompt."""
    messages: list[dict[str, Any]] | None = None
    """llm_start: the messages about to be sent (do not mutate; return :class:`ModifyMessages`)."""
    model: str | None = None
    """llm_start: the model about to be called."""
    text_delta: str | None = None
    """llm_delta: a piece of the model's text as it streams."""
    tool_call_delta: dict[str, Any] | None = None
    """llm_delta: a piece of a streamed tool call ``{index, id, name, arguments}``."""
    response: "LLMResponse | None" = None
    """llm_end: the full model response, with usage and cost."""
    tool_call: "ToolCall | None" = None
    """tool_start / tool_end: the call being run."""
    result: "ToolResult | None" = None
    """tool_end: what the tool returned."""
    record: "RunRecord | None" = None
    """agent_start / agent_end: the run record (final on agent_end)."""
    error: BaseException | None = None
    """agent_end: why the run failed, if it did."""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Deny:
    """Returned by a ``tool_start`` hook: do not run the tool; tell the model why."""

    reason: str


@dataclass(frozen=True)
class ModifyArguments:
    """Returned by a ``tool_start`` hook: run the tool with these arguments instead."""

    arguments: dict[str, Any]


@dataclass(frozen=True)
class ReplaceResult:
    """Returned by a ``tool_end`` hook: give the model this text instead of the tool's result."""

    text: str


@dataclass(frozen=True)
class ModifyMessages:
    """Returned by an ``llm_start`` hook: send these messages for this call only.

    The conversation itself is unchanged. Later hooks see them in ``event.messages``,
    so transforms compose in the order the hooks were added.
    """

    messages: list[dict[str, Any]]


class StopRun(Exception):
    """Raise from a hook to end the run with ``error`` (a typed error such as ``BudgetExceeded``)."""

    def __init__(self, error: "TinyCodeError") -> None:
        super().__init__(str(error))
        self.error = error


Decision = Union[Deny, ModifyArguments, ReplaceResult, ModifyMessages, None]
Callback = Callable[[Event], Union[Decision, Awaitable[Decision]]]


class Hook:
    """Convenience base: dispatches each event to ``on_<event name>`` if defined."""

    def __call__(self, event: Event) -> Decision | Awaitable[Decision]:
        handler = getattr(self, f"on_{event.name}", None)
        return handler(event) if handler is not None else None


class EventBus:
    """Delivers events to callbacks in order; a failing callback is logged, never fatal (except :class:`StopRun`)."""

    def __init__(self) -> None:
        self.callbacks: list[Callback] = []

    def add(self, callback: Callback) -> None:
        if not callable(callback):
            raise TypeError(f"callbacks must be callable, got {type(callback).__name__}")
        self.callbacks.append(callback)

    def remove(self, callback: Callback) -> None:
        self.callbacks.remove(callback)

    def wants(self, name: EventName) -> bool:
        """Whether any callback listens for ``name`` (plain functions listen to everything)."""
        return any(not isinstance(cb, Hook) or hasattr(cb, f"on_{name}") for cb in self.callbacks)

    async def emit(self, event: Event) -> list[Decision]:
        """Send ``event`` to every callback and return their non-None decisions."""
        decisions: list[Decision] = []
        for callback in self.callbacks:
            try:
                outcome = callback(event)
                if inspect.isawaitable(outcome):
                    outcome = await outcome
            except StopRun as stop:  # the one deliberate way for a hook to end the run
                raise stop.error from None
            except Exception:  # a hook must never break the run
                log.exception("callback %r failed on %s", callback, event.name)
                continue
            if isinstance(outcome, ModifyMessages):
                event.messages = outcome.messages
            if isinstance(outcome, ModifyArguments):  # later hooks (an approval) see what will run
                event.extra["arguments"] = outcome.arguments
            if outcome is not None:
                decisions.append(outcome)
        return decisions
