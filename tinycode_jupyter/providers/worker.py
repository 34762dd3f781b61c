"""The persistent code worker (standard library only).

Launched as ``python -u worker.py [CONFIG_JSON]`` next to ``fileops.py``, or as
``python -u -c SOURCE [CONFIG_JSON]`` where SOURCE is fileops' source followed
by this file's (see ``worker_client.worker_source``).

Protocol: one JSON object per line. The host sends requests
``{"id", "op", ...}`` with ``op`` in ``ping``, ``exec``, ``shell``, ``fs`` and
``define_tools``, and the worker answers each with ``{"id", "type": "result",
...}``. ``{"op": "interrupt", "id"}`` stops request ``id`` and is not answered.
While code runs, the worker may send ``{"type": "tool_call", "id", "name",
"args"}`` and waits for ``{"type": "tool_result", "id", "ok", "value" | "error"}``.
An ``exec`` or ``shell`` request with ``"stream_output": true`` also gets what the step
prints while it runs, as ``{"type": "output", "id", "stream", "text"}`` (at most every
0.2 s, before its result; the result still holds all of the output).

At start-up the protocol channel moves off fds 0/1; fd 0 becomes /dev/null and
fds 1/2 become pipes drained into bounded head+tail buffers, so anything user
code or its subprocesses write is captured and never reaches the protocol.
A reader thread receives requests, so ``interrupt`` works while code runs: it
raises KeyboardInterrupt in the main thread, as does the per-step timeout.
"""
from __future__ import annotations

import functools
import itertools
import json
import os
import re
import signal
import sys
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the worker imports nothing it does not need at start-up
    import asyncio
    import contextlib
    from collections.abc import Callable, Iterator
    from types import CodeType, FrameType, TracebackType
    from typing import IO, Any

DEFAULTS = {"max_output_bytes": 1_000_000, "max_message_bytes": 64_000_000, "max_display_bytes": 16_000_000}
_REPR_LIMIT = 100_000
MAX_JSON_DEPTH = 100
"""The deepest nesting either side sends on the channel (tool arguments and results included)."""
_CO_COROUTINE = 0x80
_HERE = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else None
TOKEN_VARIABLE = "TINYCODE_WORKER_TOKEN"
"""Set by an unsandboxed launcher: processes whose environment carries it belong to this worker."""
_IMAGE_TYPES = (("image/png", "_repr_png_"), ("image/jpeg", "_repr_jpeg_"))


class ToolCallError(RuntimeError):
    """A host tool called from code failed; the message is the host's explanation."""


def safe_repr(obj: object) -> str:
    try:
        return shorten(repr(obj), _REPR_LIMIT)
    except Exception as exc:  # the value's own __repr__ is broken; say so instead of failing the step
        return f"<{type(obj).__name__} object; repr() failed: {exc!r}>"


def shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters cut ...]\n{text[-half:]}"


class StreamBuffer:
    """Bytes written to one redirected fd during a step, keeping head and tail."""

    def __init__(self, limit: int) -> None:
        self.head_limit = limit // 2
        self.tail_limit = limit - self.head_limit
        self.reset()

    def reset(self) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data and self.tail_limit:
            self.tail += data
            if len(self.tail) > 2 * self.tail_limit:
                del self.tail[: len(self.tail) - self.tail_limit]

    def take(self) -> str:
        """The text written since the last take, decoded with replacement, middle cut if too long."""
        tail = bytes(self.tail[max(len(self.tail) - self.tail_limit, 0) :])
        text = head_and_tail(bytes(self.head), tail, self.total - len(self.head) - len(tail))
        self.reset()
        return text


def head_and_tail(head: bytes, tail: bytes, cut: int) -> str:
    """Output decoded with replacement, saying how many bytes were cut between ``head`` and ``tail``."""
    marker = f"\n[... output truncated: {cut} bytes cut from the middle ...]\n" if cut > 0 else ""
    return head.decode("utf-8", "replace") + marker + tail.decode("utf-8", "replace")


