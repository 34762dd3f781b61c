"""The agent loop with the in-process scripted model and the in-process kernel provider."""
from __future__ import annotations

import json
import logging

import pytest

from tinycode_jupyter import TinyCodeAgent, tool
from tinycode_jupyter.actions import Interceptor
from tinycode_jupyter.errors import ConfigurationError, MaxTurnsExceeded
from tinycode_jupyter.events import Deny, Hook, ModifyArguments, ReplaceResult
from tinycode_jupyter.hooks import TokenTracker
from tinycode_jupyter.testing import ScriptedLLM, call, say


def make_agent(script, tmp_path, **kwargs) -> tuple[TinyCodeAgent, ScriptedLLM]:
    llm = ScriptedLLM(script)
    kwargs.setdefault("provider", "kernel")
    return TinyCodeAgent(llm=llm, default_workdir=tmp_path, **kwargs), llm


def tool_messages(llm: ScriptedLLM, request_index: int) -> list[str]:
    return [m["content"] for m in llm.requests[request_index]["messages"] if m["role"] == "tool"]


async def test_factorial_run_returns_answer_and_record(tmp_path):
    agent, llm = make_agent(
        [call("run_python", {"code": "import math\nmath.factorial(10)"}), say("10! = 3628800")], tmp_path
    )
    async with agent:
        result = await agent.run("Calculate the factorial of 10 using Python")
    assert str(result) == "10! = 3628800"
    assert result.record.provider == "kernel"
    [step1, step2] = result.record.steps
    assert step1.tool_calls[0].name == "run_python"
    assert "3628800" in step1.tool_calls[0].result
    assert result.record.usage.total_tokens > 0
    assert tool_messages(llm, 1) == ["[value] 3628800"]


async def test_conversation_continues_and_reset_forgets(tmp_path):
    agent, llm = make_agent([say("first"), say("second"), say("third")], tmp_path)
    async with agent:
        await agent.run("one")
        await agent.run("two")
        users = [m["content"] for m in llm.requests[1]["messages"] if m["role"] == "user"]
        assert users == ["one", "two"]
        agent.reset()
        await agent.run("three")
    assert [m["content"] for m in llm.requests[2]["messages"] if m["role"] == "user"] == ["three"]


def test_unknown_option_names_it_and_suggests():
    with pytest.raises(ValueError, match=r"unknown option 'max_turn'.*'max_turns'"):
        TinyCodeAgent(llm=ScriptedLLM(), provider="kernel", max_turn=3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_turns": 0}, "max_turns"),
        ({"truncation_config": {"max_token": 5}}, "truncation_config"),
        ({"provider": "nope"}, "unknown provider 'nope'"),
        ({"ui": "fancy"}, "ui"),
        ({"model_kwargs": "x"}, "model_kwargs"),
    ],
)
def test_invalid_options_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TinyCodeAgent(llm=ScriptedLLM(), **{"provider": "kernel", **kwargs})


def test_no_model_configured_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("TINYCODE_MODEL", raising=False)
    with pytest.raises(ConfigurationError, match="no model configured"):
        TinyCodeAgent(provider="kernel")


@pytest.mark.parametrize(
    "bad_call, expected",
    [
        (call("no_such_tool", {"x": 1}), "unknown tool 'no_such_tool'"),
        (call("run_python", "{not json"), "not valid JSON"),
        (call("run_python", "[1, 2]"), "must be a JSON object"),
        (call("run_python", {}), "missing required argument(s): code"),
        (call("run_python", {"code": "1", "colour": "red"}), "unknown argument(s): colour"),
        (call("read_file", {"file_path": 7}), "argument 'file_path' must be string"),
    ],
)
async def test_bad_tool_calls_become_precise_errors_and_loop_continues(tmp_path, bad_call, expected):
    agent, llm = make_agent([bad_call, say("recovered")], tmp_path)
    async with agent:
        result = await agent.run("go")
    assert str(result) == "recovered"
    [message] = tool_messages(llm, 1)
    assert expected in message
    assert result.record.steps[0].tool_calls[0].ok is False


async def test_empty_reply_is_answered_with_a_nudge(tmp_path):
    agent, llm = make_agent([say(""), say("done")], tmp_path)
    async with agent:
        assert await agent.run("go") == "done"
    assert llm.requests[1]["messages"][-1]["content"].startswith("Your reply was empty")


async def test_max_turns_raises_typed_error_and_keeps_transcript(tmp_path):
    agent, _ = make_agent(lambda request: call("run_python", {"code": "1"}), tmp_path, max_turns=3)
    async with agent:
        with pytest.raises(MaxTurnsExceeded, match="all 3 turns"):
            await agent.run("loop forever")
    assert len(agent.last_run.steps) == 3
    assert agent.last_run.error.startswith("MaxTurnsExceeded")


async def test_custom_tools_run_once_are_described_and_callable_from_code(tmp_path):
    calls = []

    @tool
    def convert(amount: float, currency: str = "EUR") -> dict:
        """Convert an amount of USD.

        Args:
            amount: Amount in US dollars.
            currency: Target currency code.
        """
        calls.append((amount, currency))
        return {"amount": amount * 2, "currency": currency}

    async def shout(text: str) -> str:
        """Upper-case a text."""
        calls.append(text)
        return text.upper()

    agent, llm = make_agent(
        [
            call("convert", {"amount": 10}),
            call("shout", {"text": "hi"}),
            call("run_python", {"code": "r = convert(amount=1.5, currency='GBP')\nprint(r['amount'], shout(text='ok'))"}),
            say("ok"),
        ],
        tmp_path,
        tools=[convert, shout],
    )
    async with agent:
        await agent.run("use the tools")
    assert calls == [(10, "EUR"), "hi", (1.5, "GBP"), "ok"]
    schemas = {t["function"]["name"]: t["function"] for t in llm.requests[0]["tools"]}
    assert schemas["convert"]["description"] == "Convert an amount of USD."
    assert schemas["convert"]["parameters"]["properties"]["amount"] == {"type": "number", "description": "Amount in US dollars."}
    assert schemas["convert"]["parameters"]["required"] == ["amount"]
    assert "convert, shout" in llm.requests[0]["messages"][0]["content"]
    assert tool_messages(llm, 3)[-1] == "3.0 OK"


