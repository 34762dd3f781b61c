"""%%agent in a real kernel (jupyter_client): streaming output, kernel state, fallbacks, interrupt."""
from __future__ import annotations

import json

import pytest

from tinycode_jupyter.testing import ScriptedServer, call, say

from kernel_harness import Kernel


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    k = Kernel(cwd=str(tmp_path_factory.mktemp("kernel")))
    yield k
    k.shutdown()


@pytest.fixture
def server():
    with ScriptedServer() as s:
        yield s


def agent_cell(server: ScriptedServer, prompt: str, options: str = "") -> str:
    return f"%%agent --model openai/scripted --api-base {server.url} {options}\n{prompt}"


def test_load_ext_is_light_and_registers_magics(kernel):
    run = kernel.execute(
        "import sys, time\nt = time.perf_counter()\n%load_ext tinycode_jupyter\n"
        "print(round((time.perf_counter() - t) * 1000), 'litellm' in sys.modules)"
    )
    assert run.status == "ok", run.text()
    elapsed_ms, litellm_loaded = run.text().splitlines()[-1].split()  # after the extension's one line
    assert litellm_loaded == "False"
    assert int(elapsed_ms) < 1000  # the 150 ms bar is measured in bench/, this guards against regressions only
    assert "agent" in kernel.eval("sorted(get_ipython().magics_manager.magics['cell'])")


def test_agent_sees_and_changes_user_variables_and_streams_output(kernel, server):
    kernel.execute("%load_ext tinycode_jupyter\nimport pandas as pd\ndf = pd.DataFrame({'a': [1, 2, 3], 'b': ['x', 'y', 'z']})")
    server.add(
        call("run_python", {"code": "total = int(df['a'].sum())\nprint('total', total)"}, content="Summing column a."),
        say("The total of **a** is 6."),
    )
    run = kernel.execute(agent_cell(server, "Sum column a of {df} into `total`.", "-o result"))
    assert run.status == "ok", run.text()
    assert kernel.eval("total") == "6"
    assert kernel.eval("str(result)") == repr("The total of **a** is 6.")
    prompt = server.requests[0]["body"]["messages"][1]["content"]
    assert "DataFrame shape=(3, 2)" in prompt and "a: int64" in prompt and "0  1  x" in prompt
    shown = run.text()
    assert "▶ run_python" in shown and "total = int(df['a'].sum())" in shown
    assert "total 6" in shown
    assert "The total of **a** is 6." in shown
    assert "completion tokens" in shown
    assert any(o["msg_type"] == "update_display_data" for o in run.outputs)


def test_without_a_frontend_the_code_comes_back_through_set_next_input(kernel, server):
    kernel.execute("%load_ext tinycode_jupyter")
    server.add(call("run_python", {"code": "squares = [i * i for i in range(4)]"}), say("done"))
    run = kernel.execute(agent_cell(server, "make squares"), cell_id="agent-cell-1")
    assert run.status == "ok", run.text()
    [payload] = [p for p in run.payload if p["source"] == "set_next_input"]
    assert "squares = [i * i for i in range(4)]" in payload["text"]
    assert payload["replace"] is False


@pytest.mark.parametrize(
    "cell, message",
    [
        ("%%agent --model\ndo it", "argument --model: expected one argument"),
        ("%%agent --model openai/x --bogus 1\ndo it", "unrecognized arguments: --bogus"),
        ("%%agent --model openai/x\n   ", "the cell is empty"),
    ],
)
def test_bad_options_fail_the_cell_with_one_clear_line(kernel, cell, message):
    kernel.execute("%load_ext tinycode_jupyter")
    run = kernel.execute(cell)
    assert run.status == "error"
    assert run.error["ename"] == "UsageError"
    assert message in run.error["evalue"]
    assert len(run.error["evalue"].splitlines()) == 1


def test_no_model_configured_is_one_line(tmp_path):
    k = Kernel(env={"TINYCODE_MODEL": ""}, cwd=str(tmp_path))
    try:
        k.execute("%load_ext tinycode_jupyter")
        run = k.execute("%%agent\nhello")
        assert run.status == "error" and "no model configured" in run.error["evalue"]
    finally:
        k.shutdown()


