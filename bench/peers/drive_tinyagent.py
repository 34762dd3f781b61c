"""Drive tinyagent-py's TinyCodeAgent through the 20-step trajectory (runs in its own venv).

Modes: ``inprocess`` (its ``modal`` provider with ``local_execution=True``:
Modal's ``.local()`` runs the code in this process) and ``bubblewrap`` (its
Linux sandbox: a new bwrap process per step). Its bubblewrap provider does not
bind the interpreter into the sandbox, so without ``additional_read_dirs`` every
step fails with "bwrap: execvp .../bin/python: No such file or directory"; the
driver passes this venv and the base interpreter's prefix.
"""
from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _driver import PROMPT, ExecTimer, arguments, emit, measure  # noqa: E402
from trajectories import model_name  # noqa: E402


async def main() -> None:
    args = arguments(__doc__.splitlines()[0], ["inprocess", "bubblewrap"])
    from tinyagent import TinyCodeAgent

    provider = "modal" if args.mode == "inprocess" else "bubblewrap"
    config = {"additional_read_dirs": sorted({sys.prefix, sys.base_prefix})} if provider == "bubblewrap" else {}
    with tempfile.TemporaryDirectory() as workdir:
        agent = TinyCodeAgent(
            model=f"openai/{model_name('tinyagent', args.steps)}", api_key="bench", provider=provider, local_execution=True,
            provider_fallback=False, provider_config=config, model_kwargs={"api_base": args.url}, default_workdir=workdir,
            enable_custom_instructions=False, retry_config={"max_retries": 0},
        )  # fmt: skip
        timer = ExecTimer(lambda result: result.get("error_traceback") or result.get("stderr") or None)
        agent.code_provider.execute_python = timer.wrap_async(agent.code_provider.execute_python)
        try:
            run = lambda: agent.run(PROMPT, max_turns=args.steps + 1)  # noqa: E731
            result = await measure(run, agent.clear_conversation, timer, args.runs, args.steps, executions=args.steps - 1)
        finally:
            await agent.close()
    emit({"agent": "tinyagent", "mode": args.mode, **result})


if __name__ == "__main__":
    asyncio.run(main())
