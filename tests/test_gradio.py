"""The gradio chat app: built for real, and its chat handler driven by a scripted run."""
from __future__ import annotations

import asyncio
import os

import pytest

from tinycode_jupyter import TinyCodeAgent
from tinycode_jupyter.errors import BudgetExceeded
from tinycode_jupyter import tool
from tinycode_jupyter.gradio_app import GradioCallback, build_app, chat_handler
from tinycode_jupyter.gradio_app import require_gradio as require_gradio_package
from tinycode_jupyter.hooks import TokenTracker
from tinycode_jupyter.testing import ScriptedLLM, call, say


def require_gradio() -> None:
    try:
        require_gradio_package()
        return
    except ImportError as exc:
        message = f"the optional package gradio is not installed ({exc})"
    if os.environ.get("TINYCODE_REQUIRE_ALL") == "1":
        pytest.fail(f"TINYCODE_REQUIRE_ALL=1 but {message}")
    pytest.skip(message)


async def collect(handler, message):
    return [snapshot async for snapshot in handler(message, [])]


async def test_chat_handler_streams_tool_calls_outputs_answer_and_usage(tmp_path):
    llm = ScriptedLLM([call("run_python", {"code": "print('```', 6 * 7)"}, content="Let me compute."), say("It is **42**.")])
    agent = TinyCodeAgent(llm=llm, provider="kernel", default_workdir=tmp_path)
    async with agent:
        snapshots = await collect(chat_handler(agent), "6 times 7?")
    final = snapshots[-1]
    assert final[0] == {"role": "assistant", "content": "Let me compute."}
    tool = final[1]
    assert tool["metadata"] == {"title": "🛠️ run_python", "status": "done"}
    assert tool["content"].startswith("````python\nprint('```', 6 * 7)\n````")  # a fence longer than the code's
    assert "``` 42" in tool["content"]
    assert final[2] == {"role": "assistant", "content": "It is **42**."}
    assert final[3]["metadata"] == {"title": "usage"} and "2 turns" in final[3]["content"]
    assert agent.bus.callbacks == []  # the view is removed after the run


async def test_a_running_tool_is_shown_as_pending(tmp_path):
    @tool
    async def slow_lookup(key: str) -> str:
        """Look a key up slowly."""
        await asyncio.sleep(0.05)
        return key.upper()

    agent = TinyCodeAgent(llm=ScriptedLLM([call("slow_lookup", {"key": "abc"}), say("ABC")]), provider="kernel",
                          default_workdir=tmp_path, tools=[slow_lookup])  # fmt: skip
    async with agent:
        snapshots = await collect(chat_handler(agent), "look it up")
    statuses = [m["metadata"]["status"] for s in snapshots for m in s if m.get("metadata", {}).get("title") == "🛠️ slow_lookup"]
    assert statuses[0] == "pending" and statuses[-1] == "done"
    assert '```json\n{\n  "key": "abc"\n}\n```' in snapshots[-1][0]["content"] and "ABC" in snapshots[-1][0]["content"]


async def test_a_stopped_run_is_shown_in_the_chat(tmp_path):
    llm = ScriptedLLM(lambda request: call("run_python", {"code": "1"}, prompt_tokens=500, completion_tokens=10))
    agent = TinyCodeAgent(llm=llm, provider="kernel", default_workdir=tmp_path, callbacks=[TokenTracker(per_run_max_tokens=1000)])
    async with agent:
        final = (await collect(chat_handler(agent), "loop"))[-1]
    assert any(m["content"].startswith("⚠️ The run stopped: BudgetExceeded") for m in final)
    assert isinstance(agent.history[-1].error, str) and agent.history[-1].error.startswith(BudgetExceeded.__name__)


def test_gradio_callback_without_streaming_shows_the_answer():
    from tinycode_jupyter.events import LLMEnd, LLMStart
    from tinycode_jupyter.llm import LLMResponse

    view = GradioCallback()
    view.on_llm_start(LLMStart(run_id="r", messages=(), model="m"))
    view.on_llm_end(LLMEnd(run_id="r", response=LLMResponse("plain answer")))
    assert view.messages == [{"role": "assistant", "content": "plain answer"}]


def test_build_app_returns_a_gradio_chat_app(tmp_path):
    require_gradio()
    import gradio as gr

    agent = TinyCodeAgent(llm=ScriptedLLM(model="scripted-model"), provider="kernel", default_workdir=tmp_path)
    app = build_app(agent, title="My agent")
    assert isinstance(app, gr.Blocks)
    chatbots = [block for block in app.blocks.values() if isinstance(block, gr.Chatbot)]
    assert len(chatbots) == 1 and chatbots[0].label == "scripted-model"
    assert app.title == "My agent"
