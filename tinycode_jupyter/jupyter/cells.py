"""Turn what the agent did into notebook cells (nbformat v4 dicts) that re-run without the agent.

Light to import (``%load_ext`` loads it through :mod:`.sandbox_magic`): the run record's types are
only named in annotations.
"""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..untrusted_text import markdown_text
from .comm_protocol import METADATA_KEY

if TYPE_CHECKING:
    from ..providers.base import ExecResult
    from ..record import RunRecord, Step, ToolCallRecord

Cell = dict[str, Any]
T = TypeVar("T")
SANDBOX_MAGIC = "sandbox"
"""The cell magic that runs a written-back cell in the provider it came from (:mod:`.sandbox_magic`)."""
HOST_PROVIDERS = frozenset({"kernel"})
"""Providers whose code runs in the user's kernel: their cells need no ``%%sandbox``."""


def outputs_for(result: ExecResult | None, execution_count: int | None = None) -> list[dict[str, Any]]:
    """nbformat outputs for an execution result: streams, displays, the value, the error."""
    if result is None:
        return []
    outputs: list[dict[str, Any]] = []
    if result.stdout:
        outputs.append({"output_type": "stream", "name": "stdout", "text": result.stdout})
    if result.stderr:
        outputs.append({"output_type": "stream", "name": "stderr", "text": result.stderr})
    for bundle in result.displays:
        outputs.append({"output_type": "display_data", "data": dict(bundle), "metadata": {}})
    if result.value is not None:
        outputs.append({"output_type": "execute_result", "data": {"text/plain": result.value}, "metadata": {},
                        "execution_count": execution_count})  # fmt: skip
    if result.error is not None:
        outputs.append({"output_type": "error", "ename": result.error.name, "evalue": result.error.value,
                        "traceback": result.error.traceback.splitlines()})  # fmt: skip
    return outputs


def code_cell(source: str, outputs: list[dict[str, Any]] | None = None, metadata: dict[str, Any] | None = None) -> Cell:
    return {"id": _new_id(), "cell_type": "code", "source": source, "outputs": outputs or [], "execution_count": None, "metadata": metadata or {}}


def markdown_cell(source: str, metadata: dict[str, Any] | None = None) -> Cell:
    return {"id": _new_id(), "cell_type": "markdown", "source": source, "metadata": metadata or {}}


def answer_cell(answer: str, metadata: dict[str, Any] | None = None) -> Cell:
    """The model's answer as a markdown cell that renders no HTML, image, link or math (:func:`.markdown_text`)."""
    return markdown_cell(markdown_text(answer), metadata)


def _new_id() -> str:
    return uuid.uuid4().hex[:8]


def cell_metadata(run_id: str, step: int, turn: int, model: str, tokens: int, anchor_cell_id: str | None,
                  provider: str = "kernel") -> dict[str, Any]:  # fmt: skip
    """The ``metadata`` of a generated cell: what the frontend matches on when a run is replaced."""
    return {METADATA_KEY: {"run_id": run_id, "step": step, "turn": turn, "model": model, "tokens": tokens,
                           "anchor_cell_id": anchor_cell_id, "provider": provider}}  # fmt: skip


def runs_where_it_ran(source: str, provider: str) -> str:
    """``source`` as a cell that runs where the agent's run ran it.

    Code from any provider but the kernel gets ``%%sandbox NAME`` on top, so re-running the
    notebook runs it in that sandbox again, never silently on the host.
    """
    if provider in HOST_PROVIDERS:
        return source
    return f"%%{SANDBOX_MAGIC} {provider}\n{source}"


def source_to_write(call: ToolCallRecord) -> str | None:
    """The source of the cell a call becomes: the model's call that ran code or changed something, else None."""
    source = call.view.cell_source if call.view is not None else None
    if source is None or call.origin != "model" or not call.ran:
        return None  # nothing to redo, or it never ran (blocked, denied, invalid)
    if not call.ok and call.exec_result is None:
        return None  # it failed before any code ran: nothing to redo
    return source


