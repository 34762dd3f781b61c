"""A minimal stand-in for the ``modal`` package, faked at the narrowest boundary.

Only the surface :mod:`tinycode_jupyter.providers.modal` uses is here, with the
real parameter names (a test checks them against the real package when it is
installed). Behind it everything is real: ``Sandbox.exec`` starts a local
subprocess (so the real worker runs), stdin and stdout are real pipes, and
``terminate`` kills the sandbox's processes. What the fake cannot do is
recorded instead, so tests can assert it was asked for: the image's pip
packages, ``block_network``, secrets, names.

Like Modal's objects, each network method has a blocking form and an ``.aio``
form; the blocking form refuses to run inside a running event loop, so a
provider that would block its loop fails the tests.
"""
from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import types
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable

from tinycode_jupyter.providers.modal import ModalProvider
from tinycode_jupyter.providers.pipes import PipeReader, PipeWriter

AUTH_MESSAGE = (
    "Token missing. Could not authenticate client. If you have token credentials, see "
    "modal.com/docs/sdk/py/latest/config for setup help. If you are a new user, register an "
    "account at modal.com, then run `modal token new`."
)
STDIN_BUFFER_LIMIT = 16 * 1024 * 1024
"""Modal raises BufferError when more than this is written before a drain."""
_READ_CHUNK = 1 << 16
TERMINATED_EXIT_CODE = 137


class Error(Exception):
    pass


class AuthError(Error):
    pass


class NotFoundError(Error):
    pass


class AlreadyExistsError(Error):
    pass


class SandboxTerminatedError(Error):
    pass


