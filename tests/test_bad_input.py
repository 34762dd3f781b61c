"""Bad input is one clear line, never a crash, a traceback or a hang, and nothing is lost.

Each test is named after the bad input and checks what the user sees: the exact line on
stderr or in the cell, the exit status, that no model request was made (the loopback
ScriptedServer's request count), and that files on disk are as they were. Options go
through the real ``tinycode`` command and a real kernel; a model's hostile tool-call
arguments go through litellm's real HTTP path, streamed and not.
"""
from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tinycode_jupyter import TinyCodeAgent
from tinycode_jupyter.cassette import RecordingLLM, ReplayLLM
from tinycode_jupyter.json_limits import MAX_ARGUMENT_CHARS, MAX_ARGUMENT_DEPTH, JSONTooDeep, JSONTooLarge, loads_bounded
from tinycode_jupyter.llm import LiteLLMModel
from tinycode_jupyter.logging_setup import disable_debug_logging, enable_debug_logging
from tinycode_jupyter.testing import ScriptedServer, call, fault, say
from tinycode_jupyter.testing.script import Reply, ToolCallSpec

from _require import require_all, require_tool
from kernel_harness import CellRun, Kernel

pytestmark = pytest.mark.timeout(180)


# --- the command line ---------------------------------------------------------------------
def tinycode(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "100", "TERM": "dumb"}
    return subprocess.run([sys.executable, "-m", "tinycode_jupyter.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env, stdin=subprocess.DEVNULL)  # fmt: skip


TURNS = {
    "nan": "'nan' is not a number (NaN)",
    "inf": "'inf' is infinite; give a finite number",
    "0": "'0' is too small; give a whole number, 1 or more",
    "-3": "'-3' is too small; give a whole number, 1 or more",
    "2.5": "'2.5' is not a whole number; give 1 or more",
    "ten": "'ten' is not a number",
}
SECONDS = {
    "nan": "'nan' is not a number (NaN)",
    "inf": "'inf' is infinite; give a finite number",
    "-1": "'-1' is negative; give seconds, 0 or more",
}
BUDGETS = {
    "nan": "'nan' is not a number (NaN)",
    "inf": "'inf' is infinite; give a finite number",
    "0": "'0' is not above 0; give a positive amount, e.g. 0.50 (or leave the option out)",
    "-1": "'-1' is not above 0; give a positive amount, e.g. 0.50 (or leave the option out)",
}


@pytest.mark.parametrize(("value", "why"), TURNS.items(), ids=TURNS.keys())
def test_chat_max_turns_that_is_not_a_positive_whole_number_is_one_line(value, why):
    done = tinycode("chat", "--model", "openai/x", "--max-turns", value)
    assert done.returncode == 2
    assert done.stderr == f"tinycode chat: error: argument --max-turns: {why} (see: tinycode chat --help)\n"
    assert done.stdout == ""


@pytest.mark.parametrize(("value", "why"), SECONDS.items(), ids=SECONDS.keys())
def test_run_timeout_that_is_nan_infinite_or_negative_is_one_line(tmp_path, value, why):
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    done = tinycode("run", str(notebook), "--timeout", value)
    assert done.returncode == 2
    assert done.stderr == f"tinycode run: error: argument --timeout: {why} (see: tinycode run --help)\n"
    assert not (tmp_path / "nb.out.ipynb").exists()


def test_unknown_option_is_one_line_without_the_usage_block():
    done = tinycode("chat", "--bogus", "3")
    assert done.returncode == 2
    assert done.stderr == "tinycode: error: unrecognized arguments: --bogus 3 (see: tinycode --help)\n"


# --- the magics in a real kernel ---------------------------------------------------------------
@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    k = Kernel(cwd=str(tmp_path_factory.mktemp("kernel")))
    assert k.execute("%load_ext tinycode_jupyter").status == "ok"
    yield k
    k.shutdown()


@pytest.fixture
def model():
    """A fresh loopback model per test, so its request count says whether this test's cell called it."""
    with ScriptedServer() as server:
        yield server


def agent_cell(model: ScriptedServer, options: str, prompt: str = "compute") -> str:
    return f"%%agent --model openai/scripted --api-base {model.url} {options}\n{prompt}"


def usage_error(run: CellRun, run_started: bool = False) -> str:
    """The cell failed with one UsageError line on stderr and no traceback; the line's text.

    Unless ``run_started``, the cell showed nothing else (the run never began).
    """
    assert run.status == "error", run.text()
    assert run.error["ename"] == "UsageError" and run.error["traceback"] == []
    message = run.error["evalue"]
    assert "\n" not in message
    streams = [o for o in run.outputs if o["msg_type"] == "stream"]
    assert "".join(o["content"]["text"] for o in streams) == f"UsageError: {message}\n"
    assert run_started or streams == run.outputs
    return message


@pytest.mark.parametrize(("value", "why"), BUDGETS.items(), ids=BUDGETS.keys())
def test_budget_usd_that_is_not_a_positive_amount_fails_the_cell_before_any_model_call(kernel, model, value, why):
    run = kernel.execute(agent_cell(model, f"--budget-usd {value}"))
    assert usage_error(run) == f"%%agent: argument --budget-usd: {why}"
    assert model.requests == []


@pytest.mark.parametrize(("value", "why"), TURNS.items(), ids=TURNS.keys())
def test_max_turns_that_is_not_a_positive_whole_number_fails_the_cell_before_any_model_call(kernel, model, value, why):
    run = kernel.execute(agent_cell(model, f"--max-turns {value}"))
    assert usage_error(run) == f"%%agent: argument --max-turns: {why}"
    assert model.requests == []


OUT_NAMES = {
    "print": "'print' is a Python builtin; binding it would hide the builtin: choose another name",
    "__import__": "'__import__' is a Python builtin; binding it would hide the builtin: choose another name",
    "class": "'class' is a Python keyword; choose another variable name",
    "1x": "'1x' is not a Python variable name",
    "'a b'": "'a b' is not a Python variable name",
    "a.b": "'a.b' is not a Python variable name",
    "In": "'In' is a name IPython keeps for itself; choose another variable name",
    "_": "'_' is a name IPython keeps for itself; choose another variable name",
    "_i2": "'_i2' is a name IPython keeps for itself; choose another variable name",
}


@pytest.mark.parametrize(("name", "why"), OUT_NAMES.items(), ids=OUT_NAMES.keys())
def test_out_name_that_is_not_a_free_variable_name_is_refused_before_any_model_call(kernel, model, name, why):
    run = kernel.execute(agent_cell(model, f"-o {name}"))
    assert usage_error(run) == f"%%agent: argument -o/--out: {why}"
    assert model.requests == []  # the run never started, so nothing was bound
    assert kernel.eval("[n for n in ('print', '__import__', 'class') if n in get_ipython().user_ns]") == "[]"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("%%agent --model openai/x -o 'unclosed\nhi", "%%agent: No closing quotation in \"--model openai/x -o 'unclosed\""),
        ("%agent model='unclosed", "%agent: No closing quotation in \"model='unclosed\""),
    ],
    ids=["cell", "line"],
)
def test_unclosed_quote_in_a_magic_line_is_one_line(kernel, code, message):
    assert usage_error(kernel.execute(code)) == message


