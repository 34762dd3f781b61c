"""Act on a comm message the moment it reaches the kernel, before the busy main thread handles it."""
from __future__ import annotations

import logging
from typing import Any, Callable

log = logging.getLogger(__name__)


def on_arrival(comm: Any, matches: Callable[[Any], bool], action: Callable[[], None]) -> bool:
    """Call ``action`` on the kernel's shell-channel thread when a message whose data ``matches`` arrives on ``comm``.

    ipykernel >= 7.4 asks each comm, on that thread, where to route an incoming message
    (``_reply_subshell_for``); answering that question unchanged while noticing the message
    lets a Stop act while the main thread runs a long step. The message is then delivered
    as usual. Returns False for kernels that don't ask: there the message is handled only
    when the main thread pumps it (see :mod:`.message_pump`).
    """
    route = getattr(comm, "_reply_subshell_for", None)
    if route is None:
        return False

    def route_and_notice(data: Any, default: Any) -> Any:
        if matches(data):
            try:
                action()
            except Exception:  # routing must go on, or the kernel drops the message
                log.exception("acting on an arriving comm message failed")
        return route(data, default)

    comm._reply_subshell_for = route_and_notice
    return True
