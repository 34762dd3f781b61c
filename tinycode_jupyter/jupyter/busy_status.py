"""Keep the kernel shown as busy for a whole agent run.

A frontend shows the state of the last ``status`` message it got. While an ``%%agent`` cell
runs, other requests come and go on the control channel and on subshells (JupyterLab 4.6
creates a subshell for each comm a kernel opens), and each ends with ``status: idle``: the
frontend then says Idle while the cell is still running. Inside :func:`busy_while_running`,
each such ``idle`` is followed at once by ``busy`` for the request that runs the agent.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator


@contextlib.contextmanager
def busy_while_running() -> Iterator[None]:
    """Call on the kernel's main thread while it runs an execute request; elsewhere it does nothing."""
    from IPython import get_ipython

    kernel: Any = getattr(get_ipython(), "kernel", None)
    publish = getattr(kernel, "_publish_status", None)
    parent = _running_request(kernel)
    if publish is None or parent is None or "_publish_status" in vars(kernel):
        yield
        return

    def publish_status(status: str, channel: str, parent_message: Any = None) -> None:
        publish(status, channel, parent_message)
        if status == "idle":  # another request ended; the one running the agent has not
            publish("busy", "shell", parent)

    kernel._publish_status = publish_status  # an instance attribute over the method, removed below
    try:
        yield
    finally:
        del kernel._publish_status


def _running_request(kernel: Any) -> dict[str, Any] | None:
    """The execute request the main shell is running, if that is what runs the agent (not a widget callback)."""
    if kernel is None or not hasattr(kernel, "get_parent"):
        return None
    parent = kernel.get_parent("shell") or {}
    return parent if parent.get("header", {}).get("msg_type") == "execute_request" else None
