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
import signal
import sys
import threading
import time

DEFAULTS = {"max_output_bytes": 1_000_000, "max_message_bytes": 64_000_000, "max_display_bytes": 16_000_000}
_REPR_LIMIT = 100_000
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
        cut = self.total - len(self.head) - len(tail)
        text = self.head.decode("utf-8", "replace")
        if cut > 0:
            text += f"\n[... output truncated: {cut} bytes cut from the middle ...]\n"
        text += tail.decode("utf-8", "replace")
        self.reset()
        return text


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
        for stream in (sys.stdout, sys.stderr):
            stream.reconfigure(line_buffering=True, write_through=False)  # one write per line, not per print part
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


class Channel:
    """The protocol channel: JSON lines on private fds, writes serialized by a lock."""

    def __init__(self, out_fd: int, max_bytes: int) -> None:
        self._out = out_fd
        self._max = max_bytes
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def send(self, message: dict) -> None:
        """Send one message; a result over the size limit becomes an error, anything else raises."""
        if os.getpid() != self._pid:
            raise RuntimeError("only the worker process may talk to the host (this is a forked child)")
        data = (json.dumps(message, default=repr) + "\n").encode()
        if len(data) > self._max:
            problem = f"the message was {len(data)} bytes; the limit is {self._max}"
            if message.get("type") != "result":
                raise ValueError(problem)
            error = {"name": "OutputTooLarge", "value": problem, "traceback": ""}
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


def _figure_png(figure: object) -> bytes:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


class Interrupter:
    """Raises KeyboardInterrupt in the main thread, but only in the request it was meant for.

    An interrupt names its request, so one that arrives before that request's
    code starts still stops it, and a late one never hits the next request.
    """

    def __init__(self) -> None:
        self.armed = False
        self._current: object = None
        self._cancelled: set = set()
        self._lock = threading.Lock()
        self._main = threading.main_thread().ident
        signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum: int, frame: object) -> None:
        if self.armed:
            raise KeyboardInterrupt

    def interrupt(self, request_id: object) -> None:
        with self._lock:
            self._cancelled.add(request_id)
            if self.armed and request_id == self._current:
                signal.pthread_kill(self._main, signal.SIGINT)

    def call(self, func, request_id: object, timeout: float | None) -> tuple[object, BaseException | None, bool]:
        """Run ``func()`` interruptibly for ``request_id``; return (value, exception, timed_out)."""
        timer = None
        fired = []
        if timeout:
            timer = threading.Timer(timeout, lambda: (fired.append(True), self.interrupt(request_id)))
            timer.daemon = True
            timer.start()
        try:
            return self._armed_call(func, request_id), None, bool(fired)
        except BaseException as exc:  # reported to the host as the step's error
            return None, exc, bool(fired)
        finally:
            if timer is not None:
                timer.cancel()

    def _armed_call(self, func, request_id: object):
        with self._lock:
            if request_id in self._cancelled:
                self._cancelled.discard(request_id)
                raise KeyboardInterrupt
            self._current, self.armed = request_id, True
        try:
            return func()
        finally:
            with self._lock:
                self.armed, self._current = False, None

    def finished(self, request_id: object) -> None:
        """Forget interrupts for a request that has been answered."""
        with self._lock:
            self._cancelled.discard(request_id)


