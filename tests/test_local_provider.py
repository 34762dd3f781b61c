"""The ``local`` provider's own promises: configuration, crash recovery, cleanup, real libraries."""
from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from _require import require_tool
from provider_params import started_local_providers

from tinycode_jupyter.errors import ConfigurationError, ProviderError, SandboxUnavailableError
from tinycode_jupyter.providers.cgroup import CGROUP_ROOT
from tinycode_jupyter.providers.local import LocalProvider
from tinycode_jupyter.providers.registry import create_provider

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=[True, False], ids=["sandboxed", "unsandboxed"])
def sandboxed(request) -> bool:
    if request.param:
        require_tool("bwrap", "the local provider's sandbox")
    return request.param


@pytest.fixture
async def make_provider(tmp_path, sandboxed):
    """Start providers in the current mode; all are closed afterwards."""
    async with started_local_providers(tmp_path, sandbox=sandboxed) as make:
        yield make


def processes_with_cwd(path: Path) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit() and os.readlink(f"/proc/{entry.name}/cwd") == str(path):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_until(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


# --- configuration ------------------------------------------------------------------------------
def test_missing_bwrap_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SandboxUnavailableError, match="apt-get install bubblewrap"):
        LocalProvider(tmp_path)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"sandbx": False}, "unknown key"),
        ({"additional_read_dirs": ["/does/not/exist"]}, "not a directory"),
        ({"python_env_path": "/does/not/exist/python"}, "no Python executable"),
        ({"memory_limit_mb": 0}, "positive int"),
    ],
)
def test_bad_config_is_refused_with_a_clear_message(tmp_path, config, message):
    with pytest.raises(ConfigurationError, match=message):
        LocalProvider(tmp_path, **config)


def test_capabilities_say_whether_it_is_isolated(tmp_path):
    assert LocalProvider(tmp_path, sandbox=False).capabilities.isolated is False
    require_tool("bwrap", "the local provider's sandbox")
    sandboxed = create_provider("local", {}, str(tmp_path))
    assert isinstance(sandboxed, LocalProvider)
    assert sandboxed.capabilities.isolated and not sandboxed.capabilities.network
    assert sandboxed.capabilities.persistent_state


@pytest.mark.parametrize("which", ["venv-dir", "executable"])
async def test_python_env_path_selects_the_interpreter(make_provider, which):
    path = sys.prefix if which == "venv-dir" else sys.executable
    provider = await make_provider(python_env_path=path)
    assert (await provider.run_python("import sys\nsys.prefix")).value == repr(sys.prefix)


async def test_environment_is_an_allowlist_plus_what_the_config_adds(make_provider, monkeypatch, tmp_path):
    monkeypatch.setenv("HOST_ONLY_SECRET", "do-not-leak")
    provider = await make_provider(env={"PROJECT_SETTING": "on"})
    result = await provider.run_python("import os\nsorted(os.environ.items())")
    assert "do-not-leak" not in result.value and "HOST_ONLY_SECRET" not in result.value
    assert "('PROJECT_SETTING', 'on')" in result.value and f"('HOME', '{tmp_path}')" in result.value
    assert "('MPLBACKEND', 'Agg')" in result.value


# --- recovery ------------------------------------------------------------------------------------
async def test_dead_worker_is_reported_and_replaced(make_provider):
    provider = await make_provider()
    await provider.run_python("kept = 1")
    result = await provider.run_python("import os\nos._exit(3)")
    assert result.state_lost and result.error.name == "WorkerDied"
    assert "exit status 3" in result.error.value and "variables" in result.error.value
    after = await provider.run_python("kept")
    assert after.error is not None and after.error.name == "NameError"


async def test_unstoppable_step_is_killed_after_the_grace_period(make_provider):
    provider = await make_provider(interrupt_grace=0.3)
    started = time.perf_counter()
    code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    result = await provider.run_python(code, timeout=0.3)
    assert result.timed_out and result.state_lost and result.error.name == "TimeoutError"
    assert time.perf_counter() - started < 3
    assert (await provider.run_python("'fresh'")).value == "'fresh'"


async def test_custom_tools_survive_a_restart(make_provider):
    provider = await make_provider()

    async def handler(name, args):
        return args["x"] + 1

    provider.set_tool_handler(["increment"], handler)
    assert (await provider.run_python("increment(x=1)")).value == "2"
    await provider.run_python("import os\nos._exit(1)")
    assert (await provider.run_python("increment(x=41)")).value == "42"


