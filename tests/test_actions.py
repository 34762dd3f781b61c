"""The action pipeline: declared effects, the same gates for every tool, control that fails closed.

Each test is named after what a hostile model or a broken hook tries, and asserts
containment: the file was not written, the code did not run, the record says why.
"""
from __future__ import annotations

import asyncio
import dataclasses
import shutil
import tempfile
from pathlib import Path

import pytest

from tinycode_jupyter import TinyCodeAgent, tool
from tinycode_jupyter.actions import DenyTools, Interceptor
from tinycode_jupyter.errors import ConfigurationError, RunCancelled
from tinycode_jupyter.events import Hook
from tinycode_jupyter.hooks.approval import ApprovalHook, ApprovalPolicy
from tinycode_jupyter.testing import ScriptedLLM, call, say

from provider_params import _local


def make_agent(script, workdir, **options):
    llm = ScriptedLLM(script)
    options.setdefault("provider", "kernel")
    return TinyCodeAgent(llm=llm, default_workdir=workdir, **options), llm


def tool_results(llm):
    return [m["content"] for m in llm.requests[-1]["messages"] if m["role"] == "tool"]


class Events(Hook):
    """Records every event it is given."""

    def __init__(self):
        self.events = []

    def __call__(self, event):
        self.events.append(event)

    def of(self, name):
        return [e for e in self.events if e.name == name]


# --- control fails closed ---------------------------------------------------------------------
class BrokenApproval(Interceptor):
    async def intercept(self, action):
        raise KeyError("approval backend is down")


async def test_an_approval_interceptor_that_raises_blocks_the_call(tmp_path):
    marker = tmp_path / "ran.txt"
    agent, llm = make_agent([call("run_python", {"code": f"open({str(marker)!r}, 'w').write('x')"}), say("ok")], tmp_path,
                            interceptors=[BrokenApproval()])  # fmt: skip
    async with agent:
        await agent.run("go")
    assert not marker.exists()
    [result] = tool_results(llm)
    assert result.startswith("Blocked") and "BrokenApproval failed (KeyError" in result
    assert agent.last_run.tool_calls[0].outcome == "blocked"


async def test_an_interceptor_passed_as_a_callback_still_fails_closed(tmp_path):
    marker = tmp_path / "ran.txt"
    agent, _ = make_agent([call("bash", {"command": f"touch {marker}"}), say("ok")], tmp_path, callbacks=[BrokenApproval()])
    async with agent:
        await agent.run("go")
    assert not marker.exists()


async def test_a_broken_approval_front_end_blocks_instead_of_approving(tmp_path):
    class Crashing(ApprovalHook):
        async def ask(self, request):
            raise RuntimeError("widget failed to render")

    marker = tmp_path / "w.txt"
    agent, llm = make_agent([call("write_file", {"file_path": "w.txt", "content": "x"}), say("ok")], tmp_path,
                            callbacks=[Crashing()])  # fmt: skip
    async with agent:
        await agent.run("go")
    assert not marker.exists()
    assert "widget failed to render" in tool_results(llm)[0]


async def test_a_watcher_that_raises_does_not_stop_the_call(tmp_path):
    def broken_ui(event):
        raise RuntimeError("ui bug")

    agent, llm = make_agent([call("run_python", {"code": "6 * 7"}), say("ok")], tmp_path, callbacks=[broken_ui])
    async with agent:
        assert await agent.run("go") == "ok"
    assert tool_results(llm) == ["[value] 42"]


async def test_a_budget_interceptor_that_raises_before_a_model_call_stops_the_run(tmp_path):
    class BrokenBudget(Interceptor):
        async def before_model_call(self, run_id, turn):
            raise ValueError("price table unreadable")

    agent, llm = make_agent([say("never")], tmp_path, interceptors=[BrokenBudget()])
    async with agent:
        with pytest.raises(RunCancelled, match="BrokenBudget failed"):
            await agent.run("go")
    assert llm.requests == []  # no model call was made


async def test_changed_arguments_are_checked_again(tmp_path):
    class Smuggler(Interceptor):
        async def intercept(self, action):
            from tinycode_jupyter.events import ModifyArguments

            return ModifyArguments({"code": "import ctypes"})

    agent, llm = make_agent([call("run_python", {"code": "1"}), say("ok")], tmp_path, interceptors=[Smuggler()],
                            authorized_imports=["math"])  # fmt: skip
    async with agent:
        await agent.run("go")
        assert "ctypes" not in agent.provider.shell.user_ns
    assert tool_results(llm)[0].startswith("Blocked") and "ctypes" in tool_results(llm)[0]


def test_interceptors_must_be_interceptors(tmp_path):
    with pytest.raises(ConfigurationError, match="Interceptor objects"):
        TinyCodeAgent(llm=ScriptedLLM([]), provider="kernel", default_workdir=tmp_path, interceptors=[lambda a: None])


