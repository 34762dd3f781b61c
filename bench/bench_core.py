"""Agent-core bars: import time, per-turn framework overhead, fixed prompt tokens.

The per-turn overhead is measured for both model paths in one run (the native OpenAI-protocol
client and litellm), whole answers and streamed ones (a listener for deltas makes the agent
stream), each against the raw HTTP round trip of that path's own requests, replayed with
``http.client`` in the same run.

Run: .venv/bin/python bench/bench_core.py [--json PATH] [--paths native,litellm]
"""
from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import compile_package, median_ms, python_env, report, time_command  # noqa: E402

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

STEPS = 20


def import_time(repeat: int) -> tuple[float, float, list[str]]:
    """Median wall time of `python -c "import tinycode_jupyter"`, of bare `python -c pass`, and the heavy
    HTTP stacks (litellm, httpx) importing the package and its agent class pulled in."""
    env = python_env()
    ours = time_command([sys.executable, "-c", "import tinycode_jupyter"], repeat, env)
    bare = time_command([sys.executable, "-c", "pass"], repeat, env)
    probe = "import sys, tinycode_jupyter; from tinycode_jupyter import TinyCodeAgent; print(*[m for m in HEAVY if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{probe}"], env=env, capture_output=True, text=True, check=True)
    return median_ms(ours), median_ms(bare), done.stdout.split()


HEAVY = ("litellm", "httpx", "aiohttp", "openai")


def trajectory(request: dict) -> "object":
    from tinycode_jupyter.testing import call, say

    done = sum(1 for m in request["messages"] if m["role"] == "tool")
    return call("run_python", {"code": f"x = {done}"}) if done < STEPS - 1 else say("done")


async def per_turn_overhead(runs: int, provider: str, path: str, streaming: bool) -> tuple[list[float], list[float], list[dict]]:
    """Per-turn framework overhead (run time minus execution time, / turns), execution time per step,
    and the last run's request bodies, on the native path or litellm's, streamed or not."""
    from tinycode_jupyter import TinyCodeAgent
    from tinycode_jupyter.testing import ScriptedServer

    overheads, exec_times = [], []
    listeners = [lambda event: None] if streaming else []  # a listener for deltas makes the agent stream
    with ScriptedServer(trajectory) as server:
        async with TinyCodeAgent(model="openai/bench", api_key="x", model_kwargs={"api_base": server.url, "force_litellm": path == "litellm"},
                                 provider=provider, max_turns=STEPS + 1, callbacks=listeners) as agent:  # fmt: skip
            await agent.run("warm up")
            for _ in range(runs):
                agent.reset()
                started = time.perf_counter()
                result = await agent.run("run the trajectory")
                elapsed = time.perf_counter() - started
                executed = sum(c.exec_result.duration for c in result.record.tool_calls if c.exec_result)
                turns = len(result.record.steps)
                overheads.append((elapsed - executed) / turns)
                exec_times.append(executed / max(1, turns - 1))
        bodies = [r["body"] for r in server.requests[-STEPS:]]
    return overheads, exec_times, bodies


def raw_http_round_trip(bodies: list[dict], repeat: int) -> float:
    """Median time to send the trajectory's own requests with http.client, one per turn, and read the answers (streamed ones to their end)."""
    from tinycode_jupyter.testing import ScriptedServer

    encoded = [json.dumps(body) for body in bodies]
    with ScriptedServer(trajectory) as server:
        parsed = urlparse(server.url)
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port)
        samples = []
        for _ in range(repeat):
            for body in encoded:
                started = time.perf_counter()
                connection.request("POST", parsed.path + "/chat/completions", body, {"Content-Type": "application/json"})
                connection.getresponse().read()
                samples.append(time.perf_counter() - started)
    return median_ms(samples)


def fixed_prompt_tokens() -> tuple[int, int]:
    from tinycode_jupyter import TinyCodeAgent
    from tinycode_jupyter.llm import import_litellm
    from tinycode_jupyter.testing import ScriptedLLM

    litellm = import_litellm()
    agent = TinyCodeAgent(llm=ScriptedLLM(), provider="kernel")
    messages = [{"role": "system", "content": agent.system_prompt}]
    total = litellm.token_counter(model="gpt-4.1-mini", messages=messages, tools=agent.tool_schemas())
    system_only = litellm.token_counter(model="gpt-4.1-mini", messages=messages)
    return total, system_only


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", help="where to write the results (default bench/results/core.json)")
    parser.add_argument("--runs", type=int, default=5, help="20-step runs to take the median over")
    parser.add_argument("--provider", default="kernel", help="provider for the trajectory (kernel: in-process)")
    parser.add_argument("--paths", default="native,litellm", help="model paths to measure, comma-separated")
    args = parser.parse_args()

    compile_package()
    ours_ms, bare_ms, heavy = import_time(15)
    rows: list[tuple[str, float | str, str]] = [
        ("import tinycode_jupyter (ms, wall)", ours_ms, "bar <= 150"),
        ("  python -c pass (ms, reference)", bare_ms, ""),
        ("  litellm / httpx imported by the package", " ".join(heavy) or "none", "bar none"),
    ]
    extra: dict[str, object] = {"provider": args.provider}
    for path in args.paths.split(","):
        for streaming in (False, True):
            overheads, exec_times, bodies = asyncio.run(per_turn_overhead(args.runs, args.provider, path, streaming))
            http_ms = raw_http_round_trip(bodies, 15)
            label = f"{path}, {'streamed' if streaming else 'whole answers'}"
            rows += [
                (f"overhead per turn, {STEPS}-step run, {label} (ms)", median_ms(overheads), "bar <= 5" if path == "native" else ""),
                ("  raw HTTP round trip, same requests (ms, reference)", http_ms, ""),
                ("  overhead / raw round trip (ratio)", median_ms(overheads) / http_ms, "bar <= 5" if path == "native" else ""),
                ("  execution per step (ms, excluded)", median_ms(exec_times), ""),
            ]
            extra[f"overhead_samples_ms_{path}_{'streamed' if streaming else 'whole'}"] = [o * 1000 for o in overheads]
            extra[f"spread_ms_{path}_{'streamed' if streaming else 'whole'}"] = statistics.pstdev(overheads) * 1000
    total_tokens, system_tokens = fixed_prompt_tokens()
    rows += [
        ("fixed prompt: system + all tool schemas (tokens)", float(total_tokens), "bar <= 1500"),
        ("  system prompt alone (tokens)", float(system_tokens), ""),
    ]
    report("core", rows, extra, args.json)


if __name__ == "__main__":
    main()
