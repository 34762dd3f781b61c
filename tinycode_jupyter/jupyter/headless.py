"""``tinycode run``: execute a notebook headless and save the agent's work, as the frontend extension would.

:class:`HeadlessClient` is an nbclient ``NotebookClient`` that also plays the frontend's part of
both kernel protocols. It sends each cell's id with its execute request (``metadata.cellId``, as
JupyterLab does), and:

- answers the notebook protocol (:mod:`tinycode_jupyter.notebook.protocol`) against the document
  it executes, through :class:`~tinycode_jupyter.notebook.document.NotebookDocument`: the agent's
  notebook tools read, insert, edit, delete and run cells of this very notebook while it runs, and
  the saved notebook holds the result. Edits and deletes of the user's cells are refused unless
  ``allow_edits``; cells the agent inserts are not executed by the run (``run_cells`` runs them);
  a cell the agent deleted is not executed; a cell it edited is executed with its new source; a run
  that ``%agent undo`` reverts (``revert_run``) also loses the cells it wrote back;
- collects the write-back messages (:mod:`.comm_protocol`, ``replace_run``/``upsert_cell``) and
  applies them once execution ends, so each agent cell's code cells and answer sit right below it.

The merge rules are the extension's:
- an answered agent cell (:mod:`.answered`) is not asked again: the cells its earlier run wrote
  are executed as ordinary cells and kept. The cell is asked again with ``rerun`` (each execute
  request then carries ``metadata.tinycode.rerun``), when none of those cells is left, or when
  its prompt or options changed; the kernel's ``set_next_input`` replace payload (the new
  marker) is applied to the agent cell's source, as JupyterLab does;
- cells from an earlier run of an agent cell that was asked again (still the agent's: see
  :func:`tinycode_jupyter.notebook.records.is_agent_cell`) are not executed, since the agent cell
  made them again; they are replaced by the new run's cells, and kept when the agent cell failed
  or made none;
- a user's copy of an agent cell, or an agent cell the user edited, is the user's: it is executed
  like any user cell and never replaced or removed;
- a user's cell is never moved, removed or edited without ``allow_edits`` (running it updates its
  outputs, as usual).
"""
from __future__ import annotations

import logging
import os
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from ..notebook import protocol as notebook_protocol
from ..notebook.document import NotebookDocument
from ..notebook.records import anchor_of, stamp_agent_cell, tinycode_of
from .answered import apply_replace_payload, needs_rerun, rerun_metadata
from .comm_protocol import METADATA_KEY, TARGET, VERSION

if TYPE_CHECKING:
    from jupyter_client import BlockingKernelClient

log = logging.getLogger(__name__)
FailureError = (CellExecutionError, CellTimeoutError, DeadKernelError)


@dataclass
class CellFailure:
    """The cell that stopped the run: its 1-based position in the input notebook, its id, and the error."""

    position: int
    cell_id: str
    ename: str
    evalue: str

    def summary(self) -> str:
        first_line = self.evalue.strip().splitlines()[0] if self.evalue.strip() else ""
        return f"cell {self.position} (id {self.cell_id}) failed: {self.ename}: {first_line}".rstrip(": ")


@dataclass
class RunOutcome:
    """The executed notebook, the failure that stopped it, every failed cell, and how many agent cells were written."""

    notebook: Any
    failure: CellFailure | None = None
    agent_cells_written: int = 0
    agent_cells_kept: int = 0
    errors: list[CellFailure] = field(default_factory=list)
    """Every cell that failed (with ``allow_errors`` the run went on past them)."""


@dataclass
class _AgentRun:
    """The cells one run of an agent cell sent, in order."""

    run_id: str | None
    cells: list[Any] = field(default_factory=list)

    def upsert(self, cell: Any) -> None:
        step = cell.metadata[METADATA_KEY].get("step")
        for index, existing in enumerate(self.cells):
            if existing.metadata[METADATA_KEY].get("step") == step:
                self.cells[index] = cell
                return
        self.cells.append(cell)


