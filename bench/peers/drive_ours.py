"""Drive our TinyCodeAgent through the 20-step trajectory, or time the sandbox's steps.

Modes: ``kernel`` (in-process IPython shell), ``local`` (the persistent worker
in bubblewrap), ``sandbox-steps`` (the local provider alone: cold start to the
first result of fresh sandboxes, and warm steps in one sandbox).
"""
from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]
from _driver import PROMPT, ExecTimer, arguments, emit, measure  # noqa: E402
from trajectories import model_name  # noqa: E402

COLD_SANDBOXES = 5
WARM_STEPS = 200


async def trajectory(url: str, provider: str, runs: int, steps: int, workdir: str) -> dict:
    from tinycode_jupyter import TinyCodeAgent

    agent = TinyCodeAgent(model=f"openai/{model_name('ours', steps)}", api_key="bench", model_kwargs={"api_base": url, "num_retries": 0},
                          provider=provider, default_workdir=workdir, max_turns=steps + 1)  # fmt: skip
    timer = ExecTimer(lambda result: None if result.ok else f"{result.error or result.stderr}")
    agent.provider.run_python = timer.wrap_async(agent.provider.run_python)  # type: ignore[method-assign]
    async with agent:
        return await measure(lambda: agent.run(PROMPT), agent.reset, timer, runs, steps, executions=steps - 1)


async def sandbox_steps(workdir: str) -> dict:
    from tinycode_jupyter.providers.local import LocalProvider

    cold = []
    for _ in range(COLD_SANDBOXES):
        started = time.perf_counter()
        async with LocalProvider(workdir=workdir) as provider:
            result = await provider.run_python("x = 1")
            cold.append((time.perf_counter() - started) * 1000)
            assert result.ok, result
    warm = []
    async with LocalProvider(workdir=workdir) as provider:
        for index in range(WARM_STEPS):
            started = time.perf_counter()
            result = await provider.run_python(f"x = {index}")
            warm.append((time.perf_counter() - started) * 1000)
            assert result.ok, result
    return {"cold_ms": cold, "cold_ms_median": statistics.median(cold), "warm_ms_median": statistics.median(warm[10:])}


async def main() -> None:
    args = arguments(__doc__.splitlines()[0], ["kernel", "local", "sandbox-steps"])
    with tempfile.TemporaryDirectory() as workdir:
        if args.mode == "sandbox-steps":
            result = await sandbox_steps(workdir)
        else:
            result = await trajectory(args.url, args.mode, args.runs, args.steps, workdir)
    emit({"agent": "ours", "mode": args.mode, **result})


if __name__ == "__main__":
    asyncio.run(main())
