"""Cassettes: record every model request/response to a JSON file, and replay them without a model.

Replay fails loudly (:class:`CassetteMismatch`) when a request no longer matches
what was recorded: the user prompts and the tool calls the conversation made
must be the same. Tool *outputs* and the system prompt may differ (paths,
timings), so notebooks replay on any machine.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .errors import TinyCodeError
from .llm import LLM, DeltaCallback, LLMResponse, ToolCall, Usage

FORMAT_VERSION = 1


class CassetteMismatch(TinyCodeError):
    """A replayed request differs from the recorded one, or the cassette ran out."""


def request_key(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
    """What must match on replay: user prompts, assistant tool calls, and the tool names offered."""
    conversation = []
    for message in messages:
        if message["role"] == "user":
            conversation.append({"user": message.get("content")})
        elif message["role"] == "assistant" and message.get("tool_calls"):
            conversation.append({"calls": [[c["function"]["name"], c["function"]["arguments"]] for c in message["tool_calls"]]})
    return {"conversation": conversation, "tools": sorted(t["function"]["name"] for t in tools)}


class RecordingLLM:
    """Wraps a real model and appends each exchange to a cassette file (written after every call)."""

    def __init__(self, inner: LLM, path: str | os.PathLike[str]) -> None:
        self.inner = inner
        self.model = inner.model
        self.path = Path(path)
        self.exchanges: list[dict[str, Any]] = []

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], on_delta: DeltaCallback | None = None) -> LLMResponse:
        response = await self.inner.complete(messages, tools, on_delta)
        self.exchanges.append({"request": request_key(messages, tools), "response": _dump(response)})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"version": FORMAT_VERSION, "model": self.model, "exchanges": self.exchanges}
        self.path.write_text(json.dumps(payload, indent=1))
        return response


class ReplayLLM:
    """Serves recorded responses in order, checking each request against the recording."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            payload = json.loads(self.path.read_text())
        except FileNotFoundError:
            raise CassetteMismatch(f"cassette {self.path} does not exist; record it first with --record") from None
        if payload.get("version") != FORMAT_VERSION:
            raise CassetteMismatch(f"cassette {self.path} has format version {payload.get('version')}, expected {FORMAT_VERSION}")
        self.model = payload.get("model", "cassette")
        self.exchanges = payload["exchanges"]
        self.position = 0

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], on_delta: DeltaCallback | None = None) -> LLMResponse:
        if self.position >= len(self.exchanges):
            raise CassetteMismatch(f"cassette {self.path} has only {len(self.exchanges)} recorded requests; the run made more")
        exchange = self.exchanges[self.position]
        key = request_key(messages, tools)
        if key != exchange["request"]:
            raise CassetteMismatch(
                f"request {self.position + 1} does not match cassette {self.path}:\n"
                f"  recorded: {json.dumps(exchange['request'])[:500]}\n  now:      {json.dumps(key)[:500]}\n"
                "re-record the cassette with --record"
            )
        self.position += 1
        response = _load(exchange["response"])
        if on_delta and response.content:
            await on_delta(response.content, None)
        return response


def _dump(response: LLMResponse) -> dict[str, Any]:
    return {
        "content": response.content,
        "tool_calls": [asdict(c) for c in response.tool_calls],
        "usage": asdict(response.usage),
        "cost": response.cost,
        "model": response.model,
        "finish_reason": response.finish_reason,
    }


def _load(data: dict[str, Any]) -> LLMResponse:
    return LLMResponse(
        data["content"],
        [ToolCall(**c) for c in data["tool_calls"]],
        Usage(**data["usage"]),
        cost=data["cost"],
        model=data["model"],
        finish_reason=data["finish_reason"],
    )
