"""The native model clients: routing, one-line errors, retries on one status line, usage and prices,
each protocol's request shape, the HTTP client's framing and connections, and hostile answers.

Everything goes over real HTTP on 127.0.0.1: the ScriptedServer (OpenAI, Anthropic, Ollama), or
a few lines of ``http.server`` where a test needs an answer the scripted server cannot give.
Behaviour shared with litellm's path (faults, streaming, usage over a run) is in test_llm_seam.py
and test_faults.py, on both paths.
"""
from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import pytest

from tinycode_jupyter import TinyCodeAgent
from tinycode_jupyter.errors import ConfigurationError, LLMAuthenticationError, LLMError, LLMTimeoutError, ModelNotFoundError
from tinycode_jupyter.hooks.prompt_cache import AnthropicPromptCacheCallback
from tinycode_jupyter.jupyter.cell_output import CellOutput
from tinycode_jupyter.llm import ARGUMENTS_KEPT, LiteLLMModel, RetryNotice
from tinycode_jupyter.logging_setup import disable_debug_logging, enable_debug_logging
from tinycode_jupyter.models import prices
from tinycode_jupyter.models.anthropic_messages import AnthropicMessagesModel
from tinycode_jupyter.models.ollama_chat import OllamaChatModel
from tinycode_jupyter.models.openai_chat import OpenAIChatModel
from tinycode_jupyter.models.routing import create_model, native_route
from tinycode_jupyter.testing import ScriptedServer, call, fault, say
from tinycode_jupyter.testing.script import Reply, ToolCallSpec

from kernel_harness import Kernel

REPO = Path(__file__).resolve().parents[1]
USER = [{"role": "user", "content": "hi"}]
BASES = {"openai": "url", "anthropic": "anthropic_url", "ollama": "ollama_url"}
NAMES = {"openai": "openai/scripted", "anthropic": "anthropic/claude-scripted", "ollama": "ollama/scripted"}


def native(protocol: str, server: ScriptedServer, name: str | None = None, **options: Any) -> Any:
    model = create_model(name or NAMES[protocol], api_key="test-key",
                         model_kwargs={"api_base": getattr(server, BASES[protocol]), "retry_backoff": 0.01, **options})  # fmt: skip
    assert not isinstance(model, LiteLLMModel)
    return model


def bodies(server: ScriptedServer) -> list[dict[str, Any]]:
    return [r["body"] for r in server.requests if isinstance(r["body"], dict) and "messages" in r["body"]]


class Deltas:
    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, text: str | None, call_delta: dict[str, Any] | None) -> None:
        if text:
            self.text.append(text)
        if call_delta:
            self.calls.append(call_delta)


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RawServer:
    """A loopback HTTP server answering every POST with ``answer(handler, body, number)``; counts connections."""

    def __init__(self, answer: Callable[[BaseHTTPRequestHandler, dict[str, Any], int], None], http10: bool = False) -> None:
        owner = self
        self.connections = 0
        self.requests: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0" if http10 else "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                owner.connections += 1

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append({"body": body, "headers": dict(self.headers)})
                answer(self, body, len(owner.requests))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> RawServer:
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def send(handler: BaseHTTPRequestHandler, status: int, payload: bytes, content_type: str = "application/json",
         length: bool = True) -> None:  # fmt: skip
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    if length:
        handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


def sse(*events: dict[str, Any] | str) -> bytes:
    return b"".join(b"data: " + (e if isinstance(e, str) else json.dumps(e)).encode() + b"\n\n" for e in events)


def completion(content: str = "ok", **usage: int) -> dict[str, Any]:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, **usage}}  # fmt: skip