class OutputCapture:
    """Points fds 1 and 2 at pipes and drains them on a thread into bounded buffers."""

    def __init__(self, limit: int) -> None:
        import select

        self._lock = threading.Lock()
        self._buffers: dict[int, StreamBuffer] = {}
        self._poll = select.poll()
        for fd in (1, 2):
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)
            os.close(write_end)
            os.set_blocking(read_end, False)
            self._buffers[read_end] = StreamBuffer(limit)
            self._poll.register(read_end, select.POLLIN)
        self._stdout, self._stderr = list(self._buffers.values())
        self._names = dict(zip(self._buffers, ("stdout", "stderr")))
        self.live: LiveOutput | None = None
        """Also told what is written, while a step streams its output to the host."""
        for stream in (sys.stdout, sys.stderr):
            stream.reconfigure(line_buffering=True, write_through=False)  # type: ignore[union-attr]  # one write per line, not per print part
        threading.Thread(target=self._pump, name="tinycode-output", daemon=True).start()

    def _pump(self) -> None:
        while self._buffers:
            for fd, _ in self._poll.poll():
                with self._lock:
                    self._drain(fd)

    def _drain(self, fd: int) -> None:
        buffer = self._buffers.get(fd)
        while buffer is not None:
            try:
                data = os.read(fd, 1 << 16)
            except BlockingIOError:
                return
            except OSError:  # user code closed the pipe's read end
                data = b""
            if not data:  # no writer is left (user code closed fd 1 or 2), or the pipe is gone
                self._poll.unregister(fd)
                del self._buffers[fd]
                return
            buffer.add(data)
            if self.live is not None:
                self.live.add(self._names[fd], data)

    def take(self) -> tuple[str, str]:
        """Everything written so far, as (stdout, stderr); the buffers start empty again."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception as exc:  # user code closed or replaced the stream
                self._stderr.add(f"[worker: could not flush {stream!r}: {exc}]\n".encode())
        with self._lock:
            for fd in list(self._buffers):
                self._drain(fd)
            return self._stdout.take(), self._stderr.take()


class LiveOutput:
    """Sends what the running step prints to the host, at most every :attr:`PERIOD` s, until :meth:`stop`."""

    PERIOD = 0.2
    MAX_TEXT = 16_000
    """Characters of one stream sent per message at most (the tail of what came since the last one)."""

    def __init__(self, channel: Channel) -> None:
        import codecs

        self._channel = channel
        self._lock = threading.Lock()
        self._request: object = None
        self._pending = {name: "" for name in ("stdout", "stderr")}
        self._decoders = {name: codecs.getincrementaldecoder("utf-8")("replace") for name in self._pending}
        self._active = threading.Event()
        threading.Thread(target=self._send_periodically, name="tinycode-live-output", daemon=True).start()

    def start(self, request_id: object) -> None:
        with self._lock:
            self._request = request_id
            for name, decoder in self._decoders.items():
                decoder.reset()
                self._pending[name] = ""
        self._active.set()

    def stop(self) -> None:
        """After this, nothing more is sent for the step (a message being sent is sent first)."""
        self._active.clear()
        with self._lock:
            self._request = None

    def add(self, stream: str, data: bytes) -> None:
        with self._lock:
            if self._request is not None:
                text = self._pending[stream] + self._decoders[stream].decode(data)
                self._pending[stream] = text[-self.MAX_TEXT :]

    def _send_periodically(self) -> None:
        while True:
            self._active.wait()
            time.sleep(self.PERIOD)
            with self._lock:
                for stream, text in self._pending.items():
                    if text and self._request is not None:
                        self._channel.send({"type": "output", "id": self._request, "stream": stream, "text": text})
                    self._pending[stream] = ""


class Channel:
    """The protocol channel: JSON lines on private fds, writes serialized by a lock."""

    def __init__(self, out_fd: int, max_bytes: int) -> None:
        self._out = out_fd
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def send(self, message: dict) -> None:
        """Send one message; a result that cannot be sent becomes an error, anything else raises."""
        if os.getpid() != self._pid:
            raise RuntimeError("only the worker process may talk to the host (this is a forked child)")
        try:
            data = (json.dumps(message, default=repr) + "\n").encode()
            if len(data) > self.max_bytes:
                raise OverflowError(f"the message was {len(data)} bytes; the limit is {self.max_bytes}")
        except (OverflowError, ValueError, RecursionError) as exc:
            if message.get("type") != "result":
                raise ValueError(str(exc)) from None
            error = {"name": "OutputTooLarge" if isinstance(exc, OverflowError) else "ValueError", "value": str(exc), "traceback": ""}
            data = (json.dumps({"id": message.get("id"), "type": "result", "error": error}) + "\n").encode()
        with self._lock:
            view = memoryview(data)
            while view:
                view = view[os.write(self._out, view) :]


class Displays:
    """MIME bundles shown during a step (``display()`` and matplotlib figures), total size capped."""

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._lock = threading.Lock()
        self._items: list[dict] = []
        self._size = 0

    def add(self, obj: object) -> None:
        bundle = mime_bundle(obj)
        size = sum(len(v) for v in bundle.values())
        with self._lock:
            if self._size + size > self._max:
                bundle = {"text/plain": f"[display dropped: {size} bytes would exceed the {self._max}-byte cap]"}
                size = 0
            self._size += size
            self._items.append(bundle)

    def take(self) -> list[dict]:
        with self._lock:
            items, self._items, self._size = self._items, [], 0
        return items


def mime_bundle(obj: object) -> dict:
    """text/plain plus PNG/JPEG when the object can render itself as an image (no HTML or JS)."""
    import base64

    bundle = {"text/plain": safe_repr(obj)}
    if _is_matplotlib_figure(obj):
        bundle["image/png"] = base64.b64encode(_figure_png(obj)).decode()
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            pyplot.close(obj)  # shown now, so not again at the end of the step
        return bundle
    for mime, method in _IMAGE_TYPES:
        render = getattr(obj, method, None)
        data = render() if callable(render) else None
        if isinstance(data, tuple):
            data = data[0]
        if isinstance(data, bytes):
            bundle[mime] = base64.b64encode(data).decode()
        elif isinstance(data, str):
            bundle[mime] = data
    return bundle


def _is_matplotlib_figure(obj: object) -> bool:
    return type(obj).__module__.startswith("matplotlib.") and hasattr(obj, "savefig")


def _figure_png(figure: Any) -> bytes:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


class Interrupter:
    """Raises KeyboardInterrupt in the main thread, once per interrupt, only inside the code it was meant for.

    Every request has an id, and an interrupt names one; it always follows its
    request on the channel, so the worker knows the request and handles it
    deterministically:

    - queued, not started: the request is cancelled before its code runs (reported as interrupted);
    - running: SIGINT goes to the main thread, again every few ms until the handler has raised
      (one that lands just before a blocking call such as ``sleep`` would be lost);
    - finished, or never seen: ignored.

    The handler raises only in frames called from the running request's code,
    never in the worker's own bookkeeping (arming, disarming, replying), so an
    interrupt at any moment stops that step and nothing else. A SIGINT that is
    not an interrupt (e.g. one code sends itself) is ignored.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queued: set = set()
        self._cancelled: set = set()
        self._current: object = None
        self._pending = False
        self._guard: object = None
        """The frame of :meth:`_guarded_call` while it runs a request's code: the handler raises only below it."""
        main = threading.main_thread().ident
        assert main is not None
        self._main = main
        signal.signal(signal.SIGINT, self._on_sigint)
        threading.Thread(target=self._deliver, name="tinycode-interrupt", daemon=True).start()

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if not self._pending or not self._called_from_guarded(frame):
            return
        with self._lock:
            if not self._pending:
                return
            self._pending = False
        raise KeyboardInterrupt

    def _called_from_guarded(self, frame: FrameType | None) -> bool:
        guard = self._guard
        if guard is None or frame is guard:
            return False
        while frame is not None and frame is not guard:
            frame = frame.f_back
        return frame is not None

    def received(self, request_id: object) -> None:
        """The reader thread got request ``request_id``; it waits in the queue until it runs."""
        with self._lock:
            self._queued.add(request_id)

    def interrupt(self, request_id: object) -> None:
        with self._lock:
            if self._guard is not None and request_id == self._current:
                self._pending = True
                self._wake.notify()
            elif request_id in self._queued:
                self._cancelled.add(request_id)

    def _deliver(self) -> None:
        """Interrupt thread: signal the main thread until the pending interrupt has been raised."""
        with self._lock:
            while True:
                while not self._pending:
                    self._wake.wait()
                request_id, delay = self._current, 0.002
                while self._pending and self._current == request_id:
                    signal.pthread_kill(self._main, signal.SIGINT)
                    if signal.getsignal(signal.SIGINT) != self._on_sigint:  # code replaced the handler: it decides
                        self._pending = False
                        break
                    self._wake.wait(delay)
                    delay = min(delay * 2, 0.05)

    def call(self, func: Callable[[], object], request_id: object, timeout: float | None) -> tuple[object, BaseException | None, bool]:
        """Run ``func()`` interruptibly as request ``request_id``; return (value, exception, timed_out)."""
        timer = None
        fired: list[bool] = []

        def on_timeout() -> None:
            fired.append(True)
            self.interrupt(request_id)

        if timeout:
            timer = threading.Timer(timeout, on_timeout)
            timer.daemon = True
            timer.start()
        try:
            return self._guarded_call(func, request_id), None, bool(fired)
        except BaseException as exc:  # reported to the host as the step's error
            return None, exc, bool(fired)
        finally:
            if timer is not None:
                timer.cancel()

    def _guarded_call(self, func: Callable[[], object], request_id: object) -> object:
        with self._lock:
            self._queued.discard(request_id)
            if request_id in self._cancelled:
                self._cancelled.discard(request_id)
                raise KeyboardInterrupt("interrupted before it started")
            self._current, self._pending, self._guard = request_id, False, sys._getframe()
        try:
            return func()
        finally:
            with self._lock:
                self._current, self._pending, self._guard = None, False, None

    def finished(self, request_id: object) -> None:
        """Forget a request that was answered without running code (it can no longer be interrupted)."""
        with self._lock:
            self._queued.discard(request_id)
            self._cancelled.discard(request_id)


