"""The agent's cell while it works and after: a short transcript, updated in place with ``display_id``.

What the cell shows, top to bottom: a status line (the model, and how long the run has taken
so far), the model's text as it streams, one block per tool call, and a footer (model, turns,
tokens, cost or "price unknown", time, provider). A tool call that runs shows its code, the
seconds so far and the tail of what it prints, live; when it ends it folds into one line (mark,
name, time, a hint of the outcome) that opens to its code and output (:mod:`.step_view`).
Figures stay out of the transcript when the run's cells are written below, where they are.

Everything is a plain MIME bundle (``text/markdown`` with ``text/plain`` beside it, ``image/png``
for figures), so the cell reads well in JupyterLab, Notebook 7, VS Code and a saved .ipynb. In a
kernel the messages are sent at once from whichever thread has news, with the agent cell's
parent header, because the main thread may be busy running a step (the kernel provider).
"""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..accounting import cost_text
from ..events import AgentEnd, AgentStart, Hook, LLMDelta, LLMEnd, ToolEnd, ToolStart
from ..untrusted_text import data_bundle, markdown_text
from . import step_view
from .step_view import Bundle, bundle, seconds_text

if TYPE_CHECKING:
    from ..llm import RetryNotice
    from ..tools.effects import ActionView

Schedule = Callable[[Callable[[], Any]], None]
Send = Callable[[Bundle, str, bool], None]
"""Show ``bundle`` as display ``display_id``; ``True``: update it (it was shown before)."""
TEXT_REFRESH_SECONDS = 0.1
OUTPUT_REFRESH_SECONDS = 0.25
"""How often a running step's printed output is sent at most (and how often the clock ticks)."""
KEPT_OUTPUT_CHARS = 20_000
"""Of a running step's output, the tail kept for the live view (the full output comes with its result)."""


class _Block:
    """One display area of the cell, created once and updated in place."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.display_id = uuid.uuid4().hex
        self.shown = False

    def show(self, data: Bundle) -> None:
        update, self.shown = self.shown, True
        self.send(data, self.display_id, update)


def scheduled_display(schedule: Schedule) -> Send:
    """Send through IPython's ``display`` on the thread ``schedule`` runs functions on."""

    def send(data: Bundle, display_id: str, update: bool) -> None:
        from IPython.display import display, update_display

        if update:
            schedule(lambda: update_display(data, raw=True, display_id=display_id))
        else:
            schedule(lambda: display(data, raw=True, display_id=display_id))

    return send


def direct_display() -> Send | None:
    """Send at once from any thread, with the parent header of the request running now; None outside a kernel.

    Call it on the main thread while the agent's cell runs. The kernel's display publisher is kept
    (a step's ``capture_output`` swaps the shell's own while it runs), and each message carries the
    cell's header, as ``display`` on the main thread would.
    """
    from IPython import get_ipython

    publisher = getattr(get_ipython(), "display_pub", None)
    if publisher is None or not hasattr(publisher, "set_thread_parent"):
        return None
    parent = publisher.parent_header

    def send(data: Bundle, display_id: str, update: bool) -> None:
        token = publisher.set_thread_parent(parent)
        try:
            publisher.publish(data, metadata={}, transient={"display_id": display_id}, update=update)
        finally:
            publisher.reset_thread_parent(token)

    return send


@dataclass
class _Step:
    """A tool call that has started and not ended."""

    block: Any
    name: str
    view: "ActionView"
    started: float
    output: str = ""
    dirty: bool = False
    shown_at: float = 0.0
    shown_second: int = -1