async def test_shell_timeout_kills_the_command(make_provider):
    provider = await make_provider()
    started = time.perf_counter()
    result = await provider.run_shell("echo started; sleep 30", timeout=0.5)
    assert result.timed_out and result.stdout == "started\n"
    assert time.perf_counter() - started < 3
    assert (await provider.run_shell("echo next")).stdout == "next\n"


async def test_file_larger_than_the_message_limit_is_refused_cleanly(make_provider, tmp_path):
    provider = await make_provider(max_message_bytes=1_000_000)
    (tmp_path / "big.bin").write_bytes(os.urandom(2_000_000))
    with pytest.raises(ProviderError, match="limit"):
        await provider.read_file("big.bin")
    assert (await provider.run_python("'still the same worker'")).value == "'still the same worker'"


# --- cleanup -------------------------------------------------------------------------------------
async def test_background_processes_are_killed_on_close(make_provider, tmp_path):
    provider = await make_provider()
    await provider.run_shell("sleep 300 &")
    assert wait_until(lambda: len(processes_with_cwd(tmp_path)) >= 2)
    await provider.close()
    assert wait_until(lambda: processes_with_cwd(tmp_path) == [])


HOST_SCRIPT = """
import asyncio, os, sys
from tinycode_jupyter.providers.local import LocalProvider

async def main():
    provider = LocalProvider(sys.argv[1], sandbox=sys.argv[2] == "1")
    await provider.run_shell("sleep 300 &")
    print("ready", flush=True)
    sys.stdin.readline()  # the test checks the worker is up, then says "go" (or kills us)

asyncio.run(main())
"""


@pytest.mark.parametrize("ending", ["exit-without-close", "killed"])
def test_worker_does_not_outlive_its_host(tmp_path, sandboxed, ending):
    host = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOST_SCRIPT), str(tmp_path), "1" if sandboxed else "0"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert host.stdout.readline() == "ready\n"
    assert wait_until(lambda: len(processes_with_cwd(tmp_path)) >= 2)  # the worker and its background job
    if ending == "killed":
        host.send_signal(signal.SIGKILL)
    host.communicate("go\n", timeout=10)
    assert wait_until(lambda: processes_with_cwd(tmp_path) == []), "the worker outlived its host"


def test_one_provider_serves_several_event_loops(tmp_path, sandboxed):
    provider = LocalProvider(tmp_path, sandbox=sandboxed)
    asyncio.run(provider.run_python("x = 20"))
    assert asyncio.run(provider.run_python("x * 2 + 2")).value == "42"
    asyncio.run(provider.close())


def test_worker_outlives_the_thread_that_started_it(tmp_path, sandboxed):
    """In Jupyter each cell may run the agent in a new thread; the sandbox must not die with it."""
    provider = LocalProvider(tmp_path, sandbox=sandboxed)
    starter = threading.Thread(target=lambda: asyncio.run(provider.run_python("x = 1")))
    starter.start()
    starter.join()
    time.sleep(0.2)
    result = asyncio.run(provider.run_python("x"))
    assert result.value == "1" and not result.state_lost
    asyncio.run(provider.close())


async def test_sandbox_process_count_is_held_by_a_cgroup_when_root(tmp_path):
    require_tool("bwrap", "the local provider's sandbox")
    if os.geteuid() != 0:
        pytest.skip("cgroups are only used when the host runs as root")
    before = set(CGROUP_ROOT.glob("**/tinycode-*"))
    provider = LocalProvider(tmp_path, max_processes=40)
    await provider.start()
    created = set(CGROUP_ROOT.glob("**/tinycode-*")) - before
    if not created:
        await provider.close()
        pytest.skip("no writable cgroup hierarchy on this host")
    limits = {path.name: path.read_text().strip() for d in created for path in d.glob("pids.max")}
    assert limits == {"pids.max": "40"}
    await provider.close()
    assert not any(d.exists() for d in created)


# --- real libraries ------------------------------------------------------------------------------
async def test_matplotlib_figures_come_back_as_png(tmp_path):
    require_tool("bwrap", "the local provider's sandbox")
    pytest.importorskip("matplotlib")
    async with LocalProvider(tmp_path) as provider:
        code = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('t')\nplt.show()"
        result = await provider.run_python(code, timeout=60)
        assert result.ok, result
        assert result.stderr == ""  # no "FigureCanvasAgg is non-interactive" noise: the figure is shown
        [figure] = result.displays
        assert set(figure) == {"text/plain", "image/png"}
        assert base64.b64decode(figure["image/png"]).startswith(b"\x89PNG\r\n\x1a\n")
        assert (await provider.run_python("plt.get_fignums()")).value == "[]"
