"""The ``local`` provider: a persistent worker process inside a bubblewrap sandbox.

The sandbox has no network, runs as ``nobody`` in its own user, PID, IPC, UTS
and mount namespaces, sees the system read-only, a private ``/tmp``, and writes
only to the work directory and ``additional_write_dirs``. The worker gets a
minimal environment (no API keys), and rlimits on memory, CPU time, file size,
open files and processes.

When the host runs as root, the sandbox user maps to root outside, so two
things rlimits and file permissions would normally give are added explicitly:
a cgroup holds the process count and total memory (the kernel exempts root
from RLIMIT_NPROC, see :mod:`.cgroup`), and kernel knobs such as
``/proc/sys`` are mounted read-only (see :mod:`.bwrap`).

``provider_config={"sandbox": False}`` runs the same worker as a plain
subprocess: persistent state, limits and a scrubbed environment, but **no
isolation**: the code can read and write your files and signal your processes.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError, ProviderError, SandboxUnavailableError
from .base import Capabilities
from .bwrap import SandboxLayout, bwrap_argv
from .cgroup import SandboxCgroup
from .pipes import PipeReader, PipeWriter
from .worker import TOKEN_VARIABLE, kill_marked_processes
from .worker_client import FILEOPS_PATH, WORKER_PATH
from .worker_provider import WorkerHandle, WorkerOptions, WorkerProvider, options_from_config

logger = logging.getLogger(__name__)

SANDBOX_WORKER_DIR = "/opt/tinycode"
_MB = 1 << 20
_STDERR_TAIL = 4000
_LIMITS = ("memory_limit_mb", "cpu_time_limit_s", "file_size_limit_mb", "max_processes", "max_open_files", "tmp_size_mb")
_SIGNAL_HINTS = {
    signal.SIGKILL: "a memory or CPU-time limit may have been reached, or something killed it",
    signal.SIGXCPU: "the CPU-time limit was reached",
    signal.SIGSEGV: "the process crashed",
}


@dataclass(frozen=True)
class LocalSettings:
    """``provider_config`` keys of the local provider (besides :class:`WorkerOptions`)."""

    sandbox: bool = True
    python_env_path: str | None = None
    """A virtualenv directory or a Python executable; default: the current interpreter."""
    additional_read_dirs: tuple[str, ...] = ()
    additional_write_dirs: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment variables for the worker (nothing else from the host gets through)."""
    memory_limit_mb: int | None = 8192
    """Address space per process; also the sandbox's total memory where a cgroup is available.
    ``None`` turns a limit off (likewise for the other limits)."""
    cpu_time_limit_s: int | None = 3600
    """CPU seconds per process; the worker is restarted when it uses them up."""
    file_size_limit_mb: int | None = 1024
    max_processes: int | None = 256
    max_open_files: int | None = 1024
    tmp_size_mb: int = 512

    def __post_init__(self) -> None:
        for name in _LIMITS:
            value = getattr(self, name)
            if value is None and name != "tmp_size_mb":
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigurationError(f"provider_config[{name!r}] must be a positive int or None (no limit), not {value!r}")
        for name in ("additional_read_dirs", "additional_write_dirs"):
            paths = getattr(self, name)
            if isinstance(paths, str):
                paths = (paths,)
            resolved = tuple(os.path.realpath(os.path.expanduser(p)) for p in paths)
            missing = [p for p in resolved if not os.path.isdir(p)]
            if missing:
                raise ConfigurationError(f"provider_config[{name!r}]: not a directory: {', '.join(missing)}")
            object.__setattr__(self, name, resolved)

    def rlimits(self) -> dict[str, int]:
        """Resource limits the worker applies to itself (and so to everything it starts)."""
        limits = {
            "RLIMIT_AS": self.memory_limit_mb and self.memory_limit_mb * _MB,
            "RLIMIT_CPU": self.cpu_time_limit_s,
            "RLIMIT_FSIZE": self.file_size_limit_mb and self.file_size_limit_mb * _MB,
            "RLIMIT_NOFILE": self.max_open_files,
            "RLIMIT_CORE": 0,
            # Counted per user namespace, so only meaningful inside the sandbox.
            "RLIMIT_NPROC": self.max_processes if self.sandbox else None,
        }
        return {name: value for name, value in limits.items() if value is not None}


@dataclass(frozen=True)
class Interpreter:
    """The Python that runs the worker, and the directories it needs inside the sandbox."""

    executable: str
    prefixes: tuple[str, ...]
    venv: str | None

    @classmethod
    def resolve(cls, path: str | None) -> "Interpreter":
        if path is None:
            executable = sys.executable
        elif os.path.isdir(path):
            executable = next((c for c in (os.path.join(path, "bin", n) for n in ("python", "python3")) if os.path.exists(c)), "")
        else:
            executable = path
        executable = os.path.abspath(os.path.expanduser(executable))
        if not (os.path.isfile(executable) and os.access(executable, os.X_OK)):
            raise ConfigurationError(f"provider_config['python_env_path']: no Python executable at {path!r}")
        prefix = os.path.dirname(os.path.dirname(executable))
        venv = prefix if os.path.exists(os.path.join(prefix, "pyvenv.cfg")) else None
        base = os.path.dirname(os.path.dirname(os.path.realpath(executable)))
        prefixes = tuple(dict.fromkeys(p for p in (prefix, base) if p != "/"))
        return cls(executable, prefixes, venv)

    @property
    def bin_dir(self) -> str:
        return os.path.dirname(self.executable)


