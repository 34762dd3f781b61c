"""Bad input to the worker and its providers is a clear error: never a crash, a hang or a lost sandbox.

Each test is named after the input. Through the raw worker (bytes the host
client never sends), the host client (a fake worker's replies), and the real
providers: LocalProvider in bubblewrap and unsandboxed, and the kernel provider
where the code under test is shared with it (shell steps, file operations).
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from pathlib import Path

import pytest

from tinycode_jupyter.errors import ProviderError
from tinycode_jupyter.providers.worker_client import WorkerClient, WorkerProtocolError

from _require import require_tool
from provider_params import started_local_providers
from raw_worker import RawWorker

pytestmark = pytest.mark.timeout(120)
DEEP = 100_000
DEEP_LIST = f"deep = []\nfor _ in range({DEEP}):\n    deep = [deep]\n"


@pytest.fixture
async def raw(tmp_path):
    worker = await RawWorker.start(str(tmp_path), max_message_bytes=1_000_000)
    yield worker
    await worker.close()


@pytest.fixture(params=["local", "local-unsandboxed"])
async def provider(request, tmp_path):
    if request.param == "local":
        require_tool("bwrap", "the local provider's sandbox")
    async with started_local_providers(tmp_path, sandbox=request.param == "local") as make:
        yield await make(max_message_bytes=1_000_000)


@pytest.fixture(params=["local", "local-unsandboxed", "kernel"])
async def any_provider(request, tmp_path):
    if request.param == "kernel":
        from tinycode_jupyter.providers.kernel import KernelProvider

        async with KernelProvider(str(tmp_path)) as kernel:
            yield kernel
        return
    if request.param == "local":
        require_tool("bwrap", "the local provider's sandbox")
    async with started_local_providers(tmp_path, sandbox=request.param == "local") as make:
        yield await make()


async def state_kept(provider) -> bool:
    return (await provider.run_python("kept")).value == "'yes'"


# --- the worker channel ------------------------------------------------------------------------
async def test_request_nested_100k_deep_is_an_error_for_that_request_and_the_worker_keeps_its_state(raw):
    await raw.run(1, "kept = 'yes'")
    nested = b'{"op": "exec", "code": "1", "pad": ' + b"[" * DEEP + b"]" * DEEP + b', "id": 2}\n'
    await raw.send(nested)
    reply = await raw.reply()
    assert reply["id"] == 2 and reply["error"]["name"] == "ProtocolError"
    assert "nested too deeply" in reply["error"]["value"]
    assert (await raw.run(3, "kept"))["value"] == "'yes'"


async def test_request_that_is_not_json_is_an_error_and_the_worker_keeps_its_state(raw):
    await raw.run(1, "kept = 'yes'")
    await raw.send(b"this is not json\n", b"[1, 2]\n")
    for _ in range(2):
        reply = await raw.reply()
        assert reply["id"] is None and reply["error"]["name"] == "ProtocolError"
    assert (await raw.run(2, "kept"))["value"] == "'yes'"


async def test_request_longer_than_the_limit_is_refused_and_the_worker_keeps_its_state(raw):
    await raw.run(1, "kept = 'yes'")
    await raw.send({"id": 2, "op": "exec", "code": "x = '" + "y" * 2_000_000 + "'"})
    reply = await raw.reply()
    assert reply["error"]["name"] == "ProtocolError" and "longer than the 1000000-byte limit" in reply["error"]["value"]
    assert (await raw.run(3, "kept"))["value"] == "'yes'"


async def test_tool_result_nested_100k_deep_is_a_tool_error_in_the_caller(raw):
    await raw.send({"id": 1, "op": "define_tools", "names": ["lookup"]})
    assert "error" not in await raw.reply()
    await raw.send({"id": 2, "op": "exec", "code": "kept = 'yes'\ntry:\n    lookup(q=1)\nexcept ToolCallError as e:\n    error = str(e)\nerror"})
    call = await raw.reply()
    assert call["type"] == "tool_call"
    await raw.send(b'{"type": "tool_result", "id": "' + call["id"].encode() + b'", "ok": true, "value": '
                   + b"[" * DEEP + b"]" * DEEP + b"}\n")  # fmt: skip
    reply = await raw.reply()
    assert reply["id"] == 2 and reply["error"] is None and "nested too deeply" in reply["value"]
    assert (await raw.run(3, "kept"))["value"] == "'yes'"


def fake_worker(reply: str) -> list[str]:
    """A stand-in worker that reads one request and answers it with ``reply`` (Python bytes expression)."""
    body = f"import sys, json, time\nrequest = json.loads(sys.stdin.readline())\nsys.stdout.buffer.write({reply})\n"
    return [sys.executable, "-c", body + "sys.stdout.flush()\ntime.sleep(30)"]


@pytest.fixture
async def fake(request):
    started = []

    async def start(reply: str, **options) -> WorkerClient:
        process = await asyncio.create_subprocess_exec(*fake_worker(reply), stdin=asyncio.subprocess.PIPE,
                                                       stdout=asyncio.subprocess.PIPE)  # fmt: skip
        started.append(process)
        return WorkerClient(process.stdout, process.stdin, **options)

    yield start
    for process in started:
        process.kill()
        await process.wait()


async def test_reply_nested_100k_deep_is_a_protocol_error_not_a_recursion_error(fake):
    client = await fake(f"b'{{\"type\": \"result\", \"id\": ' + str(request['id']).encode() + b', \"value\": ' "
                        f"+ b'[' * {DEEP} + b']' * {DEEP} + b'}}\\n'")  # fmt: skip
    with pytest.raises(WorkerProtocolError, match="nested too deeply"):
        await client.request({"op": "ping"}, timeout=10)


async def test_tool_call_with_arguments_nested_100k_deep_is_a_protocol_error(fake):
    client = await fake(f"b'{{\"type\": \"tool_call\", \"id\": \"tool-1\", \"name\": \"t\", \"args\": {{\"a\": ' "
                        f"+ b'[' * {DEEP} + b']' * {DEEP} + b'}}}}\\n'")  # fmt: skip
    with pytest.raises(WorkerProtocolError, match="nested too deeply"):
        await client.request({"op": "exec", "code": ""}, timeout=10)


# --- values, reprs and tools through the real provider -----------------------------------------
async def test_last_expression_nested_100k_deep_does_not_crash_the_worker(provider):
    await provider.run_python("kept = 'yes'")
    result = await provider.run_python(DEEP_LIST + "deep")
    assert result.error is None and "repr() failed" in result.value and not result.state_lost
    assert await state_kept(provider)


async def test_exception_holding_a_value_nested_100k_deep_is_reported(provider):
    await provider.run_python("kept = 'yes'")
    result = await provider.run_python(DEEP_LIST + "raise ValueError(deep)")
    assert result.error.name == "ValueError" and not result.state_lost
    assert await state_kept(provider)


async def test_display_of_a_value_nested_100k_deep_is_shown_as_unprintable(provider):
    await provider.run_python("kept = 'yes'")
    result = await provider.run_python(DEEP_LIST + "display(deep)\n'after'")
    assert result.value == "'after'" and "repr() failed" in result.displays[0]["text/plain"]
    assert await state_kept(provider)


async def test_tool_returning_a_value_nested_100k_deep_is_a_tool_error(provider):
    async def handler(name, args):
        deep: list = []
        for _ in range(DEEP):
            deep = [deep]
        return deep

    provider.set_tool_handler(["deep_tool"], handler)
    await provider.run_python("kept = 'yes'")
    result = await provider.run_python("deep_tool()")
    assert result.error.name == "ToolCallError" and "cannot be sent as JSON" in result.error.value
    assert not result.state_lost and await state_kept(provider)


async def test_tool_arguments_nested_too_deeply_are_refused_in_the_calling_code(provider):
    calls = []

    async def handler(name, args):
        calls.append(args)

    provider.set_tool_handler(["sink"], handler)
    await provider.run_python("kept = 'yes'")
    result = await provider.run_python(DEEP_LIST.replace(str(DEEP), "500") + "sink(x=deep)")
    assert result.error.name == "ValueError" and "levels deep" in result.error.value
    assert calls == [] and not result.state_lost and await state_kept(provider)


async def test_file_larger_than_a_reply_can_carry_is_a_clear_error(provider, tmp_path):
    await provider.run_python("kept = 'yes'")
    (tmp_path / "big.bin").write_bytes(b"x" * 2_000_000)
    with pytest.raises(ProviderError, match="OutputTooLarge"):
        await provider.read_file("big.bin")
    assert await state_kept(provider)


async def test_write_larger_than_a_request_can_carry_is_refused_before_sending(provider):
    await provider.run_python("kept = 'yes'")
    with pytest.raises(ValueError, match="the worker accepts at most"):
        await provider.write_file("big.bin", b"x" * 2_000_000)
    assert await state_kept(provider)


# --- shell steps leave no process behind -------------------------------------------------------
ESCAPES = ("sleep {m} & disown; setsid sleep {m} & nohup sleep {m} >/dev/null 2>&1 & "
           "(setsid sh -c 'sleep {m} &'); (env -i setsid bash -c 'sleep {m} & sleep {m}' &); sleep {m}")  # fmt: skip


def marker() -> str:
    """A sleep argument no other process has: ``sleep 4242.5<random digits>``."""
    return f"4242.5{secrets.randbelow(10**9)}"


def processes_with(argument: str) -> list[int]:
    """Live processes (zombies have no command line) with ``argument`` in their argv."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argument.encode() in argv:
            found.append(int(entry))
    return found


