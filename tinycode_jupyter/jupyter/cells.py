"""Turn what the agent did into notebook cells (nbformat v4 dicts) that re-run without the agent."""
from __future__ import annotations

import uuid
from typing import Any

from ..providers.base import ExecResult
from ..record import RunRecord, ToolCallRecord
from ..untrusted_text import markdown_text
from ..redaction import redact_notebook
from .comm_protocol import METADATA_KEY

Cell = dict[str, Any]


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


def cell_metadata(run_id: str, step: int, turn: int, model: str, tokens: int, anchor_cell_id: str | None) -> dict[str, Any]:
    """The ``metadata`` of a generated cell: what the frontend matches on when a run is replaced."""
    return {METADATA_KEY: {"run_id": run_id, "step": step, "turn": turn, "model": model, "tokens": tokens,
                           "anchor_cell_id": anchor_cell_id}}  # fmt: skip


def cell_for_call(call: ToolCallRecord, metadata: dict[str, Any]) -> Cell | None:
    """A code cell (with outputs) for a tool call, or None if it changed nothing or never ran."""
    source = call.view.cell_source if call.view is not None else None
    if source is None or call.origin != "model" or not call.ran or (not call.ok and call.exec_result is None):
        return None  # nothing to redo, or it never ran (blocked, denied, invalid), or it failed before running code
    return code_cell(source, outputs_for(call.exec_result), metadata)


def cells_for_run(record: RunRecord, anchor_cell_id: str | None = None) -> list[Cell]:
    """Every code cell of the run, then the answer as a markdown cell."""
    cells: list[Cell] = []
    for step in record.steps:
        for call in step.tool_calls:
            meta = cell_metadata(record.run_id, len(cells), step.turn, record.model, step.usage.total_tokens, anchor_cell_id)
            cell = cell_for_call(call, meta)
            if cell is not None:
                cells.append(cell)
    if record.answer:
        last = record.steps[-1]
        meta = cell_metadata(record.run_id, len(cells), last.turn, record.model, last.usage.total_tokens, anchor_cell_id)
        cells.append(answer_cell(record.answer, meta))
    return cells


def combined_source(record: RunRecord) -> str | None:
    """One cell's worth of the run's Python code, for ``set_next_input`` (which inserts a single cell).

    Only calls that worked and whose cells are plain Python (no cell magic) are joined; None if there are none.
    """
    sources = [call.view.cell_source for call in record.tool_calls
               if call.ok and call.origin == "model" and call.view is not None and call.view.cell_source]  # fmt: skip
    python = [source.rstrip() for source in sources if source and not source.startswith("%%")]
    if not python:
        return None
    title = record.prompt.splitlines()[0][:80] if record.prompt else ""
    return "\n\n".join([f"# tinycode run {record.run_id}: {title}", *python]) + "\n"


def notebook_for_session(records: list[RunRecord]) -> dict[str, Any]:
    """A standalone notebook of every run: the prompt, the code cells with outputs, the answer; secrets redacted."""
    cells: list[Cell] = []
    for record in records:
        cells.append(markdown_cell(f"**Prompt:** {markdown_text(record.prompt)}"))
        cells.extend(cells_for_run(record))
    return redact_notebook({
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": cells,
    })
