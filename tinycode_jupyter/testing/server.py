"""A loopback model server that answers from a script, for end-to-end tests.

:class:`ScriptedServer` speaks the OpenAI chat-completions API (``openai/<name>``
with ``api_base=server.url``), Anthropic's Messages API (``anthropic/<name>`` with
``api_base=server.anthropic_url``) and Ollama's chat API (``ollama/<name>`` with
``api_base=server.ollama_url``), streaming and not, so tests exercise the real HTTP
path of the native clients and of litellm. It binds 127.0.0.1 only, runs in its
own thread, keeps connections alive and answers in well under a millisecond, so
it also serves as the zero-latency model of the overhead benchmarks.

Run ``python -m tinycode_jupyter.testing.server --port 8000`` for a server that
echoes the last user message.
"""
from __future__ import annotations

import argparse
import json
import logging
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from .script import (
    Fault,
    Reply,
    Responder,
    ScriptItem,
    ToolCallSpec,
    resolve,
    say,
    usage_for,
)

__all__ = ["ScriptExhausted", "ScriptedServer", "echo_responder"]

log = logging.getLogger(__name__)

OPENAI_CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
OPENAI_MODELS_PATHS = frozenset({"/v1/models", "/models"})
OLLAMA_CONTEXT_LENGTH = 131072
"""The context window ``/api/show`` reports (litellm reads it for unmapped ``ollama/`` models)."""

_POLL_INTERVAL = 0.02
"""Seconds between the accept loop's shutdown checks (bounds how long stop() waits)."""
ANTHROPIC_PATHS = frozenset({"/v1/messages", "/messages"})
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests",
            500: "Internal Server Error", 529: "Overloaded"}  # fmt: skip


class ScriptExhausted(Exception):
    """A chat request arrived after the last script item was used."""


# --- the script ------------------------------------------------------------------
class _Script:
    """Thread-safe queue of script items, with an optional responder once the queue is empty."""

    def __init__(self, script: Iterable[ScriptItem] | Responder) -> None:
        self._lock = threading.Lock()
        self._responder: Responder | None = script if callable(script) else None
        self._items: deque[ScriptItem] = deque() if callable(script) else deque(script)
        self.answered = 0

    def add(self, items: Iterable[ScriptItem]) -> None:
        with self._lock:
            self._items.extend(items)

    def next_reply(self, request: dict[str, Any]) -> tuple[int, Reply]:
        """The request's number (1-based) and its reply."""
        with self._lock:
            if self._items:
                item: ScriptItem = self._items.popleft()
            elif self._responder is not None:
                item = self._responder
            else:
                raise ScriptExhausted(
                    f"ScriptedServer: script exhausted after {self.answered} requests; "
                    "add more replies with ScriptedServer.add(...) or pass a Responder"
                )
            self.answered += 1
            number = self.answered
        reply = resolve(item, request)
        if not isinstance(reply, Reply):
            raise TypeError(f"ScriptedServer: script item for request {number} returned {type(reply).__name__}, not Reply")
        return number, reply


# --- wire formats ------------------------------------------------------------------
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def _dumps(obj: Any) -> bytes:
    return _ENCODER.encode(obj).encode()


def _pieces(text: str, size: int) -> Iterator[str]:
    size = max(1, size)
    return (text[i : i + size] for i in range(0, len(text), size))


def _usage_block(request: dict[str, Any], reply: Reply) -> dict[str, Any]:
    """``{"usage": {...}}`` to merge into an answer, or ``{}`` for a reply that reports none."""
    if not reply.report_usage:
        return {}
    prompt, completion = usage_for(request, reply)
    block: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    if reply.cached_tokens:
        block["prompt_tokens_details"] = {"cached_tokens": reply.cached_tokens}
    return {"usage": block}


def _call_id(spec: ToolCallSpec, request_id: str, index: int) -> str:
    return spec.id or f"call_{request_id}_{index}"


class _Wire(Protocol):
    """How one API encodes a reply: a whole body, stream events, and errors."""

    content_type: str

    def __init__(self, model: str, request_id: str, request: dict[str, Any], reply: Reply) -> None: ...
    def body(self) -> dict[str, Any]: ...
    def empty_body(self) -> dict[str, Any]: ...
    def stream(self) -> list[dict[str, Any]]: ...
    def cut_stream(self) -> list[dict[str, Any]]: ...
    @staticmethod
    def frames(events: list[dict[str, Any]], complete: bool) -> list[bytes]: ...
    @staticmethod
    def error(status: int, message: str) -> dict[str, Any]: ...
    @staticmethod
    def script_view(request: dict[str, Any]) -> dict[str, Any]: ...


