"""Async byte streams over raw pipe fds that work from whichever event loop is running.

asyncio's subprocess transports belong to the loop that created them, but a
provider outlives loops (each notebook cell may run the agent in a new one).
These adapters register with the running loop only while they wait.
"""
from __future__ import annotations

import asyncio
import os


async def _wait_for_fd(fd: int, writable: bool) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    (loop.add_writer if writable else loop.add_reader)(fd, wake)
    try:
        await ready
    finally:
        (loop.remove_writer if writable else loop.remove_reader)(fd)


class PipeReader:
    """``await read(n)`` on a non-blocking pipe fd; ``b""`` at end of stream."""

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self.fd = fd

    async def read(self, n: int) -> bytes:
        while True:
            try:
                return os.read(self.fd, n)
            except BlockingIOError:
                await _wait_for_fd(self.fd, writable=False)

    def read_available(self, limit: int) -> bytes:
        """Whatever is buffered right now, up to ``limit`` bytes, without waiting."""
        data = bytearray()
        while len(data) < limit:
            try:
                chunk = os.read(self.fd, limit - len(data))
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            data += chunk
        return bytes(data)


class PipeWriter:
    """A buffered non-blocking writer: ``write`` never blocks, ``await drain()`` flushes."""

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self.fd = fd
        self._buffer = bytearray()

    def write(self, data: bytes) -> None:
        self._buffer += data
        self._flush()

    async def drain(self) -> None:
        while self._buffer:
            await _wait_for_fd(self.fd, writable=True)
            self._flush()

    def _flush(self) -> None:
        while self._buffer:
            try:
                written = os.write(self.fd, self._buffer)
            except BlockingIOError:
                return
            del self._buffer[:written]