@pytest.mark.parametrize(
    "flag, removed",
    [
        ("enable_python_tool", {"run_python"}),
        ("enable_shell_tool", {"bash"}),
        ("enable_file_tools", {"read_file", "write_file", "update_file", "glob", "grep"}),
        ("enable_todo_write", {"todo_write"}),
    ],
)
async def test_enable_flags_remove_tools_from_prompt_and_dispatcher(tmp_path, flag, removed):
    name = sorted(removed)[0]
    agent, llm = make_agent([call(name, {}), say("ok")], tmp_path, **{flag: False})
    async with agent:
        await agent.run("go")
    sent = {t["function"]["name"] for t in llm.requests[0]["tools"]}
    assert not sent & removed
    assert f"unknown tool {name!r}" in tool_messages(llm, 1)[0]


async def test_hooks_see_events_in_order_and_a_failing_hook_is_not_fatal(tmp_path, caplog):
    seen = []

    async def async_hook(event):
        seen.append(event.name)

    def broken(event):
        raise RuntimeError("hook bug")

    agent, _ = make_agent([call("run_python", {"code": "1"}), say("done")], tmp_path, callbacks=[broken])
    agent.add_callback(async_hook)
    with caplog.at_level(logging.ERROR):
        async with agent:
            assert await agent.run("go") == "done"
    assert [n for n in seen if n != "llm_delta"] == [
        "agent_start", "llm_start", "llm_end", "tool_start", "tool_end", "llm_start", "llm_end", "agent_end",
    ]  # fmt: skip
    assert "hook bug" in caplog.text


async def test_interceptor_decisions_deny_and_modify_and_a_hook_replaces_the_result(tmp_path):
    class Policy(Interceptor, Hook):
        async def intercept(self, action):
            code = action.arguments.get("code", "")
            if "forbidden" in code:
                return Deny("no forbidden code")
            return ModifyArguments({"code": code.replace("1", "2")})

        def on_tool_end(self, event):
            if event.result.ok:
                return ReplaceResult(event.result.text + " (checked)")

    agent, llm = make_agent(
        [call("run_python", {"code": "forbidden = 1"}), call("run_python", {"code": "1 + 1"}), say("ok")],
        tmp_path,
        callbacks=[Policy()],
    )
    async with agent:
        await agent.run("go")
    assert tool_messages(llm, 1)[0] == "Denied by the user's policy, nothing was run: no forbidden code"
    assert tool_messages(llm, 2)[1] == "[value] 4 (checked)"


async def test_large_output_keeps_head_and_tail(tmp_path):
    code = "for i in range(5000):\n    print(f'line {i}')\nraise ValueError('tail matters')"
    agent, llm = make_agent([call("run_python", {"code": code}), say("ok")], tmp_path, truncation_config={"max_lines": 40, "max_tokens": 2000})
    async with agent:
        await agent.run("go")
    [text] = tool_messages(llm, 1)
    assert text.startswith("line 0\n")
    assert "lines (" in text and "cut ...]" in text
    assert "ValueError: tail matters" in text
    assert len(text.splitlines()) <= 41


async def test_token_tracker_totals_equal_reported_usage(tmp_path):
    tracker = TokenTracker()
    agent, _ = make_agent(
        [call("run_python", {"code": "1"}, prompt_tokens=120, completion_tokens=7), say("ok", prompt_tokens=150, completion_tokens=3)],
        tmp_path,
        callbacks=[tracker],
    )
    async with agent:
        result = await agent.run("go")
    assert (tracker.total.prompt_tokens, tracker.total.completion_tokens, tracker.total.calls) == (270, 10, 2)
    assert result.record.usage.total_tokens == 280
    child = TokenTracker("child", parent=tracker)
    child.record("m", 5, 1)
    assert tracker.total.prompt_tokens == 275
    assert "total" in tracker.summary()


async def test_file_tools_and_todo(tmp_path):
    script = [
        call("write_file", {"file_path": "pkg/a.py", "content": "x = '''quoted'''\nprint(x)\n"}),
        call("update_file", {"file_path": "pkg/a.py", "old_content": "quoted", "new_content": "changed"}),
        call("read_file", {"file_path": "pkg/a.py"}),
        call("glob", {"pattern": "**/*.py"}),
        call("grep", {"pattern": "changed", "output_mode": "content"}),
        call("update_file", {"file_path": "pkg/a.py", "old_content": "absent", "new_content": "x"}),
        call("todo_write", {"todos": [{"content": "plan", "status": "completed"}, {"content": "test"}]}),
        say("ok"),
    ]
    agent, llm = make_agent(script, tmp_path)
    async with agent:
        await agent.run("go")
    results = tool_messages(llm, 7)
    assert (tmp_path / "pkg/a.py").read_text() == "x = '''changed'''\nprint(x)\n"
    assert "1\tx = '''changed'''" in results[2]
    assert results[3].endswith("pkg/a.py")
    assert results[4].endswith("a.py:1:x = '''changed'''")
    assert "expected 1 match(es)" in results[5]
    assert results[6] == "[x] plan\n[ ] test"