# --- routing ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "expected"), [
    ("gpt-4.1-mini", OpenAIChatModel), ("o3-mini", OpenAIChatModel), ("openai/gpt-4.1-mini", OpenAIChatModel),
    ("openrouter/openai/gpt-4o", OpenAIChatModel), ("groq/llama-3.1-8b-instant", OpenAIChatModel),
    ("together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo", OpenAIChatModel), ("deepseek/deepseek-chat", OpenAIChatModel),
    ("lm_studio/qwen2.5", OpenAIChatModel), ("claude-sonnet-4-5", AnthropicMessagesModel),
    ("anthropic/claude-sonnet-4-5", AnthropicMessagesModel), ("ollama/llama3.1", OllamaChatModel),
    ("ollama_chat/llama3.1", OllamaChatModel), ("gemini/gemini-2.0-flash", LiteLLMModel), ("mistral/mistral-large-latest", LiteLLMModel),
    ("bedrock/anthropic.claude-3-5-sonnet", LiteLLMModel), ("azure/my-deployment", LiteLLMModel), ("hosted_vllm/no-base", LiteLLMModel),
])  # fmt: skip
def test_the_common_protocols_get_native_clients_and_every_other_provider_litellm(name, expected, monkeypatch):
    for variable in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "HOSTED_VLLM_API_BASE"):
        monkeypatch.delenv(variable, raising=False)
    assert type(create_model(name, api_key="k")) is expected


def test_openai_compatible_servers_are_native_with_their_api_base():
    route = native_route("openai/qwen", {"api_base": "http://127.0.0.1:8080/v1"})
    assert route is not None and (route.protocol, route.wire_model, route.base_url, route.key_required) == (
        "openai", "qwen", "http://127.0.0.1:8080/v1", False)  # fmt: skip
    assert native_route("hosted_vllm/m", {"api_base": "http://gpu:8000/v1"}).base_url == "http://gpu:8000/v1"  # type: ignore[union-attr]


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_setting_sends_every_model_through_litellm(how, monkeypatch):
    kwargs = {"force_litellm": True} if how == "option" else {}
    if how == "environment":
        monkeypatch.setenv("TINYCODE_FORCE_LITELLM", "1")
    for name in ("gpt-4.1-mini", "anthropic/claude-sonnet-4-5", "ollama/llama3.1"):
        model = create_model(name, api_key="k", model_kwargs=dict(kwargs))
        assert isinstance(model, LiteLLMModel) and "force_litellm" not in model.model_kwargs