class Worker:
    """Serves requests from the host, one at a time, on the main thread."""

    def __init__(self, in_fd: int, out_fd: int, config: dict) -> None:
        import queue
        import types

        self.channel = Channel(out_fd, config["max_message_bytes"])
        self.capture = OutputCapture(config["max_output_bytes"])
        self.live = LiveOutput(self.channel)
        self.displays = Displays(config["max_display_bytes"])
        self.interrupter = Interrupter()
        self.operations: dict | None = None
        self.requests: queue.Queue = queue.Queue()
        self.tool_replies: dict[str, queue.Queue] = {}
        self.tool_ids = itertools.count(1)
        self.steps = 0
        self.pid = os.getpid()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.module = types.ModuleType("__main__")
        self.module.__dict__.update(display=self.displays.add, ToolCallError=ToolCallError)
        sys.modules["__main__"] = self.module
        threading.Thread(target=self._read, args=(in_fd,), name="tinycode-protocol", daemon=True).start()

    # --- protocol --------------------------------------------------------------------
    def _read(self, in_fd: int) -> None:
        """Reader thread: interrupts and tool results act at once; other requests queue up."""
        try:
            with os.fdopen(in_fd, "rb") as stream:
                for line in bounded_lines(stream, self.channel.max_bytes):
                    self._route(line)
        except OSError as exc:
            os.write(2, f"[worker: protocol input failed: {exc}]\n".encode())
        token = os.environ.get(TOKEN_VARIABLE)
        if token:  # unsandboxed: nothing else ends our background processes when the host is gone
            kill_marked_processes(f"{TOKEN_VARIABLE}={token}".encode())
        os._exit(0)  # the host closed the channel (or broke it): nothing more to serve

    def _route(self, line: bytes | None) -> None:
        try:
            if line is None:
                raise MessageError(f"a request longer than the {self.channel.max_bytes}-byte limit")
            message = decode_message(line)
        except MessageError as exc:  # answered in order, as an error of the request it names (if it names one)
            message = {"id": exc.message_id, "invalid": str(exc)}
            if isinstance(exc.message_id, str) and exc.message_id in self.tool_replies:
                message = {"type": "tool_result", "id": exc.message_id, "ok": False, "error": f"the host sent {exc}"}
        if message.get("op") == "interrupt":
            self.interrupter.interrupt(message.get("id"))
        elif message.get("type") == "tool_result":
            slot = self.tool_replies.get(str(message.get("id")))
            if slot is not None:
                slot.put(message)
        else:
            self.interrupter.received(message.get("id"))
            self.requests.put(message)

    def serve(self) -> None:
        while True:
            reply = self._answer(self.requests.get())
            self.channel.send(reply)

    def _answer(self, request: dict) -> dict:
        request_id = request.get("id")
        if request.get("stream_output") is True and request.get("op") in ("exec", "shell"):
            self.live.start(request_id)
            self.capture.live = self.live
        try:
            reply = self.handle(request)
        except BaseException as exc:  # a worker bug: report it, keep serving
            reply = {"error": error_dict(exc, with_traceback=True)}
        finally:
            self.capture.live = None
            self.live.stop()
        self.interrupter.finished(request_id)
        reply.update(id=request_id, type="result")
        return reply

    def handle(self, request: dict) -> dict:
        op = request.get("op")
        if "invalid" in request:
            return {"error": {"name": "ProtocolError", "value": f"the worker could not read {request['invalid']}", "traceback": ""}}
        if op == "ping":
            return {"value": {"pid": os.getpid(), "python": sys.version.split()[0], "executable": sys.executable}}
        if op == "exec":
            return self.run_code(request.get("code", ""), request.get("id"), request.get("timeout"))
        if op == "shell":
            return self.run_shell(request.get("command", ""), request.get("cwd"), request.get("id"), request.get("timeout"))
        if op == "fs":
            return self.file_op(request.get("name", ""), request.get("args") or {}, request.get("id"))
        if op == "define_tools":
            self.module.__dict__.update({name: self._tool_function(name) for name in request.get("names", [])})
            return {"value": None}
        return {"error": {"name": "ProtocolError", "value": f"unknown op {op!r}", "traceback": ""}}

    def _exit_if_forked(self) -> None:
        """A child forked by user code that reaches the end of the step ends there, silently."""
        if os.getpid() != self.pid:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            os._exit(0)

    # --- exec ----------------------------------------------------------------------
    def run_code(self, code: str, request_id: object, timeout: float | None) -> dict:
        started = time.perf_counter()
        self.steps += 1
        run = functools.partial(self._execute, code, f"<cell-{self.steps}>")
        value, error, timed_out = self.interrupter.call(run, request_id, timeout)
        self._exit_if_forked()
        self._show_open_figures()
        reply = self._collect(started, timed_out)
        reply["value"] = None if value is None else safe_repr(value)
        reply["error"] = None if error is None else error_dict(error, with_traceback=True)
        return reply

    def _execute(self, code: str, filename: str) -> object:
        import ast
        import linecache

        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        tree = ast.parse(code, filename, "exec")
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        assert last is None or isinstance(last, ast.Expr)
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        self._run(compile(tree, filename, "exec", flags=flags))
        if last is None or code.rstrip().endswith(";"):
            if last is not None:
                self._run(compile(ast.Module([last], []), filename, "exec", flags=flags))
            return None
        value = self._run(compile(ast.Expression(last.value), filename, "eval", flags=flags))
        if value is not None:
            self.module.__dict__["_"] = value
        return value

    def _run(self, code: CodeType) -> object:
        result = eval(code, self.module.__dict__)
        if code.co_flags & _CO_COROUTINE:
            result = self._event_loop().run_until_complete(result)
        return result

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self.loop is None:
            import asyncio

            self.loop = asyncio.new_event_loop()
        return self.loop

    def _show_open_figures(self) -> None:
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is None:
            return
        try:
            for number in pyplot.get_fignums():
                self.displays.add(pyplot.figure(number))
        except Exception as exc:  # a broken figure must not lose the step's other output
            print(f"[worker: could not render a matplotlib figure: {exc!r}]", file=sys.stderr)
        finally:
            pyplot.close("all")

    def _collect(self, started: float, timed_out: bool) -> dict:
        stdout, stderr = self.capture.take()
        return {
            "stdout": stdout,
            "stderr": stderr,
            "displays": self.displays.take(),
            "timed_out": timed_out,
            "duration": time.perf_counter() - started,
        }

    # --- shell ----------------------------------------------------------------------
    def run_shell(self, command: str, cwd: str | None, request_id: object, timeout: float | None) -> dict:
        import subprocess

        started = time.perf_counter()
        process = subprocess.Popen(["bash", "-c", command], cwd=cwd or None, stdin=subprocess.DEVNULL,
                                   start_new_session=True, preexec_fn=subreaper_preexec())  # fmt: skip
        _, error, timed_out = self.interrupter.call(functools.partial(_wait_for_exit, process.pid), request_id, timeout)
        self._exit_if_forked()
        if error is not None:
            kill_process_tree(process.pid)
        process.wait()
        reply = self._collect(started, timed_out)
        reply["exit_code"] = process.returncode
        if error is not None and not timed_out:
            reply["error"] = error_dict(error, with_traceback=False)
        return reply

    # --- files ----------------------------------------------------------------------
    def file_op(self, name: str, args: dict, request_id: object) -> dict:
        import base64

        if self.operations is None:
            self.operations = file_operations()  # loaded on first use: start-up stays fast
        operation = self.operations.get(name)
        if operation is None:
            return {"error": {"name": "ValueError", "value": f"unknown file operation {name!r}", "traceback": ""}}
        if name == "write_bytes":
            args = {**args, "data": base64.b64decode(args.get("data", ""))}
        value, error, _ = self.interrupter.call(functools.partial(operation, **args), request_id, None)
        if error is not None:  # reported to the host, which raises it
            return {"error": error_dict(error, with_traceback=False)}
        if isinstance(value, bytes):
            value = base64.b64encode(value).decode()
        return {"value": value}

    # --- tools -----------------------------------------------------------------------
    def _tool_function(self, name: str) -> Callable[..., object]:
        def tool(*args: object, **kwargs: object) -> object:
            if args:
                raise TypeError(f"{name}() takes keyword arguments only, e.g. {name}(x=1)")
            return self.call_tool(name, kwargs)

        tool.__name__ = tool.__qualname__ = name
        tool.__doc__ = f"Call the host tool {name!r} (keyword arguments, JSON values)."
        return tool

    def call_tool(self, name: str, args: dict) -> object:
        import queue

        call_id = f"tool-{next(self.tool_ids)}"
        slot: queue.Queue = queue.Queue(maxsize=1)
        self.tool_replies[call_id] = slot
        try:
            message = {"type": "tool_call", "id": call_id, "name": name, "args": json_checked(args)}
            self.channel.send(message)  # raises in the caller's code if the arguments are too large
            reply = slot.get()
        finally:
            self.tool_replies.pop(call_id, None)
        if reply.get("ok"):
            return reply.get("value")
        raise ToolCallError(str(reply.get("error") or f"tool {name} failed"))


