"""The modal provider against a fake ``modal`` module whose sandbox runs the real worker locally.

See ``fake_modal.py``: only Modal's client surface is faked; the worker, its
protocol, the stream adapters and the process handling are the real ones.
"""
from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fake_modal import FakeModal
from tinycode_jupyter.errors import ConfigurationError, ProviderError, SandboxUnavailableError
from tinycode_jupyter.providers.modal import ModalProvider
from tinycode_jupyter.providers.registry import create_provider
from tinycode_jupyter.providers.worker_client import worker_source

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent


@pytest.fixture
def fake_modal(monkeypatch: pytest.MonkeyPatch):
    fake = FakeModal()
    monkeypatch.setitem(sys.modules, "modal", fake.module())
    yield fake
    fake.shutdown()


@pytest.fixture
def workdir(tmp_path: Path) -> str:
    """The sandbox's work directory; the fake's sandbox shares this machine's file system."""
    return str(tmp_path / "workspace")


async def started(workdir: str, **config) -> ModalProvider:
    provider = ModalProvider(workdir=workdir, **config)
    await provider.start()
    return provider


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def worker_execs(fake: FakeModal) -> list[dict]:
    return [c for c in fake.called("Sandbox.exec") if c["args"][:3] == ("python", "-u", "-c")]


# --- lifecycle ---------------------------------------------------------------------------
async def test_start_creates_one_locked_down_sandbox_and_close_terminates_it(fake_modal: FakeModal, workdir: str):
    provider = await started(workdir)
    assert provider.capabilities.isolated and not provider.capabilities.network
    assert fake_modal.called("App.lookup") == [{"name": "tinycode-jupyter", "create_if_missing": True}]
    [create] = fake_modal.called("Sandbox.create")
    assert create["block_network"] is True and create["name"] is None and create["image_workdir"] == workdir
    [launch] = worker_execs(fake_modal)
    assert launch["args"][3] == worker_source()  # the worker travels as argv data
    assert launch["workdir"] == workdir and launch["text"] is False
    worker_pid = provider.worker_info["pid"]
    assert alive(worker_pid)

    await provider.close()
    await provider.close()
    assert len(fake_modal.called("Sandbox.terminate")) == 1
    assert not provider.started
    assert fake_modal.live_pids() == [] and not alive(worker_pid)


async def test_the_registry_builds_it_by_name(fake_modal: FakeModal, workdir: str):
    provider = create_provider("modal", {"call_timeout": 5}, workdir)
    assert isinstance(provider, ModalProvider) and provider.workdir == workdir
    assert ModalProvider().workdir == "/workspace"  # a path inside the sandbox, not this machine's cwd


async def test_state_persists_across_steps_including_unpicklable_objects(fake_modal: FakeModal, workdir: str):
    async with ModalProvider(workdir=workdir) as provider:
        await provider.run_python("counter = (i * 10 for i in range(5))\nnext(counter)")
        result = await provider.run_python("import threading\nlock = threading.Lock()\nnext(counter)")
        assert result.ok and result.value == "10"
        assert (await provider.run_python("next(counter), lock.locked()")).value == "(20, False)"


async def test_stdout_stderr_and_error_tracebacks_come_back(fake_modal: FakeModal, workdir: str):
    async with ModalProvider(workdir=workdir) as provider:
        result = await provider.run_python("import sys\nprint('out')\nprint('err', file=sys.stderr)\n'value'")
        assert (result.stdout, result.stderr, result.value) == ("out\n", "err\n", "'value'")
        failed = await provider.run_python("def f():\n    return 1 / 0\nf()")
        assert failed.error is not None and failed.error.name == "ZeroDivisionError"
        assert "return 1 / 0" in failed.error.traceback and not failed.state_lost
        assert (await provider.run_python("6 * 7")).value == "42"


async def test_shell_runs_in_the_work_directory_through_the_worker(fake_modal: FakeModal, workdir: str):
    async with ModalProvider(workdir=workdir) as provider:
        result = await provider.run_shell("pwd; echo oops >&2; exit 3")
        assert (result.stdout.strip(), result.stderr.strip(), result.exit_code) == (workdir, "oops", 3)
    assert len(worker_execs(fake_modal)) == 1  # no exec per command


