"""Make untrusted text (model replies, tool output, code) safe for the sink that shows it.

Text from the model or from a sandbox is data. Each function here fits it to one sink:

- :func:`code_block`: a Markdown code block that the text cannot close (its fence is longer
  than any backtick run inside).
- :func:`markdown_text`: Markdown meant to be rendered (a model's answer), with everything
  that could render HTML, load a resource, make a link, or turn into LaTeX neutralised;
  its own code spans and fenced blocks are kept, re-fenced so they cannot be closed early.
- :func:`literal_markdown`: Markdown that renders as exactly the text (a user's prompt quoted in
  a notebook): no formatting, HTML, link, list, heading or LaTeX, whatever it holds.
- :func:`terminal_text`: text for a terminal, without escape sequences other than SGR
  colours, without control characters and without bidirectional overrides.
- :func:`data_bundle`: a rich display bundle reduced to the MIME types that are pure data.
"""
from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from typing import Any

DATA_MIME_TYPES = frozenset({"text/plain", "image/png", "image/jpeg"})
"""MIME types a frontend shows as data: no HTML, script, SVG or Markdown."""

# Markdown --------------------------------------------------------------------------
_BACKTICKS = re.compile(r"`+")
_FENCE_OPEN = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")
_INFO_WORD = re.compile(r"[\w+#.-]+")
# Outside code, these are the only characters Markdown, an HTML sanitiser or MathJax act on
# that could render markup, load a resource, form a link or image, or start math: ``<`` opens
# HTML and autolinks; ``[`` opens links, images and link definitions; a backtick could pair with
# a code span's; ``$`` and ``\`` start math. An entity is text to the parser and cannot be undone
# by a preceding backslash; ``$`` and ``\`` also get an element of their own, because MathJax
# reads the rendered page, where an entity is a plain ``$`` again, and finds math only within
# one run of text.
_PROSE_ESCAPES = {
    "<": "&lt;",
    "[": "&#91;",
    "`": "&#96;",
    "$": "<span>&#36;</span>",
    "\\": "<span>&#92;</span>",
}
_PROSE_TABLE = str.maketrans(_PROSE_ESCAPES)
_ANY_FENCE = re.compile(r"^ {0,3}(?:`{3,}|~{3,})", re.MULTILINE)


def code_block(text: str, language: str = "") -> str:
    """``text`` as a fenced Markdown code block that nothing inside it can close.

    The fence is backticks, one longer than the longest backtick run in ``text``
    (at least three); ``language`` keeps only the characters of a language name.
    """
    fence = "`" * max(3, _longest_run(text) + 1)
    info = "".join(_INFO_WORD.findall(language.split()[0])) if language.split() else ""
    return f"{fence}{info}\n{text.rstrip(chr(10))}\n{fence}"


def code_span(text: str) -> str:
    """``text`` as inline code; it stays on one line, as Markdown shows inline code anyway."""
    flat = " ".join(text.splitlines())
    fence = "`" * (_longest_run(flat) + 1)
    pad = " " if flat[:1] in ("`", " ") or flat[-1:] in ("`", " ") else ""  # Markdown strips one space each side
    return f"{fence}{pad}{flat}{pad}{fence}"


def markdown_text(text: str) -> str:
    """Untrusted Markdown made safe to render: formatting, code spans and code blocks are kept.

    No HTML (it shows as text), no images or links (``[`` shows as text; bare ``http(s)`` URLs
    may still be linked by the renderer, which loads nothing), no LaTeX (``$`` and ``\\`` show as
    themselves). Fenced blocks and code spans are re-fenced with :func:`code_block` and
    :func:`code_span`, so their content is shown as written and cannot close them; a block
    starts on a line of its own, so the result may follow other text on a line.
    """
    parts: list[str] = []
    for kind, body, info in _blocks(text.replace("\r\n", "\n").replace("\r", "\n")):  # Markdown's line ends
        if kind == "code":
            # a fence opens a block only at the start of a line, also when our caller put text before us
            parts.append(("" if parts and parts[-1].endswith("\n") else "\n") + code_block(body, info) + "\n")
        else:
            parts.append(_inline(body))
    return "".join(parts)


def _longest_run(text: str) -> int:
    return max((len(run) for run in _BACKTICKS.findall(text)), default=0)