class _Aio:
    """Modal's dual method: ``f(...)`` blocks, ``await f.aio(...)`` is the async form.

    ``bind`` says what the function receives first: the instance (``"self"``)
    or the class it was looked up on (``"cls"``, for Modal's static
    constructors, so they reach the fake account bound to that class).
    """

    def __init__(self, func: Callable[..., Awaitable[Any]], bind: str = "self", bound: Any = None) -> None:
        self.func = func
        self.bind = bind
        self._bound = bound

    def __get__(self, instance: Any, owner: type) -> "_Aio":
        target = owner if self.bind == "cls" else instance
        return self if target is None else _Aio(self.func, self.bind, target)

    def _call(self, args: tuple, kwargs: dict) -> Awaitable[Any]:
        return self.func(*((self._bound,) if self._bound is not None else ()), *args, **kwargs)

    async def aio(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call(args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._call(args, kwargs))
        raise AssertionError(f"blocking Modal call {self.func.__name__}() inside a running event loop; use .aio")


@dataclass
class FakeModal:
    """One fake Modal account: its sandboxes, the calls it received and injected faults."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sandboxes: list["SandboxState"] = field(default_factory=list)
    secret_values: dict[str, dict[str, str]] = field(default_factory=dict)
    """Environment variables each named secret injects into the sandbox's processes."""
    authenticated: bool = True
    hang_on: set[str] = field(default_factory=set)
    """Calls (e.g. ``"Sandbox.create"``) that never answer, like Modal retrying on a bad network."""
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    async def network_call(self, call: str, **details: Any) -> None:
        """Record a call that goes to Modal's servers; fail or hang it as configured."""
        self.calls.append((call, details))
        if not self.authenticated:
            raise AuthError(AUTH_MESSAGE)
        if call in self.hang_on:
            await asyncio.Event().wait()

    def called(self, name: str) -> list[dict[str, Any]]:
        return [details for call, details in self.calls if call == name]

    def running(self, app_name: str, name: str) -> "SandboxState | None":
        for state in self.sandboxes:
            if state.app_name == app_name and state.name == name and not state.terminated:
                return state
        return None

    def live_pids(self) -> list[int]:
        """Processes started by ``exec`` in any sandbox that have not exited."""
        return [p.pid for state in self.sandboxes for p in state.processes if p.poll() is None]

    def shutdown(self) -> None:
        """Terminate every sandbox and close its pipes."""
        for state in self.sandboxes:
            state.terminate()
            state.release()

    def module(self) -> types.ModuleType:
        """A ``modal`` module bound to this account."""
        module = types.ModuleType("modal")
        exception = types.ModuleType("modal.exception")
        for cls in (Error, AuthError, NotFoundError, AlreadyExistsError, SandboxTerminatedError):
            setattr(exception, cls.__name__, cls)
        module.__version__ = "0.0-fake"
        module.exception = exception
        module.App = type("App", (App,), {"fake": self})
        module.Sandbox = type("Sandbox", (Sandbox,), {"fake": self})
        module.Image = Image
        module.Secret = Secret
        return module


# --- apps, images, secrets ---------------------------------------------------------------
class App:
    fake: FakeModal

    def __init__(self, name: str) -> None:
        self.name = name

    async def _lookup(cls, name: str, *, create_if_missing: bool = False) -> "App":
        await cls.fake.network_call("App.lookup", name=name, create_if_missing=create_if_missing)
        return cls(name)

    lookup = _Aio(_lookup, bind="cls")


class Image:
    """An image spec: recorded, and its WORKDIR is created as Docker would."""

    def __init__(self, python_version: str | None, packages: tuple[str, ...] = (), workdir_path: str | None = None) -> None:
        self.python_version = python_version
        self.packages = packages
        self.workdir_path = workdir_path

    @staticmethod
    def debian_slim(python_version: str | None = None) -> "Image":
        return Image(python_version)

    def pip_install(self, *packages: str) -> "Image":
        return Image(self.python_version, (*self.packages, *packages), self.workdir_path)

    def workdir(self, path: str) -> "Image":
        return Image(self.python_version, self.packages, str(path))


class Secret:
    """A reference to a named secret, resolved when a sandbox is created."""

    def __init__(self, name: str) -> None:
        self.name = name

    @staticmethod
    def from_name(name: str) -> "Secret":
        return Secret(name)


# --- sandboxes -----------------------------------------------------------------------------
@dataclass
class SandboxState:
    """One sandbox on the fake account; handles from ``create`` and ``from_name`` share it."""

    object_id: str
    app_name: str
    name: str | None
    env: dict[str, str]
    workdir: str | None
    processes: list[subprocess.Popen] = field(default_factory=list)
    terminated: bool = False

    def terminate(self) -> None:
        """Kill every process the sandbox started, as tearing down its container does."""
        self.terminated = True
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()

    def release(self) -> None:
        """Close the pipes (only once nothing waits on them: at the end of a test)."""
        for process in self.processes:
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    stream.close()


class Sandbox:
    fake: FakeModal

    def __init__(self, state: SandboxState) -> None:
        self._state = state
        self.object_id = state.object_id

    async def _create(
        cls,
        *,
        app: App | None = None,
        name: str | None = None,
        image: Image | None = None,
        secrets: list[Secret] | None = None,
        timeout: int | None = 300,
        idle_timeout: int | None = None,
        cpu: float | None = None,
        memory: int | None = None,
        block_network: bool = False,
    ) -> "Sandbox":
        fake = cls.fake
        image = image or Image(None)
        secret_names = [s.name for s in secrets or []]
        await fake.network_call(
            "Sandbox.create", app=app.name if app else None, name=name, packages=image.packages,
            image_workdir=image.workdir_path, secrets=secret_names, timeout=timeout, idle_timeout=idle_timeout,
            cpu=cpu, memory=memory, block_network=block_network,
        )  # fmt: skip
        if app is None:
            raise Error("Sandbox.create needs app= outside a Modal container")
        if name is not None and fake.running(app.name, name) is not None:
            raise AlreadyExistsError(f"a sandbox named {name!r} is already running in app {app.name!r}")
        missing = [n for n in secret_names if n not in fake.secret_values]
        if missing:
            raise NotFoundError(f"Secret {missing[0]!r} not found")
        if image.workdir_path:
            os.makedirs(image.workdir_path, exist_ok=True)
        env = {k: v for n in secret_names for k, v in fake.secret_values[n].items()}
        state = SandboxState(f"sb-fake{next(fake._ids)}", app.name, name, env, image.workdir_path)
        fake.sandboxes.append(state)
        return cls(state)

    async def _from_name(cls, app_name: str, name: str) -> "Sandbox":
        await cls.fake.network_call("Sandbox.from_name", app_name=app_name, name=name)
        state = cls.fake.running(app_name, name)
        if state is None:
            raise NotFoundError(f"Sandbox with name {name!r} not found in app {app_name!r}")
        return cls(state)

    async def _exec(self, *args: str, workdir: str | None = None, text: bool = True) -> "ContainerProcess":
        state = self._state
        await self.fake.network_call("Sandbox.exec", sandbox=state.object_id, args=args, workdir=workdir, text=text)
        if state.terminated:
            raise SandboxTerminatedError(f"Sandbox {state.object_id} has been terminated")
        argv = [sys.executable if args[0] in ("python", "python3") else args[0], *args[1:]]
        environ = {**os.environ, **state.env}
        try:
            process = subprocess.Popen(
                argv, cwd=workdir or state.workdir, env=environ, start_new_session=True,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
        except OSError as exc:
            raise Error(f"exec failed: {exc}") from None
        state.processes.append(process)
        return ContainerProcess(process, text)

    async def _terminate(self, *, wait: bool = False) -> None:
        await self.fake.network_call("Sandbox.terminate", sandbox=self._state.object_id)
        self._state.terminate()

    async def _poll(self) -> int | None:
        await self.fake.network_call("Sandbox.poll", sandbox=self._state.object_id)
        return TERMINATED_EXIT_CODE if self._state.terminated else None

    create = _Aio(_create, bind="cls")
    from_name = _Aio(_from_name, bind="cls")
    exec = _Aio(_exec)
    terminate = _Aio(_terminate)
    poll = _Aio(_poll)


class ContainerProcess:
    def __init__(self, process: subprocess.Popen, text: bool) -> None:
        assert process.stdin and process.stdout and process.stderr
        self._process = process
        self.stdin = StreamWriter(process.stdin)
        self.stdout = StreamReader(process.stdout.fileno(), text)
        self.stderr = StreamReader(process.stderr.fileno(), text)

    async def _wait(self) -> int:
        while self._process.poll() is None:
            await asyncio.sleep(0.01)
        return self._process.returncode

    async def _poll(self) -> int | None:
        return self._process.poll()

    wait = _Aio(_wait)
    poll = _Aio(_poll)


class StreamReader:
    """Iterating yields chunks as they arrive (str when ``text``), like Modal's reader."""

    def __init__(self, fd: int, text: bool) -> None:
        self._pipe = PipeReader(fd)
        self._text = text

    async def __aiter__(self) -> AsyncIterator[str | bytes]:
        while True:
            try:
                chunk = await self._pipe.read(_READ_CHUNK)
            except OSError:  # the sandbox was terminated and the pipe closed
                return
            if not chunk:
                return
            yield chunk.decode() if self._text else chunk

    async def _read(self) -> str | bytes:
        parts = [chunk async for chunk in self]
        return ("" if self._text else b"").join(parts)  # type: ignore[attr-defined]

    read = _Aio(_read)


class StreamWriter:
    """Buffered stdin: ``write`` and ``write_eof`` queue, ``drain`` sends."""

    def __init__(self, pipe: Any) -> None:
        self._file = pipe
        self._pipe = PipeWriter(pipe.fileno())
        self._buffer = bytearray()
        self._eof = False

    def write(self, data: bytes | str) -> None:
        if self._eof:
            raise ValueError("Stdin is closed. Cannot write to it.")
        data = data.encode() if isinstance(data, str) else bytes(data)
        if len(self._buffer) + len(data) > STDIN_BUFFER_LIMIT:
            raise BufferError("Buffer size exceed limit. Call drain to flush the buffer.")
        self._buffer += data

    def write_eof(self) -> None:
        self._eof = True

    async def _drain(self) -> None:
        data, self._buffer = bytes(self._buffer), bytearray()
        try:
            self._pipe.write(data)
            await self._pipe.drain()
        except OSError as exc:
            raise Error(f"stdin write failed: {exc}") from None
        if self._eof:
            self._file.close()

    drain = _Aio(_drain)


class FakeModalProvider(ModalProvider):
    """The real ModalProvider on its own fake account, for suites that build providers without fixtures."""

    def __init__(self, workdir: str | None = None, **config: Any) -> None:
        super().__init__(workdir, **config)
        self.fake = FakeModal()

    async def _load_modal(self) -> types.ModuleType:
        return self.fake.module()

    async def _close(self) -> None:
        try:
            await super()._close()
        finally:
            self.fake.shutdown()