def test_a_proxy_in_the_environment_sends_the_model_through_litellm_unless_no_proxy_covers_it(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", ".internal.example")
    assert isinstance(create_model("gpt-4.1-mini", api_key="k"), LiteLLMModel)
    assert isinstance(create_model("openai/m", model_kwargs={"api_base": "https://llm.internal.example/v1"}), OpenAIChatModel)
    assert isinstance(create_model("ollama/llama3.1"), OllamaChatModel)  # http on localhost is never proxied


def test_a_native_run_imports_neither_litellm_nor_httpx():
    code = (
        "import sys, asyncio\n"
        "from tinycode_jupyter import TinyCodeAgent\n"
        "from tinycode_jupyter.testing import ScriptedServer, call, say\n"
        "async def main(url):\n"
        "    async with TinyCodeAgent(model='openai/m', model_kwargs={'api_base': url}, provider='kernel') as agent:\n"
        "        assert await agent.run('go') == '2'\n"
        "with ScriptedServer([call('run_python', {'code': '1 + 1'}), say('2')]) as server:\n"
        "    asyncio.run(main(server.url))\n"
        "print(*[m for m in ('litellm', 'httpx', 'aiohttp', 'openai') if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ""


def test_import_and_load_ext_import_no_http_stack():
    code = (
        "import sys\nimport tinycode_jupyter\nfrom IPython.core.interactiveshell import InteractiveShell\n"
        "InteractiveShell.instance().run_line_magic('load_ext', 'tinycode_jupyter')\n"
        "print('IMPORTED', *[m for m in ('litellm', 'httpx', 'aiohttp', 'tinycode_jupyter.models.http') if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "IMPORTED", "not even the native client is imported before a model is used"


# --- errors a person can act on -------------------------------------------------------------------
async def test_an_unreachable_server_is_one_line_naming_the_url_and_the_tries():
    url = f"http://127.0.0.1:{closed_port()}/v1"
    model = create_model("openai/local", model_kwargs={"api_base": url, "num_retries": 3, "retry_backoff": 0.01})
    with pytest.raises(LLMError) as caught:
        await model.complete(USER, [])
    message = str(caught.value)
    assert message.startswith(f"cannot reach {url} (connection refused) after 4 tries in ") and message.endswith(" s")
    assert "\n" not in message


async def test_https_pointed_at_a_plain_http_port_is_one_line_and_not_retried():
    with ScriptedServer(["never read"]) as server:
        url = server.url.replace("http://", "https://")
        with pytest.raises(LLMError) as caught:
            await create_model("openai/m", model_kwargs={"api_base": url}).complete(USER, [])
    assert str(caught.value) == f"cannot reach {url} (TLS failed: wrong version number)"


@pytest.mark.parametrize("protocol", list(BASES))
async def test_an_unknown_model_names_the_model_as_typed_and_the_host(protocol):
    with ScriptedServer([fault("status", status=404, message="model 'gpt-5-typo' not found")]) as server:
        model = native(protocol, server, name={"openai": "gpt-5-typo", "anthropic": "claude-typo", "ollama": "ollama/typo"}[protocol])
        with pytest.raises(ModelNotFoundError) as caught:
            await model.complete(USER, [])
        host = f"127.0.0.1:{server.port}"
    message = str(caught.value)
    assert message.startswith(f"model {model.model!r} not found at {host} (")
    assert "\n" not in message
    assert ("run `ollama pull typo`" in message) is (protocol == "ollama")


@pytest.mark.parametrize(("name", "variable"), [
    ("gpt-4.1-mini", "OPENAI_API_KEY"), ("anthropic/claude-sonnet-4-5", "ANTHROPIC_API_KEY"),
    ("openrouter/openai/gpt-4o", "OPENROUTER_API_KEY"), ("groq/llama-3.1-8b-instant", "GROQ_API_KEY"),
    ("together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo", "TOGETHER_API_KEY"), ("deepseek/deepseek-chat", "DEEPSEEK_API_KEY"),
])  # fmt: skip
async def test_a_missing_key_is_one_line_naming_the_variable_before_any_request(name, variable, monkeypatch):
    for env in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY", "GROQ_API_KEY", "TOGETHER_API_KEY",
                "TOGETHERAI_API_KEY", "TOGETHER_AI_API_KEY", "DEEPSEEK_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE"):  # fmt: skip
        monkeypatch.delenv(env, raising=False)
    with pytest.raises(LLMAuthenticationError) as caught:
        await create_model(name).complete(USER, [])
    assert str(caught.value) == f"no API key for {name!r}: set {variable} or pass api_key="


async def test_a_rejected_key_names_the_host_and_the_variable():
    with ScriptedServer([fault("status", status=401, message="invalid x-api-key")]) as server:
        with pytest.raises(LLMAuthenticationError) as caught:
            await native("anthropic", server).complete(USER, [])
        host = f"127.0.0.1:{server.port}"
    assert str(caught.value) == (f"{host} rejected the API key for 'anthropic/claude-scripted' "
                                 "(HTTP 401: invalid x-api-key): set ANTHROPIC_API_KEY or pass api_key=")  # fmt: skip


async def test_a_wrong_api_base_path_is_told_apart_from_an_unknown_model():
    with ScriptedServer() as server:
        model = create_model("openai/m", model_kwargs={"api_base": server.ollama_url + "/wrong"})
        with pytest.raises(LLMError, match=r"has no such API \(HTTP 404: .*\); check api_base$") as caught:
            await model.complete(USER, [])
    assert not isinstance(caught.value, ModelNotFoundError)


async def test_retries_show_one_status_line_per_try_and_log_no_warning(caplog):
    script = [fault("status", status=503, message="overloaded"), fault("reset"), say("back")]
    with ScriptedServer(script) as server, caplog.at_level(logging.INFO, "tinycode_jupyter"):
        model = native("openai", server)
        notices: list[RetryNotice] = []
        model.on_retry = notices.append
        assert (await model.complete(USER, [])).content == "back"
        url, host = server.url, f"127.0.0.1:{server.port}"
    assert [(n.attempt, n.tries) for n in notices] == [(1, 5), (2, 5)]
    assert notices[0].line().startswith(f"HTTP 503 from {host} for 'openai/scripted' (overloaded); try 2 of 5 in ")
    assert notices[1].line().startswith(f"model 'openai/scripted' at {url}: the server closed the connection")
    # debug lines count only if an earlier test left debug logging on: what matters is two INFO lines and no warning
    assert [r.levelname for r in caplog.records if r.name.startswith("tinycode_jupyter") and r.levelno >= logging.INFO] == ["INFO", "INFO"]


async def test_litellms_retries_reach_the_same_status_callback_and_log_no_warning(caplog):
    with ScriptedServer([fault("status", status=503, message="overloaded"), say("back")]) as server, caplog.at_level(logging.INFO, "tinycode_jupyter"):
        model = create_model("openai/scripted", api_key="k", model_kwargs={"api_base": server.url, "retry_backoff": 0.01, "force_litellm": True})
        notices: list[RetryNotice] = []
        model.on_retry = notices.append
        assert (await model.complete(USER, [])).content == "back"
    assert [(n.attempt, n.tries) for n in notices] == [(1, 5)] and "overloaded" in notices[0].reason
    assert not [r for r in caplog.records if r.name.startswith("tinycode_jupyter") and r.levelno >= logging.WARNING]


class RecordingBlock:
    """A display area that keeps what it was asked to show."""

    def __init__(self, schedule: Any) -> None:
        self.shown: list[str] = []

    def show(self, bundle: dict[str, str]) -> None:
        self.shown.append(bundle["text/plain"])


def test_the_cell_shows_retries_on_its_one_status_line_and_says_working_again():
    from tinycode_jupyter.events import AgentStart, LLMEnd
    from tinycode_jupyter.llm import LLMResponse

    output = CellOutput(lambda f: f(), RecordingBlock)
    output.on_agent_start(AgentStart(run_id="r", prompt="p", model="openai/m", provider="kernel"))
    output.close()  # no clock ticks: only what the run itself shows
    for attempt in (1, 2):
        output.show_retry(RetryNotice("openai/m", "cannot reach http://127.0.0.1:9/v1 (connection refused)", attempt, 5, 0.5))
    output.on_llm_end(LLMEnd(run_id="r", turn=1, response=LLMResponse("", model="openai/m")))
    status = output._status.shown
    assert len(status) == 4 and "working" in status[0] and "working" in status[-1]
    assert "connection refused" in status[1] and "try 2 of 5" in status[1] and "try 3 of 5" in status[2]


@pytest.mark.kernel
def test_retries_in_a_kernel_update_the_cells_status_line_with_no_red_blocks(tmp_path):
    with ScriptedServer([fault("status", status=503, message="busy"), fault("status", status=503, message="busy"), say("fine")]) as server:
        kernel = Kernel(cwd=str(tmp_path))
        try:
            kernel.execute("%load_ext tinycode_jupyter")
            run = kernel.execute(f"%%agent --model openai/m --api-base {server.url}\nhello", timeout=120)
        finally:
            kernel.shutdown()
    assert run.status == "ok", run.text()
    updates = [o for o in run.outputs if o["msg_type"] == "update_display_data" and "; try " in o["content"]["data"]["text/plain"]]
    texts = list(dict.fromkeys(u["content"]["data"]["text/plain"] for u in updates))  # the clock re-sends the line
    assert len(texts) == 2 and all("HTTP 503" in t and "(busy)" in t for t in texts)
    assert "try 2 of 5" in texts[0] and "try 3 of 5" in texts[1]
    assert len({u["content"]["transient"]["display_id"] for u in updates}) == 1, "one status line, updated in place"
    assert not [o for o in run.outputs if o["msg_type"] == "stream" and o["content"]["name"] == "stderr"]


# --- usage, cached tokens, prices -------------------------------------------------------------------
@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
async def test_cached_prompt_tokens_are_counted_whole_and_streamed(protocol):
    reply = Reply("ok", prompt_tokens=1000, completion_tokens=100, cached_tokens=600, cache_write_tokens=300 if protocol == "anthropic" else 0)
    with ScriptedServer([reply, reply]) as server:
        model = native(protocol, server)
        answers = [await model.complete(USER, []), await model.complete(USER, [], Deltas())]
    for response in answers:
        assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.cached_tokens) == (1000, 100, 600)
        assert response.cost is None, "a model on this machine has no price unless one is given"


def test_cache_reads_and_writes_are_priced_at_the_maps_cache_rates():
    from tinycode_jupyter.accounting import ModelPrice
    from tinycode_jupyter.llm import Usage

    openai, anthropic = prices.price_of("gpt-4.1-mini"), prices.price_of("anthropic/claude-sonnet-4-5")
    assert openai is not None and openai.cache_read is not None
    assert anthropic is not None and anthropic.cache_read is not None and anthropic.cache_write is not None
    assert ModelPrice("openai/gpt-4.1-mini").cost(Usage(1000, 100, 400)) == pytest.approx(
        600 * openai.input + 400 * openai.cache_read + 100 * openai.output)  # fmt: skip
    assert ModelPrice("anthropic/claude-sonnet-4-5").cost(Usage(1000, 100, 600), cache_write_tokens=300) == pytest.approx(
        100 * anthropic.input + 600 * anthropic.cache_read + 300 * anthropic.cache_write + 100 * anthropic.output)  # fmt: skip


async def test_a_given_price_prices_native_calls():
    with ScriptedServer([Reply("ok", prompt_tokens=1000, completion_tokens=100)]) as server:
        response = await native("ollama", server, price_per_mtok=(0.5, 2.0)).complete(USER, [])
    assert response.cost == pytest.approx((1000 * 0.5 + 100 * 2.0) / 1_000_000)


def test_prices_agree_with_litellms_own_calculator():
    from tinycode_jupyter.llm import import_litellm

    litellm = import_litellm()
    names = ["gpt-4.1-mini", "openai/gpt-4.1-mini", "gpt-5", "claude-sonnet-4-5", "anthropic/claude-sonnet-4-5", "deepseek/deepseek-chat",
             "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo", "mistral/mistral-large-latest"]  # fmt: skip
    for name in names:
        theirs = sum(litellm.cost_per_token(model=name, prompt_tokens=1000, completion_tokens=500))
        assert prices.cost(name, 1000, 500) == pytest.approx(theirs), name


def test_a_model_the_map_does_not_know_has_no_price_never_zero():
    for name in ("openai/scripted", "groq/llama-3.1-8b-instant", "openrouter/openai/gpt-4o", "lm_studio/qwen", "ollama/qwen3"):
        assert prices.price_of(name) is None and prices.cost(name, 1000, 500) is None, name


def test_prices_are_read_from_the_map_without_importing_litellm():
    code = ("import sys\nfrom tinycode_jupyter.models import prices\n"
            "assert prices.price_of('gpt-4.1-mini').input > 0\nprint('litellm' in sys.modules)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"


# --- each protocol's request -------------------------------------------------------------------------
CONVERSATION = [
    {"role": "system", "content": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}]},
    {"role": "user", "content": [{"type": "text", "text": "look"},
                                 {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "run_python", "arguments": '{"code": "1"}'}},
        {"id": "c2", "type": "function", "function": {"name": "run_python", "arguments": "{not json"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "1"},
    {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "bad", "cache_control": {"type": "ephemeral"}}]},
    {"role": "assistant", "content": ""},
    {"role": "user", "content": "again"},
]  # fmt: skip
TOOLS = [{"type": "function", "function": {"name": "run_python", "description": "Run Python.",
                                           "parameters": {"type": "object", "properties": {"code": {"type": "string"}}}}}]  # fmt: skip


