"""The ``local`` provider: a persistent worker process inside a bubblewrap sandbox.

The sandbox has no network, runs as ``nobody`` in its own user, PID, IPC, UTS
and mount namespaces, sees the system read-only, a private ``/tmp``, and writes
only to the work directory and ``additional_write_dirs``. The worker gets a
minimal environment (no API keys), and rlimits on memory, CPU time, file size,
open files and processes.

When the host runs as root, the sandbox user maps to root outside, so what
rlimits and file permissions would normally give is added explicitly: a cgroup
holds the process count and total memory (the kernel exempts root from
RLIMIT_NPROC, see :mod:`.cgroup`), kernel knobs such as ``/proc/sys`` are
mounted read-only (see :mod:`.bwrap`), and a seccomp filter keeps set-id bits
off the files it writes, which would belong to host root (see :mod:`.seccomp`).
The worker starts with a fresh, empty session keyring.

Nothing the sandbox writes should be run by the host unasked: without a work
directory, the sandbox works in ``./tinycode-sandbox`` when the current
directory is on this process's import path (a notebook's kernel imports from
its folder, so a ``pandas.py`` planted there would run in the kernel), and the
host's site-packages directories stay read-only (their ``.pth`` files run at
every start of Python).

``provider_config={"sandbox": False}`` runs the same worker as a plain
subprocess: persistent state, limits and a scrubbed environment, but **no
isolation**: the code can read and write your files and signal your processes.
"""
from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import json
import logging
import os
import secrets
import shutil
import signal
import site
import subprocess
import sys
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError, ProviderError, SandboxUnavailableError
from . import seccomp
from .base import Capabilities
from .bwrap import SandboxLayout, bwrap_argv, is_within
from .cgroup import SandboxCgroup
from .interpreter import Interpreter
from .pipes import PipeReader, PipeWriter
from .worker import TOKEN_VARIABLE, kill_marked_processes
from .worker_client import FILEOPS_PATH, WORKER_PATH
from .worker_provider import WorkerHandle, WorkerOptions, WorkerProvider, options_from_config

logger = logging.getLogger(__name__)

