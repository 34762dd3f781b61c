"""Output from the sandbox and from the model is data on the host: attacks on every sink that shows it.

Each test plays one attack through the real path (a scripted model over loopback HTTP, the
real providers, a real kernel where the sink lives in one) and looks at what the sink gets:
the Markdown a ``%%agent`` cell displays, the sidebar's messages, the chat widget's
transcript, gradio's chat messages, and the bytes ``tinycode demo`` and ``tinycode chat``
write to a terminal. Markdown is judged by rendering it (CommonMark, raw HTML allowed, as a
notebook renders it) and reading the HTML: which elements exist, what text is code, and what
text MathJax could read as math. ``tests/browser/test_escape_output_browser.py`` renders the
same attacks in JupyterLab itself.
"""
from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from _require import require_tool
from kernel_harness import Kernel
from tinycode_jupyter import TinyCodeAgent
from tinycode_jupyter.testing import ScriptedLLM, ScriptedServer, call, say
from tinycode_jupyter.untrusted_text import code_block, markdown_text, terminal_text

TINY_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
TRACKER = "http://127.0.0.1:9"  # nothing listens there: a request would only fail, never leak
MARKUP = (
    f"![pixel]({TRACKER}/markdown-image.png) <img src=\"{TRACKER}/html-image.png\"> "
    "<script>window.__tinycode_pwned = 'script'</script> "
    f"<iframe src=\"{TRACKER}/frame\"></iframe> [click](javascript:window.__tinycode_pwned='link') "
    f"<{TRACKER}/autolink> [ref]\n\n[ref]: {TRACKER}/reference-image.png"
)
DOLLARS = "The fix costs $5 and the licence $10 a month."
# Closes a ``` fence and puts HTML after the "end" of the block; then the same for longer and ~~~ fences.
FENCE_BREAK = "```\n<img src=\"" + TRACKER + "/{where}.png\"> **not bold**\n````````\n~~~\n</code></pre>"
# A code block in the answer, with shell variables that must stay code, not math.
ANSWER_CODE = "```bash\necho \"$HOME and $PATH\" <b>\n```"
TERMINAL_ATTACKS = {
    "osc_window_title": "\x1b]0;pwned-title\x07",
    "osc8_hyperlink": f"\x1b]8;;{TRACKER}/\x1b\\disguised link\x1b]8;;\x1b\\",
    "osc52_clipboard_write": "\x1b]52;c;cHduZWQtY2xpcGJvYXJk\x07",
    "csi_clear_screen": "\x1b[2J\x1b[H",
    "csi_device_status_report": "\x1b[6n",
    "csi_alternate_screen": "\x1b[?1049h",
    "csi_cursor_up_overwrite": "\x1b[5A\x1b[2K",
    "dcs_string": "\x1bP1$qm\x1b\\",
    "apc_string": "\x1b_pwned-apc\x1b\\",
    "pm_string": "\x1b^pwned-pm\x1b\\",
    "c1_csi_clear_screen": "\x9b2J",
    "c1_osc_title": "\x9d0;pwned-c1-title\x9c",
    "unterminated_osc": "\x1b]0;pwned-unterminated ",
}
TERMINAL_PAYLOAD = "".join(TERMINAL_ATTACKS.values()) + "\x1b[31mred\x1b[0m [bold red]not markup[/] done"
# Code that prints the payload without spelling it out, so the code itself, shown too, does not contain it.
PRINT_TERMINAL_PAYLOAD = f"print(bytes.fromhex({TERMINAL_PAYLOAD.encode().hex()!r}).decode())"
RICH_MARKUP = "[bold red]not markup[/]"


# --- reading rendered Markdown -------------------------------------------------------------------
ACTIVE_ELEMENTS = {"img", "script", "iframe", "object", "embed", "svg", "style", "link", "video", "audio", "source",
                   "form", "input", "meta", "base", "a"}  # fmt: skip
_VOID = {"img", "br", "hr", "input", "meta", "link", "source", "base", "embed"}
_RENDER = MarkdownIt("commonmark", {"html": True}).enable("table")