async def test_anthropic_requests_carry_system_blocks_tool_turns_images_and_cache_marks():
    with ScriptedServer(["ok"]) as server:
        await native("anthropic", server, stop="END", tool_choice="required").complete(CONVERSATION, TOOLS)
    [body] = bodies(server)
    assert server.requests[0]["path"] == "/v1/messages"
    assert server.requests[0]["headers"]["x-api-key"] == "test-key" and server.requests[0]["headers"]["anthropic-version"]
    assert body["system"] == [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}]
    assert body["max_tokens"] == 4096 and body["stop_sequences"] == ["END"] and body["tool_choice"] == {"type": "any"}
    assert body["tools"] == [{"name": "run_python", "description": "Run Python.", "input_schema": TOOLS[0]["function"]["parameters"]}]
    user, assistant, results = body["messages"][:3]
    assert user["content"][1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    assert [b["input"] for b in assistant["content"]] == [{"code": "1"}, {"arguments": "{not json"}]
    assert [b.get("tool_use_id") for b in results["content"]] == ["c1", "c2", None], "both results in one user turn"
    assert results["content"][1]["cache_control"] == {"type": "ephemeral"}
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"], "the empty turn is dropped, user turns merged"
    assert results["content"][-1] == {"type": "text", "text": "again"}


async def test_an_anthropic_api_base_ending_in_v1_is_not_doubled():
    with ScriptedServer(["ok"]) as server:
        model = create_model("anthropic/claude-x", api_key="k", model_kwargs={"api_base": server.anthropic_url + "/v1"})
        await model.complete(USER, [])
    assert server.requests[0]["path"] == "/v1/messages"


async def test_the_prompt_cache_hook_marks_reach_anthropic_and_cached_tokens_are_tracked(tmp_path):
    from tinycode_jupyter.hooks import TokenTracker

    tracker = TokenTracker()
    with ScriptedServer([Reply("done", prompt_tokens=2000, cached_tokens=1500)]) as server:
        agent = TinyCodeAgent(model="anthropic/claude-sonnet-4-5", api_key="k", model_kwargs={"api_base": server.anthropic_url},
                              provider="kernel", default_workdir=tmp_path, callbacks=[AnthropicPromptCacheCallback(), tracker])  # fmt: skip
        async with agent:
            assert await agent.run("hello") == "done"
    [body] = bodies(server)
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert tracker.total.cached_tokens == 1500 and tracker.total.prompt_tokens == 2000


async def test_ollama_requests_carry_options_images_object_arguments_and_tool_names():
    with ScriptedServer(["ok"]) as server:
        model = native("ollama", server, num_ctx=8192, max_tokens=64, keep_alive="5m", format="json", temperature=0.2)
        await model.complete(CONVERSATION, TOOLS)
    [body] = bodies(server)
    assert server.requests[0]["path"] == "/api/chat"
    assert body["options"] == {"num_ctx": 8192, "num_predict": 64, "temperature": 0.2}
    assert (body["keep_alive"], body["format"], body["stream"]) == ("5m", "json", False)
    user, assistant, first, second = body["messages"][1:5]
    assert user["content"] == "look" and user["images"] == ["iVBORw0KGgo="]
    assert [c["function"]["arguments"] for c in assistant["tool_calls"]] == [{"code": "1"}, {"arguments": "{not json"}]
    assert (first["tool_name"], second["content"]) == ("run_python", "bad")


async def test_ollama_refuses_an_image_by_url_with_one_line_before_sending():
    message = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]
    with ScriptedServer() as server:
        with pytest.raises(ConfigurationError, match=r"^Ollama takes images inline only \(a data: URL with base64\)"):
            await native("ollama", server).complete(message, [])
    assert server.requests == []


