"""Truncate tool results by lines and tokens, keeping head and tail.

Tracebacks and test summaries live at the end of an output, so the tail is
kept as well as the head, with a marker that says how much was cut.
"""
from __future__ import annotations

from dataclasses import dataclass

CHARS_PER_TOKEN = 4
"""A fast, conservative token estimate; exact counting would cost more than it saves."""


@dataclass
class TruncationConfig:
    max_tokens: int = 3000
    max_lines: int = 250
    enabled: bool = True

    @classmethod
    def from_value(cls, value: "TruncationConfig | dict | None") -> "TruncationConfig":
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            unknown = set(value) - {"max_tokens", "max_lines", "enabled"}
            if unknown:
                raise ValueError(f"truncation_config: unknown key(s) {sorted(unknown)}; use max_tokens, max_lines, enabled")
            config = cls(**value)
            if config.max_tokens < 1 or config.max_lines < 2:
                raise ValueError("truncation_config: max_tokens must be >= 1 and max_lines >= 2")
            return config
        raise ValueError(f"truncation_config must be a dict or TruncationConfig, got {type(value).__name__}")


def truncate(text: str, config: TruncationConfig) -> str:
    """Return ``text`` cut to the configured lines and tokens, head and tail kept."""
    if not config.enabled:
        return text
    lines = text.splitlines()
    if len(lines) > config.max_lines:
        head = config.max_lines // 2
        tail = config.max_lines - head
        cut_lines = lines[head : len(lines) - tail]
        marker = f"[... {len(cut_lines)} lines ({sum(len(line) + 1 for line in cut_lines)} chars) cut ...]"
        text = "\n".join(lines[:head] + [marker] + lines[len(lines) - tail :])
    max_chars = config.max_tokens * CHARS_PER_TOKEN
    if len(text) > max_chars:
        head = max_chars // 2
        tail = max_chars - head
        cut_chars = len(text) - head - tail
        text = f"{text[:head]}\n[... {cut_chars} chars cut ...]\n{text[-tail:]}"
    return text
