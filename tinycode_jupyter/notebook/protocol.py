"""The notebook protocol: requests from the kernel, answered by whatever owns the document.

Who owns what
-------------
The **document owner** holds the notebook: the JupyterLab 4 / Notebook 7 extension (the live
model of the notebook whose kernel opened the comm, never "the active tab"), or ``tinycode
run`` (:mod:`tinycode_jupyter.jupyter.headless`, which executes an nbformat document). The
owner is the only authority on the document and enforces every rule below itself, because
code the agent runs in the kernel can send these messages too. The **kernel** (the agent)
only asks: :mod:`.comm_backend` is its client. Where no owner answers, the kernel falls back
to a read-only view of its own history (:mod:`.readonly`) and edits are only proposed.

Transport
---------
A Jupyter comm on target :data:`TARGET`. For each agent run the kernel opens a new comm whose
``comm_open`` data is the ``hello`` request. Every later message from the kernel is a request
(``comm_msg`` data); the owner answers each with exactly one reply, in any order:

    request:  {"op": str, "request_id": str, "owner_id": str, ...arguments}
    reply:    {"reply_to": request_id, "ok": true, "result": {...}}
              {"reply_to": request_id, "ok": false, "error": {"code": str, "message": str, ...}}
    interim:  {"reply_to": request_id, "waiting": "user"}   (optional: a person is deciding)

Several owners may answer the ``hello`` (two tabs of one notebook). The kernel uses the first
and puts its ``owner_id`` in every later request; an owner ignores requests that carry
another owner's id. The kernel waits :data:`HELLO_TIMEOUT` seconds for a hello reply and
:data:`REQUEST_TIMEOUT` seconds for others; after an ``interim`` message it waits up to
:data:`REVIEW_TIMEOUT` seconds for that request (a person is deciding).

Cells on the wire (owner to kernel)
-----------------------------------
    {"id": str, "index": int (0-based), "cell_type": "code" | "markdown" | "raw",
     "source": str, "execution_count": int | null, "outputs": [nbformat v4 outputs] (code cells),
     "agent": bool, "run_id": str | null}

``agent`` is the owner's verdict on :func:`tinycode_jupyter.notebook.records.is_agent_cell`:
true for a cell whose ``metadata.tinycode`` has a ``run_id``, a ``cell_id`` equal to the cell's
id (a pasted copy has a new id) and a ``source_sha`` equal to the SHA-256 of its source
(UTF-8, hex, first 16 characters; a user's edit changes it). Cells without ``cell_id`` or
``source_sha`` (older files) count as the agent's while they have a ``run_id``. In Lab the
extension may also clear the stamp when it sees the user edit or paste such a cell.

Requests (``run`` is ``{"run_id": str, "anchor_cell_id": str | null, "model": str}``)
------------------------------------------------------------------------------------
``hello`` ``{"version": 1, "kernel_cell_id": str | null}``
    result ``{"owner_id": str, "version": 1, "name": str, "policy": "allow" | "review" | "deny",
    "executing_cell_id": str | null}``. ``policy`` says what the owner does with an edit or
    delete of a *user's* cell: apply it (headless ``--allow-edits``), ask the user with a diff
    and Accept / Reject (Lab, NB7), or refuse it (headless by default).
``get_cells`` ``{"cell_ids": [str] | null}``
    result ``{"cells": [cell], "name": str, "executing_cell_id": str | null, "last_turn": snapshot | null}``;
    ``null`` means every cell; unknown ids are left out.
``insert_cell`` ``{"cell_type", "source", "after_cell_id": str | null, "run"}``
    Insert a new cell below ``after_cell_id`` (``null``: at the top). The owner picks a new
    unique id and writes ``metadata.tinycode`` = ``run_id``, ``anchor_cell_id``, ``model``,
    ``cell_id``, ``source_sha``. result ``{"cell": cell}``.
``edit_cell`` ``{"cell_id", "source", "expected_source", "run"}``
    Replace the source if it is still ``expected_source`` (else error ``conflict``). The owner
    appends ``{"run_id", "previous_source", "new_sha"}`` to the cell's ``metadata.tinycode.edits`` and, for an
    agent cell, updates ``source_sha``. A user's cell follows ``policy``: under ``review`` the owner
    sends the interim message, shows the diff with Accept / Reject, and replies ``rejected`` (with
    the user's ``reason``) or applies it. In Lab each applied change is one undo step.
    result ``{"cell": cell}``.
``delete_cell`` ``{"cell_id", "expected_source", "run"}``
    Remove the cell (same checks). The owner appends ``{"run_id", "after_cell_id", "cell"}`` (the
    whole nbformat cell) to the notebook's ``metadata.tinycode.deleted``; Lab also shows a
    placeholder that restores it. result ``{"cell": cell}`` (as it was).
``set_outputs`` ``{"cell_id", "outputs", "execution_count", "run"}``
    Store the outputs of a run of a code cell, as executing it in the frontend would (not a
    change of the user's cell: allowed under every policy). ``metadata.trusted`` is dropped.
    result ``{"cell": cell}``.
``set_last_turn`` ``{"last_turn": {"run_id": str, "cells": [[id, source_sha, agent], ...]}}``
    Keep it in the notebook's ``metadata.tinycode.last_turn``; ``get_cells`` returns it.
    result ``{}``.

``revert_run`` ``{"run_id": str}``
    Undo what run ``run_id`` did to the cells (not a change of the user's work: allowed under
    every policy). Cells the run inserted that are still the agent's are removed; cells it
    edited get back the ``previous_source`` of the run's first edit record, when their source is
    still what the run left (the record's ``new_sha``), else they are kept and listed; cells it
    deleted come back after ``after_cell_id`` (at the top for ``null``; below the run's agent cell
    when that cell is gone), with their old id unless it is taken. The run's edit records and
    ``deleted`` entries are dropped. In Lab it is one undo step. result ``{"removed": [id],
    "restored": [id], "reinserted": [id], "kept": [{"cell_id": str, "reason": str}]}``.

A request never sets metadata or ids directly: only the owner writes them, by these rules.

Errors (``error.code``, see :data:`ERROR_CODES`): ``unknown_cell`` (``cell_id``), ``conflict``
(``current_source``: the user changed the cell meanwhile), ``needs_approval`` (policy deny),
``rejected`` (the user rejected it; ``reason``), ``not_code`` (outputs for a non-code cell),
``bad_request`` (anything malformed). The kernel's client adds ``unavailable`` (no reply in time).
"""
from __future__ import annotations

