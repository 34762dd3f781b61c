"""RichUICallback rendered into a recorded console: what a user sees in the terminal."""
from __future__ import annotations

import builtins
import sys

import pytest
from rich.console import Console

from tinycode_jupyter import TinyCodeAgent
from tinycode_jupyter.errors import MaxTurnsExceeded
from tinycode_jupyter.hooks.rich_ui import RichUICallback
from tinycode_jupyter.testing import ScriptedLLM, ScriptedServer, call, say


def run_with_ui(tmp_path, script, **ui_options):
    console = Console(record=True, width=100, color_system=None)
    ui = RichUICallback(console=console, **ui_options)
    agent = TinyCodeAgent(llm=ScriptedLLM(script), provider="kernel", default_workdir=tmp_path, callbacks=[ui])
    return agent, console


async def test_tool_calls_outputs_answer_and_usage_line(tmp_path):
    script = [
        call("run_python", {"code": "total = sum(range(5))\nprint('total is', total)"}, content="I will add them up."),
        call("bash", {"command": "echo from-shell"}),
        say("The **total** is 10.\n\n- one\n- two"),
    ]
    agent, console = run_with_ui(tmp_path, script)
    async with agent:
        await agent.run("Add the numbers below 5")
    text = console.export_text()
    assert "› Add the numbers below 5" in text
    assert "I will add them up." in text
    assert "▶ run_python" in text and "total = sum(range(5))" in text
    assert "total is 10" in text  # the tool's output
    assert "▶ bash" in text and "echo from-shell" in text and "from-shell" in text
    # the final answer as rendered Markdown: no ** markers, bullet points drawn
    assert "The total is 10." in text and "**" not in text
    assert "• one" in text
    usage = agent.last_run.usage
    assert f"3 turns · {usage.prompt_tokens:,} prompt + {usage.completion_tokens:,} completion tokens · $0.0000" in text


async def test_failed_tool_is_shown_as_error_and_long_output_is_cut(tmp_path):
    script = [
        call("run_python", {"code": "for i in range(100): print('line', i)"}),
        call("run_python", {"code": "1/0"}),
        say("done"),
    ]
    agent, console = run_with_ui(tmp_path, script, max_output_lines=10)
    async with agent:
        await agent.run("go")
    text = console.export_text()
    assert "line 0" in text and "line 99" in text and "line 50" not in text
    assert "more lines" in text
    assert "ZeroDivisionError" in text
    assert "╭─ error" in text


async def test_quiet_options_hide_thinking_and_tools(tmp_path):
    script = [call("run_python", {"code": "secret_step = 1"}, content="thinking out loud"), say("final words")]
    agent, console = run_with_ui(tmp_path, script, show_thinking=False, show_tool_calls=False, markdown=False)
    async with agent:
        await agent.run("go")
    text = console.export_text()
    assert "final words" in text
    assert "thinking out loud" not in text and "secret_step" not in text


async def test_file_writes_show_highlighted_content_and_diff(tmp_path):
    script = [
        call("write_file", {"file_path": "app.py", "content": "x = 1\ny = 2\n"}),
        call("update_file", {"file_path": "app.py", "old_content": "y = 2", "new_content": "y = 3"}),
        say("ok"),
    ]
    agent, console = run_with_ui(tmp_path, script)
    async with agent:
        await agent.run("go")
    text = console.export_text()
    assert "▶ write_file" in text and "x = 1" in text
    assert "-y = 2" in text and "+y = 3" in text
    assert (tmp_path / "app.py").read_text() == "x = 1\ny = 3\n"


async def test_failed_run_says_why(tmp_path):
    agent, console = run_with_ui(tmp_path, lambda request: call("run_python", {"code": "1"}))
    agent.max_turns = 2
    async with agent:
        with pytest.raises(MaxTurnsExceeded):
            await agent.run("loop")
    assert "✗ run stopped: MaxTurnsExceeded" in console.export_text()


async def test_streamed_text_from_the_real_http_path(tmp_path):
    console = Console(record=True, width=100, color_system=None)
    with ScriptedServer([say("# Heading\n\nStreamed *answer* text.", chunk_size=4)]) as server:
        agent = TinyCodeAgent(model="openai/scripted", api_key="test-key", model_kwargs={"api_base": server.url},
                              provider="kernel", default_workdir=tmp_path, callbacks=[RichUICallback(console=console)])
        async with agent:
            await agent.run("stream please")
        assert server.requests[-1]["body"]["stream"] is True
    text = console.export_text()
    assert "Heading" in text and "Streamed answer text." in text
    assert text.count("Streamed answer text.") == 1


def test_agent_ui_rich_option_attaches_the_view(tmp_path):
    agent = TinyCodeAgent(llm=ScriptedLLM(), provider="kernel", default_workdir=tmp_path, ui="rich")
    assert any(isinstance(cb, RichUICallback) for cb in agent.bus.callbacks)


def test_missing_rich_says_what_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_rich(name, *args, **kwargs):
        if name == "rich" or name.startswith("rich."):
            raise ImportError("No module named 'rich'")
        return real_import(name, *args, **kwargs)

    for name in [m for m in sys.modules if m == "rich" or m.startswith("rich.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(builtins, "__import__", no_rich)
    with pytest.raises(ImportError, match=r"pip install 'tinycode_jupyter\[rich\]'"):
        RichUICallback()