@dataclass
class Rendered:
    """What a notebook shows for some Markdown: its elements, its code text, and its other text."""

    markdown: str
    elements: list[str] = field(default_factory=list)
    code: list[str] = field(default_factory=list)
    prose: list[str] = field(default_factory=list)

    @property
    def active(self) -> list[str]:
        """Elements that load something, run something or link somewhere."""
        return [e for e in self.elements if e in ACTIVE_ELEMENTS]

    @property
    def math(self) -> list[str]:
        """Runs of text outside code that MathJax could read as math: a ``$`` or ``\\`` beside other text."""
        return [t for t in self.prose if ("$" in t or "\\" in t) and t.strip() not in ("$", "\\")]

    def only_in_code(self, marker: str) -> bool:
        return any(marker in c for c in self.code) and not any(marker in p for p in self.prose)


class _Reader(HTMLParser):
    def __init__(self, rendered: Rendered) -> None:
        super().__init__(convert_charrefs=True)
        self.rendered = rendered
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.rendered.elements.append(tag)
        if tag not in _VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag) :]

    def handle_data(self, data: str) -> None:
        (self.rendered.code if "code" in self.open else self.rendered.prose).append(data)


def render(markdown: str) -> Rendered:
    rendered = Rendered(markdown)
    _Reader(rendered).feed(_RENDER.render(markdown))
    return rendered


def assert_inert(markdown: str) -> Rendered:
    """The Markdown renders no active element and no math; returns what it renders."""
    rendered = render(markdown)
    assert rendered.active == [], markdown
    assert rendered.math == [], markdown
    return rendered


# --- the module itself, on the nastiest inputs ---------------------------------------------------
CODE_BLOCK_ATTACKS = {
    "triple_backtick_fence": "a\n```\n<img src=x>",
    "longer_backtick_fence": "````````````\nafter",
    "tilde_fence": "~~~\n<script>x</script>",
    "indented_fence": "   ```\n<b>x</b>",
    "fence_with_info": "```html\n<b>x</b>",
    "backticks_mid_line": "x ``````` y\n```",
    "carriage_return_line_end": "a\r```\r<img src=x>",
    "trailing_backticks_only": "`````",
    "html_comment_and_cdata": "<!-- x --> <![CDATA[ y ]]>",
}


@pytest.mark.parametrize("text", CODE_BLOCK_ATTACKS.values(), ids=CODE_BLOCK_ATTACKS.keys())
def test_code_block_cannot_be_closed_by_its_content(text):
    rendered = render(code_block(text, "python"))
    assert rendered.elements == ["pre", "code"]  # one block, nothing after it
    assert "".join(rendered.code) == text.replace("\r", "\n") + "\n"


MARKDOWN_ATTACKS = {
    "markdown_image": f"![x]({TRACKER}/x.png)",
    "reference_image": f"![x][r]\n\n[r]: {TRACKER}/x.png",
    "html_image": f"<img src={TRACKER}/x.png>",
    "event_handler": "<img src=x onerror=alert(1)>",
    "script": "<script>alert(1)</script>",
    "iframe": f"<iframe src={TRACKER}></iframe>",
    "svg": "<svg onload=alert(1)></svg>",
    "javascript_link": "[x](javascript:alert(1))",
    "entity_encoded_javascript_link": "[x](jav&#x61;script:alert(1))",
    "autolink": f"<{TRACKER}/x>",
    "escaped_bracket_cancelled": f"\\![x]({TRACKER}/x.png) \\\\![y]({TRACKER}/y.png)",
    "html_block": "<div>\n<img src=x>\n</div>",
    "inline_math": DOLLARS,
    "display_math": "$$x$$ and \\[y\\] and \\(z\\) and \\begin{equation}w\\end{equation}",
    "backtick_pairing_with_a_code_span": "lone ` tick then `code` then <img src=x> `",
    "multi_line_code_span_with_html": "`a\n\n<img src=x>`",
    "unclosed_fence": "```\n<img src=x>",
    "html_in_a_list": "- item <img src=x>\n  <script>x</script>",
    "fence_after_a_carriage_return": "text\r~~~\r<img src=x>\r~~~\r<script>x</script>",
    "fence_after_a_line_separator": "text\u2028```\u2028<img src=x>",
}


