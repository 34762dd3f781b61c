"""A cell's error as ``%agent fix`` and ``{Err[n]}`` read it: from the kernel's own record, or from a cell's outputs.

The kernel records each failed execution as it happens (:mod:`tinycode_jupyter.jupyter.error_log`),
with the frames of the real traceback mapped to the cells they ran in (IPython's compiler keeps
the execution count of each cell's file name). A notebook opened with its outputs, or run by
``tinycode run``, also has error outputs; their frames are read from the traceback's text
(``Cell In[3], line 2, in select(values)``, as IPython prints them).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CELL_FRAME = re.compile(r"^\s*Cell In\[(\d+)\], line (\d+)(?:, in ([\w.<>]+))?", re.MULTILINE)


@dataclass(frozen=True)
class Frame:
    """One frame of a traceback that ran code of a cell (``In[execution_count]``)."""

    execution_count: int
    lineno: int
    function: str = "<module>"
    """The qualified name: ``<module>`` at a cell's top level, ``select``, ``Model.fit``, ``f.<locals>.<listcomp>``."""

    @property
    def defined_name(self) -> str | None:
        """The top-level name the frame's code belongs to (``Model`` for ``Model.fit``); None at the top level."""
        head = self.function.split(".", 1)[0]
        return None if head.startswith("<") else head


@dataclass(frozen=True)
class CellError:
    """An error a cell raised: its name, message and traceback text (no ANSI colours), and where it ran."""

    ename: str
    evalue: str
    traceback: str
    execution_count: int | None = None
    cell_id: str | None = None
    frames: tuple[Frame, ...] = ()
    """Outermost first; only frames in cells."""
    sources: tuple[tuple[int, str], ...] = ()
    """``(execution count, source)`` of the cells in the frames, as they ran (the compiler's cache)."""

    def source_of(self, execution_count: int) -> str | None:
        return next((source for count, source in self.sources if count == execution_count), None)

    def headline(self) -> str:
        first = self.evalue.strip().splitlines()[0] if self.evalue.strip() else ""
        return f"{self.ename}: {first}" if first else self.ename


def plain(lines: Any) -> str:
    """Traceback lines (a list, as in an error output, or one string) as text without ANSI colours."""
    text = "\n".join(str(line) for line in lines) if isinstance(lines, list) else str(lines or "")
    return ANSI.sub("", text)


def cut(text: str, limit: int) -> str:
    """``text`` within about ``limit`` characters: a third from the head, the rest from the tail (where a
    traceback's error is), and how much was cut between."""
    if len(text) <= limit:
        return text
    head = limit // 3
    return f"{text[:head]}\n[… {len(text) - limit} characters cut …]\n{text[-(limit - head):]}"


def frames_in(traceback_text: str) -> tuple[Frame, ...]:
    """The cell frames IPython printed in ``traceback_text``, outermost first."""
    return tuple(Frame(int(m[1]), int(m[2]), m[3] or "<module>") for m in _CELL_FRAME.finditer(traceback_text))


def error_in_outputs(outputs: tuple[dict[str, Any], ...], cell_id: str, execution_count: int | None) -> CellError | None:
    """The error a cell's outputs show (its last one), or None."""
    found = next((o for o in reversed(outputs) if o.get("output_type") == "error"), None)
    if found is None:
        return None
    text = plain(found.get("traceback") or [])
    return CellError(str(found.get("ename") or "Error"), str(found.get("evalue") or ""), text, execution_count, cell_id,
                     frames_in(text))  # fmt: skip