def test_a_valid_out_name_still_binds_the_result(kernel, model):
    model.add(say("forty-two"))
    run = kernel.execute(agent_cell(model, "-o answer_text"))
    assert run.status == "ok", run.text()
    assert kernel.eval("str(answer_text)") == "'forty-two'"


@pytest.mark.parametrize(
    ("assignment", "why"),
    [
        ("budget_usd=nan", "'nan' is not a number (NaN)"),
        ("budget_usd=0", "'0' is not above 0; give a positive amount, e.g. 0.50 (or leave the option out)"),
        ("budget_usd=-5", "'-5' is not above 0; give a positive amount, e.g. 0.50 (or leave the option out)"),
        ("max_turns=inf", "'inf' is infinite; give a finite number"),
        ("max_turns=0", "'0' is too small; give a whole number, 1 or more"),
    ],
    ids=["budget_nan", "budget_zero", "budget_negative", "turns_inf", "turns_zero"],
)
def test_agent_setting_with_a_bad_limit_is_one_line_and_changes_nothing(kernel, assignment, why):
    before = kernel.execute("%agent").text()
    key = assignment.partition("=")[0]
    assert usage_error(kernel.execute(f"%agent {assignment}")) == f"%agent: {key}: {why}"
    assert kernel.execute("%agent").text() == before


