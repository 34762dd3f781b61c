"""Approval hooks: ask a person before a tool call runs, showing the code or a diff.

:class:`ApprovalPolicy` says which tools need approval. :class:`ApprovalHook` turns
a ``tool_start`` event into an :class:`ApprovalRequest` (with the code, the command,
or a unified diff of the file change) and asks; a denial reaches the model as the
tool's result, with the reason. Two front ends: :class:`TerminalApproval` (y/n on a
terminal) and :class:`NotebookApproval` (ipywidgets buttons). Several approval and
policy hooks compose: every hook is asked and any denial wins.
"""
from __future__ import annotations

import asyncio
import difflib
import html
import json
import logging
import os
import posixpath
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Collection, Literal

from ..events import Deny, Event, Hook

if TYPE_CHECKING:
    from ..providers.base import Provider

log = logging.getLogger(__name__)

FILE_WRITE_TOOLS = frozenset({"write_file", "update_file"})
DEFAULT_ASK = frozenset({"bash"}) | FILE_WRITE_TOOLS
"""Asked by default: shell commands and file writes. This default is meant for the
``kernel`` provider, where code runs with your permissions; ``run_python`` is not
asked by default because it is the agent's main tool (add it to ``ask`` to review it too)."""
EVERY_TOOL = "*"

Language = Literal["python", "bash", "diff", "json"]


class ApprovalPolicy:
    """Which tool calls need approval: tool names in ``ask``, or every tool with ``"*"``."""

    def __init__(self, ask: Collection[str] = DEFAULT_ASK) -> None:
        self.ask = frozenset([ask] if isinstance(ask, str) else ask)

    def __repr__(self) -> str:
        return f"ApprovalPolicy(ask={sorted(self.ask)!r})"

    @classmethod
    def every_tool(cls) -> "ApprovalPolicy":
        return cls([EVERY_TOOL])

    def needs_approval(self, tool_name: str) -> bool:
        return EVERY_TOOL in self.ask or tool_name in self.ask


@dataclass
class ApprovalRequest:
    """What a person is asked to approve."""

    tool: str
    arguments: dict[str, Any]
    preview: str
    """The code, the command, a unified diff, or the arguments as JSON."""
    language: Language
    title: str = ""
    notes: list[str] = field(default_factory=list)
    """Things to know, e.g. that ``old_content`` is not in the file (the tool would fail)."""


FileReader = Callable[[str], Awaitable["str | None"]]
"""Reads a file's current text, or None if it does not exist."""


def provider_reader(provider: "Provider") -> FileReader:
    """Read files where the agent's code runs (through the provider), paths relative to its workdir."""

    async def read(path: str) -> str | None:
        full = path if posixpath.isabs(path) else posixpath.join(provider.workdir, path)
        try:
            data = await provider.file_op("read_bytes", path=full)
        except FileNotFoundError:
            return None
        return data.decode("utf-8", errors="replace")

    return read


