"""The built-in tools: run_python, bash, the file tools and todo_write.

Every tool runs through the execution provider, so file tools are sandboxed
wherever the code runs. Each declares its effects and its looks where it is
defined; the action pipeline checks the effects before anything runs.
"""
from __future__ import annotations

from dataclasses import dataclass

from .base import Tool
from .code_tools import python_tool, shell_tool
from .context import ToolContext
from .file_tools import file_tools
from .todo import todo_tool


@dataclass(frozen=True)
class BuiltinFlags:
    python: bool = True
    shell: bool = True
    files: bool = True
    todo: bool = True


def builtin_tools(ctx: ToolContext, flags: BuiltinFlags) -> list[Tool]:
    """The enabled built-in tools, bound to ``ctx``."""
    tools: list[Tool] = []
    if flags.python:
        tools.append(python_tool(ctx))
    if flags.shell:
        tools.append(shell_tool(ctx))
    if flags.files:
        tools.extend(file_tools(ctx))
    if flags.todo:
        tools.append(todo_tool(ctx))
    for item in tools:
        item.builtin = True
    return tools
