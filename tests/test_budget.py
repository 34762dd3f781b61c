"""Budgets on tokens and cost, per run and per session, ending the run with BudgetExceeded."""
from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest

from tinycode_jupyter import TinyCodeAgent
from tinycode_jupyter.cli import main as cli_main
from tinycode_jupyter.errors import BudgetExceeded, ConfigurationError
from tinycode_jupyter.events import EventBus, Hook, LLMEnd, LLMStart, StopRun
from tinycode_jupyter.hooks import TokenTracker
from tinycode_jupyter.hooks.rich_ui import usage_line
from tinycode_jupyter.hooks.token_tracker import refuse_unpriced_cost_limits
from tinycode_jupyter.llm import LiteLLMModel, LLMResponse, Usage
from tinycode_jupyter.testing import ScriptedLLM, ScriptedServer, call, say

from kernel_harness import Kernel


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
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ConfigurationError, match="max_cost must be a finite"):
            TokenTracker(max_cost=bad)


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


# --- budgets for every model: unknown prices, explicit prices, unreported usage -----------------------------
UNKNOWN = "no known price for model 'openai/scripted': pass price_per_mtok=(in, out) or use --budget-tokens"


def served_agent(server, tmp_path, tracker, **model_kwargs):
    return TinyCodeAgent(model="openai/scripted", model_kwargs={"api_base": server.url, **model_kwargs}, provider="kernel",
                         default_workdir=tmp_path, callbacks=[tracker], max_turns=20)  # fmt: skip


async def test_a_usd_budget_on_a_model_with_no_known_price_is_refused_before_any_request(tmp_path):
    tracker = TokenTracker(per_run_max_cost=0.01)
    with ScriptedServer([say("never")]) as server:
        agent = served_agent(server, tmp_path, tracker)
        with pytest.raises(ConfigurationError) as caught:
            refuse_unpriced_cost_limits(agent.llm, [tracker])
        assert str(caught.value) == UNKNOWN
        assert server.requests == []


async def test_a_parents_usd_budget_is_refused_too_and_a_token_budget_is_not(tmp_path):
    parent = TokenTracker("team", max_cost=1.0)
    with ScriptedServer([]) as server:
        llm = served_agent(server, tmp_path, TokenTracker()).llm
        with pytest.raises(ConfigurationError, match="no known price for model 'openai/scripted'"):
            refuse_unpriced_cost_limits(llm, [TokenTracker("child", parent=parent)])
        refuse_unpriced_cost_limits(llm, [TokenTracker(per_run_max_tokens=10)])
        assert server.requests == []


class WithoutPriceInfo:
    """A model object of the user's own that says nothing about its price (no ``price``)."""

    def __init__(self, llm):
        self.llm, self.model = llm, llm.model

    async def complete(self, *args, **kwargs):
        return await self.llm.complete(*args, **kwargs)


async def test_a_usd_budget_that_meets_an_unpriced_call_stops_the_run_instead_of_counting_it_free(tmp_path):
    tracker = TokenTracker(per_run_max_cost=100.0)  # would never be reached if an unknown price counted as $0
    with ScriptedServer(loop_script()) as server:
        agent = served_agent(server, tmp_path, tracker)
        agent.llm = WithoutPriceInfo(agent.llm)  # not refused up front: the limit must still fail closed in the run
        async with agent:
            with pytest.raises(BudgetExceeded) as caught:
                await agent.run("loop")
        assert len(server.requests) == 1
    assert str(caught.value).startswith(UNKNOWN) and "per_run_max_cost of tracker 'tracker' cannot be checked" in str(caught.value)
    assert (caught.value.limit, caught.value.used) == ("per_run_max_cost", None)
    assert agent.last_run.cost is None and tracker.total.cost is None


async def test_price_per_mtok_prices_every_call_and_the_usd_budget_stops_the_run(tmp_path):
    tracker = TokenTracker(per_run_max_cost=0.25)
    with ScriptedServer(lambda request: call("run_python", {"code": "step = 1"}, prompt_tokens=100_000, completion_tokens=10_000)) as server:
        agent = served_agent(server, tmp_path, tracker, price_per_mtok=(1.0, 5.0))  # $0.10 + $0.05 per call
        refuse_unpriced_cost_limits(agent.llm, [tracker])
        async with agent:
            with pytest.raises(BudgetExceeded, match=r"per_run_max_cost .*\$0\.3000 spent of \$0\.2500"):
                await agent.run("loop")
        assert len(server.requests) == 2  # $0.15, $0.30: the second call crossed the limit, no third call
    assert agent.last_run.cost == pytest.approx(0.30)
    assert [step.cost for step in agent.last_run.steps] == [pytest.approx(0.15)] * 2
    assert "$0.3000" in usage_line(agent.last_run)


