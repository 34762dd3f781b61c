"""Render execution results: the text the model reads, and the parts a person sees."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..providers.base import ExecResult

PartKind = Literal["stdout", "stderr", "value", "error", "note"]


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


@dataclass(frozen=True)
class OutputPart:
    """One piece of a result as a person sees it: a stream, the value, the traceback, or a note about the step."""

    kind: PartKind
    text: str


def output_parts(result: ExecResult) -> list[OutputPart]:
    """What a cell would show for ``result``, in IPython's order, without the labels the model reads.

    A display's text stands for it (a figure's is ``<Figure …>``); the caller shows images itself.
    """
    parts: list[OutputPart] = []

    def add(kind: PartKind, text: str) -> None:
        if text.strip():
            parts.append(OutputPart(kind, text.rstrip("\n")))

    add("stdout", result.stdout)
    add("stderr", result.stderr)
    for bundle in result.displays:
        add("stdout", bundle.get("text/plain", ""))
    if result.value is not None:
        add("value", result.value)
    if result.error is not None:
        add("error", result.error.traceback or f"{result.error.name}: {result.error.value}")
    if result.exit_code:
        add("note", f"exit code {result.exit_code}")
    if result.timed_out:
        add("note", f"timed out after {result.duration:.1f} s and was interrupted")
    if result.state_lost:
        add("note", "the worker was restarted: all variables, imports and open files from earlier steps are gone")
    return parts