def cell_for_call(call: ToolCallRecord, metadata: dict[str, Any], provider: str = "kernel") -> Cell | None:
    """A code cell (with outputs) for a tool call, or None if it has none (:func:`source_to_write`).

    A step stopped before it finished (:func:`stopped_early`) is marked: a comment says so, and the
    cell's metadata has ``"interrupted": true``; its outputs are what it printed until then.
    """
    source = source_to_write(call)
    if source is None:
        return None
    if stopped_early(call):
        source = _marked_interrupted(source, call.exec_result.duration if call.exec_result else call.duration)
        metadata[METADATA_KEY]["interrupted"] = True
    return code_cell(runs_where_it_ran(source, provider), outputs_for(call.exec_result), metadata)


def stopped_early(call: ToolCallRecord) -> bool:
    """The step was interrupted or timed out: its cell is always written, because it changed the kernel's state."""
    return call.exec_result is not None and call.exec_result.interrupted


def keeps_its_cell(call: ToolCallRecord) -> bool:
    """Whether the call counts as one that worked for :class:`WorkedOnly`: it did, or it was stopped early."""
    return call.ok or stopped_early(call)


def _marked_interrupted(source: str, seconds: float) -> str:
    note = f"# interrupted after {seconds:.1f} s when the agent ran it; the output below is what it printed until then\n"
    first, _, rest = source.partition("\n")
    return f"{first}\n{note}{rest}" if first.startswith("%%") else note + source  # a cell magic stays first


class WorkedOnly(Generic[T]):
    """Only what worked becomes cells: picks a run's cells as its calls end.

    The cell of a call that failed is held back. It is dropped when a later call of the same run
    makes a cell and works (the agent fixed it: the failure stays in the agent cell's transcript),
    and written when the run ends without such a call (nothing fixed it, and the kernel state came
    from it). So the cells of a run that fixed its failures re-run top to bottom without one.
    """

    def __init__(self) -> None:
        self._held: list[T] = []

    def add(self, item: T, worked: bool) -> list[T]:
        """The items to write now."""
        if not worked:
            self._held.append(item)
            return []
        self._held = []
        return [item]

    def finish(self) -> list[T]:
        """The held items when the run ends: the failures nothing fixed."""
        held, self._held = self._held, []
        return held


def chosen_calls(calls: list[ToolCallRecord]) -> list[ToolCallRecord]:
    """The calls of a run whose cells are written, in order (:class:`WorkedOnly`)."""
    choice: WorkedOnly[ToolCallRecord] = WorkedOnly()
    chosen = [kept for call in calls if source_to_write(call) is not None for kept in choice.add(call, keeps_its_cell(call))]
    return chosen + choice.finish()


def cells_for_run(record: RunRecord, anchor_cell_id: str | None = None) -> list[Cell]:
    """The code cells of the run that worked (:class:`WorkedOnly`), then the answer as a markdown cell."""
    steps = {id(call): step for step in record.steps for call in step.tool_calls}
    cells: list[Cell] = []

    def metadata(step: Step) -> dict[str, Any]:
        return cell_metadata(record.run_id, len(cells), step.turn, record.model, step.usage.total_tokens,
                             anchor_cell_id, record.provider)  # fmt: skip

    for call in chosen_calls(record.tool_calls):
        cell = cell_for_call(call, metadata(steps[id(call)]), record.provider)
        if cell is not None:
            cells.append(cell)
    if record.answer:
        cells.append(answer_cell(record.answer, metadata(record.steps[-1])))
    return cells


def combined_source(record: RunRecord) -> str | None:
    """One cell's worth of the run's Python code, for ``set_next_input`` (which inserts a single cell).

    The calls are those whose cells would be written (:func:`chosen_calls`); only plain Python
    (no cell magic) is joined, under ``%%sandbox`` for a sandboxed run; None if there is none.
    """
    sources = [source_to_write(call) or "" for call in chosen_calls(record.tool_calls)]
    python = [source.rstrip() for source in sources if not source.startswith("%%")]
    if not python:
        return None
    title = record.prompt.splitlines()[0][:80] if record.prompt else ""
    joined = "\n\n".join([f"# tinycode run {record.run_id}: {title}", *python]) + "\n"
    return runs_where_it_ran(joined, record.provider)


def notebook_for_session(records: list[RunRecord]) -> dict[str, Any]:
    """A standalone notebook of every run: the prompt, the code cells with outputs, the answer; secrets redacted."""
    cells: list[Cell] = []
    for record in records:
        cells.append(markdown_cell(f"**Prompt:** {markdown_text(record.prompt)}"))
        cells.extend(cells_for_run(record))
    from ..redaction import redact_notebook

    return redact_notebook({
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": cells,
    })