def test_agent_budget_none_removes_the_budget(kernel):
    assert kernel.execute("%agent budget_usd=0.25").status == "ok"
    assert "budget_usd = 0.25" in kernel.execute("%agent").text()
    assert kernel.execute("%agent budget_usd=none").status == "ok"
    assert "budget_usd = None" in kernel.execute("%agent").text()


@pytest.fixture(scope="module")
def bare_kernel(tmp_path_factory):
    """A kernel where the extension is not loaded yet (a load that fails leaves it so)."""
    k = Kernel(cwd=str(tmp_path_factory.mktemp("bare")), env={"TINYCODE_MAX_TURNS": "", "TINYCODE_BUDGET_USD": ""})
    yield k
    k.shutdown()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("os.environ['TINYCODE_BUDGET_USD'] = 'nan'", "tinycode_jupyter: TINYCODE_BUDGET_USD: 'nan' is not a number (NaN)"),
        ("os.environ['TINYCODE_BUDGET_USD'] = '-0.5'",
         "tinycode_jupyter: TINYCODE_BUDGET_USD: '-0.5' is not above 0; give a positive amount, e.g. 0.50 (or leave the option out)"),
        ("os.environ['TINYCODE_MAX_TURNS'] = '0'", "tinycode_jupyter: TINYCODE_MAX_TURNS: '0' is too small; give a whole number, 1 or more"),
        ("get_ipython().config.AgentMagics.budget_usd = float('inf')", "tinycode_jupyter: c.AgentMagics.budget_usd: inf is infinite; give a finite number"),
        ("get_ipython().config.AgentMagics.budget_usd = 0.0",
         "tinycode_jupyter: c.AgentMagics.budget_usd: 0.0 is not above 0; give a positive amount, e.g. 0.50 (or leave the option out)"),
        ("get_ipython().config.AgentMagics.max_turns = -1", "tinycode_jupyter: c.AgentMagics.max_turns: -1 is too small; give a whole number, 1 or more"),
    ],
    ids=["env_budget_nan", "env_budget_negative", "env_turns_zero", "config_budget_inf", "config_budget_zero", "config_turns_negative"],
)
def test_bad_limit_from_environment_or_config_fails_load_ext_with_one_line(bare_kernel, setup, message):
    reset = ("os.environ.pop('TINYCODE_BUDGET_USD', None); os.environ.pop('TINYCODE_MAX_TURNS', None)\n"
             "get_ipython().config.AgentMagics.pop('budget_usd', None); get_ipython().config.AgentMagics.pop('max_turns', None)")  # fmt: skip
    assert bare_kernel.execute(f"import os\n{setup}").status == "ok"
    try:
        assert usage_error(bare_kernel.execute("%load_ext tinycode_jupyter")) == message
        assert bare_kernel.execute("%%agent --model x\nhi").error["evalue"] == "Cell magic `%%agent` not found."
    finally:
        assert bare_kernel.execute(reset).status == "ok"


def test_good_limits_from_the_environment_become_the_defaults(tmp_path):
    k = Kernel(cwd=str(tmp_path), env={"TINYCODE_MAX_TURNS": "7", "TINYCODE_BUDGET_USD": "0.25"})
    try:
        assert k.execute("%load_ext tinycode_jupyter").status == "ok"
        shown = k.execute("%agent").text()
        assert "max_turns = 7" in shown and "budget_usd = 0.25" in shown
    finally:
        k.shutdown()


