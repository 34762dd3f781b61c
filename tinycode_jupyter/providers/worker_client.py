"""The host side of the worker protocol (see :mod:`tinycode_jupyter.providers.worker`).

:class:`WorkerClient` drives one worker over a pair of byte streams, so every
launcher (a local subprocess, bubblewrap, a Modal sandbox) reuses it with its
own stream adapters. Everything the worker sends is untrusted: lines are
size-capped, must be JSON objects of the expected shape, and nothing is ever
unpickled. Any breach raises a :class:`WorkerError`; the client is then
unusable and the caller restarts the worker.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
from pathlib import Path
from typing import Any, Callable, Protocol

from ..errors import ProviderError
from .base import OutputCallback, ToolHandler
from .worker import MessageError, decode_message, json_checked

logger = logging.getLogger(__name__)

_HERE = Path(__file__).resolve().parent
WORKER_PATH = _HERE / "worker.py"
FILEOPS_PATH = _HERE / "fileops.py"
_FUTURE_IMPORT = "from __future__ import annotations"
_TIMEOUT_MARGIN = 0.1
"""Seconds the host waits past a step's timeout so the worker's own timer can interrupt first."""
_READ_CHUNK = 1 << 18
LIVE_TEXT_CHARS = 64_000
"""Of one ``output`` message, the characters passed on at most (its tail)."""


@functools.lru_cache(maxsize=1)
def worker_source() -> str:
    """The worker as one script for ``python -u -c SOURCE``: fileops' source, then the worker's."""
    parts = [path.read_text(encoding="utf-8") for path in (FILEOPS_PATH, WORKER_PATH)]
    body = "\n".join(line for part in parts for line in part.splitlines() if line.strip() != _FUTURE_IMPORT)
    return f"{_FUTURE_IMPORT}\n{body}\n"


class ByteReader(Protocol):
    async def read(self, n: int) -> bytes: ...


class ByteWriter(Protocol):
    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...


class WorkerError(ProviderError):
    """The worker can no longer be trusted to answer; restart it."""


class WorkerDied(WorkerError):
    """The worker's output ended: it exited, crashed or was killed."""


class WorkerProtocolError(WorkerError):
    """The worker sent something that is not a valid protocol message."""


class WorkerUnresponsive(WorkerError):
    """The worker did not answer within the grace period after an interrupt."""

    def __init__(self, message: str, after_timeout: bool) -> None:
        super().__init__(message)
        self.after_timeout = after_timeout


class LineReader:
    """Newline-delimited lines from a byte stream, each at most ``max_bytes`` long."""

    def __init__(self, source: ByteReader, max_bytes: int) -> None:
        self._source = source
        self._max = max_bytes
        self._buffer = bytearray()
        self._scanned = 0

    async def readline(self) -> bytes:
        while True:
            end = self._buffer.find(b"\n", self._scanned)
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                self._scanned = 0
                return line
            self._scanned = len(self._buffer)
            if self._scanned > self._max:
                raise WorkerProtocolError(f"the worker sent a message longer than the {self._max}-byte limit")
            try:
                chunk = await self._source.read(_READ_CHUNK)
            except OSError as exc:
                raise WorkerDied(f"reading from the worker failed: {exc}") from exc
            if not chunk:
                raise WorkerDied("the worker's output ended (it exited or was killed)")
            self._buffer += chunk