async def test_openai_requests_pass_messages_images_and_options_as_they_are():
    with ScriptedServer(["ok"]) as server:
        await native("openai", server, temperature=0.3, extra_body={"top_k": 5}).complete(CONVERSATION, TOOLS, Deltas())
    [body] = bodies(server)
    assert body["messages"] == CONVERSATION and body["tools"] == TOOLS
    assert (body["temperature"], body["top_k"], body["stream"], body["stream_options"]) == (0.3, 5, True, {"include_usage": True})
    assert server.requests[0]["headers"]["authorization"] == "Bearer test-key"


@pytest.mark.parametrize("protocol", list(BASES))
async def test_streamed_text_and_tool_calls_arrive_as_deltas_in_the_same_shape(protocol):
    reply = Reply("Let me look.", [ToolCallSpec("run_python", {"code": "print(1)"}), ToolCallSpec("bash", {"command": "ls"})], chunk_size=4)
    with ScriptedServer([reply]) as server:
        deltas = Deltas()
        response = await native(protocol, server).complete(USER, TOOLS, deltas)
    assert "".join(deltas.text) == "Let me look." == response.content
    for index, call_ in enumerate(response.tool_calls):
        pieces = [d for d in deltas.calls if d["index"] == index]
        assert pieces[0]["name"] == call_.name and pieces[0]["id"] == call_.id
        assert "".join(d["arguments"] or "" for d in pieces) == call_.arguments
    assert [json.loads(c.arguments) for c in response.tool_calls] == [{"code": "print(1)"}, {"command": "ls"}]
    assert response.finish_reason == "tool_calls"


