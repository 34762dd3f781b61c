"""The built-in tools: run_python, bash, the file tools and todo_write.

Every tool runs through the execution provider, so file tools are sandboxed
wherever the code runs. Security gates are checked before code reaches the
provider; a blocked step returns an explanation to the model.
"""
from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from typing import Any, Literal

from ..providers.base import Provider
from ..security import SecurityPolicy
from .base import Tool, ToolResult
from .render import render_exec_result

TodoStatus = Literal["pending", "in_progress", "completed"]


@dataclass
class ToolContext:
    """What the built-in tools need from the agent."""

    provider: Provider
    security: SecurityPolicy
    python_timeout: float = 120.0
    todos: list[dict[str, Any]] = field(default_factory=list)

    def resolve(self, path: str) -> str:
        if path.startswith("~"):
            path = os.path.expanduser(path)
        return path if posixpath.isabs(path) else posixpath.join(self.provider.workdir, path)


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
        tools.append(_python_tool(ctx))
    if flags.shell:
        tools.append(_bash_tool(ctx))
    if flags.files:
        tools.extend(_file_tools(ctx))
    if flags.todo:
        tools.append(_todo_tool(ctx))
    for item in tools:
        item.builtin = True
    return tools


def _blocked(findings: list[Any]) -> ToolResult:
    reasons = "\n".join(f"- {f.message}" for f in findings)
    return ToolResult(f"Blocked by the security check, nothing was run:\n{reasons}", ok=False)


def _python_tool(ctx: ToolContext) -> Tool:
    async def run_python(code: str) -> ToolResult:
        """Run Python in a persistent session (variables survive between calls). The last expression's value is shown; use print() for more.

        Args:
            code: Python source to run.
        """
        findings = ctx.security.check_python(code)
        if findings:
            return _blocked(findings)
        result = await ctx.provider.run_python(code, timeout=ctx.python_timeout)
        return ToolResult(render_exec_result(result), ok=result.ok, exec_result=result)

    return Tool.from_function(run_python)


def _bash_tool(ctx: ToolContext) -> Tool:
    async def bash(command: str, absolute_workdir: str | None = None, timeout: int = 120) -> ToolResult:
        """Run a shell command with bash.

        Args:
            command: The command line.
            absolute_workdir: Directory to run in (default: the work dir).
            timeout: Seconds before the command is stopped.
        """
        workdir = ctx.resolve(absolute_workdir) if absolute_workdir else ctx.provider.workdir
        findings = ctx.security.check_shell(command, workdir=workdir)
        if findings:
            return _blocked(findings)
        result = await ctx.provider.run_shell(command, workdir=workdir, timeout=timeout)
        return ToolResult(render_exec_result(result), ok=result.ok, exec_result=result)

    return Tool.from_function(bash)


def _file_tools(ctx: ToolContext) -> list[Tool]:
    async def read_file(file_path: str, start_line: int = 1, max_lines: int | None = None) -> ToolResult:
        """Read a text file with line numbers.

        Args:
            file_path: Path (relative to the work dir or absolute).
            start_line: First line to show (1-based).
            max_lines: How many lines to show (default: all).
        """
        page = await ctx.provider.file_op("read_text", path=ctx.resolve(file_path), start_line=start_line, max_lines=max_lines)
        first = page["start_line"]
        body = "\n".join(f"{first + i:>6}\t{line}" for i, line in enumerate(page["lines"]))
        last = first + len(page["lines"]) - 1
        header = f"[{file_path}: lines {first}-{last} of {page['total_lines']}]"
        return ToolResult(f"{header}\n{body}" if body else f"{header} (no lines)")

    async def write_file(file_path: str, content: str, create_dirs: bool = True) -> ToolResult:
        """Create or overwrite a file.

        Args:
            file_path: Path (relative to the work dir or absolute).
            content: The full new content.
            create_dirs: Create missing parent directories.
        """
        path = ctx.resolve(file_path)
        size = await ctx.provider.file_op("write_bytes", path=path, data=content.encode(), create_dirs=create_dirs)
        return ToolResult(f"Wrote {size} bytes to {path}")

    async def update_file(file_path: str, old_content: str, new_content: str, expected_matches: int = 1) -> ToolResult:
        """Replace exact text in a file; fails unless old_content occurs expected_matches times.

        Args:
            file_path: Path (relative to the work dir or absolute).
            old_content: Exact text to replace.
            new_content: Replacement text.
            expected_matches: How many occurrences must exist.
        """
        path = ctx.resolve(file_path)
        outcome = await ctx.provider.file_op(
            "update_text", path=path, old_content=old_content, new_content=new_content, expected_matches=expected_matches
        )
        return ToolResult(f"Replaced {outcome['replaced']} occurrence(s) in {path}")

    async def glob(pattern: str, absolute_path: str | None = None) -> ToolResult:
        """Find files by glob pattern (** recurses), newest first.

        Args:
            pattern: e.g. "**/*.py".
            absolute_path: Directory to search (default: the work dir).
        """
        found = await ctx.provider.file_op("glob", pattern=pattern, root=ctx.resolve(absolute_path or "."))
        return ToolResult(_listing(found["paths"], found["total"], "files"))

    async def grep(
        pattern: str,
        absolute_path: str | None = None,
        output_mode: Literal["files_with_matches", "content", "count"] = "files_with_matches",
    ) -> ToolResult:
        """Search file contents with a regular expression.

        Args:
            pattern: Python regular expression.
            absolute_path: File or directory to search (default: the work dir).
            output_mode: files_with_matches, content (path:line:text) or count.
        """
        found = await ctx.provider.file_op("grep", pattern=pattern, root=ctx.resolve(absolute_path or "."), output_mode=output_mode)
        if output_mode == "content":
            return ToolResult(_listing(found["matches"], found["total"], "matching lines"))
        if output_mode == "count":
            lines = [f"{path}: {n}" for path, n in found["counts"].items()]
            return ToolResult("\n".join(lines + [f"[{found['total']} matches]"]) if lines else "[no matches]")
        return ToolResult(_listing(found["paths"], found["total"], "files"))

    return [Tool.from_function(f) for f in (read_file, write_file, update_file, glob, grep)]


def _listing(items: list[str], total: int, noun: str) -> str:
    if not items:
        return f"[no {noun}]"
    more = f"\n[{total - len(items)} more {noun} not shown]" if total > len(items) else ""
    return "\n".join(items) + more


def _todo_tool(ctx: ToolContext) -> Tool:
    async def todo_write(todos: list[dict]) -> ToolResult:
        """Replace the task list. Use it to plan multi-step work and track progress.

        Args:
            todos: Items {"content": str, "status": "pending"|"in_progress"|"completed"}.
        """
        cleaned = [_check_todo(i, item) for i, item in enumerate(todos)]
        ctx.todos[:] = cleaned
        marks = {"pending": "[ ]", "in_progress": "[~]", "completed": "[x]"}
        return ToolResult("\n".join(f"{marks[t['status']]} {t['content']}" for t in cleaned) or "[empty list]")

    return Tool.from_function(todo_write)


def _check_todo(index: int, item: Any) -> dict[str, Any]:
    if not isinstance(item, dict) or not isinstance(item.get("content"), str):
        raise ValueError(f"todos[{index}] must be an object with a string 'content'")
    status = item.get("status", "pending")
    if status not in ("pending", "in_progress", "completed"):
        raise ValueError(f"todos[{index}].status must be pending, in_progress or completed, got {status!r}")
    return {"content": item["content"], "status": status}
