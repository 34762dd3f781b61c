"""MCP servers as tool sources: each server's tools become agent tools.

A server runs as a subprocess speaking MCP over stdio (the ``mcp`` package,
imported on first use). Its tools are described to the model with the server's
own ``inputSchema`` and return text. Each server's session runs on an event
loop in a thread of its own, so its tools work from any loop or thread (also
from code run by ``run_python``), and :meth:`MCPServers.close` shuts every
server down (no process is left behind).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import sys
import tempfile
import threading
from typing import Any, Sequence

from .errors import ConfigurationError, TinyCodeError
from .tools.base import Tool, ToolResult

if sys.version_info < (3, 11):  # built in from 3.11; anyio depends on the backport before
    from exceptiongroup import BaseExceptionGroup

log = logging.getLogger(__name__)

STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 10.0
_STDERR_TAIL = 2000


class MCPServerError(TinyCodeError):
    """An MCP server could not be started or listed."""


class MCPServerConnection:
    """One MCP server subprocess and its client session, served by a thread of its own.

    The session lives on a private event loop in that thread, so its tools can be
    called from any thread or event loop (the agent's loop, a kernel's main thread,
    a worker thread), and a loop that is busy running code never blocks a call.
    """

    def __init__(
        self,
        command: str,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        *,
        include_tools: Sequence[str] | None = None,
        exclude_tools: Sequence[str] | None = None,
        startup_timeout: float = STARTUP_TIMEOUT,
        call_timeout: float | None = None,
    ) -> None:
        if isinstance(args, str):
            raise ConfigurationError("args must be a list of strings, e.g. ['server.py'], not one string")
        self.command = command
        self.args = list(args)
        self.env = dict(env) if env else None
        self.include_tools = set(include_tools) if include_tools is not None else None
        self.exclude_tools = set(exclude_tools or ())
        self.startup_timeout = startup_timeout
        self.call_timeout = call_timeout
        self.name = " ".join([command, *self.args])
        self.tools: list[Tool] = []
        self._output_schemas: dict[str, dict[str, Any] | None] = {}
        self._session: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._served: concurrent.futures.Future[None] | None = None
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")

    async def start(self) -> list[Tool]:
        """Start the server, list its tools (filtered) and return them as agent tools."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"mcp {self.name}", daemon=True)
        self._thread.start()
        ready: concurrent.futures.Future[list[Any]] = concurrent.futures.Future()
        self._served = asyncio.run_coroutine_threadsafe(self._serve(ready), self._loop)
        try:
            specs = await asyncio.wait_for(asyncio.wrap_future(ready), self.startup_timeout)
        except BaseException as exc:
            detail = f"{_describe(exc)}{self._stderr_tail()}" if isinstance(exc, Exception) else ""
            await self.close()
            if isinstance(exc, Exception):
                raise MCPServerError(f"MCP server {self.name!r} did not start: {detail}") from exc
            raise
        self.tools = [self._tool(spec) for spec in specs if self._wanted(spec.name)]
        self._output_schemas = {spec.name: spec.output_schema for spec in specs}
        self._check_filters({spec.name for spec in specs})
        log.info("MCP server %s: %d tool(s): %s", self.name, len(self.tools), ", ".join(t.name for t in self.tools))
        return self.tools

    async def close(self) -> None:
        """Stop the server, wait for its process to end, and stop the thread."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        if self._stop is not None:
            loop.call_soon_threadsafe(self._stop.set)
        if self._served is not None:
            try:
                await asyncio.wait_for(asyncio.wrap_future(self._served), SHUTDOWN_TIMEOUT)
            except asyncio.TimeoutError:
                log.warning("MCP server %s did not shut down within %.0fs; it was cancelled", self.name, SHUTDOWN_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
        loop.close()
        self._stderr.close()

    async def call(self, tool_name: str, arguments: dict[str, Any]) -> ToolResult:
        """Call one tool on the server (from any thread or loop); its content becomes the result text."""
        if self._session is None or self._loop is None:
            return ToolResult(f"Error: MCP server {self.name!r} is not running{self._stderr_tail()}", ok=False)
        future = asyncio.run_coroutine_threadsafe(self._call(tool_name, arguments), self._loop)
        return await asyncio.wrap_future(future)

    # --- internals (on the connection's own loop) -------------------------------------
    async def _serve(self, ready: concurrent.futures.Future[list[Any]]) -> None:
        """Own the connection for its whole life: open, list tools, wait for close()."""
        from mcp import ClientSession, StdioServerParameters, stdio_client

        self._stop = asyncio.Event()
        params = StdioServerParameters(command=self.command, args=self.args, env=self.env)
        try:
            async with stdio_client(params, errlog=self._stderr) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    specs = await _list_tools(session)
                    self._session = session
                    ready.set_result(specs)
                    await self._stop.wait()
        except Exception as exc:  # reported to start(), or logged: later calls say the server is gone
            if not ready.done():
                ready.set_exception(exc)
            else:
                log.error("MCP server %s stopped: %s%s", self.name, _describe(exc), self._stderr_tail())
        finally:
            self._session = None

    async def _call(self, tool_name: str, arguments: dict[str, Any]) -> ToolResult:
        result = await self._session.call_tool(tool_name, arguments, read_timeout_seconds=self.call_timeout)
        text = _content_text(result)
        if result.is_error:
            return ToolResult(f"Error from MCP tool {tool_name}: {text}", ok=False)
        return ToolResult(text, value=_structured_value(result, self._output_schemas.get(tool_name)))

    def _wanted(self, name: str) -> bool:
        return (self.include_tools is None or name in self.include_tools) and name not in self.exclude_tools

    def _check_filters(self, offered: set[str]) -> None:
        unknown = ((self.include_tools or set()) | self.exclude_tools) - offered
        if unknown:
            log.warning("MCP server %s has no tool(s) named %s (it offers: %s)",
                        self.name, ", ".join(sorted(unknown)), ", ".join(sorted(offered)))  # fmt: skip

    def _tool(self, spec: Any) -> Tool:
        async def call_mcp_tool(**arguments: Any) -> ToolResult:
            return await self.call(spec.name, arguments)

        parameters = dict(spec.input_schema or {})
        parameters.setdefault("type", "object")
        parameters.setdefault("properties", {})
        description = spec.description or spec.title or f"The {spec.name} tool of MCP server {self.name}."
        return Tool(spec.name, description, parameters, call_mcp_tool)

    def _stderr_tail(self) -> str:
        if self._stderr.closed:
            return ""
        self._stderr.flush()
        self._stderr.seek(0)
        tail = self._stderr.read()[-_STDERR_TAIL:].strip()
        self._stderr.seek(0, 2)
        return f"\nserver stderr:\n{tail}" if tail else ""


class MCPServers:
    """The MCP servers connected to one agent, adding their tools to its tool table."""

    def __init__(self, tools: dict[str, Tool]) -> None:
        self._tools = tools
        self.connections: list[MCPServerConnection] = []

    async def connect(
        self,
        command: str,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        **options: Any,
    ) -> list[str]:
        """Start a server and add its tools; a name clash stops the server and raises."""
        connection = MCPServerConnection(command, args, env, **options)
        tools = await connection.start()
        clashes = sorted(t.name for t in tools if t.name in self._tools)
        if clashes:
            await connection.close()
            raise ConfigurationError(
                f"MCP server {connection.name!r}: tool name(s) already taken: {', '.join(clashes)}; "
                "leave them out with exclude_tools=[...] or pick others with include_tools=[...]"
            )
        for item in tools:
            self._tools[item.name] = item
        self.connections.append(connection)
        return [t.name for t in tools]

    async def close(self) -> None:
        """Stop every server and remove its tools (the agent's own tools stay)."""
        connections, self.connections = self.connections, []
        for connection in connections:
            for item in connection.tools:
                if self._tools.get(item.name) is item:
                    del self._tools[item.name]
        results = await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]


