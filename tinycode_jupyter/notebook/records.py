"""What the notebook itself remembers about the agent, in ``metadata.tinycode``.

Cell metadata of a cell the agent wrote: ``run_id``, ``anchor_cell_id`` (the agent cell it
belongs to), ``model``, ``cell_id`` (the id it was written with) and ``source_sha`` (a hash of
the source it was written with). A cell stays the agent's only while both still match: a
user's copy gets a new id and a user's edit changes the source, and either makes the cell
the user's (a re-run never replaces or deletes it). Cells written before these two fields
existed count as the agent's while they carry a ``run_id``.

Every change the agent makes to an existing cell is recorded: ``tinycode.edits`` on the cell
(``run_id``, ``previous_source``, ``new_sha``: the hash of the source the edit left), and deleted cells in the notebook's
``metadata.tinycode.deleted`` (``run_id``, ``after_cell_id``, the whole ``cell``). The
notebook's ``metadata.tinycode.last_turn`` holds a snapshot of the cells when the agent's
last turn ended, so the next run can say what the user changed since.
"""
from __future__ import annotations

import hashlib
from collections.abc import MutableMapping
from typing import Any

METADATA_KEY = "tinycode"
SHA_CHARS = 16


def source_of(cell: Any) -> str:
    """A cell's source as one string (files may store it as a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def source_sha(source: str) -> str:
    """SHA-256 of the UTF-8 source, hex, first 16 characters (the TypeScript side computes the same)."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:SHA_CHARS]


def tinycode_of(cell: Any) -> dict[str, Any]:
    value = (cell.get("metadata") or {}).get(METADATA_KEY)
    return value if isinstance(value, dict) else {}


def _tinycode_for_writing(holder: MutableMapping[str, Any]) -> dict[str, Any]:
    """``holder["metadata"]["tinycode"]``, made if missing (read back: nbformat nodes copy what is stored)."""
    if not isinstance(holder.get("metadata"), dict):
        holder["metadata"] = {}
    metadata = holder["metadata"]
    if not isinstance(metadata.get(METADATA_KEY), dict):
        metadata[METADATA_KEY] = {}
    return metadata[METADATA_KEY]


def is_agent_cell(cell: Any) -> bool:
    """Written by the agent and since then neither copied nor edited by the user."""
    tag = tinycode_of(cell)
    if not tag.get("run_id"):
        return False
    if "cell_id" in tag and tag["cell_id"] != cell.get("id"):
        return False  # a copy: the user's
    return "source_sha" not in tag or tag["source_sha"] == source_sha(source_of(cell))


def anchor_of(cell: Any) -> str | None:
    """The agent cell an agent's cell belongs to; None for the user's cells."""
    return tinycode_of(cell).get("anchor_cell_id") if is_agent_cell(cell) else None


def stamp_agent_cell(cell: MutableMapping[str, Any], **fields: Any) -> None:
    """Mark ``cell`` as the agent's, as it is now (its id and source); ``fields``: run_id, anchor_cell_id, model…"""
    tag = _tinycode_for_writing(cell)
    tag.update({k: v for k, v in fields.items() if v is not None})
    tag["cell_id"] = cell.get("id")
    tag["source_sha"] = source_sha(source_of(cell))


def restamp_source(cell: MutableMapping[str, Any]) -> None:
    """After the agent changed its own cell: it is still the agent's."""
    _tinycode_for_writing(cell)["source_sha"] = source_sha(source_of(cell))


def record_edit(cell: MutableMapping[str, Any], run_id: str, previous_source: str, new_source: str) -> None:
    """Record the agent's change of ``cell`` from ``previous_source`` to ``new_source`` (kept as its ``new_sha``)."""
    edit = {"run_id": run_id, "previous_source": previous_source, "new_sha": source_sha(new_source)}
    _tinycode_for_writing(cell).setdefault("edits", []).append(edit)


def record_deletion(notebook: MutableMapping[str, Any], cell: Any, run_id: str, after_cell_id: str | None) -> None:
    """Keep a deleted cell in the notebook's ``metadata.tinycode.deleted``."""
    tag = _tinycode_for_writing(notebook)
    tag.setdefault("deleted", []).append({"run_id": run_id, "after_cell_id": after_cell_id, "cell": cell})


def remember_last_turn(notebook: MutableMapping[str, Any], last_turn: dict[str, Any]) -> None:
    _tinycode_for_writing(notebook)["last_turn"] = last_turn


def snapshot_entry(cell: Any) -> list[Any]:
    """``[id, source_sha, is_agent]``: what the next run compares against."""
    return [cell.get("id"), source_sha(source_of(cell)), is_agent_cell(cell)]
