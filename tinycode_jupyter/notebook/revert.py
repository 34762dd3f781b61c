"""The owner's ``revert_run`` (:mod:`.protocol`): undo what one agent run did to an nbformat notebook's cells.

In this order: the cells the run inserted that are still the agent's are removed; the cells it
edited get back the source before its first edit, if their source is still what its last edit
left (the edit record's ``new_sha``); the cells it deleted come back where they were. Anything
the user changed since is kept and listed with the reason. The run's edit records and
``deleted`` entries are dropped.

A deleted cell comes back below the cell it followed (``after_cell_id``; at the top for none).
When that cell is gone too, it comes back below the run's agent cell, or at the notebook's end
when that is gone as well. It keeps its old id unless another cell has it meanwhile.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable

from . import records
from .base import NotebookError

CHANGED_SINCE_WRITTEN = "changed by the user since the run wrote it"
CHANGED_SINCE_EDITED = "changed since the run edited it"
NOT_HASHED = "edited before edits recorded their result, so whether it changed since cannot be told"


@dataclass
class Reverted:
    """The ``revert_run`` result, and the cell objects it took out of the notebook."""

    removed: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    reinserted: list[str] = field(default_factory=list)
    kept: list[dict[str, str]] = field(default_factory=list)
    taken_out: list[Any] = field(default_factory=list)

    def result(self) -> dict[str, Any]:
        return {"removed": self.removed, "restored": self.restored, "reinserted": self.reinserted, "kept": self.kept}


def revert_run(nb: Any, run_id: Any, new_id: Callable[[], str]) -> Reverted:
    """Revert run ``run_id`` in ``nb`` (changed in place); ``new_id()`` gives an unused cell id."""
    if not isinstance(run_id, str) or not run_id:
        raise NotebookError("bad_request", "run_id must be a non-empty string")
    done = Reverted()
    anchor = _anchor_of(nb.cells, run_id)
    _remove_inserted(nb, run_id, done)
    for cell in nb.cells:
        _restore_edited(cell, run_id, done)
    _reinsert_deleted(nb, run_id, anchor, new_id, done)
    return done


def _anchor_of(cells: list[Any], run_id: str) -> str | None:
    """The agent cell the run's cells belong to, while one of them says so."""
    return next((records.anchor_of(c) for c in cells
                 if records.tinycode_of(c).get("run_id") == run_id and records.anchor_of(c)), None)  # fmt: skip


def _remove_inserted(nb: Any, run_id: str, done: Reverted) -> None:
    left = []
    for cell in nb.cells:
        tag = records.tinycode_of(cell)
        written = tag.get("run_id") == run_id and tag.get("cell_id", cell.get("id")) == cell.get("id")  # not a copy
        if written and records.is_agent_cell(cell):
            done.removed.append(cell.get("id"))
            done.taken_out.append(cell)
            continue
        if written:
            done.kept.append({"cell_id": cell.get("id"), "reason": CHANGED_SINCE_WRITTEN})
        left.append(cell)
    nb.cells[:] = left


def _restore_edited(cell: Any, run_id: str, done: Reverted) -> None:
    tag = records.tinycode_of(cell)
    edits = tag.get("edits")
    mine = [e for e in edits if isinstance(e, dict) and e.get("run_id") == run_id] if isinstance(edits, list) else []
    if not mine:
        return
    left_by_run = mine[-1].get("new_sha")
    if left_by_run is None or left_by_run != records.source_sha(records.source_of(cell)):
        done.kept.append({"cell_id": cell.get("id"), "reason": CHANGED_SINCE_EDITED if left_by_run else NOT_HASHED})
    else:
        agent = records.is_agent_cell(cell)
        cell["source"] = str(mine[0].get("previous_source", ""))
        if agent:
            records.restamp_source(cell)
        done.restored.append(cell.get("id"))
    _drop(cell, "edits", [e for e in edits or () if e not in mine])


def _reinsert_deleted(nb: Any, run_id: str, anchor: str | None, new_id: Callable[[], str], done: Reverted) -> None:
    import nbformat

    deleted = records.tinycode_of(nb).get("deleted")
    if not isinstance(deleted, list):
        return
    mine = [d for d in deleted if isinstance(d, dict) and d.get("run_id") == run_id and isinstance(d.get("cell"), dict)]
    for entry in reversed(mine):  # the last deletion first, so each cell finds the one it followed
        cell = nbformat.from_dict(copy.deepcopy(entry["cell"]))
        agent = records.is_agent_cell(cell)
        if not cell.get("id") or any(c.get("id") == cell["id"] for c in nb.cells):
            cell["id"] = new_id()
            if agent:
                records.tinycode_of(cell)["cell_id"] = cell["id"]
        nb.cells.insert(_position(nb.cells, entry.get("after_cell_id"), anchor), cell)
        done.reinserted.append(cell["id"])
    _drop(nb, "deleted", [d for d in deleted if d not in mine])


def _position(cells: list[Any], after: Any, anchor: str | None) -> int:
    if after is None:
        return 0
    ids = [c.get("id") for c in cells]
    for target in (after, anchor):
        if target in ids:
            return ids.index(target) + 1
    return len(cells)


def _drop(holder: Any, key: str, left: list[Any]) -> None:
    """Keep ``left`` under ``metadata.tinycode[key]``; an emptied list, then an emptied tag, goes away."""
    metadata = holder.get("metadata") or {}
    tag = metadata.get(records.METADATA_KEY)
    if not isinstance(tag, dict):
        return
    if left:
        tag[key] = left
        return
    tag.pop(key, None)
    if not tag:
        metadata.pop(records.METADATA_KEY, None)
