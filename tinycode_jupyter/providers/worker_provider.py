"""Providers whose code runs in one persistent worker process (``local``, ``modal``).

Subclasses only launch the worker (:meth:`WorkerProvider._launch` returns a
:class:`WorkerHandle`). This class turns replies into :class:`ExecResult`
objects and restarts the worker when it dies, hangs past a timeout or breaks
the protocol, reporting ``state_lost=True`` instead of raising.
"""
from __future__ import annotations

import abc
import asyncio
import base64
import builtins
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from ..errors import ConfigurationError, ProviderError
from . import fileops
from .base import ExecError, ExecResult, OutputCallback, Provider
from .worker_client import ByteReader, ByteWriter, WorkerClient, WorkerDied, WorkerError, WorkerUnresponsive

logger = logging.getLogger(__name__)

SAFE_MIME_TYPES = frozenset({"text/plain", "image/png", "image/jpeg"})
_LOST = "All variables, imports and open files from earlier steps are gone."


@dataclass(frozen=True)
class WorkerOptions:
    """Protocol limits and timings shared by every worker-backed provider."""

    max_output_bytes: int = 1_000_000
    """Per stream and step; the middle of longer output is cut."""
    max_display_bytes: int = 16_000_000
    max_message_bytes: int = 64_000_000
    """The largest reply the host accepts (also bounds file reads)."""
    interrupt_grace: float = 1.0
    startup_timeout: float = 30.0
    file_op_timeout: float = 120.0

    def worker_config(self) -> dict[str, int]:
        return {"max_output_bytes": self.max_output_bytes, "max_display_bytes": self.max_display_bytes,
                "max_message_bytes": self.max_message_bytes}  # fmt: skip


def options_from_config(config: Mapping[str, Any], *kinds: type) -> list[Any]:
    """Split a provider_config mapping among frozen dataclasses; unknown keys are an error."""
    known = {f.name: kind for kind in kinds for f in fields(kind)}
    unknown = sorted(set(config) - set(known))
    if unknown:
        raise ConfigurationError(f"provider_config: unknown key(s) {unknown}; known keys: {', '.join(sorted(known))}")
    return [kind(**{k: v for k, v in config.items() if known[k] is kind}) for kind in kinds]


class WorkerHandle(abc.ABC):
    """A launched worker: its byte streams and how to stop it."""

    reader: ByteReader
    writer: ByteWriter

    @abc.abstractmethod
    async def kill(self, wait: float = 0.0) -> None:
        """Stop the worker and everything it started, after waiting up to ``wait`` s for it to exit
        on its own (so a crash is reported as such); idempotent."""

    @abc.abstractmethod
    async def exit_report(self) -> str:
        """After :meth:`kill`: how the worker ended (exit status, last stderr lines)."""


