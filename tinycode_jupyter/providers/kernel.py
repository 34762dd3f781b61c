"""The ``kernel`` provider: runs code in the live IPython user namespace.

Code goes through ``shell.run_cell`` so display, matplotlib figures, magics and
the last expression behave as in a cell. Outside IPython an embedded
``InteractiveShell`` is used. Each step runs with the work dir as the current
directory, and the kernel's own directory is restored afterwards. There is **no isolation**: the agent's code has
the user's full rights and sees (and changes) the user's variables.

In a real kernel the agent loop runs in a worker thread; the Jupyter layer sets
:attr:`KernelProvider.main_thread_runner` so code still executes on the kernel's
main thread, where interrupts and display work.

Custom tools are functions in the user namespace (see :class:`CodeTools`); they never
replace or remove a user's variable.
"""
from __future__ import annotations

import asyncio
import builtins
import logging
import os
import re
import signal
import sys
import tempfile
import threading
import time
from typing import Any, Awaitable, Callable, TypeVar

from ..errors import ConfigurationError
from . import fileops
from .base import Capabilities, ExecError, ExecResult, OutputCallback, Provider, StepInterrupted, ToolHandler
from .worker import DEFAULTS as WORKER_DEFAULTS
from .worker import head_and_tail, kill_process_tree, shorten, subreaper_preexec

log = logging.getLogger(__name__)
T = TypeVar("T")
MainThreadRunner = Callable[[Callable[[], T]], Awaitable[T]]
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MAX_OUTPUT_CHARS = WORKER_DEFAULTS["max_output_bytes"]
"""Stdout/stderr kept per step (head and tail), as for the sandbox worker."""
TOOLS_NAMESPACE = "tinycode_tools"
"""The user-namespace name under which every custom tool is reachable from code: ``tinycode_tools.<name>(...)``."""


