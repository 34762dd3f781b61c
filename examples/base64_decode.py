"""Decode base64 with the agent.

The string-obfuscation check blocks code that decodes hidden strings, which is
exactly what this task asks for, so it is turned off for this agent.

    python examples/base64_decode.py
"""
import asyncio

from _env import agent_options

from tinycode_jupyter import TinyCodeAgent

ENCODED = "SGVsbG8gZnJvbSB0aW55Y29kZSE="


async def main() -> None:
    async with TinyCodeAgent(**agent_options(), check_string_obfuscation=False) as agent:
        answer = await agent.run(f"Decode this base64 string with Python and tell me what it says: {ENCODED}")
    print(answer)


if __name__ == "__main__":
    asyncio.run(main())
