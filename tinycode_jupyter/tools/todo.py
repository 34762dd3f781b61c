"""``todo_write``: the agent's task list. It changes nothing outside the agent."""
from __future__ import annotations

from typing import Any, Literal

from .base import Tool, ToolResult
from .context import ToolContext
from .effects import ActionView

TodoStatus = Literal["pending", "in_progress", "completed"]
_MARKS = {"pending": "[ ]", "in_progress": "[~]", "completed": "[x]"}


def todo_tool(ctx: ToolContext) -> Tool:
    async def todo_write(todos: list[dict]) -> ToolResult:
        """Replace the task list. Use it to plan multi-step work and track progress.

        Args:
            todos: Items {"content": str, "status": "pending"|"in_progress"|"completed"}.
        """
        cleaned = [_check_todo(i, item) for i, item in enumerate(todos)]
        ctx.todos[:] = cleaned
        return ToolResult(_checklist(cleaned) or "[empty list]")

    def view(arguments: dict[str, Any]) -> ActionView:
        items = [item for item in arguments.get("todos") or [] if isinstance(item, dict)]
        shown = [{"content": str(i.get("content", "")), "status": i.get("status", "pending")} for i in items]
        return ActionView("Update the task list", _checklist(shown) or "(empty)", "text")

    return Tool.from_function(todo_write, effects=(), view=view)


def _checklist(items: list[dict[str, Any]]) -> str:
    return "\n".join(f"{_MARKS.get(t['status'], '[?]')} {t['content']}" for t in items)


def _check_todo(index: int, item: Any) -> dict[str, Any]:
    if not isinstance(item, dict) or not isinstance(item.get("content"), str):
        raise ValueError(f"todos[{index}] must be an object with a string 'content'")
    status = item.get("status", "pending")
    if status not in ("pending", "in_progress", "completed"):
        raise ValueError(f"todos[{index}].status must be pending, in_progress or completed, got {status!r}")
    return {"content": item["content"], "status": status}