@pytest.fixture
def kill_leftovers():
    """Kill, by pid, what a failing test left running."""
    arguments: list[str] = []
    yield arguments
    for argument in arguments:
        for pid in processes_with(argument):
            os.kill(pid, 9)


async def test_timed_out_shell_with_setsid_nohup_and_disown_leaves_no_process(any_provider, kill_leftovers):
    kill_leftovers.append(m := marker())
    await any_provider.run_python("kept = 'yes'")
    result = await any_provider.run_shell(ESCAPES.format(m=m), timeout=1.5)
    assert result.timed_out and not result.state_lost
    assert processes_with(m) == []
    assert await state_kept(any_provider)


async def test_interrupted_shell_with_setsid_nohup_and_disown_leaves_no_process(provider, kill_leftovers, tmp_path):
    kill_leftovers.append(m := marker())
    await provider.run_python("kept = 'yes'")
    step = asyncio.ensure_future(provider.run_shell(ESCAPES.format(m=m) + "; true"))
    while len(processes_with(m)) < 7:  # every escape has started
        await asyncio.sleep(0.05)
    await provider.interrupt()
    result = await asyncio.wait_for(step, timeout=20)
    assert result.error.name == "KeyboardInterrupt" and not result.state_lost
    assert processes_with(m) == []
    assert await state_kept(provider)