def test_the_provider_outlives_event_loops(fake_modal: FakeModal, workdir: str):
    """A notebook may run each agent call in a new loop; a loop's end must not cost the worker."""
    provider = ModalProvider(workdir=workdir)
    asyncio.run(provider.start())
    pid = provider.worker_info["pid"]
    asyncio.run(provider.run_python("x = 20"))
    assert asyncio.run(provider.run_python("x + 1")).value == "21"
    assert provider.worker_info["pid"] == pid and len(worker_execs(fake_modal)) == 1
    asyncio.run(provider.close())
    assert fake_modal.live_pids() == []


# --- timeouts and interrupts -------------------------------------------------------------------
async def test_a_timeout_interrupts_the_step_and_keeps_state(fake_modal: FakeModal, workdir: str):
    async with ModalProvider(workdir=workdir) as provider:
        await provider.run_python("kept = 'yes'")
        began = time.perf_counter()
        result = await provider.run_python("while True:\n    pass", timeout=0.5)
        assert time.perf_counter() - began < 3
        assert result.timed_out and not result.state_lost and not result.ok
        assert (await provider.run_python("kept")).value == "'yes'"


async def test_a_step_that_ignores_interrupts_is_killed_and_the_worker_restarted(fake_modal: FakeModal, workdir: str):
    async with ModalProvider(workdir=workdir, interrupt_grace=0.5) as provider:
        await provider.run_python("lost = 1")
        old_pid = provider.worker_info["pid"]
        code = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.01)"
        began = time.perf_counter()
        result = await provider.run_python(code, timeout=0.5)
        assert time.perf_counter() - began < 5
        assert result.timed_out and result.state_lost
        assert not alive(old_pid)
        kills = [c["args"] for c in fake_modal.called("Sandbox.exec") if c["args"][:2] == ("python", "-c")]
        assert [args[-1] for args in kills] == [str(old_pid)]  # killed by pid, passed as data
        assert len(worker_execs(fake_modal)) == 2
        after = await provider.run_python("lost")
        assert after.error is not None and after.error.name == "NameError"
        assert (await provider.run_python("1 + 1")).value == "2"


async def test_interrupt_stops_a_running_step(fake_modal: FakeModal, workdir: str):
    async with ModalProvider(workdir=workdir) as provider:
        step = asyncio.ensure_future(provider.run_python("import time\nfor _ in range(1000):\n    time.sleep(0.01)"))
        await asyncio.sleep(0.3)
        await provider.interrupt()
        result = await asyncio.wait_for(step, 5)
        assert result.error is not None and result.error.name == "KeyboardInterrupt"
        assert not result.timed_out and not result.state_lost


async def test_a_worker_that_dies_is_replaced(fake_modal: FakeModal, workdir: str):
    async with ModalProvider(workdir=workdir) as provider:
        result = await provider.run_python("import os\nos._exit(3)")
        assert result.state_lost and result.error is not None
        assert "exit status 3" in result.error.value
        assert (await provider.run_python("'back'")).value == "'back'"


async def test_a_sandbox_that_ended_by_itself_is_replaced_and_the_step_says_so(fake_modal: FakeModal, workdir: str):
    async with ModalProvider(workdir=workdir) as provider:
        await provider.run_python("x = 1")
        first_id = provider.sandbox_id
        fake_modal.sandboxes[0].terminate()  # as when Modal's timeout ends it
        result = await provider.run_python("x")
        assert result.state_lost and result.error is not None
        assert "sandbox itself ended" in result.error.value and "without the files" in result.error.value
        assert provider.sandbox_id != first_id and len(fake_modal.called("Sandbox.create")) == 2
        assert (await provider.run_python("'new sandbox'")).value == "'new sandbox'"
    assert [c["sandbox"] for c in fake_modal.called("Sandbox.terminate")] == [fake_modal.sandboxes[1].object_id]
    assert fake_modal.live_pids() == []


# --- files and tools --------------------------------------------------------------------------------
async def test_files_round_trip_and_code_sees_them(fake_modal: FakeModal, workdir: str):
    payload = bytes(range(256)) * 4
    async with ModalProvider(workdir=workdir) as provider:
        await provider.write_file("sub/data.bin", payload)
        assert await provider.read_file(f"{workdir}/sub/data.bin") == payload
        assert (await provider.run_python("len(open('sub/data.bin', 'rb').read())")).value == "1024"
        with pytest.raises(FileNotFoundError):
            await provider.read_file("missing.txt")


