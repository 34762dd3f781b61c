"""Hooks: count tokens and cost with a budget, and approve shell commands and file writes on the terminal.

    python examples/hooks_tracking_approval.py
"""
import asyncio

from _env import agent_options

from tinycode_jupyter import TinyCodeAgent
from tinycode_jupyter.errors import BudgetExceeded
from tinycode_jupyter.hooks import TerminalApproval, TokenTracker


async def main() -> None:
    tracker = TokenTracker(per_run_max_tokens=50_000, max_cost=1.00)
    async with TinyCodeAgent(**agent_options(), callbacks=[tracker]) as agent:
        # Ask before shell commands and file writes (the default policy asks by effect: runs_shell,
        # writes_path, and tools that declare nothing), showing the command or a diff.
        agent.add_callback(TerminalApproval())
        try:
            answer = await agent.run("Create notes.txt containing the line 'hello hooks' using a shell command, then show it.")
            print(answer)
        except BudgetExceeded as exc:
            print(f"stopped: {exc}")
    tracker.print_summary()


if __name__ == "__main__":
    asyncio.run(main())
