"""The worker process inside a Modal sandbox, seen as the byte streams WorkerClient reads and writes.

Modal's ``ContainerProcess`` has an async-iterable stdout (chunks), and a
buffered stdin where ``write`` only queues and ``drain`` sends. WorkerClient
wants ``await read(n)`` and a ``write`` that sends by itself (it writes an
interrupt without draining), so :class:`ProcessInput` sends from a task.
Every call that reaches Modal's servers goes through a :data:`Bounded` wrapper
that applies our own timeout. Modal's objects are duck-typed here: this module
never imports ``modal``.
"""
from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Awaitable, Callable

from .worker_provider import WorkerHandle

Bounded = Callable[[str, Awaitable[Any]], Awaitable[Any]]
"""``await bounded(what, awaitable)``: the awaitable's result, or ProviderError after our call timeout."""

STDIN_CHUNK = 1 << 20
"""Bytes sent per ``drain``; Modal refuses to buffer more than a few MiB at once."""
_STDERR_TAIL = 4000
_KILL_TREE = """\
import os, signal, sys
root, children = int(sys.argv[1]), {}
for entry in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{entry}/stat") as stat:
            children.setdefault(int(stat.read().rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    except (OSError, ValueError, IndexError):
        continue
todo, tree = [root], []
while todo:
    tree.append(todo.pop())
    todo += children.get(tree[-1], [])
for pid in tree:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
"""
"""Kills a process and its descendants inside the sandbox; the pid arrives as argv, never as code."""


class ProcessOutput:
    """``await read(n)`` over a Modal process's stdout; ``b""`` at its end.

    A provider outlives event loops, and a loop that shuts down closes the
    async iterators it started, so each loop gets its own iterator. Modal's
    reader keeps the stream position, so a new iterator resumes where the old
    one stopped.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._chunks: AsyncIterator[bytes | str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rest = b""

    async def read(self, n: int) -> bytes:
        while not self._rest:
            loop = asyncio.get_running_loop()
            if self._chunks is None or self._loop is not loop:
                self._chunks, self._loop = aiter(self._stream), loop
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                return b""
            except Exception as exc:  # Modal's errors become what WorkerClient expects of a broken stream
                raise OSError(f"reading the worker's output from Modal failed: {exc}") from exc
            self._rest = chunk.encode() if isinstance(chunk, str) else bytes(chunk)
        data, self._rest = self._rest[:n], self._rest[n:]
        return data


class ProcessInput:
    """``write`` queues and starts sending at once (in order); ``await drain()`` waits until all is sent."""

    def __init__(self, stream: Any, bounded: Bounded) -> None:
        self._stream = stream
        self._bounded = bounded
        self._pending = bytearray()
        self._sender: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None

    def write(self, data: bytes) -> None:
        self._raise_failure()
        self._pending += data
        sender = self._sender
        if sender is None or sender.done() or sender.get_loop() is not asyncio.get_running_loop():
            self._sender = asyncio.ensure_future(self._send())

    async def drain(self) -> None:
        if self._sender is not None and self._sender.get_loop() is asyncio.get_running_loop():
            await asyncio.shield(self._sender)  # a cancelled caller must not cut a message in half
        self._raise_failure()

    async def close(self) -> None:
        """Send what is queued, then end of input (the worker exits when its input ends)."""
        await self.drain()
        self._stream.write_eof()
        await self._bounded("close the worker's input", self._stream.drain.aio())

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise OSError(f"sending to the worker through Modal failed: {self._failure}") from self._failure

    async def _send(self) -> None:
        try:
            while self._pending:
                chunk = bytes(self._pending[:STDIN_CHUNK])
                del self._pending[:STDIN_CHUNK]
                self._stream.write(chunk)
                await self._bounded("send input to the worker", self._stream.drain.aio())
        except Exception as exc:  # kept, and raised to the next write or drain
            self._failure = exc


class ModalWorker(WorkerHandle):
    """A worker started with ``sandbox.exec``; killed from inside the sandbox, by pid."""

    writer: ProcessInput

    def __init__(self, sandbox: Any, process: Any, bounded: Bounded) -> None:
        self.reader = ProcessOutput(process.stdout)
        self.writer = ProcessInput(process.stdin, bounded)
        self.pid: int | None = None
        """The worker's pid inside the sandbox, once it has answered ``ping``."""
        self.sandbox_gone = False
        """Set when the provider terminated the whole sandbox: the worker went with it."""
        self.sandbox_exit: int | None = None
        """The sandbox's exit code, when :meth:`kill` found that it had ended by itself."""
        self._sandbox = sandbox
        self._process = process
        self._bounded = bounded
        self._killed = False

    async def kill(self, wait: float = 0.0) -> None:
        if self._killed or self.sandbox_gone:
            return
        self._killed = True
        self.sandbox_exit = await self._bounded("check the sandbox", self._sandbox.poll.aio())
        if self.sandbox_exit is not None or await self._ended_within(wait):
            return
        if self.pid is None:  # it never said who it is: end its input, on which it exits
            await self.writer.close()
        else:
            argv = ("python", "-c", _KILL_TREE, str(self.pid))
            killer = await self._bounded("kill the worker", self._sandbox.exec.aio(*argv, text=False))
            await self._bounded("kill the worker", killer.wait.aio())
        await self._bounded("wait for the worker to end", self._process.wait.aio())

    async def _ended_within(self, seconds: float) -> bool:
        if seconds <= 0:
            return await self._bounded("check the worker", self._process.poll.aio()) is not None
        waiting = asyncio.ensure_future(self._bounded("wait for the worker", self._process.wait.aio()))
        done, _ = await asyncio.wait({waiting}, timeout=seconds)
        if not done:
            waiting.cancel()
            return False
        waiting.result()  # raises what went wrong with Modal
        return True

    async def exit_report(self) -> str:
        if self.sandbox_gone:
            return "the sandbox was terminated"
        if self.sandbox_exit is not None:
            return (f"the sandbox itself ended (exit code {self.sandbox_exit}), e.g. because its timeout passed; "
                    "a new sandbox is started, without the files of the old one")  # fmt: skip
        status = await self._bounded("read the worker's exit status", self._process.poll.aio())
        if status is None:
            return "still running"
        tail = await self._bounded("read the worker's stderr", self._process.stderr.read.aio())
        if isinstance(tail, bytes):
            tail = tail.decode("utf-8", "replace")
        tail = tail.strip()[-_STDERR_TAIL:]
        return f"exit status {status}" + (f"; its stderr ended with: {tail}" if tail else "")
