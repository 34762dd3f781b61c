"""How one tool call looks in the agent's cell: a live block while it runs, then one line that opens.

Everything here is built from untrusted text (code, output, tool names, error messages) made
safe for the sink: code and printed output go in code blocks that cannot be closed
(:func:`.code_block`), and the few HTML elements we add ourselves (``<details>``, ``<summary>``,
``<pre>``) hold only escaped text, with ``$`` and ``\\`` as entities, so nothing renders as
markup or math. The bundles pair the Markdown with a plain-text version.
"""
from __future__ import annotations

import html
import re
from typing import Any, Literal

from ..providers.base import ExecResult
from ..record import ToolCallRecord
from ..tools.effects import ActionView
from ..tools.render import OutputPart, output_parts
from ..truncation import TruncationConfig, truncate
from ..untrusted_text import code_block, markdown_text, terminal_text

Bundle = dict[str, Any]
"""A display bundle: MIME type to data (text, or an object for a +json type)."""
Status = Literal["ran", "failed", "interrupted", "denied", "blocked", "invalid"]
SHOWN_OUTPUT = TruncationConfig(max_tokens=1500, max_lines=60)
LIVE_TAIL_LINES = 15
HINT_CHARS = 80
NOT_RUN = "nothing was run:"
"""What the text of a denied or blocked call says before its reasons."""
MARKS: dict[Status, str] = {"ran": "✓", "failed": "✗", "interrupted": "■", "denied": "⊘", "blocked": "⊘", "invalid": "⚠"}
_ERROR_BOX = "background: var(--jp-rendermime-error-background, #fdd); padding: 2px 6px"
_PLAIN_CODE = "background: none; padding: 0"
"""The ``<code>`` inside our ``<pre>``: no inline-code box around each line."""
_MATH_ENTITIES = str.maketrans({"$": "&#36;", "\\": "&#92;"})
_RED = "color: var(--jp-error-color1, #c00); font-weight: bold"
_GREEN = "color: var(--jp-success-color1, #080)"
_DIM = "color: var(--jp-ui-font-color2, #666)"
_TRACEBACK_LINES: list[tuple[re.Pattern[str], tuple[str, ...]]] = [
    (re.compile(r"(-{20,})$"), (_RED,)),  # IPython's rule above the exception's name
    (re.compile(r"([A-Za-z_][\w.]*)(\s+Traceback \(most recent call last\))$"), (_RED, "")),
    (re.compile(r"(Cell In\[\d*\], line \d+)(, in .*)?$"), (_GREEN, _GREEN)),  # IPython's frame header
    (re.compile(r'(\s*File "[^"]*", line \d+)(, in .*)?$'), (_GREEN, _GREEN)),  # Python's frame header
    (re.compile(r"(-*> ?\d+)"), (_GREEN,)),  # the failing line
    (re.compile(r"(\s+\d+ )"), (_DIM,)),  # a line of code around it
    (re.compile(r"(\s*[~^]+)$"), (_RED,)),  # where on the line
    (re.compile(r"([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit|Warning|Iteration))(:|$)"), (_RED, "")),
]


def bundle(markdown: str, plain: str) -> Bundle:
    """Markdown built from safe parts, with its plain text for frontends that show text only."""
    return {"text/markdown": markdown, "text/plain": terminal_text(plain)}


def html_text(text: str) -> str:
    """Text for our own HTML elements: escaped, and ``$``/``\\`` each in an element of their own (no math)."""
    return html.escape(text).replace("$", "<span>&#36;</span>").replace("\\", "<span>&#92;</span>")


def pre_html(inner: str, style: str = "") -> str:
    """A ``<pre><code>`` block around HTML made of escaped text (``$`` and ``\\`` as entities)."""
    attribute = f' style="{style}"' if style else ""
    return f'<pre{attribute}><code style="{_PLAIN_CODE}">{inner.translate(_MATH_ENTITIES)}</code></pre>'


def traceback_html(text: str) -> str:
    """A traceback coloured as IPython colours one: the exception, the frames of the code, the failing lines."""
    return pre_html("\n".join(_coloured_line(line) for line in text.splitlines()), _ERROR_BOX)


def _coloured_line(line: str) -> str:
    for pattern, styles in _TRACEBACK_LINES:
        match = pattern.match(line)
        if match:
            pieces = [_span(html.escape(part), style) for part, style in zip(match.groups(), styles) if part]
            return "".join(pieces) + html.escape(line[match.end() :])
    return html.escape(line)


def _span(escaped: str, style: str) -> str:
    return f'<span style="{style}">{escaped}</span>' if style else escaped


def status_of(record: ToolCallRecord) -> Status:
    """The call's outcome, with a step stopped before it finished (interrupt, timeout) told apart."""
    if record.exec_result is not None and record.exec_result.interrupted:
        return "interrupted"
    return record.outcome