def _blocks(text: str) -> list[tuple[str, str, str]]:
    """``text`` split into ("prose", text, "") and ("code", content, info) parts; an unclosed fence runs to the end."""
    if not _ANY_FENCE.search(text):
        return [("prose", text, "")]
    parts: list[tuple[str, str, str]] = []
    prose: list[str] = []
    lines = text.splitlines(keepends=True)
    index = 0
    while index < len(lines):
        opening = _FENCE_OPEN.fullmatch(lines[index].rstrip("\r\n"))
        if opening is None or (opening.group(1)[0] == "`" and "`" in opening.group(2)):
            prose.append(lines[index])
            index += 1
            continue
        fence, info = opening.group(1), opening.group(2).strip()
        closing = re.compile(r" {0,3}" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t]*")
        end = next((i for i in range(index + 1, len(lines)) if closing.fullmatch(lines[i].rstrip("\r\n"))), len(lines))
        if prose:
            parts.append(("prose", "".join(prose), ""))
            prose = []
        parts.append(("code", "".join(lines[index + 1 : end]), info))
        index = end + 1
    if prose:
        parts.append(("prose", "".join(prose), ""))
    return parts


def _inline(prose: str) -> str:
    """Prose with its code spans re-fenced and everything else escaped (see ``_PROSE_ESCAPES``)."""
    runs = list(_BACKTICKS.finditer(prose))
    by_length: dict[int, list[int]] = {}
    for number, run in enumerate(runs):
        by_length.setdefault(len(run.group()), []).append(number)
    out: list[str] = []
    position = number = 0
    while number < len(runs):
        opening = runs[number]
        same = by_length[len(opening.group())]
        later = bisect.bisect_right(same, number)
        if later == len(same):  # no closing run of the same length: the backticks are text
            number += 1
            continue
        closing = runs[same[later]]
        out.append(_escape(prose[position : opening.start()]))
        out.append(code_span(prose[opening.end() : closing.start()]))
        position, number = closing.end(), same[later] + 1
    out.append(_escape(prose[position:]))
    return "".join(out)


def _escape(prose: str) -> str:
    return prose.translate(_PROSE_TABLE)


_LITERAL_ESCAPES = {
    **{ord(c): f"&#{ord(c)};" for c in "!\"#%&'()*+,-./:;<=>?@[]^_`{|}~"},
    ord("$"): "<span>&#36;</span>",
    ord("\\"): "<span>&#92;</span>",
    ord("\t"): "&#160;" * 4,
}


def literal_markdown(text: str) -> str:
    """``text`` as Markdown that renders exactly as written, on lines of its own, within one paragraph.

    Every ASCII punctuation character becomes an entity, which Markdown reads as text (so nothing
    opens emphasis, code, HTML, a link, a list, a heading, a table or a rule); ``$`` and ``\\``
    also get an element of their own, as in :func:`markdown_text`, so MathJax finds no math;
    line breaks become ``<br>``, leading spaces non-breaking spaces (no indented code block),
    and control characters and bidirectional overrides are dropped.
    """
    lines = _ANY_SPECIAL.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).split("\n")
    escaped = []
    for line in lines:
        body = line.lstrip(" ")
        escaped.append("&#160;" * (len(line) - len(body)) + body.translate(_LITERAL_ESCAPES))
    return "<br>\n".join(escaped)


# Terminals -------------------------------------------------------------------------
_TERMINAL_SPECIAL = re.compile(
    r"(?:\x1b[\]PX^_]|[\x90\x98\x9d-\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"  # OSC, DCS, SOS, PM, APC
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b[ -/]*[0-~]"  # any other escape; also the opening of an unterminated string
    r"|\r\n?"
    "|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"  # controls (a lone ESC too), bidi overrides
)
_SGR = re.compile(r"\x1b\[[0-9;:]*m")
_ANY_SPECIAL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_text(text: str, colours: bool = True) -> str:
    """``text`` safe to write to a terminal.

    Removed: OSC (window titles, hyperlinks, clipboard writes), DCS, SOS, PM and APC strings,
    every CSI sequence except SGR (cursor moves, screen clears, reports that make the terminal
    type into its input), other escape sequences, C0 and C1 control characters except tab and
    newline, and bidirectional overrides that reorder what is shown. A carriage return that does
    not end a line becomes a newline and a backspace is dropped, so no text can overwrite other
    text: all of it stays visible. SGR colours stay, unless ``colours`` is False.
    """

    def replace(match: re.Match[str]) -> str:
        found = match.group()
        if found[0] == "\r":
            return "\n"
        return found if colours and _SGR.fullmatch(found) else ""

    return _TERMINAL_SPECIAL.sub(replace, text) if _ANY_SPECIAL.search(text) else text


# Rich displays ---------------------------------------------------------------------
def data_bundle(bundle: Mapping[str, Any]) -> dict[str, str]:
    """The parts of a display bundle that are data (text, PNG, JPEG); HTML, JavaScript, SVG, Markdown are dropped."""
    return {mime: data for mime, data in bundle.items() if mime in DATA_MIME_TYPES and isinstance(data, str)}
