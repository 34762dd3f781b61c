"""MessageCleanupHook: non-standard fields never reach a strict server; the conversation keeps them."""
from __future__ import annotations

from tinycode_jupyter import TinyCodeAgent
from tinycode_jupyter.events import Hook, ModifyMessages
from tinycode_jupyter.hooks import MessageCleanupHook
from tinycode_jupyter.testing import ScriptedServer, call, say


class AddsJunk(Hook):
    """Stands in for code that decorates messages with fields a strict server rejects."""

    def on_llm_start(self, event):
        decorated = []
        for message in event.messages:
            message = {**message, "metadata": {"source": "notebook"}}
            if message.get("tool_calls"):
                message["tool_calls"] = [{**c, "index": 0, "function": {**c["function"], "strict": True}} for c in message["tool_calls"]]
            if message["role"] == "user":
                message["content"] = [{"type": "text", "text": message["content"], "x_source": "cell 3"}]
            decorated.append(message)
        return ModifyMessages(decorated)


def strict_server_responder(script):
    """A server that rejects unknown keys, the way strict providers do."""
    allowed_message = {"role", "content", "name", "tool_calls", "tool_call_id"}

    def respond(request):
        extra = set()
        for message in request["messages"]:
            extra |= set(message) - allowed_message
            extra |= {k for c in message.get("tool_calls") or () for k in set(c) - {"id", "type", "function"}}
            extra |= {k for c in message.get("tool_calls") or () for k in set(c["function"]) - {"name", "arguments"}}
            if isinstance(message.get("content"), list):
                extra |= {k for part in message["content"] for k in set(part) - {"type", "text"}}
        return say(f"REJECTED: unknown fields {sorted(extra)}") if extra else script.pop(0)

    return respond


async def run(tmp_path, callbacks, flatten=False):
    script = [call("run_python", {"code": "2 + 2"}), say("four")]
    with ScriptedServer(strict_server_responder(script)) as server:
        agent = TinyCodeAgent(model="openai/strict", api_key="k", model_kwargs={"api_base": server.url, "num_retries": 0},
                              provider="kernel", default_workdir=tmp_path, callbacks=callbacks)  # fmt: skip
        async with agent:
            answer = await agent.run("what is 2 + 2?")
        return answer, [r["body"]["messages"] for r in server.requests if r["path"].endswith("/chat/completions")], agent


async def test_without_cleanup_the_strict_server_rejects(tmp_path):
    answer, _, _ = await run(tmp_path, [AddsJunk()])
    assert answer == "REJECTED: unknown fields ['metadata', 'x_source']"


async def test_cleanup_strips_every_non_standard_field(tmp_path):
    answer, bodies, agent = await run(tmp_path, [AddsJunk(), MessageCleanupHook()])
    assert answer == "four"
    second = bodies[1]
    assert all(set(m) <= {"role", "content", "name", "tool_calls", "tool_call_id"} for m in second)
    [assistant] = [m for m in second if m.get("tool_calls")]
    assert assistant["tool_calls"][0] == {"id": assistant["tool_calls"][0]["id"], "type": "function",
                                          "function": {"name": "run_python", "arguments": '{"code": "2 + 2"}'}}  # fmt: skip
    assert [m["content"] for m in second if m["role"] == "user"] == [[{"type": "text", "text": "what is 2 + 2?"}]]
    # only the request was cleaned: the agent's conversation is untouched by either hook
    assert all("metadata" not in m for m in agent.messages)
    assert agent.messages[1] == {"role": "user", "content": "what is 2 + 2?"}


def test_flatten_text_turns_text_parts_back_into_a_string():
    hook = MessageCleanupHook(flatten_text=True)
    message = {"role": "user", "content": [{"type": "text", "text": "a", "x": 1}, {"type": "text", "text": "b"}], "junk": 1}
    assert hook.clean(message) == {"role": "user", "content": "ab"}
    image = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:"}, "detail": "x"}]}
    assert hook.clean(image) == {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:"}}]}
