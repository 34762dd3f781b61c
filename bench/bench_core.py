"""Agent-core bars: import time, per-turn framework overhead, fixed prompt tokens.

Run: .venv/bin/python bench/bench_core.py [--json PATH]
"""
from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median_ms, python_env, report, time_command  # noqa: E402

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

STEPS = 20


def import_time(repeat: int) -> tuple[float, float, bool]:
    """Median wall time of `python -c "import tinycode_jupyter"`, of bare `python -c pass`, and whether litellm leaked in."""
    env = python_env()
    ours = time_command([sys.executable, "-c", "import tinycode_jupyter"], repeat, env)
    bare = time_command([sys.executable, "-c", "pass"], repeat, env)
    probe = "import sys, tinycode_jupyter; from tinycode_jupyter import TinyCodeAgent; sys.exit('litellm' in sys.modules)"
    leaked = os.system(f'"{sys.executable}" -c "{probe}"') != 0
    return median_ms(ours), median_ms(bare), leaked


def trajectory(request: dict) -> "object":
    from tinycode_jupyter.testing import call, say

    done = sum(1 for m in request["messages"] if m["role"] == "tool")
    return call("run_python", {"code": f"x = {done}"}) if done < STEPS - 1 else say("done")


async def per_turn_overhead(runs: int, provider: str) -> tuple[list[float], list[float], list[dict]]:
    """Per-turn framework overhead (run time minus execution time, / turns), execution time per step, and the last run's request bodies."""
    from tinycode_jupyter import TinyCodeAgent
    from tinycode_jupyter.testing import ScriptedServer

    overheads, exec_times = [], []
    with ScriptedServer(trajectory) as server:
        async with TinyCodeAgent(model="openai/bench", api_key="x", model_kwargs={"api_base": server.url},
                                 provider=provider, max_turns=STEPS + 1) as agent:  # fmt: skip
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
    """Median time to send the trajectory's own requests with http.client, one per turn, and read the answers."""
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
    args = parser.parse_args()

    ours_ms, bare_ms, leaked = import_time(15)
    overheads, exec_times, bodies = asyncio.run(per_turn_overhead(args.runs, args.provider))
    http_ms = raw_http_round_trip(bodies, 15)
    total_tokens, system_tokens = fixed_prompt_tokens()
    rows = [
        ("import tinycode_jupyter (ms, wall)", ours_ms, "bar <= 150"),
        ("  python -c pass (ms, reference)", bare_ms, ""),
        ("  litellm imported by the package", str(leaked), "bar False"),
        (f"overhead per turn, {STEPS}-step run (ms)", median_ms(overheads), "bar <= 5"),
        ("  execution per step (ms, excluded)", median_ms(exec_times), ""),
        ("  raw HTTP round trip, same requests (ms, reference)", http_ms, ""),
        ("fixed prompt: system + all tool schemas (tokens)", float(total_tokens), "bar <= 1500"),
        ("  system prompt alone (tokens)", float(system_tokens), ""),
    ]
    report("core", rows, {"provider": args.provider, "overhead_samples_ms": [o * 1000 for o in overheads],
                          "spread_ms": statistics.pstdev(overheads) * 1000}, args.json)  # fmt: skip


if __name__ == "__main__":
    main()
