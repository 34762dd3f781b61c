"""The document owner's side of the notebook protocol, over an nbformat notebook.

``tinycode run`` answers the kernel with it, tests drive it directly, and it is the reference
for the frontend extension: every rule of :mod:`.protocol` is enforced here, whoever sends
the request (the agent's own code in the kernel can send one too).
"""
from __future__ import annotations

import copy
import logging
import uuid
from typing import Any, Callable, Literal

from . import records
from .base import CELL_TYPES, NotebookError
from .protocol import VERSION, cell_to_wire, failure, ok
from .revert import revert_run

log = logging.getLogger(__name__)
HeadlessPolicy = Literal["allow", "deny"]
Handler = Callable[[dict[str, Any]], dict[str, Any]]


class NotebookDocument:
    """Answers protocol requests against ``nb`` (changed in place).

    ``policy``: ``"allow"`` applies edits and deletes of the user's cells, ``"deny"`` refuses
    them. ``executing_cell_id`` tells which cell runs now (the agent cell, in ``tinycode run``).
    """

    def __init__(self, nb: Any, policy: HeadlessPolicy = "deny", name: str = "",
                 executing_cell_id: Callable[[], str | None] = lambda: None) -> None:  # fmt: skip
        self.nb = nb
        self.policy: HeadlessPolicy = policy
        self.name = name
        self.executing_cell_id = executing_cell_id
        self.owner_id = uuid.uuid4().hex
        self._deleted: set[int] = set()
        self._handlers: dict[str, Handler] = {
            "hello": self._hello, "get_cells": self._get_cells, "insert_cell": self._insert, "edit_cell": self._edit,
            "delete_cell": self._delete, "set_outputs": self._set_outputs, "set_last_turn": self._set_last_turn,
            "revert_run": self._revert_run,
        }  # fmt: skip

    def was_deleted(self, cell: Any) -> bool:
        """Whether this cell object was deleted (or removed by a revert) through the protocol (the runner then skips it)."""
        return id(cell) in self._deleted

    def handle(self, message: Any) -> dict[str, Any] | None:
        """The reply to one request, or None for a message that is not for this owner."""
        if not isinstance(message, dict) or not isinstance(message.get("request_id"), str):
            return None
        request_id, op = message["request_id"], message.get("op")
        if op != "hello" and message.get("owner_id") != self.owner_id:
            return None
        handler = self._handlers.get(op) if isinstance(op, str) else None
        if handler is None:
            return failure(request_id, "bad_request", f"unknown op {op!r}")
        try:
            return ok(request_id, handler(message))
        except NotebookError as exc:
            return failure(request_id, exc.code, str(exc), **exc.detail)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.info("malformed notebook request %s: %s", op, exc)
            return failure(request_id, "bad_request", f"malformed {op} request ({type(exc).__name__}: {exc})")

    # --- requests -------------------------------------------------------------------------
    def _hello(self, message: dict[str, Any]) -> dict[str, Any]:
        if message.get("version") != VERSION:
            raise NotebookError("bad_request", f"protocol version {message.get('version')!r} is not {VERSION}")
        return {"owner_id": self.owner_id, "version": VERSION, "name": self.name, "policy": self.policy,
                "executing_cell_id": self.executing_cell_id()}  # fmt: skip

    def _get_cells(self, message: dict[str, Any]) -> dict[str, Any]:
        wanted = message.get("cell_ids")
        if wanted is not None and not (isinstance(wanted, list) and all(isinstance(i, str) for i in wanted)):
            raise NotebookError("bad_request", "cell_ids must be a list of strings or null")
        chosen = None if wanted is None else set(wanted)
        cells = [self._wire(cell, index) for index, cell in enumerate(self.nb.cells)
                 if chosen is None or cell.get("id") in chosen]  # fmt: skip
        tag = self.nb.metadata.get(records.METADATA_KEY) or {}
        return {"cells": cells, "name": self.name, "executing_cell_id": self.executing_cell_id(),
                "last_turn": tag.get("last_turn") if isinstance(tag, dict) else None}  # fmt: skip

    def _insert(self, message: dict[str, Any]) -> dict[str, Any]:
        import nbformat

        cell_type, source, run = message["cell_type"], _text(message, "source"), _run(message)
        if cell_type not in CELL_TYPES:
            raise NotebookError("bad_request", f"cell_type must be one of {', '.join(CELL_TYPES)}")
        after = message.get("after_cell_id")
        position = 0 if after is None else self._index(after) + 1
        maker = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell, "raw": nbformat.v4.new_raw_cell}
        cell = maker[cell_type](source=source)
        cell["id"] = self._new_id()
        records.stamp_agent_cell(cell, run_id=run["run_id"], anchor_cell_id=run.get("anchor_cell_id"), model=run.get("model"))
        self.nb.cells.insert(position, cell)
        return {"cell": self._wire(cell, position)}

    def _edit(self, message: dict[str, Any]) -> dict[str, Any]:
        index, cell = self._checked(message, "edit")
        source, run = _text(message, "source"), _run(message)
        records.record_edit(cell, run["run_id"], records.source_of(cell), source)
        agent = records.is_agent_cell(cell)
        cell["source"] = source
        if agent:
            records.restamp_source(cell)
        return {"cell": self._wire(cell, index)}

    def _delete(self, message: dict[str, Any]) -> dict[str, Any]:
        index, cell = self._checked(message, "delete")
        run = _run(message)
        after = self.nb.cells[index - 1].get("id") if index > 0 else None
        wire = self._wire(cell, index)
        records.record_deletion(self.nb, copy.deepcopy(dict(cell)), run["run_id"], after)
        del self.nb.cells[index]
        self._deleted.add(id(cell))
        return {"cell": wire}

    def _set_outputs(self, message: dict[str, Any]) -> dict[str, Any]:
        import nbformat
        from nbformat.validator import ValidationError, validate

        index, cell = self._find(message["cell_id"])
        if cell.get("cell_type") != "code":
            raise NotebookError("not_code", f"cell {cell.get('id')} is a {cell.get('cell_type')} cell; only code cells have outputs")
        outputs, count = message["outputs"], message.get("execution_count")
        if not isinstance(outputs, list) or not (count is None or (isinstance(count, int) and not isinstance(count, bool))):
            raise NotebookError("bad_request", "outputs must be a list and execution_count an integer or null")
        for output in outputs:
            try:
                validate(output, ref="output", version=4, version_minor=5)
            except ValidationError as exc:
                raise NotebookError("bad_request", f"an output is not valid nbformat: {exc.message}") from None
        cell["outputs"] = [nbformat.from_dict(output) for output in outputs]
        cell["execution_count"] = count
        cell.get("metadata", {}).pop("trusted", None)
        return {"cell": self._wire(cell, index)}

    def _set_last_turn(self, message: dict[str, Any]) -> dict[str, Any]:
        last_turn = message["last_turn"]
        if not isinstance(last_turn, dict) or not isinstance(last_turn.get("cells"), list):
            raise NotebookError("bad_request", "last_turn must be {run_id, cells}")
        records.remember_last_turn(self.nb, last_turn)
        return {}

    def _revert_run(self, message: dict[str, Any]) -> dict[str, Any]:
        done = revert_run(self.nb, message["run_id"], self._new_id)
        self._deleted.update(id(cell) for cell in done.taken_out)
        return done.result()

    # --- helpers --------------------------------------------------------------------------
    def _wire(self, cell: Any, index: int) -> dict[str, Any]:
        agent = records.is_agent_cell(cell)
        return cell_to_wire(cell, index, agent, records.tinycode_of(cell).get("run_id") if agent else None)

    def _find(self, cell_id: Any) -> tuple[int, Any]:
        index = self._index(cell_id)
        return index, self.nb.cells[index]

    def _index(self, cell_id: Any) -> int:
        for index, cell in enumerate(self.nb.cells):
            if cell.get("id") == cell_id:
                return index
        raise NotebookError("unknown_cell", f"no cell has the id {cell_id!r}", {"cell_id": cell_id})

    def _checked(self, message: dict[str, Any], verb: str) -> tuple[int, Any]:
        """The cell to change, if its source is as expected and the policy allows changing it."""
        index, cell = self._find(message["cell_id"])
        current = records.source_of(cell)
        if current != _text(message, "expected_source"):
            raise NotebookError("conflict", f"cell {cell.get('id')} changed since it was read; read it again",
                                {"current_source": current})  # fmt: skip
        if not records.is_agent_cell(cell) and self.policy != "allow":
            raise NotebookError("needs_approval", f"cell {cell.get('id')} is the user's: to {verb} it needs the user's "
                                "approval, and this run has none (tinycode run --allow-edits gives it); it was not changed")  # fmt: skip
        return index, cell

    def _new_id(self) -> str:
        taken = {cell.get("id") for cell in self.nb.cells}
        while True:
            candidate = uuid.uuid4().hex[:8]
            if candidate not in taken:
                return candidate


def _text(message: dict[str, Any], key: str) -> str:
    value = message[key]
    if not isinstance(value, str):
        raise NotebookError("bad_request", f"{key} must be a string")
    return value


def _run(message: dict[str, Any]) -> dict[str, Any]:
    run = message["run"]
    if not isinstance(run, dict) or not isinstance(run.get("run_id"), str) or not run["run_id"]:
        raise NotebookError("bad_request", "run must be {run_id, anchor_cell_id, model}")
    return run
