"""MessageCleanupHook: strip non-standard fields from outgoing messages, for strict providers.

Some OpenAI-compatible servers reject a request when a message, a tool call or a
content part carries a key they do not know (``cache_control``, ``metadata``,
``reasoning_content``, ...). The hook sends a cleaned copy; the conversation the
agent keeps is not changed.
"""
from __future__ import annotations

from typing import Any, Collection

from ..events import Hook, LLMStart, ModifyMessages

MESSAGE_KEYS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id"})
TOOL_CALL_KEYS = frozenset({"id", "type", "function"})
FUNCTION_KEYS = frozenset({"name", "arguments"})
CONTENT_PART_KEYS = frozenset({"type", "text", "image_url", "input_audio", "file"})


class MessageCleanupHook(Hook):
    """Keeps only the standard OpenAI chat fields on every message, tool call and content part.

    Pass your own key sets to allow more. A text-only content list collapses back
    to a plain string when ``flatten_text=True`` (some servers accept only strings).
    Add it before other message transforms that add fields on purpose (such as
    :class:`~tinycode_jupyter.hooks.AnthropicPromptCacheCallback`).
    """

    def __init__(
        self,
        message_keys: Collection[str] = MESSAGE_KEYS,
        tool_call_keys: Collection[str] = TOOL_CALL_KEYS,
        content_part_keys: Collection[str] = CONTENT_PART_KEYS,
        flatten_text: bool = False,
    ) -> None:
        self.message_keys = frozenset(message_keys)
        self.tool_call_keys = frozenset(tool_call_keys)
        self.content_part_keys = frozenset(content_part_keys)
        self.flatten_text = flatten_text

    def on_llm_start(self, event: LLMStart) -> ModifyMessages | None:
        if event.messages is None:
            return None
        return ModifyMessages([self.clean(message) for message in event.messages])

    def clean(self, message: dict[str, Any]) -> dict[str, Any]:
        """A cleaned copy of one message."""
        cleaned = {k: v for k, v in message.items() if k in self.message_keys}
        if isinstance(cleaned.get("tool_calls"), list):
            cleaned["tool_calls"] = [self._clean_call(call) for call in cleaned["tool_calls"]]
        if isinstance(cleaned.get("content"), list):
            cleaned["content"] = self._clean_parts(cleaned["content"])
        return cleaned

    def _clean_call(self, call: Any) -> Any:
        if not isinstance(call, dict):
            return call
        cleaned = {k: v for k, v in call.items() if k in self.tool_call_keys}
        if isinstance(cleaned.get("function"), dict):
            cleaned["function"] = {k: v for k, v in cleaned["function"].items() if k in FUNCTION_KEYS}
        return cleaned

    def _clean_parts(self, parts: list[Any]) -> list[Any] | str:
        cleaned = [{k: v for k, v in p.items() if k in self.content_part_keys} if isinstance(p, dict) else p for p in parts]
        if self.flatten_text and all(isinstance(p, dict) and p.get("type") == "text" for p in cleaned):
            return "".join(str(p.get("text", "")) for p in cleaned)
        return cleaned