# --- the HTTP client ----------------------------------------------------------------------------
async def test_calls_reuse_one_keep_alive_connection_whole_and_streamed():
    def answer(handler: BaseHTTPRequestHandler, body: dict[str, Any], number: int) -> None:
        if body.get("stream"):
            payload = sse({"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]}, "[DONE]")
            chunk = b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload)
            handler.send_response(200)
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            handler.wfile.write(chunk)
        else:
            send(handler, 200, json.dumps(completion()).encode())

    with RawServer(answer) as server:
        model = create_model("openai/m", model_kwargs={"api_base": server.url})
        for index in range(6):
            await model.complete(USER, [], Deltas() if index % 2 else None)
    assert server.connections == 1


async def test_an_http10_answer_read_to_the_end_of_the_connection_works_and_is_not_reused():
    with RawServer(lambda h, body, n: send(h, 200, json.dumps(completion(f"answer {n}")).encode(), length=False), http10=True) as server:
        model = create_model("openai/m", model_kwargs={"api_base": server.url})
        assert [(await model.complete(USER, [])).content for _ in range(3)] == ["answer 1", "answer 2", "answer 3"]
    assert server.connections == 3


async def test_one_model_serves_calls_from_successive_event_loops():
    with ScriptedServer(["one", "two"]) as server:
        model = native("openai", server)
        loop = asyncio.get_running_loop()
        first = await model.complete(USER, [])
        second = await asyncio.get_running_loop().run_in_executor(None, lambda: asyncio.run(model.complete(USER, [])))
        assert asyncio.get_running_loop() is loop
    assert (first.content, second.content) == ("one", "two")


async def test_the_timeout_bounds_each_wait_not_a_long_streamed_answer():
    def answer(handler: BaseHTTPRequestHandler, body: dict[str, Any], number: int) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
        for piece in range(12):
            handler.wfile.write(sse({"choices": [{"index": 0, "delta": {"content": f"{piece} "}, "finish_reason": None}]}))
            handler.wfile.flush()
            threading.Event().wait(0.1)  # a model generating: a piece every 0.1 s, 1.2 s in all
        handler.wfile.write(sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}, "[DONE]"))

    with RawServer(answer, http10=True) as server:
        model = create_model("openai/m", model_kwargs={"api_base": server.url, "timeout": 1.0, "num_retries": 0})
        response = await model.complete(USER, [], Deltas())
    assert response.content.split() == [str(i) for i in range(12)]


