"""A small keep-alive HTTP/1.1 client on asyncio streams: what the model APIs need, nothing more.

One :class:`HTTPClient` per server origin keeps idle connections for reuse, sends one request
at a time per connection, and reads answers framed by ``Content-Length``, chunked transfer
encoding, or the end of the connection. Every connect and every read from the socket waits at
most ``timeout`` seconds. Failures below HTTP are :class:`TransportError` with a short reason
("connection refused", "no answer within 120 s") and whether trying again can help.

Why not httpx: measured on the loopback model server, an ``httpx.AsyncClient`` POST costs
about 2 ms of CPU against 0.2 ms for ``http.client`` and 0.15 ms for this client, and
``import httpx`` takes 0.3-0.4 s and about 20 MiB (it imports rich and click when they are
installed). The per-turn bar is five raw round trips.
"""
from __future__ import annotations

import asyncio
import functools
import socket
import sys
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..errors import ConfigurationError

T = TypeVar("T")

MAX_HEAD_BYTES = 65_536
"""Longest status line plus headers accepted."""
MAX_BODY_BYTES = 256 * 1024 * 1024
"""Largest answer body read, and longest streamed line; beyond it the answer is refused."""
_READ_SIZE = 65_536
_COMPACT_AT = 65_536
_USER_AGENT = "tinycode-jupyter"


