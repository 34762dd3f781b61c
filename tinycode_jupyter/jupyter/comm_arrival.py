"""Act on comm messages as they reach the kernel, before any thread handles them.

ipykernel >= 7.4 asks each comm, on the kernel's shell-channel thread, which subshell
an incoming message goes to (``_reply_subshell_for``). Wrapping that question lets a
comm notice a message the moment it arrives (a Stop while the main thread runs a long
step) and send a message to the main shell whatever subshell the frontend addressed
(JupyterLab 4.6 sends comm messages to a subshell per comm target by default).
Kernels that don't ask handle messages only where the frontend sent them, and a busy main
thread sees them only when it pumps them (see :mod:`.message_pump`).
"""
from __future__ import annotations

import logging
from typing import Any, Callable

log = logging.getLogger(__name__)
Route = Callable[[Any, Any], Any]


def _wrap_route(comm: Any, wrap: Callable[[Route], Route]) -> bool:
    route = getattr(comm, "_reply_subshell_for", None)
    if route is None:
        return False
    comm._reply_subshell_for = wrap(route)
    return True


def on_arrival(comm: Any, matches: Callable[[Any], bool], action: Callable[[], None]) -> bool:
    """Call ``action`` on the shell-channel thread when a message whose data ``matches`` arrives on ``comm``.

    The message is then delivered as usual. Returns False when the kernel doesn't ask.
    """

    def wrap(route: Route) -> Route:
        def route_and_notice(data: Any, default: Any) -> Any:
            if matches(data):
                try:
                    action()
                except Exception:  # routing must go on, or the kernel drops the message
                    log.exception("acting on an arriving comm message failed")
            return route(data, default)

        return route_and_notice

    return _wrap_route(comm, wrap)


def to_main_shell(comm: Any, matches: Callable[[Any], bool]) -> bool:
    """Deliver the messages on ``comm`` whose data ``matches`` to the main shell (the kernel's main thread).

    Returns False when the kernel doesn't ask.
    """

    def wrap(route: Route) -> Route:
        def route_to_main(data: Any, default: Any) -> Any:
            return None if matches(data) else route(data, default)

        return route_to_main

    return _wrap_route(comm, wrap)
