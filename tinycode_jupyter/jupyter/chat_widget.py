"""``%agent chat``: a chat panel made of plain ipywidgets, driving the kernel's agent session.

It works wherever ipywidgets do (JupyterLab, Notebook 7, VS Code): no custom JavaScript.

Threading. A click on **Send** is handled on the kernel's main thread, which runs the
agent exactly as a ``%%agent`` cell does (:class:`.KernelRunner`): the loop in a worker
thread, the agent's code and every transcript update on the main thread, and pending
widget messages pumped meanwhile. So the kernel is busy for the run, as with a running
cell; cells run meanwhile wait and then run in order. The run ends when the model
answers, at ``max_turns``, or on **Stop**:

- Stop's click is pumped on the main thread while the model answers and between steps;
- on ipykernel >= 7.4 it is also seen on the kernel's shell-channel thread the moment it
  arrives (:func:`_stop_on_arrival`), so it interrupts a step that keeps the main thread
  busy (a long ``time.sleep`` in agent code), as **Kernel → Interrupt** does.

JupyterLab 4.6 sends widget messages to a kernel subshell (a thread of its own). The
prompt's edits and Send's clicks are routed to the main shell instead (:func:`.to_main_shell`),
in order; a kernel that cannot route them hands the run over to its main thread.

Cells. Where the frontend extension answers (JupyterLab, Notebook 7), each run's cells are written
as an ``%%agent`` run's are, appended below the ``%agent chat`` cell (each run after the cells of
the one before), with the question recorded (:mod:`.asked`).
"""
from __future__ import annotations

import functools
import logging
import signal
import threading
from typing import Any, Callable

from ..errors import RunCancelled, TinyCodeError
from ..record import RunResult
from ..untrusted_text import markdown_text, terminal_text
from .asked import Asked, chat_writeback
from .cell_output import CellOutput, Schedule
from .comm_arrival import on_arrival, to_main_shell
from .kernel_runner import KernelRunner

log = logging.getLogger(__name__)
BUSY_NOTE = "*Another agent run is in progress in this kernel; wait for it or stop it.*"
STOPPED_NOTE = "**Stopped.** The kernel is ready; the conversation so far is kept."


def _now(func: Callable[[], Any]) -> None:
    func()


class _WidgetBlock:
    """One transcript entry: an ``Output`` widget whose single output is replaced on each update."""

    def __init__(self, schedule: Schedule, transcript: Any) -> None:
        self.schedule = schedule
        self.transcript = transcript
        self.output: Any = None

    def show(self, bundle: dict[str, Any]) -> None:
        self.schedule(lambda: self._draw(bundle))

    def _draw(self, bundle: dict[str, Any]) -> None:
        import ipywidgets as widgets

        if self.output is None:
            self.output = widgets.Output()
            self.transcript.children += (self.output,)
        self.output.outputs = ({"output_type": "display_data", "data": dict(bundle), "metadata": {}},)


