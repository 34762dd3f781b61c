"""``%load_ext tinycode_jupyter``: register the magics and the sidebar chat's comm target.

Nothing heavy is imported here.
"""
from __future__ import annotations

from typing import Any


def load(ipython: Any) -> None:
    from .magics import AgentMagics

    magics = AgentMagics(shell=ipython)
    ipython.register_magics(magics)
    if getattr(ipython, "kernel", None) is not None:
        from . import sidebar_comm

        sidebar_comm.register(magics)


def unload(ipython: Any) -> None:
    from .magics import AgentMagics

    if getattr(ipython, "kernel", None) is not None:
        from . import sidebar_comm

        sidebar_comm.unregister()
    magics = ipython.magics_manager.registry.get(AgentMagics.__name__)
    if magics is not None:
        magics.close()
