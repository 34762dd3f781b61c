"""AnthropicPromptCacheCallback: mark large stable prefixes for Anthropic prompt caching.

Claude models cache a request prefix up to each content block marked
``cache_control: {"type": "ephemeral"}`` (at most four marks; prefixes below about
1024 tokens are not cached). The hook marks the system prompt (which, with the
tool schemas before it, is the same on every call) and the last large user or
tool message, so the next call re-reads the conversation so far from the cache.
It changes only what is sent, for models whose name contains ``claude``.
"""
from __future__ import annotations

from typing import Any, Sequence

from ..events import Hook, LLMStart, ModifyMessages

EPHEMERAL = {"type": "ephemeral"}
DEFAULT_MIN_CHARS = 4096
"""About 1024 tokens, Anthropic's smallest cacheable prefix for most models."""


def is_claude(model: str | None) -> bool:
    return model is not None and "claude" in model.lower()


class AnthropicPromptCacheCallback(Hook):
    """Adds ``cache_control`` to the system prompt and the last large user/tool message, for Claude only.

    ``min_chars``: a user/tool message shorter than this is not worth a cache mark.
    """

    def __init__(self, min_chars: int = DEFAULT_MIN_CHARS, cache_system_prompt: bool = True) -> None:
        self.min_chars = min_chars
        self.cache_system_prompt = cache_system_prompt

    def on_llm_start(self, event: LLMStart) -> ModifyMessages | None:
        if not is_claude(event.model) or not event.messages:
            return None
        marks = self.mark_indexes(event.messages)
        if not marks:
            return None
        return ModifyMessages([_with_cache_mark(m) if i in marks else m for i, m in enumerate(event.messages)])

    def mark_indexes(self, messages: Sequence[dict[str, Any]]) -> set[int]:
        """Which messages get a cache mark."""
        marks: set[int] = set()
        if self.cache_system_prompt and messages[0].get("role") == "system" and _text_length(messages[0]):
            marks.add(0)
        for index in range(len(messages) - 1, 0, -1):
            message = messages[index]
            if message.get("role") in ("user", "tool") and _text_length(message) >= self.min_chars:
                marks.add(index)
                break
        return marks


def _text_length(message: dict[str, Any]) -> int:
    content = message.get("content")
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(len(str(p.get("text", ""))) for p in content if isinstance(p, dict))
    return 0


def _with_cache_mark(message: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``message`` whose last content block carries ``cache_control``."""
    content = message.get("content")
    if isinstance(content, str):
        parts: list[dict[str, Any]] = [{"type": "text", "text": content}]
    else:
        parts = [dict(p) for p in content or ()]
    if not parts:
        return message
    parts[-1]["cache_control"] = dict(EPHEMERAL)
    return {**message, "content": parts}