async def test_a_file_larger_than_modals_stdin_buffer_round_trips(fake_modal: FakeModal, workdir: str):
    payload = os.urandom(13 * 1024 * 1024)  # base64 makes the request ~17 MiB, over Modal's 16 MiB buffer
    async with ModalProvider(workdir=workdir) as provider:
        await provider.write_file("big.bin", payload)
        assert await provider.read_file("big.bin") == payload


async def test_code_in_the_sandbox_can_call_host_tools(fake_modal: FakeModal, workdir: str):
    async def handler(name: str, args: dict) -> object:
        return {"tool": name, "doubled": args["x"] * 2}

    async with ModalProvider(workdir=workdir) as provider:
        provider.set_tool_handler(["double"], handler)
        result = await provider.run_python("double(x=21)['doubled']")
        assert result.value == "42"


# --- configuration -------------------------------------------------------------------------------
async def test_configuration_reaches_modal(fake_modal: FakeModal, workdir: str):
    fake_modal.secret_values["openai"] = {"OPENAI_API_KEY": "sk-from-secret"}
    config = dict(app_name="my-app", pip_packages=["numpy", "pandas>=2"], modal_secrets=["openai"],
                  timeout=600, idle_timeout=120, cpu=2.0, memory=4096, allow_network=True)  # fmt: skip
    async with ModalProvider(workdir=workdir, **config) as provider:
        assert provider.capabilities.network
        result = await provider.run_python("import os\nos.environ['OPENAI_API_KEY']")
        assert result.value == "'sk-from-secret'"
    [create] = fake_modal.called("Sandbox.create")
    assert create["app"] == "my-app" and create["packages"] == ("numpy", "pandas>=2")
    assert create["secrets"] == ["openai"] and create["block_network"] is False
    assert (create["timeout"], create["idle_timeout"], create["cpu"], create["memory"]) == (600, 120, 2.0, 4096)


@pytest.mark.parametrize(
    "config, message",
    [
        ({"pip_packagez": ["numpy"]}, "unknown key"),
        ({"pip_packages": "numpy pandas"}, "list of names"),
        ({"keep_alive": True}, "sandbox_name"),
        ({"call_timeout": 0}, "positive"),
    ],
)
def test_bad_configuration_is_rejected_before_anything_starts(config: dict, message: str):
    with pytest.raises(ConfigurationError, match=message):
        ModalProvider(**config)


def test_a_relative_work_directory_is_rejected():
    with pytest.raises(ConfigurationError, match="absolute"):
        ModalProvider(workdir="project")


async def test_a_missing_secret_is_a_provider_error_and_nothing_is_left(fake_modal: FakeModal, workdir: str):
    provider = ModalProvider(workdir=workdir, modal_secrets=["nope"])
    with pytest.raises(ProviderError, match="create the sandbox.*nope"):
        await provider.start()
    assert not provider.started and fake_modal.live_pids() == []


# --- reattach and keep-alive ----------------------------------------------------------------------
async def test_a_named_sandbox_is_reattached_by_a_new_provider(fake_modal: FakeModal, workdir: str):
    first = await started(workdir, sandbox_name="nb-1", keep_alive=True)
    await first.run_python("open('notes.txt', 'w').write('kept on disk')\nvariable = 1")
    first_worker = first.worker_info["pid"]
    await first.close()
    assert fake_modal.called("Sandbox.terminate") == []
    assert fake_modal.running("tinycode-jupyter", "nb-1") is not None
    assert not alive(first_worker)  # the worker is stopped even though the sandbox stays

    second = await started(workdir, sandbox_name="nb-1")
    assert second.reattached and not first.reattached
    assert len(fake_modal.called("Sandbox.create")) == 1
    assert fake_modal.called("Sandbox.from_name")[-1] == {"app_name": "tinycode-jupyter", "name": "nb-1"}
    assert (await second.run_python("open('notes.txt').read()")).value == "'kept on disk'"
    assert (await second.run_python("variable")).error.name == "NameError"
    await second.close()  # not keep_alive: a reattached sandbox is terminated too
    assert len(fake_modal.called("Sandbox.terminate")) == 1
    assert fake_modal.running("tinycode-jupyter", "nb-1") is None and fake_modal.live_pids() == []


