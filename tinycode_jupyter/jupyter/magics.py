"""The ``%%agent`` cell magic and the ``%agent`` line magic.

Defaults come, in order, from the options of a cell, ``%agent key=value``,
traitlets config (``c.AgentMagics.model = ...`` in ipython_config.py) and the
environment (``TINYCODE_MODEL``, ``TINYCODE_API_BASE``, ``TINYCODE_PROVIDER``).
Errors are one clear line (``UsageError``) and fail the cell, so CI and
papermill see them.
"""
from __future__ import annotations

import argparse
import os
import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from traitlets import Enum, Float, Int, TraitError, Unicode, default

from ..errors import TinyCodeError

SETTINGS = ("model", "api_base", "provider", "max_turns", "budget_usd", "approve")
APPROVE_CHOICES = ("off", "writes", "all")


class _Text(str):
    """Text a line magic returns: shown as it reads, not as a quoted repr."""

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would exit the kernel
        raise UsageError(f"%%agent: {message}")


def _cell_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(prog="%%agent", add_help=False)
    parser.add_argument("--model")
    parser.add_argument("--api-base")
    parser.add_argument("--provider")
    parser.add_argument("--max-turns", type=int)
    parser.add_argument("-o", "--out", help="bind the run's result to this kernel variable")
    parser.add_argument("--record", help="record model calls to this cassette file")
    parser.add_argument("--replay", help="replay model calls from this cassette file")
    parser.add_argument("--budget-usd", type=float)
    parser.add_argument("--approve", choices=APPROVE_CHOICES)
    return parser


@magics_class
class AgentMagics(Magics):
    """Agent magics; one agent (and conversation) per kernel, rebuilt when its settings change."""

    model = Unicode(help="litellm model name (default: $TINYCODE_MODEL)").tag(config=True)
    api_base = Unicode(help="base URL of an OpenAI-compatible or Ollama server (default: $TINYCODE_API_BASE)").tag(config=True)
    provider = Unicode(help="execution provider: kernel, local, modal (default: $TINYCODE_PROVIDER or kernel)").tag(config=True)
    max_turns = Int(30, help="turns before a run gives up").tag(config=True)
    budget_usd = Float(0.0, help="hard cost limit per run in USD (0: none)").tag(config=True)
    approve = Enum(APPROVE_CHOICES, "off", help="ask with Approve/Deny buttons before: nothing (off), "
                   "bash and file writes (writes), every tool call (all)").tag(config=True)  # fmt: skip

    @default("model")
    def _model_from_environment(self) -> str:
        return os.environ.get("TINYCODE_MODEL", "")

    @default("api_base")
    def _api_base_from_environment(self) -> str:
        return os.environ.get("TINYCODE_API_BASE", "")

    @default("provider")
    def _provider_from_environment(self) -> str:
        return os.environ.get("TINYCODE_PROVIDER", "kernel")

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        from .session import AgentSession

        self.session = AgentSession(shell)

    @cell_magic
    def agent(self, line: str, cell: str) -> None:
        """Run the agent on the cell's text. Options: --model --api-base --provider --max-turns -o/--out VAR
        --record FILE --replay FILE --budget-usd X."""
        args = _cell_parser().parse_args(shlex.split(line))
        if args.record and args.replay:
            raise UsageError("%%agent: use --record or --replay, not both")
        prompt = cell.strip()
        if not prompt:
            raise UsageError("%%agent: the cell is empty; write the task below the %%agent line")
        settings = self._settings(args)
        try:
            result = self.session.run(prompt, settings, record=args.record, replay=args.replay)
        except TinyCodeError as exc:
            raise UsageError(f"{type(exc).__name__}: {exc}") from None
        if args.out:
            self.shell.user_ns[args.out] = result

    @line_magic("agent")
    def agent_line(self, line: str) -> Any:
        """%agent: show settings · %agent key=value …: set defaults · %agent reset · %agent usage · %agent chat ·
        %agent export PATH."""
        words = shlex.split(line)
        if not words:
            return self._show_settings()
        command, rest = words[0], words[1:]
        if command == "reset":
            self.session.reset()
            return None
        if command == "usage":
            return _Text(self.session.usage_summary())
        if command == "export":
            if len(rest) != 1:
                raise UsageError("%agent export: give one path, e.g. %agent export session.ipynb")
            return self.session.export(rest[0])
        if command == "chat":
            return self.session.chat_widget(self.current_settings())
        if all("=" in w for w in words):
            return self._set(words)
        raise UsageError(f"%agent: unknown command {command!r}; use reset, usage, chat, export PATH or key=value")

    def _set(self, assignments: list[str]) -> None:
        for assignment in assignments:
            key, _, value = assignment.partition("=")
            key = key.strip().replace("-", "_")
            if key not in SETTINGS:
                raise UsageError(f"%agent: unknown setting {key!r}; settings are {', '.join(SETTINGS)}")
            try:
                setattr(self, key, type(getattr(self, key))(value))
            except (ValueError, TypeError, TraitError) as exc:
                raise UsageError(f"%agent: bad value for {key}: {exc}") from None

    def _show_settings(self) -> "_Text":
        return _Text("\n".join(f"{key} = {getattr(self, key)!r}" for key in SETTINGS))

    def current_settings(self) -> dict[str, Any]:
        """The defaults a run without options uses (``%agent chat``, the sidebar); UsageError without a model."""
        return self._settings(_cell_parser().parse_args([]))

    def _settings(self, args: argparse.Namespace) -> dict[str, Any]:
        def pick(name: str) -> Any:
            value = getattr(args, name, None)
            return value if value is not None else getattr(self, name)

        settings = {name: pick(name) for name in SETTINGS}
        if not settings["model"]:
            raise UsageError(
                "%%agent: no model configured; use --model gpt-4.1-mini, %agent model=..., "
                "c.AgentMagics.model in ipython_config.py, or set TINYCODE_MODEL"
            )
        return settings

    def close(self) -> None:
        self.session.close()
