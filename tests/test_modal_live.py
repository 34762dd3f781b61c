"""The modal provider against the real Modal service (opt-in, costs a few cents of sandbox time).

Runs only when ``TINYCODE_RUN_MODAL=1`` and Modal credentials exist
(``MODAL_TOKEN_ID``/``MODAL_TOKEN_SECRET``, or a token file written by
``modal token new``). Otherwise it skips, even under ``TINYCODE_REQUIRE_ALL=1``:
credentials cannot exist in CI, and the same code paths run there against the
fake in ``test_modal_provider.py``.
"""
from __future__ import annotations

import asyncio
import importlib.util
import os
import time
from pathlib import Path

import pytest

def _has_credentials() -> bool:
    if os.environ.get("MODAL_TOKEN_ID") and os.environ.get("MODAL_TOKEN_SECRET"):
        return True
    return Path(os.environ.get("MODAL_CONFIG_PATH", "~/.modal.toml")).expanduser().is_file()


def _skip_reason() -> str | None:
    if os.environ.get("TINYCODE_RUN_MODAL") != "1":
        return "live Modal test: set TINYCODE_RUN_MODAL=1 to run it"
    if importlib.util.find_spec("modal") is None:
        return "live Modal test: pip install tinycode_jupyter[modal]"
    if not _has_credentials():
        return "live Modal test: no Modal credentials (run `modal token new` or set MODAL_TOKEN_ID/MODAL_TOKEN_SECRET)"
    return None


_SKIP = _skip_reason()
pytestmark = [pytest.mark.timeout(900), pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")]


async def test_a_real_sandbox_keeps_state_between_steps_and_is_terminated_on_close(record_property):
    import modal

    from tinycode_jupyter.providers.modal import ModalProvider

    provider = ModalProvider(app_name="tinycode-jupyter-tests", timeout=600, call_timeout=60)
    began = time.perf_counter()
    await provider.start()
    record_property("cold_start_s", round(time.perf_counter() - began, 2))
    try:
        first = await provider.run_python("import sys\nsteps = [sys.version_info[:2]]\nprint('first')")
        assert first.ok and first.stdout == "first\n", first
        began = time.perf_counter()
        second = await provider.run_python("steps.append('second')\nlen(steps)")
        record_property("warm_step_s", round(time.perf_counter() - began, 3))
        assert second.ok and second.value == "2", second
        shell = await provider.run_shell("pwd")
        assert shell.stdout.strip() == provider.workdir and shell.exit_code == 0
        await provider.write_file("hello.txt", b"from the host")
        assert (await provider.run_python("open('hello.txt').read()")).value == "'from the host'"
        sandbox_id = provider.sandbox_id
    finally:
        await provider.close()
    sandbox = await modal.Sandbox.from_id.aio(sandbox_id)
    await asyncio.wait_for(sandbox.wait.aio(raise_on_termination=False), 120)  # returns once it has stopped