class _CellsComm:
    """The frontend's end of the write-back comm, as nbclient comm object: answers, collects."""

    def __init__(self, client: "HeadlessClient", comm_id: str) -> None:
        self.client = client
        self.comm_id = comm_id

    def handle_msg(self, msg: dict[str, Any]) -> None:
        data = msg["content"].get("data") or {}
        action = data.get("action")
        if action == "hello" and data.get("version") == VERSION:
            self.reply({"action": "ready", "version": VERSION})
        elif action == "replace_run":
            anchor = self.client.anchor_for(data)
            self.client.agent_runs[anchor] = _AgentRun(data.get("run_id"))
        elif action == "upsert_cell":
            self.reply({"action": "applied", "run_id": data.get("run_id"), "count": self.client.upsert(data)})
        else:
            log.warning("ignoring write-back message %r", action)

    def reply(self, data: dict[str, Any]) -> None:
        self.client.send_comm_reply(self.comm_id, data)


class _NotebookComm:
    """The document owner's end of the notebook protocol: every request answered by the document."""

    def __init__(self, client: "HeadlessClient", comm_id: str) -> None:
        self.client = client
        self.comm_id = comm_id

    def handle_msg(self, msg: dict[str, Any]) -> None:
        data = msg["content"].get("data")
        reply = self.client.document.handle(data)
        if reply is None:
            return
        if data.get("op") == "revert_run" and reply.get("ok"):
            reply["result"]["removed"] += self.client.forget_run(data["run_id"])
        self.client.send_comm_reply(self.comm_id, reply)


