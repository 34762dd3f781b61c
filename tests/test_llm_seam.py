"""The LLM seam end to end against the loopback scripted server: each protocol (OpenAI, Anthropic,
Ollama) through its native client and through litellm, real HTTP every time."""
from __future__ import annotations

import asyncio
import time

import pytest

from tinycode_jupyter import TinyCodeAgent
from tinycode_jupyter.errors import LLMAuthenticationError, LLMError, LLMTimeoutError, ModelNotFoundError
from tinycode_jupyter.hooks import TokenTracker
from tinycode_jupyter.llm import LiteLLMModel, UnexpectedModelRequest
from tinycode_jupyter.models.routing import create_model
from tinycode_jupyter.testing import ScriptedServer, call, fault, say

from seams import Seam, litellm_gap, seams

OPENAI_LITELLM = Seam("openai", "litellm")


def agent_for(server: ScriptedServer, tmp_path, seam: Seam = OPENAI_LITELLM, **kwargs) -> TinyCodeAgent:
    model_kwargs = seam.model_kwargs(server, retry_backoff=0.01, **kwargs.pop("model_kwargs", {}))
    return TinyCodeAgent(model=seam.model, api_key="test-key", model_kwargs=model_kwargs,
                         provider="kernel", default_workdir=tmp_path, **kwargs)  # fmt: skip


@seams()
@pytest.mark.parametrize("streaming", [False, True])
async def test_twenty_step_run_usage_equals_server_report(tmp_path, streaming, seam):
    def trajectory(request):
        done = sum(1 for m in request["messages"] if m["role"] == "tool")
        return call("run_python", {"code": f"step = {done}"}, completion_tokens=11) if done < 19 else say("finished")

    tracker = TokenTracker()
    deltas: list[str] = []
    callbacks = [tracker] + ([lambda e: deltas.append(e.text_delta) if e.text_delta else None] if streaming else [])
    with ScriptedServer(trajectory) as server:
        async with agent_for(server, tmp_path, seam, callbacks=callbacks, max_turns=25) as agent:
            result = await agent.run("twenty steps")
        assert str(result) == "finished"
        assert len(seam.chat_requests(server)) == 20
        assert all(seam.streamed(body) is streaming for body in seam.chat_requests(server))
    reported_prompt = sum(r["usage"]["prompt_tokens"] for r in server.responses)
    reported_completion = sum(r["usage"]["completion_tokens"] for r in server.responses)
    assert tracker.total.prompt_tokens == reported_prompt == result.record.usage.prompt_tokens
    assert tracker.total.completion_tokens == reported_completion
    assert tracker.total.calls == 20
    if streaming:
        assert "".join(deltas) == "finished"


@seams()
async def test_streaming_tool_call_deltas_reach_hooks(tmp_path, seam):
    pieces = []
    with ScriptedServer([call("run_python", {"code": "print('x' * 40)"}, content="Let me run it."), say("ok")]) as server:
        async with agent_for(server, tmp_path, seam, callbacks=[pieces.append]) as agent:
            await agent.run("go")
    deltas = [e for e in pieces if e.name == "llm_delta"]
    assert "".join(e.text_delta for e in deltas if e.text_delta) == "Let me run it.ok"
    arguments = "".join(e.tool_call_delta["arguments"] or "" for e in deltas if e.tool_call_delta)
    assert arguments == '{"code": "print(\'x\' * 40)"}'


@pytest.mark.parametrize(
    "transient",
    [
        fault("status", status=429, retry_after=0.05),
        fault("status", status=500),
        fault("status", status=503),
        fault("reset"),
        fault("cut_stream"),
        fault("empty_choices"),
    ],
    ids=["429", "500", "503", "reset", "cut_stream", "empty_choices"],
)
@seams()
async def test_transient_failures_are_retried(tmp_path, transient, seam, request):
    if transient.fault.kind == "empty_choices":
        litellm_gap(request, seam, ("ollama",), "litellm's ollama_chat takes a streamed answer without a message for a bad request")
    with ScriptedServer([transient, say("recovered")]) as server:
        async with agent_for(server, tmp_path, seam, callbacks=[lambda e: None]) as agent:
            assert await agent.run("go") == "recovered"
        assert len(seam.chat_requests(server)) == 2


@seams()
async def test_retry_after_is_honoured(tmp_path, seam):
    with ScriptedServer([fault("status", status=429, retry_after=0.4), say("ok")]) as server:
        async with agent_for(server, tmp_path, seam) as agent:
            started = time.perf_counter()
            await agent.run("go")
            assert time.perf_counter() - started >= 0.4


@seams()
async def test_request_errors_are_not_retried(tmp_path, seam):
    with ScriptedServer([fault("status", status=400, message="bad request body")]) as server:
        async with agent_for(server, tmp_path, seam) as agent:
            with pytest.raises(LLMError, match="bad request body"):
                await agent.run("go")
        assert len(seam.chat_requests(server)) == 1
    assert agent.last_run.error.startswith("LLMError")


@seams()
async def test_authentication_error_names_the_env_var(tmp_path, seam):
    with ScriptedServer([fault("status", status=401, message="invalid api key")]) as server:
        async with agent_for(server, tmp_path, seam) as agent:
            with pytest.raises(LLMAuthenticationError, match=seam.key_hint):
                await agent.run("go")
        assert len(seam.chat_requests(server)) == 1