async def local_reader(path: str) -> str | None:
    """Read a file on this machine (used when no provider is given)."""
    try:
        with open(os.path.expanduser(path), encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def unified_diff(path: str, old: str | None, new: str) -> str:
    """A unified diff from ``old`` (None: the file does not exist) to ``new``."""
    before = "/dev/null" if old is None else f"a/{path}"
    lines = difflib.unified_diff((old or "").splitlines(keepends=True), new.splitlines(keepends=True), before, f"b/{path}")
    text = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
    return text or f"(no change to {path})\n"


async def build_request(tool: str, arguments: dict[str, Any], read: FileReader) -> ApprovalRequest:
    """The request for one tool call: code for run_python/bash, a diff for file writes, else JSON."""
    if tool == "run_python" and isinstance(arguments.get("code"), str):
        return ApprovalRequest(tool, arguments, arguments["code"], "python", "Run this Python code?")
    if tool == "bash" and isinstance(arguments.get("command"), str):
        workdir = arguments.get("absolute_workdir")
        title = "Run this shell command" + (f" in {workdir}?" if workdir else "?")
        return ApprovalRequest(tool, arguments, arguments["command"], "bash", title)
    if tool in FILE_WRITE_TOOLS and isinstance(arguments.get("file_path"), str):
        return await _file_request(tool, arguments, read)
    return ApprovalRequest(tool, arguments, json.dumps(arguments, indent=2, default=repr), "json", f"Call {tool}?")


async def _file_request(tool: str, arguments: dict[str, Any], read: FileReader) -> ApprovalRequest:
    path = arguments["file_path"]
    notes: list[str] = []
    try:
        current = await read(path)
    except Exception as exc:  # shown to the person deciding, and logged
        log.warning("approval: could not read %s for the diff: %s", path, exc)
        current, notes = None, [f"could not read the current file ({type(exc).__name__}: {exc}); diff shown against empty"]
    if tool == "write_file":
        new = str(arguments.get("content", ""))
        title = f"{'Overwrite' if current is not None else 'Create'} {path}?"
    else:
        old_part, new_part = str(arguments.get("old_content", "")), str(arguments.get("new_content", ""))
        expected = arguments.get("expected_matches", 1)
        found = (current or "").count(old_part) if old_part else 0
        if current is None or found != expected:
            notes.append(f"old_content occurs {found} time(s), expected {expected}: the update would fail")
            current, new = old_part, new_part
        else:
            new = current.replace(old_part, new_part)
        title = f"Edit {path}?"
    return ApprovalRequest(tool, arguments, unified_diff(path, current, new), "diff", title, notes)


class ApprovalHook(Hook):
    """Base of approval front ends: decides who is asked, builds the request, applies the answer.

    Subclasses implement :meth:`ask`, returning None to approve or :class:`Deny`.
    ``provider``: read files through it for diffs (pass ``agent.provider``), else the local disk.
    """

    def __init__(self, policy: ApprovalPolicy | None = None, *, provider: "Provider | None" = None) -> None:
        self.policy = policy or ApprovalPolicy()
        self.read: FileReader = provider_reader(provider) if provider is not None else local_reader
        self.always_approved: set[str] = set()
        """Tools approved for the rest of the session ("always" answers)."""

    async def on_tool_start(self, event: Event) -> Deny | None:
        name = event.tool_call.name if event.tool_call else ""
        if not self.policy.needs_approval(name) or name in self.always_approved:
            return None
        request = await build_request(name, event.extra.get("arguments", {}), self.read)
        decision = await self.ask(request)
        log.info("approval: %s %s", name, "approved" if decision is None else f"denied ({decision.reason})")
        return decision

    async def ask(self, request: ApprovalRequest) -> Deny | None:
        raise NotImplementedError


def deny_tools(*names: str, reason: str = "this tool is disabled by the user's policy") -> Callable[[Event], Deny | None]:
    """A hook that always denies the named tools (compose it with approval hooks)."""
    blocked = frozenset(names)

    def deny(event: Event) -> Deny | None:
        if event.name == "tool_start" and event.tool_call is not None and event.tool_call.name in blocked:
            return Deny(reason)
        return None

    return deny


# --- terminal ---------------------------------------------------------------------------
_YES = {"y", "yes"}
_ALWAYS = {"a", "always"}
_NO = {"", "n", "no"}


class TerminalApproval(ApprovalHook):
    """Asks on the terminal: ``y`` runs the call, ``a`` always runs this tool, ``n`` (or Enter) denies.

    Any other answer denies and is given to the model as the reason. ``input_func``
    reads one answer (default :func:`input`, run in a thread); ``console`` is a
    ``rich`` console for syntax-highlighted previews (plain text without rich).
    """

    def __init__(
        self,
        policy: ApprovalPolicy | None = None,
        *,
        provider: "Provider | None" = None,
        input_func: Callable[[str], str] = input,
        console: Any = None,
    ) -> None:
        super().__init__(policy, provider=provider)
        self.input_func = input_func
        self.console = console if console is not None else _default_console()

    async def ask(self, request: ApprovalRequest) -> Deny | None:
        self.show(request)
        prompt = f"Approve {request.tool}? [y]es / [n]o / [a]lways for {request.tool} / or type why not: "
        try:
            answer = (await asyncio.to_thread(self.input_func, prompt)).strip()
        except EOFError:
            return Deny("no answer (the terminal's input is closed)")
        if answer.lower() in _YES:
            return None
        if answer.lower() in _ALWAYS:
            self.always_approved.add(request.tool)
            return None
        return Deny("the user denied this call" if answer.lower() in _NO else f"the user denied this call: {answer}")

    def show(self, request: ApprovalRequest) -> None:
        """Write the request to the terminal."""
        if self.console is None:
            notes = "".join(f"! {note}\n" for note in request.notes)
            print(f"\n── {request.title} ({request.tool}) ──\n{request.preview.rstrip()}\n{notes}", flush=True)
            return
        from rich.panel import Panel
        from rich.syntax import Syntax
        from rich.text import Text

        self.console.print(Panel(Syntax(request.preview.rstrip("\n"), request.language, word_wrap=True),
                                 title=Text(request.title), border_style="yellow"))  # fmt: skip
        for note in request.notes:
            self.console.print(Text(f"! {note}", style="bold red"))


def _default_console() -> Any:
    try:
        from rich.console import Console
    except ImportError:
        return None
    return Console()


# --- notebook ---------------------------------------------------------------------------
class ApprovalWidget:
    """The ipywidgets form for one request: the preview, a reason box and Approve/Always/Deny buttons."""

    def __init__(self, request: ApprovalRequest) -> None:
        import ipywidgets as widgets

        self.request = request
        self.choice: str | None = None
        self.clicked = threading.Event()
        notes = "".join(f"<div style='color:#b00'>⚠ {html.escape(n)}</div>" for n in request.notes)
        self.preview = widgets.HTML(
            f"<b>{html.escape(request.title)}</b><pre style='max-height:24em;overflow:auto'>{html.escape(request.preview)}</pre>{notes}"
        )
        self.reason = widgets.Text(placeholder="reason (optional, told to the model on deny)")
        self.approve_button = widgets.Button(description="Approve", button_style="success")
        self.always_button = widgets.Button(description=f"Always {request.tool}")
        self.deny_button = widgets.Button(description="Deny", button_style="danger")
        self.status = widgets.HTML()
        for button, choice in ((self.approve_button, "approve"), (self.always_button, "always"), (self.deny_button, "deny")):
            button.on_click(lambda _button, choice=choice: self._choose(choice))
        buttons = widgets.HBox([self.approve_button, self.always_button, self.deny_button, self.reason])
        self.box = widgets.VBox([self.preview, buttons, self.status])

    def _choose(self, choice: str) -> None:
        if self.choice is not None:
            return
        self.choice = choice
        for button in (self.approve_button, self.always_button, self.deny_button):
            button.disabled = True
        self.reason.disabled = True
        label = {"approve": "Approved", "always": f"Approved (always for {self.request.tool})", "deny": "Denied"}[choice]
        self.status.value = f"<i>{html.escape(label)}</i>"
        self.clicked.set()


ClickWaiter = Callable[[ApprovalWidget], Awaitable[None]]
"""Returns once the widget has a choice (or gives up; no choice means deny)."""


class NotebookApproval(ApprovalHook):
    """Asks with Approve / Always / Deny buttons shown in the notebook.

    Clicks reach the kernel only while something processes its messages, and a
    running ``%%agent`` cell blocks that. ``wait_for_click`` is therefore
    injectable: the notebook layer passes one that pumps kernel messages while it
    waits. The default just waits (up to ``timeout`` seconds) for a click that
    something else delivers; with no choice the call is denied.
    """

    def __init__(
        self,
        policy: ApprovalPolicy | None = None,
        *,
        provider: "Provider | None" = None,
        display: Callable[[Any], Any] | None = None,
        wait_for_click: ClickWaiter | None = None,
        timeout: float | None = 300.0,
        run_on_main: "Callable[[Callable[[], Any]], Awaitable[Any]] | None" = None,
    ) -> None:
        super().__init__(policy, provider=provider)
        self.display = display or _ipython_display
        self.timeout = timeout
        self.wait_for_click = wait_for_click or self._wait_on_event
        self.run_on_main = run_on_main
        """In a kernel, where the widget is made and shown (the main thread, in the cell's context)."""

    async def ask(self, request: ApprovalRequest) -> Deny | None:
        widget = await self._show(request)
        await self.wait_for_click(widget)
        if widget.choice is None:
            widget._choose("deny")
            return Deny("no answer from the user in time")
        if widget.choice == "always":
            self.always_approved.add(request.tool)
            return None
        if widget.choice == "approve":
            return None
        reason = widget.reason.value.strip()
        return Deny(f"the user denied this call: {reason}" if reason else "the user denied this call")

    async def _show(self, request: ApprovalRequest) -> ApprovalWidget:
        def make_and_show() -> ApprovalWidget:
            widget = ApprovalWidget(request)
            self.display(widget.box)
            return widget

        return await self.run_on_main(make_and_show) if self.run_on_main else make_and_show()

    async def _wait_on_event(self, widget: ApprovalWidget) -> None:
        await asyncio.to_thread(widget.clicked.wait, self.timeout)


def _ipython_display(obj: Any) -> None:
    from IPython.display import display

    display(obj)