async def test_a_local_server_is_price_unknown_even_under_a_priced_models_name(tmp_path):
    local = LiteLLMModel("openai/gpt-4.1-mini", model_kwargs={"api_base": "http://127.0.0.1:9/v1"})
    assert not local.price.known
    assert not LiteLLMModel("ollama/llama3.1").price.known  # litellm's map says $0: not a price
    assert LiteLLMModel("gpt-4.1-mini").price.known
    assert LiteLLMModel("openai/gpt-4.1-mini", model_kwargs={"api_base": "http://127.0.0.1:9/v1", "price_per_mtok": (0.4, 1.6)}).price.known
    assert "price_per_mtok" not in LiteLLMModel("x", model_kwargs={"price_per_mtok": "0.4,1.6"}).model_kwargs  # never sent to the server


@pytest.mark.parametrize("bad", [(1.0,), (1, 2, 3), ("a", "b"), (-1, 2), "1", (True, 1), (float("nan"), 1)])
def test_a_malformed_price_is_a_configuration_error(bad):
    with pytest.raises(ConfigurationError, match="price_per_mtok must be"):
        LiteLLMModel("openai/x", price_per_mtok=bad)


async def test_the_usage_line_says_price_unknown_not_zero_and_free_stays_zero(tmp_path):
    with ScriptedServer([say("hi")]) as server:
        async with served_agent(server, tmp_path, TokenTracker()) as agent:
            await agent.run("go")
    unknown = usage_line(agent.last_run)
    assert "price unknown" in unknown and "$0.0000" not in unknown
    free, _ = make_agent([say("hi")], tmp_path, TokenTracker())  # a scripted in-process model costs nothing
    async with free:
        await free.run("go")
    assert "$0.0000" in usage_line(free.last_run)


@pytest.mark.parametrize("streaming", [False, True])
async def test_a_token_budget_stops_the_run_when_the_server_reports_no_usage(tmp_path, streaming):
    tracker = TokenTracker(per_run_max_tokens=3000)  # a few calls' worth
    callbacks = [tracker] + ([lambda event: None] if streaming else [])  # a plain callback listens for deltas: streamed
    script = lambda request: call("run_python", {"code": "step = 1"}, report_usage=False)  # noqa: E731
    with ScriptedServer(script) as server:
        agent = TinyCodeAgent(model="openai/scripted", model_kwargs={"api_base": server.url}, provider="kernel",
                              default_workdir=tmp_path, callbacks=callbacks, max_turns=30)  # fmt: skip
        async with agent:
            with pytest.raises(BudgetExceeded, match="per_run_max_tokens"):
                await agent.run("loop")
        assert server.responses and all(response == {} for response in server.responses)  # nothing was reported
        assert 1 < len(server.requests) < 30
    assert tracker.total.total_tokens >= 3000 and agent.last_run.usage.total_tokens == tracker.total.total_tokens
    if not streaming:  # litellm counts a stream itself; a whole answer without usage is estimated here
        assert agent.last_run.usage.estimated and tracker.total.estimated_calls == len(server.requests)
        assert "are estimates: the server reported no usage" in tracker.summary()


# --- the same through the magics in a real kernel, `tinycode run` and `tinycode chat` -----------------------
@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    k = Kernel(cwd=str(tmp_path_factory.mktemp("kernel")))
    k.execute("%load_ext tinycode_jupyter")
    yield k
    k.shutdown()


def agent_cell(server, options):
    return f"%%agent --model openai/scripted --api-base {server.url} {options}\nloop"


def footer(run):
    """The cell's usage footer, as plain text."""
    plain = [o["content"]["data"].get("text/plain", "") for o in run.outputs if "data" in o["content"]]
    return [text for text in plain if "completion tokens" in text][-1]


def test_magic_budget_usd_on_an_unpriced_model_refuses_before_any_request_with_one_line(kernel):
    with ScriptedServer([say("never")]) as server:
        run = kernel.execute(agent_cell(server, "--budget-usd 0.01"))
        assert server.requests == []
    assert run.status == "error"
    assert run.error["evalue"] == f"ConfigurationError: {UNKNOWN}"