import uuid
from typing import Any

from .base import CELL_TYPES, CellInfo, CellType, NotebookError, RevertSummary, RunInfo, TurnSnapshot
from .records import source_of

TARGET = "tinycode_jupyter.notebook"
VERSION = 1
HELLO_TIMEOUT = 0.5
UNANSWERED_HELLO_TIMEOUT = 0.15
"""After a hello went unanswered in this kernel (VS Code, classic Notebook), later ones wait this long."""
REQUEST_TIMEOUT = 30.0
REVIEW_TIMEOUT = 600.0
OPS = ("hello", "get_cells", "insert_cell", "edit_cell", "delete_cell", "set_outputs", "set_last_turn", "revert_run")
ERROR_CODES = ("unknown_cell", "conflict", "needs_approval", "rejected", "not_code", "bad_request")
POLICIES = ("allow", "review", "deny")


def request(op: str, owner_id: str | None = None, **arguments: Any) -> dict[str, Any]:
    """A request message with a fresh ``request_id``."""
    message = {"op": op, "request_id": uuid.uuid4().hex, **arguments}
    if owner_id is not None:
        message["owner_id"] = owner_id
    return message


def run_wire(run: RunInfo) -> dict[str, Any]:
    return {"run_id": run.run_id, "anchor_cell_id": run.anchor_cell_id, "model": run.model}