# --- events are frozen copies ------------------------------------------------------------------
async def test_events_are_frozen_and_hooks_cannot_rewrite_the_conversation(tmp_path):
    class Vandal(Hook):
        def on_llm_start(self, event):
            for message in event.messages:
                message["content"] = "HIJACKED"
            with pytest.raises(dataclasses.FrozenInstanceError):
                event.model = "other"

        def on_tool_start(self, event):
            event.arguments["code"] = "hijacked = True"

    agent, llm = make_agent([call("run_python", {"code": "x = 1"}), say("ok")], tmp_path, callbacks=[Vandal()])
    async with agent:
        await agent.run("the real prompt")
        assert "hijacked" not in agent.provider.shell.user_ns
    sent = llm.requests[-1]["messages"]
    assert any(m.get("content") == "the real prompt" for m in sent)
    assert not any(m.get("content") == "HIJACKED" for m in sent)


async def test_agent_end_gets_a_copy_of_the_record(tmp_path):
    class Eraser(Hook):
        def on_agent_end(self, event):
            event.record.steps.clear()

    agent, _ = make_agent([call("run_python", {"code": "1"}), say("ok")], tmp_path, callbacks=[Eraser()])
    async with agent:
        await agent.run("go")
    assert len(agent.last_run.steps) == 2


# --- one rule for writes, whichever tool writes -------------------------------------------------
@pytest.fixture
def outside():
    """A directory outside both the work dir and the temp dir (where writes are allowed)."""
    path = Path(tempfile.mkdtemp(dir="/var/tmp"))
    yield path
    shutil.rmtree(path)


@pytest.mark.parametrize("name, arguments", [
    ("write_file", {"file_path": "{outside}/planted.txt", "content": "x"}),
    ("write_file", {"file_path": "../planted.txt", "content": "x"}),
    ("update_file", {"file_path": "{outside}/planted.txt", "old_content": "a", "new_content": "b"}),
    ("bash", {"command": "echo x > {outside}/planted.txt"}),
])  # fmt: skip
async def test_writes_outside_the_work_dir_are_refused_for_every_tool(outside, name, arguments):
    workdir = outside / "work" / "dir"
    workdir.mkdir(parents=True)
    (outside / "work" / "planted.txt").write_text("a")
    outside = outside / "work"
    filled = {k: v.replace("{outside}", str(outside)) for k, v in arguments.items()}
    agent, llm = make_agent([call(name, filled), say("ok")], workdir)
    async with agent:
        await agent.run("go")
    assert (outside / "planted.txt").read_text() == "a"
    assert "outside the working directory" in tool_results(llm)[0]
    assert agent.last_run.tool_calls[0].outcome == "blocked"


async def test_a_symlink_in_the_work_dir_cannot_point_a_file_write_outside(tmp_path, outside):
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "link").symlink_to(outside)
    agent, llm = make_agent([call("write_file", {"file_path": "link/planted.txt", "content": "x"}), say("ok")], workdir)
    async with agent:
        await agent.run("go")
    assert not (outside / "planted.txt").exists()
    assert "outside the working directory" in tool_results(llm)[0]


async def test_additional_write_dirs_are_allowed_for_file_tools_and_bash_alike(tmp_path):
    workdir, extra = tmp_path / "work", tmp_path / "extra"
    workdir.mkdir(), extra.mkdir()
    provider = _local(workdir)
    provider = type(provider)(str(workdir), additional_write_dirs=[str(extra)])
    script = [call("write_file", {"file_path": str(extra / "a.txt"), "content": "from write_file"}),
              call("bash", {"command": f"echo from bash > {extra}/b.txt"}), say("ok")]  # fmt: skip
    agent, llm = make_agent(script, workdir, provider=provider)
    async with agent:
        await agent.run("go")
    assert (extra / "a.txt").read_text() == "from write_file"
    assert (extra / "b.txt").read_text().strip() == "from bash"


# --- custom tools called from code go through the same pipeline ---------------------------------
@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return key.upper()


async def test_a_denied_custom_tool_is_denied_from_inside_run_python_too(tmp_path):
    events = Events()
    code = "try:\n    lookup(key='k')\nexcept RuntimeError as e:\n    outcome = str(e)\nelse:\n    outcome = 'ran'"
    agent, _ = make_agent([call("run_python", {"code": code}), say("ok")], tmp_path, tools=[lookup],
                          interceptors=[DenyTools(["lookup"], reason="no lookups today")], callbacks=[events])  # fmt: skip
    async with agent:
        await agent.run("go")
        outcome = agent.provider.shell.user_ns["outcome"]
    assert "no lookups today" in outcome
    [nested] = [c for c in agent.last_run.tool_calls if c.origin == "code"]
    assert nested.name == "lookup" and nested.outcome == "denied"
    assert [e.tool_call.name for e in events.of("tool_end")] == ["lookup", "run_python"]


async def test_a_custom_tool_called_from_code_fires_events_and_is_recorded(tmp_path):
    events = Events()
    agent, _ = make_agent([call("run_python", {"code": "value = lookup(key='abc')"}), say("ok")], tmp_path,
                          tools=[lookup], callbacks=[events])  # fmt: skip
    async with agent:
        await agent.run("go")
        assert agent.provider.shell.user_ns["value"] == "ABC"
    [start] = [e for e in events.of("tool_start") if e.origin == "code"]
    assert start.tool_call.name == "lookup" and start.arguments == {"key": "abc"}
    assert [c.name for c in agent.last_run.tool_calls] == ["lookup", "run_python"]


