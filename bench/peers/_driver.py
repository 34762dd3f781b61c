"""What every agent driver shares (standard library only: drivers run in the peers' venvs).

A driver runs one warm-up run and then ``--runs`` runs of the 20-step
trajectory against ``--url``, times the code execution separately (by wrapping
the agent's executor), and prints one ``RESULT {json}`` line.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def offline_tiktoken() -> None:
    """Point tiktoken at the encodings litellm bundles (there is no network here to fetch them)."""
    spec = importlib.util.find_spec("litellm")
    if spec is not None and spec.submodule_search_locations:
        bundled = Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils" / "tokenizers"
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(bundled))


offline_tiktoken()

STEPS = 20
FINAL = "done"
PROMPT = "Run the 20-step trajectory."


def arguments(description: str, modes: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--url", required=True, help="OpenAI-compatible base URL of bench/peers/serve.py")
    parser.add_argument("--runs", type=int, default=5, help="timed 20-step runs after one warm-up run")
    parser.add_argument("--mode", choices=modes, default=modes[0])
    return parser.parse_args()


def emit(payload: dict[str, Any]) -> None:
    print("RESULT " + json.dumps(payload), flush=True)


class ExecTimer:
    """Wraps an agent's code executor and records how long each call took."""

    def __init__(self) -> None:
        self.durations: list[float] = []

    def wrap_async(self, func: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await func(*args, **kwargs)
            finally:
                self.durations.append(time.perf_counter() - started)

        return timed

    def wrap_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.durations.append(time.perf_counter() - started)

        return timed


async def measure(run_once: Callable[[], Awaitable[str]], reset: Callable[[], None], timer: ExecTimer, runs: int) -> dict[str, Any]:
    """Warm up, then time ``runs`` trajectories: per-turn wall time and framework overhead (wall minus execution)."""
    warm_answer = await run_once()
    warm_steps = list(timer.durations)
    per_turn, overhead, exec_steps = [], [], []
    for _ in range(runs):
        reset()
        timer.durations.clear()
        started = time.perf_counter()
        answer = await run_once()
        elapsed = time.perf_counter() - started
        if str(answer).strip() != FINAL:
            raise RuntimeError(f"the trajectory ended with {answer!r}, not {FINAL!r}")
        if len(timer.durations) != STEPS - 1:
            raise RuntimeError(f"{len(timer.durations)} code executions, expected {STEPS - 1}")
        executed = sum(timer.durations)
        per_turn.append(elapsed / STEPS * 1000)
        overhead.append((elapsed - executed) / STEPS * 1000)
        exec_steps.extend(d * 1000 for d in timer.durations)
    return {
        "warm_up_answer": str(warm_answer),
        "per_turn_ms": per_turn,
        "overhead_per_turn_ms": overhead,
        "overhead_per_turn_ms_median": statistics.median(overhead) if overhead else None,
        "exec_per_step_ms_median": statistics.median(exec_steps) if exec_steps else None,
        "first_step_ms": warm_steps[0] * 1000 if warm_steps else None,
        "warm_up_steps_ms": [d * 1000 for d in warm_steps],
    }