def seconds_text(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def running_step(name: str, view: ActionView, elapsed: float, output: str) -> Bundle:
    """A step while it runs: its name, the time so far, its code and the tail of what it printed."""
    head = f"▶ {name} · running · {int(elapsed)} s"
    parts = [f"**▶ {markdown_text(name)}** · running · {int(elapsed)} s", code_block(view.body, view.language)]
    tail = _tail(output)
    if tail:
        parts.append(code_block(tail, "text"))
    return bundle("\n\n".join(parts), "\n".join([head, *([tail] if tail else [])]))


def finished_step(name: str, view: ActionView, record: ToolCallRecord, text: str, figures_below: bool) -> Bundle:
    """A finished step as one line (mark, name, time, a hint of the outcome) that opens to its code and output.

    ``text`` is what the tool returned (shown for tools that run no code); ``figures_below``:
    the step's figures are in the written cell below, so they are named here, not repeated.
    """
    status = status_of(record)
    result = record.exec_result
    line = _summary(name, status, record, text)
    body = [code_block(view.body, view.language)] if view.body else []
    body += _output_blocks(result, text)
    figures = _figure_count(result)
    if figures:
        where = "in the cell below" if figures_below else "below"
        body.append(f"*{figures} figure{'s' if figures > 1 else ''} ({where})*")
    return _folded(line, body)


def stopped_step(name: str, view: ActionView, elapsed: float, output: str) -> Bundle:
    """A step the run stopped without its result: one line that opens to its code and what it printed."""
    line = f"{MARKS['interrupted']} {name} · stopped after {seconds_text(elapsed)}"
    body = [code_block(view.body, view.language)] + ([code_block(truncate(output, SHOWN_OUTPUT), "text")] if output else [])
    return _folded(line, body)


def _folded(line: str, body: list[str]) -> Bundle:
    markdown = f"<details><summary>{html_text(line)}</summary>\n\n" + "\n\n".join(body) + "\n\n</details>"
    return bundle(markdown, line)


def _summary(name: str, status: Status, record: ToolCallRecord, text: str) -> str:
    result = record.exec_result
    took = seconds_text(result.duration if result is not None and result.duration else record.duration)
    if status == "interrupted" and result is not None:
        state = f"timed out after {took}" if result.timed_out else f"interrupted after {took}"
    elif status in ("ran", "failed"):
        state = took
    else:
        state = status
    hint = _hint(status, result, text)
    return " · ".join(part for part in (f"{MARKS[status]} {name}", state, hint) if part)


def _hint(status: Status, result: ExecResult | None, text: str) -> str:
    """One short line of what happened: the exception, a one-line value, the last line printed, or what was shown."""
    if result is None:
        first = text.split(NOT_RUN, 1)[-1].replace("\n- ", "\n")  # a refusal: its reason
    elif result.error is not None and status != "interrupted":
        first = f"{result.error.name}: {result.error.value}" if result.error.value else result.error.name
    elif result.value is not None and "\n" not in result.value.strip():
        first = result.value
    else:
        printed = [line for line in result.stdout.splitlines() if line.strip()]
        shown = [result.value or ""] + [d.get("text/plain", "") for d in result.displays]
        first = printed[-1] if printed else next((text for text in shown if text.strip()), "")
    line = next((line.strip() for line in first.splitlines() if line.strip()), "")
    return line if len(line) <= HINT_CHARS else line[: HINT_CHARS - 1] + "…"


def _output_blocks(result: ExecResult | None, text: str) -> list[str]:
    if result is None:
        return [code_block(truncate(text, SHOWN_OUTPUT), "text")] if text.strip() else []
    blocks = [_part_block(part) for part in output_parts(result)]
    return blocks or ["*no output*"]


def _part_block(part: OutputPart) -> str:
    shown = truncate(part.text, SHOWN_OUTPUT)
    if part.kind == "error":
        return traceback_html(shown)
    if part.kind == "stderr":
        return pre_html(html.escape(shown), _ERROR_BOX)
    if part.kind == "note":
        return f"*{markdown_text(shown)}*"
    return code_block(shown, "text")


def _figure_count(result: ExecResult | None) -> int:
    displays: list[dict[str, Any]] = result.displays if result is not None else []
    return sum(1 for d in displays if "image/png" in d or "image/jpeg" in d)


def _tail(output: str) -> str:
    lines = output.rstrip("\n").splitlines()
    if len(lines) <= LIVE_TAIL_LINES:
        return "\n".join(lines)
    return "\n".join([f"[… {len(lines) - LIVE_TAIL_LINES} earlier lines]", *lines[-LIVE_TAIL_LINES:]])
