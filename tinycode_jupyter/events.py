"""Events the agent loop emits to hooks: frozen, typed, one class per kind.

Hooks are watchers: callables taking one event (sync or async), or :class:`Hook`
subclasses with one ``on_<event name>`` method per kind. They observe copies (a
hook cannot change the loop's messages or records through an event) and a hook
that raises is logged and ignored, so a broken UI never breaks a run.

Two transforms are allowed: an ``llm_start`` hook may return :class:`ModifyMessages`
(what is sent to the model this once) and a ``tool_end`` hook :class:`ReplaceResult`
(what the model reads). Control (deny, approve, change arguments, budgets) belongs
to interceptors (:mod:`tinycode_jupyter.actions`), which fail closed. A watcher
that returns :class:`Deny` is obeyed too (denying is always safe), and
:class:`StopRun` raised anywhere ends the run with the typed error it carries.
"""
from __future__ import annotations

import copy
import inspect
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Awaitable, Callable, ClassVar, Literal, Union

if TYPE_CHECKING:
    from .errors import TinyCodeError
    from .llm import LLMResponse, ToolCall
    from .record import RunRecord, ToolCallRecord
    from .tools.base import ToolResult
    from .tools.effects import ActionView, Effect

log = logging.getLogger(__name__)

EventName = Literal["agent_start", "llm_start", "llm_delta", "llm_end", "tool_start", "tool_end", "agent_end"]
Origin = Literal["model", "code"]
"""Who made a tool call: the model, or code run by ``run_python`` calling a custom tool."""


@dataclass(frozen=True, kw_only=True)
class Event:
    """What every event has: its kind, the run and the model turn (0 before the first)."""

    name: ClassVar[EventName]
    run_id: str
    turn: int = 0


@dataclass(frozen=True, kw_only=True)
class AgentStart(Event):
    name: ClassVar[EventName] = "agent_start"
    prompt: str
    model: str
    provider: str


@dataclass(frozen=True, kw_only=True)
class LLMStart(Event):
    name: ClassVar[EventName] = "llm_start"
    messages: tuple[dict[str, Any], ...]
    """The messages about to be sent (copies); return :class:`ModifyMessages` to change them."""
    model: str


@dataclass(frozen=True, kw_only=True)
class LLMDelta(Event):
    name: ClassVar[EventName] = "llm_delta"
    text_delta: str | None = None
    """A piece of the model's text as it streams."""
    tool_call_delta: dict[str, Any] | None = None
    """A piece of a streamed tool call ``{index, id, name, arguments}``."""


@dataclass(frozen=True, kw_only=True)
class LLMEnd(Event):
    name: ClassVar[EventName] = "llm_end"
    response: "LLMResponse"
    """The full model response, with usage and cost."""


@dataclass(frozen=True, kw_only=True)
class ToolEvent(Event):
    """What both tool events have."""

    tool_call: "ToolCall"
    arguments: dict[str, Any]
    """The parsed arguments that run (after any interceptor changed them); ``{}`` for invalid ones."""
    view: "ActionView"
    """How the call looks: title, code/command/diff, language; the one source every surface reads."""
    origin: Origin = "model"


@dataclass(frozen=True, kw_only=True)
class ToolStart(ToolEvent):
    name: ClassVar[EventName] = "tool_start"
    effects: tuple["Effect", ...]


@dataclass(frozen=True, kw_only=True)
class ToolEnd(ToolEvent):
    name: ClassVar[EventName] = "tool_end"
    result: "ToolResult"
    record: "ToolCallRecord"
    """The typed record of the call: its effects, its outcome (ran, denied, blocked, invalid) and timing."""


@dataclass(frozen=True, kw_only=True)
class AgentEnd(Event):
    name: ClassVar[EventName] = "agent_end"
    record: "RunRecord"
    """A copy of the final run record."""
    error: BaseException | None = None
    """Why the run failed, if it did."""


AnyEvent = Union[AgentStart, LLMStart, LLMDelta, LLMEnd, ToolStart, ToolEnd, AgentEnd]


@dataclass(frozen=True)
class Deny:
    """Do not run the tool; tell the model why (from an interceptor, or any hook on ``tool_start``)."""

    reason: str


@dataclass(frozen=True)
class ModifyArguments:
    """Returned by an interceptor: run the tool with these arguments instead (they are checked again)."""

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
    """Raise from a hook or an interceptor to end the run with ``error`` (a typed error such as ``BudgetExceeded``)."""

    def __init__(self, error: "TinyCodeError") -> None:
        super().__init__(str(error))
        self.error = error


Decision = Union[Deny, ModifyArguments, ReplaceResult, ModifyMessages, None]
Callback = Callable[[Any], Union[Decision, Awaitable[Decision]]]


class Hook:
    """Convenience base: dispatches each event to ``on_<event name>`` if defined."""

    def __call__(self, event: Event) -> Decision | Awaitable[Decision]:
        handler = getattr(self, f"on_{event.name}", None)
        return handler(event) if handler is not None else None


def copy_messages(messages: list[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """Deep copies of ``messages`` for hooks to look at."""
    return tuple(copy.deepcopy(messages))


class EventBus:
    """Delivers events to watchers in order; a failing watcher is logged, never fatal (except :class:`StopRun`)."""

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
        """Send ``event`` to every callback and return their non-None decisions.

        After a :class:`ModifyMessages`, later callbacks get an event with those messages.
        """
        decisions: list[Decision] = []
        for callback in self.callbacks:
            try:
                outcome = callback(event)
                if inspect.isawaitable(outcome):
                    outcome = await outcome
            except StopRun as stop:  # the one deliberate way for a hook to end the run
                raise stop.error from None
            except Exception:  # a watcher must never break the run
                log.exception("callback %r failed on %s", callback, event.name)
                continue
            if isinstance(outcome, ModifyMessages) and isinstance(event, LLMStart):
                event = replace(event, messages=copy_messages(outcome.messages))
            if outcome is not None:
                decisions.append(outcome)
        return decisions
