"""The ``tinycode`` command: ``demo``, ``run NOTEBOOK``, ``chat``."""
from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import ExitStack
from typing import Sequence

from .events import Event, Hook


class ConsoleProgress(Hook):
    """Plain-text progress for terminals: tool calls, their output, and the usage line."""

    def __init__(self, write=print) -> None:
        self.write = write

    def on_tool_start(self, event: Event) -> None:
        arguments = event.extra.get("arguments", {})
        body = arguments.get("code") or arguments.get("command") or ", ".join(f"{k}={v!r}" for k, v in arguments.items())
        self.write(f"\n── {event.tool_call.name} ──\n{body}")

    def on_tool_end(self, event: Event) -> None:
        self.write(f"── output ──\n{event.result.text}")

    def on_agent_end(self, event: Event) -> None:
        record = event.record
        usage = record.usage
        self.write(
            f"\n[{len(record.steps)} turns · {usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens"
            f" · ${record.cost:.4f} · {record.duration:.2f}s · provider {record.provider}]"
        )


def _demo(args: argparse.Namespace) -> int:
    from .agent import TinyCodeAgent
    from .demo import DEMO_PROMPT, pick_model, pick_provider
    from .errors import TinyCodeError

    with ExitStack() as stack:
        model = pick_model(stack, args.model)
        provider, note = pick_provider(args.provider)
        print(f"model: {model.label}\nprovider: {provider}" + (f" ({note})" if note else ""))
        print(f"prompt: {args.prompt}")
        kwargs = dict(model.model_kwargs)
        api_key = kwargs.pop("api_key", None)

        async def main() -> str:
            async with TinyCodeAgent(model=model.model, api_key=api_key, model_kwargs=kwargs, provider=provider,
                                     callbacks=[ConsoleProgress()]) as agent:  # fmt: skip
                return await agent.run(args.prompt)

        try:
            answer = asyncio.run(main())
        except TinyCodeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    print(f"\n── answer ──\n{answer}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .demo import DEMO_PROMPT

    parser = argparse.ArgumentParser(prog="tinycode", description="tinycode_jupyter: an AI code agent for Jupyter.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="run one agent task end to end",
        description="Run one agent task. Uses gpt-4.1-mini when OPENAI_API_KEY is set, a local Ollama model when one "
        "is running, else a scripted demo model (labelled as such) served on 127.0.0.1 through the real litellm path.",
    )
    demo.add_argument("--model", help="litellm model name, e.g. gpt-4.1-mini, anthropic/claude-sonnet-4-5, ollama/llama3.1")
    demo.add_argument("--provider", help="execution provider: local (bubblewrap sandbox, default), kernel, modal")
    demo.add_argument("--prompt", default=DEMO_PROMPT, help="the task to give the agent")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