def json_checked(value: object, max_depth: int = MAX_JSON_DEPTH) -> object:
    """``value`` itself; TypeError unless it is JSON data, ValueError if it nests deeper than ``max_depth``.

    The limit keeps every message decodable by the other side, whatever its stack depth.
    """
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list, tuple)):
            if depth > max_depth:
                raise ValueError(f"the value nests more than {max_depth} levels deep")
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    json.dumps(value)
    return value


class MessageError(ValueError):
    """A protocol line that cannot be decoded; ``message_id`` is its top-level ``id`` when that can be read."""

    def __init__(self, problem: str, message_id: object = None) -> None:
        super().__init__(problem)
        self.message_id = message_id


def decode_message(line: bytes) -> dict:
    """One protocol message; MessageError (never RecursionError) for anything but a JSON object."""
    try:
        message = json.loads(line)
    except RecursionError:
        raise MessageError("a message nested too deeply to decode", _top_level_id(line)) from None
    except ValueError as exc:
        raise MessageError(f"a line that is not JSON ({exc}): {line[:200]!r}") from None
    if not isinstance(message, dict):
        raise MessageError(f"JSON that is not an object: {line[:200]!r}")
    return message


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"\s*:?|[\[\]{}]')


def _top_level_id(line: bytes) -> object:
    """The top-level ``"id"`` of a JSON object too deep to decode whole (a string or number), else None."""
    text = line.decode("utf-8", "replace")
    depth = 0
    for token in _JSON_TOKEN.finditer(text):
        first = token.group()[0]
        if first in "[{":
            depth += 1
        elif first in "]}":
            depth -= 1
        elif depth == 1 and token.group().endswith(":") and json.loads(token.group()[:-1].rstrip()) == "id":
            try:
                value, _ = json.JSONDecoder().raw_decode(text, _skip_space(text, token.end()))
            except ValueError:
                return None
            return value if isinstance(value, (str, int, float)) else None
    return None


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\r\n":
        index += 1
    return index


