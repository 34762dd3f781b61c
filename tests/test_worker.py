"""The worker protocol end to end: the real worker (both launch forms) and misbehaving fakes.

These drive :class:`WorkerClient` over plain asyncio subprocess streams, the way
a remote launcher (Modal) does, with no sandbox involved.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap

import pytest

from tinycode_jupyter.errors import ProviderError
from tinycode_jupyter.providers import worker
from tinycode_jupyter.providers.worker_client import (
    WORKER_PATH,
    WorkerClient,
    WorkerDied,
    WorkerProtocolError,
    WorkerUnresponsive,
    worker_source,
)
from tinycode_jupyter.providers.worker_provider import rebuilt_exception

from _require import require_tool
from provider_params import started_local_providers
from raw_worker import RawWorker

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def launch():
    """Start a process and a WorkerClient on its pipes; every process is reaped afterwards."""
    started: list[tuple[asyncio.subprocess.Process, WorkerClient]] = []

    async def start(*argv: str, **client_options) -> WorkerClient:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        started.append((process, WorkerClient(process.stdout, process.stdin, **client_options)))
        return started[-1][1]

    yield start
    for process, client in started:
        await client.close()
        if process.returncode is None:
            process.kill()
        await asyncio.wait_for(process.stdout.read(), 10)  # drain what the client left unread: wait() needs the EOF
        await process.wait()


@pytest.fixture(params=["script", "source"])
async def client(request, launch, tmp_path, monkeypatch):
    """The real worker, started as ``worker.py`` or as ``-c worker_source()``."""
    monkeypatch.chdir(tmp_path)
    argv = [str(WORKER_PATH)] if request.param == "script" else ["-c", worker_source()]
    return await launch(sys.executable, "-u", *argv, json.dumps({"max_output_bytes": 2000}), interrupt_grace=1.0)


async def run(client: WorkerClient, code: str, timeout: float | None = None) -> dict:
    return await client.request({"op": "exec", "code": code, "timeout": timeout}, timeout)


async def test_both_launch_forms_serve_every_op(client, tmp_path):
    assert (await client.request({"op": "ping"}))["value"]["python"] == sys.version.split()[0]
    reply = await run(client, "import sys\nprint(sys.path[0] == '', __name__)\n2 ** 10")
    assert reply["stdout"] == "True __main__\n" and reply["value"] == "1024"
    shell = await client.request({"op": "shell", "command": "echo $((6*7)) && echo no >&2; exit 4"})
    assert (shell["stdout"], shell["stderr"], shell["exit_code"]) == ("42\n", "no\n", 4)
    written = await client.request({"op": "fs", "name": "write_bytes", "args": {"path": "f.txt", "data": "aGk="}})
    assert written["value"] == 2 and (tmp_path / "f.txt").read_text() == "hi"
    missing = await client.request({"op": "fs", "name": "read_bytes", "args": {"path": "nope"}})
    assert missing["error"]["name"] == "FileNotFoundError"


async def test_writes_to_fd_1_from_anywhere_are_captured_not_sent(client):
    code = "import os, subprocess\nos.write(1, b'raw fd\\n')\nsubprocess.run(['echo', 'child'])\nos.system('echo err >&2')"
    reply = await run(client, code)
    assert reply["stdout"] == "raw fd\nchild\n" and reply["stderr"] == "err\n"
    assert (await run(client, "'protocol intact'"))["value"] == "'protocol intact'"


async def test_output_cap_keeps_head_and_tail(client):
    reply = await run(client, "print('HEAD' + 'x' * 10_000 + 'TAIL')")
    assert reply["stdout"].startswith("HEAD") and reply["stdout"].endswith("TAIL\n")
    assert "[... output truncated: 8009 bytes cut from the middle ...]" in reply["stdout"]


async def test_non_utf8_output_is_decoded_with_replacement(client):
    reply = await run(client, "import os\nos.write(1, b'ok \\xff\\xfe end\\n')")
    assert reply["stdout"] == "ok \ufffd\ufffd end\n"


async def test_notebook_semantics(client):
    assert (await run(client, "async def f():\n    return 5\nawait f()"))["value"] == "5"
    assert (await run(client, "x = 1\nx;"))["value"] is None
    assert (await run(client, "_ if False else 'last value is in _'"))["value"] == "'last value is in _'"
    exited = await run(client, "raise SystemExit(3)")
    assert exited["error"]["name"] == "SystemExit"
    assert (await run(client, "input()"))["error"]["name"] == "EOFError"
    assert (await run(client, "x"))["value"] == "1"


async def test_forked_child_ends_with_its_step(client):
    code = "import os\npid = os.fork()\nif pid == 0:\n    print('child says hi')\nelse:\n    os.waitpid(pid, 0)\n'parent'"
    reply = await run(client, code)
    assert reply["value"] == "'parent'" and "child says hi" in reply["stdout"]
    assert (await run(client, "'next step'"))["value"] == "'next step'"


async def test_timeout_interrupts_inside_the_worker(client):
    reply = await run(client, "import time\ntime.sleep(30)", timeout=0.3)
    assert reply["timed_out"] and reply["error"]["name"] == "KeyboardInterrupt"
    assert "time.sleep(30)" in reply["error"]["traceback"] and "_on_sigint" not in reply["error"]["traceback"]


@pytest.mark.parametrize("turns", [1, 2, 5, 20])
async def test_interrupt_right_after_sending_still_stops_that_step(client, turns):
    await run(client, "kept = 'yes'")
    step = asyncio.ensure_future(run(client, "import time\ntime.sleep(30)"))
    for _ in range(turns):  # the request is out after one turn; it may or may not have started
        await asyncio.sleep(0)
    client.interrupt()
    reply = await asyncio.wait_for(step, timeout=20)
    assert reply["error"]["name"] == "KeyboardInterrupt"
    assert (await run(client, "kept"))["value"] == "'yes'"  # same worker, and the next step is not hit


async def test_interrupt_before_the_request_is_written_follows_it(client):
    await run(client, "kept = 'yes'")
    first = asyncio.ensure_future(run(client, "import time\ntime.sleep(30)"))
    await asyncio.sleep(0)
    first.cancel()  # the next request first waits for this one's reply
    with pytest.raises(asyncio.CancelledError):
        await first
    second = asyncio.ensure_future(run(client, "import time\ntime.sleep(30)"))
    await asyncio.sleep(0)
    assert not client._sent  # still waiting for the cancelled request's reply
    client.interrupt()
    reply = await asyncio.wait_for(second, timeout=20)
    assert reply["error"]["name"] == "KeyboardInterrupt"
    assert (await run(client, "kept"))["value"] == "'yes'"


# --- interrupts in orders the client never produces, on the raw worker --------------------------
@pytest.fixture
async def raw(tmp_path):
    worker = await RawWorker.start(str(tmp_path))
    yield worker
    await worker.close()


async def test_interrupt_for_a_queued_request_cancels_it_before_its_code_runs(raw, tmp_path):
    await raw.run(1, "kept = 'yes'")
    await raw.send({"id": 2, "op": "exec", "code": "import time\ntime.sleep(60)"},
                   {"id": 3, "op": "exec", "code": "open('ran', 'w').close()"},
                   {"op": "interrupt", "id": 3}, {"op": "interrupt", "id": 2})  # fmt: skip
    first, second = await raw.reply(), await raw.reply()
    assert (first["id"], first["error"]["name"]) == (2, "KeyboardInterrupt")
    assert (second["id"], second["error"]["name"]) == (3, "KeyboardInterrupt")
    assert "before it started" in second["error"]["value"]
    assert not (tmp_path / "ran").exists()
    assert (await raw.run(4, "kept"))["value"] == "'yes'"


async def test_interrupt_for_a_finished_request_does_not_hit_the_next_one(raw):
    await raw.run(1, "kept = 'yes'")
    await raw.send({"op": "interrupt", "id": 1}, {"id": 2, "op": "exec", "code": "import time\ntime.sleep(0.2)\nkept"},
                   {"op": "interrupt", "id": 1})  # fmt: skip
    reply = await raw.reply()
    assert reply["id"] == 2 and reply["error"] is None and reply["value"] == "'yes'"


async def test_interrupt_whose_first_signal_is_swallowed_still_stops_the_step(raw, tmp_path):
    """As when SIGINT lands just before a blocking call starts: the worker signals again until it raises."""
    os.mkfifo(tmp_path / "ready")
    code = ("import signal, time\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})\n"
            "with open('ready', 'w') as fifo:\n    fifo.write('x')\n"
            "signal.sigwait({signal.SIGINT})\nsignal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})\n"
            "time.sleep(60)")  # fmt: skip
    await raw.run(1, "kept = 'yes'")
    await raw.send({"id": 2, "op": "exec", "code": code})
    assert await asyncio.to_thread((tmp_path / "ready").read_text) == "x"  # SIGINT is blocked now
    await raw.send({"op": "interrupt", "id": 2})
    reply = await raw.reply()
    assert reply["error"]["name"] == "KeyboardInterrupt" and "time.sleep(60)" in reply["error"]["traceback"]
    assert (await raw.run(3, "kept"))["value"] == "'yes'"


async def test_sigint_that_is_not_an_interrupt_is_ignored(raw):
    reply = await raw.run(1, "import os, signal\nos.kill(os.getpid(), signal.SIGINT)\n'still running'")
    assert reply["error"] is None and reply["value"] == "'still running'"


async def test_interrupt_while_a_provider_prepares_the_step_cancels_the_step(tmp_path):
    require_tool("bwrap", "the local provider's sandbox")
    async with started_local_providers(tmp_path) as make:
        provider = await make()
        await provider.run_python("kept = 'yes'")

        async def handler(name, args):
            return None

        provider.set_tool_handler(["noop"], handler)  # the next step first defines the tool in the worker
        step = asyncio.ensure_future(provider.run_python("import time\ntime.sleep(60)"))
        await asyncio.sleep(0)
        await provider.interrupt()
        result = await asyncio.wait_for(step, timeout=20)
        assert result.error.name == "KeyboardInterrupt" and not result.state_lost
        assert (await provider.run_python("kept")).value == "'yes'"


async def test_tool_calls_round_trip(client, tmp_path):
    seen = []

    async def handler(name, args):
        seen.append(name)
        return object() if args.get("bad") else {"sum": args["a"] + args["b"]}

    client._tool_handler = lambda: handler
    await client.request({"op": "define_tools", "names": ["add"]})
    assert (await run(client, "add(a=2, b=3)['sum']"))["value"] == "5"
    positional = await run(client, "add(2, 3)")
    assert positional["error"]["name"] == "TypeError" and "keyword arguments" in positional["error"]["value"]
    not_json = await run(client, "add(bad=True)")
    assert not_json["error"]["name"] == "ToolCallError" and "cannot be sent as JSON" in not_json["error"]["value"]
    assert seen == ["add", "add"]


async def test_cancelled_request_does_not_desync_the_next_one(client):
    await run(client, "kept = 'yes'")
    step = asyncio.ensure_future(run(client, "import time\ntime.sleep(30)"))
    await asyncio.sleep(0.3)
    step.cancel()
    with pytest.raises(asyncio.CancelledError):
        await step
    assert (await run(client, "kept"))["value"] == "'yes'"


def fake_worker(body: str) -> list[str]:
    """A stand-in worker that misbehaves; reads one request line, then runs ``body``."""
    return [sys.executable, "-c", "import sys, time\nsys.stdin.readline()\n" + textwrap.dedent(body)]


async def test_garbage_line_is_a_protocol_error(launch):
    client = await launch(*fake_worker("print('this is not json', flush=True)\ntime.sleep(30)"))
    with pytest.raises(WorkerProtocolError, match="not JSON"):
        await client.request({"op": "ping"}, timeout=10)


async def test_oversized_line_is_rejected_without_waiting_for_its_end(launch):
    client = await launch(
        *fake_worker("sys.stdout.write('x' * 5_000_000); sys.stdout.flush(); time.sleep(30)"), max_message_bytes=100_000
    )
    with pytest.raises(WorkerProtocolError, match="longer than the 100000-byte limit"):
        await client.request({"op": "ping"}, timeout=10)


async def test_unexpected_reply_id_is_a_protocol_error(launch):
    client = await launch(*fake_worker("print('{\"type\": \"result\", \"id\": 999}', flush=True); time.sleep(30)"))
    with pytest.raises(WorkerProtocolError, match="unexpected message"):
        await client.request({"op": "ping"}, timeout=10)


async def test_end_of_output_is_a_dead_worker(launch):
    client = await launch(*fake_worker("sys.exit(0)"))
    with pytest.raises(WorkerDied):
        await client.request({"op": "ping"}, timeout=10)
    with pytest.raises(WorkerDied):  # the client stays broken: the caller must restart the worker
        await client.request({"op": "ping"}, timeout=10)


async def test_silent_worker_is_given_up_after_timeout_and_grace(launch):
    client = await launch(*fake_worker("time.sleep(30)"), interrupt_grace=0.2)
    started = asyncio.get_running_loop().time()
    with pytest.raises(WorkerUnresponsive) as raised:
        await client.request({"op": "exec", "code": "", "timeout": 0.3}, timeout=0.3)
    assert raised.value.after_timeout
    assert asyncio.get_running_loop().time() - started < 2


def test_stream_buffer_counts_what_it_cuts():
    buffer = worker.StreamBuffer(10)
    for _ in range(1000):
        buffer.add(b"abc")
    text = buffer.take()
    assert text.startswith("abcab") and text.endswith("bcabc")
    assert "2990 bytes cut" in text
    assert buffer.take() == ""


def test_worker_source_is_one_valid_module_with_a_single_future_import():
    source = worker_source()
    compile(source, "<worker>", "exec")
    assert source.count("from __future__ import annotations") == 1
    assert "def read_bytes(" in source and "class Worker:" in source


@pytest.mark.parametrize(
    ("name", "expected"),
    [("FileNotFoundError", FileNotFoundError), ("ValueError", ValueError), ("UnicodeDecodeError", ProviderError),
     ("SystemExit", ProviderError), ("KeyboardInterrupt", ProviderError), ("os.system", ProviderError)],
)  # fmt: skip
def test_worker_errors_become_builtin_exceptions_or_provider_errors(name, expected):
    error = rebuilt_exception({"name": name, "value": "the message"})
    assert type(error) is expected and "the message" in str(error)
