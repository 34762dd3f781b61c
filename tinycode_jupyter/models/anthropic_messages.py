"""The Anthropic Messages protocol, with prompt caching.

The agent speaks OpenAI-shaped messages; they are translated here: system messages become
``system`` blocks, tool calls ``tool_use`` blocks, tool results ``tool_result`` blocks in a
user turn, ``image_url`` parts ``image`` blocks. ``cache_control`` marks (see
:mod:`tinycode_jupyter.hooks.prompt_cache`) stay on the blocks they mark. Usage counts every
prompt token (fresh, read from the cache and written to it); ``cached_tokens`` are the reads.
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from ..llm import Usage
from .base import NativeModel, arguments_object
from .builder import ResponseBuilder
from .failures import StatusFailure, expect_object, one_line

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
"""Anthropic requires ``max_tokens``; litellm's default too. Set ``model_kwargs={"max_tokens": N}`` to change it."""
STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "tool_use": "tool_calls", "max_tokens": "length", "pause_turn": "stop"}


class AnthropicMessagesModel(NativeModel):
    """``POST {api_base}/v1/messages``, whole or streamed as server-sent events."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.path = "/messages" if self.route.base_url.rstrip("/").endswith("/v1") else "/v1/messages"

    def headers(self, api_key: str | None) -> dict[str, str]:
        return {"anthropic-version": API_VERSION, **({"x-api-key": api_key} if api_key else {})}

    def wire_tools(self, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [_tool(t) for t in tools]

    def request_body(self, messages: list[dict[str, Any]], stream: bool) -> dict[str, Any]:
        system, turns = to_anthropic(messages)
        options = dict(self.options)
        if "stop" in options:
            stop = options.pop("stop")
            options["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop or ())
        if "max_completion_tokens" in options:
            options["max_tokens"] = options.pop("max_completion_tokens")
        if "tool_choice" in options:
            options["tool_choice"] = _tool_choice(options["tool_choice"])
        body: dict[str, Any] = {"model": self.route.wire_model, "max_tokens": DEFAULT_MAX_TOKENS, **options, "messages": turns}
        if system:
            body["system"] = system
        if stream:
            body["stream"] = True
        return body

    async def read_whole(self, answer: Any, builder: ResponseBuilder) -> None:
        answer = _checked(answer)
        _add_usage(builder, answer.get("usage") or {})
        for block in answer.get("content") or ():
            if block.get("type") == "text":
                await builder.add_text(block.get("text") or "")
            elif block.get("type") == "tool_use":
                await builder.add_call(len(builder.calls), block.get("id") or "", block.get("name") or "", _input_text(block.get("input")))
        reason = answer.get("stop_reason")
        builder.finish_reason = STOP_REASONS.get(reason, reason) if reason else None

    async def read_stream(self, lines: AsyncIterator[bytes], builder: ResponseBuilder) -> None:
        calls: dict[int, int] = {}  # content block index -> tool call index
        async for line in lines:
            if line.startswith(b"data:"):
                await self._read_event(_checked(self.parse_json(line[5:].strip())), builder, calls)

    async def _read_event(self, event: dict[str, Any], builder: ResponseBuilder, calls: dict[int, int]) -> None:
        kind = event.get("type")
        if kind == "message_start":
            _add_usage(builder, (event.get("message") or {}).get("usage") or {})
        elif kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                index = calls[int(event.get("index") or 0)] = len(calls)
                await builder.start_call(index, block.get("id") or "", block.get("name") or "")
                if block.get("input"):
                    await builder.add_arguments(index, _input_text(block["input"]))
            elif block.get("type") == "text":
                await builder.add_text(block.get("text") or "")
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta":
                await builder.add_text(delta.get("text") or "")
            elif delta.get("type") == "input_json_delta" and int(event.get("index") or 0) in calls:
                await builder.add_arguments(calls[int(event.get("index") or 0)], delta.get("partial_json") or "")
        elif kind == "message_delta":
            _add_usage(builder, event.get("usage") or {})
            reason = (event.get("delta") or {}).get("stop_reason")
            if reason:
                builder.finish_reason = STOP_REASONS.get(reason, reason)


def to_anthropic(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """OpenAI-shaped messages as Anthropic's ``system`` blocks and alternating user/assistant turns."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "system":
            system += _blocks(message.get("content"))
            continue
        if role == "assistant":
            blocks = _blocks(message.get("content")) + [_tool_use(c) for c in message.get("tool_calls") or ()]
        elif role == "tool":
            role, blocks = "user", [_tool_result(message)]
        else:
            role, blocks = "user", _blocks(message.get("content"))
        if not blocks:
            continue  # an empty turn is refused by the API
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += blocks
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def _blocks(content: Any) -> list[dict[str, Any]]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks = []
    for part in content:
        block = _image(part) if part.get("type") == "image_url" else dict(part)
        if block.get("type") == "text" and not block.get("text"):
            continue
        if "cache_control" in part:
            block["cache_control"] = part["cache_control"]
        blocks.append(block)
    return blocks