def bounded_lines(stream: IO[bytes], max_bytes: int) -> Iterator[bytes | None]:
    """The lines of a binary stream; None in place of a line longer than ``max_bytes`` (which is skipped)."""
    while True:
        line = stream.readline(max_bytes + 1)
        if not line:
            return
        if len(line) <= max_bytes or line.endswith(b"\n"):
            yield line
            continue
        while line and not line.endswith(b"\n"):  # drop the rest of the oversized line
            line = stream.readline(1 << 20)
        yield None


def error_dict(exc: BaseException, with_traceback: bool) -> dict:
    import traceback

    tb = _user_frames(exc.__traceback__)
    text = "".join(traceback.format_exception(type(exc), exc, tb)) if with_traceback else ""
    return {"name": type(exc).__name__, "value": _safe_str(exc), "traceback": shorten(text, _REPR_LIMIT)}


def _safe_str(exc: BaseException) -> str:
    try:
        return shorten(str(exc), _REPR_LIMIT)
    except Exception as problem:  # e.g. the exception holds a value nested too deeply to print
        return f"<{type(exc).__name__}: str() failed: {type(problem).__name__}>"


def _user_frames(tb: TracebackType | None) -> TracebackType | None:
    """The traceback without the worker's own frames at either end (its runner, its SIGINT handler)."""
    frames = []
    while tb is not None:
        frames.append(tb)
        tb = tb.tb_next
    while frames and frames[0].tb_frame.f_globals is globals():
        frames.pop(0)
    while frames and frames[-1].tb_frame.f_globals is globals():
        frames.pop()
    if not frames:
        return None
    frames[-1].tb_next = None
    return frames[0]


