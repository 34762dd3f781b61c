"""The ``modal`` provider: the persistent worker inside a Modal cloud sandbox.

One sandbox per provider; the worker runs in it as
``python -u -c WORKER_SOURCE`` and keeps one live interpreter, so state
persists across steps. Python, shell and file operations all go through the
worker, as with the ``local`` provider (only the launcher differs). Files use
the worker's ``fs`` operation rather than Modal's filesystem API: it is one
round trip on a channel that is already open (Modal's API starts a process in
the sandbox per call), and every file operation (grep, glob, edits) then
behaves and fails the same way on every provider.

Every call to Modal's servers is bounded by ``call_timeout`` (Modal's client
itself retries for about a minute on a bad network); creating the sandbox,
which may build its image, by ``create_timeout``. The work directory is a
path inside the sandbox (default ``/workspace``), created by the image.

Lifetime: the sandbox is terminated on :meth:`close` and, best effort, at
interpreter exit. A sandbox that ends by itself (its ``timeout``) is replaced
at the next step, which reports ``state_lost``. With ``sandbox_name`` a new
provider (e.g. after a kernel restart) reattaches to the running sandbox of
that name instead of creating one: files and installed packages are still
there, Python variables are not (a new worker starts). ``keep_alive=True``
(which needs ``sandbox_name``) leaves the sandbox running at close and exit,
until Modal's ``timeout`` or ``idle_timeout`` ends it, so a later session can
reattach.
"""
from __future__ import annotations

import asyncio
import atexit
import importlib
import json
import logging
import posixpath
import threading
from dataclasses import dataclass
from typing import Any, Awaitable, TypeVar

from ..errors import ConfigurationError, ProviderError, SandboxUnavailableError
from .base import Capabilities
from .modal_streams import ModalWorker
from .worker_client import worker_source
from .worker_provider import WorkerOptions, WorkerProvider, options_from_config

logger = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_WORKDIR = "/workspace"
WORKER_DEFAULTS = {"interrupt_grace": 3.0, "startup_timeout": 60.0}
"""Longer than local: an interrupt and its answer cross the network, and the first exec waits for the container."""
INSTALL_HELP = "modal: the `modal` package is not installed; install it with `pip install tinycode_jupyter[modal]`"
AUTH_HELP = (
    "modal: Modal did not accept this machine's credentials ({reason}). Authenticate with `modal token new` "
    "(or `modal setup`), or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET in the environment, then try again"
)


@dataclass(frozen=True)
class ModalSettings:
    """``provider_config`` keys of the modal provider (besides :class:`WorkerOptions`)."""

    app_name: str = "tinycode-jupyter"
    pip_packages: tuple[str, ...] = ()
    modal_secrets: tuple[str, ...] = ()
    """Names of Modal secrets; their variables appear in the sandbox's environment."""
    sandbox_name: str | None = None
    keep_alive: bool = False
    timeout: int = 3600
    """Modal's limit on the sandbox's whole lifetime, in seconds."""
    idle_timeout: int | None = None
    cpu: float | None = None
    memory: int | None = None
    """MiB."""
    allow_network: bool = False
    python_version: str | None = None
    call_timeout: float = 30.0
    """Our limit on each call to Modal's servers, in seconds."""
    create_timeout: float = 600.0
    """Our limit on creating the sandbox, which includes building its image the first time."""

    def __post_init__(self) -> None:
        for name in ("pip_packages", "modal_secrets"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(item, str) for item in value):
                raise ConfigurationError(f"provider_config[{name!r}] must be a list of names, got {value!r}")
            object.__setattr__(self, name, tuple(value))
        if self.keep_alive and not self.sandbox_name:
            raise ConfigurationError("provider_config: keep_alive=True needs a sandbox_name to reattach to later")
        if self.call_timeout <= 0 or self.create_timeout <= 0:
            raise ConfigurationError("provider_config: call_timeout and create_timeout must be positive")


