"""Ollama's native chat API, ``/api/chat``: native tool calls and the model options Ollama knows.

``model_kwargs`` such as ``num_ctx``, ``temperature``, ``top_k``, ``top_p``, ``repeat_penalty``,
``seed`` and ``stop`` go into ``options`` (``max_tokens`` becomes ``num_predict``);
``format``, ``keep_alive`` and ``think`` stay at the top of the request. Images travel as
base64 in the message's ``images``; tool calls carry their arguments as objects.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from ..errors import ConfigurationError
from ..llm import Usage
from .base import NativeModel, arguments_object
from .builder import ResponseBuilder
from .failures import StatusFailure, expect_object, one_line

TOP_LEVEL_OPTIONS = frozenset({"format", "keep_alive", "think"})


class OllamaChatModel(NativeModel):
    """``POST {api_base}/api/chat``, whole or streamed as JSON lines."""

    path = "/api/chat"

    def not_found_hint(self) -> str:
        return f"run `ollama pull {self.route.wire_model}`"

    def headers(self, api_key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def request_body(self, messages: list[dict[str, Any]], stream: bool) -> dict[str, Any]:
        options = {k: v for k, v in self.options.items() if k not in TOP_LEVEL_OPTIONS}
        if "max_tokens" in options:
            options["num_predict"] = options.pop("max_tokens")
        body: dict[str, Any] = {"model": self.route.wire_model, "messages": to_ollama(messages), "stream": stream,
                                **{k: v for k, v in self.options.items() if k in TOP_LEVEL_OPTIONS}}  # fmt: skip
        if options:
            body["options"] = options
        return body

    async def read_whole(self, answer: Any, builder: ResponseBuilder) -> None:
        await _read_line(_checked(answer), builder)

    async def read_stream(self, lines: AsyncIterator[bytes], builder: ResponseBuilder) -> None:
        async for line in lines:
            if line.strip():
                await _read_line(_checked(self.parse_json(line)), builder)


async def _read_line(line: dict[str, Any], builder: ResponseBuilder) -> None:
    message = line.get("message") or {}
    await builder.add_text(message.get("content") or "")
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        arguments = function.get("arguments")
        text = arguments if isinstance(arguments, str) else json.dumps(arguments if arguments is not None else {})
        call_id = call.get("id") or f"call_{uuid.uuid4().hex[:12]}"  # Ollama gives none before 0.12
        await builder.add_call(len(builder.calls), call_id, function.get("name") or "", text)
    if line.get("done"):
        builder.usage = Usage(int(line.get("prompt_eval_count") or 0), int(line.get("eval_count") or 0))
        builder.finish_reason = "tool_calls" if builder.calls else (line.get("done_reason") or "stop")


def to_ollama(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI-shaped messages in Ollama's shape: text content, base64 ``images``, object arguments, tool names."""
    names = {c.get("id"): (c.get("function") or {}).get("name") for m in messages for c in m.get("tool_calls") or ()}
    converted = []
    for message in messages:
        out: dict[str, Any] = {"role": message.get("role"), "content": ""}
        content = message.get("content")
        if isinstance(content, list):
            out["content"] = "".join(p.get("text", "") for p in content if p.get("type") == "text")
            images = [_base64_image(p) for p in content if p.get("type") == "image_url"]
            if images:
                out["images"] = images
        elif content is not None:
            out["content"] = str(content)
        if message.get("tool_calls"):
            out["tool_calls"] = [{"function": {"name": (c.get("function") or {}).get("name") or "",
                                               "arguments": arguments_object((c.get("function") or {}).get("arguments"))}}
                                 for c in message["tool_calls"]]  # fmt: skip
        if message.get("role") == "tool" and names.get(message.get("tool_call_id")):
            out["tool_name"] = names[message.get("tool_call_id")]
        converted.append(out)
    return converted


def _base64_image(part: dict[str, Any]) -> str:
    image = part.get("image_url")
    url = image.get("url", "") if isinstance(image, dict) else str(image or "")
    if url.startswith("data:") and ";base64," in url:
        return url.split(";base64,", 1)[1]
    raise ConfigurationError(f"Ollama takes images inline only (a data: URL with base64), not {url[:60]!r}")


def _checked(answer: Any) -> dict[str, Any]:
    answer = expect_object(answer)
    if answer.get("error"):
        raise StatusFailure(500, one_line(str(answer["error"])))
    return answer