@pytest.mark.parametrize("text", MARKDOWN_ATTACKS.values(), ids=MARKDOWN_ATTACKS.keys())
def test_model_markdown_renders_no_html_image_link_or_math(text):
    assert_inert(markdown_text(text))


def test_model_markdown_after_a_label_on_the_same_line_cannot_leave_its_code_block():
    assert_inert("**You:** " + markdown_text("```\n\n<img src=x onerror=alert(1)>\n```"))


def test_model_markdown_keeps_formatting_code_spans_and_code_blocks():
    text = "The **total** is *6*.\n\n- one\n- two\n\nUse `df[df.a > 1]` here:\n\n```python\nif a < b and c['$x']:\n    pass\n```\n"
    rendered = assert_inert(markdown_text(text))
    assert ["strong", "em", "ul", "li", "li", "code", "pre", "code"] == [e for e in rendered.elements if e != "p"]
    assert rendered.code == ["df[df.a > 1]", "if a < b and c['$x']:\n    pass\n"]


@pytest.mark.parametrize("attack", TERMINAL_ATTACKS.values(), ids=TERMINAL_ATTACKS.keys())
def test_terminal_text_removes_the_control_sequence(attack):
    shown = terminal_text(f"before {attack} after")
    assert_no_terminal_control(shown)
    assert shown.startswith("before ") and shown.endswith(" after")
    assert "pwned" not in shown or attack == TERMINAL_ATTACKS["unterminated_osc"]  # an unterminated OSC's text stays visible


@pytest.mark.parametrize("trick", ["safe\rEVIL", "safe\b\b\b\bEVIL", "safe\x1b[4DEVIL"], ids=["carriage_return", "backspace", "cursor_back"])
def test_terminal_text_cannot_overwrite_text_already_shown(trick):
    shown = terminal_text(trick)
    assert "safe" in shown and "EVIL" in shown and not re.search(r"[\r\b\x1b]", shown)


def test_terminal_text_keeps_colours_unless_told_not_to():
    assert terminal_text("\x1b[1;31mred\x1b[0m") == "\x1b[1;31mred\x1b[0m"
    assert terminal_text("\x1b[1;31mred\x1b[0m", colours=False) == "red"


def test_bidirectional_override_cannot_reorder_what_is_shown():
    assert terminal_text("access = 'user\u202e \u2066// admin\u2069'") == "access = 'user // admin'"


def assert_no_terminal_control(text: str) -> None:
    """No escape sequence but SGR, no control character but tab and newline, no C1 control."""
    without_sgr = re.sub(r"\x1b\[[0-9;:]*m", "", text)
    bad = [c for c in without_sgr if (ord(c) < 32 and c not in "\t\n") or 0x7F <= ord(c) <= 0x9F]
    assert bad == [], repr(text)


# --- the %%agent cell, in a real kernel ----------------------------------------------------------
@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    k = Kernel(cwd=str(tmp_path_factory.mktemp("escape-output")))
    k.execute("%load_ext tinycode_jupyter")
    yield k
    k.shutdown()


def cell_bundles(run: Any) -> list[dict[str, Any]]:
    return [o["content"]["data"] for o in run.outputs if o["msg_type"] in ("display_data", "update_display_data")]


def attack_script(code: str) -> list[Any]:
    return [call("run_python", {"code": code}, content=f"Working. {MARKUP} {DOLLARS}"),
            say(f"{MARKUP}\n\n{DOLLARS}\n\n{ANSWER_CODE}")]  # fmt: skip


@pytest.fixture(scope="module")
def attacked_cell(kernel, server):
    """One ``%%agent`` run whose code, tool output and model text all carry the attacks."""
    code = 'fence_break = """\n' + FENCE_BREAK.format(where="in-code") + '\n"""\n'
    code += f"print({FENCE_BREAK.format(where='in-output')!r})\nprint({DOLLARS!r})"
    server.add(*attack_script(code))
    run = kernel.execute(f"%%agent --model openai/scripted --api-base {server.url} --provider kernel\nGo.")
    assert run.status == "ok", run.text()
    return [data["text/markdown"] for data in cell_bundles(run) if "text/markdown" in data]