# --- cassettes: corrupt ones, and --record paths that cannot be written ----------------------------
def recorded_cassette(tmp_path: Path) -> Path:
    """A real cassette recorded for the prompt 'compute' (one tool call, then the answer)."""
    path = tmp_path / "recorded.json"
    with ScriptedServer([call("run_python", {"code": "replayed = 6 * 7"}), say("42")]) as server:
        async def record() -> None:
            llm = RecordingLLM(LiteLLMModel("openai/scripted", api_key="k", model_kwargs={"api_base": server.url}), path)
            async with TinyCodeAgent(llm=llm, provider="kernel", default_workdir=tmp_path) as agent:
                await agent.run("compute")

        import asyncio

        asyncio.run(record())
    return path


def _edit(path: Path, change: Any) -> None:
    payload = json.loads(path.read_text())
    change(payload)
    path.write_text(json.dumps(payload))


def truncated_json(path: Path) -> str:
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(json.JSONDecodeError) as caught:
        json.loads(path.read_text())
    error = caught.value
    return (f"CassetteError: cassette {path} is not valid JSON ({error.msg} at line {error.lineno} column {error.colno}): "
            "it is cut short or corrupt; re-record it with --record")  # fmt: skip


def wrong_version(path: Path) -> str:
    _edit(path, lambda c: c.update(version=7))
    return f"CassetteError: cassette {path} is not a tinycode cassette: it has format version 7; this version of tinycode reads 1: re-record it"


def exchange_without_response(path: Path) -> str:
    _edit(path, lambda c: c["exchanges"][1].pop("response"))
    return f"CassetteError: cassette {path} is not a tinycode cassette: exchange 2 has no 'response'"


def usage_that_is_text(path: Path) -> str:
    _edit(path, lambda c: c["exchanges"][0]["response"]["usage"].update(prompt_tokens="ten"))
    return f"CassetteError: cassette {path} is not a tinycode cassette: exchange 1 usage 'prompt_tokens' is a str"


def a_json_list(path: Path) -> str:
    path.write_text("[1, 2]")
    return f"CassetteError: cassette {path} is not a tinycode cassette: it holds a JSON list, not an object"


def nested_100k_deep(path: Path) -> str:
    path.write_text("[" * 100_000 + "]" * 100_000)
    return f"CassetteError: cassette {path} is nested deeper than 64 levels, so not a cassette"


def not_utf8(path: Path) -> str:
    path.write_bytes(b'{"version": 1, "x": "\xff\xfe"}')
    return f"CassetteError: cassette {path} is not UTF-8 text, so not a cassette"


def a_directory(path: Path) -> str:
    path.unlink()
    path.mkdir()
    return f"CassetteError: cassette {path} is a directory, not a cassette file"


CORRUPT = [truncated_json, wrong_version, exchange_without_response, usage_that_is_text, a_json_list, nested_100k_deep,
           not_utf8, a_directory]  # fmt: skip


@pytest.fixture(scope="module")
def cassette_master(tmp_path_factory) -> Path:
    return recorded_cassette(tmp_path_factory.mktemp("master"))


@pytest.fixture
def cassette(tmp_path, cassette_master) -> Path:
    path = tmp_path / "run.json"
    path.write_bytes(cassette_master.read_bytes())
    return path


@pytest.mark.parametrize("corrupt", CORRUPT, ids=[c.__name__ for c in CORRUPT])
def test_corrupt_cassette_fails_the_cell_with_one_line_before_any_model_call(kernel, model, cassette, corrupt):
    expected = corrupt(cassette)
    run = kernel.execute(agent_cell(model, f"--replay {cassette}"))
    assert usage_error(run) == expected
    assert model.requests == []
    assert kernel.eval("'replayed' in globals()") == "False"


def test_cassette_recorded_for_a_different_request_fails_at_the_first_request_without_a_model_call(kernel, model, cassette):
    run = kernel.execute(agent_cell(model, f"--replay {cassette}", prompt="something else"))
    assert usage_error(run, run_started=True) == (
        f"CassetteMismatch: request 1 does not match cassette {cassette}: step 1 is the prompt 'something else' "
        "where the recording has the prompt 'compute'; re-record the cassette with --record"
    )
    assert "stopped: CassetteMismatch" in run.text() and " · 0 turns · " in run.text()
    assert model.requests == []
    assert kernel.eval("'replayed' in globals()") == "False"


