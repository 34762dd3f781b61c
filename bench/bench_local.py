"""Local-sandbox bars: warm ``run_python("1+1")`` round trip and cold start to the first result.

Run: .venv/bin/python bench/bench_local.py [--json PATH] [--warm N] [--cold N]
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median_ms, report  # noqa: E402

WARM_BAR_MS = 5.0
COLD_BAR_MS = 150.0


async def warm_round_trips(workdir: str, sandbox: bool, runs: int) -> list[float]:
    from tinycode_jupyter.providers.local import LocalProvider

    async with LocalProvider(workdir, sandbox=sandbox) as provider:
        for _ in range(20):
            await provider.run_python("1+1")
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            result = await provider.run_python("1+1")
            samples.append(time.perf_counter() - started)
            assert result.value == "2", result
    return samples


async def cold_starts(workdir: str, sandbox: bool, runs: int) -> list[float]:
    """Seconds from creating a provider to the result of its first step (closing is not counted)."""
    from tinycode_jupyter.providers.local import LocalProvider

    samples = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        provider = LocalProvider(workdir, sandbox=sandbox)
        result = await provider.run_python("1+1")
        samples.append(time.perf_counter() - started)
        assert result.value == "2", result
        await provider.close()
    return samples[1:]  # the first run also pays one-off imports and the bwrap feature probe


async def measure(warm_runs: int, cold_runs: int) -> tuple[list[tuple[str, float, str]], dict]:
    rows, raw = [], {}
    with tempfile.TemporaryDirectory() as workdir:
        for sandbox, label in ((True, "bwrap"), (False, "unsandboxed")):
            cold = await cold_starts(workdir, sandbox, cold_runs)
            warm = await warm_round_trips(workdir, sandbox, warm_runs)
            raw[label] = {"warm_ms": [s * 1000 for s in warm], "cold_ms": [s * 1000 for s in cold]}
            warm_bar, cold_bar = (f"<= {WARM_BAR_MS} ms", f"<= {COLD_BAR_MS} ms") if sandbox else ("reference", "reference")
            rows.append((f"{label}: warm 1+1 round trip, median ms", median_ms(warm), warm_bar))
            rows.append((f"{label}: cold start to first result, median ms", median_ms(cold), cold_bar))
    return rows, raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None, help="where to write the results (default bench/results/local.json)")
    parser.add_argument("--warm", type=int, default=300, help="warm round trips to time")
    parser.add_argument("--cold", type=int, default=15, help="cold starts to time")
    args = parser.parse_args()
    rows, raw = asyncio.run(measure(args.warm, args.cold))
    report("local", rows, {"samples": raw, "warm_runs": args.warm, "cold_runs": args.cold}, args.json)


if __name__ == "__main__":
    main()