class ChatWidget:
    """A prompt box, Send and Stop buttons, and a transcript that streams the run as it happens.

    ``widget`` is the box to display. :meth:`send` and :meth:`stop` are what the buttons call,
    for use from code too. The conversation is the session's: ``%%agent`` cells and the chat
    share one agent.
    """

    def __init__(self, session: Any, settings: dict[str, Any]) -> None:
        import ipywidgets as widgets

        from .answered import request_parent

        self.session = session
        self.settings = settings
        self._runner: KernelRunner | None = None
        self._cell: str | None = request_parent(session.shell).get("metadata", {}).get("cellId")
        """The ``%agent chat`` cell: the notebook's tools see it as the agent's cell."""
        self._anchor = self._cell
        """Where the next run's cells go: below the chat's cell, then below the last cell a run wrote."""
        self.transcript = widgets.VBox()  # grows like any output: the prompt stays below the newest message
        self.prompt = widgets.Textarea(placeholder="Ask the agent; it runs code in this kernel. Name variables as {df}.",
                                       rows=3, layout=widgets.Layout(width="100%"))  # fmt: skip
        self.send_button = widgets.Button(description="Send", button_style="primary", icon="paper-plane",
                                          tooltip="Run the agent on the prompt")  # fmt: skip
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True, tooltip="Stop the run")
        self.undo_button = widgets.Button(description="Undo", icon="undo", disabled=True,
                                          tooltip="Undo the last run: its variables, files (with git checkpoints) and cells")  # fmt: skip
        self._last_run: str | None = None
        """The run Undo undoes (and every run after it): this chat's newest."""
        buttons = widgets.VBox([self.send_button, self.stop_button, self.undo_button], layout=widgets.Layout(width="auto"))
        self.widget = widgets.VBox([self.transcript, widgets.HBox([self.prompt, buttons])])
        self.send_button.on_click(lambda _: self.send())
        self.stop_button.on_click(lambda _: self.stop())
        self.undo_button.on_click(lambda _: self.undo())
        _stop_on_arrival(self.stop_button, self.stop)
        for control in (self.prompt, self.send_button, self.undo_button):
            to_main_shell(getattr(control, "comm", None), _always)

    def send(self, prompt: str | None = None) -> RunResult | None:
        """Run the agent on ``prompt`` (default: the prompt box's text) and return its answer.

        Off the kernel's main thread the run is handed over to it, and None is returned.
        """
        text = (self.prompt.value if prompt is None else prompt).strip()
        if not text:
            return None
        if threading.current_thread() is not threading.main_thread():
            _on_main_thread(lambda: self.send(text))
            return None
        if self.session.running:
            self._note(BUSY_NOTE)
            return None
        self.prompt.value = ""
        self._note("**You:** ", text)
        runner = self._runner = KernelRunner()
        transcript = CellOutput(runner.call_on_main, functools.partial(_WidgetBlock, transcript=self.transcript))
        cells = chat_writeback(self.session, runner, self._anchor, Asked(text, "the chat"), self._wrote)
        self._show_running(True)
        try:
            return self.session.run(text, self.settings, runner=runner, hooks=[transcript, cells], cell_id=self._cell)
        except RunCancelled:
            self._note(STOPPED_NOTE)
        except TinyCodeError as exc:
            self._note(f"**{type(exc).__name__}:** ", str(exc))
        except Exception as exc:  # a bug: shown here (a click's own output is seen nowhere), then raised
            self._note(f"**Unexpected {type(exc).__name__}:** ", str(exc))
            raise
        finally:
            self._runner = None
            last = getattr(getattr(self.session, "agent", None), "last_run", None)
            self._last_run = getattr(last, "run_id", None) or self._last_run
            self._show_running(False)
        return None

    def undo(self) -> None:
        """Undo this chat's last run and every run after it, as ``%agent undo --run`` does; the report goes in the transcript."""
        if threading.current_thread() is not threading.main_thread():
            _on_main_thread(self.undo)
            return
        run_id, self._last_run = self._last_run, None
        self.undo_button.disabled = True
        if run_id is None:
            return
        try:
            report = self.session.undo(self.session.undo_history().runs_back_to(run_id), cell_id=self._cell)
            self._note("**Undone:** ", report.text())
        except TinyCodeError as exc:
            self._note("**Cannot undo:** ", str(exc))

    def stop(self) -> None:
        """Stop the current run, if any. Safe from any thread."""
        runner = self._runner
        if runner is not None:
            runner.cancel()

    def _wrote(self, cell_id: str, _role: str, _call_id: str | None) -> None:
        self._anchor = cell_id

    def _note(self, markdown: str, text: str = "") -> None:
        """A transcript entry: our ``markdown``, then ``text`` (a prompt, an error message) shown as the text it is."""
        bundle = {"text/markdown": markdown + markdown_text(text), "text/plain": terminal_text(markdown + text)}
        _WidgetBlock(_now, self.transcript).show(bundle)

    def _show_running(self, running: bool) -> None:
        self.send_button.disabled = running
        self.stop_button.disabled = not running
        self.undo_button.disabled = running or self._last_run is None


def _always(data: Any) -> bool:
    return True


def _on_main_thread(func: Callable[[], Any]) -> None:
    """Run ``func`` on the kernel's main thread as soon as it is free, interruptible as a request would be."""
    from IPython import get_ipython

    def interruptible() -> None:
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            func()
        finally:
            signal.signal(signal.SIGINT, previous)

    get_ipython().kernel.io_loop.add_callback(interruptible)


def _is_click(data: Any) -> bool:
    return isinstance(data, dict) and data.get("method") == "custom" and (data.get("content") or {}).get("event") == "click"


def _stop_on_arrival(button: Any, stop: Callable[[], None]) -> None:
    """Call ``stop`` as soon as a click on ``button`` arrives, even while a long step runs (:func:`.on_arrival`)."""
    on_arrival(getattr(button, "comm", None), _is_click, stop)