def test_the_recorded_cassette_still_replays(kernel, model, cassette):
    kernel.execute("%agent reset")
    run = kernel.execute(agent_cell(model, f"--replay {cassette}"))
    assert run.status == "ok", run.text()
    assert kernel.eval("replayed") == "42" and model.requests == []
    kernel.execute("del replayed\n%agent reset")


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder this process cannot create files in: a read-only bind mount as root, mode 0555 otherwise."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder, "Permission denied"
        folder.chmod(0o755)
        return
    mount = require_tool("mount", "a read-only folder for root is a read-only bind mount")
    made = subprocess.run([mount, "--bind", str(folder), str(folder)], capture_output=True, text=True)
    if made.returncode != 0:
        message = f"cannot bind-mount here ({made.stderr.strip()})"
        if require_all():
            pytest.fail(f"TINYCODE_REQUIRE_ALL=1 but {message}")
        pytest.skip(message)
    try:
        subprocess.run([mount, "-o", "remount,bind,ro", str(folder)], check=True, capture_output=True)
        yield folder, "Read-only file system"
    finally:
        subprocess.run(["umount", str(folder)], check=True, capture_output=True)


def test_record_to_a_directory_fails_before_any_model_call(kernel, model, tmp_path):
    run = kernel.execute(agent_cell(model, f"--record {tmp_path}"))
    assert usage_error(run) == f"CassetteError: cannot record to {tmp_path}: it is a directory; name a file in it, e.g. {tmp_path / 'run.json'}"
    assert model.requests == []


def test_record_into_a_folder_that_does_not_exist_fails_before_any_model_call_and_creates_nothing(kernel, model, tmp_path):
    target = tmp_path / "no-such-folder" / "run.json"
    run = kernel.execute(agent_cell(model, f"--record {target}"))
    assert usage_error(run) == f"CassetteError: cannot record to {target}: the folder {target.parent} does not exist"
    assert model.requests == []
    assert not target.parent.exists()


def test_record_into_a_read_only_folder_fails_before_any_model_call(kernel, model, read_only_folder):
    folder, reason = read_only_folder
    target = folder / "run.json"
    run = kernel.execute(agent_cell(model, f"--record {target}"))
    assert usage_error(run) == f"CassetteError: cannot record to {target}: cannot write in the folder {folder} ({reason})"
    assert model.requests == []
    assert list(folder.iterdir()) == []


def test_existing_record_file_is_untouched_by_a_run_refused_for_a_bad_option(kernel, model, cassette):
    before = cassette.read_bytes()
    run = kernel.execute(agent_cell(model, f"--record {cassette} --budget-usd nan"))
    assert usage_error(run) == "%%agent: argument --budget-usd: 'nan' is not a number (NaN)"
    assert cassette.read_bytes() == before and model.requests == []


def test_existing_record_file_is_put_back_after_a_run_that_fails_midway(kernel, model, cassette):
    before = cassette.read_bytes()
    model.add(call("run_python", {"code": "midway = 1"}), fault("status", status=401, message="key revoked"))
    run = kernel.execute(agent_cell(model, f"--record {cassette}"))
    assert run.status == "error" and "LLMAuthenticationError" in run.error["evalue"]
    assert len([r for r in model.requests if r["path"].endswith("/chat/completions")]) == 2  # one exchange was recorded, then undone
    assert cassette.read_bytes() == before
    assert sorted(p.name for p in cassette.parent.iterdir()) == [cassette.name]  # no temporary file left behind


def test_new_record_file_is_not_left_behind_by_a_run_that_fails_midway(kernel, model, tmp_path):
    target = tmp_path / "new.json"
    model.add(call("run_python", {"code": "midway = 2"}), fault("status", status=401, message="key revoked"))
    run = kernel.execute(agent_cell(model, f"--record {target}"))
    assert run.status == "error" and "LLMAuthenticationError" in run.error["evalue"]
    assert list(tmp_path.iterdir()) == []


