"""``%load_ext tinycode_jupyter``: register the magics, the record of cell errors and the sidebar chat's comm target,
and say so in one line.

Nothing heavy is imported here.
"""
from __future__ import annotations

from typing import Any


def load(ipython: Any) -> None:
    from IPython.display import display

    from .magics import AgentMagics
    from .sandbox_magic import SandboxMagics

    magics = AgentMagics(shell=ipython)
    ipython.register_magics(magics)
    magics.session.errors.attach()
    ipython.register_magics(SandboxMagics(ipython, magics.session))
    if getattr(ipython, "kernel", None) is not None:
        from . import sidebar_comm

        sidebar_comm.register(magics)
    display({"text/plain": magics.status_line()}, raw=True)


def unload(ipython: Any) -> None:
    from .magics import AgentMagics
    from .sandbox_magic import SandboxMagics

    if getattr(ipython, "kernel", None) is not None:
        from . import sidebar_comm

        sidebar_comm.unregister()
    registry = ipython.magics_manager.registry
    for name in (SandboxMagics.__name__, AgentMagics.__name__):
        if name in registry:
            registry[name].close()