class KernelProvider(Provider):
    name = "kernel"
    capabilities = Capabilities(isolated=False, network=True, persistent_state=True, shares_user_namespace=True)

    def __init__(self, workdir: str | None = None, shell: Any = None, **config: Any) -> None:
        super().__init__(workdir, **config)
        self.shell = shell
        self.main_thread_runner: MainThreadRunner | None = None
        self.on_output: OutputCallback | None = None
        """Told what a step prints as it prints it, on the thread that prints (the cell's live view)."""
        self._running = False
        self._exec_thread: int | None = None
        self._injected: dict[str, object] = {}
        """The names this provider put into the user namespace, and the objects it put there."""

    async def _start(self) -> None:
        if self.shell is None:
            self.shell = _current_or_embedded_shell()

    async def _close(self) -> None:
        self._withdraw_tools()

    # --- execution -------------------------------------------------------------------
    async def run_python(self, code: str, timeout: float | None = None, *, as_cell: bool = False) -> ExecResult:
        await self.start()
        return await self._on_main_thread(lambda: self._execute(code, timeout, as_cell))

    async def run_shell(self, command: str, workdir: str | None = None, timeout: float | None = None) -> ExecResult:
        """Output goes to files, not pipes, so a background job that keeps them open cannot hold the step.

        On a timeout or a cancel the command's whole process tree is killed
        (``setsid``, ``nohup`` and double forks included, see :func:`kill_process_tree`).
        """
        started = time.perf_counter()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            process = await asyncio.create_subprocess_exec(
                "bash", "-c", command, cwd=workdir or self.workdir, stdin=asyncio.subprocess.DEVNULL,
                stdout=out, stderr=err, start_new_session=True, preexec_fn=subreaper_preexec(),
            )  # fmt: skip
            timed_out = False
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except asyncio.TimeoutError:
                timed_out = True
            finally:
                if process.returncode is None:  # timed out, or the caller was cancelled
                    kill_process_tree(process.pid)
                    await process.wait()
            return ExecResult(_read_capped(out), _read_capped(err), timed_out=timed_out,
                              duration=time.perf_counter() - started, exit_code=process.returncode)  # fmt: skip

    async def file_op(self, op: str, **args: Any) -> Any:
        for key in ("path", "root"):  # relative paths mean the work dir, as in the sandbox worker
            if isinstance(args.get(key), str):
                args[key] = os.path.join(self.workdir, args[key])
        return await asyncio.to_thread(fileops.OPERATIONS[op], **args)

    async def interrupt(self) -> None:
        if self._running and self._exec_thread is not None:
            signal.pthread_kill(self._exec_thread, signal.SIGINT)

    def set_tool_handler(self, names: list[str], handler: ToolHandler) -> None:
        """Put the tools into the user namespace as ``tinycode_tools.<name>``, and as ``<name>`` where that is free.

        A name the user (or Python's builtins) already uses is left alone: their object wins.
        Raises :class:`ConfigurationError` if the user's own ``tinycode_tools`` is in the way.
        """
        namespace = self.shell.user_ns
        self._withdraw_tools()
        if _is_taken(namespace, TOOLS_NAMESPACE):
            raise ConfigurationError(
                f"the kernel variable {TOOLS_NAMESPACE!r} is yours, and custom tools are reached from code under that "
                f"name: rename or delete it (del {TOOLS_NAMESPACE})"
            )
        super().set_tool_handler(names, handler)
        functions = {name: _sync_tool_function(name, handler) for name in names}
        self._inject(TOOLS_NAMESPACE, CodeTools(functions))
        for name, function in functions.items():
            if _is_taken(namespace, name):
                log.info("custom tool %r: the name is taken in the user namespace; code reaches it as %s.%s", name, TOOLS_NAMESPACE, name)
            else:
                self._inject(name, function)

    # --- internals ---------------------------------------------------------------------
    def _inject(self, name: str, value: object) -> None:
        self.shell.user_ns[name] = value
        self._injected[name] = value

    def _withdraw_tools(self) -> None:
        """Remove what :meth:`set_tool_handler` injected, where it is still there: a name the user
        rebound (or deleted) since stays as the user left it."""
        namespace = self.shell.user_ns if self._injected else {}
        for name, value in self._injected.items():
            if namespace.get(name) is value:
                del namespace[name]
        self._injected.clear()

    async def _on_main_thread(self, func: Callable[[], T]) -> T:
        if self.main_thread_runner is not None:
            return await self.main_thread_runner(func)
        return func()

    def _execute(self, code: str, timeout: float | None, as_cell: bool = False) -> ExecResult:
        from IPython.utils.capture import capture_output

        shell = self.shell
        capture = _ExecutionCapture()
        saved = (sys.displayhook, shell.display_trap.hook, shell.__dict__.get("_showtraceback"))
        previous_handler = _make_interruptible()
        timer = self._arm_timeout(timeout)
        started = time.perf_counter()
        self._running, self._exec_thread = True, threading.get_ident()
        previous_cwd = os.getcwd()
        try:
            os.chdir(self.workdir)
            sys.displayhook = shell.display_trap.hook = capture.displayhook
            shell._showtraceback = capture.showtraceback
            with capture_output(display=True) as captured:
                _tee_output(self.on_output)
                outcome = shell.run_cell(code, store_history=as_cell, silent=False)
        finally:
            if previous_handler is not None:
                signal.signal(signal.SIGINT, previous_handler)
            os.chdir(previous_cwd)
            self._running = False
            if timer is not None:
                timer.cancel()
            sys.displayhook, shell.display_trap.hook = saved[0], saved[1]
            _restore_attr(shell, "_showtraceback", saved[2])
        timed_out = timer is not None and timer.did_interrupt
        result = ExecResult(
            stdout=shorten(captured.stdout, MAX_OUTPUT_CHARS),
            stderr=shorten(captured.stderr, MAX_OUTPUT_CHARS),
            displays=[dict(output.data) for output in captured.outputs],
            value=capture.value_text(shell),
            error=capture.error(outcome),
            timed_out=timed_out,
            duration=time.perf_counter() - started,
            execution_count=outcome.execution_count if as_cell else None,
        )
        if isinstance(outcome.error_in_exec, KeyboardInterrupt) and not timed_out:
            raise StepInterrupted(result)  # the user's interrupt: stop the run, not just this step
        return result

    def _arm_timeout(self, timeout: float | None) -> "_InterruptTimer | None":
        if not timeout:
            return None
        timer = _InterruptTimer(timeout, threading.get_ident())
        timer.start()
        return timer


class CodeTools:
    """The custom tools as plain functions, for code run in the kernel: ``tinycode_tools.search(query="x")``.

    Always injected, so every tool stays reachable even when a user's variable has its name.
    """

    def __init__(self, functions: dict[str, Callable[..., Any]]) -> None:
        self.__dict__.update(functions)

    def __repr__(self) -> str:
        return f"<custom tools: {', '.join(sorted(vars(self))) or 'none'}>"