def _wait_for_exit(pid: int) -> None:
    """Wait until child ``pid`` has exited, without reaping it (its pid cannot be reused meanwhile).

    Interruptible, and without Popen.wait's extra wait on KeyboardInterrupt.
    """
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)


_PR_SET_CHILD_SUBREAPER = 36


@functools.lru_cache(maxsize=1)
def subreaper_preexec() -> Callable[[], object] | None:
    """A ``preexec_fn`` that makes the new process a child subreaper, or None where that is unavailable.

    Orphans then stay below it (instead of going to init), even after ``setsid`` or a double fork,
    so :func:`kill_process_tree` finds every process a command started while its top process lives.
    """
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):  # no ctypes or no prctl: process groups only
        return None
    return functools.partial(prctl, _PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def kill_process_tree(root: int, patience: float = 5.0) -> None:
    """SIGKILL ``root``, its process group and all its descendants, leaving none alive.

    ``root`` is stopped first (so it starts nothing new), then its descendants are
    killed in rounds until none is left alive (one may fork between a scan and its
    kill; with :func:`subreaper_preexec` the orphan stays in the tree), then ``root``.
    Gives up after ``patience`` seconds (a process stuck in the kernel cannot die yet).
    """
    with _suppress_lookup():
        os.kill(root, signal.SIGSTOP)
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        alive = _live_descendants(root)
        if not alive:
            break
        for pid in alive:
            with _suppress_lookup():
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.001)  # let the kernel finish the kills before the next scan
    with _suppress_lookup():
        os.killpg(root, signal.SIGKILL)
    with _suppress_lookup():
        os.kill(root, signal.SIGKILL)