class WorkerProvider(Provider):
    """A :class:`Provider` backed by the persistent worker of :mod:`.worker`."""

    def __init__(self, workdir: str | None = None, *, options: WorkerOptions, **config: Any) -> None:
        super().__init__(workdir, **config)
        self.options = options
        self.worker_info: dict[str, Any] = {}
        """The worker's answer to ``ping``: pid (inside its sandbox), python version, executable."""
        self._handle: WorkerHandle | None = None
        self._client: WorkerClient | None = None
        self._tools_defined: list[str] | None = None
        self._lock = asyncio.Lock()
        self._step_interrupted = False
        """Set by :meth:`interrupt` while a step holds the lock: a step not yet sent is then not sent."""
        self.on_output: OutputCallback | None = None
        """Told what a step prints while it runs (the worker then streams it), on the event loop's thread."""

    @abc.abstractmethod
    async def _launch(self) -> WorkerHandle:
        """Start a new worker process."""

    def _startup_error(self, report: str) -> ProviderError:
        return ProviderError(f"{self.name}: the worker did not start ({report})")

    # --- lifecycle -----------------------------------------------------------------------
    async def _start(self) -> None:
        await self._spawn()

    async def _close(self) -> None:
        await self._stop()  # not under the lock: closing kills a step that is still running

    async def _spawn(self) -> None:
        handle = await self._launch()
        client = WorkerClient(
            handle.reader, handle.writer, tool_handler=lambda: self._tool_handler, on_output=lambda: self.on_output,
            max_message_bytes=self.options.max_message_bytes, interrupt_grace=self.options.interrupt_grace,
        )  # fmt: skip
        try:
            reply = await client.request({"op": "ping"}, timeout=self.options.startup_timeout)
        except WorkerError as exc:
            await client.close()
            await handle.kill(wait=self.options.interrupt_grace)
            raise self._startup_error(f"{exc}; {await handle.exit_report()}") from exc
        value = reply.get("value")
        self.worker_info = value if isinstance(value, dict) else {}
        self._handle, self._client, self._tools_defined = handle, client, None
        logger.debug("%s worker started: %s", self.name, self.worker_info)

    async def _stop(self, wait: float = 0.0) -> str:
        handle, client = self._handle, self._client
        self._handle = self._client = None
        if handle is None or client is None:
            return "no worker was running"
        await client.close()
        await handle.kill(wait)
        return await handle.exit_report()

    # --- requests ------------------------------------------------------------------------
    async def _request(self, message: dict[str, Any], timeout: float | None) -> dict[str, Any]:
        await self.start()
        if self._client is None:
            await self._spawn()
        assert self._client is not None
        if self._tools_defined != self._tool_names:
            await self._client.request({"op": "define_tools", "names": self._tool_names}, self.options.startup_timeout)
            self._tools_defined = list(self._tool_names)
        if self._step_interrupted and message["op"] in ("exec", "shell"):
            return {"error": {"name": "KeyboardInterrupt", "value": "interrupted before it started", "traceback": ""}}
        return await self._client.request(message, timeout)

    async def _restart(self, cause: WorkerError) -> str:
        """Replace a broken worker (unless the provider was closed); return how the old one ended."""
        report = await self._stop(wait=self.options.interrupt_grace if isinstance(cause, WorkerDied) else 0.0)
        if self.started:
            logger.warning("%s worker restarted after: %s (%s)", self.name, cause, report)
            await self._spawn()
        return report

    async def run_python(self, code: str, timeout: float | None = None, *, as_cell: bool = False) -> ExecResult:
        started = time.perf_counter()
        async with self._lock:
            self._step_interrupted = False
            try:
                reply = await self._request({"op": "exec", "code": code, "timeout": timeout, **self._live()}, timeout)
            except WorkerError as exc:
                return await self._lost_state_result(exc, started, timeout)
        return exec_result(reply)

    async def run_shell(self, command: str, workdir: str | None = None, timeout: float | None = None) -> ExecResult:
        started = time.perf_counter()
        message = {"op": "shell", "command": command, "cwd": workdir or self.workdir, "timeout": timeout, **self._live()}
        async with self._lock:
            self._step_interrupted = False
            try:
                reply = await self._request(message, timeout)
            except WorkerError as exc:
                return await self._lost_state_result(exc, started, timeout)
        result = exec_result(reply)
        result.exit_code = _as_int(reply.get("exit_code"))
        return result

    def _live(self) -> dict[str, bool]:
        """Ask the worker to stream a step's output when someone shows it."""
        return {"stream_output": True} if self.on_output is not None else {}

    async def file_op(self, op: str, **args: Any) -> Any:
        if op not in fileops.OPERATIONS:
            raise ValueError(f"unknown file operation {op!r}; known: {', '.join(fileops.OPERATIONS)}")
        if op == "write_bytes":
            args["data"] = base64.b64encode(args["data"]).decode()
        async with self._lock:
            try:
                reply = await self._request({"op": "fs", "name": op, "args": args}, self.options.file_op_timeout)
            except WorkerError as exc:
                report = await self._restart(exc)
                raise ProviderError(f"{self.name}: file operation {op} failed: {exc} ({report}). "
                                    f"The worker was restarted. {_LOST}") from exc  # fmt: skip
        if reply.get("error"):
            raise rebuilt_exception(reply["error"])
        value = reply.get("value")
        if op != "read_bytes":
            return value
        try:
            return base64.b64decode(_as_text(value), validate=True)
        except ValueError as exc:
            raise ProviderError(f"{self.name}: read_bytes returned something that is not base64 text: {exc}") from exc

    async def interrupt(self) -> None:
        if self._lock.locked():
            self._step_interrupted = True
        if self._client is not None:
            self._client.interrupt()

    async def _lost_state_result(self, exc: WorkerError, started: float, timeout: float | None) -> ExecResult:
        report = await self._restart(exc)
        timed_out = isinstance(exc, WorkerUnresponsive) and exc.after_timeout
        if timed_out:
            name, text = "TimeoutError", f"The step ran past its {timeout:g}s timeout and did not stop when interrupted."
        elif isinstance(exc, WorkerUnresponsive):
            name, text = "KeyboardInterrupt", "The step did not stop when interrupted."
        elif isinstance(exc, WorkerDied):
            name, text = "WorkerDied", f"The worker process died during this step: {report}."
        else:
            name = "WorkerProtocolError"
            text = f"The worker broke its protocol ({exc}), e.g. because code wrote to or closed its private channel."
        message = f"{text} The worker was restarted. {_LOST}"
        return ExecResult(error=ExecError(name, message, message), timed_out=timed_out,
                          duration=time.perf_counter() - started, state_lost=True)  # fmt: skip


def exec_result(reply: Mapping[str, Any]) -> ExecResult:
    """An :class:`ExecResult` from an (untrusted) worker reply, keeping only well-typed fields."""
    error = reply.get("error")
    return ExecResult(
        stdout=_as_text(reply.get("stdout")),
        stderr=_as_text(reply.get("stderr")),
        displays=[_safe_bundle(b) for b in _as_list(reply.get("displays")) if isinstance(b, dict)],
        value=None if reply.get("value") is None else _as_text(reply.get("value")),
        error=_exec_error(error) if isinstance(error, dict) else None,
        timed_out=bool(reply.get("timed_out")),
        duration=float(reply["duration"]) if isinstance(reply.get("duration"), (int, float)) else 0.0,
    )


def rebuilt_exception(error: Any) -> Exception:
    """The worker's exception as a built-in exception of the same name (else ProviderError); never unpickled."""
    if not isinstance(error, Mapping):
        return ProviderError(f"the worker reported an error it did not describe: {error!r:.200}")
    name, value = _as_text(error.get("name")), _as_text(error.get("value"))
    kind = getattr(builtins, name, None)
    if isinstance(kind, type) and issubclass(kind, Exception):
        try:
            return kind(value)
        except TypeError:  # a built-in exception that needs more arguments (e.g. UnicodeDecodeError)
            pass
    return ProviderError(f"{name}: {value}")


def _exec_error(error: Mapping[str, Any]) -> ExecError:
    return ExecError(_as_text(error.get("name")), _as_text(error.get("value")), _as_text(error.get("traceback")))


def _safe_bundle(bundle: Mapping[str, Any]) -> dict[str, str]:
    return {mime: data for mime, data in bundle.items() if mime in SAFE_MIME_TYPES and isinstance(data, str)}


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
