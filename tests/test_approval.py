"""Tool control: approve, deny (reason to the model), modify, replace; composition; terminal and notebook approval."""
from __future__ import annotations

import pytest
from rich.console import Console

from tinycode_jupyter import TinyCodeAgent
from tinycode_jupyter.actions import Interceptor
from tinycode_jupyter.events import Deny, Hook, ModifyArguments, ReplaceResult
from tinycode_jupyter.hooks.approval import ApprovalPolicy, NotebookApproval, TerminalApproval, deny_tools
from tinycode_jupyter.tools.file_tools import unified_diff
from tinycode_jupyter.testing import ScriptedLLM, call, say


def make_agent(script, tmp_path, callbacks=()):
    llm = ScriptedLLM(script)
    return TinyCodeAgent(llm=llm, provider="kernel", default_workdir=tmp_path, callbacks=list(callbacks)), llm


def tool_results(llm):
    return [m["content"] for m in llm.requests[-1]["messages"] if m["role"] == "tool"]


class Answers:
    """An input function that replays answers and records the prompts."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.prompts = []

    def __call__(self, prompt):
        self.prompts.append(prompt)
        if not self.answers:
            raise EOFError
        return self.answers.pop(0)


def terminal(answers, agent=None, policy=None):
    console = Console(record=True, width=100, color_system=None)
    hook = TerminalApproval(policy, input_func=answers, console=console)
    return hook, console


async def terminal_shown(script, tmp_path, answers):
    """Run ``script`` with terminal approval answering ``answers``; what the terminal showed."""
    agent, _ = make_agent(script, tmp_path)
    approval, console = terminal(answers, agent)
    agent.add_callback(approval)
    async with agent:
        await agent.run("go")
    return console.export_text()


# --- composition in the pipeline -----------------------------------------------------------
class Recorder(Interceptor, Hook):
    def __init__(self, name, log, decision=None, end=None):
        self.name, self.log, self.decision, self.end = name, log, decision, end

    async def intercept(self, action):
        self.log.append((self.name, dict(action.arguments)))
        return self.decision

    def on_tool_end(self, event):
        return self.end


async def test_interceptors_are_asked_in_order_and_the_first_deny_wins(tmp_path):
    log = []
    hooks = [Recorder("a", log), Recorder("b", log, Deny("too risky")), Recorder("c", log, ModifyArguments({"code": "1"}))]
    agent, llm = make_agent([call("run_python", {"code": "ran = True"}), say("ok")], tmp_path, hooks)
    async with agent:
        await agent.run("go")
        assert "ran" not in agent.provider.shell.user_ns
    assert [name for name, _ in log] == ["a", "b"]
    assert agent.last_run.tool_calls[0].outcome == "denied"
    assert tool_results(llm) == ["Denied by the user's policy, nothing was run: too risky"]
    assert agent.last_run.tool_calls[0].ok is False


async def test_modified_arguments_run_and_results_can_be_replaced(tmp_path):
    hooks = [
        Recorder("mod", [], ModifyArguments({"code": "value = 6 * 7\nvalue"})),
        Recorder("replace", [], end=ReplaceResult("[redacted by policy]")),
    ]
    agent, llm = make_agent([call("run_python", {"code": "value = 0"}), say("ok")], tmp_path, hooks)
    async with agent:
        await agent.run("go")
        assert agent.provider.shell.user_ns["value"] == 42
    assert tool_results(llm) == ["[redacted by policy]"]


async def test_approval_is_shown_the_arguments_a_hook_rewrote(tmp_path):
    answers = Answers("y")
    agent, llm = make_agent([call("run_python", {"code": "value = 0"}), say("ok")], tmp_path)
    approval, console = terminal(answers, agent, ApprovalPolicy(["run_python"]))
    agent.add_callback(Recorder("rewrite", [], ModifyArguments({"code": "value = 'rewritten'"})))
    agent.add_callback(approval)
    async with agent:
        await agent.run("go")
        assert agent.provider.shell.user_ns["value"] == "rewritten"
    shown = console.export_text()
    assert "value = 'rewritten'" in shown and "value = 0" not in shown


async def test_deny_tools_composes_with_terminal_approval(tmp_path):
    answers = Answers("y", "y")
    agent, llm = make_agent(
        [call("bash", {"command": "echo hi"}), call("run_python", {"code": "x = 1"}), say("ok")], tmp_path
    )
    approval, _ = terminal(answers, agent, ApprovalPolicy(["bash", "run_python"]))
    agent.add_callback(deny_tools("bash", reason="no shell in this notebook"))
    agent.add_callback(approval)
    async with agent:
        await agent.run("go")
    results = tool_results(llm)
    assert results[0] == "Denied by the user's policy, nothing was run: no shell in this notebook"
    assert len(answers.prompts) == 1  # not asked about bash, which was denied first; asked about run_python
    assert not results[1].startswith("Denied")
    assert agent.provider.shell.user_ns["x"] == 1


# --- terminal approval -------------------------------------------------------------------
async def test_terminal_shows_the_command_and_runs_on_yes(tmp_path):
    answers = Answers("y")
    agent, llm = make_agent([call("bash", {"command": "echo approved-run > out.txt"}), say("ok")], tmp_path)
    approval, console = terminal(answers, agent)
    agent.add_callback(approval)
    async with agent:
        await agent.run("go")
    shown = console.export_text()
    assert "Run this shell command?" in shown and "echo approved-run > out.txt" in shown
    assert answers.prompts and "Approve bash?" in answers.prompts[0]
    assert (tmp_path / "out.txt").read_text().strip() == "approved-run"


@pytest.mark.parametrize(
    "answer, expected",
    [("n", "the user denied this call"), ("", "the user denied this call"), ("use git instead", "the user denied this call: use git instead")],
)
async def test_terminal_deny_reason_reaches_the_model(tmp_path, answer, expected):
    agent, llm = make_agent([call("bash", {"command": "touch nope.txt"}), say("ok")], tmp_path)
    approval, _ = terminal(Answers(answer), agent)
    agent.add_callback(approval)
    async with agent:
        await agent.run("go")
    assert tool_results(llm) == [f"Denied by the user's policy, nothing was run: {expected}"]
    assert not (tmp_path / "nope.txt").exists()


async def test_always_approves_the_tool_for_the_session(tmp_path):
    answers = Answers("a")
    script = [call("bash", {"command": "echo 1 >> n.txt"}), call("bash", {"command": "echo 2 >> n.txt"}), say("ok")]
    agent, _ = make_agent(script, tmp_path)
    approval, _ = terminal(answers, agent)
    agent.add_callback(approval)
    async with agent:
        await agent.run("go")
    assert len(answers.prompts) == 1
    assert (tmp_path / "n.txt").read_text().split() == ["1", "2"]


async def test_closed_input_denies(tmp_path):
    agent, llm = make_agent([call("write_file", {"file_path": "f.txt", "content": "x"}), say("ok")], tmp_path)
    approval, _ = terminal(Answers(), agent)
    agent.add_callback(approval)
    async with agent:
        await agent.run("go")
    assert "no answer" in tool_results(llm)[0]
    assert not (tmp_path / "f.txt").exists()


async def test_default_policy_asks_for_shell_and_file_writes_only(tmp_path):
    answers = Answers("y", "y", "y")
    script = [
        call("run_python", {"code": "a = 1"}),
        call("read_file", {"file_path": "f.txt"}),
        call("write_file", {"file_path": "f.txt", "content": "one\n"}),
        call("update_file", {"file_path": "f.txt", "old_content": "one", "new_content": "two"}),
        call("bash", {"command": "true"}),
        say("ok"),
    ]
    agent, _ = make_agent(script, tmp_path)
    approval, _ = terminal(answers, agent)
    agent.add_callback(approval)
    async with agent:
        await agent.run("go")
    assert [p.split("?")[0] for p in answers.prompts] == ["Approve write_file", "Approve update_file", "Approve bash"]
    assert ApprovalPolicy.every_tool().needs_approval("run_python")


async def test_custom_tools_that_declare_nothing_are_asked_and_pure_ones_are_not(tmp_path):
    from tinycode_jupyter import tool

    @tool
    def lookup(key: str) -> str:
        """Look a key up somewhere."""
        return key.upper()

    @tool(effects=[])
    def double(x: int) -> int:
        """Double a number."""
        return 2 * x

    answers = Answers("y")
    llm = ScriptedLLM([call("double", {"x": 2}), call("lookup", {"key": "k"}), say("ok")])
    agent = TinyCodeAgent(llm=llm, provider="kernel", default_workdir=tmp_path, tools=[lookup, double])
    approval, console = terminal(answers, agent)
    agent.add_callback(approval)
    async with agent:
        await agent.run("go")
    assert [p.split("?")[0] for p in answers.prompts] == ["Approve lookup"]
    shown = console.export_text()
    assert "Call lookup?" in shown and "\"key\": \"k\"" in shown, shown
    assert tool_results(llm) == ["4", "K"]


async def test_write_and_update_show_a_unified_diff_of_the_real_file(tmp_path):
    (tmp_path / "config.py").write_text("DEBUG = False\nPORT = 8000\n")
    answers = Answers("y", "y", "y")
    script = [
        call("update_file", {"file_path": "config.py", "old_content": "PORT = 8000", "new_content": "PORT = 9000"}),
        call("write_file", {"file_path": "config.py", "content": "DEBUG = True\nPORT = 9000\n"}),
        call("write_file", {"file_path": "new/readme.md", "content": "hello\n"}),
        say("ok"),
    ]
    shown = await terminal_shown(script, tmp_path, answers)
    assert "Edit config.py?" in shown
    assert "--- a/config.py" in shown and "-PORT = 8000" in shown and "+PORT = 9000" in shown
    assert " DEBUG = False" in shown  # context line from the file itself
    assert "Overwrite config.py?" in shown and "-DEBUG = False" in shown and "+DEBUG = True" in shown
    assert "Create new/readme.md?" in shown and "--- /dev/null" in shown and "+hello" in shown
    assert (tmp_path / "config.py").read_text() == "DEBUG = True\nPORT = 9000\n"


async def test_update_that_would_fail_says_so(tmp_path):
    (tmp_path / "a.txt").write_text("alpha\n")
    script = [call("update_file", {"file_path": "a.txt", "old_content": "beta", "new_content": "gamma"}), say("ok")]
    shown = await terminal_shown(script, tmp_path, Answers("y"))
    assert "! old_content occurs 0 time(s), expected 1: the update would fail" in shown
    assert "-beta" in shown and "+gamma" in shown


def test_unified_diff_marks_missing_final_newline():
    diff = unified_diff("f", "a\n", "a\nb")
    assert "+b\n\\ No newline at end of file" in diff


# --- notebook approval ----------------------------------------------------------------------
def clicking(button_name, reason=""):
    async def wait_for_click(widget):
        widget.reason.value = reason
        getattr(widget, button_name).click()
    return wait_for_click


async def test_notebook_approve_click_runs_the_call(tmp_path):
    shown = []
    agent, llm = make_agent([call("bash", {"command": "echo '<b>hi</b>' > w.txt"}), say("ok")], tmp_path)
    agent.add_callback(NotebookApproval(display=shown.append, wait_for_click=clicking("approve_button")))
    async with agent:
        await agent.run("go")
    assert (tmp_path / "w.txt").exists()
    [box] = shown
    preview, buttons, status = box.children
    assert "<pre style='max-height:24em;overflow:auto'>echo &#x27;&lt;b&gt;hi&lt;/b&gt;&#x27; &gt; w.txt</pre>" in preview.value  # escaped, not HTML
    assert all(b.disabled for b in buttons.children)
    assert status.value == "<i>Approved</i>"


async def test_notebook_deny_click_gives_the_reason(tmp_path):
    agent, llm = make_agent([call("bash", {"command": "echo gone > data.txt"}), say("ok")], tmp_path)
    agent.add_callback(NotebookApproval(display=lambda w: None, wait_for_click=clicking("deny_button", "keep the data")))
    async with agent:
        await agent.run("go")
    assert tool_results(llm) == ["Denied by the user's policy, nothing was run: the user denied this call: keep the data"]


async def test_notebook_always_and_timeout(tmp_path):
    script = [call("bash", {"command": "true"}), call("bash", {"command": "true"}), call("write_file", {"file_path": "x", "content": "1"}), say("ok")]
    agent, llm = make_agent(script, tmp_path)
    asked = []

    async def always_then_nothing(widget):
        asked.append(widget.request.tool)
        if widget.request.tool == "bash":
            widget.always_button.click()

    agent.add_callback(NotebookApproval(display=lambda w: None, wait_for_click=always_then_nothing))
    async with agent:
        await agent.run("go")
    assert asked == ["bash", "write_file"]
    assert tool_results(llm)[2] == "Denied by the user's policy, nothing was run: no answer from the user in time"


async def test_notebook_default_waiter_times_out_to_deny(tmp_path):
    agent, llm = make_agent([call("bash", {"command": "true"}), say("ok")], tmp_path)
    agent.add_callback(NotebookApproval(display=lambda w: None, timeout=0.05))
    async with agent:
        await agent.run("go")
    assert "no answer from the user in time" in tool_results(llm)[0]
