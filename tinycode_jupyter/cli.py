"""The ``tinycode`` command: ``demo``, ``run NOTEBOOK``, ``chat``."""
from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

from .accounting import cost_text, price_option
from .events import AgentEnd, Hook, ToolEnd, ToolStart
from .option_values import for_argparse, positive_amount, positive_int, seconds_or_zero
from .untrusted_text import terminal_text


class ConsoleProgress(Hook):
    """Plain-text progress for terminals: tool calls, their output, and the usage line.

    Code and output are untrusted: they are written without escape sequences other than colours
    (:func:`.terminal_text`).
    """

    def __init__(self, write: Callable[[str], object] = print) -> None:
        self.write = write

    def on_tool_start(self, event: ToolStart) -> None:
        self.write(terminal_text(f"\n── {event.tool_call.name} ──\n{event.view.body}"))

    def on_tool_end(self, event: ToolEnd) -> None:
        self.write(terminal_text(f"── output ──\n{event.result.text}"))

    def on_agent_end(self, event: AgentEnd) -> None:
        record = event.record
        usage = record.usage
        self.write(
            f"\n[{len(record.steps)} turns · {usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens"
            f" · {cost_text(record.cost)} · {record.duration:.2f}s · provider {record.provider}]"
        )


def _demo(args: argparse.Namespace) -> int:
    from .agent import TinyCodeAgent
    from .demo import pick_model, pick_provider
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
            print(terminal_text(f"error: {exc}"), file=sys.stderr)
            return 1
    print(terminal_text(f"\n── answer ──\n{answer}"))
    return 0


def _run(args: argparse.Namespace) -> int:
    from jupyter_client.kernelspec import NoSuchKernel

    from .jupyter.headless import default_output_path, run_file

    source = Path(args.notebook)
    output = source if args.inplace else Path(args.output) if args.output else default_output_path(source)
    try:
        outcome = run_file(source, output, timeout=args.timeout or None, kernel_name=args.kernel,
                           allow_edits=args.allow_edits, allow_errors=args.allow_errors, rerun=args.rerun)  # fmt: skip
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {source}: {exc}", file=sys.stderr)
        return 2
    except NoSuchKernel:
        print(f"error: no Jupyter kernel named {args.kernel!r} (see: jupyter kernelspec list)", file=sys.stderr)
        return 2
    kept = f", {outcome.agent_cells_kept} kept from earlier runs" if outcome.agent_cells_kept else ""
    if args.allow_errors:
        for failed in outcome.errors:
            print(f"warning: {failed.summary()} (run went on: --allow-errors)", file=sys.stderr)
    if outcome.failure is not None:
        print(f"error: {outcome.failure.summary()}", file=sys.stderr)
        print(f"wrote {output} (execution stopped at that cell{kept})")
        return 1
    print(f"wrote {output} ({outcome.agent_cells_written} agent cells written{kept})")
    return 0


def _add_run_command(commands: Any) -> None:
    run = commands.add_parser(
        "run",
        help="execute a notebook headless, writing the agent's cells into the saved copy",
        description="Execute every cell of NOTEBOOK in a fresh kernel started in the notebook's folder, like "
        "JupyterLab with the tinycode extension: each %%agent cell's code cells (with outputs) and answer are "
        "written right below it, and the agent cell is marked answered (--answered on its first line). An answered "
        "agent cell is not asked again: no model call, and its cells run as ordinary cells, unless its prompt or "
        "options changed, its cells are gone, or --rerun is given. When an agent cell is asked again, the cells of "
        "its earlier run are not executed; they are replaced by the new run's cells, or kept when the agent cell "
        "fails or writes none. Your own cells are never moved or edited (an agent cell gets only its marker) "
        "unless --allow-edits. The agent's notebook tools (read_cells, insert_cell, edit_cell, "
        "delete_cell, run_cells) act on the notebook being executed, and each change is recorded in its metadata. "
        "Execution stops at the first failing cell (unless --allow-errors); the notebook is still written.",
        epilog="exit status: 0 all cells ran (or failed under --allow-errors); 1 a cell failed (its position, id and "
        "error are printed); 2 the notebook or kernel could not be opened.",
    )
    run.add_argument("notebook", metavar="NOTEBOOK", help="the .ipynb file to execute (read, never changed unless --inplace)")
    where = run.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", metavar="OUT", help="where to write the executed notebook "
                       "(default: NOTEBOOK's name with .out.ipynb, beside it: analysis.ipynb -> analysis.out.ipynb)")  # fmt: skip
    where.add_argument("--inplace", action="store_true", help="overwrite NOTEBOOK with the executed notebook")
    run.add_argument("--timeout", type=for_argparse(seconds_or_zero), default=600, metavar="S",
                     help="seconds each cell may run before the run stops (default 600; 0: no limit)")  # fmt: skip
    run.add_argument("--kernel", metavar="NAME", help="Jupyter kernel to use (default: the notebook's kernelspec)")
    run.add_argument("--allow-edits", action="store_true", help="let the agent edit and delete your cells (each change "
                     "is recorded in the cell's metadata.tinycode.edits or the notebook's metadata.tinycode.deleted); "
                     "without it the agent is told such a change needs your approval, and your cells stay as they are")  # fmt: skip
    run.add_argument("--allow-errors", action="store_true", help="go on past failing cells, like nbconvert --allow-errors; "
                     "each failure is printed as a warning and the exit status is 0")  # fmt: skip
    run.add_argument("--rerun", action="store_true", help="ask every agent cell again, also those answered earlier, "
                     "and replace their cells")  # fmt: skip
    run.set_defaults(handler=_run)