class HeadlessClient(NotebookClient):
    """nbclient with both protocols; :attr:`agent_runs` maps agent-cell ids to their new cells.

    ``nb`` is what is executed; ``document`` (default ``nb``) is the whole notebook the agent sees
    and changes, holding the same cell objects.
    """

    def __init__(self, nb: Any, document: Any = None, allow_edits: bool = False, name: str = "", rerun: bool = False,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(nb, **kwargs)
        self.comm_open_handlers[TARGET] = self._open_cells_comm
        self.comm_open_handlers[notebook_protocol.TARGET] = self._open_notebook_comm
        self.document = NotebookDocument(nb if document is None else document, "allow" if allow_edits else "deny", name,
                                         executing_cell_id=lambda: self.executing_cell_id)  # fmt: skip
        self.agent_runs: dict[str, _AgentRun] = {}
        self._replies: BlockingKernelClient | None = None
        self.executing_cell_id: str | None = None
        self.errors: list[tuple[str, str, str]] = []
        """``(cell id, error name, message)`` of each failed cell, in order."""
        self.on_cell_error = self._note_error
        self.rerun = rerun
        """Ask every agent cell again, answered or not (``tinycode run --rerun``)."""
        self._asks_again = False
        self.on_cell_executed = self._apply_payload

    async def async_start_new_kernel_client(self) -> Any:
        kc = await super().async_start_new_kernel_client()
        kc.execute = self._execute_with_cell_id  # type: ignore[method-assign,assignment]  # what nbclient calls
        return kc

    @property
    def _kernel(self) -> Any:
        """The kernel client (there is one once execution started)."""
        if self.kc is None:
            raise RuntimeError("the notebook is not executing")
        return self.kc

    def send_comm_reply(self, comm_id: str, data: dict[str, Any]) -> None:
        """Send a comm message to the kernel on a shell connection of its own.

        nbclient waits for the cell's ``execute_reply`` with a poll on its asyncio shell
        socket. A send on that same socket can consume the wake-up of a reply that has
        just arrived (zmq's descriptor signals edges), and the poll then waits forever.
        """
        if self._replies is None:
            from jupyter_client import BlockingKernelClient

            self._replies = BlockingKernelClient()
            self._replies.load_connection_info(self._kernel.get_connection_info())
            self._replies.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
        self._replies.shell_channel.send(self._replies.session.msg("comm_msg", {"comm_id": comm_id, "data": data}))

    async def _async_cleanup_kernel(self) -> None:
        if self._replies is not None:
            self._replies.stop_channels()
            self._replies = None
        await super()._async_cleanup_kernel()

    def _execute_with_cell_id(self, code: str, store_history: bool = True, stop_on_error: bool = True, **_: Any) -> str:
        """``kc.execute`` as JupyterLab sends it: the cell's id in the request's metadata."""
        content = {"code": code, "silent": False, "store_history": store_history, "user_expressions": {},
                   "allow_stdin": False, "stop_on_error": stop_on_error}  # fmt: skip
        metadata: dict[str, Any] = {"cellId": self.executing_cell_id, **(rerun_metadata() if self._asks_again else {})}
        message = self._kernel.session.msg("execute_request", content, metadata=metadata)
        self._kernel.shell_channel.send(message)
        return message["header"]["msg_id"]

    async def async_execute_cell(self, cell: Any, cell_index: int, execution_count: int | None = None,
                                 store_history: bool = True) -> Any:  # fmt: skip
        if self.document.was_deleted(cell):
            return cell  # the agent deleted it (the record is in the notebook's metadata)
        if anchor_of(cell) in self.agent_runs:
            return cell  # its agent cell was asked again: the new run's cells replace it
        self.executing_cell_id = cell.get("id")
        self._asks_again = self.rerun or needs_rerun(cell, self.document.nb.cells)
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except FailureError as exc:
            if not self.errors or self.errors[-1][0] != self.executing_cell_id:
                self.errors.append((cell.get("id"), type(exc).__name__, str(exc)))
            raise
        finally:
            self.executing_cell_id = None

    def _apply_payload(self, cell: Any, cell_index: int, execute_reply: dict[str, Any]) -> None:
        """An agent cell's answered marker (a ``set_next_input`` replace payload), applied as JupyterLab does."""
        apply_replace_payload(cell, execute_reply)

    def _note_error(self, cell: Any, cell_index: int, execute_reply: dict[str, Any]) -> None:
        content = execute_reply.get("content", {})
        self.errors.append((cell.get("id"), content.get("ename", "Error"), content.get("evalue", "")))

    def forget_run(self, run_id: str) -> list[str]:
        """A reverted run's written-back cells are not merged into the notebook; their ids."""
        forgotten = [anchor for anchor, run in self.agent_runs.items() if run.run_id == run_id]
        return [cell.get("id") for anchor in forgotten for cell in self.agent_runs.pop(anchor).cells]

    @property
    def failed_ids(self) -> set[str]:
        return {cell_id for cell_id, _, _ in self.errors}

    def _open_cells_comm(self, msg: dict[str, Any]) -> _CellsComm:
        comm = _CellsComm(self, msg["content"]["comm_id"])
        comm.handle_msg(msg)  # the open message carries the hello
        return comm

    def _open_notebook_comm(self, msg: dict[str, Any]) -> _NotebookComm:
        comm = _NotebookComm(self, msg["content"]["comm_id"])
        comm.handle_msg(msg)  # the open message carries the hello request
        return comm

    def anchor_for(self, data: dict[str, Any]) -> str:
        anchor = data.get("anchor_cell_id") or self.executing_cell_id
        if anchor is None:
            raise ValueError("a write-back message arrived while no cell was executing")
        return anchor

    def upsert(self, data: dict[str, Any]) -> int:
        """Add or replace one cell of the anchor's current run; returns the run's cell count."""
        import nbformat

        anchor = self.anchor_for(data)
        cell = nbformat.from_dict(data["cell"])
        cell.metadata.setdefault(METADATA_KEY, {})["anchor_cell_id"] = anchor
        run = self.agent_runs.get(anchor)
        if run is None or run.run_id != data.get("run_id"):
            run = self.agent_runs[anchor] = _AgentRun(data.get("run_id"))
        run.upsert(cell)
        return len(run.cells)


def run_notebook(nb: Any, cwd: str | os.PathLike[str], timeout: float | None = None, kernel_name: str | None = None,
                 allow_edits: bool = False, allow_errors: bool = False, name: str = "",
                 rerun: bool = False) -> RunOutcome:  # fmt: skip
    """Execute ``nb`` in a fresh kernel started in ``cwd``; ``nb`` is updated in place.

    ``allow_edits``: the agent may edit and delete the user's cells. ``allow_errors``: go on past
    failing cells (each is in :attr:`RunOutcome.errors`), like papermill and nbconvert.
    ``rerun``: ask every agent cell again, also those answered earlier (:mod:`.answered`).
    """
    import nbformat

    _ensure_cell_ids(nb)
    agent_ids = _agent_cell_ids(nb.cells)
    previous = [c for c in nb.cells if anchor_of(c) in agent_ids]
    work = nbformat.NotebookNode({**nb, "cells": list(nb.cells)})
    options: dict[str, Any] = {"timeout": timeout, "record_timing": False, "resources": {"metadata": {"path": os.fspath(cwd)}},
                               "allow_errors": allow_errors}  # fmt: skip
    if kernel_name:
        options["kernel_name"] = kernel_name
    client = HeadlessClient(work, document=nb, allow_edits=allow_edits, name=name, rerun=rerun, **options)
    failure = None
    try:
        client.execute()
    except FailureError as exc:
        failure = _failure(nb, client.errors[-1][0] if client.errors else None, exc)
    replaced = {a for a, run in client.agent_runs.items() if _uses_new(a, run, previous, client.failed_ids)}
    nb.cells = _merge(nb.cells, replaced, client.agent_runs)
    written = sum(len(client.agent_runs[a].cells) for a in replaced)
    kept = sum(1 for c in previous if anchor_of(c) not in replaced)
    errors = [_position(nb, cell_id, ename, evalue) for cell_id, ename, evalue in client.errors]
    return RunOutcome(nb, failure, agent_cells_written=written, agent_cells_kept=kept, errors=errors)


def run_file(path: str | os.PathLike[str], output: str | os.PathLike[str], timeout: float | None = None,
             kernel_name: str | None = None, allow_edits: bool = False, allow_errors: bool = False,
             rerun: bool = False) -> RunOutcome:  # fmt: skip
    """Run the notebook at ``path`` (kernel started in its folder) and write the result to ``output``."""
    import nbformat

    source = Path(path)
    nb = nbformat.read(source, as_version=4)
    outcome = run_notebook(nb, cwd=source.resolve().parent, timeout=timeout, kernel_name=kernel_name,
                           allow_edits=allow_edits, allow_errors=allow_errors, name=source.name, rerun=rerun)  # fmt: skip
    nbformat.validate(nb)
    _write_atomically(nb, Path(output))
    return outcome


def default_output_path(path: str | os.PathLike[str]) -> Path:
    """``analysis.ipynb`` → ``analysis.out.ipynb`` beside it (never the input itself)."""
    source = Path(path)
    return source.with_name(f"{source.stem}.out{source.suffix or '.ipynb'}")


# --- helpers ------------------------------------------------------------------------------
def _agent_cell_ids(cells: list[Any]) -> set[str]:
    """Ids of the cells that earlier agent runs were written below (the agent's own cells excluded)."""
    ids = {c.get("id") for c in cells if anchor_of(c) is None}
    return {a for a in (anchor_of(c) for c in cells) if a is not None and a in ids}


def _uses_new(anchor: str, run: _AgentRun, previous: list[Any], failed_ids: set[str]) -> bool:
    """A new run replaces the old cells if it made cells, unless it failed while old cells exist."""
    if not run.cells:
        return False
    return anchor not in failed_ids or not any(anchor_of(c) == anchor for c in previous)


def _merge(cells: list[Any], replaced: set[str], runs: dict[str, _AgentRun]) -> list[Any]:
    """The notebook's cells with each replaced agent cell's old cells swapped for its new ones.

    Cells the new run itself inserted (notebook tools) stay where they are; the new cells are
    stamped as the agent's with their final id and source.
    """
    merged: list[Any] = []
    for cell in cells:
        anchor = anchor_of(cell)
        if anchor in replaced and tinycode_of(cell).get("run_id") != runs[anchor].run_id:
            continue  # an old agent cell whose agent cell made new ones
        merged.append(cell)
        if cell.get("id") in replaced:
            for written in runs[cell["id"]].cells:
                stamp_agent_cell(written)
                merged.append(written)
    return merged


def _ensure_cell_ids(nb: Any) -> None:
    if (nb.nbformat, nb.get("nbformat_minor", 0)) < (4, 5):
        nb.nbformat_minor = 5
    for cell in nb.cells:
        if not cell.get("id"):
            cell["id"] = uuid.uuid4().hex[:8]


def _failure(nb: Any, cell_id: str | None, exc: BaseException) -> CellFailure:
    if isinstance(exc, CellExecutionError):
        return _position(nb, cell_id, exc.ename, exc.evalue)
    return _position(nb, cell_id, type(exc).__name__, str(exc))


def _position(nb: Any, cell_id: str | None, ename: str, evalue: str) -> CellFailure:
    position = next((i + 1 for i, c in enumerate(nb.cells) if c.get("id") == cell_id), 0)
    return CellFailure(position, cell_id or "?", ename, evalue)


def _write_atomically(nb: Any, output: Path) -> None:
    import nbformat

    output.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            nbformat.write(nb, stream)
        os.chmod(temporary, _mode_for(output))
        os.replace(temporary, output)
    except BaseException:
        os.unlink(temporary)
        raise


def _mode_for(output: Path) -> int:
    """The file's current permissions, or what a new file gets under the umask."""
    if output.exists():
        return output.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
