"""Handle comm messages (widget clicks, frontend replies) while the kernel's main thread is busy.

While a cell (or a widget callback) runs, the kernel handles no other request, so
a Stop click or the frontend's answer to the write-back handshake would wait
until the run ends. :func:`pending_comm_messages` gives a ``pump(n)`` function
that the main thread calls between pieces of work:

- ipykernel 7 (shell-channel thread + subshells): the pump reads the main shell's
  inproc socket itself, handles ``comm_*`` messages at once and holds every other
  request (an ``execute_request`` of a cell queued meanwhile); the held requests are
  handed back to the kernel, in order, when the run ends, so they run after it.
  Messages the kernel had already taken before the run began (a burst that arrived with
  the request that started it) are handled after the run, like any queued request.
- ipykernel 6: ``jupyter-ui-poll`` does the same through ``kernel.do_one_iteration``.
- outside a kernel: the pump does nothing.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Any, Callable, Iterator

log = logging.getLogger(__name__)
Pump = Callable[[int], None]
COMM_MESSAGES = frozenset({"comm_open", "comm_msg", "comm_close"})


@contextlib.contextmanager
def pending_comm_messages() -> Iterator[Pump]:
    """Yield ``pump(n)``: handle up to ``n`` pending comm messages now (call it from the main thread)."""
    from IPython import get_ipython

    kernel = getattr(get_ipython(), "kernel", None)
    if kernel is None:
        yield _no_pump
    elif getattr(kernel, "shell_channel_thread", None) is not None:
        pump = _MainShellPump(kernel)
        try:
            yield pump
        finally:
            pump.release_held()
    elif hasattr(kernel, "do_one_iteration"):
        with _ui_poll() as poll:
            yield poll
    else:
        log.warning("this kernel cannot handle widget clicks during a run: Stop and approvals wait until it ends")
        yield _no_pump


def _no_pump(limit: int) -> None:
    return None


@contextlib.contextmanager
def _ui_poll() -> Iterator[Pump]:
    try:
        from jupyter_ui_poll import ui_events
    except ImportError:
        log.warning("jupyter-ui-poll is missing: Stop buttons and approvals wait until the cell ends")
        yield _no_pump
        return
    with ui_events() as poll:
        yield poll


class _MainShellPump:
    """Reads the main shell's queue (ipykernel 7): comm messages are handled, other requests held."""

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel
        manager = kernel.shell_channel_thread.manager
        self.socket = manager.get_shell_channel_to_subshell_pair(None).to_socket
        self.held: list[Any] = []

    def __call__(self, limit: int) -> None:
        for _ in range(limit):
            if not self._read_one():
                return

    def _read_one(self) -> bool:
        """Handle or hold one pending message; False when there is none."""
        import zmq

        try:
            frames = self.socket.recv_multipart(zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return False
        self._handle(frames)
        return True

    def _handle(self, frames: list[Any]) -> None:
        session = self.kernel.session
        idents, rest = session.feed_identities(frames, copy=False)
        header = session.deserialize(rest, content=False, copy=False)["header"]  # a peek: the signature stays unused
        if header["msg_type"] not in COMM_MESSAGES:
            self.held.append(frames)
            return
        message = session.deserialize(rest, content=True, copy=False)
        self._dispatch_comm(idents, message)

    def _dispatch_comm(self, idents: list[bytes], message: dict[str, Any]) -> None:
        """Run the comm handler with the message as parent (as the kernel would), then restore the cell's."""
        kernel = self.kernel
        parent, parent_ident = kernel.get_parent("shell"), kernel._parent_ident["shell"]
        kernel.set_parent(idents, message, channel="shell")
        try:
            kernel.shell_handlers[message["header"]["msg_type"]](None, idents, message)
        except Exception:  # a failing widget callback must not end the run
            log.exception("comm message handler failed")
        finally:
            kernel.set_parent(parent_ident, parent, channel="shell")

    def release_held(self) -> None:
        """Give the held requests back to the kernel; they run, in order, once the current one ends.

        The socket is emptied first: the kernel's own stream is woken by an edge (new data on
        an empty queue), so a message left behind after our reads would never be seen — the
        next cell's request would wait forever.
        """
        while self._read_one():
            pass
        held, self.held = self.held, []
        for frames in held:
            self.kernel.io_loop.add_callback(self.kernel.shell_main, None, frames)