async def test_a_timeout_is_typed_and_says_how_long_it_waited():
    with ScriptedServer([fault("delay", delay=2.0)]) as server:
        with pytest.raises(LLMTimeoutError) as caught:
            await native("ollama", server, timeout=0.3, num_retries=0).complete(USER, [])
        url = server.ollama_url
    assert str(caught.value).startswith(f"model 'ollama/scripted' at {url} did not answer within 0.3 s after 1 try in ")


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
async def test_an_error_event_inside_a_stream_is_retried(protocol):
    error = ({"error": {"message": "upstream overloaded", "code": 503}} if protocol == "openai"
             else {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})  # fmt: skip
    good = ({"choices": [{"index": 0, "delta": {"content": "fine"}, "finish_reason": "stop"}]} if protocol == "openai"
            else {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}})  # fmt: skip
    text = [] if protocol == "openai" else [{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "fine"}}]

    def answer(handler: BaseHTTPRequestHandler, body: dict[str, Any], number: int) -> None:
        send(handler, 200, sse(error) if number == 1 else sse(*text, good), "text/event-stream")

    with RawServer(answer) as server:
        name = "openai/m" if protocol == "openai" else "anthropic/claude-m"
        model = create_model(name, api_key="k", model_kwargs={"api_base": server.url, "retry_backoff": 0.01})
        notices: list[RetryNotice] = []
        model.on_retry = notices.append
        assert (await model.complete(USER, [], Deltas())).content == "fine"
    assert len(notices) == 1 and ("upstream overloaded" in notices[0].reason or "Overloaded" in notices[0].reason)
    assert server.connections == 2, "the connection with the unread rest of the failed answer is not reused"


