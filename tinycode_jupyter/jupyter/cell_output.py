"""Streaming output in the agent's cell, updated in place with ``display_id``.

Everything is a plain MIME bundle (``text/markdown`` with ``text/plain`` beside it,
``image/png`` for figures), so the same output reads well in JupyterLab,
Notebook 7, VS Code and a saved .ipynb. Updates are scheduled on the kernel's
main thread, where display messages carry the cell's parent header.
"""
from __future__ import annotations

import time
import uuid
from typing import Any, Callable

from ..accounting import cost_text
from ..events import AgentEnd, AgentStart, Hook, LLMDelta, LLMEnd, ToolEnd, ToolStart
from ..truncation import TruncationConfig, truncate
from ..untrusted_text import code_block, data_bundle, markdown_text, terminal_text

Schedule = Callable[[Callable[[], Any]], None]
TEXT_REFRESH_SECONDS = 0.1
_SHOWN_OUTPUT = TruncationConfig(max_tokens=1500, max_lines=60)


def _bundle(markdown: str, plain: str | None = None) -> dict[str, str]:
    """Markdown built from safe parts, and its plain text for frontends that show text only (terminals too)."""
    return {"text/markdown": markdown, "text/plain": terminal_text(markdown if plain is None else plain)}


def _model_text(text: str) -> dict[str, str]:
    return _bundle(markdown_text(text), text)


class _Block:
    """One display area of the cell, created once and updated in place."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.display_id = uuid.uuid4().hex
        self.shown = False

    def show(self, bundle: dict[str, Any]) -> None:
        from IPython.display import display, update_display

        first = not self.shown
        self.shown = True
        if first:
            self.schedule(lambda: display(bundle, raw=True, display_id=self.display_id))
        else:
            self.schedule(lambda: update_display(bundle, raw=True, display_id=self.display_id))


class CellOutput(Hook):
    """Shows the model's streaming text, each tool call with its output, the answer and a usage footer.

    ``block_type`` makes each display area from ``schedule``: cell outputs by default; the chat
    widget passes one that draws into widgets.
    """

    def __init__(self, schedule: Schedule, block_type: Callable[[Schedule], Any] = _Block) -> None:
        self.schedule = schedule
        self.block_type = block_type
        self._text = ""
        self._text_block: Any = None
        self._last_refresh = 0.0
        self._status = self._new_block()

    def _new_block(self) -> Any:
        return self.block_type(self.schedule)

    def on_agent_start(self, event: AgentStart) -> None:
        self._status.show(_bundle(f"*tinycode · {event.model} · working…*"))

    def on_llm_delta(self, event: LLMDelta) -> None:
        if not event.text_delta:
            return
        self._text += event.text_delta
        if self._text_block is None:
            self._text_block = self._new_block()
        now = time.monotonic()
        if now - self._last_refresh >= TEXT_REFRESH_SECONDS:
            self._last_refresh = now
            self._text_block.show(_model_text(self._text))

    def on_llm_end(self, event: LLMEnd) -> None:
        content = event.response.content if event.response else self._text
        if content:
            block = self._text_block or self._new_block()
            block.show(_model_text(content))  # the complete text, rendered as markdown
        self._text, self._text_block = "", None

    def on_tool_start(self, event: ToolStart) -> None:
        name = event.tool_call.name
        body, fence = event.view.body, event.view.language
        self._new_block().show(_bundle(f"**▶ {markdown_text(name)}**\n{code_block(body, fence)}"))

    def on_tool_end(self, event: ToolEnd) -> None:
        result = event.result
        if result is None:
            return
        shown = truncate(result.text, _SHOWN_OUTPUT)
        mark = "" if result.ok else "⚠ "
        self._new_block().show(_bundle(f"{mark}output:\n{code_block(shown, 'text')}"))
        for bundle in (result.exec_result.displays if result.exec_result else []):
            images = data_bundle(bundle)  # never HTML, JavaScript, SVG or Markdown from the code
            if len(images) > 1 or "text/plain" not in images:
                self._new_block().show(images)

    def on_agent_end(self, event: AgentEnd) -> None:
        record = event.record
        if record is None:
            return
        usage = record.usage
        state = "done" if event.error is None else f"stopped: {type(event.error).__name__}"
        footer = (f"{state} · {len(record.steps)} turns · {usage.prompt_tokens:,} prompt + "
                  f"{usage.completion_tokens:,} completion tokens · {cost_text(record.cost)} · {record.duration:.1f}s · "
                  f"{record.provider}")  # fmt: skip
        self._status.show(_bundle(f"*tinycode · {record.model} · {state}*"))
        self._new_block().show(_bundle(f"*{markdown_text(footer)}*", footer))  # its $ is an amount, not math
