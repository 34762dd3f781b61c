"""Fault injection at the agent level: faults in the middle of multi-step runs, streamed and not.

The model is the loopback ScriptedServer, so every fault travels over real HTTP, on every
seam: the OpenAI, Anthropic and Ollama protocols, each through its native client and through
litellm. For each fault the run either recovers (and the code run before
the fault still counts) or ends with a typed error from ``tinycode_jupyter.errors``,
keeping the transcript in ``agent.last_run``; the conversation stays valid for the
next run; and no run takes longer than a bound. First-call retries, Retry-After on
the first call, 4xx classification and first-call timeouts are in test_llm_seam.py.
"""
from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tinycode_jupyter import TinyCodeAgent
from tinycode_jupyter.errors import LLMError, LLMTimeoutError, TinyCodeError
from tinycode_jupyter.testing import ScriptedServer, call, fault, say

from seams import SEAMS, Seam, litellm_gap, seams

pytestmark = pytest.mark.timeout(60)

RETRIES = 2
BOUND_S = 10.0
"""No run here may take longer than this: every fault is bounded by retries and timeouts."""

BEFORE = [call("run_python", {"code": "a = 20"}), call("run_python", {"code": "b = a + 1"})]
AFTER = [call("run_python", {"code": "print(a + b)"}), say("done: 41")]

TRANSIENT = {
    "429_retry_after": fault("status", status=429, retry_after=0.3),
    "500": fault("status", status=500),
    "503": fault("status", status=503),
    "reset": fault("reset"),
    "cut_stream": fault("cut_stream"),
    "empty_choices": fault("empty_choices"),
    "slow": fault("delay", delay=3.0),
}


@pytest.fixture(autouse=True, scope="module")
def litellm_imported() -> None:
    """Import litellm before any run, so the time bounds measure the runs, not the import."""
    from tinycode_jupyter.llm import import_litellm

    import_litellm()