def test_magic_budget_usd_with_a_price_stops_the_run_after_the_limit(kernel):
    with ScriptedServer(lambda request: call("run_python", {"code": "step = 1"}, prompt_tokens=100_000, completion_tokens=10_000)) as server:
        run = kernel.execute(agent_cell(server, "--budget-usd 0.25 --price-per-mtok 1,5"))
        assert len(server.requests) == 2
    assert run.status == "error"
    assert "BudgetExceeded" in run.error["evalue"] and "$0.3000 spent of $0.2500" in run.error["evalue"]
    assert "$0.3000" in footer(run)


def test_magic_budget_tokens_stops_the_run_and_the_footer_says_price_unknown(kernel):
    with ScriptedServer(loop_script(prompt_tokens=1000, completion_tokens=10)) as server:
        run = kernel.execute(agent_cell(server, "--budget-tokens 2500"))
        assert len(server.requests) == 3  # 1,010, 2,020, 3,030
    assert run.status == "error"
    assert "per_run_max_tokens of tracker '--budget-tokens'" in run.error["evalue"]
    assert "3,030 tokens used of 2,500" in run.error["evalue"]
    assert "price unknown" in footer(run) and "$0.0000" not in footer(run)


def test_magic_price_per_mtok_setting_prices_later_cells(kernel):
    kernel.execute("%agent price_per_mtok=2,8")
    try:
        with ScriptedServer([say("priced", prompt_tokens=500_000, completion_tokens=0)]) as server:
            run = kernel.execute(agent_cell(server, "--budget-usd 5"))
        assert run.status == "ok", run.text()
        assert "$1.0000" in footer(run)
    finally:
        kernel.execute("%agent price_per_mtok=")


def test_tinycode_run_stops_at_an_unpriced_usd_budget_before_any_request(tmp_path, capsys):
    with ScriptedServer([say("never")]) as server:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [nbformat.v4.new_code_cell("%load_ext tinycode_jupyter", id="setup"),
                    nbformat.v4.new_code_cell(agent_cell(server, "--budget-usd 0.01"), id="agent")]  # fmt: skip
        nbformat.write(nb, tmp_path / "budget.ipynb")
        assert cli_main(["run", str(tmp_path / "budget.ipynb")]) == 1
        assert server.requests == []
    assert f"error: cell 2 (id agent) failed: UsageError: ConfigurationError: {UNKNOWN}" in capsys.readouterr().err


def chat(server, *options):
    return subprocess.run(
        [sys.executable, "-m", "tinycode_jupyter.cli", "chat", "--model", "openai/scripted", "--api-base", server.url,
         "--provider", "kernel", *options], input="loop\n/exit\n", capture_output=True, text=True, timeout=120,
        env={**os.environ, "COLUMNS": "120", "TERM": "dumb"},
    )  # fmt: skip


def test_tinycode_chat_refuses_an_unpriced_usd_budget_and_enforces_a_token_budget():
    with ScriptedServer([]) as server:
        refused = chat(server, "--budget-usd", "0.01")
        assert server.requests == []
    assert refused.returncode == 2 and refused.stderr.strip() == f"error: {UNKNOWN}"
    with ScriptedServer(loop_script(prompt_tokens=1000, completion_tokens=10)) as server:
        limited = chat(server, "--budget-tokens", "2500")
        assert len(server.requests) == 3
    assert limited.returncode == 0, limited.stderr
    assert "BudgetExceeded" in limited.stdout and "3,030 tokens used of 2,500" in " ".join(limited.stdout.split())
    assert "price unknown" in limited.stdout and "$0.0000" not in limited.stdout


def test_magic_price_that_is_not_a_pair_fails_the_cell_with_one_line(kernel):
    with ScriptedServer([say("never")]) as server:
        run = kernel.execute(agent_cell(server, "--budget-usd 1 --price-per-mtok 0.4"))
        assert server.requests == []
    assert run.status == "error"
    assert run.error["evalue"] == ("%%agent: argument --price-per-mtok: price_per_mtok must be (input, output) US$ per "
                                   "million tokens, e.g. (0.4, 1.6) or '0.4,1.6'; got '0.4'")  # fmt: skip