def _live_descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                state, parent = fh.read().rsplit(b")", 1)[1].split()[:2]
        except (OSError, ValueError):  # gone meanwhile
            continue
        if state not in (b"Z", b"X"):
            children.setdefault(int(parent), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def _suppress_lookup() -> contextlib.suppress:
    import contextlib

    return contextlib.suppress(ProcessLookupError, PermissionError)


def kill_marked_processes(marker: bytes, rounds: int = 10) -> None:
    """SIGKILL every other process whose environment holds ``marker`` (a ``NAME=value`` entry).

    Scans again while it finds any: a process may fork between a scan and its kill.
    """
    for _ in range(rounds):
        try:
            pids = [int(name) for name in os.listdir("/proc") if name.isdigit() and int(name) != os.getpid()]
        except OSError:  # no procfs: nothing to find
            return
        killed = 0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/environ", "rb") as fh:
                    if marker in fh.read().split(b"\0"):
                        os.kill(pid, signal.SIGKILL)
                        killed += 1
            except OSError:  # gone, or not ours to read
                continue
        if not killed:
            return


def apply_limits(limits: dict) -> None:
    """Lower this process's resource limits (inherited by everything it starts)."""
    if not limits:
        return
    import resource

    for name, value in limits.items():
        kind = getattr(resource, name)
        hard = resource.getrlimit(kind)[1]
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(kind, (value, value))


def file_operations() -> dict:
    """fileops' operations: already in globals when its source was prepended, else loaded from next to this file."""
    operations = globals().get("OPERATIONS")
    if operations is None:
        import importlib.util

        assert _HERE is not None  # run as a script: fileops.py is next to it
        spec = importlib.util.spec_from_file_location("_tinycode_fileops", os.path.join(_HERE, "fileops.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        operations = module.OPERATIONS
    return operations


def main() -> None:
    config = dict(DEFAULTS, **(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}))
    del sys.argv[1:]
    if sys.path and sys.path[0] == _HERE:
        sys.path[0] = ""  # like a notebook: the working directory comes first, not this script's directory
    apply_limits(config.get("limits") or {})
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write raises OSError instead of killing
    import warnings

    os.environ.setdefault("MPLBACKEND", "Agg")  # figures are rendered to PNG, never to a window
    warnings.filterwarnings("ignore", message="FigureCanvasAgg is non-interactive")  # they are sent anyway
    in_fd, out_fd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    import faulthandler

    faulthandler.enable(os.fdopen(os.dup(2), "w"), all_threads=False)  # a crash report goes to the launcher's stderr
    sys.modules["_tinycode_worker"] = sys.modules[__name__]
    Worker(in_fd, out_fd, config).serve()


if __name__ == "__main__":
    main()