class TransportError(Exception):
    """The request did not get a complete HTTP answer; ``reason`` says why in a few words."""

    def __init__(self, reason: str, *, retry: bool, reached: bool = True, timed_out: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        """Whether trying again can help (a refused or dropped connection, a timeout), or not
        (a host name that does not resolve, a certificate that is not trusted)."""
        self.reached = reached
        """Whether a connection to the server was made before the failure."""
        self.timed_out = timed_out
        """Seconds waited for an answer that did not come, for a read that timed out."""


@dataclass(frozen=True)
class Origin:
    """Where requests go: ``scheme://host:port`` and the path every request path is appended to."""

    scheme: str
    host: str
    port: int
    prefix: str

    @classmethod
    def parse(cls, url: str) -> "Origin":
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"api_base: not an http(s) URL: {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


class HTTPClient:
    """Requests to one origin over reused connections. Connections belong to the event loop
    that opened them; on another loop (a new ``asyncio.run``) fresh ones are opened."""

    max_idle = 16

    def __init__(self, base_url: str, timeout: float) -> None:
        self.origin = Origin.parse(base_url)
        self.timeout = timeout
        self._idle: list[_Connection] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> "Response":
        """Send the request; returns once the status line and headers are in (read the body from the :class:`Response`)."""
        head = _request_head(method, self.origin.prefix + path, self.origin.host_header, headers, len(body))
        connection = await self._connection()
        try:
            connection.writer.write(head + body)
            while True:
                status, reason, response_headers = _parse_head(await connection.until(b"\r\n\r\n", MAX_HEAD_BYTES))
                if status >= 200:  # an informational 1xx answer is followed by the real one
                    break
        except BaseException:
            connection.close()
            raise
        return Response(self, connection, status, reason, response_headers)

    async def _connection(self) -> "_Connection":
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._idle, self._loop = [], loop  # the old loop's connections cannot be used on this one
        while self._idle:
            connection = self._idle.pop()
            if connection.usable():
                return connection
            connection.close()
        return await self._open()

    async def _open(self) -> "_Connection":
        origin = self.origin
        tls = _tls_context() if origin.scheme == "https" else None
        try:
            reader, writer = await within(
                asyncio.open_connection(origin.host, origin.port, ssl=tls, server_hostname=origin.host if tls else None),
                self.timeout,
            )
        except asyncio.TimeoutError:
            raise TransportError(f"no connection within {self.timeout:g} s", retry=True, reached=False) from None
        except socket.gaierror:
            raise TransportError(f"host {origin.host!r} not found", retry=False, reached=False) from None
        except OSError as exc:
            raise _os_error(exc, reached=False) from None
        sock = writer.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Connection(reader, writer, self.timeout)

    def release(self, connection: "_Connection") -> None:
        """Keep a connection whose answer was read to its end, for the next request."""
        if asyncio.get_running_loop() is self._loop and len(self._idle) < self.max_idle:
            self._idle.append(connection)
        else:
            connection.close()


class Response:
    """An answer whose head is read; read its body once, whole (:meth:`read`) or by lines (:meth:`lines`)."""

    def __init__(self, client: HTTPClient, connection: "_Connection", status: int, reason: str, headers: dict[str, str]) -> None:
        self.status, self.reason, self.headers = status, reason, headers
        self._client, self._connection = client, connection
        self._keep = headers.get("connection", "").lower() != "close"
        self._started = False
        self._finished = False

    async def read(self) -> bytes:
        """The whole body."""
        return b"".join([part async for part in self._parts()])

    async def lines(self) -> AsyncIterator[bytes]:
        """The body's lines, without their line ends, as they arrive."""
        pending = b""
        async for part in self._parts():
            pending += part
            if b"\n" not in part:
                if len(pending) > MAX_BODY_BYTES:
                    raise TransportError(f"a streamed line longer than {MAX_BODY_BYTES} bytes", retry=False)
                continue
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line.rstrip(b"\r")
        if pending:
            yield pending.rstrip(b"\r")

    async def _parts(self) -> AsyncIterator[bytes]:
        if self._started:
            raise RuntimeError("the response body was already read")
        self._started = True
        try:
            async for part in self._framed():
                yield part
        except BaseException:
            self.close()
            raise
        self._finished = True
        if self._keep:
            self._client.release(self._connection)
        else:
            self._connection.close()

    def close(self) -> None:
        """Give up on what is left of the body (if anything): the connection is closed, never reused."""
        if not self._finished:
            self._finished = True
            self._connection.close()

    def _framed(self) -> AsyncIterator[bytes]:
        connection = self._connection
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return connection.chunked()
        length = self.headers.get("content-length", "").strip()
        if length.isdigit():
            if int(length) > MAX_BODY_BYTES:
                raise TransportError(f"an answer of {length} bytes, more than {MAX_BODY_BYTES}", retry=False)
            return connection.sized(int(length))
        self._keep = False
        return connection.until_closed()


class _Connection:
    """One connection, and what was read from it but not used yet."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float) -> None:
        self.reader, self.writer, self.timeout = reader, writer, timeout
        self.buffer = bytearray()
        self.start = 0
        """Where the unused bytes of ``buffer`` begin."""

    def usable(self) -> bool:
        """Idle, still open, and with nothing left over: a server that closed it while idle left an end of file."""
        return self.start == len(self.buffer) and not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.transport.abort()

    async def fill(self) -> bool:
        """Read what the socket has, within the timeout; False at the end of the connection."""
        if self.start >= _COMPACT_AT:
            del self.buffer[: self.start]
            self.start = 0
        data = await _read(self.reader.read(_READ_SIZE), self.timeout)
        self.buffer += data
        return bool(data)

    def take(self, end: int) -> bytes:
        data = bytes(self.buffer[self.start : end])
        self.start = end
        return data

    async def until(self, marker: bytes, limit: int) -> bytes:
        """Everything up to and including ``marker``."""
        while (found := self.buffer.find(marker, self.start)) < 0:
            if len(self.buffer) - self.start > limit:
                raise TransportError(f"an answer line longer than {limit} bytes", retry=False)
            if not await self.fill():
                raise _cut_short()
        return self.take(found + len(marker))

    async def exactly(self, size: int) -> bytes:
        while len(self.buffer) - self.start < size:
            if not await self.fill():
                raise _cut_short()
        return self.take(self.start + size)

    async def sized(self, length: int) -> AsyncIterator[bytes]:
        while length:
            if self.start == len(self.buffer) and not await self.fill():
                raise _cut_short()
            part = self.take(min(len(self.buffer), self.start + length))
            length -= len(part)
            yield part

    async def chunked(self) -> AsyncIterator[bytes]:
        total = 0
        while True:
            size_line = await self.until(b"\r\n", 1024)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise TransportError("a malformed chunked answer", retry=False) from None
            if size == 0:
                while await self.until(b"\r\n", MAX_HEAD_BYTES) != b"\r\n":  # trailers, then the empty line
                    pass
                return
            total += size
            if total > MAX_BODY_BYTES:
                raise TransportError(f"an answer longer than {MAX_BODY_BYTES} bytes", retry=False)
            yield (await self.exactly(size + 2))[:-2]

    async def until_closed(self) -> AsyncIterator[bytes]:
        total = 0
        while self.start < len(self.buffer) or await self.fill():
            part = self.take(len(self.buffer))
            total += len(part)
            if total > MAX_BODY_BYTES:
                raise TransportError(f"an answer longer than {MAX_BODY_BYTES} bytes", retry=False)
            yield part


async def _read(step: Awaitable[bytes], timeout: float) -> bytes:
    """One read from a socket, within the timeout, with its failures as :class:`TransportError`."""
    try:
        return await within(step, timeout)
    except asyncio.TimeoutError:
        raise TransportError(f"no answer within {timeout:g} s", retry=True, timed_out=timeout) from None
    except OSError as exc:
        raise _os_error(exc, reached=True) from None


def _cut_short() -> TransportError:
    return TransportError("the server closed the connection mid-answer", retry=True)


def check_headers(headers: dict[str, str]) -> None:
    """Refuse a header that would end its line early (an API key or extra header with a line break)."""
    for name, value in headers.items():
        if not isinstance(value, str) or any(c in name or c in value for c in "\r\n\0") or ":" in name:
            raise ConfigurationError(f"header {name!r}: its name or value holds a line break or NUL, or is not text")
        try:
            (name + value).encode("latin-1")
        except UnicodeEncodeError:
            raise ConfigurationError(f"header {name!r}: its value holds characters HTTP headers cannot carry") from None


def _request_head(method: str, target: str, host: str, headers: dict[str, str], length: int) -> bytes:
    check_headers(headers)
    lines = [f"{method} {target or '/'} HTTP/1.1", f"Host: {host}", f"User-Agent: {_USER_AGENT}",
             "Accept-Encoding: identity", f"Content-Length: {length}"]  # fmt: skip
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _parse_head(raw: bytes) -> tuple[int, str, dict[str, str]]:
    status_line, *header_lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/") or not code.isdigit():
        raise TransportError(f"not an HTTP answer: {status_line[:80]!r}", retry=False)
    headers: dict[str, str] = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if sep:
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    if version == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive":
        headers["connection"] = "close"
    return int(code), reason, headers


def _os_error(exc: OSError, reached: bool) -> TransportError:
    import ssl

    if isinstance(exc, ssl.SSLCertVerificationError):
        return TransportError(f"its TLS certificate is not trusted: {exc.verify_message}", retry=False, reached=reached)
    if isinstance(exc, ssl.SSLError):  # e.g. https:// pointed at a plain-HTTP port
        return TransportError(f"TLS failed: {(exc.reason or str(exc)).lower().replace('_', ' ')}", retry=False, reached=reached)
    if isinstance(exc, ConnectionRefusedError):
        return TransportError("connection refused", retry=True, reached=reached)
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return TransportError("the server closed the connection", retry=True, reached=reached)
    return TransportError((exc.strerror or type(exc).__name__).lower(), retry=True, reached=reached)


@functools.lru_cache(maxsize=1)
def _tls_context() -> Any:
    """The system's trusted certificates plus certifi's when it is installed (made once, on the first https request)."""
    import ssl

    context = ssl.create_default_context()
    try:
        import certifi
    except ImportError:
        pass
    else:
        context.load_verify_locations(certifi.where())
    return context


if sys.version_info >= (3, 11):

    async def within(step: Awaitable[T], seconds: float) -> T:
        """``await step``, or ``asyncio.TimeoutError`` after ``seconds``."""
        async with asyncio.timeout(seconds):
            return await step

else:  # pragma: no cover - Python 3.10

    async def within(step: Awaitable[T], seconds: float) -> T:
        """``await step``, or ``asyncio.TimeoutError`` after ``seconds``."""
        return await asyncio.wait_for(step, seconds)
