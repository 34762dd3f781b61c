"""Tool dispatch: parse the model's arguments, ask hooks, run the tool once, truncate.

Bad input from the model (unknown tool, malformed JSON, wrong arguments) becomes
a precise tool result for the model to act on; it never raises.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any

from .errors import RunCancelled
from .events import Deny, Event, EventBus, ModifyArguments, ReplaceResult
from .llm import ToolCall
from .record import ToolCallRecord
from .tools.base import Tool, ToolArgumentError, ToolResult
from .truncation import TruncationConfig, truncate

log = logging.getLogger(__name__)


class ToolDispatcher:
    def __init__(self, tools: dict[str, Tool], bus: EventBus, truncation: TruncationConfig) -> None:
        self.tools = tools
        self.bus = bus
        self.truncation = truncation

    async def dispatch(self, call: ToolCall, run_id: str, turn: int) -> ToolCallRecord:
        """Run one tool call and return its record; the model-facing text is ``record.result``."""
        started = time.perf_counter()
        arguments, problem = self._parse(call)
        record = ToolCallRecord(call.id, call.name, arguments if problem is None else call.arguments)
        event = Event("tool_start", run_id, turn, tool_call=call, extra={"arguments": arguments})
        result = ToolResult(problem, ok=False) if problem else await self._run_with_hooks(event, arguments)
        end_decisions = await self.bus.emit(Event("tool_end", run_id, turn, tool_call=call, result=result, extra={"arguments": arguments}))
        for decision in end_decisions:
            if isinstance(decision, ReplaceResult):
                result = ToolResult(decision.text, ok=result.ok, exec_result=result.exec_result, value=result.value)
        record.result = truncate(result.text, self.truncation)
        record.ok = result.ok
        record.exec_result = result.exec_result
        record.duration = time.perf_counter() - started
        return record

    def _parse(self, call: ToolCall) -> tuple[dict[str, Any], str | None]:
        tool = self.tools.get(call.name)
        if tool is None:
            known = ", ".join(sorted(self.tools)) or "none"
            return {}, f"Error: unknown tool {call.name!r}. Available tools: {known}."
        try:
            arguments = json.loads(call.arguments or "{}")
        except json.JSONDecodeError as exc:
            return {}, (
                f"Error: the arguments of {call.name} are not valid JSON ({exc.msg} at char {exc.pos}). "
                "Send one JSON object with the arguments."
            )
        if not isinstance(arguments, dict):
            return {}, f"Error: the arguments of {call.name} must be a JSON object, got {type(arguments).__name__}."
        try:
            tool.check_arguments(arguments)
        except ToolArgumentError as exc:
            return arguments, f"Error: {exc}"
        return arguments, None

    async def _run_with_hooks(self, event: Event, arguments: dict[str, Any]) -> ToolResult:
        decisions = await self.bus.emit(event)
        denials = [d.reason for d in decisions if isinstance(d, Deny)]
        if denials:
            return ToolResult("Denied by the user's policy, nothing was run: " + "; ".join(denials), ok=False)
        for decision in decisions:
            if isinstance(decision, ModifyArguments):
                arguments = decision.arguments
        event.extra["arguments"] = arguments
        return await self.invoke(self.tools[event.tool_call.name], arguments)

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


def _to_text(value: Any) -> str:
    if value is None:
        return "[done]"
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=repr)
    except (TypeError, ValueError):
        return repr(value)
