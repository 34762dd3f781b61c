"""The system prompt: short, because it is sent on every call."""
from __future__ import annotations

from .providers.kernel import TOOLS_NAMESPACE

BASE_PROMPT = """You are TinyCodeAgent, a coding agent that solves tasks by running code.
Work in small steps: call a tool, read its output, continue. Never invent outputs or results.
When the task is done, reply with the final answer as plain text and no tool call. Be concise and show the key figures."""

KERNEL_NOTE = "run_python runs in the user's live Jupyter kernel: their variables are visible and changes persist for them."
SANDBOX_NOTE = "run_python keeps variables between calls."


def build_system_prompt(
    *, workdir: str, provider: str, shares_user_namespace: bool, custom_tool_names: list[str], has_python: bool, extra: str | None
) -> str:
    lines = [BASE_PROMPT]
    if has_python:
        lines.append(KERNEL_NOTE if shares_user_namespace else SANDBOX_NOTE)
        if custom_tool_names:
            names = ", ".join(custom_tool_names)
            how = f"as {TOOLS_NAMESPACE}.<name>(...) " if shares_user_namespace else ""
            lines.append(f"Custom tools ({names}) are also Python functions inside run_python: call them {how}with keyword arguments.")
    lines.append(f"Work dir: {workdir} (provider: {provider}).")
    if extra:
        lines.append(extra)
    return "\n".join(lines)
