"""Round trip to the loopback ScriptedServer: raw HTTP and a bare litellm call.

Run: .venv/bin/python bench/bench_http.py [--calls 200] [--json PATH]
"""
from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "bench"), str(REPO)]
from _common import median_ms, report

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from tinycode_jupyter.testing.script import Reply, say
from tinycode_jupyter.testing.server import ScriptedServer

MESSAGES = [{"role": "system", "content": "You are a code agent."}, {"role": "user", "content": "Compute 6*7 in Python."}]
WARMUP = 10


def answer(_: dict[str, Any]) -> Reply:
    return say("The answer is 42, computed with a single multiplication.")


def raw_round_trips(server: ScriptedServer, calls: int, stream: bool) -> list[float]:
    """Seconds per keep-alive POST of a small chat request, answer read to the end."""
    body = json.dumps({"model": "scripted-model", "messages": MESSAGES, "stream": stream})
    headers = {"Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    samples = []
    for i in range(calls + WARMUP):
        started = time.perf_counter()
        conn.request("POST", "/v1/chat/completions", body, headers)
        conn.getresponse().read()
        if i >= WARMUP:
            samples.append(time.perf_counter() - started)
    conn.close()
    return samples


async def litellm_round_trips(server: ScriptedServer, calls: int, stream: bool) -> list[float]:
    """Seconds per bare ``litellm.acompletion`` call, streamed answers consumed to the end."""
    import litellm

    litellm.suppress_debug_info = True
    kwargs: dict[str, Any] = {"model": "openai/scripted-model", "messages": MESSAGES, "api_base": server.url, "api_key": "bench", "num_retries": 0}
    if stream:
        kwargs.update(stream=True, stream_options={"include_usage": True})
    samples = []
    for i in range(calls + WARMUP):
        started = time.perf_counter()
        response = await litellm.acompletion(**kwargs)
        if stream:
            async for _ in response:
                pass
        if i >= WARMUP:
            samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--json", default=None, help="output path (default bench/results/http.json)")
    args = parser.parse_args()

    with ScriptedServer(answer) as server:
        results = {
            "raw_http_ms": median_ms(raw_round_trips(server, args.calls, stream=False)),
            "raw_http_stream_ms": median_ms(raw_round_trips(server, args.calls, stream=True)),
            "litellm_ms": median_ms(asyncio.run(litellm_round_trips(server, args.calls, stream=False))),
            "litellm_stream_ms": median_ms(asyncio.run(litellm_round_trips(server, args.calls, stream=True))),
        }
    rows = [
        ("raw HTTP keep-alive POST (median ms)", results["raw_http_ms"], "target < 1 ms"),
        ("raw HTTP keep-alive POST, SSE (median ms)", results["raw_http_stream_ms"], "target < 1 ms"),
        ("litellm.acompletion (median ms)", results["litellm_ms"], "peer figure ~3.6 ms"),
        ("litellm.acompletion, streamed (median ms)", results["litellm_stream_ms"], "peer figure ~3.6 ms"),
    ]
    report("http", rows, {"calls": args.calls, **results}, args.json)


if __name__ == "__main__":
    main()
