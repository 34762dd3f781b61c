"""Give the agent your own tools: it can call them directly or from the Python code it writes.

    python examples/custom_tools.py
"""
import asyncio

from _env import agent_options

from tinycode_jupyter import TinyCodeAgent, tool

RATES = {"EUR": 0.92, "GBP": 0.79, "JPY": 151.3}


@tool
def get_exchange_rate(currency: str) -> float:
    """How many units of a currency one US dollar buys.

    Args:
        currency: ISO code, e.g. EUR, GBP, JPY.
    """
    return RATES[currency.upper()]


async def main() -> None:
    async with TinyCodeAgent(**agent_options(), tools=[get_exchange_rate]) as agent:
        answer = await agent.run("How much is 250 US dollars in euros and in yen? Use the exchange-rate tool.")
    print(answer)


if __name__ == "__main__":
    asyncio.run(main())