class ModalProvider(WorkerProvider):
    """Runs code in a persistent worker inside a Modal sandbox."""

    name = "modal"
    capabilities = Capabilities(isolated=True, network=False, persistent_state=True, workdir_on_host=False)

    def __init__(self, workdir: str | None = None, **config: Any) -> None:
        settings, options = options_from_config({**WORKER_DEFAULTS, **config}, ModalSettings, WorkerOptions)
        workdir = str(workdir or DEFAULT_WORKDIR)  # a path inside the sandbox, not on this machine
        if not posixpath.isabs(workdir):
            raise ConfigurationError(f"modal: the work directory must be an absolute path in the sandbox, got {workdir!r}")
        super().__init__(workdir, options=options, **config)
        self.workdir = workdir
        self.settings: ModalSettings = settings
        self.capabilities = Capabilities(isolated=True, network=settings.allow_network, persistent_state=True, workdir_on_host=False)  # type: ignore[misc]
        self.reattached = False
        """True when :meth:`start` found a running sandbox named ``sandbox_name``."""
        self._modal: Any = None
        self._sandbox: Any = None
        self._sandbox_is_new = False
        self._exit_hook: _TerminateAtExit | None = None

    @property
    def sandbox_id(self) -> str | None:
        """Modal's id of the sandbox (``sb-...``) while the provider is started, e.g. for Modal's dashboard."""
        return None if self._sandbox is None else self._sandbox.object_id

    # --- lifecycle -----------------------------------------------------------------------
    async def _start(self) -> None:
        self._modal = await self._load_modal()
        self._adopt(await self._open_sandbox())
        try:
            await super()._start()
        except BaseException:
            await self._release_sandbox()
            raise

    async def _close(self) -> None:
        try:
            await self._release_sandbox()
        finally:
            await super()._close()

    def _adopt(self, sandbox: Any) -> None:
        """Use ``sandbox`` from now on; unless kept alive, it is terminated at interpreter exit."""
        self._drop_exit_hook()
        self._sandbox, self._sandbox_is_new = sandbox, True
        if not self.settings.keep_alive:
            self._exit_hook = _TerminateAtExit(sandbox, self.settings.call_timeout)
            atexit.register(self._exit_hook)

    def _drop_exit_hook(self) -> None:
        if self._exit_hook is not None:
            atexit.unregister(self._exit_hook)
            self._exit_hook = None

    async def _release_sandbox(self) -> None:
        """Terminate the sandbox, unless it is kept alive for a later reattach."""
        sandbox, self._sandbox = self._sandbox, None
        self._drop_exit_hook()
        if sandbox is None or self.settings.keep_alive:
            return
        if isinstance(self._handle, ModalWorker):
            self._handle.sandbox_gone = True
        await self._call("terminate the sandbox", sandbox.terminate.aio())

    async def _open_sandbox(self) -> Any:
        settings = self.settings
        lookup = self._modal.App.lookup.aio(settings.app_name, create_if_missing=True)
        app = await self._call("look up the Modal app", lookup)
        if settings.sandbox_name:
            sandbox = await self._find_named_sandbox()
            if sandbox is not None:
                return sandbox
        return await self._call("create the sandbox", self._create_sandbox(app), limit="create_timeout")

    async def _find_named_sandbox(self) -> Any:
        modal, settings = self._modal, self.settings
        lookup = modal.Sandbox.from_name.aio(settings.app_name, settings.sandbox_name)
        try:
            sandbox = await self._call("look up the named sandbox", lookup, passthrough=(modal.exception.NotFoundError,))
        except modal.exception.NotFoundError:
            return None
        self.reattached = True
        logger.info("modal: reattached to sandbox %r of app %r", settings.sandbox_name, settings.app_name)
        return sandbox

    def _create_sandbox(self, app: Any) -> Awaitable[Any]:
        modal, settings = self._modal, self.settings
        image = modal.Image.debian_slim(python_version=settings.python_version)
        if settings.pip_packages:
            image = image.pip_install(*settings.pip_packages)
        return modal.Sandbox.create.aio(
            app=app,
            name=settings.sandbox_name,
            image=image.workdir(self.workdir),
            secrets=[modal.Secret.from_name(name) for name in settings.modal_secrets],
            timeout=settings.timeout,
            idle_timeout=settings.idle_timeout,
            cpu=settings.cpu,
            memory=settings.memory,
            block_network=not settings.allow_network,
        )

    async def _launch(self) -> ModalWorker:
        if self._sandbox is None:
            raise ProviderError("modal: the sandbox is gone (the provider was closed)")
        if not self._sandbox_is_new and await self._call("check the sandbox", self._sandbox.poll.aio()) is not None:
            logger.warning("modal: sandbox %s has ended (e.g. its timeout passed); starting a new one", self.sandbox_id)
            self._adopt(await self._open_sandbox())
        self._sandbox_is_new = False
        config = json.dumps(self.options.worker_config())
        start = self._sandbox.exec.aio("python", "-u", "-c", worker_source(), config, workdir=self.workdir, text=False)
        process = await self._call("start the worker in the sandbox", start, limit="startup_timeout")
        return ModalWorker(self._sandbox, process, self._call)

    async def _spawn(self) -> None:
        await super()._spawn()
        if isinstance(self._handle, ModalWorker):
            pid = self.worker_info.get("pid")
            self._handle.pid = pid if isinstance(pid, int) else None

    # --- calls to Modal --------------------------------------------------------------------
    async def _load_modal(self) -> Any:
        """The ``modal`` module, imported (about a second) off the event loop; tests substitute a fake here."""
        try:
            return await asyncio.to_thread(importlib.import_module, "modal")
        except ImportError as exc:
            raise SandboxUnavailableError(INSTALL_HELP) from exc

    async def _call(
        self, what: str, call: Awaitable[T], limit: str = "call_timeout", passthrough: tuple[type[BaseException], ...] = ()
    ) -> T:
        """``await call`` within the timeout named ``limit``, with Modal's failures turned into ProviderError."""
        seconds = getattr(self.settings, limit, None) or getattr(self.options, limit)
        try:
            return await asyncio.wait_for(call, seconds)
        except asyncio.TimeoutError:
            raise ProviderError(
                f"modal: Modal did not answer within {seconds:g}s when trying to {what}; "
                f"check the network, or raise provider_config[{limit!r}]"
            ) from None
        except passthrough:
            raise
        except self._modal.exception.AuthError as exc:
            raise SandboxUnavailableError(AUTH_HELP.format(reason=exc)) from exc
        except self._modal.exception.Error as exc:
            raise ProviderError(f"modal: could not {what}: {type(exc).__name__}: {exc}") from exc


class _TerminateAtExit:
    """Terminates a sandbox at interpreter exit, giving up after ``timeout`` seconds."""

    def __init__(self, sandbox: Any, timeout: float) -> None:
        self._sandbox = sandbox
        self._timeout = timeout

    def __call__(self) -> None:
        thread = threading.Thread(target=self._terminate, name="tinycode-modal-exit", daemon=True)
        thread.start()
        thread.join(self._timeout)
        if thread.is_alive():
            logger.warning("modal: the sandbox was not terminated within %gs at exit; Modal's timeout will end it", self._timeout)

    def _terminate(self) -> None:
        try:
            self._sandbox.terminate()  # the blocking form: no event loop is left at exit
        except Exception as exc:  # at exit there is no caller left to raise to
            logger.warning("modal: could not terminate the sandbox at exit: %s", exc)