async def test_a_named_sandbox_without_keep_alive_is_terminated_on_close(fake_modal: FakeModal, workdir: str):
    provider = await started(workdir, sandbox_name="nb-2")
    assert not provider.reattached and fake_modal.called("Sandbox.create")[0]["name"] == "nb-2"
    await provider.close()
    assert fake_modal.running("tinycode-jupyter", "nb-2") is None


# --- our own timeout around Modal's calls ----------------------------------------------------------
@pytest.mark.parametrize(
    "hanging, config, what",
    [
        ("App.lookup", {"call_timeout": 0.3}, "look up the Modal app"),
        ("Sandbox.create", {"create_timeout": 0.3}, "create the sandbox"),
        ("Sandbox.exec", {"startup_timeout": 0.3}, "start the worker"),
    ],
)
async def test_a_hanging_modal_call_fails_fast_with_a_clear_error(fake_modal: FakeModal, workdir: str, hanging, config, what):
    fake_modal.hang_on.add(hanging)
    provider = ModalProvider(workdir=workdir, **config)
    began = time.perf_counter()
    [setting] = config
    with pytest.raises(ProviderError, match=f"did not answer within 0.3s when trying to {what}.*'{setting}'"):
        await provider.start()
    assert time.perf_counter() - began < 2
    assert not provider.started
    if hanging == "Sandbox.exec":  # the sandbox was created: it must not be left running
        assert len(fake_modal.called("Sandbox.terminate")) == 1


async def test_a_hanging_terminate_is_bounded_and_still_closes(fake_modal: FakeModal, workdir: str):
    provider = await started(workdir, call_timeout=0.3)
    fake_modal.hang_on.add("Sandbox.terminate")
    began = time.perf_counter()
    with pytest.raises(ProviderError, match="terminate the sandbox"):
        await provider.close()
    assert time.perf_counter() - began < 2 and not provider.started


# --- missing package, missing credentials ------------------------------------------------------------
async def test_without_the_modal_package_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "modal", None)  # makes `import modal` fail like a missing package
    with pytest.raises(SandboxUnavailableError, match=r"pip install tinycode_jupyter\[modal\]"):
        await ModalProvider().start()


async def test_without_credentials_the_error_says_how_to_authenticate(fake_modal: FakeModal, workdir: str):
    fake_modal.authenticated = False
    with pytest.raises(SandboxUnavailableError, match="modal token new.*MODAL_TOKEN_ID"):
        await ModalProvider(workdir=workdir).start()
    assert fake_modal.sandboxes == []


