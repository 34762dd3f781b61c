"""The execution-provider interface: a small typed ABC and its result dataclass.

A provider runs Python and shell code somewhere (the live kernel, a bubblewrap
sandbox, a Modal sandbox) and gives back an :class:`ExecResult`. Providers know
nothing about the LLM. File tools go through :meth:`Provider.file_op`, so they
are sandboxed wherever the provider is.
"""
from __future__ import annotations

import abc
import os
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, ClassVar

ToolHandler = Callable[[str, dict[str, Any]], Awaitable[Any]]
"""Called by a provider when code inside it calls a custom tool by name."""
OutputCallback = Callable[[str, str], None]
"""Called by a provider with ``(stream, text)`` (``"stdout"`` or ``"stderr"``) as a step prints, on any thread."""


@dataclass(frozen=True)
class Capabilities:
    """What a provider guarantees; shown to users and in the run record."""

    isolated: bool
    network: bool
    persistent_state: bool
    shares_user_namespace: bool = False
    workdir_on_host: bool = True
    """The work dir is a directory of this machine (so host-side git checkpoints can see it)."""


@dataclass
class ExecError:
    """An exception raised by executed code."""

    name: str
    value: str
    traceback: str = ""


@dataclass
class ExecResult:
    """The outcome of one Python or shell step."""

    stdout: str = ""
    stderr: str = ""
    displays: list[dict[str, str]] = field(default_factory=list)
    """Rich outputs as MIME bundles, e.g. ``{"image/png": <base64>, "text/plain": "..."}``."""
    value: str | None = None
    """``repr`` of the last expression, if the code ended with one."""
    error: ExecError | None = None
    timed_out: bool = False
    duration: float = 0.0
    state_lost: bool = False
    """True when the worker was killed and restarted, so variables are gone."""
    exit_code: int | None = None
    """Shell steps only."""
    execution_count: int | None = None
    """The kernel's count for code run ``as_cell``; None otherwise."""

    @property
    def ok(self) -> bool:
        return self.error is None and not self.timed_out and not self.exit_code

    @property
    def interrupted(self) -> bool:
        """The step was stopped before it finished (an interrupt or its timeout) and what it did until then stays."""
        stopped = self.timed_out or (self.error is not None and self.error.name == "KeyboardInterrupt")
        return stopped and not self.state_lost


class StepInterrupted(KeyboardInterrupt):
    """The user interrupted a step: the run stops, and ``result`` holds what the step did until then."""

    def __init__(self, result: ExecResult) -> None:
        super().__init__()
        self.result = result

class Provider(abc.ABC):
    """Base class of execution providers.

    Subclasses implement the ``_start``/``_close``/``run_*``/``file_op`` primitives;
    start and close are idempotent and the provider is an async context manager.
    """

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    def __init__(self, workdir: str | os.PathLike[str] | None = None, **config: Any) -> None:
        self.workdir = os.path.abspath(os.fspath(workdir or os.getcwd()))
        self.config = config
        self._started = False
        self._tool_handler: ToolHandler | None = None
        self._tool_names: list[str] = []

    @property
    def extra_write_dirs(self) -> tuple[str, ...]:
        """Directories besides the work dir that the agent may write to (``additional_write_dirs``)."""
        return ()

    # lifecycle -----------------------------------------------------------
    async def start(self) -> None:
        if not self._started:
            await self._start()
            self._started = True

    async def close(self) -> None:
        if self._started:
            self._started = False
            await self._close()

    @property
    def started(self) -> bool:
        return self._started

    async def __aenter__(self) -> "Provider":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @abc.abstractmethod
    async def _start(self) -> None: ...

    @abc.abstractmethod
    async def _close(self) -> None: ...

    # execution -------------------------------------------------------------
    @abc.abstractmethod
    async def run_python(self, code: str, timeout: float | None = None, *, as_cell: bool = False) -> ExecResult:
        """Run ``code`` in the persistent namespace; a timeout is a result, not a raise.

        ``as_cell``: run it as a notebook cell the user runs would be (the kernel gives it an
        execution count and keeps it in ``In``); providers without a kernel ignore it.
        """

    @abc.abstractmethod
    async def run_shell(
        self, command: str, workdir: str | None = None, timeout: float | None = None
    ) -> ExecResult:
        """Run a shell command with ``bash -c``; the command travels as data."""

    @abc.abstractmethod
    async def file_op(self, op: str, **args: Any) -> Any:
        """Run one file operation from :mod:`tinycode_jupyter.providers.fileops` where the code runs."""

    @abc.abstractmethod
    async def interrupt(self) -> None:
        """Interrupt the step that is running, if any."""

    # custom tools callable from code -----------------------------------------
    def set_tool_handler(self, names: list[str], handler: ToolHandler) -> None:
        """Make custom tools callable by name from code run by this provider."""
        self._tool_names = list(names)
        self._tool_handler = handler

    # convenience wrappers over file_op --------------------------------------
    async def read_file(self, path: str) -> bytes:
        return await self.file_op("read_bytes", path=path)

    async def write_file(self, path: str, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode()
        await self.file_op("write_bytes", path=path, data=data)

    async def list_files(self, pattern: str = "**/*", root: str | None = None) -> list[str]:
        return await self.file_op("glob", pattern=pattern, root=root or self.workdir)

    async def upload(self, local_path: str, remote_path: str) -> None:
        with open(local_path, "rb") as fh:
            await self.write_file(remote_path, fh.read())

    async def download(self, remote_path: str, local_path: str) -> None:
        data = await self.read_file(remote_path)
        with open(local_path, "wb") as fh:
            fh.write(data)