def test_cell_output_of_a_tool_that_closes_its_code_fence_stays_inside_it(attacked_cell):
    [shown] = [m for m in attacked_cell if m.startswith("<details>")]  # the finished step: its code and output
    assert "\n```\n" in inner_lines(shown)  # the output really has a line that would close a ``` fence
    rendered = assert_inert(shown)
    assert rendered.only_in_code("in-output.png") and rendered.only_in_code("**not bold**")


def test_cell_code_that_closes_its_code_fence_stays_inside_it(attacked_cell):
    shown = next(m for m in attacked_cell if "▶ run_python" in m)  # the step while it runs (updated as it prints)
    assert "\n```\n" in inner_lines(shown)
    rendered = assert_inert(shown)
    assert rendered.only_in_code("in-code.png")


def inner_lines(markdown: str) -> str:
    """The lines of some Markdown but its first and last (a title or a fence, and a fence)."""
    return "\n" + "\n".join(markdown.splitlines()[1:-1]) + "\n"


def test_cell_model_text_renders_no_image_html_script_iframe_or_javascript_link(attacked_cell):
    model_text = [m for m in attacked_cell if "pixel" in m]
    assert len(model_text) >= 2  # the text before the tool call, and the answer (as streamed and complete)
    for markdown in model_text:
        assert_inert(markdown)
    assert "![pixel](" in "".join(render(model_text[-1]).prose)  # shown as the text it is


def test_cell_dollar_amounts_are_not_latex_and_code_keeps_its_dollars(attacked_cell):
    [answer] = [m for m in attacked_cell if "echo" in m][-1:]
    rendered = assert_inert(answer)
    assert "$5 and the licence $10" in "".join(rendered.prose)
    assert rendered.only_in_code('echo "$HOME and $PATH" <b>')
    for markdown in attacked_cell:
        assert_inert(markdown)  # every update of every block, the streamed ones included


async def test_answer_cells_written_back_or_exported_render_no_image_html_or_math(tmp_path):
    from tinycode_jupyter.jupyter.cells import cells_for_run, notebook_for_session

    prompt = f"Price it {DOLLARS} <img src={TRACKER}/prompt.png>"
    agent = TinyCodeAgent(llm=ScriptedLLM([say(f"{MARKUP}\n\n{DOLLARS}\n\n{ANSWER_CODE}")]), provider="kernel",
                          default_workdir=tmp_path)  # fmt: skip
    async with agent:
        await agent.run(prompt)
    [answer] = cells_for_run(agent.last_run)
    assert_inert(answer["source"])
    exported = notebook_for_session(agent.history)["cells"]
    assert [c["cell_type"] for c in exported] == ["markdown", "markdown"]
    for cell in exported:
        assert_inert(cell["source"])


# --- rich displays from the sandbox --------------------------------------------------------------
FORGED_DISPLAY = {
    "text/html": "<script>window.__tinycode_pwned = 'html'</script><img src='http://127.0.0.1:9/html.png'>",
    "application/javascript": "window.__tinycode_pwned = 'javascript'",
    "image/svg+xml": "<svg xmlns='http://www.w3.org/2000/svg' onload='window.__tinycode_pwned = 1'/>",
    "text/markdown": "![sandbox-markdown](http://127.0.0.1:9/markdown.png) $5 and $10",
    "application/vnd.jupyter.widget-view+json": {"model_id": "forged"},
    "text/plain": "forged display",
    "image/png": TINY_PNG,
}
# Code in the sandbox takes over the worker's protocol channel and forges the step's displays.
FORGE_DISPLAYS = f"""\
import gc, _tinycode_worker as w
worker = next(o for o in gc.get_objects() if isinstance(o, w.Worker))
send = worker.channel.send
def forge(message):
    if message.get("type") == "result":
        message = dict(message, displays=[{FORGED_DISPLAY!r}])
    send(message)
worker.channel.send = forge
"""
# The same through the agent, whose import gate refuses ``gc``: the worker's ``display`` is a bound method,
# so the code reaches the worker's list of displays and puts the forged bundle there as it is.
INJECT_DISPLAY = f"display.__self__._items.append({FORGED_DISPLAY!r})"
NOT_DATA = {"text/html", "application/javascript", "image/svg+xml", "text/markdown",
            "application/vnd.jupyter.widget-view+json"}  # fmt: skip


