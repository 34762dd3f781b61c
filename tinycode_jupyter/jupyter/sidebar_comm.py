"""The kernel's end of the sidebar chat: run the agent for each ``run`` message, stream the run back.

``%load_ext tinycode_jupyter`` registers the comm target (:mod:`.chat_protocol`). Each
sidebar that opens a comm gets a :class:`SidebarChat`. A ``run`` message is handled on
the kernel's main thread, like a widget click (see :mod:`.chat_widget`): the agent runs
through the kernel's :class:`.AgentSession`, its code in the user's namespace, and the
kernel is busy until the run ends; ``run`` goes to the main shell even when the frontend
addresses a subshell (:func:`.to_main_shell`). ``stop`` is noticed the moment it arrives
(:func:`.on_arrival`), so it ends a long step as **Kernel → Interrupt** does. A run's cells are
appended below its anchor with the question recorded (:mod:`.asked`), and each one written is
announced with a ``cell`` event, so the sidebar can link to it.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from . import chat_protocol as protocol
from .comm_arrival import on_arrival, to_main_shell

log = logging.getLogger(__name__)
Settings = Callable[[], dict[str, Any]]


class SidebarChat:
    """One sidebar's connection to the kernel's agent session.

    ``settings`` gives a run's settings (``%agent``'s); ``default_model`` the ``%agent`` model, or "".
    """

    def __init__(self, comm: Any, session: Any, settings: Settings, default_model: Callable[[], str]) -> None:
        self.comm = comm
        self.session = session
        self.settings = settings
        self.default_model = default_model
        self._runner: Any = None
        comm.on_msg(self._on_message)
        comm.on_close(lambda _message: self.stop())
        on_arrival(comm, _is_action("stop"), self.stop)
        to_main_shell(comm, lambda data: _is_action("run")(data) or _is_action("undo")(data))
        comm.send(protocol.READY)

    def _on_message(self, message: dict[str, Any]) -> None:
        data = message.get("content", {}).get("data") or {}
        action = data.get("action")
        if action == "stop":
            self.stop()
        elif action == "run":
            self.run(data.get("prompt"), data.get("anchor_cell_id"), data.get("model"))
        elif action == "models":
            self.comm.send(protocol.models_reply(self.default_model()))
        elif action == "undo":
            self.undo(data.get("run_id"), data.get("cell_id"))
        else:
            log.warning("sidebar chat: ignoring a message with action %r", action)

    def run(self, prompt: Any, anchor_cell_id: Any, model: Any = None) -> None:
        """Run the agent on ``prompt`` (call on the kernel's main thread), with ``model`` (None: the default)
        if the sidebar offers it; always ends with a ``done`` event."""
        from IPython.core.error import UsageError

        from ..errors import RunCancelled, TinyCodeError

        status: protocol.RunStatus = "error"
        try:
            if not isinstance(prompt, str) or not prompt.strip():
                raise UsageError("the prompt is empty")
            if anchor_cell_id is not None and not isinstance(anchor_cell_id, str):
                raise UsageError("anchor_cell_id must be a cell id or null")
            if threading.current_thread() is not threading.main_thread():
                raise UsageError("this kernel handled the request on a subshell; the agent runs only on the main shell")
            self._run(prompt.strip(), anchor_cell_id, self._settings_with(model))
            status = "ok"
        except RunCancelled:
            status = "stopped"
        except (TinyCodeError, UsageError) as exc:
            self._send_error(exc)
        except Exception as exc:  # unexpected: the user sees it, the kernel log gets the traceback
            self._send_error(exc)
            raise
        finally:
            self.comm.send(protocol.event("done", status=status))

    def undo(self, run_id: Any, cell_id: Any) -> None:
        """Undo ``run_id`` and every run after it (on the kernel's main thread); always answers with ``undone``."""
        from ..errors import TinyCodeError

        try:
            if not isinstance(run_id, str) or not isinstance(cell_id, (str, type(None))):
                raise TinyCodeError("undo needs the run's id and the cell it wrote below (or null)")
            runs = self.session.undo_history().runs_back_to(run_id)
            text, ok = self.session.undo(runs, cell_id=cell_id).text(), True
        except TinyCodeError as exc:
            text, ok = f"Cannot undo: {exc}", False
        self.comm.send({"action": "undone", "run_id": str(run_id), "ok": ok, "text": text})

    def _settings_with(self, model: Any) -> dict[str, Any]:
        """The run's settings, with ``model`` when it is one the sidebar offers (UsageError otherwise)."""
        from IPython.core.error import UsageError

        settings = self.settings()
        if model is None or model == settings["model"]:
            return settings
        offered = protocol.offered_models(settings["model"])
        if not isinstance(model, str) or model not in offered:
            raise UsageError(f"model {model!r} is not one this kernel offers ({', '.join(offered)}); "
                             f"list more in {protocol.MODELS_ENV}")  # fmt: skip
        return {**settings, "model": model}

    def _run(self, prompt: str, anchor_cell_id: str | None, settings: dict[str, Any]) -> None:
        from .asked import Asked, chat_writeback
        from .chat_events import ChatEvents, cell_event
        from .kernel_runner import KernelRunner

        runner = KernelRunner()

        def send_on_main(data: dict[str, Any]) -> None:
            runner.call_on_main(lambda: self.comm.send(data))

        def announce(cell_id: str, role: str, call_id: str | None) -> None:
            send_on_main(cell_event(cell_id, role, call_id))

        cells = chat_writeback(self.session, runner, anchor_cell_id, Asked(prompt, "the sidebar"), announce)
        self._runner = runner
        try:
            self.session.run(prompt, settings, runner=runner, hooks=[ChatEvents(send_on_main), cells], cell_id=anchor_cell_id)
        finally:
            self._runner = None

    def stop(self) -> None:
        """Stop the current run, if any. Safe from any thread."""
        runner = self._runner
        if runner is not None:
            runner.cancel()

    def _send_error(self, exc: BaseException) -> None:
        self.comm.send(protocol.event("error", error_type=type(exc).__name__, message=str(exc)))


def _is_action(action: str) -> Callable[[Any], bool]:
    return lambda data: isinstance(data, dict) and data.get("action") == action


def register(magics: Any) -> None:
    """Register the sidebar's comm target; each sidebar that connects gets the session of ``magics`` (an
    :class:`.AgentMagics`) and its current settings at each run."""
    from comm import get_comm_manager

    def open_chat(comm: Any, _open_message: dict[str, Any]) -> None:
        SidebarChat(comm, magics.session, magics.current_settings, lambda: magics.model)

    get_comm_manager().register_target(protocol.TARGET, open_chat)


def unregister() -> None:
    """Remove the comm target: sidebars that connect afterwards are told to load the extension."""
    from comm import get_comm_manager

    manager = get_comm_manager()
    if protocol.TARGET in manager.targets:
        manager.unregister_target(protocol.TARGET, manager.targets[protocol.TARGET])