def test_a_successful_recording_replaces_the_file_whole(kernel, model, cassette):
    kernel.execute("%agent reset")
    model.add(say("fresh"))
    run = kernel.execute(agent_cell(model, f"--record {cassette}", prompt="again"))
    assert run.status == "ok", run.text()
    assert [e["response"]["content"] for e in json.loads(cassette.read_text())["exchanges"]] == ["fresh"]
    assert sorted(p.name for p in cassette.parent.iterdir()) == [cassette.name]


# --- a model's hostile tool-call arguments, through litellm's real HTTP path ------------------------
DEEP = {
    "list_100k_deep": "[" * 100_000 + "]" * 100_000,
    "object_100k_deep": '{"a":' * 100_000 + "1" + "}" * 100_000,
}
HUGE = json.dumps({"code": "x = 1  # " + "y" * 10_000_000})
"""10 MB of arguments."""
STREAM_CHUNK = 65_536
"""Characters per streamed chunk for the big replies (litellm's per-chunk cost, not ours, is what smaller chunks would test)."""


def both_ways(cases: dict[str, str]) -> list[Any]:
    return [pytest.param(text, streaming, id=f"{name}-{'streamed' if streaming else 'whole'}")
            for name, text in cases.items() for streaming in (False, True)]  # fmt: skip


class Deltas:
    """Listens for streamed deltas (its presence makes the agent stream) and keeps the argument pieces."""

    def __init__(self) -> None:
        self.arguments: list[str] = []

    def __call__(self, event: Any) -> None:
        self.add(getattr(event, "tool_call_delta", None))

    def add(self, tool_delta: dict[str, Any] | None) -> None:
        if tool_delta and tool_delta.get("arguments"):
            self.arguments.append(tool_delta["arguments"])


def hostile_reply(arguments: str) -> Reply:
    return Reply(tool_calls=[ToolCallSpec("run_python", arguments)], chunk_size=STREAM_CHUNK)


@pytest.fixture
def debug_log():
    stream = io.StringIO()
    enable_debug_logging(stream)
    yield stream
    disable_debug_logging()


async def seam_call(server: ScriptedServer, streaming: bool) -> tuple[Any, Deltas]:
    deltas = Deltas()

    async def on_delta(text: str | None, tool_delta: dict[str, Any] | None) -> None:
        deltas.add(tool_delta)

    llm = LiteLLMModel("openai/scripted", api_key="k", model_kwargs={"api_base": server.url, "num_retries": 0})
    response = await llm.complete([{"role": "user", "content": "go"}], [], on_delta if streaming else None)
    return response, deltas


@pytest.mark.parametrize(("arguments", "streaming"), both_ways(DEEP))
async def test_deeply_nested_arguments_pass_the_model_seam_intact_and_are_refused_precisely(arguments, streaming, debug_log):
    with ScriptedServer([hostile_reply(arguments)]) as server:
        response, deltas = await seam_call(server, streaming)
    [received] = response.tool_calls
    assert received.arguments == arguments  # litellm's own parse of non-streamed arguments no longer raises RecursionError
    if streaming:
        assert "".join(deltas.arguments) == arguments
    with pytest.raises(JSONTooDeep, match=f"^arguments nested deeper than {MAX_ARGUMENT_DEPTH} levels$"):
        loads_bounded(received.arguments)
    assert "model response:" in debug_log.getvalue() and "RecursionError" not in debug_log.getvalue()


@pytest.mark.parametrize("arguments", DEEP.values(), ids=DEEP.keys())
async def test_deeply_nested_arguments_record_and_replay_from_a_cassette(tmp_path, arguments):
    path = tmp_path / "deep.json"
    with ScriptedServer([hostile_reply(arguments)]) as server:
        llm = RecordingLLM(LiteLLMModel("openai/scripted", api_key="k", model_kwargs={"api_base": server.url}), path)
        recorded = await llm.complete([{"role": "user", "content": "go"}], [])
    replayed = await ReplayLLM(path).complete([{"role": "user", "content": "go"}], [])
    assert replayed.tool_calls[0].arguments == recorded.tool_calls[0].arguments == arguments