def test_html_script_svg_and_markdown_displays_from_the_sandbox_are_not_shown_in_the_cell(kernel, server):
    require_tool("bwrap", "the local provider's sandbox")
    server.add(call("run_python", {"code": INJECT_DISPLAY}), say("Shown."))
    run = kernel.execute(f"%%agent --model openai/scripted --api-base {server.url} --provider local\nShow it.")
    assert run.status == "ok", run.text()
    bundles = cell_bundles(run)
    assert [b for b in bundles if NOT_DATA & set(b) - {"text/markdown"}] == []
    assert not any("sandbox-markdown" in "".join(render(b.get("text/markdown", "")).prose) for b in bundles)
    assert {"image/png": TINY_PNG, "text/plain": "forged display"} in bundles  # a PNG is data: it is shown


async def test_written_back_cells_of_a_sandbox_run_hold_only_data_displays(tmp_path):
    from tinycode_jupyter.jupyter.cells import outputs_for
    from tinycode_jupyter.providers.local import LocalProvider

    require_tool("bwrap", "the local provider's sandbox")
    async with LocalProvider(tmp_path) as sandbox:
        result = await sandbox.run_python(FORGE_DISPLAYS)
    assert result.displays == [{"text/plain": "forged display", "image/png": TINY_PNG}]
    displayed = [o["data"] for o in outputs_for(result) if o["output_type"] == "display_data"]
    assert displayed == [{"text/plain": "forged display", "image/png": TINY_PNG}]


async def test_kernel_provider_displays_are_the_users_own_but_the_live_view_shows_only_data(tmp_path):
    """The kernel provider runs code in your kernel (no isolation), so its HTML is yours: the written-back
    cell keeps it, as re-running the cell would show it. The agent's live view shows data types only."""
    from tinycode_jupyter.jupyter.cell_output import CellOutput
    from tinycode_jupyter.jupyter.cells import outputs_for

    shown: list[dict[str, Any]] = []
    view = CellOutput(lambda f: f(), lambda schedule: _Recorder(shown))
    code = "from IPython.display import HTML, display\ndisplay(HTML('<b>yours</b>'))"
    agent = TinyCodeAgent(llm=ScriptedLLM([call("run_python", {"code": code}), say("ok")]), provider="kernel",
                          default_workdir=tmp_path, callbacks=[view])  # fmt: skip
    async with agent:
        await agent.run("go")
    [call_record] = agent.last_run.tool_calls
    assert "text/html" in call_record.exec_result.displays[0]
    assert [o["data"]["text/html"] for o in outputs_for(call_record.exec_result) if o["output_type"] == "display_data"]
    assert not any("text/html" in bundle for bundle in shown)


class _Recorder:
    """A display block that records each bundle it is asked to show."""

    def __init__(self, shown: list[dict[str, Any]]) -> None:
        self.shown = shown

    def show(self, bundle: dict[str, Any]) -> None:
        self.shown.append(bundle)


# --- the sidebar's messages ----------------------------------------------------------------------
async def test_sidebar_messages_carry_model_text_that_renders_no_html_image_link_or_math(tmp_path):
    from tinycode_jupyter.jupyter.chat_events import ChatEvents

    messages: list[dict[str, Any]] = []
    code = f"print({FENCE_BREAK.format(where='sidebar-output')!r})"
    agent = TinyCodeAgent(llm=ScriptedLLM(attack_script(code)), provider="kernel", default_workdir=tmp_path,
                          callbacks=[ChatEvents(messages.append)])  # fmt: skip
    async with agent:
        await agent.run("go")
    texts = [m["text"] for m in messages if m["kind"] in ("text", "answer")]
    assert texts and all("pixel" in t for t in texts)
    for text in texts:
        assert_inert(text)
    [end] = [m for m in messages if m["kind"] == "tool_end"]
    # tool output travels as text and the sidebar shows it as text (a <pre>'s textContent): unchanged
    assert FENCE_BREAK.format(where="sidebar-output") in end["output"] and end["images"] == []


