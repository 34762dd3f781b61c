"""The action pipeline: every tool call, from the model or from code, takes the same path.

parse and validate the arguments → a typed :class:`Action` with the tool's declared
effects and view → ``tool_start`` → policy checks on the effects → interceptors
(approval, deny, budgets) → invoke once → ``tool_end`` → a typed call record.

Control fails closed: an interceptor that raises blocks the call, and the model and
the user are told why. Bad input from the model (an unknown tool, malformed or
hostile JSON, wrong arguments) becomes a precise result for the model; it never raises.
"""
from __future__ import annotations

import copy
import json
import logging
import time
from dataclasses import dataclass, replace
from typing import Any, Sequence

from .errors import RunCancelled
from .events import Deny, EventBus, ModifyArguments, Origin, ReplaceResult, StopRun, ToolEnd, ToolStart
from .json_limits import JSONLimitError, loads_bounded
from .llm import ToolCall
from .record import CallOutcome, ToolCallRecord
from .security.effect_checks import EffectChecks
from .tools.base import Tool, ToolArgumentError, ToolResult
from .tools.effects import ActionView, Effect, arguments_view
from .truncation import TruncationConfig, truncate

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Action:
    """One tool call, checked and described: what interceptors decide on."""

    call: ToolCall
    tool: Tool
    arguments: dict[str, Any]
    effects: tuple[Effect, ...]
    view: ActionView
    run_id: str
    turn: int
    origin: Origin = "model"

    @property
    def name(self) -> str:
        return self.tool.name


class Interceptor:
    """A control point, asked before every tool call and every model call; it fails closed.

    :meth:`intercept` returns None (go on), :class:`Deny` or :class:`ModifyArguments`;
    if it raises, the call is blocked. :meth:`before_model_call` may raise
    :class:`StopRun` (a budget); any other exception there stops the run too.
    """

    async def intercept(self, action: Action) -> Deny | ModifyArguments | None:
        return None

    async def before_model_call(self, run_id: str, turn: int) -> None:
        return None


class DenyTools(Interceptor):
    """Always denies the named tools (compose it with approval interceptors)."""

    def __init__(self, names: Sequence[str], reason: str = "this tool is disabled by the user's policy") -> None:
        self.names = frozenset(names)
        self.reason = reason

    async def intercept(self, action: Action) -> Deny | None:
        return Deny(self.reason) if action.name in self.names else None


class InterceptorFailed(Exception):
    """An interceptor raised: the call it was asked about does not run."""


