"""Render execution results as the text the model reads."""
from __future__ import annotations

from ..providers.base import ExecResult


def render_exec_result(result: ExecResult) -> str:
    """Stdout, stderr, the last value, displays and errors, each labelled; empty output said plainly."""
    parts: list[str] = []
    if result.stdout:
        parts.append(result.stdout.rstrip("\n"))
    if result.stderr:
        parts.append("[stderr]\n" + result.stderr.rstrip("\n"))
    if result.value is not None:
        parts.append("[value] " + result.value)
    for bundle in result.displays:
        kinds = ", ".join(sorted(k for k in bundle if k != "text/plain"))
        text = bundle.get("text/plain", "")
        parts.append(f"[display {kinds}] {text}".rstrip() if kinds else f"[display] {text}")
    if result.exit_code:
        parts.append(f"[exit code {result.exit_code}]")
    if result.error is not None:
        parts.append(result.error.traceback.rstrip() or f"{result.error.name}: {result.error.value}")
    if result.timed_out:
        parts.append(f"[timed out after {result.duration:.1f}s and was interrupted]")
    if result.state_lost:
        parts.append("[the worker was restarted: all variables, imports and open files from earlier steps are gone]")
    return "\n".join(parts) if parts else "[no output]"
