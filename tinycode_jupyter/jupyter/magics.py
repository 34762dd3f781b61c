"""The ``%%agent`` cell magic and the ``%agent`` line magic.

Defaults come, in order, from the options of a cell, ``%agent key=value``,
traitlets config (``c.AgentMagics.model = ...`` in ipython_config.py) and the
environment (``TINYCODE_MODEL``, ``TINYCODE_API_BASE``, ``TINYCODE_PROVIDER``,
``TINYCODE_MAX_TURNS``, ``TINYCODE_BUDGET_USD``, ``TINYCODE_BUDGET_TOKENS``, ``TINYCODE_PRICE_PER_MTOK``),
read when the extension loads.
Errors are one clear line (``UsageError``) and fail the cell, so CI and
papermill see them; a misspelled option, setting or command gets a "did you mean".
Limits fail closed: a ``nan``, infinite, zero or negative budget or turn count is
refused wherever it comes from, never read as "no limit".

An agent cell whose cells were written is marked as answered and is not asked again
until its prompt or options change or ``--rerun`` is given (:mod:`.answered`).
"""
from __future__ import annotations

import argparse
import difflib
import os
import re
import shlex
from typing import Any, Callable, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from traitlets import Enum, Float, Int, TraitError, Unicode, default, validate

from .. import __version__
from ..accounting import price_option
from ..errors import TinyCodeError
from ..option_values import BadOptionValue, for_argparse, positive_amount, positive_int, variable_name
from .answered import Answered, answer_key, marked_source, parse_marker, request_code, request_parent, rerun_requested

SETTINGS = ("model", "api_base", "provider", "max_turns", "budget_usd", "budget_tokens", "price_per_mtok", "approve")
COMMANDS = ("help", "reset", "usage", "chat", "export", "undo", "fix")
NOT_THE_QUESTION = ("answered", "rerun", "record", "replay")
"""Options left out of an answer's key: the marker itself, and where the model's replies come from."""
LINE_FORMS = """\
%agent                     show the settings
%agent key=value ...       set defaults: {settings}
%agent reset               forget the conversation
%agent usage               token and cost totals
%agent chat                open the chat widget
%agent export PATH         write the session as a notebook
%agent undo [N]            put back what the last run (or N runs) changed: variables, the cells it wrote, edited
                           or deleted (with the JupyterLab extension or tinycode run), files with git checkpoints
%agent undo --run ID       undo run ID and every run after it (the Undo button under an agent cell)
%agent fix [INSTRUCTIONS]  fix the last error: the agent gets the traceback and the cells involved, changes the
                           cell where the error starts and re-runs the cells
%agent fix --cell ID       fix the error of that cell (the Fix button under an error inserts this)
%agent help                this help
%%sandbox NAME             run a written-back cell again in the provider it came from (local, modal)

In a prompt: {{df}} or @df describes a variable; {{In[3]}} is the source of execution 3, {{Out[3]}} its result,
{{Err[3]}} its error's traceback; @cell:ID is a cell's source and outputs (an id or a unique prefix).
Each reference is capped at 3000 characters; an unknown one fails the cell."""
APPROVE_CHOICES = ("off", "writes", "all")
LIMITS: dict[str, Callable[[Any], Any]] = {"max_turns": positive_int, "budget_usd": positive_amount,
                                           "budget_tokens": positive_int, "price_per_mtok": price_option}  # fmt: skip
"""The checked settings and the parser each value goes through, from any source."""
ENVIRONMENT = {"max_turns": "TINYCODE_MAX_TURNS", "budget_usd": "TINYCODE_BUDGET_USD",
               "budget_tokens": "TINYCODE_BUDGET_TOKENS", "price_per_mtok": "TINYCODE_PRICE_PER_MTOK"}  # fmt: skip
BUDGETS = ("budget_usd", "budget_tokens")
NO_BUDGET = ("none", "off")
"""What ``%agent budget_usd=...`` (or ``budget_tokens=``) takes to remove the budget."""
_CELL_OPTION = re.compile(r"(?:^|\s)--cell(?:=|\s+)(?!--)(\S+)")
_HISTORY_NAME = re.compile(r"_i*\d*")
"""IPython's output and input history names: ``_``, ``_3``, ``_i``, ``_ii3``..."""


