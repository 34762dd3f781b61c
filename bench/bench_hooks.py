"""Hook bars: overhead per event with five hooks attached, and TokenTracker accuracy.

1. Per-event overhead, two ways:
   - micro: ``EventBus.emit`` over one turn's events (llm_start with a 40-message
     conversation, llm_end, tool_start, tool_end), five hooks vs none;
   - end to end: a 20-step run with the in-process scripted model and a cheap async
     tool, five hooks vs none, the difference divided by the events emitted.
   The five hooks: TokenTracker with budgets, MessageCleanupHook,
   AnthropicPromptCacheCallback (on a claude model name, so it marks messages),
   TerminalApproval (with its default policy, which does not ask for this tool),
   and a plain function callback. RichUICallback's drawing cost (into a null
   console) is reported separately: it is display work, not dispatch.
2. TokenTracker totals vs the usage the loopback server reported, in a 20-step run
   through litellm's real HTTP path, streaming and not.

Run: .venv/bin/python bench/bench_hooks.py [--json PATH] [--repeat N]
"""
from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report  # noqa: E402

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

STEPS = 20
BAR_MS = 0.2


def five_hooks() -> list[Any]:
    from tinycode_jupyter.hooks import AnthropicPromptCacheCallback, MessageCleanupHook, TerminalApproval, TokenTracker

    seen: list[str] = []
    return [
        TokenTracker(max_tokens=10**9, per_run_max_cost=1000.0),
        MessageCleanupHook(),
        AnthropicPromptCacheCallback(),
        TerminalApproval(input_func=lambda prompt: "n", console=None),
        lambda event: seen.append(event.name) if len(seen) < 1000 else seen.clear(),
    ]


def one_turn_events() -> list[Any]:
    from tinycode_jupyter.events import Event
    from tinycode_jupyter.llm import LLMResponse, ToolCall, Usage
    from tinycode_jupyter.tools.base import ToolResult

    messages: list[dict[str, Any]] = [{"role": "system", "content": "You are an agent. " * 200}]
    for i in range(19):
        messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": f"c{i}", "type": "function", "function": {"name": "noop", "arguments": '{"n": 1}'}}]})  # fmt: skip
        messages.append({"role": "tool", "tool_call_id": f"c{i}", "content": "result text " * 20})
    call = ToolCall("c20", "noop", '{"n": 1}')
    return [
        Event("llm_start", "run", 20, messages=messages, model="claude-sonnet-4-5"),
        Event("llm_end", "run", 20, response=LLMResponse("", [call], Usage(1000, 20), 0.001, "claude-sonnet-4-5")),
        Event("tool_start", "run", 20, tool_call=call, extra={"arguments": {"n": 1}}),
        Event("tool_end", "run", 20, tool_call=call, result=ToolResult("1"), extra={"arguments": {"n": 1}}),
    ]


async def emit_ms_per_event(callbacks: list[Any], rounds: int) -> float:
    from tinycode_jupyter.events import EventBus

    bus = EventBus()
    for callback in callbacks:
        bus.add(callback)
    events = one_turn_events()
    started = time.perf_counter()
    for _ in range(rounds):
        for event in events:
            await bus.emit(event)
    return (time.perf_counter() - started) * 1000 / (rounds * len(events))


async def run_ms(callbacks: list[Any], workdir: str) -> float:
    """Wall time (ms) of one 20-step run with a cheap async tool."""
    from tinycode_jupyter import TinyCodeAgent, tool
    from tinycode_jupyter.testing import ScriptedLLM, call, say

    @tool
    async def noop(n: int) -> int:
        """Return n."""
        return n

    def trajectory(request: dict[str, Any]) -> Any:
        done = sum(1 for m in request["messages"] if m["role"] == "tool")
        return call("noop", {"n": done}) if done < STEPS - 1 else say("done")

    agent = TinyCodeAgent(llm=ScriptedLLM(trajectory, model="claude-sonnet-4-5"), provider="kernel", default_workdir=workdir,
                          tools=[noop], callbacks=callbacks, max_turns=STEPS + 1)  # fmt: skip
    async with agent:
        started = time.perf_counter()
        await agent.run("twenty steps")
        return (time.perf_counter() - started) * 1000


async def events_per_run(workdir: str) -> int:
    """How many events a 20-step run with the five hooks emits."""
    names: list[str] = []
    await run_ms([*five_hooks(), lambda event: names.append(event.name)], workdir)
    return len(names)