CHAT_EXIT = ("/exit", "/quit", "exit", "quit")


def _chat(args: argparse.Namespace) -> int:
    from .agent import TinyCodeAgent
    from .demo import pick_provider
    from .errors import TinyCodeError
    from .hooks.rich_ui import RichUICallback
    from .hooks.token_tracker import refuse_unpriced_cost_limits, run_budget_tracker

    try:
        ui = RichUICallback(show_thinking=not args.no_thinking, show_prompt=False)
    except ImportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    provider, note = pick_provider(args.provider)
    budget = run_budget_tracker(args.budget_usd, args.budget_tokens)
    budgets = [budget] if budget is not None else []
    model_kwargs = {"api_base": args.api_base} if args.api_base else {}
    if args.price_per_mtok:
        model_kwargs["price_per_mtok"] = args.price_per_mtok
    try:
        agent = TinyCodeAgent(model=args.model, provider=provider, max_turns=args.max_turns, callbacks=[ui, *budgets],
                              model_kwargs=model_kwargs)  # fmt: skip
        refuse_unpriced_cost_limits(agent.llm, budgets)
    except TinyCodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ui.console.print(f"model {agent.model} · provider {provider}" + (f" ({note})" if note else ""), style="dim", markup=False)
    ui.console.print("Type your task. /reset starts a new conversation, /exit (or Ctrl-D) quits.", style="dim")
    try:
        return asyncio.run(_chat_loop(agent, ui.console))
    except KeyboardInterrupt:
        return 130


async def _chat_loop(agent: Any, console: Any) -> int:
    from .errors import TinyCodeError

    async with agent:
        while True:
            try:
                line = await asyncio.to_thread(console.input, "[bold green]you›[/] ")
            except EOFError:
                return 0
            prompt = line.strip()
            if prompt in CHAT_EXIT:
                return 0
            if prompt == "/reset":
                agent.reset()
                console.print("(new conversation)", style="dim")
            elif prompt:
                try:
                    await agent.run(prompt)
                except TinyCodeError:  # the rich view has shown why the run stopped; the chat goes on
                    continue


def _add_chat_command(commands: Any) -> None:
    chat = commands.add_parser(
        "chat",
        help="chat with the agent in the terminal",
        description="A terminal chat with the agent: each line you type is a task; the agent's code, tool outputs, "
        "answer and token/cost line are shown live. The conversation (and the provider's state, e.g. variables) "
        "carries over between tasks. Commands: /reset starts a new conversation, /exit or Ctrl-D quits.",
        epilog="API keys come from the usual environment variables (OPENAI_API_KEY, ANTHROPIC_API_KEY, ...). "
        "Set TINYCODE_DEBUG=1 to log model requests and tool calls (secrets redacted).",
    )
    chat.add_argument("--model", help="litellm model name, e.g. gpt-4.1-mini, anthropic/claude-sonnet-4-5, "
                      "ollama/llama3.1 (default: $TINYCODE_MODEL, or gpt-4.1-mini when OPENAI_API_KEY is set)")  # fmt: skip
    chat.add_argument("--provider", help="where code runs: local (bubblewrap sandbox; the default when bwrap is "
                      "installed), kernel (in this process, no isolation), modal (Modal cloud sandbox)")  # fmt: skip
    chat.add_argument("--api-base", metavar="URL", help="base URL of the model server, e.g. http://127.0.0.1:11434 "
                      "for Ollama or http://host:8000/v1 for an OpenAI-compatible server")  # fmt: skip
    chat.add_argument("--max-turns", type=for_argparse(positive_int), default=30, metavar="N",
                      help="model turns allowed per task before it stops (default 30)")  # fmt: skip
    chat.add_argument("--budget-usd", type=for_argparse(positive_amount), metavar="X",
                      help="stop a task once it has cost X US$ (needs a known price for the model: see --price-per-mtok)")  # fmt: skip
    chat.add_argument("--budget-tokens", type=for_argparse(positive_int), metavar="N",
                      help="stop a task once it has used N prompt + completion tokens")  # fmt: skip
    chat.add_argument("--price-per-mtok", type=for_argparse(price_option), metavar="IN,OUT", help="US$ per million input and output tokens, e.g. 0.4,1.6, "
                      "for a model without a known price (any model on a local server)")  # fmt: skip
    chat.add_argument("--no-thinking", action="store_true",
                      help="do not stream the model's text while it works; show only tool calls and the answer")  # fmt: skip
    chat.set_defaults(handler=_chat)


class _OneLineErrors(argparse.ArgumentParser):
    """Bad usage is one line on stderr (which option, which value, why) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from .demo import DEMO_PROMPT

    parser = _OneLineErrors(prog="tinycode", description="tinycode_jupyter: an AI code agent for Jupyter.")
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
    _add_run_command(commands)
    _add_chat_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
