"""A gradio chat app for an agent (``pip install gradio``; imported only when used).

``build_app(agent).launch()`` serves a chat page. Each task streams the model's
text, shows every tool call as a collapsible message with its code and output,
and ends with the answer and a token/cost line. :class:`GradioCallback` turns
agent events into those chat messages and can be used in your own gradio UI.
"""
from __future__ import annotations

import asyncio
import copy
import logging
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable

from .events import AgentEnd, Hook, LLMDelta, LLMEnd, LLMStart, ToolEnd, ToolStart
from .hooks.rich_ui import usage_line
from .untrusted_text import code_block, markdown_text

if TYPE_CHECKING:
    from .agent import TinyCodeAgent

log = logging.getLogger(__name__)

GRADIO_MISSING = "the gradio app needs the 'gradio' package: pip install gradio"

Message = dict[str, Any]
ChatHandler = Callable[[str, list[Any]], AsyncIterator[list[Message]]]


def require_gradio() -> Any:
    """Import gradio, or raise an ImportError that says what to install."""
    try:
        import gradio
    except ImportError as exc:
        raise ImportError(GRADIO_MISSING) from exc
    if not hasattr(gradio, "Blocks"):  # a leftover folder of an uninstalled gradio imports as an empty namespace
        raise ImportError(GRADIO_MISSING)
    return gradio


class GradioCallback(Hook):
    """Collects one run's events as gradio chat messages (``{"role", "content", "metadata"}`` dicts).

    ``changed`` is set whenever :attr:`messages` changes, for a UI that re-renders.
    """

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.changed = asyncio.Event()
        self._streaming = False
        self._streamed = ""
        self._tool_messages: dict[str, Message] = {}

    def on_llm_start(self, event: LLMStart) -> None:
        self._streaming = False

    def on_llm_delta(self, event: LLMDelta) -> None:
        if not event.text_delta:
            return
        if not self._streaming:
            self._streaming, self._streamed = True, ""
            self.messages.append({"role": "assistant", "content": ""})
        self._streamed += event.text_delta
        self.messages[-1]["content"] = markdown_text(self._streamed)
        self.changed.set()

    def on_llm_end(self, event: LLMEnd) -> None:
        if not self._streaming and event.response is not None and event.response.content.strip():
            self._add({"role": "assistant", "content": markdown_text(event.response.content)})

    def on_tool_start(self, event: ToolStart) -> None:
        call = event.tool_call
        if call is None:
            return
        content = code_block(event.view.body, event.view.language)
        message = {"role": "assistant", "content": content, "metadata": {"title": f"🛠️ {call.name}", "status": "pending"}}
        self._tool_messages[call.id] = message
        self._add(message)

    def on_tool_end(self, event: ToolEnd) -> None:
        message = self._tool_messages.pop(event.tool_call.id, None) if event.tool_call else None
        if message is None or event.result is None:
            return
        message["content"] += "\n\n" + code_block(event.result.text, "text")
        message["metadata"] = {**message["metadata"], "status": "done"}
        if not event.result.ok:
            message["metadata"]["title"] += " (failed)"
        self.changed.set()

    def on_agent_end(self, event: AgentEnd) -> None:
        if event.error is not None:
            reason = markdown_text(str(event.error))
            self._add({"role": "assistant", "content": f"⚠️ The run stopped: {type(event.error).__name__}: {reason}"})
        if event.record is not None:
            self._add({"role": "assistant", "content": usage_line(event.record), "metadata": {"title": "usage"}})

    def _add(self, message: Message) -> None:
        self.messages.append(message)
        self.changed.set()


def chat_handler(agent: "TinyCodeAgent") -> ChatHandler:
    """An async generator function for ``gr.ChatInterface``: runs the task, yielding messages as they change."""

    async def respond(message: str, history: list[Any]) -> AsyncIterator[list[Message]]:
        view = GradioCallback()
        agent.add_callback(view)
        run = asyncio.ensure_future(agent.run(message))
        try:
            while not run.done():
                changed = asyncio.ensure_future(view.changed.wait())
                await asyncio.wait([run, changed], return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()
                view.changed.clear()
                yield copy.deepcopy(view.messages)
            if not run.cancelled() and run.exception() is not None:
                log.info("gradio run ended with %s", run.exception())  # on_agent_end shows it in the chat
            yield copy.deepcopy(view.messages)
        finally:
            if not run.done():  # the user pressed Stop: the generator was closed
                run.cancel()
            agent.remove_callback(view)

    return respond


def build_app(agent: "TinyCodeAgent", title: str = "TinyCodeAgent", description: str | None = None) -> Any:
    """A ``gr.Blocks`` chat app for ``agent``; call ``.launch()`` on it. Close the agent yourself when done."""
    gr = require_gradio()
    with gr.Blocks(title=title) as app:
        gr.ChatInterface(
            chat_handler(agent),
            chatbot=gr.Chatbot(height=640, label=agent.model),
            title=title,
            description=description or f"Model {agent.model} · code runs in the {agent.provider.name} provider",
        )
    return app