@seams()
async def test_unknown_model_is_a_typed_error_naming_the_model(tmp_path, seam):
    with ScriptedServer([fault("status", status=404, message="The model `nope` does not exist")]) as server:
        async with agent_for(server, tmp_path, seam) as agent:
            with pytest.raises(ModelNotFoundError, match=seam.model):
                await agent.run("go")


@seams()
async def test_timeouts_are_retried_then_typed(tmp_path, seam):
    slow = fault("delay", delay=1.0)
    with ScriptedServer([slow, slow]) as server:
        async with agent_for(server, tmp_path, seam, model_kwargs={"timeout": 0.2, "num_retries": 1}) as agent:
            started = time.perf_counter()
            with pytest.raises(LLMTimeoutError, match="did not answer within"):
                await agent.run("go")
            assert time.perf_counter() - started < 5


async def test_litellm_callbacks_of_the_user_still_fire(tmp_path, monkeypatch):
    """We skip litellm's logging pipeline only when nobody listens to it: a user's own litellm logger keeps working."""
    from litellm.integrations.custom_logger import CustomLogger

    from tinycode_jupyter.llm import import_litellm

    class Recorder(CustomLogger):
        def __init__(self) -> None:
            super().__init__()
            self.events: list[str] = []

        async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
            self.events.append("success")

        async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
            self.events.append("failure")

    recorder = Recorder()
    monkeypatch.setattr(import_litellm(), "callbacks", [recorder])
    with ScriptedServer([say("first"), fault("status", status=400)]) as server:
        async with agent_for(server, tmp_path) as agent:
            assert await agent.run("go") == "first"
            with pytest.raises(LLMError):
                await agent.run("again")
            for _ in range(50):
                if len(recorder.events) == 2:
                    break
                await asyncio.sleep(0.02)
    assert sorted(recorder.events) == ["failure", "success"]


@seams()
async def test_transcript_survives_a_failure_mid_run(tmp_path, seam):
    with ScriptedServer([call("run_python", {"code": "kept = 42"}), fault("status", status=400)]) as server:
        async with agent_for(server, tmp_path, seam) as agent:
            with pytest.raises(LLMError):
                await agent.run("go")
    assert agent.last_run.steps[0].tool_calls[0].name == "run_python"
    assert agent.messages[-1]["role"] == "tool"


@seams(protocols=("ollama",))
async def test_ollama_models_use_native_tools_and_pass_model_kwargs(tmp_path, seam):
    with ScriptedServer([call("run_python", {"code": "6 * 7"}), say("42")]) as server:
        agent = TinyCodeAgent(
            model="ollama/llama3.1",
            model_kwargs=seam.model_kwargs(server, num_ctx=8192, temperature=0.1, top_k=20, repeat_penalty=1.2),
            provider="kernel",
            default_workdir=tmp_path,
        )
        async with agent:
            assert await agent.run("what is 6*7") == "42"
        chats = [r for r in server.requests if r["path"] == "/api/chat"]
    assert len(chats) == 2
    body = chats[0]["body"]
    assert {t["function"]["name"] for t in body["tools"]} >= {"run_python", "bash"}
    assert body["options"]["num_ctx"] == 8192
    assert body["options"]["temperature"] == 0.1
    assert body["options"]["top_k"] == 20
    assert body["options"]["repeat_penalty"] == 1.2
    assert any(m["role"] == "tool" and "42" in m["content"] for m in chats[1]["body"]["messages"])


@pytest.mark.parametrize("name", ["gpt-4.1-mini", "anthropic/claude-sonnet-4-5", "ollama/llama3.1", "openrouter/openai/gpt-4o"])
@pytest.mark.parametrize("path", ["native", "litellm"])
async def test_real_requests_are_refused_under_the_test_guard(name, path):
    model = create_model(name, api_key="sk-should-never-be-sent", model_kwargs={"force_litellm": path == "litellm"})
    assert isinstance(model, LiteLLMModel) is (path == "litellm")
    with pytest.raises(UnexpectedModelRequest, match="TINYCODE_ALLOW_MODEL_REQUESTS=0"):
        await model.complete([{"role": "user", "content": "hi"}], [])


async def test_a_tool_name_repeated_in_every_streamed_chunk_is_taken_once():
    """llama.cpp's server repeats the full tool name in each tool-call chunk."""
    from types import SimpleNamespace as NS

    from tinycode_jupyter.llm import _ResponseBuilder

    def chunk(arguments: str, finish: str | None = None) -> NS:
        piece = NS(index=0, id="c1", function=NS(name="run_python", arguments=arguments))
        return NS(usage=None, choices=[NS(finish_reason=finish, delta=NS(content=None, tool_calls=[piece]))])

    builder = _ResponseBuilder("m")
    for part in ['{"code": ', '"1 + 1"}']:
        await builder.add(chunk(part), None)
    await builder.add(NS(usage=NS(prompt_tokens=3, completion_tokens=2, prompt_tokens_details=None), choices=[
        NS(finish_reason="tool_calls", delta=None)]), None)
    [call] = builder.finish().tool_calls
    assert (call.name, call.arguments) == ("run_python", '{"code": "1 + 1"}')
    assert builder.finish().to_message()["content"] == ""