SANDBOX_WORKER_DIR = "/opt/tinycode"
DEFAULT_WORKDIR_NAME = "tinycode-sandbox"
"""The sandbox's work dir under the current directory when that is on the import path (not importable: a hyphen)."""
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
                              cgroup: SandboxCgroup | None, pass_fds: tuple[int, ...]) -> "LocalWorker":  # fmt: skip
        """Start bwrap with ``pass_fds`` open; with a cgroup, bwrap waits (``--block-fd``) until its child has joined it."""
        if cgroup is None:
            return cls(await launcher.popen(argv, env, cwd, pass_fds), None, None)
        info_read, info_write = os.pipe()
        block_read, block_write = os.pipe()
        gate = ["--info-fd", str(info_write), "--block-fd", str(block_read)]
        argv = argv[: argv.index("--")] + gate + argv[argv.index("--") :]
        try:
            worker = cls(await launcher.popen(argv, env, cwd, (*pass_fds, info_write, block_read)), cgroup, None)
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

    With ``arch``, the thread first joins a new, empty session keyring (a
    thread's own credential), so nothing it starts inherits the host's keys.
    """

    def __init__(self, arch: seccomp.Arch | None = None) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._arch = arch

    async def popen(self, argv: list[str], env: dict[str, str], cwd: str, pass_fds: tuple[int, ...]) -> subprocess.Popen[bytes]:
        if self._executor is None:
            initializer = None if self._arch is None else functools.partial(join_fresh_session_keyring, self._arch)
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tinycode-launcher", initializer=initializer)
        return await asyncio.get_running_loop().run_in_executor(self._executor, _popen, argv, env, cwd, pass_fds)

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None


def join_fresh_session_keyring(arch: seccomp.Arch) -> None:
    """Give the calling thread, and every process it starts later, a new anonymous session keyring."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    keyctl, join_session_keyring = ctypes.c_long(arch.numbers["keyctl"]), ctypes.c_long(1)  # KEYCTL_JOIN_SESSION_KEYRING
    if libc.syscall(keyctl, join_session_keyring, None) < 0:
        # Only where the host itself may not use keyrings; the sandbox's filter denies every keyring call anyway.
        logger.warning("local: the sandbox keeps the host's session keyring (keyctl failed: %s)", os.strerror(ctypes.get_errno()))


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


def sandbox_workdir(requested: str | None) -> str:
    """The sandbox's work dir: ``requested``, or the current directory unless this process imports from it.

    A module the sandbox writes into a directory on the import path (``pandas.py``,
    ``json.py``, ``sitecustomize.py``) would run in this process, e.g. the notebook's
    kernel at its next import. The default then is ``./tinycode-sandbox``; a
    requested directory on the import path is used, with a warning.
    """
    if requested is not None:
        if on_import_path(requested):
            logger.warning("local: the work dir %s is on this process's import path: a module the sandbox writes there "
                           "(e.g. pandas.py) would be imported here; give the sandbox a directory of its own", requested)  # fmt: skip
        return _not_root(requested)
    cwd = os.path.realpath(os.getcwd())
    if not on_import_path(cwd):
        return _not_root(cwd)
    workdir = os.path.join(cwd, DEFAULT_WORKDIR_NAME)
    try:
        os.makedirs(workdir, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"local: the current directory is on the import path, and {workdir} (the sandbox's "
                                 f"own work dir) cannot be created ({exc}); pass a work directory") from exc  # fmt: skip
    if os.path.islink(workdir):
        raise ConfigurationError(f"local: {workdir} is a symlink, not a directory of the sandbox's own; remove it")
    return workdir


def _not_root(workdir: str) -> str:
    if workdir == "/":
        raise ConfigurationError("local: the work directory cannot be / (the sandbox could write everywhere)")
    return workdir


def on_import_path(directory: str) -> bool:
    """``directory`` (resolved) is an entry of ``sys.path``; ``""`` stands for the current directory."""
    return any(os.path.realpath(entry or os.curdir) == directory for entry in sys.path if isinstance(entry, str))


def host_site_dirs() -> list[str]:
    """This interpreter's site-packages directories, whose ``.pth`` files run at every start of Python."""
    return [os.path.realpath(d) for d in (*site.getsitepackages(), site.getusersitepackages())]


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
        self.arch: seccomp.Arch | None = None
        if not settings.sandbox:
            self.capabilities = Capabilities(isolated=False, network=True, persistent_state=True)  # type: ignore[misc]
            self.bwrap = None
        else:
            self.bwrap = shutil.which("bwrap")
            if self.bwrap is None:
                raise SandboxUnavailableError(
                    "local: bubblewrap (bwrap) is not installed; install it with `sudo apt-get install bubblewrap` "
                    "(or your distribution's package), or pass provider_config={'sandbox': False} to run without isolation"
                )
            self.arch = seccomp.host_arch()
            self.workdir = sandbox_workdir(self.workdir if workdir is not None else None)
        self._launcher = Launcher(self.arch)

    @property
    def extra_write_dirs(self) -> tuple[str, ...]:
        return self.settings.additional_write_dirs

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
        assert self.arch is not None
        command = [self.interpreter.executable, "-u", f"{SANDBOX_WORKER_DIR}/worker.py", config]
        with seccomp.program_fd(self.arch) as filter_fd:
            argv = bwrap_argv(self.bwrap, self._layout(filter_fd), command)
            return await LocalWorker.spawn_sandboxed(self._launcher, argv, env, self.workdir, self._cgroup(), (filter_fd,))

    def _layout(self, seccomp_fd: int) -> SandboxLayout:
        settings = self.settings
        writable = (self.workdir, *settings.additional_write_dirs)
        return SandboxLayout(
            workdir=self.workdir,
            seccomp_fd=seccomp_fd,
            read_dirs=self.interpreter.prefixes + settings.additional_read_dirs,
            write_dirs=settings.additional_write_dirs,
            read_only_inside=tuple(d for d in host_site_dirs() if any(is_within(d, w) for w in writable)),
            files=tuple((str(path), f"{SANDBOX_WORKER_DIR}/{path.name}") for path in (WORKER_PATH, FILEOPS_PATH)),
            symlinks=self.interpreter.links,
            tmp_size_bytes=settings.tmp_size_mb * _MB,
        )

    def _cgroup(self) -> SandboxCgroup | None:
        settings = self.settings
        cgroup = SandboxCgroup.create(settings.max_processes, settings.memory_limit_mb and settings.memory_limit_mb * _MB)
        if cgroup is None and os.geteuid() == 0 and settings.max_processes is not None:
            logger.warning("local: running as root without a usable cgroup, so the process limit is not enforced")
        return cgroup
