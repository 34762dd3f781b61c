"""``run_python`` and ``bash``: code and commands run by the provider, with their effects and looks."""
from __future__ import annotations

import shlex
from typing import Any

from .base import Tool, ToolResult
from .context import ToolContext
from .effects import ActionView, Effect
from .render import render_exec_result


def python_tool(ctx: ToolContext) -> Tool:
    async def run_python(code: str) -> ToolResult:
        """Run Python in a persistent session (variables survive between calls). The last expression's value is shown; use print() for more.

        Args:
            code: Python source to run.
        """
        result = await ctx.provider.run_python(code, timeout=ctx.python_timeout)
        return ToolResult(render_exec_result(result), ok=result.ok, exec_result=result)

    def effects(arguments: dict[str, Any]) -> list[Effect]:
        return [Effect("runs_python", payload=str(arguments["code"]))]

    def view(arguments: dict[str, Any]) -> ActionView:
        code = str(arguments["code"])
        return ActionView("Run this Python code?", code, "python", cell_source=code)

    return Tool.from_function(run_python, effects=effects, view=view)


def shell_tool(ctx: ToolContext) -> Tool:
    async def bash(command: str, absolute_workdir: str | None = None, timeout: int = 120) -> ToolResult:
        """Run a shell command with bash.

        Args:
            command: The command line.
            absolute_workdir: Directory to run in (default: the work dir).
            timeout: Seconds before the command is stopped.
        """
        if timeout <= 0:
            return ToolResult(f"Error: timeout must be a positive number of seconds, got {timeout}", ok=False)
        limit = min(float(timeout), ctx.max_shell_timeout)
        result = await ctx.provider.run_shell(command, workdir=workdir_of(ctx, absolute_workdir), timeout=limit)
        text = render_exec_result(result)
        if timeout > ctx.max_shell_timeout:
            text += f"\n[timeout {timeout}s was cut to the limit of {ctx.max_shell_timeout:g}s]"
        return ToolResult(text, ok=result.ok, exec_result=result)

    def effects(arguments: dict[str, Any]) -> list[Effect]:
        workdir = workdir_of(ctx, arguments.get("absolute_workdir"))
        return [Effect("runs_shell", target=workdir, payload=str(arguments["command"]))]

    def view(arguments: dict[str, Any]) -> ActionView:
        command = str(arguments["command"])
        workdir = arguments.get("absolute_workdir")
        title = "Run this shell command" + (f" in {workdir}?" if workdir else "?")
        cd = f"cd -- {shlex.quote(str(workdir))}\n" if workdir else ""
        return ActionView(title, command, "bash", subtitle=workdir, cell_source=f"%%bash\n{cd}{command}")

    return Tool.from_function(bash, effects=effects, view=view)


def workdir_of(ctx: ToolContext, absolute_workdir: Any) -> str:
    return ctx.resolve(str(absolute_workdir)) if absolute_workdir else ctx.provider.workdir
