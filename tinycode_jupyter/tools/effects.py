"""What a tool call does and how it looks, declared by the tool itself.

Every tool declares, for given arguments, its :class:`Effect` list (what the
policy checks and the approval rules look at) and its :class:`ActionView` (what
every surface shows: terminal, rich view, cell output, chat, sidebar, gradio,
approval previews, and the cell it becomes when written back). Nothing else in
the package knows a tool's argument names.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

EffectKind = Literal["runs_python", "runs_shell", "reads_path", "writes_path", "edits_cell", "network", "unknown"]
EFFECT_KINDS: tuple[EffectKind, ...] = (
    "runs_python", "runs_shell", "reads_path", "writes_path", "edits_cell", "network", "unknown",
)  # fmt: skip
Language = Literal["python", "bash", "diff", "json", "text"]


@dataclass(frozen=True)
class Effect:
    """One thing a call does. ``target``: the path, cell id or host; ``payload``: the code or command it runs."""

    kind: EffectKind
    target: str | None = None
    payload: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in EFFECT_KINDS:
            raise ValueError(f"unknown effect kind {self.kind!r}; use one of {', '.join(EFFECT_KINDS)}")

    def describe(self) -> str:
        """``writes_path /work/a.txt``"""
        return f"{self.kind} {self.target}" if self.target else self.kind


UNKNOWN_EFFECTS: tuple[Effect, ...] = (Effect("unknown"),)
"""What a tool that declares nothing is assumed to do: anything (approval policies ask)."""


@dataclass(frozen=True)
class ActionView:
    """How one call looks everywhere.

    ``title`` is a question a person could approve; ``body`` is shown in ``language``
    (code, a command, a diff, or the arguments as JSON); ``subtitle`` says where (a path,
    a work dir); ``cell_source`` is the code cell that redoes the call in a kernel when it
    worked, or None when it leaves nothing to redo.
    """

    title: str
    body: str
    language: Language = "json"
    subtitle: str | None = None
    cell_source: str | None = None
    notes: tuple[str, ...] = ()
    """Things a person deciding should know, e.g. that an update would fail."""


def arguments_view(tool_name: str, arguments: dict[str, Any]) -> ActionView:
    """The view of a call whose tool says nothing about its looks: its arguments as JSON."""
    body = json.dumps(arguments, indent=2, default=repr, ensure_ascii=False) if arguments else "{}"
    return ActionView(f"Call {tool_name}?", body, "json")