class Worker:
    """Serves requests from the host, one at a time, on the main thread."""

    def __init__(self, in_fd: int, out_fd: int, config: dict) -> None:
        import queue
        import types

        self.channel = Channel(out_fd, config["max_message_bytes"])
        self.capture = OutputCapture(config["max_output_bytes"])
        self.displays = Displays(config["max_display_bytes"])
        self.interrupter = Interrupter()
        self.operations: dict | None = None
        self.requests: queue.Queue = queue.Queue()
        self.tool_replies: dict[str, queue.Queue] = {}
        self.tool_ids = itertools.count(1)
        self.steps = 0
        self.pid = os.getpid()
        self.loop = None
        self.module = types.ModuleType("__main__")
        self.module.__dict__.update(display=self.displays.add, ToolCallError=ToolCallError)
        sys.modules["__main__"] = self.module
        threading.Thread(target=self._read, args=(in_fd,), name="tinycode-protocol", daemon=True).start()

    # --- protocol --------------------------------------------------------------------
    def _read(self, in_fd: int) -> None:
        """Reader thread: interrupts and tool results act at once; other requests queue up."""
        try:
            with os.fdopen(in_fd, "rb") as stream:
                for line in stream:
                    self._route(json.loads(line))
        except (OSError, ValueError) as exc:
            os.write(2, f"[worker: protocol input failed: {exc}]\n".encode())
        token = os.environ.get(TOKEN_VARIABLE)
        if token:  # unsandboxed: nothing else ends our background processes when the host is gone
            kill_marked_processes(f"{TOKEN_VARIABLE}={token}".encode())
        os._exit(0)  # the host closed the channel (or broke it): nothing more to serve

    def _route(self, message: dict) -> None:
        if message.get("op") == "interrupt":
            self.interrupter.interrupt(message.get("id"))
        elif message.get("type") == "tool_result":
            slot = self.tool_replies.get(message.get("id"))
            if slot is not None:
                slot.put(message)
        else:
            self.requests.put(message)

    def serve(self) -> None:
        while True:
            request = self.requests.get()
            try:
                reply = self.handle(request)
            except BaseException as exc:  # a late interrupt or a worker bug: report, keep serving
                reply = {"error": error_dict(exc, with_traceback=True)}
            self.interrupter.finished(request.get("id"))
            reply.update(id=request.get("id"), type="result")
            self.channel.send(reply)

    def handle(self, request: dict) -> dict:
        op = request.get("op")
        if op == "ping":
            return {"value": {"pid": os.getpid(), "python": sys.version.split()[0], "executable": sys.executable}}
        if op == "exec":
            return self.run_code(request.get("code", ""), request.get("id"), request.get("timeout"))
        if op == "shell":
            return self.run_shell(request.get("command", ""), request.get("cwd"), request.get("id"), request.get("timeout"))
        if op == "fs":
            return self.file_op(request.get("name", ""), request.get("args") or {})
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

    def _run(self, code) -> object:
        result = eval(code, self.module.__dict__)
        if code.co_flags & _CO_COROUTINE:
            result = self._event_loop().run_until_complete(result)
        return result

    def _event_loop(self):
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
        process = subprocess.Popen(["bash", "-c", command], cwd=cwd or None, stdin=subprocess.DEVNULL, start_new_session=True)
        _, error, timed_out = self.interrupter.call(process.wait, request_id, timeout)
        self._exit_if_forked()
        if error is not None:
            _kill_group(process.pid)
            process.wait()
        reply = self._collect(started, timed_out)
        reply["exit_code"] = process.returncode
        if error is not None and not timed_out:
            reply["error"] = error_dict(error, with_traceback=False)
        return reply

    # --- files ----------------------------------------------------------------------
    def file_op(self, name: str, args: dict) -> dict:
        import base64

        if self.operations is None:
            self.operations = file_operations()  # loaded on first use: start-up stays fast
        operation = self.operations.get(name)
        if operation is None:
            return {"error": {"name": "ValueError", "value": f"unknown file operation {name!r}", "traceback": ""}}
        try:
            if name == "write_bytes":
                args = {**args, "data": base64.b64decode(args["data"])}
            value = operation(**args)
        except Exception as exc:  # reported to the host, which raises it
            return {"error": error_dict(exc, with_traceback=False)}
        if isinstance(value, bytes):
            value = base64.b64encode(value).decode()
        return {"value": value}

    # --- tools -----------------------------------------------------------------------
    def _tool_function(self, name: str):
        def tool(*args, **kwargs):
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
            message = {"type": "tool_call", "id": call_id, "name": name, "args": _json_checked(args)}
            self.channel.send(message)  # raises in the caller's code if the arguments are too large
            reply = slot.get()
        finally:
            self.tool_replies.pop(call_id, None)
        if reply.get("ok"):
            return reply.get("value")
        raise ToolCallError(str(reply.get("error") or f"tool {name} failed"))


def _json_checked(args: dict) -> dict:
    json.dumps(args)  # raises TypeError in the caller's code for values the host cannot receive
    return args


def error_dict(exc: BaseException, with_traceback: bool) -> dict:
    import traceback

    tb = _user_frames(exc.__traceback__)
    text = "".join(traceback.format_exception(type(exc), exc, tb)) if with_traceback else ""
    return {"name": type(exc).__name__, "value": str(exc), "traceback": shorten(text, _REPR_LIMIT)}


def _user_frames(tb):
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


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the whole group already exited


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

        spec = importlib.util.spec_from_file_location("_tinycode_fileops", os.path.join(_HERE, "fileops.py"))
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
