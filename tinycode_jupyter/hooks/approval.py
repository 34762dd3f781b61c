"""Approval interceptors: ask a person before a tool call runs, showing the code or a diff.

:class:`ApprovalPolicy` says which calls need approval, by tool name or by declared
effect. :class:`ApprovalHook` asks with the tool's own preview (the code, the command,
or a unified diff against the current file, read through the provider) and a denial
reaches the model as the tool's result, with the reason. Approval is an interceptor:
if asking fails, the call is blocked. Two front ends: :class:`TerminalApproval` (y/n on
a terminal) and :class:`NotebookApproval` (ipywidgets buttons). Several approval and
deny interceptors compose: each is asked in turn and the first denial wins.
"""
from __future__ import annotations

import asyncio
import html
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Collection

from ..actions import Action, DenyTools, Interceptor
from ..events import Deny
from ..tools.effects import EFFECT_KINDS, EffectKind, Language
from ..untrusted_text import terminal_text

log = logging.getLogger(__name__)

DEFAULT_ASK_EFFECTS: frozenset[EffectKind] = frozenset({"runs_shell", "writes_path", "edits_cell", "network", "unknown"})
"""Asked by default: shell commands, file writes, cell edits, network and tools that declare nothing.
This default is meant for the ``kernel`` provider, where code runs with your permissions;
``run_python`` (effect ``runs_python``) is not asked by default because it is the agent's
main tool (add ``"runs_python"`` or ``"run_python"`` to ``ask`` to review it too)."""
EVERY_TOOL = "*"


class ApprovalPolicy:
    """Which calls need approval: ``ask`` holds tool names and effect kinds; ``"*"`` means every call."""

    def __init__(self, ask: Collection[str] = DEFAULT_ASK_EFFECTS) -> None:
        self.ask = frozenset([ask] if isinstance(ask, str) else ask)

    def __repr__(self) -> str:
        return f"ApprovalPolicy(ask={sorted(self.ask)!r})"

    @classmethod
    def every_tool(cls) -> "ApprovalPolicy":
        return cls([EVERY_TOOL])

    def needs_approval(self, tool_name: str, effect_kinds: Collection[str] = ()) -> bool:
        if EVERY_TOOL in self.ask or tool_name in self.ask:
            return True
        return any(kind in self.ask for kind in effect_kinds if kind in EFFECT_KINDS)


@dataclass
class ApprovalRequest:
    """What a person is asked to approve: the tool's own preview of the call."""

    tool: str
    arguments: dict[str, Any]
    preview: str
    """The code, the command, a unified diff, or the arguments as JSON."""
    language: Language
    title: str = ""
    notes: list[str] = field(default_factory=list)
    """Things to know, e.g. that ``old_content`` is not in the file (the tool would fail)."""


async def build_request(action: Action) -> ApprovalRequest:
    """The request for one call, from its tool's preview (which reads files through the provider)."""
    view = await action.tool.preview_of(action.arguments)
    return ApprovalRequest(action.name, action.arguments, view.body, view.language, view.title, list(view.notes))


class ApprovalHook(Interceptor):
    """Base of approval front ends: decides who is asked, builds the request, applies the answer.

    Subclasses implement :meth:`ask`, returning None to approve or :class:`Deny`.
    """

    def __init__(self, policy: ApprovalPolicy | None = None) -> None:
        self.policy = policy or ApprovalPolicy()
        self.always_approved: set[str] = set()
        """Tools approved for the rest of the session ("always" answers)."""

    async def intercept(self, action: Action) -> Deny | None:
        kinds = [effect.kind for effect in action.effects]
        if not self.policy.needs_approval(action.name, kinds) or action.name in self.always_approved:
            return None
        decision = await self.ask(await build_request(action))
        log.info("approval: %s %s", action.name, "approved" if decision is None else f"denied ({decision.reason})")
        return decision

    async def ask(self, request: ApprovalRequest) -> Deny | None:
        raise NotImplementedError


def deny_tools(*names: str, reason: str = "this tool is disabled by the user's policy") -> DenyTools:
    """An interceptor that always denies the named tools (compose it with approval interceptors)."""
    return DenyTools(names, reason)


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
        input_func: Callable[[str], str] = input,
        console: Any = None,
    ) -> None:
        super().__init__(policy)
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
        """Write the request to the terminal, with no escape sequence or control character of its own:
        what the call would run is shown whole (nothing in it can move the cursor or overwrite a line)."""
        title, preview = _plain(request.title), _plain(request.preview)
        notes = [_plain(note) for note in request.notes]
        if self.console is None:
            listed = "".join(f"! {note}\n" for note in notes)
            print(f"\n── {title} ({_plain(request.tool)}) ──\n{preview.rstrip()}\n{listed}", flush=True)
            return
        from rich.panel import Panel
        from rich.syntax import Syntax
        from rich.text import Text

        self.console.print(Panel(Syntax(preview.rstrip("\n"), request.language, word_wrap=True),
                                 title=Text(title), border_style="yellow"))  # fmt: skip
        for note in notes:
            self.console.print(Text(f"! {note}", style="bold red"))


def _plain(text: str) -> str:
    return terminal_text(text, colours=False)


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
        display: Callable[[Any], Any] | None = None,
        wait_for_click: ClickWaiter | None = None,
        timeout: float | None = 300.0,
        run_on_main: "Callable[[Callable[[], Any]], Awaitable[Any]] | None" = None,
    ) -> None:
        super().__init__(policy)
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
