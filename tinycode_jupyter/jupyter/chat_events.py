"""A hook that turns the agent's events into sidebar chat messages (see :mod:`.chat_protocol`)."""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

from ..events import AgentEnd, AgentStart, Hook, LLMDelta, LLMEnd, ToolEnd, ToolStart
from ..providers.base import ExecResult
from ..tools.render import output_parts
from ..truncation import TruncationConfig, truncate
from ..untrusted_text import markdown_text, terminal_text
from . import chat_protocol as protocol
from .cell_output import TEXT_REFRESH_SECONDS

Send = Callable[[dict[str, Any]], None]
_SHOWN_OUTPUT = TruncationConfig(max_tokens=1500, max_lines=60)


class ChatEvents(Hook):
    """Sends one message per thing the user should see; streamed text at most every 0.1 s per turn.

    The model's text goes as Markdown that renders no HTML, image, link or math
    (:func:`.markdown_text`); code and tool output go as text, which the sidebar shows as text.

    ``send`` is called from the agent's thread; it should hand the message to the kernel's
    main thread (``KernelRunner.call_on_main``), which keeps the messages in order.
    """

    def __init__(self, send: Send) -> None:
        self.send = send
        self._text = ""
        self._sent = ""
        self._last_refresh = 0.0

    def on_agent_start(self, event: AgentStart) -> None:
        self.send(protocol.event("start", run_id=event.run_id, model=event.model))

    def on_llm_delta(self, event: LLMDelta) -> None:
        if not event.text_delta:
            return
        self._text += event.text_delta
        now = time.monotonic()
        if now - self._last_refresh >= TEXT_REFRESH_SECONDS:
            self._last_refresh = now
            self._send_text(event.turn, self._text)

    def on_llm_end(self, event: LLMEnd) -> None:
        response = event.response
        content = response.content if response else self._text
        self._text, self._last_refresh = "", 0.0
        if response is not None and not response.tool_calls and content.strip():
            self.send(protocol.event("answer", turn=event.turn, text=markdown_text(content)))
        elif content and content != self._sent:
            self._send_text(event.turn, content)
        self._sent = ""

    def _send_text(self, turn: int, text: str) -> None:
        self._sent = text
        self.send(protocol.event("text", turn=turn, text=markdown_text(text)))

    def on_tool_start(self, event: ToolStart) -> None:
        view = event.view
        self.send(protocol.event("tool_start", id=event.tool_call.id, name=event.tool_call.name, title=view.title,
                                 body=view.body, language=view.language))  # fmt: skip

    def on_tool_end(self, event: ToolEnd) -> None:
        result = event.result
        if result is None:
            return
        executed = result.exec_result
        displays = executed.displays if executed else []
        images, html = _png_images(displays), _html_displays(displays)
        output = _shown_text(executed, images + html) if executed else result.text
        call = event.tool_call
        self.send(protocol.event("tool_end", id=call.id, name=call.name, ok=result.ok, output=output,
                                 images=images, html=html))  # fmt: skip

    def on_agent_end(self, event: AgentEnd) -> None:
        record = event.record
        usage = record.usage
        self.send(protocol.event("usage", model=record.model, turns=len(record.steps),
                                 prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                                 cost_usd=record.cost, duration_s=round(record.duration, 3)))  # fmt: skip


def _shown_text(result: ExecResult, shown_rich: list[str]) -> str:
    """What a cell would print for ``result``, without the labels the model reads, its colours, or the text
    of the displays shown as an image or a table."""
    rest = [d for d in result.displays if d.get("image/png") not in shown_rich and d.get("text/html") not in shown_rich]
    parts = output_parts(dataclasses.replace(result, displays=rest))
    return truncate(terminal_text("\n".join(part.text for part in parts), colours=False), _SHOWN_OUTPUT)


def _png_images(displays: list[dict[str, Any]]) -> list[str]:
    return _of_type(displays, "image/png", protocol.MAX_IMAGE_CHARS, protocol.MAX_IMAGES)


def _html_displays(displays: list[dict[str, Any]]) -> list[str]:
    """HTML displays (a DataFrame's table) that are not also figures; the sidebar renders them sanitised."""
    return _of_type([d for d in displays if "image/png" not in d], "text/html", protocol.MAX_HTML_CHARS, protocol.MAX_HTML)


def _of_type(displays: list[dict[str, Any]], mime: str, max_chars: int, max_count: int) -> list[str]:
    found = [d[mime] for d in displays if isinstance(d.get(mime), str)]
    return [data for data in found if len(data) <= max_chars][:max_count]


def cell_event(cell_id: str, role: str, tool_call_id: str | None) -> dict[str, Any]:
    """The ``cell`` event: the run wrote a cell (the sidebar links to it)."""
    return protocol.event("cell", cell_id=cell_id, role=role, tool_call_id=tool_call_id)
