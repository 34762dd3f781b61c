"""tinycode_jupyter: a small, fast AI code agent for Jupyter.

Only light modules are imported here; litellm loads on the first model call.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = [
    "TinyCodeAgent",
    "tool",
    "enable_debug_logging",
    "load_ipython_extension",
    "unload_ipython_extension",
    "__version__",
]

if TYPE_CHECKING:
    from .agent import TinyCodeAgent
    from .logging_setup import enable_debug_logging
    from .tools.base import tool


def __getattr__(name: str) -> Any:
    if name == "TinyCodeAgent":
        from .agent import TinyCodeAgent

        return TinyCodeAgent
    if name == "tool":
        from .tools.base import tool

        return tool
    if name == "enable_debug_logging":
        from .logging_setup import enable_debug_logging

        return enable_debug_logging
    raise AttributeError(f"module 'tinycode_jupyter' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext tinycode_jupyter``: register the %agent / %%agent magics."""
    from .jupyter.extension import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .jupyter.extension import unload

    unload(ipython)
