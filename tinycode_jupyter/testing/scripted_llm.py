"""An in-process scripted model for unit tests: the same scripts as the loopback server, no HTTP."""
from __future__ import annotations

import itertools
from typing import Any, Iterable

from ..errors import LLMError
from ..llm import DeltaCallback, LLMResponse, ToolCall, Usage
from .script import Responder, ScriptItem, resolve, usage_for


class ScriptedLLM:
    """Answers each model call with the next script item; records every request."""

    def __init__(self, script: Iterable[ScriptItem] | Responder = (), model: str = "scripted-model") -> None:
        self.model = model
        self._responder: Responder | None = script if callable(script) else None
        self._script = [] if callable(script) else list(script)
        self.requests: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def add(self, *items: ScriptItem) -> None:
        self._script.extend(items)

    async def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], on_delta: DeltaCallback | None = None
    ) -> LLMResponse:
        request = {"model": self.model, "messages": [dict(m) for m in messages], "tools": tools}
        self.requests.append(request)
        reply = resolve(self._next_item(), request)
        if reply.fault is not None:
            raise LLMError(f"scripted fault: {reply.fault.kind} ({reply.fault.message})", model=self.model)
        if on_delta and reply.content:
            await on_delta(reply.content, None)
        calls = [ToolCall(spec.id or f"call_{next(self._ids)}", spec.name, spec.arguments_json()) for spec in reply.tool_calls]
        prompt, completion = usage_for(request, reply)
        finish = "tool_calls" if calls else "stop"
        return LLMResponse(reply.content, calls, Usage(prompt, completion), model=self.model, finish_reason=finish)

    def _next_item(self) -> ScriptItem:
        if self._responder is not None:
            return self._responder
        if not self._script:
            raise LLMError(f"ScriptedLLM: script exhausted after {len(self.requests) - 1} requests", model=self.model)
        return self._script.pop(0)
