"""Agent-core bars: import time, per-turn framework overhead, fixed prompt tokens.

The per-turn overhead is measured for both model paths in one run (the native OpenAI-protocol
client and litellm), whole answers and streamed ones (a listener for deltas makes the agent
stream). After every run, that run's own requests are replayed with ``http.client`` to the same
server; the ratio is the median over runs of overhead / raw round trip, each pair measured a
moment apart, so the drift of a loaded machine hits both sides alike.

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
from dataclasses import dataclass, field
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


@dataclass
class Turns:
    """One path's runs: overhead per turn, execution per step, and the raw round trip of the same requests, run by run."""

    overheads: list[float] = field(default_factory=list)
    exec_times: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)

    def ratio(self) -> float:
        """The median over runs of (overhead per turn / raw round trip measured right after that run)."""
        return statistics.median(o / r for o, r in zip(self.overheads, self.raw))


async def per_turn_overhead(runs: int, provider: str, path: str, streaming: bool) -> Turns:
    """Per-turn framework overhead (run time minus execution time, / turns) on the native path or
    litellm's, streamed or not; after each run, that run's own requests are sent again with
    ``http.client`` to the same server, so each ratio compares two measurements a moment apart."""
    from tinycode_jupyter import TinyCodeAgent
    from tinycode_jupyter.testing import ScriptedServer

    turns = Turns()
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
                steps = len(result.record.steps)
                turns.overheads.append((elapsed - executed) / steps)
                turns.exec_times.append(executed / max(1, steps - 1))
                turns.raw.append(raw_http_round_trip(server, [r["body"] for r in server.requests[-STEPS:]]))
    return turns


def raw_http_round_trip(server: "object", bodies: list[dict]) -> float:
    """Median seconds to send ``bodies`` with http.client on one connection and read the answers (streamed ones to their end)."""
    encoded = [json.dumps(body) for body in bodies]
    parsed = urlparse(server.url)  # type: ignore[attr-defined]
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port)
    samples = []
    for body in encoded:
        started = time.perf_counter()
        connection.request("POST", parsed.path + "/chat/completions", body, {"Content-Type": "application/json"})
        connection.getresponse().read()
        samples.append(time.perf_counter() - started)
    connection.close()
    return statistics.median(samples)


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
        ("  the import itself (ms, the difference)", ours_ms - bare_ms, ""),
        ("  litellm / httpx imported by the package", " ".join(heavy) or "none", "bar none"),
    ]
    extra: dict[str, object] = {"provider": args.provider}
    for path in args.paths.split(","):
        for streaming in (False, True):
            turns = asyncio.run(per_turn_overhead(args.runs, args.provider, path, streaming))
            kind = "streamed" if streaming else "whole"
            rows += [
                (f"overhead per turn, {STEPS}-step run, {path}, {kind} (ms)", median_ms(turns.overheads), "bar <= 5" if path == "native" else ""),
                ("  raw HTTP round trip, same requests (ms, reference)", median_ms(turns.raw), ""),
                ("  overhead / raw round trip, median of runs (ratio)", turns.ratio(), "bar <= 5" if path == "native" else ""),
                ("  execution per step (ms, excluded)", median_ms(turns.exec_times), ""),
            ]
            extra[f"{path}_{kind}"] = {"overhead_ms": [o * 1000 for o in turns.overheads], "raw_ms": [r * 1000 for r in turns.raw]}
    total_tokens, system_tokens = fixed_prompt_tokens()
    rows += [
        ("fixed prompt: system + all tool schemas (tokens)", float(total_tokens), "bar <= 1500"),
        ("  system prompt alone (tokens)", float(system_tokens), ""),
    ]
    report("core", rows, extra, args.json)


if __name__ == "__main__":
    main()