def test_environment_is_read_when_the_extension_loads_not_when_imported(tmp_path):
    k = Kernel(env={"TINYCODE_MODEL": ""}, cwd=str(tmp_path))
    try:
        k.execute("import os, tinycode_jupyter.jupyter.magics\nos.environ['TINYCODE_MODEL'] = 'ollama/set-after-import'")
        k.execute("%load_ext tinycode_jupyter")
        assert "ollama/set-after-import" in k.execute("%agent").text()
    finally:
        k.shutdown()


def test_model_errors_fail_the_cell(kernel, server):
    from tinycode_jupyter.testing import fault

    kernel.execute("%load_ext tinycode_jupyter")
    server.add(fault("status", status=401, message="bad key"))
    run = kernel.execute(agent_cell(server, "hi"))
    assert run.status == "error"
    assert "LLMAuthenticationError" in run.error["evalue"] and "OPENAI_API_KEY" in run.error["evalue"]


def test_interrupt_stops_the_agent_quickly_and_the_kernel_stays_usable(kernel, server):
    kernel.execute("%load_ext tinycode_jupyter")
    server.add(call("run_python", {"code": "import time\nfor i in range(600):\n    time.sleep(0.05)"}))
    run = kernel.execute(agent_cell(server, "sleep"), interrupt_after=1.5, timeout=30)
    assert run.status == "error"
    assert "RunCancelled" in run.error["evalue"]
    assert run.duration < 1.0  # from the interrupt to the cell's end
    assert kernel.eval("1 + 1") == "2"
    server.add(say("still works"))
    again = kernel.execute(agent_cell(server, "are you there?"))
    assert again.status == "ok" and "still works" in again.text()


def test_record_then_replay_without_the_server(kernel, server, tmp_path):
    kernel.execute("%load_ext tinycode_jupyter\n%agent reset")
    cassette = tmp_path / "run.json"
    server.add(call("run_python", {"code": "answer = 6 * 7"}), say("42"))
    first = kernel.execute(agent_cell(server, "compute", f"--record {cassette}"))
    assert first.status == "ok", first.text()
    assert len(json.loads(cassette.read_text())["exchanges"]) == 2
    kernel.execute("%agent reset\ndel answer")
    replayed = kernel.execute(f"%%agent --model openai/scripted --api-base http://127.0.0.1:9 --replay {cassette}\ncompute")
    assert replayed.status == "ok", replayed.text()
    assert kernel.eval("answer") == "42"
    kernel.execute("%agent reset")
    changed = kernel.execute(f"%%agent --model openai/scripted --api-base http://127.0.0.1:9 --replay {cassette}\nsomething else")
    assert changed.status == "error" and "CassetteMismatch" in changed.error["evalue"]


def test_budget_usd_is_a_hard_stop(kernel, server):
    kernel.execute("%load_ext tinycode_jupyter\n%agent reset")
    server.add(call("run_python", {"code": "spent = True"}, prompt_tokens=200_000, completion_tokens=10), say("never"))
    cell = f"%%agent --model openai/gpt-4.1-mini --api-base {server.url} --budget-usd 0.01 --price-per-mtok 0.4,1.6\nexpensive"
    run = kernel.execute(cell)
    assert run.status == "error"
    assert "BudgetExceeded" in run.error["evalue"] and "per_run_max_cost" in run.error["evalue"]
    assert len(server.requests) == 1  # stopped before the second model call


@pytest.mark.parametrize("choice, expected", [("Approve", "approved-run"), ("Deny", "the user denied this call")])
def test_approval_buttons_decide_before_the_shell_runs(kernel, server, tmp_path, choice, expected):
    kernel.execute("%load_ext tinycode_jupyter\n%agent reset\n%agent approve=writes")
    server.add(call("bash", {"command": "echo approved-run"}), say("finished"))
    buttons: dict[str, str] = {}

    def click_when_shown(msg):
        if msg["msg_type"] == "comm_open":
            state = msg["content"]["data"].get("state", {})
            if state.get("_model_name") == "ButtonModel":
                buttons[state.get("description")] = msg["content"]["comm_id"]
                if state.get("description") == choice:
                    kernel.click_button(msg["content"]["comm_id"])

    try:
        run = kernel.execute(agent_cell(server, "run a shell command"), on_message=click_when_shown, timeout=60)
    finally:
        kernel.execute("%agent approve=off")
    assert run.status == "ok", run.text()
    assert {"Approve", "Deny"} <= set(buttons)
    tool_result = server.requests[1]["body"]["messages"][-1]["content"]
    assert expected in tool_result
