"""Assembles one model answer from a protocol's pieces, and passes them on as deltas while they stream.

Every native protocol feeds the same :class:`ResponseBuilder`: text pieces, tool calls (whole,
or a head followed by argument pieces), usage and the finish reason. Tool-call arguments are
kept to :data:`~tinycode_jupyter.llm.ARGUMENTS_KEPT` characters, as on the litellm path.
"""
from __future__ import annotations

from ..llm import DeltaCallback, LLMResponse, Usage, _CallParts


class IncompleteAnswer(Exception):
    """The answer ended before the model finished it (a cut stream, no choices): tried again."""


class ResponseBuilder:
    """Collects one answer; with ``on_delta``, hands on every piece as it arrives (``(text, None)``
    or ``(None, {"index", "id", "name", "arguments"})``, the same contract as the litellm path)."""

    def __init__(self, model: str, on_delta: DeltaCallback | None) -> None:
        self.model = model
        self.on_delta = on_delta
        self.text: list[str] = []
        self.calls: dict[int, _CallParts] = {}
        self.usage = Usage()
        self.cache_write_tokens = 0
        """Prompt tokens written to the cache (Anthropic): priced apart, not in :class:`Usage`."""
        self.finish_reason: str | None = None

    async def add_text(self, piece: str) -> None:
        if piece:
            self.text.append(piece)
            if self.on_delta is not None:
                await self.on_delta(piece, None)

    async def start_call(self, index: int, call_id: str, name: str) -> None:
        """A streamed tool call's head; its arguments follow with :meth:`add_arguments`."""
        parts = self.calls.setdefault(index, _CallParts())
        parts.id = parts.id or call_id
        parts.name = parts.name or name  # once: some servers repeat the name in every chunk
        if self.on_delta is not None and (call_id or name):
            await self.on_delta(None, {"index": index, "id": call_id or None, "name": name or None, "arguments": None})

    async def add_arguments(self, index: int, piece: str) -> None:
        parts = self.calls.setdefault(index, _CallParts())
        kept = parts.add_arguments(piece) if piece else ""
        if kept and self.on_delta is not None:
            await self.on_delta(None, {"index": index, "id": None, "name": None, "arguments": kept})

    async def add_call(self, index: int, call_id: str, name: str, arguments: str) -> None:
        """A tool call that arrives whole."""
        await self.start_call(index, call_id, name)
        await self.add_arguments(index, arguments)

    def finish(self) -> LLMResponse:
        if self.finish_reason is None:
            raise IncompleteAnswer("the answer ended before the model finished it")
        if not self.text and not self.calls and not self.usage.completion_tokens:
            raise IncompleteAnswer("the answer was empty")
        calls = [parts.to_call(f"call_{index}") for index, parts in sorted(self.calls.items())]
        return LLMResponse("".join(self.text), calls, self.usage, model=self.model, finish_reason=self.finish_reason)
