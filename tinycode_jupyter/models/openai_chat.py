"""The OpenAI Chat Completions protocol: OpenAI, and every server that speaks it (vLLM, llama.cpp,
LM Studio, Ollama's ``/v1``, OpenRouter, Groq, Together, DeepSeek, proxies).

Messages, tools and image parts are already in this protocol's format and go out as they are;
``model_kwargs`` (``temperature``, ``max_tokens``, …, and ``extra_body``) join the request body.
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from ..llm import Usage
from .base import NativeModel
from .builder import ResponseBuilder
from .failures import StatusFailure, expect_object, one_line


class OpenAIChatModel(NativeModel):
    """``POST {api_base}/chat/completions``, whole or streamed as server-sent events."""

    path = "/chat/completions"

    def headers(self, api_key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def request_body(self, messages: list[dict[str, Any]], stream: bool) -> dict[str, Any]:
        options = dict(self.options)
        extra = options.pop("extra_body", None) or {}
        body: dict[str, Any] = {"model": self.route.wire_model, "messages": messages, **options, **extra}
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    async def read_whole(self, answer: Any, builder: ResponseBuilder) -> None:
        answer = _checked(answer)
        if answer.get("usage"):
            builder.usage = _usage(answer["usage"])
        choices = answer.get("choices") or []
        if not choices:
            return
        choice = choices[0]
        message = choice.get("message") or {}
        builder.finish_reason = choice.get("finish_reason") or "stop"
        await builder.add_text(message.get("content") or "")
        for index, call in enumerate(message.get("tool_calls") or ()):
            function = call.get("function") or {}
            await builder.add_call(index, call.get("id") or "", function.get("name") or "", _arguments(function.get("arguments")))

    async def read_stream(self, lines: AsyncIterator[bytes], builder: ResponseBuilder) -> None:
        async for line in lines:
            if not line.startswith(b"data:"):
                continue  # blank lines, comments (": keep-alive") and event names
            payload = line[5:].strip()
            if payload and payload != b"[DONE]":
                await self._read_chunk(_checked(self.parse_json(payload)), builder)

    async def _read_chunk(self, chunk: dict[str, Any], builder: ResponseBuilder) -> None:
        if chunk.get("usage"):
            builder.usage = _usage(chunk["usage"])
        for choice in chunk.get("choices") or ():
            if choice.get("finish_reason"):
                builder.finish_reason = choice["finish_reason"]
            delta = choice.get("delta") or {}
            if delta.get("content"):
                await builder.add_text(delta["content"])
            for piece in delta.get("tool_calls") or ():
                index = piece.get("index")
                index = len(builder.calls) if index is None else int(index)
                function = piece.get("function") or {}
                if piece.get("id") or function.get("name"):
                    await builder.start_call(index, piece.get("id") or "", function.get("name") or "")
                if function.get("arguments"):
                    await builder.add_arguments(index, _arguments(function["arguments"]))


def _checked(answer: Any) -> dict[str, Any]:
    """The answer object; an error reported inside a 200 answer (some servers stream them) is a failure."""
    answer = expect_object(answer)
    error = answer.get("error")
    if error:
        message = error.get("message") if isinstance(error, dict) else error
        code = error.get("code") if isinstance(error, dict) else None
        status = code if isinstance(code, int) and 400 <= code < 600 else 500
        raise StatusFailure(status, one_line(str(message or error)))
    return answer


def _arguments(arguments: Any) -> str:
    """Arguments as JSON text (some servers send an object)."""
    if arguments is None:
        return ""
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _usage(usage: dict[str, Any]) -> Usage:
    details = usage.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") or usage.get("prompt_cache_hit_tokens") or 0  # DeepSeek names it so
    return Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0), int(cached))
