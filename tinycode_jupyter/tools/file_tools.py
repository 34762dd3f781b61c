"""The file tools: read, write, update, glob and grep, run by the provider, with their effects and looks.

Writes preview as a unified diff against the file's current text, read through the
provider (so a sandbox's symlink or FIFO is read inside the sandbox, never on the host).
"""
from __future__ import annotations

import difflib
import logging
import shlex
from typing import Any, Literal

from .base import Tool, ToolResult
from .context import ToolContext
from .effects import ActionView, Effect, Language

log = logging.getLogger(__name__)
_LANGUAGES: dict[str, Language] = {".py": "python", ".sh": "bash", ".json": "json", ".diff": "diff", ".patch": "diff"}


def file_tools(ctx: ToolContext) -> list[Tool]:
    """The five file tools bound to ``ctx``."""
    return [_read_file(ctx), _write_file(ctx), _update_file(ctx), _glob(ctx), _grep(ctx)]


def unified_diff(path: str, old: str | None, new: str) -> str:
    """A unified diff from ``old`` (None: the file does not exist) to ``new``."""
    before = "/dev/null" if old is None else f"a/{path}"
    lines = difflib.unified_diff((old or "").splitlines(keepends=True), new.splitlines(keepends=True), before, f"b/{path}")
    text = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
    return text or f"(no change to {path})\n"


def _language(path: str) -> Language:
    dot = path.rfind(".")
    return _LANGUAGES.get(path[dot:].lower(), "text") if dot >= 0 else "text"


def _reads(ctx: ToolContext, key: str) -> Any:
    def effects(arguments: dict[str, Any]) -> list[Effect]:
        return [Effect("reads_path", target=ctx.resolve(str(arguments.get(key) or ".")))]

    return effects


def _writes(ctx: ToolContext) -> Any:
    def effects(arguments: dict[str, Any]) -> list[Effect]:
        return [Effect("writes_path", target=ctx.resolve(str(arguments["file_path"])))]

    return effects


def _lookup_view(title: str, key: str) -> Any:
    def view(arguments: dict[str, Any]) -> ActionView:
        shown = {k: v for k, v in arguments.items() if k != key}
        detail = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        return ActionView(title, str(arguments.get(key) or "."), "text", subtitle=detail or None)

    return view


async def _current_text(ctx: ToolContext, path: str) -> tuple[str | None, list[str]]:
    """The file's text through the provider (None if absent), and a note if it could not be read."""
    try:
        data = await ctx.provider.file_op("read_bytes", path=ctx.resolve(path))
    except FileNotFoundError:
        return None, []
    except Exception as exc:  # shown to the person deciding, and logged
        log.warning("could not read %s for the diff: %s", path, exc)
        return None, [f"could not read the current file ({type(exc).__name__}: {exc}); diff shown against empty"]
    return data.decode("utf-8", errors="replace"), []


def _read_file(ctx: ToolContext) -> Tool:
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

    return Tool.from_function(read_file, effects=_reads(ctx, "file_path"), view=_lookup_view("Read file", "file_path"))


def _write_file(ctx: ToolContext) -> Tool:
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

    def view(arguments: dict[str, Any]) -> ActionView:
        path, content = str(arguments["file_path"]), str(arguments["content"])
        cell = f"%%writefile {shlex.quote(path)}\n{content}"
        return ActionView(f"Write {path}?", content, _language(path), subtitle=path, cell_source=cell)

    async def preview(arguments: dict[str, Any]) -> ActionView:
        path = str(arguments["file_path"])
        current, notes = await _current_text(ctx, path)
        verb = "Overwrite" if current is not None else "Create"
        return _diff_view(f"{verb} {path}?", path, unified_diff(path, current, str(arguments["content"])), notes)

    tool = Tool.from_function(write_file, effects=_writes(ctx), view=view)
    tool.preview = preview
    return tool


def _update_file(ctx: ToolContext) -> Tool:
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

    def view(arguments: dict[str, Any]) -> ActionView:
        path = str(arguments["file_path"])
        old, new = str(arguments["old_content"]), str(arguments["new_content"])
        diff = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{path}", f"b/{path}"))
        return ActionView(f"Edit {path}?", diff, "diff", subtitle=path, cell_source=_update_cell(path, old, new))

    async def preview(arguments: dict[str, Any]) -> ActionView:
        path = str(arguments["file_path"])
        old, new = str(arguments["old_content"]), str(arguments["new_content"])
        expected = arguments.get("expected_matches", 1)
        current, notes = await _current_text(ctx, path)
        found = (current or "").count(old) if old else 0
        if current is None or found != expected:
            notes.append(f"old_content occurs {found} time(s), expected {expected}: the update would fail")
            return _diff_view(f"Edit {path}?", path, unified_diff(path, old, new), notes)
        return _diff_view(f"Edit {path}?", path, unified_diff(path, current, current.replace(old, new)), notes)

    tool = Tool.from_function(update_file, effects=_writes(ctx), view=view)
    tool.preview = preview
    return tool


def _diff_view(title: str, path: str, diff: str, notes: list[str]) -> ActionView:
    return ActionView(title, diff, "diff", subtitle=path, notes=tuple(notes))


def _update_cell(path: str, old: str, new: str) -> str:
    """A cell that redoes the edit; the texts travel as Python literals, never as code."""
    return (f"from pathlib import Path\n"
            f"Path({path!r}).write_text(Path({path!r}).read_text().replace({old!r}, {new!r}))\n")  # fmt: skip


def _glob(ctx: ToolContext) -> Tool:
    async def glob(pattern: str, absolute_path: str | None = None) -> ToolResult:
        """Find files by glob pattern (** recurses), newest first.

        Args:
            pattern: e.g. "**/*.py".
            absolute_path: Directory to search (default: the work dir).
        """
        found = await ctx.provider.file_op("glob", pattern=pattern, root=ctx.resolve(absolute_path or "."))
        return ToolResult(_listing(found["paths"], found["total"], "files"))

    return Tool.from_function(glob, effects=_reads(ctx, "absolute_path"), view=_lookup_view("Find files", "pattern"))


def _grep(ctx: ToolContext) -> Tool:
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

    return Tool.from_function(grep, effects=_reads(ctx, "absolute_path"), view=_lookup_view("Search files", "pattern"))


def _listing(items: list[str], total: int, noun: str) -> str:
    if not items:
        return f"[no {noun}]"
    more = f"\n[{total - len(items)} more {noun} not shown]" if total > len(items) else ""
    return "\n".join(items) + more