def worker_env(workdir: str, interpreter: Interpreter, extra: dict[str, str]) -> dict[str, str]:
    """The worker's whole environment: an allowlist, never copied from the host."""
    env = {
        "PATH": os.pathsep.join([interpreter.bin_dir, "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": workdir,
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONUTF8": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/.matplotlib",
        "XDG_CACHE_HOME": "/tmp/.cache",
        "TMPDIR": "/tmp",
    }
    if interpreter.venv:
        env["VIRTUAL_ENV"] = interpreter.venv
    env.update(extra)
    return env


class LocalWorker(WorkerHandle):
    """A worker subprocess (optionally inside bwrap and a cgroup), killed at close or interpreter exit."""

    def __init__(self, process: subprocess.Popen[bytes], cgroup: SandboxCgroup | None, token: str | None) -> None:
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        self.process = process
        self.sandboxed = token is None
        self.reader = PipeReader(process.stdout.fileno())
        self.writer = PipeWriter(process.stdin.fileno())
        self._stderr = PipeReader(process.stderr.fileno())
        self._finalizer = weakref.finalize(self, _terminate, process, cgroup, token)

    @classmethod
    async def spawn_plain(cls, launcher: "Launcher", argv: list[str], env: dict[str, str], cwd: str) -> "LocalWorker":
        """Start an unsandboxed worker; its environment carries a token that marks its descendants."""
        token = secrets.token_hex(16)
        return cls(await launcher.popen(argv, {**env, TOKEN_VARIABLE: token}, cwd, ()), None, token)

    @classmethod
    async def spawn_sandboxed(cls, launcher: "Launcher", argv: list[str], env: dict[str, str], cwd: str,
                              cgroup: SandboxCgroup | None) -> "LocalWorker":  # fmt: skip
        """Start bwrap; with a cgroup, bwrap waits (``--block-fd``) until its child has joined it."""
        if cgroup is None:
            return cls(await launcher.popen(argv, env, cwd, ()), None, None)
        info_read, info_write = os.pipe()
        block_read, block_write = os.pipe()
        gate = ["--info-fd", str(info_write), "--block-fd", str(block_read)]
        argv = argv[: argv.index("--")] + gate + argv[argv.index("--") :]
        try:
            worker = cls(await launcher.popen(argv, env, cwd, (info_write, block_read)), cgroup, None)
        finally:
            os.close(info_write)
            os.close(block_read)
        try:
            cgroup.add(await _sandbox_pid(info_read))
            os.write(block_write, b"1")
        except (OSError, ValueError, asyncio.TimeoutError) as exc:
            await worker.kill(wait=1.0)
            report = await worker.exit_report()
            raise SandboxUnavailableError(f"local: the sandbox did not start in its cgroup ({exc}; {report})") from exc
        finally:
            os.close(info_read)
            os.close(block_write)
        return worker

    async def kill(self, wait: float = 0.0) -> None:
        if wait and self._finalizer.alive:
            await asyncio.to_thread(_wait_quietly, self.process, wait)
        await asyncio.to_thread(self._finalizer)

    async def exit_report(self) -> str:
        status = self.process.returncode
        if self.process.stderr is None or self.process.stderr.closed:
            return _describe_status(status, self.sandboxed)
        tail = self._stderr.read_available(1 << 16).decode("utf-8", "replace").strip()[-_STDERR_TAIL:]
        self.process.stderr.close()
        return _describe_status(status, self.sandboxed) + (f"; its stderr ended with: {tail}" if tail else "")


def _popen(argv: list[str], env: dict[str, str], cwd: str, pass_fds: tuple[int, ...]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=env, cwd=cwd, pass_fds=pass_fds, start_new_session=True,
    )  # fmt: skip


class Launcher:
    """Starts worker processes from one long-lived thread of its own.

    bwrap's ``--die-with-parent`` (PR_SET_PDEATHSIG) fires when the *thread*
    that started it ends, and the agent may run in short-lived threads (one
    per notebook cell): the sandbox must not die with them. Shut down on close.
    """

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None

    async def popen(self, argv: list[str], env: dict[str, str], cwd: str, pass_fds: tuple[int, ...]) -> subprocess.Popen[bytes]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tinycode-launcher")
        return await asyncio.get_running_loop().run_in_executor(self._executor, _popen, argv, env, cwd, pass_fds)

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None


async def _sandbox_pid(info_fd: int) -> int:
    """The host pid of the sandbox's first process, from bwrap's ``--info-fd`` JSON."""
    reader, data = PipeReader(info_fd), b""
    while True:
        chunk = await asyncio.wait_for(reader.read(4096), timeout=10)
        if not chunk:
            raise ValueError(f"bwrap closed --info-fd without the child pid: {data!r}")
        data += chunk
        try:
            return int(json.loads(data)["child-pid"])
        except ValueError:
            continue  # incomplete JSON so far


def _wait_quietly(process: subprocess.Popen[bytes], timeout: float) -> None:
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        logger.debug("worker %s still running after %ss; killing it", process.pid, timeout)


def _terminate(process: subprocess.Popen[bytes], cgroup: SandboxCgroup | None, token: str | None) -> None:
    """Kill the worker and everything it started, reap it, remove its cgroup (sync: also runs at exit).

    In the sandbox, killing bwrap ends its PID namespace and every process in it.
    Unsandboxed, the worker's process group is killed, and so is every process
    whose environment still carries the worker's token (e.g. background jobs).
    """
    if token is None:
        process.kill()
    else:
        with contextlib.suppress(ProcessLookupError):  # the group is already gone
            os.killpg(process.pid, signal.SIGKILL)
        kill_marked_processes(f"{TOKEN_VARIABLE}={token}".encode())
    process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()
    if cgroup is not None:
        cgroup.remove()


def _describe_status(status: int | None, sandboxed: bool) -> str:
    """E.g. "exit status 3" or "killed by SIGSEGV (the process crashed)"; bwrap reports signals as 128+N."""
    if status is None:
        return "still running"
    number = -status if status < 0 else status - 128 if sandboxed and status > 128 else 0
    if not number:
        return f"exit status {status}"
    try:
        signum = signal.Signals(number)
    except ValueError:
        return f"killed by signal {number}"
    hint = _SIGNAL_HINTS.get(signum)
    return f"killed by {signum.name}" + (f" ({hint})" if hint else "")


class LocalProvider(WorkerProvider):
    """Runs code in a persistent worker inside bubblewrap (or, opted out, a plain subprocess)."""

    name = "local"
    capabilities = Capabilities(isolated=True, network=False, persistent_state=True)

    def __init__(self, workdir: str | None = None, **config: Any) -> None:
        settings, options = options_from_config(config, LocalSettings, WorkerOptions)
        super().__init__(workdir, options=options, **config)
        self.workdir = os.path.realpath(self.workdir)
        self.settings: LocalSettings = settings
        self.interpreter = Interpreter.resolve(settings.python_env_path)
        self._launcher = Launcher()
        if not settings.sandbox:
            self.capabilities = Capabilities(isolated=False, network=True, persistent_state=True)  # type: ignore[misc]
            self.bwrap = None
        elif self.workdir == "/":
            raise ConfigurationError("local: the work directory cannot be / (the sandbox could write everywhere)")
        else:
            self.bwrap = shutil.which("bwrap")
            if self.bwrap is None:
                raise SandboxUnavailableError(
                    "local: bubblewrap (bwrap) is not installed; install it with `sudo apt-get install bubblewrap` "
                    "(or your distribution's package), or pass provider_config={'sandbox': False} to run without isolation"
                )

    async def _close(self) -> None:
        try:
            await super()._close()
        finally:
            self._launcher.shutdown()  # after the worker is gone: its thread is the sandbox's "parent"

    def _startup_error(self, report: str) -> ProviderError:
        if self.bwrap is None:
            return super()._startup_error(report)
        return SandboxUnavailableError(f"local: the bubblewrap sandbox did not start ({report})")

    async def _launch(self) -> LocalWorker:
        config = json.dumps({**self.options.worker_config(), "limits": self.settings.rlimits()})
        env = worker_env(self.workdir, self.interpreter, self.settings.env)
        if self.bwrap is None:
            argv = [self.interpreter.executable, "-u", str(WORKER_PATH), config]
            return await LocalWorker.spawn_plain(self._launcher, argv, env, self.workdir)
        command = [self.interpreter.executable, "-u", f"{SANDBOX_WORKER_DIR}/worker.py", config]
        argv = bwrap_argv(self.bwrap, self._layout(), command)
        return await LocalWorker.spawn_sandboxed(self._launcher, argv, env, self.workdir, self._cgroup())

    def _layout(self) -> SandboxLayout:
        settings = self.settings
        return SandboxLayout(
            workdir=self.workdir,
            read_dirs=self.interpreter.prefixes + settings.additional_read_dirs,
            write_dirs=settings.additional_write_dirs,
            files=tuple((str(path), f"{SANDBOX_WORKER_DIR}/{path.name}") for path in (WORKER_PATH, FILEOPS_PATH)),
            tmp_size_bytes=settings.tmp_size_mb * _MB,
        )

    def _cgroup(self) -> SandboxCgroup | None:
        settings = self.settings
        cgroup = SandboxCgroup.create(settings.max_processes, settings.memory_limit_mb and settings.memory_limit_mb * _MB)
        if cgroup is None and os.geteuid() == 0 and settings.max_processes is not None:
            logger.warning("local: running as root without a usable cgroup, so the process limit is not enforced")
        return cgroup