class _OpenAIWire:
    """Encodes a :class:`Reply` as an OpenAI chat completion (JSON or SSE chunks)."""

    content_type = "text/event-stream"

    def __init__(self, model: str, request_id: str, request: dict[str, Any], reply: Reply) -> None:
        self.model, self.request_id, self.request, self.reply = model, request_id, request, reply
        self.id = f"chatcmpl-{request_id}"
        self.created = int(time.time())
        self.finish_reason = "tool_calls" if reply.tool_calls else "stop"

    def body(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.reply.content or None}
        if self.reply.tool_calls:
            message["tool_calls"] = [
                {"id": _call_id(c, self.request_id, i), "type": "function", "function": {"name": c.name, "arguments": c.arguments_json()}}
                for i, c in enumerate(self.reply.tool_calls)
            ]
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}],
            **_usage_block(self.request, self.reply),
        }

    def empty_body(self) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion", "created": self.created, "model": self.model, "choices": []}

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model, "choices": [choice]}

    def deltas(self) -> Iterator[dict[str, Any]]:
        """The answer's chunks up to (not including) the one carrying ``finish_reason``."""
        size = self.reply.chunk_size
        yield self._chunk({"role": "assistant", "content": ""})
        for piece in _pieces(self.reply.content, size):
            yield self._chunk({"content": piece})
        for i, c in enumerate(self.reply.tool_calls):
            head = {"index": i, "id": _call_id(c, self.request_id, i), "type": "function", "function": {"name": c.name, "arguments": ""}}
            yield self._chunk({"tool_calls": [head]})
            for piece in _pieces(c.arguments_json(), size):
                yield self._chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})

    def stream(self) -> list[dict[str, Any]]:
        chunks = [*self.deltas(), self._chunk({}, self.finish_reason)]
        usage_chunk = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model}
        if self.reply.report_usage:
            chunks.append({**usage_chunk, "choices": [], **_usage_block(self.request, self.reply)})
        return chunks

    def cut_stream(self) -> list[dict[str, Any]]:
        """Some content and the first half of a tool call's arguments; the caller then drops the line."""
        first = (self.reply.tool_calls or [ToolCallSpec("python", {"code": "print('cut off here')"})])[0]
        arguments = first.arguments_json()
        half_call = ToolCallSpec(first.name, arguments[: max(1, len(arguments) // 2)], first.id)
        half = Reply(self.reply.content or "partial answer", [half_call], chunk_size=self.reply.chunk_size)
        return list(_OpenAIWire(self.model, self.request_id, self.request, half).deltas())

    @staticmethod
    def frames(events: list[dict[str, Any]], complete: bool) -> list[bytes]:
        frames = [b"data: " + _dumps(e) + b"\n\n" for e in events]
        if complete:
            frames.append(b"data: [DONE]\n\n")
        return frames

    @staticmethod
    def error(status: int, message: str) -> dict[str, Any]:
        kind = "rate_limit_error" if status == 429 else "server_error" if status >= 500 else "invalid_request_error"
        return {"error": {"message": message, "type": kind, "param": None, "code": str(status)}}

    @staticmethod
    def script_view(request: dict[str, Any]) -> dict[str, Any]:
        return request


class _OllamaWire:
    """Encodes a :class:`Reply` as Ollama ``/api/chat`` output (JSON or NDJSON lines)."""

    content_type = "application/x-ndjson"

    def __init__(self, model: str, request_id: str, request: dict[str, Any], reply: Reply) -> None:
        self.model, self.request, self.reply = request.get("model") or model, request, reply
        self.created_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    @staticmethod
    def _arguments(spec: ToolCallSpec) -> Any:
        """Ollama sends arguments as an object; a malformed string is passed through as is."""
        if not isinstance(spec.arguments, str):
            return spec.arguments
        try:
            return json.loads(spec.arguments)
        except ValueError:
            return spec.arguments

    def _tool_calls(self) -> list[dict[str, Any]]:
        return [{"function": {"name": c.name, "arguments": self._arguments(c)}} for c in self.reply.tool_calls]

    def _line(self, message: dict[str, Any]) -> dict[str, Any]:
        return {"model": self.model, "created_at": self.created_at, "message": {"role": "assistant", **message}, "done": False}

    def _done(self, message: dict[str, Any]) -> dict[str, Any]:
        done = {**self._line(message), "done": True, "done_reason": "stop", "total_duration": 0}
        if self.reply.report_usage:
            done["prompt_eval_count"], done["eval_count"] = usage_for(self.request, self.reply)
        return done

    def body(self) -> dict[str, Any]:
        message: dict[str, Any] = {"content": self.reply.content}
        if self.reply.tool_calls:
            message["tool_calls"] = self._tool_calls()
        return self._done(message)

    def empty_body(self) -> dict[str, Any]:
        """A 200 answer without a message (Ollama's analogue of empty ``choices``)."""
        return {"model": self.model, "created_at": self.created_at, "done": True, "done_reason": "stop"}

    def deltas(self) -> Iterator[dict[str, Any]]:
        for piece in _pieces(self.reply.content, self.reply.chunk_size):
            yield self._line({"content": piece})
        if self.reply.tool_calls:
            yield self._line({"content": "", "tool_calls": self._tool_calls()})

    def stream(self) -> list[dict[str, Any]]:
        return [*self.deltas(), self._done({"content": ""})]

    def cut_stream(self) -> list[dict[str, Any]]:
        return [self._line({"content": p}) for p in _pieces(self.reply.content or "partial answer", self.reply.chunk_size)]

    @staticmethod
    def frames(events: list[dict[str, Any]], complete: bool) -> list[bytes]:
        return [_dumps(e) + b"\n" for e in events]  # an NDJSON stream has no end marker

    @staticmethod
    def error(status: int, message: str) -> dict[str, Any]:
        return {"error": message}

    @staticmethod
    def script_view(request: dict[str, Any]) -> dict[str, Any]:
        return request


class _AnthropicWire:
    """Encodes a :class:`Reply` as an Anthropic message (JSON, or server-sent events)."""

    content_type = "text/event-stream"

    def __init__(self, model: str, request_id: str, request: dict[str, Any], reply: Reply) -> None:
        self.model, self.request_id, self.request, self.reply = request.get("model") or model, request_id, request, reply
        self.id = f"msg_{request_id}"
        self.stop_reason = "tool_use" if reply.tool_calls else "end_turn"

    def _usage(self) -> dict[str, int]:
        prompt, completion = usage_for(self.request, self.reply)
        cached, written = self.reply.cached_tokens, self.reply.cache_write_tokens
        return {"input_tokens": max(0, prompt - cached - written), "cache_read_input_tokens": cached,
                "cache_creation_input_tokens": written, "output_tokens": completion}  # fmt: skip

    @staticmethod
    def _input(spec: ToolCallSpec) -> Any:
        """A tool call's ``input`` object; a malformed string is passed through as is (a fault, not the real API)."""
        if not isinstance(spec.arguments, str):
            return spec.arguments
        try:
            return json.loads(spec.arguments)
        except ValueError:
            return spec.arguments

    def _message(self, content: list[dict[str, Any]], stop_reason: str | None, usage: dict[str, int]) -> dict[str, Any]:
        return {"id": self.id, "type": "message", "role": "assistant", "model": self.model, "content": content,
                "stop_reason": stop_reason, "stop_sequence": None, "usage": usage}  # fmt: skip

    def body(self) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": self.reply.content}] if self.reply.content else []
        content += [{"type": "tool_use", "id": _call_id(c, self.request_id, i), "name": c.name, "input": self._input(c)}
                    for i, c in enumerate(self.reply.tool_calls)]  # fmt: skip
        return self._message(content, self.stop_reason, self._usage())

    def empty_body(self) -> dict[str, Any]:
        return self._message([], None, {"input_tokens": 0, "output_tokens": 0})

    def deltas(self) -> Iterator[dict[str, Any]]:
        """``message_start`` and the content blocks, up to (not including) ``message_delta``."""
        start = self._message([], None, {**self._usage(), "output_tokens": 1})
        yield {"type": "message_start", "message": start}
        yield {"type": "ping"}
        index = 0
        if self.reply.content:
            yield {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
            for piece in _pieces(self.reply.content, self.reply.chunk_size):
                yield {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}
            yield {"type": "content_block_stop", "index": index}
            index += 1
        for i, c in enumerate(self.reply.tool_calls):
            head = {"type": "tool_use", "id": _call_id(c, self.request_id, i), "name": c.name, "input": {}}
            yield {"type": "content_block_start", "index": index, "content_block": head}
            for piece in _pieces(c.arguments_json(), self.reply.chunk_size):
                yield {"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": piece}}
            yield {"type": "content_block_stop", "index": index}
            index += 1

    def stream(self) -> list[dict[str, Any]]:
        usage = {"output_tokens": self._usage()["output_tokens"]}
        end = {"type": "message_delta", "delta": {"stop_reason": self.stop_reason, "stop_sequence": None}, "usage": usage}
        return [*self.deltas(), end, {"type": "message_stop"}]

    def cut_stream(self) -> list[dict[str, Any]]:
        first = (self.reply.tool_calls or [ToolCallSpec("python", {"code": "print('cut off here')"})])[0]
        arguments = first.arguments_json()
        half_call = ToolCallSpec(first.name, arguments[: max(1, len(arguments) // 2)], first.id)
        half = Reply(self.reply.content or "partial answer", [half_call], chunk_size=self.reply.chunk_size)
        return list(_AnthropicWire(self.model, self.request_id, self.request, half).deltas())[:-1]  # no content_block_stop

    @staticmethod
    def frames(events: list[dict[str, Any]], complete: bool) -> list[bytes]:
        return [b"event: " + str(e.get("type", "message")).encode() + b"\ndata: " + _dumps(e) + b"\n\n" for e in events]

    @staticmethod
    def error(status: int, message: str) -> dict[str, Any]:
        kinds = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
                 429: "rate_limit_error", 529: "overloaded_error"}  # fmt: skip
        return {"type": "error", "error": {"type": kinds.get(status, "api_error"), "message": message}}

    @staticmethod
    def script_view(request: dict[str, Any]) -> dict[str, Any]:
        """The request as OpenAI-shaped messages and tools, so one script serves every protocol."""
        messages: list[dict[str, Any]] = []
        system = request.get("system")
        if system:
            text = system if isinstance(system, str) else "".join(b.get("text", "") for b in system)
            messages.append({"role": "system", "content": text})
        for turn in request.get("messages", []):
            content = turn.get("content")
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content or ())
            text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
            if turn.get("role") == "assistant":
                calls = [{"id": b.get("id"), "type": "function",
                          "function": {"name": b.get("name"), "arguments": json.dumps(b.get("input"))}}
                         for b in blocks if b.get("type") == "tool_use"]  # fmt: skip
                messages.append({"role": "assistant", "content": text, **({"tool_calls": calls} if calls else {})})
                continue
            for block in blocks:
                if block.get("type") == "tool_result":
                    result = block.get("content")
                    if isinstance(result, list):
                        result = "".join(b.get("text", "") for b in result)
                    messages.append({"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": result})
            if text or not any(b.get("type") == "tool_result" for b in blocks):
                messages.append({"role": "user", "content": text})
        tools = [{"type": "function", "function": {"name": t.get("name"), "description": t.get("description", ""),
                                                   "parameters": t.get("input_schema")}}
                 for t in request.get("tools", [])]  # fmt: skip
        return {"model": request.get("model"), "messages": messages, "tools": tools}


# --- HTTP --------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("ScriptedServer: " + format, *args)

    def do_GET(self) -> None:
        self._dispatch(None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = raw.decode(errors="replace")
        if isinstance(body, dict):
            self._dispatch(body)
        else:
            self.server.owner._record(self.path, body, self.headers)
            self.send_json(400, {"error": {"message": "ScriptedServer: request body is not a JSON object"}})

    def _dispatch(self, body: Any) -> None:
        self.server.owner._record(self.path, body, self.headers)
        self.server.owner._route(self, self.command, self.path.split("?", 1)[0], body)

    # --- writing ---
    @staticmethod
    def _head(status: int, content_type: str, extra: dict[str, str]) -> bytes:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}", f"Content-Type: {content_type}"]
        lines += [f"{k}: {v}" for k, v in extra.items()]
        return "\r\n".join(lines).encode() + b"\r\n\r\n"

    def send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        body = _dumps(obj)
        self.wfile.write(self._head(status, "application/json", {**(headers or {}), "Content-Length": str(len(body))}) + body)

    def send_stream(self, content_type: str, frames: list[bytes], complete: bool = True) -> None:
        """Send ``frames`` as one chunked body; if not ``complete``, drop the connection before its end."""
        parts = [self._head(200, content_type, {"Transfer-Encoding": "chunked", "Cache-Control": "no-cache"})]
        for frame in frames:
            parts += [b"%x\r\n" % len(frame), frame, b"\r\n"]
        if complete:
            parts.append(b"0\r\n\r\n")
        self.wfile.write(b"".join(parts))
        if not complete:
            self.drop(reset=False)

    def drop(self, reset: bool) -> None:
        """Close the connection now; with ``reset``, abort it (TCP RST) instead of a clean close."""
        self.close_connection = True
        if reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            self.connection.shutdown(socket.SHUT_WR)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], owner: ScriptedServer) -> None:
        self.owner = owner
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            (self._connections.add if alive else self._connections.discard)(conn)

    def close_connections(self) -> None:
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError as exc:  # already closed by the peer
                log.debug("ScriptedServer: closing a connection: %s", exc)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            # A client that hangs up (timeouts, resets, stop()) is normal for a test server.
            log.debug("ScriptedServer: client %s went away", client_address, exc_info=True)
        else:
            log.error("ScriptedServer: error while answering %s", client_address, exc_info=True)


# --- the server --------------------------------------------------------------------
class ScriptedServer:
    """A loopback OpenAI-, Anthropic- and Ollama-compatible model server answering from a script.

    ``script`` is a sequence of items (a :class:`Reply`, a plain string, or a per-item
    responder), consumed one per chat request, or a :class:`Responder` called with
    every request body. Items passed to :meth:`add` are answered first; with a
    responder script, the responder answers whenever no item is queued.
    ``latency`` seconds are waited before every chat answer.
    """

    def __init__(
        self,
        script: Iterable[ScriptItem] | Responder = (),
        *,
        model: str = "scripted-model",
        latency: float = 0.0,
        port: int = 0,
    ) -> None:
        self.model = model
        self.latency = latency
        self.requests: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []
        """Every answered chat request's reported usage: ``{"usage": {"prompt_tokens", "completion_tokens"}}`` (``{}``: none)."""
        self._script = _Script(script)
        self._port = port
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes: dict[tuple[str, str], Callable[[_Handler, Any], None]] = {
            ("GET", "/api/tags"): self._ollama_tags,
            ("GET", "/api/version"): lambda h, _: h.send_json(200, {"version": "0.12.0"}),
            ("POST", "/api/show"): self._ollama_show,
            ("POST", "/api/chat"): self._ollama_chat,
        }
        for path in ANTHROPIC_PATHS:
            self._routes["POST", path] = self._anthropic_messages
        for path in OPENAI_CHAT_PATHS:
            self._routes["POST", path] = self._openai_chat
        for path in OPENAI_MODELS_PATHS:
            self._routes["GET", path] = self._openai_models

    # --- lifecycle ---
    def start(self) -> ScriptedServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer(("127.0.0.1", self._port), self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(_POLL_INTERVAL,), name="ScriptedServer", daemon=True)
        self._thread.start()
        log.debug("ScriptedServer listening on %s", self.ollama_url)
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("ScriptedServer is not running: call start() or use it as a context manager")
        return self._httpd.server_address[1]

    @property
    def ollama_url(self) -> str:
        """Base URL for litellm's ``ollama_chat/<model>`` (``api_base``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def anthropic_url(self) -> str:
        """Base URL for ``anthropic/<model>`` (``api_base``): requests go to ``/v1/messages`` below it."""
        return self.ollama_url

    @property
    def url(self) -> str:
        """OpenAI-compatible base URL for litellm's ``openai/<model>`` (``api_base``)."""
        return f"{self.ollama_url}/v1"

    def add(self, *items: ScriptItem) -> None:
        """Queue more replies; they are answered before any responder."""
        self._script.add(items)

    # --- called from handler threads ---
    def _record(self, path: str, body: Any, headers: Any) -> None:
        self.requests.append({"path": path, "body": body, "headers": {k.lower(): v for k, v in headers.items()}})

    def _route(self, handler: _Handler, method: str, path: str, body: Any) -> None:
        action = self._routes.get((method, path))
        if action is None:
            handler.send_json(404, {"error": {"message": f"ScriptedServer: no route for {method} {path}"}})
        else:
            action(handler, body)

    def _openai_models(self, handler: _Handler, _: Any) -> None:
        entry = {"id": self.model, "object": "model", "created": 0, "owned_by": "scripted"}
        handler.send_json(200, {"object": "list", "data": [entry]})

    def _ollama_tags(self, handler: _Handler, _: Any) -> None:
        handler.send_json(200, {"models": [{"name": self.model, "model": self.model, "size": 0, "details": {}}]})

    def _ollama_show(self, handler: _Handler, body: Any) -> None:
        handler.send_json(200, {
            "modelfile": "",
            "parameters": "",
            "template": "{{ if .Tools }}{{ .Tools }}{{ end }}{{ .Prompt }}",
            "details": {"format": "gguf", "family": "scripted"},
            "model_info": {"general.architecture": "scripted", "scripted.context_length": OLLAMA_CONTEXT_LENGTH},
            "capabilities": ["completion", "tools"],
        })

    def _openai_chat(self, handler: _Handler, body: dict[str, Any]) -> None:
        self._chat(handler, body, _OpenAIWire, stream_default=False)

    def _ollama_chat(self, handler: _Handler, body: dict[str, Any]) -> None:
        self._chat(handler, body, _OllamaWire, stream_default=True)

    def _anthropic_messages(self, handler: _Handler, body: dict[str, Any]) -> None:
        self._chat(handler, body, _AnthropicWire, stream_default=False)

    def _chat(self, handler: _Handler, body: dict[str, Any], wire_type: type[_Wire], stream_default: bool) -> None:
        try:
            number, reply = self._script.next_reply(wire_type.script_view(body))
        except ScriptExhausted as exc:
            log.warning("%s", exc)
            handler.send_json(500, wire_type.error(500, str(exc)))
            return
        except Exception as exc:  # a broken responder: answer with its error rather than a dropped connection
            log.exception("ScriptedServer: the script raised while answering a request")
            handler.send_json(500, wire_type.error(500, f"ScriptedServer: the script raised {exc!r}"))
            return
        if self.latency and self._stopping.wait(self.latency):
            return
        wire = wire_type(self.model, str(number), body, reply)
        if reply.fault is None:
            self.responses.append(_usage_block(body, reply))
        streaming = bool(body.get("stream", stream_default))
        if reply.fault is None:
            self._answer(handler, wire, streaming)
        else:
            self._fail(handler, reply.fault, wire, streaming)

    @staticmethod
    def _answer(handler: _Handler, wire: _Wire, streaming: bool, empty: bool = False) -> None:
        if streaming:
            events = [wire.empty_body()] if empty else wire.stream()
            handler.send_stream(wire.content_type, wire.frames(events, complete=True))
        else:
            handler.send_json(200, wire.empty_body() if empty else wire.body())

    def _fail(self, handler: _Handler, fault: Fault, wire: _Wire, streaming: bool) -> None:
        if fault.kind == "status":
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
            handler.send_json(fault.status, wire.error(fault.status, fault.message), headers)
        elif fault.kind == "reset":
            handler.drop(reset=True)
        elif fault.kind == "delay":
            if not self._stopping.wait(fault.delay):
                self._answer(handler, wire, streaming)
        elif fault.kind == "cut_stream":
            handler.send_stream(wire.content_type, wire.frames(wire.cut_stream(), complete=False), complete=False)
        elif fault.kind == "empty_choices":
            self._answer(handler, wire, streaming, empty=True)
        else:
            raise ValueError(f"ScriptedServer: unknown fault kind {fault.kind!r}")


# --- a tiny stand-alone server -------------------------------------------------------
def echo_responder(request: dict[str, Any]) -> Reply:
    """Answer with the last user message (for manual checks and demos)."""
    users = [m for m in request.get("messages", []) if m.get("role") == "user"]
    content = users[-1].get("content", "") if users else ""
    if not isinstance(content, str):
        content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return say(f"echo: {content}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a loopback model that echoes the last user message.")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--model", default="scripted-model")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to wait before each answer")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    server = ScriptedServer(echo_responder, model=args.model, latency=args.latency, port=args.port).start()
    log.info("OpenAI-compatible: %s   Ollama: %s   (Ctrl-C stops)", server.url, server.ollama_url)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
