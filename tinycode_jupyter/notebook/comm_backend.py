"""The kernel's client of the notebook protocol (:mod:`.protocol`): a :class:`Notebook` whose document
is owned elsewhere (the frontend extension, or ``tinycode run``).

:class:`CommTransport` carries requests over a Jupyter comm: sends go out on the kernel's main
thread (``schedule``), replies may be handled on any thread (the main shell through the message
pump while a run is going, or a subshell) and resolve the waiting request.
:class:`DirectTransport` hands requests to an in-process :class:`~.document.NotebookDocument`
(scripts that edit a notebook file, and tests).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol

from . import protocol
from .base import (CellInfo, CellType, Notebook, NotebookError, NotebookState, RevertSummary, RunInfo, TurnSnapshot,
                   UserCellPolicy)

if TYPE_CHECKING:
    from .document import NotebookDocument

log = logging.getLogger(__name__)
Schedule = Callable[[Callable[[], Any]], None]


class Transport(Protocol):
    async def request(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one request; its reply. :class:`NotebookError` ``unavailable`` when none comes in time."""
        ...

    async def close(self) -> None: ...


class DirectTransport:
    """Requests answered by an in-process document owner."""

    def __init__(self, document: "NotebookDocument") -> None:
        self.document = document

    async def request(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        reply = self.document.handle(message)
        if reply is None:
            raise NotebookError("unavailable", "the notebook did not answer")
        return reply

    async def close(self) -> None:
        return None


@dataclass
class _Pending:
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)
    waiting_for_user: bool = False


class CommTransport:
    """One comm per run on :data:`.protocol.TARGET`; its ``comm_open`` carries the first request (the hello)."""

    def __init__(self, schedule: Schedule, create_comm: Callable[..., Any] | None = None) -> None:
        self.schedule = schedule
        self._create_comm = create_comm
        self._comm: Any = None
        self._pending: dict[str, _Pending] = {}

    async def request(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        request_id = message["request_id"]
        pending = self._pending[request_id] = _Pending()
        self.schedule(lambda: self._send(message))
        answer = asyncio.wrap_future(pending.future)
        try:
            try:
                return await asyncio.wait_for(asyncio.shield(answer), timeout)
            except asyncio.TimeoutError:
                if not pending.waiting_for_user:
                    raise
                return await asyncio.wait_for(asyncio.shield(answer), protocol.REVIEW_TIMEOUT)
        except asyncio.TimeoutError:
            raise NotebookError("unavailable", f"the notebook did not answer {message['op']} in time") from None
        finally:
            self._pending.pop(request_id, None)
            answer.cancel()

    async def close(self) -> None:
        comm, self._comm = self._comm, None
        if comm is not None:
            self.schedule(comm.close)

    def _send(self, message: dict[str, Any]) -> None:
        """On the kernel's main thread: the first message opens the comm."""
        if self._comm is not None:
            self._comm.send(message)
            return
        create = self._create_comm or _default_create_comm()
        self._comm = create(target_name=protocol.TARGET, data=message)
        self._comm.on_msg(self._on_message)

    def _on_message(self, message: dict[str, Any]) -> None:
        data = (message.get("content") or {}).get("data")
        reply_to = data.get("reply_to") if isinstance(data, dict) else None
        pending = self._pending.get(reply_to) if isinstance(reply_to, str) else None
        if pending is None:
            return  # a second owner's hello reply, or a reply that came too late
        assert isinstance(data, dict)
        if data.get("waiting") == "user":
            pending.waiting_for_user = True
            return
        try:
            pending.future.set_result(data)
        except concurrent.futures.InvalidStateError:
            pass  # two replies to one request: the first one counts


def _default_create_comm() -> Callable[..., Any]:
    from comm import create_comm

    return create_comm


class ProtocolNotebook(Notebook):
    """A notebook owned by whoever answered the hello; ``live``: changes are applied there."""

    live = True

    def __init__(self, transport: Transport, hello: dict[str, Any]) -> None:
        self.transport = transport
        self.owner_id = str(hello.get("owner_id") or "")
        self.name = str(hello.get("name") or "")
        policy = hello.get("policy")
        self.policy: UserCellPolicy = policy if policy in protocol.POLICIES else "deny"  # fail closed
        self.executing_cell_id = hello.get("executing_cell_id") if isinstance(hello.get("executing_cell_id"), str) else None

    async def _ask(self, op: str, **arguments: Any) -> dict[str, Any]:
        message = protocol.request(op, self.owner_id, **arguments)
        return protocol.result_of(await self.transport.request(message, protocol.REQUEST_TIMEOUT))

    async def state(self, cell_ids: list[str] | None = None) -> NotebookState:
        result = await self._ask("get_cells", cell_ids=cell_ids)
        cells = result.get("cells")
        if not isinstance(cells, list):
            raise NotebookError("bad_request", "the notebook sent no cell list")
        executing = result.get("executing_cell_id")
        return NotebookState(tuple(protocol.cell_from_wire(c) for c in cells), str(result.get("name") or self.name),
                             executing if isinstance(executing, str) else self.executing_cell_id,
                             protocol.snapshot_from_wire(result.get("last_turn")))  # fmt: skip

    async def insert(self, source: str, cell_type: CellType, after_cell_id: str | None, run: RunInfo) -> CellInfo:
        result = await self._ask("insert_cell", cell_type=cell_type, source=source, after_cell_id=after_cell_id,
                                 run=protocol.run_wire(run))  # fmt: skip
        return protocol.cell_from_wire(result.get("cell"))

    async def edit(self, cell_id: str, new_source: str, expected_source: str, run: RunInfo) -> CellInfo:
        result = await self._ask("edit_cell", cell_id=cell_id, source=new_source, expected_source=expected_source,
                                 run=protocol.run_wire(run))  # fmt: skip
        return protocol.cell_from_wire(result.get("cell"))

    async def delete(self, cell_id: str, expected_source: str, run: RunInfo) -> CellInfo:
        result = await self._ask("delete_cell", cell_id=cell_id, expected_source=expected_source, run=protocol.run_wire(run))
        return protocol.cell_from_wire(result.get("cell"))

    async def save_outputs(self, cell_id: str, outputs: list[dict[str, Any]], execution_count: int | None,
                           run: RunInfo) -> None:  # fmt: skip
        await self._ask("set_outputs", cell_id=cell_id, outputs=outputs, execution_count=execution_count,
                        run=protocol.run_wire(run))  # fmt: skip

    async def remember_turn(self, snapshot: TurnSnapshot) -> None:
        await self._ask("set_last_turn", last_turn=protocol.snapshot_to_wire(snapshot))

    async def revert(self, run_id: str) -> RevertSummary:
        return protocol.revert_from_wire(run_id, await self._ask("revert_run", run_id=run_id))

    async def close(self) -> None:
        await self.transport.close()


async def connect(transport: Transport, kernel_cell_id: str | None, timeout: float = protocol.HELLO_TIMEOUT) -> ProtocolNotebook | None:
    """The notebook whose owner answers the hello on ``transport``; None when nothing answers."""
    hello = protocol.request("hello", version=protocol.VERSION, kernel_cell_id=kernel_cell_id)
    try:
        result = protocol.result_of(await transport.request(hello, timeout))
    except NotebookError as exc:
        log.debug("no notebook owner answered: %s", exc)
        await transport.close()
        return None
    return ProtocolNotebook(transport, result)
