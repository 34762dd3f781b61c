"""ScriptedServer through litellm's real HTTP path: OpenAI-compatible and Ollama, streaming, faults."""
from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from tinycode_jupyter.testing.script import (
    Reply,
    ToolCallSpec,
    call,
    fault,
    say,
    usage_for,
)
from tinycode_jupyter.testing.server import ScriptedServer

REPO = Path(__file__).resolve().parents[1]
MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 6*7?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "python",
            "description": "Run Python code.",
            "parameters": {"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]},
        },
    }
]
OPENAI = "openai/scripted-model"
OLLAMA = "ollama_chat/llama3"


@pytest.fixture(scope="module")
def litellm() -> Any:
    import litellm

    litellm.suppress_debug_info = True
    return litellm


@pytest.fixture
def server():
    with ScriptedServer() as s:
        yield s


async def complete(litellm: Any, server: ScriptedServer, **kwargs: Any) -> Any:
    base = server.ollama_url if kwargs.get("model", OPENAI).startswith("ollama") else server.url
    params = {"model": OPENAI, "messages": MESSAGES, "api_base": base, "api_key": "test", "num_retries": 0, "timeout": 10}
    return await litellm.acompletion(**{**params, **kwargs})


async def collect(stream: Any) -> list[Any]:
    return [chunk async for chunk in stream]


def chat_requests(server: ScriptedServer) -> list[dict[str, Any]]:
    return [r for r in server.requests if r["path"].endswith(("/chat/completions", "/api/chat"))]


def expected_usage(server: ScriptedServer, reply: Reply) -> tuple[int, int]:
    return usage_for(chat_requests(server)[-1]["body"], reply)


# --- OpenAI-compatible: text -------------------------------------------------------
async def test_text_answer_non_streaming(litellm, server):
    reply = say("The answer is 42.")
    server.add(reply)
    response = await complete(litellm, server)
    assert response.choices[0].message.content == "The answer is 42."
    assert response.choices[0].finish_reason == "stop"
    prompt, completion = expected_usage(server, reply)
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (prompt, completion)
    assert response.usage.total_tokens == prompt + completion
    request = server.requests[-1]
    assert request["path"] == "/v1/chat/completions"
    assert request["body"]["messages"] == MESSAGES
    assert request["headers"]["authorization"] == "Bearer test"