# --- the chat widget -----------------------------------------------------------------------------
def test_chat_widget_shows_an_error_message_carrying_markup_as_text():
    pytest.importorskip("ipywidgets")
    from tinycode_jupyter.errors import LLMError
    from tinycode_jupyter.jupyter.chat_widget import ChatWidget

    class FailingSession:
        running = False
        shell = None  # outside a kernel: no cell to write below, no frontend to write to

        def cells_channel(self, runner: Any) -> None:
            return None

        def run(self, *args: Any, **kwargs: Any) -> None:
            raise LLMError(f"the server said: {MARKUP} {DOLLARS}")

    chat = ChatWidget(FailingSession(), {})
    chat.send(f"my prompt with {DOLLARS} <img src={TRACKER}/prompt.png>")
    notes = [output.outputs[0]["data"]["text/markdown"] for output in chat.transcript.children]
    assert len(notes) == 2
    for note in notes:
        assert_inert(note)


# --- terminals -----------------------------------------------------------------------------------
def terminal_responder(request: dict[str, Any]) -> Any:
    """A model whose code prints every terminal attack, and whose text carries them too."""
    if not any(m["role"] == "tool" for m in request["messages"]):
        return call("run_python", {"code": PRINT_TERMINAL_PAYLOAD}, content=f"Running. {TERMINAL_PAYLOAD}")
    return say(f"Done: {TERMINAL_PAYLOAD}")


def test_demo_writes_no_terminal_control_sequence_from_the_sandbox_or_the_model(monkeypatch, capfd, tmp_path):
    from tinycode_jupyter import cli, demo

    require_tool("bwrap", "the local provider's sandbox")
    monkeypatch.chdir(tmp_path)  # the demo's sandbox works in the current directory
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setattr(demo, "demo_responder", terminal_responder)
    monkeypatch.setattr(demo, "_first_ollama_model", lambda: None)
    assert cli.main(["demo", "--provider", "local", "--prompt", "go"]) == 0
    out = capfd.readouterr().out
    assert_no_terminal_control(out)
    assert "\x1b[31mred\x1b[0m" in out  # colours may stay
    assert "cHduZWQtY2xpcGJvYXJk" not in out and "pwned-title" not in out and "pwned-apc" not in out
    assert out.count(RICH_MARKUP) >= 2  # the output and the answer, as written


def test_chat_in_a_terminal_writes_no_osc_or_screen_control_from_the_model_or_tools(tmp_path):
    with ScriptedServer(terminal_responder) as server:
        out = run_in_terminal(
            [sys.executable, "-m", "tinycode_jupyter.cli", "chat", "--model", "openai/scripted", "--api-base",
             server.url, "--provider", "kernel"],
            stdin="go\n/exit\n", cwd=tmp_path,
        )  # fmt: skip
    assert "disguised link" in out and "done" in out  # the run was shown
    for name, attack in TERMINAL_ATTACKS.items():
        if name != "unterminated_osc":
            assert attack not in out, name
    assert not re.search(r"\x1b[\]P_^X]|[\x80-\x9f]", out)  # no OSC, DCS, APC, PM, SOS, C1 at all
    # (while the text streams, a sequence whose end has not arrived yet shows as text for a frame: harmless)
    assert RICH_MARKUP in out  # untrusted text is never rich markup


