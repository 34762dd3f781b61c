"""The providers every contract test runs against: (name, factory taking a work dir)."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

from tinycode_jupyter.providers.base import Provider

from _require import require_tool


def _local(workdir: Path) -> Provider:
    from tinycode_jupyter.providers.local import LocalProvider

    require_tool("bwrap", "the local provider's sandbox")
    return LocalProvider(workdir)


def _local_unsandboxed(workdir: Path) -> Provider:
    from tinycode_jupyter.providers.local import LocalProvider

    return LocalProvider(workdir, sandbox=False)


def _kernel(workdir: Path) -> Provider:
    from tinycode_jupyter.providers.kernel import KernelProvider

    return KernelProvider(str(workdir))


PROVIDER_FACTORIES: list[tuple[str, Callable[[Path], Provider]]] = [
    ("kernel", _kernel),
    ("local", _local),
    ("local-unsandboxed", _local_unsandboxed),
]


# --- modal, on a fake Modal account (see fake_modal.py): the real provider, worker and streams ---
def _modal_fake(workdir: Path) -> Provider:
    from fake_modal import FakeModalProvider

    return FakeModalProvider(str(workdir))


PROVIDER_FACTORIES.append(("modal-fake", _modal_fake))


@contextlib.asynccontextmanager
async def started_local_providers(workdir: Path, **defaults: Any) -> AsyncIterator[Callable[..., Awaitable[Provider]]]:
    """Yield ``make(**provider_config)``, which starts a LocalProvider in ``workdir``; all are closed on exit."""
    from tinycode_jupyter.providers.local import LocalProvider

    started: list[LocalProvider] = []

    async def make(**config: Any) -> LocalProvider:
        provider = LocalProvider(workdir, **defaults, **config)
        await provider.start()
        started.append(provider)
        return provider

    try:
        yield make
    finally:
        for provider in started:
            await provider.close()
