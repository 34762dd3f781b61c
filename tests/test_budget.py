"""Budgets on tokens and cost, per run and per session, ending the run with BudgetExceeded."""
from __future__ import annotations

import pytest

from tinycode_jupyter import TinyCodeAgent
from tinycode_jupyter.errors import BudgetExceeded, ConfigurationError
from tinycode_jupyter.events import EventBus, Hook, LLMEnd, LLMStart, StopRun
from tinycode_jupyter.hooks import TokenTracker
from tinycode_jupyter.llm import LLMResponse, Usage
from tinycode_jupyter.testing import ScriptedLLM, call, say


def loop_script(prompt_tokens=100, completion_tokens=10):
    return lambda request: call("run_python", {"code": "step = 1"}, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


def make_agent(script, tmp_path, tracker, **kwargs):
    llm = ScriptedLLM(script)
    return TinyCodeAgent(llm=llm, provider="kernel", default_workdir=tmp_path, callbacks=[tracker], **kwargs), llm


async def test_per_run_token_budget_stops_the_run_with_a_clear_message(tmp_path):
    tracker = TokenTracker(per_run_max_tokens=300)
    agent, llm = make_agent(loop_script(), tmp_path, tracker, max_turns=20)
    async with agent:
        with pytest.raises(BudgetExceeded) as caught:
            await agent.run("loop")
    error = caught.value
    assert "per_run_max_tokens" in str(error) and "330 tokens used of 300" in str(error)
    assert (error.limit, error.scope, error.maximum, error.used) == ("per_run_max_tokens", "run", 300, 330)
    assert len(llm.requests) == 3  # 110, 220, 330: the third call crossed the limit, no fourth call
    record = agent.last_run
    assert record.error.startswith("BudgetExceeded")
    assert record.usage.total_tokens == tracker.total.total_tokens == 330
    # the tool calls of the crossing turn were not run, and the conversation stays valid
    assert record.steps[-1].tool_calls == []
    assert agent.messages[-1] == {"role": "tool", "tool_call_id": agent.messages[-2]["tool_calls"][0]["id"],
                                  "content": "[not run: the run was stopped]"}  # fmt: skip


async def test_session_budget_spans_runs_and_reset_lifts_it(tmp_path):
    tracker = TokenTracker(max_tokens=250)
    agent, llm = make_agent([say("one", prompt_tokens=100, completion_tokens=20), say("two", prompt_tokens=100, completion_tokens=40),
                             say("three", prompt_tokens=10, completion_tokens=1)], tmp_path, tracker)  # fmt: skip
    async with agent:
        assert await agent.run("first") == "one"
        assert await agent.run("second") == "two"  # 260 used: the answer arrived, the next call is refused
        with pytest.raises(BudgetExceeded, match=r"max_tokens of tracker 'tracker', this session\): 260 tokens used of 250"):
            await agent.run("third")
        assert len(llm.requests) == 2
        tracker.reset()
        assert await agent.run("fourth") == "three"


async def test_per_run_limit_starts_fresh_each_run(tmp_path):
    tracker = TokenTracker(per_run_max_tokens=150)
    agent, _ = make_agent([say("a", prompt_tokens=100, completion_tokens=20)] * 3, tmp_path, tracker)
    async with agent:
        for _ in range(3):
            await agent.run("go")
    assert tracker.total.total_tokens == 360


async def test_cost_budget(tmp_path):
    class Priced(ScriptedLLM):
        async def complete(self, messages, tools, on_delta=None):
            response = await super().complete(messages, tools, on_delta)
            response.cost = 0.02
            return response

    tracker = TokenTracker(per_run_max_cost=0.05)
    agent = TinyCodeAgent(llm=Priced(loop_script()), provider="kernel", default_workdir=tmp_path, callbacks=[tracker])
    async with agent:
        with pytest.raises(BudgetExceeded, match=r"per_run_max_cost .*\$0\.0600 spent of \$0\.0500"):
            await agent.run("loop")
    assert tracker.total.calls == 3


async def test_child_usage_rolls_up_and_the_parent_limit_stops_the_child(tmp_path):
    parent = TokenTracker("team", max_tokens=500)
    child_a = TokenTracker("a", parent=parent)
    child_b = TokenTracker("b", parent=parent)
    agent_a, _ = make_agent([say("done", prompt_tokens=300, completion_tokens=50)], tmp_path, child_a)
    agent_b, llm_b = make_agent(loop_script(), tmp_path, child_b, max_turns=20)
    async with agent_a, agent_b:
        await agent_a.run("go")
        with pytest.raises(BudgetExceeded, match="max_tokens of tracker 'team'"):
            await agent_b.run("go")
    assert parent.total.total_tokens == child_a.total.total_tokens + child_b.total.total_tokens == 570
    assert len(llm_b.requests) == 2


async def test_a_parent_per_run_limit_applies_to_each_run_of_its_children(tmp_path):
    parent = TokenTracker("team", per_run_max_tokens=300)
    child = TokenTracker("worker", parent=parent)
    agent, llm = make_agent(loop_script(), tmp_path, child, max_turns=20)
    async with agent:
        for _ in range(2):  # the second run starts fresh: the limit is per run, not per session
            with pytest.raises(BudgetExceeded, match="per_run_max_tokens of tracker 'team'"):
                await agent.run("loop")
    assert len(llm.requests) == 6
    assert parent.total.total_tokens == 660


def test_invalid_limits_are_configuration_errors():
    with pytest.raises(ConfigurationError, match="max_tokens"):
        TokenTracker(max_tokens=-1)
    with pytest.raises(ConfigurationError, match="per_run_max_cost"):
        TokenTracker(per_run_max_cost="1")


async def test_stop_run_is_the_only_hook_exception_that_escapes_the_bus():
    bus = EventBus()

    class Broken(Hook):
        def on_llm_start(self, event):
            raise KeyError("a bug in a hook")

    seen = []
    bus.add(Broken())
    bus.add(lambda e: seen.append(e.name))
    await bus.emit(LLMStart(run_id="r", messages=(), model="m"))  # logged, not raised; later hooks still run
    assert seen == ["llm_start"]

    def stopper(event):
        raise StopRun(BudgetExceeded("enough"))

    bus.add(stopper)
    with pytest.raises(BudgetExceeded, match="enough"):
        await bus.emit(LLMStart(run_id="r", messages=(), model="m"))


def test_tracker_counts_server_usage():
    tracker = TokenTracker()
    tracker.on_llm_end(LLMEnd(run_id="r", response=LLMResponse("x", usage=Usage(7, 3, 2), cost=0.5, model="m")))
    assert (tracker.total.prompt_tokens, tracker.total.completion_tokens, tracker.total.cached_tokens) == (7, 3, 2)