@pytest.mark.parametrize("streaming", [False, True], ids=["whole", "streamed"])
async def test_10mb_arguments_are_cut_at_the_seam_to_one_more_than_the_limit(streaming, caplog):
    with ScriptedServer([hostile_reply(HUGE)]) as server, caplog.at_level(logging.WARNING, "tinycode_jupyter.llm"):
        response, deltas = await seam_call(server, streaming)
    [received] = response.tool_calls
    assert received.arguments == HUGE[: MAX_ARGUMENT_CHARS + 1]
    assert response.usage.completion_tokens > 2_000_000  # the whole answer was read and counted
    if streaming:
        assert "".join(deltas.arguments) == received.arguments  # the listeners got no more than was kept
    with pytest.raises(JSONTooLarge, match=f"^arguments longer than {MAX_ARGUMENT_CHARS:,} characters$"):
        loads_bounded(received.arguments)
    assert f"the model sent {len(HUGE)} characters of arguments; the first {MAX_ARGUMENT_CHARS + 1} were kept" in caplog.text


def make_agent(server: ScriptedServer, tmp_path: Path, streaming: bool, cassette: Path | None = None) -> TinyCodeAgent:
    llm: Any = LiteLLMModel("openai/scripted", api_key="k", model_kwargs={"api_base": server.url, "num_retries": 0})
    if cassette is not None:
        llm = RecordingLLM(llm, cassette)
    return TinyCodeAgent(llm=llm, provider="kernel", default_workdir=tmp_path, max_turns=5,
                         callbacks=[Deltas()] if streaming else [])  # fmt: skip


def told(server: ScriptedServer, request: int) -> str:
    """The tool result the model got in chat request ``request`` (0-based)."""
    bodies = [r["body"] for r in server.requests if r["path"].endswith("/chat/completions")]
    return bodies[request]["messages"][-1]["content"]


@pytest.mark.parametrize("streaming", [False, True], ids=["whole", "streamed"])
async def test_10mb_arguments_do_not_grow_the_conversation_or_the_cassette(tmp_path, streaming):
    cassette = tmp_path / "huge.json"
    with ScriptedServer([hostile_reply(HUGE), say("recovered")]) as server:
        agent = make_agent(server, tmp_path, streaming, cassette)
        async with agent:
            assert await agent.run("go") == "recovered"
        second = [r for r in server.requests if r["path"].endswith("/chat/completions")][1]
    assert len(json.dumps(second["body"])) < MAX_ARGUMENT_CHARS * 1.3  # the 10 MB went back to the model once, cut
    assert cassette.stat().st_size < MAX_ARGUMENT_CHARS * 3  # request and response of one cut call, not 10 MB
    assert not agent.last_run.tool_calls[0].ok


@pytest.mark.parametrize(("arguments", "streaming"), both_ways(DEEP))
async def test_deeply_nested_arguments_go_back_to_the_model_as_a_precise_error_and_the_run_continues(tmp_path, arguments, streaming, debug_log):
    cassette = tmp_path / "deep.json"
    with ScriptedServer([hostile_reply(arguments), call("run_python", {"code": "print(6 * 7)"}), say("42")]) as server:
        agent = make_agent(server, tmp_path, streaming, cassette)
        async with agent:
            assert await agent.run("go") == "42"
        assert f"arguments nested deeper than {MAX_ARGUMENT_DEPTH} levels" in told(server, 1)
    assert not agent.last_run.tool_calls[0].ok and agent.last_run.tool_calls[1].result.strip() == "42"
    assert "RecursionError" not in debug_log.getvalue()
    async with TinyCodeAgent(llm=ReplayLLM(cassette), provider="kernel", default_workdir=tmp_path) as replaying:
        assert await replaying.run("go") == "42"


@pytest.mark.parametrize("streaming", [False, True], ids=["whole", "streamed"])
async def test_10mb_arguments_go_back_to_the_model_as_too_long(tmp_path, streaming):
    with ScriptedServer([hostile_reply(HUGE), say("recovered")]) as server:
        agent = make_agent(server, tmp_path, streaming)
        async with agent:
            assert await agent.run("go") == "recovered"
        assert f"arguments longer than {MAX_ARGUMENT_CHARS:,} characters" in told(server, 1)