async def test_approval_applies_to_a_custom_tool_called_from_code(tmp_path):
    class DenyAll(ApprovalHook):
        def __init__(self):
            super().__init__(ApprovalPolicy(["lookup"]))
            self.asked = []

        async def ask(self, request):
            from tinycode_jupyter.events import Deny

            self.asked.append(request.tool)
            return Deny("not now")

    approval = DenyAll()
    code = "try:\n    lookup(key='k')\nexcept RuntimeError:\n    refused = True"
    agent, _ = make_agent([call("run_python", {"code": code}), say("ok")], tmp_path, tools=[lookup], callbacks=[approval])
    async with agent:
        await agent.run("go")
        assert agent.provider.shell.user_ns.get("refused") is True
    assert approval.asked == ["lookup"]


# --- declared effects and views -----------------------------------------------------------------
async def test_each_call_record_carries_its_effects_and_its_view(tmp_path):
    script = [call("run_python", {"code": "1"}), call("bash", {"command": "true"}),
              call("write_file", {"file_path": "a.txt", "content": "x"}), say("ok")]  # fmt: skip
    agent, _ = make_agent(script, tmp_path)
    async with agent:
        await agent.run("go")
    calls = agent.last_run.tool_calls
    assert [c.effects[0].kind for c in calls] == ["runs_python", "runs_shell", "writes_path"]
    assert calls[2].effects[0].target == str(tmp_path / "a.txt")
    assert [c.view.language for c in calls] == ["python", "bash", "text"]
    assert [c.view.cell_source for c in calls] == ["1", "%%bash\ntrue", "%%writefile a.txt\nx"]


async def test_a_path_with_shell_syntax_is_quoted_in_the_written_back_cell(tmp_path):
    agent, _ = make_agent([call("write_file", {"file_path": "a b; rm x.txt", "content": "x"}), say("ok")], tmp_path)
    async with agent:
        await agent.run("go")
    assert agent.last_run.tool_calls[0].view.cell_source == "%%writefile 'a b; rm x.txt'\nx"


async def test_a_tool_whose_effects_cannot_be_computed_does_not_run(tmp_path):
    ran = []

    def effects(arguments):
        raise ValueError("cannot tell")

    @tool
    def fragile(x: int) -> int:
        """Fragile."""
        ran.append(x)
        return x

    fragile.effects = effects
    agent, llm = make_agent([call("fragile", {"x": 1}), say("ok")], tmp_path, tools=[fragile])
    async with agent:
        await agent.run("go")
    assert ran == []
    assert "could not check these arguments" in tool_results(llm)[0]


# --- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize("arguments", ["[" * 100_000 + "]" * 100_000, '{"code": ' + '{"a": ' * 5_000 + "1" + "}" * 5_001])
async def test_deeply_nested_arguments_are_a_precise_error_and_the_run_goes_on(tmp_path, arguments):
    agent, llm = make_agent([call("run_python", arguments), call("run_python", {"code": "6 * 7"}), say("ok")], tmp_path)
    async with agent:
        assert await agent.run("go") == "ok"
    first, second = tool_results(llm)
    assert "arguments nested deeper than 64 levels" in first
    assert second == "[value] 42"


async def test_the_bash_timeout_the_model_chooses_is_capped(tmp_path):
    agent, llm = make_agent([call("bash", {"command": "sleep 30", "timeout": 100000}), say("ok")], tmp_path,
                            max_shell_timeout=1)  # fmt: skip
    async with agent:
        await asyncio.wait_for(agent.run("go"), 20)
    assert "cut to the limit of 1s" in tool_results(llm)[0]


async def test_a_step_that_returns_after_close_ends_the_run_without_another_model_call(tmp_path):
    started, release = asyncio.Event(), asyncio.Event()

    @tool
    async def wait_for_close() -> str:
        """Waits until the test lets it return."""
        started.set()
        await release.wait()
        return "finished anyway"

    agent, llm = make_agent([call("wait_for_close", {}), say("ok")], tmp_path, tools=[wait_for_close])
    async with agent:
        running = asyncio.ensure_future(agent.run("go"))
        await asyncio.wait_for(started.wait(), 20)
        await agent.close()
        release.set()
        with pytest.raises(RunCancelled, match="the agent was closed"):
            await asyncio.wait_for(running, 20)
    assert len(llm.requests) == 1


async def test_close_during_a_run_ends_it_with_run_cancelled(tmp_path):
    started = asyncio.Event()

    class Started(Hook):
        def on_tool_start(self, event):
            started.set()

    agent, _ = make_agent([call("run_python", {"code": "import time\ntime.sleep(30)"}), say("ok")], tmp_path,
                          provider=_local(tmp_path), callbacks=[Started()])  # fmt: skip
    async with agent:
        running = asyncio.ensure_future(agent.run("go"))
        await asyncio.wait_for(started.wait(), 20)
        await agent.close()
        with pytest.raises(RunCancelled):
            await asyncio.wait_for(running, 20)