def ok(request_id: str, result: dict[str, Any]) -> dict[str, Any]:
    return {"reply_to": request_id, "ok": True, "result": result}


def failure(request_id: str, code: str, message: str, **detail: Any) -> dict[str, Any]:
    return {"reply_to": request_id, "ok": False, "error": {"code": code, "message": message, **detail}}


def result_of(reply: Any) -> dict[str, Any]:
    """The result of a reply, or :class:`NotebookError` with the owner's code and message."""
    if not isinstance(reply, dict):
        raise NotebookError("bad_request", f"the notebook sent a malformed reply ({type(reply).__name__})")
    if reply.get("ok") is True and isinstance(reply.get("result"), dict):
        return reply["result"]
    raw = reply.get("error")
    error: dict[str, Any] = raw if isinstance(raw, dict) else {}
    code = str(error["code"]) if error.get("code") in ERROR_CODES else "bad_request"
    message = str(error.get("message") or "the notebook refused the request without saying why")
    raise NotebookError(code, message, {k: v for k, v in error.items() if k not in ("code", "message")})


def cell_from_wire(data: Any) -> CellInfo:
    """A :class:`CellInfo` from an owner's cell, checked field by field."""
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not isinstance(data.get("index"), int):
        raise NotebookError("bad_request", "the notebook sent a cell without a valid id and index")
    cell_type = data.get("cell_type")
    count = data.get("execution_count")
    outputs = data.get("outputs") or []
    return CellInfo(
        id=data["id"],
        index=data["index"],
        cell_type=cell_type if cell_type in CELL_TYPES else "raw",
        source=str(data.get("source") or ""),
        execution_count=count if isinstance(count, int) and not isinstance(count, bool) else None,
        outputs=tuple(o for o in outputs if isinstance(o, dict)) if isinstance(outputs, list) else (),
        agent=data.get("agent") is True,
        run_id=data.get("run_id") if isinstance(data.get("run_id"), str) else None,
    )


def cell_to_wire(cell: Any, index: int, agent: bool, run_id: str | None) -> dict[str, Any]:
    """An nbformat cell as the owner sends it."""
    cell_type: CellType = cell.get("cell_type") if cell.get("cell_type") in CELL_TYPES else "raw"
    wire = {"id": cell.get("id"), "index": index, "cell_type": cell_type, "source": source_of(cell),
            "execution_count": cell.get("execution_count"), "agent": agent, "run_id": run_id}  # fmt: skip
    if cell_type == "code":
        wire["outputs"] = list(cell.get("outputs") or [])
    return wire


def snapshot_to_wire(snapshot: TurnSnapshot) -> dict[str, Any]:
    return {"run_id": snapshot.run_id, "cells": [list(entry) for entry in snapshot.cells]}


def snapshot_from_wire(data: Any) -> TurnSnapshot | None:
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return None
    entries = tuple((str(e[0]), str(e[1]), bool(e[2])) for e in data["cells"] if isinstance(e, list) and len(e) == 3)
    return TurnSnapshot(str(data.get("run_id") or ""), entries)


def revert_from_wire(run_id: str, result: dict[str, Any]) -> RevertSummary:
    """A ``revert_run`` result, checked field by field (what is not a string is left out)."""

    def ids(key: str) -> tuple[str, ...]:
        value = result.get(key)
        return tuple(i for i in value if isinstance(i, str)) if isinstance(value, list) else ()

    kept = result.get("kept")
    entries = kept if isinstance(kept, list) else []
    return RevertSummary(run_id, ids("removed"), ids("restored"), ids("reinserted"),
                         tuple((str(e.get("cell_id")), str(e.get("reason") or "")) for e in entries if isinstance(e, dict)))  # fmt: skip