async def test_a_tool_name_repeated_in_every_streamed_chunk_is_taken_once():
    """llama.cpp's server repeats the full tool name in each tool-call chunk."""
    pieces = ['{"code": ', '"1 + 1"}']
    chunks = [{"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "run_python", "arguments": p}}]},
                            "finish_reason": None}]} for p in pieces]  # fmt: skip
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 3, "completion_tokens": 2}})
    with RawServer(lambda h, body, n: send(h, 200, sse(*chunks, "[DONE]"), "text/event-stream")) as server:
        response = await create_model("openai/m", model_kwargs={"api_base": server.url}).complete(USER, [], Deltas())
    [made] = response.tool_calls
    assert (made.id, made.name, made.arguments) == ("c1", "run_python", '{"code": "1 + 1"}')
    assert response.to_message()["content"] == ""


# --- hostile answers and inputs --------------------------------------------------------------------
HUGE = json.dumps({"code": "x = 1  # " + "y" * 10_000_000})
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("streaming", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
async def test_ten_megabytes_of_arguments_are_cut_to_one_more_than_the_limit(protocol, streaming):
    with ScriptedServer([Reply(tool_calls=[ToolCallSpec("run_python", HUGE)], chunk_size=65_536)]) as server:
        deltas = Deltas()
        response = await native(protocol, server).complete(USER, [], deltas if streaming else None)
    [received] = response.tool_calls
    assert received.arguments == HUGE[:ARGUMENTS_KEPT]
    if streaming:
        assert sum(len(d["arguments"] or "") for d in deltas.calls) == ARGUMENTS_KEPT


@pytest.mark.parametrize("streaming", [False, True], ids=["whole", "streamed"])
async def test_deeply_nested_arguments_as_text_pass_the_seam_intact(streaming):
    with ScriptedServer([Reply(tool_calls=[ToolCallSpec("run_python", DEEP)], chunk_size=65_536)]) as server:
        response = await native("openai", server).complete(USER, [], Deltas() if streaming else None)
    assert response.tool_calls[0].arguments == DEEP


@pytest.mark.parametrize("streaming", [False, True], ids=["whole", "streamed"])
async def test_an_ollama_answer_nested_too_deeply_to_parse_is_one_line_not_a_recursion_error(streaming):
    arguments = '{"a":' * 100_000 + "1" + "}" * 100_000  # Ollama sends arguments as an object: nested in the answer itself
    line = ('{"model":"m","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"run_python","arguments":'
            + arguments + '}}]},"done":true,"done_reason":"stop","prompt_eval_count":1,"eval_count":1}\n')  # fmt: skip
    with RawServer(lambda h, body, n: send(h, 200, line.encode(), "application/x-ndjson")) as server:
        base = server.url.removesuffix("/v1")
        model = create_model("ollama/m", model_kwargs={"api_base": base, "num_retries": 0})
        with pytest.raises(LLMError) as caught:
            await model.complete(USER, [], Deltas() if streaming else None)
    host = base.removeprefix("http://")
    assert str(caught.value) == f"model 'ollama/m' at {host} sent an answer that cannot be read: its JSON nests too deeply to read"


@pytest.mark.parametrize("where", ["api_key", "extra_headers"])
async def test_a_line_break_in_a_key_cannot_inject_a_header(where):
    hostile = "k\r\nX-Injected: yes"
    with ScriptedServer(["should not be asked"]) as server:
        options = {"extra_headers": {"X-Team": hostile}} if where == "extra_headers" else {}
        model = create_model("openai/m", api_key=hostile if where == "api_key" else "k",
                             model_kwargs={"api_base": server.url, **options})  # fmt: skip
        with pytest.raises(ConfigurationError, match="line break"):
            await model.complete(USER, [])
    assert server.requests == [], "nothing was sent"


async def test_the_api_key_never_reaches_the_debug_log():
    secret = "sk-live-5up3r-s3cr3t-k3y-0123456789"
    stream = io.StringIO()
    enable_debug_logging(stream)
    try:
        with ScriptedServer([say("ok"), fault("status", status=401, message=f"bad key {secret}")]) as server:
            model = create_model("openai/m", api_key=secret, model_kwargs={"api_base": server.url})
            await model.complete(USER, [])
            with pytest.raises(LLMAuthenticationError) as caught:
                await model.complete(USER, [])
    finally:
        disable_debug_logging()
    assert server.requests[0]["headers"]["authorization"] == f"Bearer {secret}"
    assert "model request:" in stream.getvalue() and "model response:" in stream.getvalue()
    assert secret not in stream.getvalue()
    assert secret not in str(caught.value), "a server that quotes the key back does not put it in the error"