class PlainText(str):
    """Text a line magic returns: shown as it reads, not as a quoted repr."""

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


def _did_you_mean(word: str, choices: Any) -> str:
    """``; did you mean `x`?`` for the closest of ``choices``, or nothing."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse would exit the kernel
        raise UsageError(f"%%agent: {message}{self._suggestion(message)}")

    def _suggestion(self, message: str) -> str:
        if not message.startswith("unrecognized arguments:"):
            return ""
        unknown = [word for word in message.partition(":")[2].split() if word.startswith("-")]
        return _did_you_mean(unknown[0].partition("=")[0], self._option_string_actions) if unknown else ""


def _words(magic: str, line: str) -> list[str]:
    """The magic's line split as a shell would; an unclosed quote is a UsageError, not a traceback."""
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"{magic}: {exc} in {line.strip()!r}") from None


def _setting_value(key: str, text: str) -> Any:
    """The value ``%agent key=text`` sets (limits parsed and checked; ``budget_usd=none`` removes the budget)."""
    if key in BUDGETS and text.strip().lower() in NO_BUDGET:
        return None
    parse = LIMITS.get(key)
    return parse(text) if parse else text


def _cell_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(prog="%%agent", add_help=False, allow_abbrev=False,
                             usage="%%%%agent [options]\n       <the prompt, on the lines below>")  # fmt: skip
    add = parser.add_argument
    add("--model", metavar="MODEL", help="litellm model name, e.g. gpt-4.1-mini, anthropic/claude-sonnet-4-5")
    add("--api-base", metavar="URL", help="base URL of an OpenAI-compatible or Ollama server")
    add("--provider", metavar="NAME", help="where code runs: kernel (this kernel), local (bubblewrap sandbox), modal")
    add("--max-turns", type=for_argparse(positive_int), metavar="N", help="model turns before the run gives up")
    add("-o", "--out", metavar="VAR", help="bind the run's result (a str with .record) to this kernel variable")
    add("--record", metavar="FILE", help="record model calls to this cassette file")
    add("--replay", metavar="FILE", help="replay model calls from this cassette file, without a model")
    add("--budget-usd", type=for_argparse(positive_amount), metavar="USD", help="hard cost limit of the run in USD "
        "(needs a known price for the model)")
    add("--budget-tokens", type=for_argparse(positive_int), metavar="N", help="hard limit of the run on prompt + "
        "completion tokens")
    add("--price-per-mtok", type=for_argparse(price_option), metavar="IN,OUT", help="US$ per million input and output "
        "tokens, for a model without a known price (any model on a local server)")
    add("--approve", choices=APPROVE_CHOICES, help="ask before bash and file writes, or every tool call")
    add("--rerun", action="store_true", help="ask again although the cell is answered, replacing its cells")
    add("--answered", type=for_argparse(parse_marker), metavar="RUN:KEY", help="written by tinycode once the "
        "cells are in the notebook: the cell is not asked again while its prompt and options stay the same")
    return parser


def help_text() -> str:
    """``%agent help``: the cell's options and the line forms."""
    return _cell_parser().format_help() + "\n" + LINE_FORMS.format(settings=", ".join(SETTINGS))


