"""Drive tinyagent-py's TinyCodeAgent through the 20-step trajectory (runs in its own venv).

Modes: ``inprocess`` (its ``modal`` provider with ``local_execution=True``:
Modal's ``.local()`` runs the code in this process) and ``bubblewrap`` (its
Linux sandbox: a new bwrap process per step).
"""
from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _driver import PROMPT, STEPS, ExecTimer, arguments, emit, measure  # noqa: E402


async def main() -> None:
    args = arguments(__doc__.splitlines()[0], ["inprocess", "bubblewrap"])
    from tinyagent import TinyCodeAgent

    provider = "modal" if args.mode == "inprocess" else "bubblewrap"
    with tempfile.TemporaryDirectory() as workdir:
        agent = TinyCodeAgent(
            model="openai/tinyagent", api_key="bench", provider=provider, local_execution=True,
            provider_fallback=False, model_kwargs={"api_base": args.url}, default_workdir=workdir,
            enable_custom_instructions=False, retry_config={"max_retries": 0},
        )  # fmt: skip
        timer = ExecTimer()
        agent.code_provider.execute_python = timer.wrap_async(agent.code_provider.execute_python)
        try:
            result = await measure(lambda: agent.run(PROMPT, max_turns=STEPS + 1), agent.clear_conversation, timer, args.runs)
        finally:
            await agent.close()
    emit({"agent": "tinyagent", "mode": args.mode, **result})


if __name__ == "__main__":
    asyncio.run(main())