class Deltas:
    """A streaming listener: records text and tool-call deltas (its presence makes the agent stream)."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.tool_arguments: list[str] = []

    def __call__(self, event: Any) -> None:
        if event.name != "llm_delta":
            return
        if event.text_delta:
            self.text.append(event.text_delta)
        if event.tool_call_delta and event.tool_call_delta.get("arguments"):
            self.tool_arguments.append(event.tool_call_delta["arguments"])


def make_agent(server: ScriptedServer, tmp_path, streaming: bool, seam: Seam, timeout: float = 1.0) -> tuple[TinyCodeAgent, Deltas]:
    deltas = Deltas()
    agent = TinyCodeAgent(
        model=seam.model, api_key="test-key", provider="kernel", default_workdir=tmp_path, max_turns=10,
        model_kwargs=seam.model_kwargs(server, retry_backoff=0.01, num_retries=RETRIES, timeout=timeout),
        callbacks=[deltas] if streaming else [],
    )  # fmt: skip
    return agent, deltas


def assert_valid_conversation(messages: list[dict[str, Any]]) -> None:
    """Every tool call has exactly one tool result right after its assistant message (an API requirement)."""
    for index, message in enumerate(messages):
        calls = [c["id"] for c in message.get("tool_calls") or ()]
        answered = [m["tool_call_id"] for m in messages[index + 1 : index + 1 + len(calls)] if m["role"] == "tool"]
        assert answered == calls, f"message {index}: tool calls {calls} answered by {answered}"


async def timed_run(agent: TinyCodeAgent, prompt: str = "go") -> tuple[Any, float]:
    started = time.perf_counter()
    try:
        return await agent.run(prompt), time.perf_counter() - started
    except TinyCodeError as exc:
        return exc, time.perf_counter() - started


def cases(kinds: list[str]) -> list[Any]:
    """(kind, streaming, seam) triples."""
    return [
        pytest.param(kind, streaming, seam, id=f"{kind}-{'streamed' if streaming else 'whole'}-{seam.id}")
        for kind in kinds
        for streaming in (False, True)
        for seam in SEAMS
    ]


EMPTY_GAP = "litellm's ollama_chat takes a streamed answer without a message for a bad request, and does not retry it"
MALFORMED_GAP = "litellm cannot send a tool call with malformed JSON arguments back in the Anthropic and Ollama formats"


@pytest.mark.parametrize(("kind", "streaming", "seam"), cases(list(TRANSIENT)))
async def test_a_fault_mid_run_is_retried_and_the_run_finishes(tmp_path, kind, streaming, seam, request):
    if kind == "empty_choices" and streaming:
        litellm_gap(request, seam, ("ollama",), EMPTY_GAP)
    with ScriptedServer([*BEFORE, TRANSIENT[kind], *AFTER]) as server:
        agent, deltas = make_agent(server, tmp_path, streaming, seam)
        async with agent:
            result, elapsed = await timed_run(agent)
        requests = seam.chat_requests(server)
    assert result == "done: 41", f"{kind}: {result!r}"
    assert elapsed < BOUND_S
    assert len(requests) == 5  # 4 answers + the faulted attempt, retried once
    assert requests[2]["messages"] == requests[3]["messages"], "the retry must resend the same conversation"
    assert all(seam.streamed(r) is streaming for r in requests)
    record = agent.last_run
    assert record.error is None and record.answer == "done: 41"
    assert [c.result.strip() for c in record.tool_calls] == ["[no output]", "[no output]", "41"]
    assert_valid_conversation(agent.messages)
    if kind == "429_retry_after":
        assert elapsed >= 0.3, "Retry-After was not honoured mid-run"
    if kind == "slow":
        assert elapsed < 3.0, "the client waited for the slow answer instead of timing out"
    if streaming:
        assert "".join(deltas.text).endswith("done: 41")


PERSISTENT = {
    "500": (fault("status", status=500), LLMError),
    "reset": (fault("reset"), LLMError),
    "cut_stream": (fault("cut_stream"), LLMError),
    "empty_choices": (fault("empty_choices"), LLMError),
    "slow": (fault("delay", delay=3.0), LLMTimeoutError),
}


@pytest.mark.parametrize(("kind", "streaming", "seam"), cases(list(PERSISTENT)))
async def test_a_persistent_fault_mid_run_is_a_typed_error_and_keeps_the_transcript(tmp_path, kind, streaming, seam, request):
    if kind == "empty_choices" and streaming:
        litellm_gap(request, seam, ("ollama",), EMPTY_GAP)
    failure, error_type = PERSISTENT[kind]
    with ScriptedServer([*BEFORE, *[failure] * (RETRIES + 1), say("fresh start")]) as server:
        agent, _ = make_agent(server, tmp_path, streaming, seam, timeout=0.5)
        async with agent:
            result, elapsed = await timed_run(agent)
            assert isinstance(result, error_type), f"{kind}: {result!r}"
            assert elapsed < BOUND_S
            assert len(seam.chat_requests(server)) == 2 + RETRIES + 1, "retries must stop after num_retries"
            failed = agent.last_run
            assert failed.error.startswith(type(result).__name__)
            assert [c.arguments for c in failed.tool_calls] == [{"code": "a = 20"}, {"code": "b = a + 1"}]
            assert failed.answer is None and agent.history[-1] is failed
            assert_valid_conversation(agent.messages)
            # The conversation is still usable: the next run goes on from where this one stopped.
            assert await agent.run("try again") == "fresh start"
            sent = seam.conversation(seam.chat_requests(server)[-1])
            assert sent == [(m["role"], seam.call_id(m)) for m in agent.messages[:-1]]


@seams()
@pytest.mark.parametrize("streaming", [False, True], ids=["whole", "streamed"])
async def test_malformed_tool_arguments_mid_run_go_back_to_the_model(tmp_path, streaming, seam, request):
    litellm_gap(request, seam, ("anthropic", "ollama"), MALFORMED_GAP)
    script = [BEFORE[0], call("run_python", "{not json"), call("run_python", {"code": "print(a * 2)"}), say("40")]
    with ScriptedServer(script) as server:
        agent, deltas = make_agent(server, tmp_path, streaming, seam)
        async with agent:
            result, elapsed = await timed_run(agent)
        requests = seam.chat_requests(server)
    assert result == "40" and elapsed < BOUND_S
    bad = agent.last_run.tool_calls[1]
    assert not bad.ok and bad.arguments == "{not json"
    assert seam.conversation(requests[2])[-1][0] == "tool"
    assert "not valid JSON" in json.dumps(requests[2]["messages"][-1]), "the model is told in its next request"
    assert agent.last_run.tool_calls[2].result.strip() == "40"
    if streaming:
        assert "{not json" in "".join(deltas.tool_arguments)


@seams()
@pytest.mark.parametrize("streaming", [False, True], ids=["whole", "streamed"])
async def test_unknown_tool_mid_run_is_answered_with_the_available_tools(tmp_path, streaming, seam):
    script = [BEFORE[0], call("run_sql", {"query": "select 1"}), call("run_python", {"code": "print(a)"}), say("20")]
    with ScriptedServer(script) as server:
        agent, _ = make_agent(server, tmp_path, streaming, seam)
        async with agent:
            result, elapsed = await timed_run(agent)
        requests = seam.chat_requests(server)
    assert result == "20" and elapsed < BOUND_S
    unknown = agent.last_run.tool_calls[1]
    assert not unknown.ok and unknown.name == "run_sql"
    told = json.dumps(requests[2]["messages"][-1])
    assert seam.conversation(requests[2])[-1][0] == "tool"
    assert "unknown tool 'run_sql'" in told and "run_python" in told
    assert_valid_conversation(agent.messages)


@seams()
async def test_faults_in_a_row_of_different_kinds_all_recover(tmp_path, seam):
    """A flaky server: several kinds of faults spread over one long run, streamed."""
    steps = [call("run_python", {"code": f"total = {i} + (total if {i} else 0)"}) for i in range(6)]
    faults = [fault("reset"), fault("status", status=502), fault("cut_stream"), fault("status", status=503), fault("status", status=429, retry_after=0.05)]
    script = [item for pair in zip(steps, faults) for item in pair] + steps[len(faults) :] + [say("sum is 15")]
    with ScriptedServer(script) as server:
        agent, _ = make_agent(server, tmp_path, streaming=True, seam=seam)
        async with agent:
            result, elapsed = await timed_run(agent)
            total = await agent.provider.run_python("total")
    assert result == "sum is 15" and elapsed < BOUND_S
    assert total.value == "15", "every step ran exactly once despite the retries"
    assert len(agent.last_run.steps) == 7
    assert_valid_conversation(agent.messages)