@magics_class
class AgentMagics(Magics):
    """Agent magics; one agent (and conversation) per kernel, rebuilt when its settings change."""

    model = Unicode(help="litellm model name (default: $TINYCODE_MODEL)").tag(config=True)
    api_base = Unicode(help="base URL of an OpenAI-compatible or Ollama server (default: $TINYCODE_API_BASE)").tag(config=True)
    provider = Unicode(help="execution provider: kernel, local, modal (default: $TINYCODE_PROVIDER or kernel)").tag(config=True)
    max_turns = Int(30, help="turns before a run gives up (default: $TINYCODE_MAX_TURNS or 30)").tag(config=True)
    budget_usd = Float(None, allow_none=True, help="hard cost limit per run in USD, above 0; needs a known price "
                       "(default: $TINYCODE_BUDGET_USD, or no limit)").tag(config=True)  # fmt: skip
    budget_tokens = Int(None, allow_none=True, help="hard limit per run on prompt + completion tokens, 1 or more "
                        "(default: $TINYCODE_BUDGET_TOKENS, or no limit)").tag(config=True)  # fmt: skip
    price_per_mtok = Unicode(help="'IN,OUT': US$ per million input and output tokens, for a model litellm's cost map "
                             "does not price, e.g. one on a local server (default: $TINYCODE_PRICE_PER_MTOK)").tag(config=True)  # fmt: skip
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
        return os.environ.get("TINYCODE_PROVIDER") or "kernel"

    @default("max_turns")
    def _max_turns_from_environment(self) -> int:
        return self._limit_from_environment("max_turns", 30)

    @default("budget_usd")
    def _budget_from_environment(self) -> float | None:
        return self._limit_from_environment("budget_usd", None)

    @default("budget_tokens")
    def _budget_tokens_from_environment(self) -> int | None:
        return self._limit_from_environment("budget_tokens", None)

    @default("price_per_mtok")
    def _price_from_environment(self) -> str:
        return self._limit_from_environment("price_per_mtok", "")

    @staticmethod
    def _limit_from_environment(name: str, fallback: Any) -> Any:
        variable = ENVIRONMENT[name]
        text = os.environ.get(variable, "")
        if not text.strip():
            return fallback
        try:
            return LIMITS[name](text)
        except BadOptionValue as exc:
            raise TraitError(f"{variable}: {exc}") from None

    @validate(*LIMITS)
    def _check_limit(self, proposal: Any) -> Any:
        name, value = proposal["trait"].name, proposal["value"]
        if value is None:
            return None
        try:
            return LIMITS[name](value)
        except BadOptionValue as exc:
            raise TraitError(f"c.AgentMagics.{name}: {exc}") from None

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        try:  # config and environment are read now, so a bad limit fails %load_ext, not a later run
            super().__init__(shell=shell, **kwargs)
            for name in SETTINGS:
                getattr(self, name)
        except TraitError as exc:
            raise UsageError(f"tinycode_jupyter: {exc}") from None
        from .session import AgentSession

        self.session = AgentSession(shell)

    @cell_magic
    def agent(self, line: str, cell: str) -> None:
        """Run the agent on the cell's text (``%agent help`` lists the options).

        An answered cell (``--answered`` matches its prompt and options) is not asked again:
        it says so, and the cells below it run as ordinary cells. A cell whose run ``%agent undo``
        undid in this kernel is asked again.
        """
        args = _cell_parser().parse_args(_words("%%agent", line))
        if args.record and args.replay:
            raise UsageError("%%agent: use --record or --replay, not both")
        prompt = cell.strip()
        if not prompt:
            raise UsageError("%%agent: the cell is empty; write the task below the %%agent line")
        if args.out:
            self._check_variable_name(args.out)
        parent = request_parent(self.shell)
        key = answer_key(prompt, {k: v for k, v in vars(args).items() if k not in NOT_THE_QUESTION})
        undone = args.answered is not None and args.answered.run_id in self.session.undone_runs
        if args.answered is not None and args.answered.key == key and not (args.rerun or undone or rerun_requested(parent)):
            _show_text(args.answered.message(args.out))
            return
        settings = self._settings(args)
        try:
            result = self.session.run(prompt, settings, record=args.record, replay=args.replay,
                                      on_answered=self._marker(request_code(parent), key))  # fmt: skip
        except TinyCodeError as exc:
            raise UsageError(f"{type(exc).__name__}: {exc}") from None
        if args.out:
            shell: Any = self.shell  # set: the magics are registered on a shell
            shell.user_ns[args.out] = result

    def _marker(self, code: str | None, key: str) -> Callable[[str], None] | None:
        """Marks the running agent cell as answered by a run: its source, rewritten by the frontend."""
        shell: Any = self.shell
        if code is None:
            return None

        def mark(run_id: str) -> None:
            source = marked_source(code, Answered(run_id, key))
            if source is not None:
                shell.set_next_input(source, replace=True)

        return mark

    @line_magic("agent")  # type: ignore[arg-type]  # IPython types the named form as taking no function
    def agent_line(self, line: str) -> Any:
        """%agent: show settings · %agent key=value …: set defaults · %agent reset · %agent usage · %agent chat ·
        %agent export PATH · %agent undo [N] · %agent fix [--cell ID] [INSTRUCTIONS] · %agent help."""
        command, _, text = line.strip().partition(" ")
        if command == "fix":
            return self._fix(text)
        words = _words("%agent", line)
        if not words:
            return self._show_settings()
        command, rest = words[0], words[1:]
        if command == "help":
            return PlainText(help_text())
        if command == "reset":
            self.session.reset()
            return None
        if command == "usage":
            return PlainText(self.session.usage_summary())
        if command == "export":
            if len(rest) != 1:
                raise UsageError("%agent export: give one path, e.g. %agent export session.ipynb")
            return self.session.export(rest[0])
        if command == "chat":
            return self.session.chat_widget(self.current_settings())
        if command == "undo":
            return self._undo(rest)
        if all("=" in w for w in words):
            return self._set(words)
        raise UsageError(f"%agent: unknown command {command!r}; use help, reset, usage, chat, export PATH, undo [N], "
                         f"fix or key=value{_did_you_mean(command, COMMANDS)}")

    def _undo(self, rest: list[str]) -> "PlainText":
        """``%agent undo [N]`` or ``%agent undo --run ID`` (that run and every run after it: the Undo button's form):
        what was put back, as text; a bad N or an undo that cannot be done is one line."""
        if len(rest) > 2 or (len(rest) == 2 and rest[0] != "--run") or rest == ["--run"]:
            raise UsageError("%agent undo: give at most one number of runs (%agent undo 2), or --run RUN_ID")
        try:
            if rest[:1] == ["--run"]:
                return PlainText(self.session.undo(self.session.undo_history().runs_back_to(rest[1])).text())
            return PlainText(self.session.undo(positive_int(rest[0]) if rest else 1).text())
        except (BadOptionValue, TinyCodeError) as exc:
            raise UsageError(f"%agent undo: {exc}") from None

    def _fix(self, text: str) -> "PlainText | None":
        """``%agent fix [--cell ID] [INSTRUCTIONS]``: run the agent on an error; no error to fix is one line, no model call.

        The instructions are free text (not split as shell words), so ``don't`` needs no quoting.
        """
        found = _CELL_OPTION.search(text)
        if "--cell" in _CELL_OPTION.sub(" ", text).split():
            raise UsageError("%agent fix: --cell needs a cell id, e.g. %agent fix --cell 3f2a9c1d")
        instructions = _CELL_OPTION.sub(" ", text).strip() if found else text.strip()
        from ..notebook.fix_prompt import NothingToFix

        try:
            self.session.fix(self.current_settings(), found[1] if found else None, instructions)
        except NothingToFix as exc:
            return PlainText(str(exc))
        except TinyCodeError as exc:
            raise UsageError(f"%agent fix: {exc}") from None
        return None

    def _check_variable_name(self, name: str) -> None:
        """``-o NAME`` must be a name the result can be bound to without hiding a keyword, builtin or IPython's own."""
        reserved = set(getattr(self.shell, "user_ns_hidden", ()))
        if _HISTORY_NAME.fullmatch(name):
            reserved.add(name)
        try:
            variable_name(name, reserved)
        except BadOptionValue as exc:
            raise UsageError(f"%%agent: argument -o/--out: {exc}") from None

    def _set(self, assignments: list[str]) -> None:
        for assignment in assignments:
            key, _, text = assignment.partition("=")
            key = key.strip().replace("-", "_")
            if key not in SETTINGS:
                raise UsageError(f"%agent: unknown setting {key!r}; settings are {', '.join(SETTINGS)}"
                                 f"{_did_you_mean(key, SETTINGS)}")
            try:
                setattr(self, key, _setting_value(key, text))
            except (BadOptionValue, TraitError) as exc:
                raise UsageError(f"%agent: {key}: {exc}") from None

    def _show_settings(self) -> "PlainText":
        return PlainText("\n".join(f"{key} = {getattr(self, key)!r}" for key in SETTINGS))

    def status_line(self) -> str:
        """What ``%load_ext`` says: the version, the model (or how to set one) and the provider."""
        model = f"model {self.model}" if self.model else "no model set (%agent model=NAME, or TINYCODE_MODEL)"
        return f"tinycode_jupyter {__version__} · {model} · provider {self.provider} · %agent help for options"

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
        self.session.errors.detach()


def _show_text(text: str) -> None:
    """One line in the cell's output, as Markdown and as plain text (the text is built from safe parts)."""
    from IPython.display import display

    display({"text/markdown": text, "text/plain": text}, raw=True)