def run_in_terminal(argv: list[str], stdin: str, cwd: Path) -> str:
    """Run ``argv`` with its stdout and stderr on a pseudo-terminal (so it draws as for a user); return what it wrote."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40", "OPENAI_API_KEY": "test-key",
           "TINYCODE_MODEL": ""}  # fmt: skip
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=terminal, stderr=terminal, cwd=cwd, env=env)
    os.close(terminal)
    assert process.stdin is not None
    process.stdin.write(stdin.encode())
    process.stdin.close()
    chunks = []
    while True:
        ready, _, _ = select.select([controller], [], [], 120)
        assert ready, "the command wrote nothing for 120 s"
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal's last writer has gone
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    assert process.wait(timeout=60) == 0
    return b"".join(chunks).decode("utf-8", "replace")


async def test_rich_view_shows_markup_and_paths_from_the_model_literally(tmp_path):
    from io import StringIO

    from rich.console import Console

    from tinycode_jupyter.hooks.rich_ui import RichUICallback

    buffer = StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="truecolor", width=120)
    path = f"notes{RICH_MARKUP}.txt"
    script = [call("write_file", {"file_path": path, "content": f"{RICH_MARKUP}\n"}),
              call("run_python", {"code": PRINT_TERMINAL_PAYLOAD}),
              say(f"See [the docs]({TRACKER}/docs) and {RICH_MARKUP} {TERMINAL_PAYLOAD}")]  # fmt: skip
    agent = TinyCodeAgent(llm=ScriptedLLM(script), provider="kernel", default_workdir=tmp_path,
                          callbacks=[RichUICallback(console=console)])  # fmt: skip
    async with agent:
        await agent.run("go")
    out = buffer.getvalue()
    assert out.count(RICH_MARKUP) >= 4  # the path, the file's content, the output and the answer
    assert f"{TRACKER}/docs" in out  # a link's target is shown, not hidden behind its text
    assert not re.search(r"\x1b[\]P_^X]|[\x80-\x9f]", out)
    for name, attack in TERMINAL_ATTACKS.items():
        if name != "unterminated_osc":
            assert attack not in out, name


# Runs the cat (bash ignores the comment); a terminal would show only "echo hello" on that line.
HIDDEN_COMMAND = "cat ~/.ssh/id_rsa  #\r\x1b[2K\x1b[1A\x1b[8mconcealed\x1b[0m\becho hello"


@pytest.mark.parametrize("front", ["rich", "plain"])
async def test_terminal_approval_shows_a_command_whose_escape_sequences_would_hide_it(tmp_path, capsys, front):
    from io import StringIO

    from rich.console import Console

    from tinycode_jupyter.hooks.approval import TerminalApproval

    buffer = StringIO()
    approval = TerminalApproval(input_func=lambda prompt: "n", console=Console(file=buffer, force_terminal=True, width=120))
    if front == "plain":
        approval.console = None  # the front end used where rich is not installed
    agent = TinyCodeAgent(llm=ScriptedLLM([call("bash", {"command": HIDDEN_COMMAND}), say("ok")]), provider="kernel",
                          default_workdir=tmp_path, callbacks=[approval])  # fmt: skip
    async with agent:
        await agent.run("go")
    shown = buffer.getvalue() + capsys.readouterr().out
    assert_no_terminal_control(shown)
    visible = re.sub(r"\x1b\[[0-9;:]*m", "", shown)  # the colours rich drew
    assert "cat ~/.ssh/id_rsa" in visible and "concealed" in visible and "echo hello" in visible


# --- gradio --------------------------------------------------------------------------------------
async def test_gradio_messages_keep_tool_output_in_its_fence_and_model_text_inert(tmp_path):
    from tinycode_jupyter.gradio_app import GradioCallback

    view = GradioCallback()
    code = f"print({FENCE_BREAK.format(where='gradio-output')!r})"
    agent = TinyCodeAgent(llm=ScriptedLLM(attack_script(code)), provider="kernel", default_workdir=tmp_path,
                          callbacks=[view])  # fmt: skip
    async with agent:
        await agent.run("go")
    contents = [m["content"] for m in view.messages]
    [tool] = [c for c in contents if "gradio-output.png" in c]
    assert render(tool).only_in_code("gradio-output.png") and render(tool).active == []
    for content in contents:
        assert render(content).active == []  # gradio renders LaTeX only between $$ by default
    assert any("![pixel](" in "".join(render(c).prose) for c in contents)