class CellOutput(Hook):
    """Shows the run in the agent's cell (see the module's docstring).

    ``block_type`` makes each display area from ``schedule`` (the chat widget passes one that
    draws into widgets); by default the cell's outputs are used. ``figures_below()`` says whether
    the run's cells, figures included, are written into the notebook below the agent's cell.
    The hook is safe to call from any thread; :meth:`show_output` takes a step's printed output.
    """

    def __init__(self, schedule: Schedule, block_type: Callable[[Schedule], Any] | None = None,
                 figures_below: Callable[[], bool] = lambda: False) -> None:  # fmt: skip
        self.schedule = schedule
        if block_type is None:
            send = direct_display() or scheduled_display(schedule)
            block_type = lambda _schedule: _Block(send)  # noqa: E731
        self.block_type = block_type
        self.figures_below = figures_below
        self._lock = threading.RLock()
        self._text = ""
        self._text_block: Any = None
        self._last_refresh = 0.0
        self._status = self._new_block()
        self._model = ""
        self._started = 0.0
        self._status_second = -1
        self._retry_line: str | None = None
        """While a model call is tried again, what the status line says instead of the time."""
        self._steps: dict[str, _Step] = {}
        self._printing: _Step | None = None
        """The model's step whose printed output streams (a custom tool called from its code is not)."""
        self._ticking = threading.Event()

    def _new_block(self) -> Any:
        return self.block_type(self.schedule)

    # --- the run ----------------------------------------------------------------------
    def on_agent_start(self, event: AgentStart) -> None:
        with self._lock:
            self._model, self._started = event.model, time.monotonic()
            self._show_status()
        self._ticking.set()
        threading.Thread(target=self._tick, name="tinycode-cell-clock", daemon=True).start()

    def on_agent_end(self, event: AgentEnd) -> None:
        self.close()
        record = event.record
        with self._lock:
            for step in list(self._steps.values()):  # stopped with no result: what it printed stays visible
                step.block.show(step_view.stopped_step(step.name, step.view, time.monotonic() - step.started, step.output))
            self._steps.clear()
            self._printing = None
            state = "done" if event.error is None else f"stopped: {type(event.error).__name__}"
            self._status.show(self._status_bundle(state))
            self._new_block().show(_footer(record))

    def close(self) -> None:
        """Stop the clock (also when the run ended without telling this hook)."""
        self._ticking.clear()

    def _tick(self) -> None:
        while self._ticking.is_set():
            time.sleep(OUTPUT_REFRESH_SECONDS)
            with self._lock:
                if not self._ticking.is_set():
                    return
                self._show_status()
                if self._printing is not None:
                    self._show_running(self._printing)

    def _show_status(self) -> None:
        second = int(time.monotonic() - self._started)
        if second != self._status_second or self._retry_line is not None:
            self._status_second = second
            self._status.show(self._status_bundle(self._retry_line or f"working… {second} s"))

    def _status_bundle(self, state: str) -> Bundle:
        line = f"tinycode · {self._model} · {state}"
        return bundle(f"*{markdown_text(line)}*", line)

    def show_retry(self, notice: RetryNotice) -> None:
        """A model call is tried again: the status line says so, updated in place on every try."""
        with self._lock:
            self._retry_line = notice.line()
            self._show_status()

    # --- the model's text ---------------------------------------------------------------
    def on_llm_delta(self, event: LLMDelta) -> None:
        if not event.text_delta:
            return
        with self._lock:
            self._text += event.text_delta
            if self._text_block is None:
                self._text_block = self._new_block()
            now = time.monotonic()
            if now - self._last_refresh >= TEXT_REFRESH_SECONDS:
                self._last_refresh = now
                self._text_block.show(_model_text(self._text))

    def on_llm_end(self, event: LLMEnd) -> None:
        with self._lock:
            if self._retry_line is not None:
                self._retry_line = None
                self._status_second = -1
                self._show_status()
            content = event.response.content if event.response else self._text
            if content:
                block = self._text_block or self._new_block()
                block.show(_model_text(content))  # the complete text, rendered as markdown
            self._text, self._text_block = "", None

    # --- tool calls ---------------------------------------------------------------------
    def on_tool_start(self, event: ToolStart) -> None:
        with self._lock:
            step = _Step(self._new_block(), event.tool_call.name, event.view, time.monotonic())
            self._steps[event.tool_call.id] = step
            if event.origin == "model":
                self._printing = step
            self._show_running(step)

    def show_output(self, stream: str, text: str) -> None:
        """What the running step prints, as it prints it (a provider's ``on_output``)."""
        with self._lock:
            step = self._printing
            if step is None or not text:
                return
            step.output = (step.output + text)[-KEPT_OUTPUT_CHARS:]
            step.dirty = True
            if time.monotonic() - step.shown_at >= OUTPUT_REFRESH_SECONDS:
                self._show_running(step)

    def _show_running(self, step: _Step) -> None:
        now = time.monotonic()
        second = int(now - step.started)
        if step.dirty or second != step.shown_second:
            step.dirty, step.shown_at, step.shown_second = False, now, second
            step.block.show(step_view.running_step(step.name, step.view, now - step.started, step.output))

    def on_tool_end(self, event: ToolEnd) -> None:
        result = event.result
        with self._lock:
            step = self._steps.pop(event.tool_call.id, None)
            if step is self._printing:
                self._printing = None
            block = step.block if step is not None else self._new_block()
            below = self.figures_below()
            block.show(step_view.finished_step(event.tool_call.name, event.view, event.record, result.text, below))
            displays = result.exec_result.displays if result.exec_result is not None and not below else []
            for display in displays:
                images = data_bundle(display)  # never HTML, JavaScript, SVG or Markdown from the code
                if len(images) > 1 or "text/plain" not in images:
                    self._new_block().show(images)


def _model_text(text: str) -> Bundle:
    return bundle(markdown_text(text), text)


RUN_MIME = "application/vnd.tinycode.run+json"
"""The footer's machine-readable part: which run the agent cell shows."""


def _footer(record: Any) -> Bundle:
    """Model, turns, tokens, cost (or "price unknown"), time and provider, in one line."""
    usage, turns = record.usage, len(record.steps)
    estimated = " (estimated)" if usage.estimated else ""
    line = (f"{record.model} · {turns} turn{'' if turns == 1 else 's'} · {usage.prompt_tokens:,} prompt + "
            f"{usage.completion_tokens:,} completion tokens{estimated} · {cost_text(record.cost)} · "
            f"{seconds_text(record.duration)} · {record.provider}")  # fmt: skip
    footer = bundle(f"*{markdown_text(line)}*", line)  # its $ is an amount, not math
    footer[RUN_MIME] = {"run_id": record.run_id}  # for the extension's Undo button; frontends without it ignore it
    return footer