def _run_python(script: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", script, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
    env.update(HOME=str(home), PYTHONPATH=os.pathsep.join([str(TESTS_DIR), str(REPO)]))
    return env


# --- at interpreter exit ------------------------------------------------------------------------------
_EXIT_SCRIPT = """
import asyncio, atexit, json, sys
from fake_modal import FakeModal
fake = FakeModal(hang_on=set(json.loads(sys.argv[3])))
sys.modules["modal"] = fake.module()
atexit.register(lambda: print(json.dumps([name for name, _ in fake.calls])))  # runs after the provider's hook
from tinycode_jupyter.providers.modal import ModalProvider
async def main():
    provider = ModalProvider(workdir=sys.argv[1], **json.loads(sys.argv[2]))
    await provider.start()
    print(provider.worker_info["pid"], flush=True)
asyncio.run(main())
"""


@pytest.mark.parametrize(
    "config, hanging, terminated",
    [
        ({}, [], True),
        ({"sandbox_name": "kept", "keep_alive": True}, [], False),
        ({"call_timeout": 0.5}, ["Sandbox.terminate"], True),  # tried, and given up on after call_timeout
    ],
)
def test_the_sandbox_is_terminated_at_interpreter_exit_unless_kept_alive(tmp_path: Path, config: dict, hanging: list, terminated: bool):
    began = time.perf_counter()
    done = _run_python(_EXIT_SCRIPT, _clean_env(tmp_path), str(tmp_path / "ws"), json.dumps(config), json.dumps(hanging))
    assert done.returncode == 0, done.stderr
    assert time.perf_counter() - began < 15
    pid_line, calls_line = done.stdout.strip().splitlines()
    assert ("Sandbox.terminate" in json.loads(calls_line)) is terminated
    if terminated and not hanging:
        assert not alive(int(pid_line))
    if hanging:
        assert "not terminated within 0.5s at exit" in done.stderr


# --- against the real modal package (no network: it fails at once without credentials) ------------------
_REAL_MODAL_SCRIPT = """
import asyncio, inspect, json, time, modal
import fake_modal as fake
from tinycode_jupyter.errors import SandboxUnavailableError
from tinycode_jupyter.providers.modal import ModalProvider

pairs = {
    "App.lookup": (modal.App.lookup, fake.App.lookup),
    "Sandbox.create": (modal.Sandbox.create, fake.Sandbox.create),
    "Sandbox.from_name": (modal.Sandbox.from_name, fake.Sandbox.from_name),
    "Sandbox.exec": (modal.Sandbox.exec, fake.Sandbox.exec),
    "Sandbox.terminate": (modal.Sandbox.terminate, fake.Sandbox.terminate),
    "Sandbox.poll": (modal.Sandbox.poll, fake.Sandbox.poll),
    "ContainerProcess.wait": (modal.container_process.ContainerProcess.wait, fake.ContainerProcess.wait),
    "ContainerProcess.poll": (modal.container_process.ContainerProcess.poll, fake.ContainerProcess.poll),
    "StreamReader.read": (modal.io_streams.StreamReader.read, fake.StreamReader.read),
    "StreamWriter.drain": (modal.io_streams.StreamWriter.drain, fake.StreamWriter.drain),
    "StreamWriter.write": (modal.io_streams.StreamWriter.write, fake.StreamWriter.write),
    "StreamWriter.write_eof": (modal.io_streams.StreamWriter.write_eof, fake.StreamWriter.write_eof),
    "Image.debian_slim": (modal.Image.debian_slim, fake.Image.debian_slim),
    "Image.pip_install": (modal.Image.pip_install, fake.Image.pip_install),
    "Image.workdir": (modal.Image.workdir, fake.Image.workdir),
    "Secret.from_name": (modal.Secret.from_name, fake.Secret.from_name),
}
problems = []
for name, (real, ours) in pairs.items():
    if hasattr(real, "aio") != hasattr(ours, "aio"):
        problems.append(f"{name}: .aio differs")
    real_params = set(inspect.signature(real).parameters) - {"self", "cls"}
    our_params = set(inspect.signature(getattr(ours, "func", ours)).parameters) - {"self", "cls"}
    if our_params - real_params:
        problems.append(f"{name}: the fake has {sorted(our_params - real_params)} that Modal lacks")
for name in ("AuthError", "NotFoundError", "AlreadyExistsError"):
    if not issubclass(getattr(modal.exception, name), modal.exception.Error):
        problems.append(f"modal.exception.{name} is not a modal.exception.Error")

async def start_without_credentials():
    began = time.perf_counter()
    try:
        await ModalProvider(call_timeout=10).start()
    except SandboxUnavailableError as exc:
        return {"seconds": time.perf_counter() - began, "message": str(exc)}
    return {"seconds": time.perf_counter() - began, "message": "started?!"}

print(json.dumps({"api_problems": problems, "no_credentials": asyncio.run(start_without_credentials())}))
"""


@pytest.fixture(scope="module")
def real_modal_report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One subprocess (importing modal takes seconds) that checks the fake's surface and a start without credentials."""
    if importlib.util.find_spec("modal") is None:
        pytest.skip("the optional modal package is not installed (pip install tinycode_jupyter[modal])")
    done = _run_python(_REAL_MODAL_SCRIPT, _clean_env(tmp_path_factory.mktemp("home")))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_fake_matches_the_real_modal_api(real_modal_report: dict):
    assert real_modal_report["api_problems"] == []


def test_the_real_modal_without_credentials_fails_fast_and_clearly(real_modal_report: dict):
    outcome = real_modal_report["no_credentials"]
    assert "modal token new" in outcome["message"] and "MODAL_TOKEN_ID" in outcome["message"]
    assert outcome["seconds"] < 10
