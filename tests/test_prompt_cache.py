"""AnthropicPromptCacheCallback, checked on the request body the loopback server receives.

The models are ``litellm_proxy/claude-...``: a LiteLLM proxy in front of Anthropic,
a real set-up that speaks the OpenAI wire format to the loopback server and passes
``cache_control`` through unchanged, so the server sees exactly what the hook sent.
(``anthropic/...`` models speak Anthropic's own API, which the server does not.)
"""
from __future__ import annotations

from tinycode_jupyter import TinyCodeAgent
from tinycode_jupyter.hooks import AnthropicPromptCacheCallback, MessageCleanupHook
from tinycode_jupyter.testing import ScriptedServer, call, say

EPHEMERAL = {"type": "ephemeral"}
BIG = "data row\n" * 600  # ~5,400 characters: worth caching


def marked(message):
    content = message.get("content")
    return isinstance(content, list) and content[-1].get("cache_control") == EPHEMERAL


async def run(tmp_path, model, callbacks, script):
    with ScriptedServer(script) as server:
        agent = TinyCodeAgent(model=model, api_key="k", model_kwargs={"api_base": server.url},
                              provider="kernel", default_workdir=tmp_path, callbacks=callbacks)  # fmt: skip
        async with agent:
            await agent.run("Summarise this table:\n" + BIG)
        return [r["body"]["messages"] for r in server.requests if r["path"].endswith("/chat/completions")], agent


async def test_claude_requests_mark_system_prompt_and_last_large_message(tmp_path):
    script = [call("run_python", {"code": "print('x' * 6000)"}), say("summary")]
    bodies, agent = await run(tmp_path, "litellm_proxy/claude-3-5-sonnet", [AnthropicPromptCacheCallback()], script)
    first, second = bodies
    assert marked(first[0]) and first[0]["content"][0]["text"].startswith(agent.system_prompt[:40])
    assert marked(first[1]) and first[1]["content"][0]["text"].startswith("Summarise this table")
    # second call: the large tool output is now the last large message; the user's is unmarked
    assert marked(second[0])
    assert [m["role"] for m in second if marked(m)] == ["system", "tool"]
    assert second[1]["content"] == "Summarise this table:\n" + BIG
    assert sum(1 for m in second if marked(m)) <= 4  # Anthropic's limit on cache breakpoints
    assert all(isinstance(m["content"], (str, type(None))) for m in agent.messages)  # history unchanged


async def test_small_messages_are_not_marked(tmp_path):
    with ScriptedServer([say("hi")]) as server:
        agent = TinyCodeAgent(model="litellm_proxy/claude-3-5-haiku", api_key="k", model_kwargs={"api_base": server.url},
                              provider="kernel", default_workdir=tmp_path, callbacks=[AnthropicPromptCacheCallback()])  # fmt: skip
        async with agent:
            await agent.run("hello")
        messages = server.requests[-1]["body"]["messages"]
    assert marked(messages[0]) and messages[1] == {"role": "user", "content": "hello"}


async def test_other_models_are_left_alone(tmp_path):
    bodies, _ = await run(tmp_path, "litellm_proxy/gpt-4.1-mini", [AnthropicPromptCacheCallback()], [say("summary")])
    assert all(isinstance(m["content"], str) for m in bodies[0])


async def test_cleanup_then_cache_compose_in_order(tmp_path):
    bodies, _ = await run(tmp_path, "litellm_proxy/claude-sonnet-4-5", [MessageCleanupHook(), AnthropicPromptCacheCallback()], [say("ok")])
    assert marked(bodies[0][0]) and marked(bodies[0][1])
