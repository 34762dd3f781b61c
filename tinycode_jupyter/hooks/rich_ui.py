"""RichUICallback: a live terminal view of a run (needs ``pip install 'tinycode_jupyter[rich]'``).

Shows the model's text as it streams, each tool call with its code highlighted
(Python for ``run_python``, bash for ``bash``, a diff for ``update_file``) and its
output, the final answer as Markdown, and a token/cost line when the run ends.
"""
from __future__ import annotations

from typing import Any

from ..accounting import cost_text
from ..events import AgentEnd, AgentStart, Hook, LLMDelta, LLMEnd, LLMStart, ToolEnd, ToolStart
from ..untrusted_text import terminal_text

RICH_MISSING = "RichUICallback needs the 'rich' package: pip install 'tinycode_jupyter[rich]' (or pip install rich)"


def require_rich() -> None:
    """Import rich, or raise an ImportError that says what to install."""
    try:
        import rich  # noqa: F401
    except ImportError as exc:
        raise ImportError(RICH_MISSING) from exc


class RichUICallback(Hook):
    """Renders agent events on a ``rich`` console.

    Args:
        show_thinking: stream the model's text while it is generated (also before tool calls).
        show_tool_calls: show each tool call's code and output.
        markdown: render model text as Markdown (else as plain text).
        console: the ``rich.console.Console`` to draw on (default: a new one on stdout).
        max_output_lines: longer tool outputs show their head and tail.
        show_prompt: echo the task when a run starts (a chat, where the user just typed it, turns it off).
    """

    def __init__(
        self,
        show_thinking: bool = True,
        show_tool_calls: bool = True,
        markdown: bool = True,
        console: Any = None,
        max_output_lines: int = 30,
        show_prompt: bool = True,
    ) -> None:
        require_rich()
        from rich.console import Console

        self.show_thinking = show_thinking
        self.show_tool_calls = show_tool_calls
        self.markdown = markdown
        self.console = console if console is not None else Console()
        self.max_output_lines = max_output_lines
        self.show_prompt = show_prompt
        self._live: Any = None
        self._streamed = ""

    # --- events ----------------------------------------------------------------------
    def on_agent_start(self, event: AgentStart) -> None:
        from rich.text import Text

        if self.show_prompt:
            self.console.print(Text(f"› {_plain(event.prompt or '')}", style="bold cyan"))

    def on_llm_start(self, event: LLMStart) -> None:
        self._streamed = ""

    def on_llm_delta(self, event: LLMDelta) -> None:
        if not event.text_delta:
            return
        self._streamed += event.text_delta
        if self.show_thinking:
            self._live_view().update(self._text(self._streamed), refresh=True)

    def on_llm_end(self, event: LLMEnd) -> None:
        shown_live = self._stop_live()
        response = event.response
        if response is None or shown_live or not response.content.strip():
            return
        if not response.tool_calls or self.show_thinking:
            self.console.print(self._text(response.content))

    def on_tool_start(self, event: ToolStart) -> None:
        if not self.show_tool_calls or event.tool_call is None:
            return
        from rich.panel import Panel
        from rich.text import Text

        name, view = event.tool_call.name, event.view
        subtitle = Text(_plain(view.subtitle)) if view.subtitle else None
        title = Text(f"▶ {_plain(name)}")
        self.console.print(Panel(self._syntax(view.body, view.language), title=title, subtitle=subtitle,
                                 title_align="left", border_style="blue"))  # fmt: skip

    def on_tool_end(self, event: ToolEnd) -> None:
        if not self.show_tool_calls or event.result is None:
            return
        from rich.panel import Panel
        from rich.text import Text

        ok = event.result.ok
        text = _head_and_tail(terminal_text(event.result.text).rstrip("\n"), self.max_output_lines) or "(no output)"
        self.console.print(Panel(Text.from_ansi(text), title="output" if ok else "error", title_align="left",
                                 border_style="green" if ok else "red"))  # fmt: skip

    def on_agent_end(self, event: AgentEnd) -> None:
        from rich.text import Text

        self._stop_live()
        record = event.record
        if event.error is not None:
            reason = _plain(str(event.error))
            self.console.print(Text(f"✗ run stopped: {type(event.error).__name__}: {reason}", style="bold red"))
        if record is not None:
            self.console.print(Text(usage_line(record), style="dim"))

    # --- rendering --------------------------------------------------------------------
    def _text(self, text: str) -> Any:
        from rich.markdown import Markdown
        from rich.text import Text

        # links show their target: a terminal hyperlink would hide it behind the text
        return Markdown(_plain(text), hyperlinks=False) if self.markdown else Text(_plain(text))

    def _syntax(self, code: str, language: str) -> Any:
        from rich.syntax import Syntax

        return Syntax(_plain(code).rstrip("\n") or " ", language, word_wrap=True, theme="ansi_dark")

    def _live_view(self) -> Any:
        if self._live is None:
            from rich.live import Live

            self._live = Live(console=self.console, auto_refresh=False, vertical_overflow="visible",
                              redirect_stdout=False, redirect_stderr=False)  # fmt: skip
            self._live.start()
        return self._live

    def _stop_live(self) -> bool:
        """Close the live region, leaving its last frame on screen; True if there was one."""
        live, self._live = self._live, None
        if live is None:
            return False
        live.stop()
        if not self.console.is_terminal:  # rich ends the frame with a newline only on terminals
            self.console.line()
        return True


def usage_line(record: Any) -> str:
    """``3 turns · 1,234 prompt + 56 completion tokens · $0.0012 · 2.3s`` (``price unknown`` instead of a cost it cannot know)."""
    usage = record.usage
    cached = f" ({usage.cached_tokens:,} cached)" if usage.cached_tokens else ""
    turns = len(record.steps)
    return (f"{turns} turn{'s' if turns != 1 else ''} · {usage.prompt_tokens:,} prompt{cached} + "
            f"{usage.completion_tokens:,} completion tokens · {cost_text(record.cost)} · {record.duration:.1f}s")  # fmt: skip


def _plain(text: str) -> str:
    """Untrusted text without any escape sequence or control character (rich draws the colours)."""
    return terminal_text(text, colours=False)


def _head_and_tail(text: str, max_lines: int) -> str:
    lines = text.splitlines()
    if len(lines) <= max_lines:
        return text
    head = max_lines // 2
    tail = max_lines - head
    return "\n".join([*lines[:head], f"… {len(lines) - max_lines} more lines …", *lines[-tail:]])