async def test_cancelled_kernel_shell_leaves_no_process(tmp_path, kill_leftovers):
    from tinycode_jupyter.providers.kernel import KernelProvider

    kill_leftovers.append(m := marker())
    async with KernelProvider(str(tmp_path)) as kernel:
        step = asyncio.ensure_future(kernel.run_shell(ESCAPES.format(m=m)))
        while len(processes_with(m)) < 7:
            await asyncio.sleep(0.05)
        step.cancel()
        with pytest.raises(asyncio.CancelledError):
            await step
    assert processes_with(m) == []


async def test_kernel_shell_background_job_holding_the_output_does_not_hold_the_step(tmp_path, kill_leftovers):
    from tinycode_jupyter.providers.kernel import KernelProvider

    kill_leftovers.append(m := marker())
    async with KernelProvider(str(tmp_path)) as kernel:
        result = await asyncio.wait_for(kernel.run_shell(f"echo started; sleep {m} & echo done"), timeout=20)
    assert result.ok and result.stdout == "started\ndone\n"


# --- file operations -----------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["read_bytes", "read_text", "update_text", "write_bytes"])
async def test_fifo_is_refused_not_waited_on(any_provider, tmp_path, op):
    os.mkfifo(tmp_path / "pipe")
    args = {"read_bytes": {}, "read_text": {}, "update_text": {"old_content": "a", "new_content": "b"},
            "write_bytes": {"data": b"x"}}[op]  # fmt: skip
    with pytest.raises((ValueError, ProviderError), match="not a regular file"):
        await asyncio.wait_for(any_provider.file_op(op, path=str(tmp_path / "pipe"), **args), timeout=30)