def _is_taken(namespace: dict[str, Any], name: str) -> bool:
    """Whether ``name`` already means something to the user's code (a variable, or a builtin it would shadow)."""
    return name in namespace or hasattr(builtins, name)


class _InterruptTimer(threading.Timer):
    """Sends SIGINT to the executing thread when the step runs past its timeout."""

    def __init__(self, timeout: float, thread_id: int) -> None:
        super().__init__(timeout, self._interrupt)
        self.daemon = True
        self.thread_id = thread_id
        self.did_interrupt = False

    def _interrupt(self) -> None:
        self.did_interrupt = True
        signal.pthread_kill(self.thread_id, signal.SIGINT)


class _ExecutionCapture:
    """Collects the last expression's value and the formatted traceback of one run_cell."""

    _NO_VALUE = object()

    def __init__(self) -> None:
        self.value: Any = self._NO_VALUE
        self.traceback_text = ""

    def displayhook(self, value: Any) -> None:
        if value is not None:
            self.value = value

    def showtraceback(self, etype: Any, evalue: Any, stb: list[str]) -> None:
        self.traceback_text = _ANSI.sub("", "\n".join(stb))

    def value_text(self, shell: Any) -> str | None:
        if self.value is self._NO_VALUE:
            return None
        data, _ = shell.display_formatter.format(self.value, include=("text/plain",))
        return data.get("text/plain")

    def error(self, outcome: Any) -> ExecError | None:
        exc = outcome.error_before_exec or outcome.error_in_exec
        if exc is None:
            return None
        return ExecError(type(exc).__name__, str(exc), self.traceback_text or f"{type(exc).__name__}: {exc}")


class _Tee:
    """A captured stream that also tells ``on_output`` what is written to it."""

    def __init__(self, stream: Any, name: str, on_output: OutputCallback) -> None:
        self._stream, self._name, self._on_output = stream, name, on_output

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        try:
            self._on_output(self._name, text)
        except Exception:  # a broken live view must not fail the step
            log.exception("the live output callback failed")
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _tee_output(on_output: OutputCallback | None) -> None:
    """Inside ``capture_output``: what the step prints also goes to ``on_output`` (``capture_output`` restores the streams)."""
    if on_output is not None:
        sys.stdout = _Tee(sys.stdout, "stdout", on_output)
        sys.stderr = _Tee(sys.stderr, "stderr", on_output)


def _make_interruptible() -> Any:
    """Make SIGINT raise KeyboardInterrupt inside the step, as in a cell.

    ``asyncio.run`` installs a handler that would cancel the whole run instead, and a
    process started in the background ignores SIGINT. Returns the handler to restore
    (None when not on the main thread, where signal handlers cannot be changed).
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, signal.default_int_handler)


def _current_or_embedded_shell() -> Any:
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        return shell
    from IPython.core.interactiveshell import InteractiveShell

    return InteractiveShell.instance()


def _sync_tool_function(name: str, handler: Any) -> Callable[..., Any]:
    """A plain function for the user namespace that runs the async tool handler to completion."""

    def call_tool(**kwargs: Any) -> Any:
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = asyncio.run(handler(name, kwargs))
            except BaseException as exc:  # re-raised in the caller's thread below
                box["error"] = exc

        worker = threading.Thread(target=target, name=f"tool-{name}", daemon=True)
        worker.start()
        worker.join()
        if "error" in box:
            raise box["error"]
        return box["value"]

    call_tool.__name__ = name
    return call_tool


def _restore_attr(obj: Any, name: str, saved: Any) -> None:
    if saved is None:
        obj.__dict__.pop(name, None)
    else:
        setattr(obj, name, saved)


def _read_capped(output: Any, limit: int = MAX_OUTPUT_CHARS) -> str:
    """What a command wrote to the file ``output``: its head and tail when it is over ``limit`` bytes."""
    size = output.seek(0, os.SEEK_END)
    output.seek(0)
    if size <= limit:
        return _decode(output.read())
    half = limit // 2
    head = output.read(half)
    output.seek(size - half)
    return head_and_tail(head, output.read(half), size - 2 * half)


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")

