"""Drive smolagents' CodeAgent through the 20-step trajectory (runs in its own venv).

Its model is ``LiteLLMModel("openai/smolagents", api_base=...)``, the same
litellm HTTP path as the others; its code runs in its in-process
``LocalPythonExecutor`` (an AST interpreter, not a sandbox).
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _driver import PROMPT, ExecTimer, arguments, emit, measure  # noqa: E402
from trajectories import model_name  # noqa: E402


def timed_executor(executor: object, timer: ExecTimer) -> None:
    """Time every call of ``executor`` (the agent calls it as a function)."""
    cls = type(executor)
    executor.__class__ = type(f"Timed{cls.__name__}", (cls,), {"__call__": timer.wrap_sync(cls.__call__)})


async def main() -> None:
    args = arguments(__doc__.splitlines()[0], ["local-executor"])
    from smolagents import CodeAgent, LiteLLMModel

    model = LiteLLMModel(model_id=f"openai/{model_name('smolagents', args.steps)}", api_base=args.url, api_key="bench", num_retries=0)
    agent = CodeAgent(tools=[], model=model, max_steps=args.steps + 1, verbosity_level=0)
    timer = ExecTimer()
    timed_executor(agent.python_executor, timer)

    async def run_once() -> str:
        return str(agent.run(PROMPT, reset=True))

    result = await measure(run_once, lambda: None, timer, args.runs, args.steps, executions=args.steps)  # final_answer is code too
    emit({"agent": "smolagents", "mode": args.mode, **result})


if __name__ == "__main__":
    asyncio.run(main())