async def test_fifo_with_a_reader_is_not_written(any_provider, tmp_path):
    os.mkfifo(tmp_path / "pipe")
    reader = os.open(tmp_path / "pipe", os.O_RDONLY | os.O_NONBLOCK)
    try:
        with pytest.raises((ValueError, ProviderError), match="not a regular file"):
            await any_provider.write_file(str(tmp_path / "pipe"), b"x")
        assert os.read(reader, 10) == b""
    finally:
        os.close(reader)


async def test_character_device_is_refused_not_read_forever(any_provider):
    with pytest.raises((ValueError, ProviderError), match="character device"):
        await asyncio.wait_for(any_provider.read_file("/dev/zero"), timeout=30)


async def test_grep_skips_a_fifo_instead_of_waiting_on_it(any_provider, tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "a.txt").write_text("needle\n")
    found = await asyncio.wait_for(any_provider.file_op("grep", pattern="needle", root=str(tmp_path)), timeout=30)
    assert found["paths"] == [str(tmp_path / "a.txt")]


async def test_glob_through_symlink_loops_finishes(any_provider, tmp_path):
    (tmp_path / "x.py").write_text("")
    for name in "abc":
        os.symlink(".", tmp_path / name)
    found = await asyncio.wait_for(any_provider.file_op("glob", pattern="**/*.py", root=str(tmp_path)), timeout=30)
    assert found["paths"] == [str(tmp_path / "x.py")]


async def test_grep_does_not_follow_a_symlink_to_a_file_outside_the_tree(any_provider, tmp_path, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "secret.txt"
    outside.write_text("needle\n")
    os.symlink(outside, tmp_path / "link.txt")
    found = await any_provider.file_op("grep", pattern="needle", root=str(tmp_path))
    assert found["paths"] == []


async def test_symlink_to_a_host_file_is_read_inside_the_sandbox_not_on_the_host(tmp_path, tmp_path_factory):
    require_tool("bwrap", "the local provider's sandbox")
    secret = tmp_path_factory.mktemp("host-only") / "secret.txt"
    secret.write_text("host secret")
    os.symlink(secret, tmp_path / "link.txt")
    async with started_local_providers(tmp_path) as make:
        provider = await make()
        with pytest.raises(FileNotFoundError):  # the target is not in the sandbox's view
            await provider.read_file("link.txt")
        preview = await provider.run_shell("cat link.txt")
        assert "host secret" not in preview.stdout


async def test_file_ops_keep_working_after_refusals(provider, tmp_path):
    os.mkfifo(tmp_path / "pipe")
    await provider.run_python("kept = 'yes'")
    with pytest.raises(ValueError, match="not a regular file"):
        await provider.read_file("pipe")
    await provider.write_file("ok.txt", "fine")
    assert await provider.read_file("ok.txt") == b"fine" and await state_kept(provider)
    assert json.loads(json.dumps(await provider.file_op("read_text", path="ok.txt")))["lines"] == ["fine"]
