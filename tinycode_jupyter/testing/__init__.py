"""Test doubles shipped for users' tests too: a scripted model in-process and over loopback HTTP."""
from __future__ import annotations

from typing import Any

from .script import Fault, Reply, ToolCallSpec, call, fault, say
from .scripted_llm import ScriptedLLM

__all__ = ["Fault", "Reply", "ScriptedLLM", "ScriptedServer", "ToolCallSpec", "call", "fault", "say"]


def __getattr__(name: str) -> Any:
    if name == "ScriptedServer":
        from .server import ScriptedServer

        return ScriptedServer
    raise AttributeError(name)