class WorkerClient:
    """Sends requests to one worker and reads its replies, serving tool calls in between.

    One request runs at a time. A request with a timeout is interrupted when it
    runs over; if the worker has not answered ``interrupt_grace`` seconds after
    an interrupt, :class:`WorkerUnresponsive` is raised.
    """

    def __init__(
        self,
        reader: ByteReader,
        writer: ByteWriter,
        *,
        tool_handler: Callable[[], ToolHandler | None] = lambda: None,
        on_output: Callable[[], OutputCallback | None] = lambda: None,
        max_message_bytes: int = 64_000_000,
        interrupt_grace: float = 1.0,
    ) -> None:
        self._lines = LineReader(reader, max_message_bytes)
        self._max_bytes = max_message_bytes
        self._writer = writer
        self._tool_handler = tool_handler
        self._on_output = on_output
        """Told what a step prints while it runs (requests with ``stream_output``)."""
        self._grace = interrupt_grace
        self._lock = asyncio.Lock()
        self._next_id = 0
        self._pending_read: asyncio.Future[Any] | None = None
        self._abort: asyncio.Future[Any] | None = None
        """Resolved with a :class:`WorkerUnresponsive` when the grace period after an interrupt ends."""
        self._grace_timer: asyncio.TimerHandle | None = None
        self._tool_task: asyncio.Task[Any] | None = None
        self._timed_out = False
        self._sent = False
        """Whether the running request has been written (an interrupt may name it only then)."""
        self._interrupt_wanted = False
        self._cancelled_id: int | None = None
        self.broken: WorkerError | None = None

    async def request(self, message: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """Send ``message`` (an ``op`` and its fields) and return the worker's result.

        ``timeout`` is the host's limit for the whole request; when it passes,
        the worker is interrupted and the reply is marked ``timed_out``.
        """
        async with self._lock:
            if self.broken is not None:
                raise self.broken
            loop = asyncio.get_running_loop()
            self._next_id += 1
            request_id = self._next_id
            line = _encode({**message, "id": request_id}, self._max_bytes)
            self._abort, self._timed_out, self._sent, self._interrupt_wanted = loop.create_future(), False, False, False
            deadline = None
            try:
                await self._finish_cancelled_request()
                if timeout is not None:
                    deadline = loop.call_later(timeout + _TIMEOUT_MARGIN, self._on_timeout)
                self._write(line)
                self._sent = True
                if self._interrupt_wanted:  # interrupted before the request went out: the worker cancels it
                    self._deliver_interrupt()
                await self._drain()
                reply = await self._reply_to(request_id, serve_tools=True)
            except WorkerError as exc:
                self.broken = exc
                raise
            except asyncio.CancelledError:
                if self._sent:  # the worker has it: interrupt it, and skip its reply before the next request
                    self._cancelled_id = request_id
                    self._send_interrupt(request_id)
                raise
            finally:
                self._end_request(deadline)
            if self._timed_out:
                reply["timed_out"] = True
            return reply

    def interrupt(self) -> None:
        """Interrupt the running request; give up on the worker if it does not answer in time.

        An interrupt that comes before the request is written is sent right after
        it, so the worker always knows which request it names.
        """
        if self._abort is None or self._abort.done():
            return
        if self._tool_task is not None:
            self._tool_task.cancel()
        if self._sent:
            self._deliver_interrupt()
        else:
            self._interrupt_wanted = True

    async def close(self) -> None:
        """Stop reading (call before the worker's streams are closed)."""
        read, self._pending_read = self._pending_read, None
        if read is not None and not read.done():
            read.cancel()
            await asyncio.wait({read})
        self.broken = self.broken or WorkerDied("the worker was stopped")

    # --- internals ---------------------------------------------------------------------
    def _deliver_interrupt(self) -> None:
        self._send_interrupt(self._next_id)
        if self._grace_timer is None:
            self._grace_timer = asyncio.get_running_loop().call_later(self._grace, self._give_up)

    def _send_interrupt(self, request_id: int) -> None:
        try:
            self._writer.write(_encode({"op": "interrupt", "id": request_id}, self._max_bytes))
        except OSError as exc:  # the worker is gone; reading its output reports that
            logger.debug("could not send an interrupt to the worker: %s", exc)

    def _on_timeout(self) -> None:
        self._timed_out = True
        self.interrupt()

    def _give_up(self) -> None:
        if self._abort is not None and not self._abort.done():
            reason = "its timeout" if self._timed_out else "being interrupted"
            message = f"the worker did not stop within {self._grace:g}s after {reason}"
            self._abort.set_result(WorkerUnresponsive(message, after_timeout=self._timed_out))

    def _end_request(self, deadline: asyncio.TimerHandle | None) -> None:
        for timer in (deadline, self._grace_timer):
            if timer is not None:
                timer.cancel()
        self._grace_timer = None
        self._abort = None

    def _write(self, line: bytes) -> None:
        try:
            self._writer.write(line)
        except (OSError, RuntimeError) as exc:
            raise WorkerDied(f"writing to the worker failed: {exc}") from exc

    async def _drain(self) -> None:
        try:
            await self._writer.drain()
        except (OSError, RuntimeError) as exc:
            raise WorkerDied(f"writing to the worker failed: {exc}") from exc

    async def _send(self, message: dict[str, Any]) -> None:
        self._write(_encode(message, self._max_bytes))
        await self._drain()

    async def _finish_cancelled_request(self) -> None:
        """Wait (within the grace period) for the reply to a request whose caller was cancelled."""
        if self._cancelled_id is None:
            return
        self._grace_timer = asyncio.get_running_loop().call_later(self._grace, self._give_up)
        await self._reply_to(self._cancelled_id, serve_tools=False)
        self._grace_timer.cancel()
        self._grace_timer, self._cancelled_id = None, None

    async def _reply_to(self, request_id: int, serve_tools: bool) -> dict[str, Any]:
        while True:
            message = await self._receive()
            kind = message.get("type")
            if kind == "tool_call" and not isinstance(message.get("id"), str):
                raise WorkerProtocolError(f"malformed tool call from the worker: {_preview(message)}")
            if kind == "tool_call" and not serve_tools:
                await self._send(_tool_failure(message["id"], "the step was cancelled"))
            elif kind == "tool_call":
                await self._serve_tool(message)
            elif kind == "output":
                self._show_output(message, request_id if serve_tools else None)
            elif kind == "result" and message.get("id") == request_id:
                return message
            else:
                raise WorkerProtocolError(f"unexpected message from the worker: {_preview(message)}")

    async def _receive(self) -> dict[str, Any]:
        assert self._abort is not None
        if self._pending_read is None:
            self._pending_read = asyncio.ensure_future(self._lines.readline())
        read = self._pending_read
        await asyncio.wait({read, self._abort}, return_when=asyncio.FIRST_COMPLETED)
        if not read.done():
            raise self._abort.result()
        self._pending_read = None
        return _parse(read.result())

    def _show_output(self, message: dict[str, Any], request_id: int | None) -> None:
        """Pass on live output of the running request (a cancelled one's is dropped); a malformed message is a breach."""
        stream, text = message.get("stream"), message.get("text")
        if stream not in ("stdout", "stderr") or not isinstance(text, str):
            raise WorkerProtocolError(f"malformed output message from the worker: {_preview(message)}")
        on_output = self._on_output()
        if message.get("id") == request_id and on_output is not None:
            try:
                on_output(stream, text[-LIVE_TEXT_CHARS:])
            except Exception:  # a broken live view must not fail the step
                logger.exception("the live output callback failed")

    async def _serve_tool(self, message: dict[str, Any]) -> None:
        name, args, call_id = message.get("name"), message.get("args"), str(message.get("id"))  # checked by _reply_to
        handler = self._tool_handler()
        if not isinstance(name, str) or not isinstance(args, dict):
            raise WorkerProtocolError(f"malformed tool call from the worker: {_preview(message)}")
        if handler is None:
            await self._send(_tool_failure(call_id, f"no tool named {name!r} is served here"))
            return
        self._tool_task = asyncio.ensure_future(handler(name, args))
        try:
            await asyncio.wait({self._tool_task})
        finally:
            task, self._tool_task = self._tool_task, None
        try:
            line = _encode(_tool_reply(call_id, name, task), self._max_bytes)
        except (TypeError, ValueError) as exc:
            line = _encode(_tool_failure(call_id, f"{name} returned a value that cannot be sent as JSON: {exc}"), self._max_bytes)
        self._write(line)
        await self._drain()


def _tool_failure(call_id: str, error: str) -> dict[str, Any]:
    return {"type": "tool_result", "id": call_id, "ok": False, "error": error}


def _tool_reply(call_id: str, name: str, task: asyncio.Task[Any]) -> dict[str, Any]:
    if task.cancelled():
        return _tool_failure(call_id, f"the call to {name} was cancelled because the step was interrupted")
    exc = task.exception()
    if exc is not None:
        return _tool_failure(call_id, f"{type(exc).__name__}: {exc}")
    return {"type": "tool_result", "id": call_id, "ok": True, "value": task.result()}


def _encode(message: dict[str, Any], max_bytes: int) -> bytes:
    """One request line; TypeError or ValueError (the worker untouched) if it is not JSON data or too large."""
    line = (json.dumps(json_checked(message)) + "\n").encode()
    if len(line) > max_bytes:
        raise ValueError(f"the request is {len(line)} bytes; the worker accepts at most {max_bytes}")
    return line


def _parse(line: bytes) -> dict[str, Any]:
    try:
        return decode_message(line)
    except MessageError as exc:
        raise WorkerProtocolError(f"the worker sent {exc}") from None


def _preview(message: dict[str, Any]) -> str:
    try:
        text = json.dumps(message)
    except (TypeError, ValueError, RecursionError):
        text = f"<a message with keys {sorted(map(str, message))[:10]}>"
    return text if len(text) <= 200 else text[:200] + "..."