async def _list_tools(session: Any) -> list[Any]:
    """Every tool the server offers, following pagination."""
    from mcp import types

    specs: list[Any] = []
    cursor: str | None = None
    while True:
        params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
        listing = await session.list_tools(params=params)
        specs.extend(listing.tools)
        cursor = listing.next_cursor
        if not cursor:
            return specs


def _content_text(result: Any) -> str:
    """The text of a tool result: text parts joined, other parts summarised."""
    parts: list[str] = []
    for block in result.content or ():
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind} {block.mime_type}, {len(block.data) * 3 // 4} bytes]")
        elif kind == "resource":
            resource = block.resource
            parts.append(getattr(resource, "text", None) or f"[resource {resource.uri}]")
        else:
            parts.append(f"[{kind or type(block).__name__} content]")
    if not parts and result.structured_content is not None:
        return json.dumps(result.structured_content)
    return "\n".join(parts) if parts else "[no content]"


def _structured_value(result: Any, output_schema: dict[str, Any] | None) -> Any:
    """The value code gets back: structured content (unwrapping ``{"result": x}`` of non-object returns), else text."""
    data = result.structured_content
    if data is None:
        return _content_text(result)
    wrapped = isinstance(output_schema, dict) and set(output_schema.get("properties", {})) == {"result"}
    return data["result"] if wrapped and isinstance(data, dict) and set(data) == {"result"} else data


def _describe(exc: BaseException) -> str:
    """One line for an exception, unwrapping the exception groups anyio raises."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"