async def rich_ui_ms_per_event(rounds: int) -> float:
    from rich.console import Console

    from tinycode_jupyter.hooks import RichUICallback

    ui = RichUICallback(console=Console(file=io.StringIO(), width=100))
    return await emit_ms_per_event([ui], rounds)


async def tracker_matches_server(streaming: bool, workdir: str) -> tuple[int, int, int, int]:
    """(tracked prompt, reported prompt, tracked completion, reported completion) over a 20-step HTTP run."""
    from tinycode_jupyter import TinyCodeAgent
    from tinycode_jupyter.hooks import TokenTracker
    from tinycode_jupyter.testing import ScriptedServer, call, say

    def trajectory(request: dict[str, Any]) -> Any:
        done = sum(1 for m in request["messages"] if m["role"] == "tool")
        return call("run_python", {"code": f"step = {done}"}, completion_tokens=7 + done) if done < STEPS - 1 else say("finished")

    tracker = TokenTracker()
    callbacks: list[Any] = [tracker] + ([lambda event: None] if streaming else [])
    with ScriptedServer(trajectory) as server:
        agent = TinyCodeAgent(model="openai/scripted", api_key="bench", model_kwargs={"api_base": server.url},
                              provider="kernel", default_workdir=workdir, callbacks=callbacks, max_turns=STEPS + 1)  # fmt: skip
        async with agent:
            await agent.run("twenty steps")
        reported_prompt = sum(r["usage"]["prompt_tokens"] for r in server.responses)
        reported_completion = sum(r["usage"]["completion_tokens"] for r in server.responses)
    return tracker.total.prompt_tokens, reported_prompt, tracker.total.completion_tokens, reported_completion


async def main_async(repeat: int) -> tuple[list[tuple[str, float | str, str]], dict[str, Any]]:
    rounds = 2000
    bare = statistics.median([await emit_ms_per_event([], rounds) for _ in range(repeat)])
    hooked = statistics.median([await emit_ms_per_event(five_hooks(), rounds) for _ in range(repeat)])
    micro = hooked - bare
    with tempfile.TemporaryDirectory() as workdir:
        await run_ms([], workdir)  # warm-up (imports, shell)
        events = await events_per_run(workdir)
        plain_runs, hook_runs = [], []
        for _ in range(repeat):
            plain_runs.append(await run_ms([], workdir))
            hook_runs.append(await run_ms(five_hooks(), workdir))
        e2e = (statistics.median(hook_runs) - statistics.median(plain_runs)) / events
        rich = statistics.median([await rich_ui_ms_per_event(200) for _ in range(repeat)])
        accuracy = {streaming: await tracker_matches_server(streaming, workdir) for streaming in (False, True)}
    rows: list[tuple[str, float | str, str]] = [
        ("emit, no hooks (ms/event)", bare, ""),
        ("emit, five hooks (ms/event)", hooked, ""),
        ("five hooks add, micro (ms/event)", micro, f"bar <= {BAR_MS}: {'PASS' if micro <= BAR_MS else 'FAIL'}"),
        (f"five hooks add, {STEPS}-step run (ms/event)", e2e, f"bar <= {BAR_MS}: {'PASS' if e2e <= BAR_MS else 'FAIL'}"),
        ("RichUICallback drawing (ms/event)", rich, "display work, informative"),
    ]
    for streaming, (tracked_p, reported_p, tracked_c, reported_c) in accuracy.items():
        exact = tracked_p == reported_p and tracked_c == reported_c
        label = "streaming" if streaming else "non-streaming"
        rows.append((f"TokenTracker vs server, {label}", f"{tracked_p}+{tracked_c} / {reported_p}+{reported_c}",
                     "bar: equal to the token: " + ("PASS" if exact else "FAIL")))  # fmt: skip
    extra = {
        "steps": STEPS,
        "events_per_run": events,
        "run_ms_no_hooks": statistics.median(plain_runs),
        "run_ms_five_hooks": statistics.median(hook_runs),
        "hooks": ["TokenTracker(budgets)", "MessageCleanupHook", "AnthropicPromptCacheCallback", "TerminalApproval", "function"],
        "repeat": repeat,
    }
    return rows, extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="where to write the results (default bench/results/hooks.json)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per measurement (medians are reported)")
    args = parser.parse_args()
    rows, extra = asyncio.run(main_async(args.repeat))
    report("hooks", rows, extra, args.json)


if __name__ == "__main__":
    main()
