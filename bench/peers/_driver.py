"""What every agent driver shares (standard library only: drivers run in the peers' venvs).

A driver runs ``--runs`` runs of the ``--steps`` trajectory (the first is the
cold one) against ``--url``, times the code execution separately (by wrapping
the agent's executor), and prints one ``RESULT {json}`` line.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from trajectories import FINAL, STEPS

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def offline_tiktoken() -> None:
    """Point tiktoken at the encodings litellm bundles (there is no network here to fetch them)."""
    spec = importlib.util.find_spec("litellm")
    if spec is not None and spec.submodule_search_locations:
        bundled = Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils" / "tokenizers"
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(bundled))


offline_tiktoken()

PROMPT = "Run the trajectory."


def arguments(description: str, modes: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--url", required=True, help="OpenAI-compatible base URL of bench/peers/serve.py")
    parser.add_argument("--runs", type=int, default=6, help="runs of the trajectory; the first (cold) one is left out of the medians")
    parser.add_argument("--mode", choices=modes, default=modes[0])
    parser.add_argument("--steps", type=int, default=STEPS, help="model turns per run (the last one answers)")
    return parser.parse_args()



def emit(payload: dict[str, Any]) -> None:
    print("RESULT " + json.dumps(payload), flush=True)


class ExecTimer:
    """Wraps an agent's code executor, records how long each call took, and checks that the code ran.

    ``failure`` maps an executor's result to an error text (None when the code ran fine).
    """

    def __init__(self, failure: Callable[[Any], str | None] = lambda result: None) -> None:
        self.durations: list[float] = []
        self.failures: list[str] = []
        self._failure = failure

    def _done(self, started: float, result: Any) -> Any:
        self.durations.append(time.perf_counter() - started)
        problem = self._failure(result)
        if problem:
            self.failures.append(problem)
        return result

    def wrap_async(self, func: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            return self._done(started, await func(*args, **kwargs))

        return timed

    def wrap_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            return self._done(started, func(*args, **kwargs))

        return timed


async def measure(
    run_once: Callable[[], Awaitable[str]], reset: Callable[[], None], timer: ExecTimer, runs: int, steps: int, executions: int
) -> dict[str, Any]:
    """Time ``runs`` trajectories (the first one cold): per-turn wall time and framework overhead (wall minus execution).

    Medians are over the warm runs, or over the cold run when it is the only one.
    """
    runs_out: list[dict[str, Any]] = []
    for _ in range(max(1, runs)):
        reset()
        timer.durations.clear()
        started = time.perf_counter()
        answer = await run_once()
        elapsed = time.perf_counter() - started
        if str(answer).strip() != FINAL:
            raise RuntimeError(f"the trajectory ended with {answer!r}, not {FINAL!r}")
        if timer.failures:
            raise RuntimeError(f"the agent's code did not run: {timer.failures[0][:300]}")
        if len(timer.durations) != executions:
            raise RuntimeError(f"{len(timer.durations)} code executions, expected {executions}")
        executed = sum(timer.durations)
        runs_out.append({
            "per_turn_ms": elapsed / steps * 1000,
            "overhead_per_turn_ms": (elapsed - executed) / steps * 1000,
            "steps_ms": [d * 1000 for d in timer.durations],
        })  # fmt: skip
    warm = runs_out[1:] or runs_out
    steps = [d for r in warm for d in r["steps_ms"]]
    all_steps = [d for r in runs_out for d in r["steps_ms"]]
    return {
        "runs": runs_out,
        "per_turn_ms_median": statistics.median(r["per_turn_ms"] for r in warm),
        "overhead_per_turn_ms_median": statistics.median(r["overhead_per_turn_ms"] for r in warm),
        "exec_per_step_ms_median": statistics.median(steps),
        "first_step_ms": runs_out[0]["steps_ms"][0],
        "later_steps_ms_median": statistics.median(all_steps[1:]),
    }
