"""What a scripted model answers: replies, tool calls and injected faults.

Shared by the in-process :class:`~tinycode_jupyter.testing.ScriptedLLM` and the
loopback :class:`~tinycode_jupyter.testing.ScriptedServer`, so one script
drives a unit test and an end-to-end test alike.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Union

FaultKind = Literal[
    "status",  # HTTP error with `status` (and `retry_after` seconds for 429)
    "reset",  # close the connection without an answer
    "delay",  # sleep `delay` seconds, then answer normally
    "cut_stream",  # stream part of the answer, then close mid-tool-call
    "empty_choices",  # a 200 answer whose `choices` list is empty
]


@dataclass
class ToolCallSpec:
    """One tool call the model makes. ``arguments`` may be a raw (even malformed) JSON string."""

    name: str
    arguments: Union[dict[str, Any], str] = field(default_factory=dict)
    id: str | None = None

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)


@dataclass
class Fault:
    kind: FaultKind
    status: int = 500
    retry_after: float | None = None
    delay: float = 0.0
    message: str = "scripted fault"


@dataclass
class Reply:
    """One model answer: text and/or tool calls, with the usage to report."""

    content: str = ""
    tool_calls: list[ToolCallSpec] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    fault: Fault | None = None
    chunk_size: int = 16
    """Characters per streamed content delta."""
    cached_tokens: int = 0
    """Prompt tokens reported as read from the provider's prompt cache (part of ``prompt_tokens``)."""
    cache_write_tokens: int = 0
    """Prompt tokens reported as written to the cache (Anthropic only; part of ``prompt_tokens``)."""
    report_usage: bool = True
    """False: answer without any usage block, as some servers do (OpenAI and Ollama wires)."""


Responder = Callable[[dict[str, Any]], Reply]
"""A function from the request (OpenAI-shaped ``model``, ``messages``, ``tools``, whatever the
protocol it came in) to the reply, for open-ended scripts."""

ScriptItem = Union[Reply, str, Responder]


def say(text: str, **kwargs: Any) -> Reply:
    """A reply with text only (the model's final answer)."""
    return Reply(content=text, **kwargs)


def call(name: str, arguments: Union[dict[str, Any], str, None] = None, *, content: str = "", **kwargs: Any) -> Reply:
    """A reply that calls one tool."""
    return Reply(content=content, tool_calls=[ToolCallSpec(name, arguments if arguments is not None else {})], **kwargs)


def fault(kind: FaultKind, **kwargs: Any) -> Reply:
    """A reply that fails in the given way."""
    return Reply(fault=Fault(kind, **kwargs))


def resolve(item: ScriptItem, request: dict[str, Any]) -> Reply:
    """Turn a script item into a concrete :class:`Reply` for ``request``."""
    if isinstance(item, Reply):
        return item
    if isinstance(item, str):
        return say(item)
    return item(request)


def estimate_tokens(text: str) -> int:
    """A deterministic stand-in token count (about four characters per token)."""
    return max(1, (len(text) + 3) // 4)


def usage_for(request: dict[str, Any], reply: Reply) -> tuple[int, int]:
    """The (prompt, completion) usage a scripted model reports for ``reply``."""
    prompt = reply.prompt_tokens
    if prompt is None:
        prompt = estimate_tokens(json.dumps(request.get("messages", [])) + json.dumps(request.get("tools", [])))
    completion = reply.completion_tokens
    if completion is None:
        completion = estimate_tokens(reply.content + "".join(c.arguments_json() + c.name for c in reply.tool_calls))
    return prompt, completion
