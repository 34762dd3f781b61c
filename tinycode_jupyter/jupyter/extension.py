"""``%load_ext tinycode_jupyter``: register the magics. Nothing heavy is imported here."""
from __future__ import annotations

from typing import Any


def load(ipython: Any) -> None:
    from .magics import AgentMagics

    ipython.register_magics(AgentMagics)


def unload(ipython: Any) -> None:
    from .magics import AgentMagics

    magics = ipython.magics_manager.registry.get(AgentMagics.__name__)
    if magics is not None:
        magics.close()