async def test_text_answer_streams_in_chunks_with_usage(litellm, server):
    text = "Streaming works one small piece at a time."
    server.add(Reply(text, chunk_size=5, prompt_tokens=321, completion_tokens=45))
    chunks = await collect(await complete(litellm, server, stream=True, stream_options={"include_usage": True}))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(pieces) == text
    assert len(pieces) == -(-len(text) // 5)  # one delta per chunk_size characters
    usage = [c.usage for c in chunks if getattr(c, "usage", None)]
    assert usage and (usage[-1].prompt_tokens, usage[-1].completion_tokens, usage[-1].total_tokens) == (321, 45, 366)
    assert chat_requests(server)[-1]["body"]["stream"] is True


async def test_streaming_usage_reaches_litellm_without_include_usage(litellm, server):
    server.add(Reply("no stream_options sent", prompt_tokens=1234, completion_tokens=77))
    chunks = await collect(await complete(litellm, server, stream=True))
    assert "stream_options" not in chat_requests(server)[-1]["body"]
    built = litellm.stream_chunk_builder(chunks)
    assert built.choices[0].message.content == "no stream_options sent"
    assert (built.usage.prompt_tokens, built.usage.completion_tokens) == (1234, 77)


# --- OpenAI-compatible: tool calls -------------------------------------------------
async def test_tool_call_non_streaming(litellm, server):
    reply = call("python", {"code": "print(6 * 7)"}, content="Let me compute.")
    server.add(reply)
    response = await complete(litellm, server, tools=TOOLS)
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me compute."
    (tool_call,) = choice.message.tool_calls
    assert tool_call.function.name == "python"
    assert json.loads(tool_call.function.arguments) == {"code": "print(6 * 7)"}
    assert tool_call.id
    assert chat_requests(server)[-1]["body"]["tools"] == TOOLS
    assert response.usage.completion_tokens == expected_usage(server, reply)[1]


async def test_tool_call_streams_arguments_in_pieces(litellm, server):
    arguments = {"code": "total = sum(range(100))\nprint(total)"}
    server.add(Reply(tool_calls=[ToolCallSpec("python", arguments, id="call_abc")], chunk_size=8))
    chunks = await collect(await complete(litellm, server, tools=TOOLS, stream=True, stream_options={"include_usage": True}))
    argument_deltas = [
        tc.function.arguments
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls
        for tc in c.choices[0].delta.tool_calls
        if tc.function and tc.function.arguments
    ]
    assert len(argument_deltas) > 2
    built = litellm.stream_chunk_builder(chunks)
    (tool_call,) = built.choices[0].message.tool_calls
    assert (tool_call.id, tool_call.function.name) == ("call_abc", "python")
    assert json.loads(tool_call.function.arguments) == arguments
    assert built.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_two_tool_calls_in_one_reply(litellm, server, stream):
    calls = [ToolCallSpec("python", {"code": "a = 1"}), ToolCallSpec("shell", {"command": "ls -la"})]
    server.add(Reply(tool_calls=calls, chunk_size=4))
    response = await complete(litellm, server, tools=TOOLS, stream=stream)
    if stream:
        response = litellm.stream_chunk_builder(await collect(response))
    got = response.choices[0].message.tool_calls
    assert [(t.function.name, json.loads(t.function.arguments)) for t in got] == [
        ("python", {"code": "a = 1"}),
        ("shell", {"command": "ls -la"}),
    ]
    assert len({t.id for t in got}) == 2


async def test_malformed_tool_arguments_arrive_verbatim(litellm, server):
    server.add(call("python", "{not json"))
    response = await complete(litellm, server, tools=TOOLS)
    assert response.choices[0].message.tool_calls[0].function.arguments == "{not json"


# --- Ollama ---------------------------------------------------------------------------
OLLAMA_KWARGS = {"num_ctx": 8192, "temperature": 0.2, "top_k": 20, "repeat_penalty": 1.15}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_ollama_text_and_options(litellm, server, stream):
    reply = Reply("Hello from a scripted llama.", chunk_size=6, prompt_tokens=30, completion_tokens=7)
    server.add(reply)
    response = await complete(litellm, server, model=OLLAMA, stream=stream, **OLLAMA_KWARGS)
    if stream:
        response = litellm.stream_chunk_builder(await collect(response))
    assert response.choices[0].message.content == "Hello from a scripted llama."
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (30, 7)
    (request,) = chat_requests(server)
    assert request["path"] == "/api/chat"
    assert request["body"]["model"] == "llama3"
    assert request["body"]["stream"] is stream
    assert request["body"]["options"] == OLLAMA_KWARGS


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_ollama_native_tool_calls(litellm, server, stream):
    server.add(Reply(tool_calls=[ToolCallSpec("python", {"code": "1 + 1"}), ToolCallSpec("python", {"code": "2 + 2"})]))
    response = await complete(litellm, server, model=OLLAMA, tools=TOOLS, stream=stream, num_ctx=4096)
    if stream:
        response = litellm.stream_chunk_builder(await collect(response))
    calls = response.choices[0].message.tool_calls
    assert [json.loads(c.function.arguments) for c in calls] == [{"code": "1 + 1"}, {"code": "2 + 2"}]
    assert {c.function.name for c in calls} == {"python"}
    assert response.choices[0].finish_reason == "tool_calls"
    body = chat_requests(server)[-1]["body"]
    assert body["tools"] == TOOLS  # native tools, not a JSON prompt
    assert body["options"]["num_ctx"] == 4096
    assert "python" not in json.dumps(body["messages"])


async def test_ollama_show_reports_context_and_tools(litellm, server):
    info = litellm.get_model_info("ollama/scripted-unmapped", api_base=server.ollama_url)
    assert info["max_input_tokens"] == 131072
    assert info["supports_function_calling"] is True
    assert (server.requests[-1]["path"], server.requests[-1]["body"]) == ("/api/show", {"name": "scripted-unmapped"})


# --- faults ---------------------------------------------------------------------------
@pytest.mark.parametrize("model", [OPENAI, OLLAMA])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_rate_limit_carries_retry_after(litellm, server, model, stream):
    server.add(fault("status", status=429, retry_after=7, message="slow down"))
    with pytest.raises(litellm.RateLimitError, match="slow down") as info:
        await complete(litellm, server, model=model, stream=stream)
    assert info.value.status_code == 429
    assert info.value.litellm_response_headers["retry-after"] == "7"
    assert len(server.requests) == 1  # num_retries=0: no hidden retry


@pytest.mark.parametrize("model", [OPENAI, OLLAMA])
async def test_server_error_status(litellm, server, model):
    server.add(fault("status", status=500, message="model crashed"), fault("status", status=503))
    with pytest.raises(litellm.InternalServerError, match="model crashed"):
        await complete(litellm, server, model=model)
    with pytest.raises(litellm.ServiceUnavailableError):
        await complete(litellm, server, model=model)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_connection_reset(litellm, server, stream):
    server.add(fault("reset"), fault("reset"))
    # litellm's OpenAI route wraps openai.APIConnectionError as a 500 "Connection error."
    with pytest.raises(litellm.InternalServerError, match="Connection error"):
        await complete(litellm, server, stream=stream)
    with pytest.raises(litellm.APIConnectionError, match="disconnected"):
        await complete(litellm, server, model=OLLAMA, stream=stream)
    assert len(server.requests) == 2


@pytest.mark.parametrize("model", [OPENAI, OLLAMA])
async def test_delay_beyond_timeout_is_a_timeout(litellm, server, model):
    server.add(fault("delay", delay=30))
    started = time.perf_counter()
    with pytest.raises(litellm.Timeout):
        await complete(litellm, server, model=model, timeout=0.3)
    assert time.perf_counter() - started < 5


async def test_delay_within_timeout_answers(litellm, server):
    server.add(Reply("late but fine", fault=fault("delay", delay=0.2).fault))
    started = time.perf_counter()
    response = await complete(litellm, server, timeout=5)
    assert time.perf_counter() - started >= 0.2
    assert response.choices[0].message.content == "late but fine"


@pytest.mark.parametrize("model", [OPENAI, OLLAMA])
async def test_cut_stream_delivers_part_then_fails(litellm, server, model):
    server.add(Reply("Partial thought", tool_calls=[ToolCallSpec("python", {"code": "x = 1"})], chunk_size=4, fault=fault("cut_stream").fault))
    received: list[Any] = []
    with pytest.raises(litellm.exceptions.MidStreamFallbackError, match="not completed"):
        async for chunk in await complete(litellm, server, model=model, stream=True, tools=TOOLS):
            received.append(chunk)
    text = "".join(c.choices[0].delta.content or "" for c in received if c.choices)
    assert text and "Partial thought".startswith(text)
    if model == OPENAI:  # the half tool call went out before the cut
        fragments = [tc.function.arguments for c in received if c.choices and c.choices[0].delta.tool_calls for tc in c.choices[0].delta.tool_calls]
        partial = "".join(f for f in fragments if f)
        assert partial and json.dumps({"code": "x = 1"}).startswith(partial) and partial != json.dumps({"code": "x = 1"})


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_empty_choices(litellm, server, stream):
    server.add(fault("empty_choices"))
    response = await complete(litellm, server, stream=stream)
    if stream:
        chunks = await collect(response)
        assert not any(c.choices and (c.choices[0].delta.content or c.choices[0].delta.tool_calls) for c in chunks)
    else:
        assert response.choices == []


@pytest.mark.parametrize("model", [OPENAI, OLLAMA])
async def test_script_exhausted_is_a_clear_error(litellm, server, model):
    server.add("only answer")
    await complete(litellm, server, model=model)
    with pytest.raises(litellm.InternalServerError, match="ScriptedServer: script exhausted after 1 requests"):
        await complete(litellm, server, model=model)


# --- script shapes ---------------------------------------------------------------------
async def test_responder_sees_every_request_and_added_items_go_first(litellm):
    seen: list[int] = []

    def responder(body: dict[str, Any]) -> Reply:
        seen.append(len(body["messages"]))
        return say(f"turn {len(seen)}")

    with ScriptedServer(responder) as s:
        first = await complete(litellm, s)
        s.add(fault("status", status=429))
        with pytest.raises(litellm.RateLimitError):
            await complete(litellm, s)
        third = await complete(litellm, s, messages=[*MESSAGES, {"role": "user", "content": "again"}])
    assert (first.choices[0].message.content, third.choices[0].message.content) == ("turn 1", "turn 2")
    assert seen == [2, 3]


async def test_per_item_responder_and_plain_strings(litellm):
    with ScriptedServer(["plain string", lambda body: say(body["messages"][-1]["content"].upper())]) as s:
        assert (await complete(litellm, s)).choices[0].message.content == "plain string"
        assert (await complete(litellm, s)).choices[0].message.content == "WHAT IS 6*7?"


async def test_concurrent_requests_each_consume_one_item(litellm):
    answers = [f"answer {i}" for i in range(16)]
    with ScriptedServer(answers) as s:
        responses = await asyncio.gather(*(complete(litellm, s, stream=i % 2 == 0) for i in range(16)))
        texts = [
            litellm.stream_chunk_builder(await collect(r)).choices[0].message.content if i % 2 == 0 else r.choices[0].message.content
            for i, r in enumerate(responses)
        ]
    assert sorted(texts) == sorted(answers)


async def test_broken_responder_answers_500_with_its_error(litellm):
    def responder(body: dict[str, Any]) -> Reply:
        raise KeyError("no such step")

    with ScriptedServer(responder) as s:
        with pytest.raises(litellm.InternalServerError, match="the script raised KeyError"):
            await complete(litellm, s)
        s.add("recovered")
        assert (await complete(litellm, s)).choices[0].message.content == "recovered"


# --- HTTP behaviour ---------------------------------------------------------------------
def test_keep_alive_reuses_one_connection_for_plain_and_streamed_answers():
    with ScriptedServer(["one", "two", "three"], model="m1") as s:
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
        conn.connect()
        first_socket = conn.sock
        texts = []
        for stream in (False, True, False):
            body = json.dumps({"model": "m1", "messages": MESSAGES, "stream": stream})
            conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            assert response.status == 200 and not response.will_close
            payload = response.read().decode()
            texts.append(payload)
            assert conn.sock is first_socket
        conn.request("GET", "/v1/models")
        models = json.loads(conn.getresponse().read())
        conn.close()
    assert '"content":"one"' in texts[0] and texts[1].rstrip().endswith("data: [DONE]") and '"content":"three"' in texts[2]
    assert [m["id"] for m in models["data"]] == ["m1"]


def test_stop_returns_promptly_with_open_connection_and_sleeping_reply():
    s = ScriptedServer([fault("delay", delay=60)]).start()
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
    conn.request("POST", "/v1/chat/completions", json.dumps({"messages": MESSAGES}), {"Content-Type": "application/json"})
    deadline = time.monotonic() + 5
    while not s.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.perf_counter()
    s.stop()
    assert time.perf_counter() - started < 2
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", conn.port), timeout=1).close()
    conn.close()


def test_unknown_route_is_404_and_recorded():
    with ScriptedServer() as s:
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
        conn.request("POST", "/v1/embeddings", "{}", {"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 404 and b"no route" in response.read()
        assert s.requests[-1]["path"] == "/v1/embeddings"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_command_line_echo_server():
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "tinycode_jupyter.testing.server", "--port", str(port)], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("POST", "/v1/chat/completions", json.dumps({"messages": MESSAGES}), {"Content-Type": "application/json"})
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline and proc.poll() is None, "echo server did not start"
                time.sleep(0.05)
        answer = json.loads(conn.getresponse().read())
        assert answer["choices"][0]["message"]["content"] == "echo: What is 6*7?"
    finally:
        proc.terminate()
        proc.wait(timeout=5)