class ActionPipeline:
    """Runs tool calls through checks and interceptors; one instance per agent."""

    def __init__(
        self,
        tools: dict[str, Tool],
        bus: EventBus,
        checks: EffectChecks,
        interceptors: list[Interceptor],
        truncation: TruncationConfig,
    ) -> None:
        self.tools = tools
        self.bus = bus
        self.checks = checks
        self.interceptors = interceptors
        self.truncation = truncation

    async def run(self, call: ToolCall, run_id: str, turn: int, origin: Origin = "model") -> tuple[ToolCallRecord, ToolResult]:
        """Run one call; its record (the model-facing text is ``record.result``) and the tool's result."""
        started = time.perf_counter()
        action, problem = self._action(call, run_id, turn, origin)
        if action is None:
            view = ActionView(f"Call {call.name}", _shorten(call.arguments), "json")
            return await self._finish(call, run_id, turn, origin, {}, view, (), "invalid", ToolResult(problem, ok=False), started)
        decisions = await self.bus.emit(ToolStart(run_id=run_id, turn=turn, tool_call=call, arguments=_copy(action.arguments),
                                                  effects=action.effects, view=action.view, origin=origin))  # fmt: skip
        denials = [d.reason for d in decisions if isinstance(d, Deny)]
        outcome, result, action = await self._control(action, denials)
        if outcome == "ran":
            result = await self.invoke(action.tool, action.arguments)
            outcome = "ran" if result.ok else "failed"
        return await self._finish(call, run_id, turn, origin, action.arguments, action.view, action.effects, outcome, result, started)

    def _action(self, call: ToolCall, run_id: str, turn: int, origin: Origin) -> tuple[Action | None, str]:
        tool = self.tools.get(call.name)
        if tool is None:
            known = ", ".join(sorted(self.tools)) or "none"
            return None, f"Error: unknown tool {call.name!r}. Available tools: {known}."
        arguments, problem = parse_arguments(call.name, call.arguments)
        if problem is None:
            try:
                tool.check_arguments(arguments)
            except ToolArgumentError as exc:
                problem = f"Error: {exc}"
        if problem is not None:
            return None, problem
        return self._describe(tool, call, arguments, run_id, turn, origin)

    def _describe(self, tool: Tool, call: ToolCall, arguments: dict[str, Any], run_id: str, turn: int,
                  origin: Origin) -> tuple[Action | None, str]:  # fmt: skip
        try:
            effects, view = tool.effects_of(arguments), tool.view_of(arguments)
        except Exception as exc:  # a tool that cannot say what it does does not run
            log.warning("tool %s could not describe a call", tool.name, exc_info=True)
            return None, f"Error: {tool.name} could not check these arguments ({type(exc).__name__}: {exc}); nothing was run."
        return Action(call, tool, arguments, effects, view, run_id, turn, origin), ""

    async def _control(self, action: Action, denials: list[str]) -> tuple[CallOutcome, ToolResult, Action]:
        """Policy checks, then every interceptor; the first refusal wins."""
        if denials:
            return "denied", _denied(denials), action
        findings = self.checks.check(action.effects)
        if findings:
            return "blocked", _blocked([f.message for f in findings]), action
        for interceptor in self.interceptors:
            try:
                decision = await interceptor.intercept(action)
            except StopRun as stop:
                raise stop.error from None
            except RunCancelled:
                raise
            except Exception as exc:  # control fails closed
                log.error("interceptor %r failed on %s; the call was blocked", interceptor, action.name, exc_info=True)
                return "blocked", _blocked([f"the check {type(interceptor).__name__} failed ({type(exc).__name__}: {exc})"]), action
            if isinstance(decision, Deny):
                return "denied", _denied([decision.reason]), action
            if isinstance(decision, ModifyArguments):
                changed, problem = self._modified(action, decision.arguments)
                if changed is None:
                    return "blocked", _blocked([problem]), action
                action = changed
        return "ran", ToolResult(""), action

    def _modified(self, action: Action, arguments: dict[str, Any]) -> tuple[Action | None, str]:
        """The action with new arguments, validated, described and checked again."""
        try:
            action.tool.check_arguments(arguments)
        except ToolArgumentError as exc:
            return None, f"changed arguments are not valid: {exc}"
        changed, problem = self._describe(action.tool, action.call, arguments, action.run_id, action.turn, action.origin)
        if changed is None:
            return None, problem
        findings = self.checks.check(changed.effects)
        return (None, "; ".join(f.message for f in findings)) if findings else (changed, "")

    async def _finish(self, call: ToolCall, run_id: str, turn: int, origin: Origin, arguments: dict[str, Any],
                      view: ActionView, effects: tuple[Effect, ...], outcome: CallOutcome, result: ToolResult,
                      started: float) -> tuple[ToolCallRecord, ToolResult]:  # fmt: skip
        record = ToolCallRecord(call.id, call.name, arguments if outcome != "invalid" else call.arguments,
                                ok=result.ok, exec_result=result.exec_result, effects=effects, view=view,
                                outcome=outcome, origin=origin)  # fmt: skip
        record.duration = time.perf_counter() - started
        record.result = truncate(result.text, self.truncation)
        event = ToolEnd(run_id=run_id, turn=turn, tool_call=call, arguments=_copy(arguments), result=result,
                        view=view, record=replace(record), origin=origin)  # fmt: skip
        for decision in await self.bus.emit(event):
            if isinstance(decision, ReplaceResult):
                record.result = truncate(decision.text, self.truncation)
        return record, result

    async def invoke(self, tool: Tool, arguments: dict[str, Any]) -> ToolResult:
        """Call the tool exactly once; its own failures become a result the model can read."""
        try:
            value = await tool.invoke(arguments)
        except RunCancelled:  # the user stopped the run: not a tool failure for the model to read
            raise
        except Exception as exc:  # the model must see why the tool failed
            log.debug("tool %s failed", tool.name, exc_info=True)
            return ToolResult(f"Error: {tool.name} failed: {type(exc).__name__}: {exc}", ok=False)
        if isinstance(value, ToolResult):
            return value
        return ToolResult(_to_text(value), value=value)


def parse_arguments(tool_name: str, text: str | None) -> tuple[dict[str, Any], str | None]:
    """The arguments as a dict, or a message for the model saying exactly what is wrong."""
    try:
        arguments = loads_bounded(text or "{}")
    except JSONLimitError as exc:
        return {}, (f"Error: the call to {tool_name} was refused: {exc}. Send flat JSON, and write large data "
                    "to a file in steps.")  # fmt: skip
    except json.JSONDecodeError as exc:
        return {}, (f"Error: the arguments of {tool_name} are not valid JSON ({exc.msg} at char {exc.pos}). "
                    "Send one JSON object with the arguments.")  # fmt: skip
    if not isinstance(arguments, dict):
        return {}, f"Error: the arguments of {tool_name} must be a JSON object, got {type(arguments).__name__}."
    return arguments, None


def _copy(arguments: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(arguments)


def _denied(reasons: list[str]) -> ToolResult:
    return ToolResult("Denied by the user's policy, nothing was run: " + "; ".join(reasons), ok=False)


def _blocked(reasons: list[str]) -> ToolResult:
    return ToolResult("Blocked by the security check, nothing was run:\n" + "\n".join(f"- {r}" for r in reasons), ok=False)


def _shorten(text: str | None, limit: int = 2000) -> str:
    text = text or ""
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit:,} more characters]"


def _to_text(value: Any) -> str:
    if value is None:
        return "[done]"
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=repr)
    except (TypeError, ValueError, RecursionError):
        return repr(value)
