"""Run the agent on a local Ollama model.

Start Ollama and pull a model with tool support first (`ollama pull llama3.1`).
`ollama/...` names use Ollama's chat API with native tool calls; `num_ctx` sets
the context window (Ollama's default is small for an agent).

    python examples/ollama_local.py
"""
import asyncio
import os

from tinycode_jupyter import TinyCodeAgent

MODEL = os.environ.get("TINYCODE_MODEL") or "ollama/llama3.1"
API_BASE = os.environ.get("TINYCODE_API_BASE") or "http://localhost:11434"


async def main() -> None:
    agent = TinyCodeAgent(
        model=MODEL,
        model_kwargs={"api_base": API_BASE, "num_ctx": 16384},
        provider=os.environ.get("TINYCODE_PROVIDER") or None,
    )
    async with agent:
        answer = await agent.run("What is the sum of the squares of the numbers from 1 to 100? Compute it with Python.")
    print(answer)


if __name__ == "__main__":
    asyncio.run(main())