def _image(part: dict[str, Any]) -> dict[str, Any]:
    image = part.get("image_url")
    url = image.get("url", "") if isinstance(image, dict) else str(image or "")
    if url.startswith("data:") and ";base64," in url:
        media_type, data = url[len("data:") :].split(";base64,", 1)
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _tool_use(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    return {"type": "tool_use", "id": call.get("id") or "", "name": function.get("name") or "",
            "input": arguments_object(function.get("arguments"))}  # fmt: skip


def _tool_result(message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    result: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.get("tool_call_id") or ""}
    if isinstance(content, list):
        parts = _blocks(content)
        if any("cache_control" in p for p in parts):
            result["cache_control"] = next(p["cache_control"] for p in parts if "cache_control" in p)
        result["content"] = [{k: v for k, v in p.items() if k != "cache_control"} for p in parts]
    else:
        result["content"] = "" if content is None else str(content)
    return result


def _tool(schema: dict[str, Any]) -> dict[str, Any]:
    function = schema.get("function") or {}
    tool = {"name": function.get("name") or "", "description": function.get("description") or "",
            "input_schema": function.get("parameters") or {"type": "object", "properties": {}}}  # fmt: skip
    if "cache_control" in schema:
        tool["cache_control"] = schema["cache_control"]
    return tool


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    return {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}.get(choice, choice)


def _input_text(value: Any) -> str:
    """A ``tool_use`` input as JSON text (a string, which the API never sends, is kept as it came)."""
    return value if isinstance(value, str) else json.dumps(value if value is not None else {})


def _add_usage(builder: ResponseBuilder, usage: dict[str, Any]) -> None:
    """Merge one usage report (``message_start`` has the prompt's, ``message_delta`` the output's)."""
    if not usage:
        return
    current = builder.usage
    read = int(usage.get("cache_read_input_tokens") or 0) if "cache_read_input_tokens" in usage else current.cached_tokens
    written = int(usage.get("cache_creation_input_tokens") or 0) if "cache_creation_input_tokens" in usage else builder.cache_write_tokens
    if "input_tokens" in usage:
        prompt = int(usage.get("input_tokens") or 0) + read + written
    else:
        prompt = current.prompt_tokens
    completion = int(usage["output_tokens"] or 0) if "output_tokens" in usage else current.completion_tokens
    builder.usage = Usage(prompt, completion, read)
    builder.cache_write_tokens = written


def _checked(answer: Any) -> dict[str, Any]:
    """The answer or event object; an error event (``overloaded_error`` mid-stream) is a failure, tried again."""
    answer = expect_object(answer)
    if answer.get("type") == "error":
        error = answer.get("error") or {}
        kind = error.get("type", "") if isinstance(error, dict) else ""
        message = error.get("message", "") if isinstance(error, dict) else str(error)
        status = 529 if kind == "overloaded_error" else 429 if kind == "rate_limit_error" else 500
        raise StatusFailure(status, one_line(message or kind or "error event"))
    return answer
