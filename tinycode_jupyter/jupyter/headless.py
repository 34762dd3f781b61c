"""``tinycode run``: execute a notebook headless and save the agent's cells, as the frontend extension would.

:class:`HeadlessClient` is an nbclient ``NotebookClient`` that also plays the frontend's
part of the write-back protocol (:mod:`.comm_protocol`): it sends each cell's id with its
execute request (``metadata.cellId``, as JupyterLab does), answers the kernel's ``hello``,
and collects the ``replace_run``/``upsert_cell`` messages. They are applied once execution
ends, so the saved notebook holds each agent cell's code cells and answer right below it.

The rules are the extension's:
- cells from an earlier run of an agent cell (``metadata.tinycode.anchor_cell_id`` names a
  cell of the notebook) are not executed, since the agent cell makes them again;
- they are replaced by the new run's cells, and kept when the agent cell failed or made none;
- a user's cell is never moved, removed or edited (running it updates its outputs, as usual).
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
    """The executed notebook, the failure if a cell failed, and how many agent cells were written."""

    notebook: Any
    failure: CellFailure | None = None
    agent_cells_written: int = 0
    agent_cells_kept: int = 0


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


class HeadlessClient(NotebookClient):
    """nbclient with the write-back protocol; :attr:`agent_runs` maps agent-cell ids to their new cells."""

    def __init__(self, nb: Any, **kwargs: Any) -> None:
        super().__init__(nb, **kwargs)
        self.comm_open_handlers[TARGET] = self._open_cells_comm
        self.agent_runs: dict[str, _AgentRun] = {}
        self._replies: BlockingKernelClient | None = None
        self.executing_cell_id: str | None = None
        self.failed_cell_id: str | None = None

    async def async_start_new_kernel_client(self) -> Any:
        kc = await super().async_start_new_kernel_client()
        kc.execute = self._execute_with_cell_id
        return kc

    def send_comm_reply(self, comm_id: str, data: dict[str, Any]) -> None:
        """Send a comm message to the kernel on a shell connection of its own.

        nbclient waits for the cell's ``execute_reply`` with a poll on its asyncio shell
        socket. A send on that same socket can consume the wake-up of a reply that has
        just arrived (zmq's descriptor signals edges), and the poll then waits forever.
        """
        if self._replies is None:
            from jupyter_client import BlockingKernelClient

            self._replies = BlockingKernelClient()
            self._replies.load_connection_info(self.kc.get_connection_info())
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
        message = self.kc.session.msg("execute_request", content, metadata={"cellId": self.executing_cell_id})
        self.kc.shell_channel.send(message)
        return message["header"]["msg_id"]

    async def async_execute_cell(self, cell: Any, cell_index: int, execution_count: int | None = None,
                                 store_history: bool = True) -> Any:  # fmt: skip
        self.executing_cell_id = cell.get("id")
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except FailureError:
            self.failed_cell_id = self.executing_cell_id
            raise
        finally:
            self.executing_cell_id = None

    def _open_cells_comm(self, msg: dict[str, Any]) -> _CellsComm:
        comm = _CellsComm(self, msg["content"]["comm_id"])
        comm.handle_msg(msg)  # the open message carries the hello
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


def run_notebook(nb: Any, cwd: str | os.PathLike[str], timeout: float | None = None, kernel_name: str | None = None) -> RunOutcome:
    """Execute ``nb`` in a fresh kernel started in ``cwd``; ``nb.cells`` is updated in place."""
    import nbformat

    _ensure_cell_ids(nb)
    agent_ids = _agent_cell_ids(nb.cells)
    previous = [c for c in nb.cells if _anchor_of(c) in agent_ids]
    work = nbformat.NotebookNode({**nb, "cells": [c for c in nb.cells if _anchor_of(c) not in agent_ids]})
    options: dict[str, Any] = {"timeout": timeout, "record_timing": False, "resources": {"metadata": {"path": os.fspath(cwd)}}}
    if kernel_name:
        options["kernel_name"] = kernel_name
    client = HeadlessClient(work, **options)
    failure = None
    try:
        client.execute()
    except FailureError as exc:
        failure = _failure(nb, client.failed_cell_id, exc)
    replaced = {a for a, run in client.agent_runs.items() if _uses_new(a, run, previous, client.failed_cell_id)}
    nb.cells = _merge(nb.cells, replaced, client.agent_runs)
    written = sum(len(client.agent_runs[a].cells) for a in replaced)
    kept = sum(1 for c in previous if _anchor_of(c) not in replaced)
    return RunOutcome(nb, failure, agent_cells_written=written, agent_cells_kept=kept)


def run_file(path: str | os.PathLike[str], output: str | os.PathLike[str], timeout: float | None = None,
             kernel_name: str | None = None) -> RunOutcome:  # fmt: skip
    """Run the notebook at ``path`` (kernel started in its folder) and write the result to ``output``."""
    import nbformat

    source = Path(path)
    nb = nbformat.read(source, as_version=4)
    outcome = run_notebook(nb, cwd=source.resolve().parent, timeout=timeout, kernel_name=kernel_name)
    nbformat.validate(nb)
    _write_atomically(nb, Path(output))
    return outcome


def default_output_path(path: str | os.PathLike[str]) -> Path:
    """``analysis.ipynb`` → ``analysis.out.ipynb`` beside it (never the input itself)."""
    source = Path(path)
    return source.with_name(f"{source.stem}.out{source.suffix or '.ipynb'}")


# --- helpers ------------------------------------------------------------------------------
def _anchor_of(cell: Any) -> str | None:
    return (cell.get("metadata", {}).get(METADATA_KEY) or {}).get("anchor_cell_id")


def _agent_cell_ids(cells: list[Any]) -> set[str]:
    """Ids of the cells that earlier agent runs were written below (written cells excluded)."""
    ids = {c.get("id") for c in cells if _anchor_of(c) is None}
    return {a for a in (_anchor_of(c) for c in cells) if a in ids}


def _uses_new(anchor: str, run: _AgentRun, previous: list[Any], failed_id: str | None) -> bool:
    """A new run replaces the old cells if it made cells, unless it failed while old cells exist."""
    if not run.cells:
        return False
    return anchor != failed_id or not any(_anchor_of(c) == anchor for c in previous)


def _merge(cells: list[Any], replaced: set[str], runs: dict[str, _AgentRun]) -> list[Any]:
    """The notebook's cells with each replaced agent cell's old cells swapped for its new ones."""
    merged: list[Any] = []
    for cell in cells:
        if _anchor_of(cell) in replaced:
            continue  # an old agent cell whose agent cell made new ones
        merged.append(cell)
        if cell.get("id") in replaced:
            merged.extend(runs[cell["id"]].cells)
    return merged


def _ensure_cell_ids(nb: Any) -> None:
    if (nb.nbformat, nb.get("nbformat_minor", 0)) < (4, 5):
        nb.nbformat_minor = 5
    for cell in nb.cells:
        if not cell.get("id"):
            cell["id"] = uuid.uuid4().hex[:8]


def _failure(nb: Any, cell_id: str | None, exc: BaseException) -> CellFailure:
    position = next((i + 1 for i, c in enumerate(nb.cells) if c.get("id") == cell_id), 0)
    if isinstance(exc, CellExecutionError):
        return CellFailure(position, cell_id or "?", exc.ename, exc.evalue)
    return CellFailure(position, cell_id or "?", type(exc).__name__, str(exc))


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
