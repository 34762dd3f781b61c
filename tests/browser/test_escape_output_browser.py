"""The output attacks of ``tests/test_escape_output.py``, rendered by a real JupyterLab in Chromium.

A scripted model runs code that prints a payload closing its code fence, and writes text with
a remote image, an HTML image, a script, an iframe, a ``javascript:`` link and dollar amounts.
In the sidebar and in the ``%%agent`` cell's output, the page must show all of it as text:
no image element, no request to the tracker's address, no script run, no MathJax.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from labserver import LabServer
from notebook_page import PANEL, open_notebook, run_cell, run_cell_and_wait
from test_escape_output import ANSWER_CODE, DOLLARS, FENCE_BREAK, MARKUP, TRACKER
from test_sidebar import open_chat, send, setup_source, wait_until_idle

from tinycode_jupyter.testing import ScriptedServer, call, say

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.timeout(180)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
NOTEBOOK, RAW_CHAT_NOTEBOOK = "escape_output.ipynb", "escape_raw_chat.ipynb"
# A kernel that speaks the chat protocol itself and answers every run with raw markup: what the
# sidebar alone makes of text that was not made safe in the kernel.
RAW_CHAT_KERNEL = """\
import json
from comm import get_comm_manager
from tinycode_jupyter.jupyter import chat_protocol
RAW = json.loads({raw!r})

def open_chat(comm, _message):
    def on_message(message):
        if message["content"]["data"].get("action") == "run":
            comm.send(chat_protocol.event("answer", turn=1, text=RAW))
            comm.send(chat_protocol.event("done", status="ok"))
    comm.on_msg(on_message)
    comm.send(chat_protocol.READY)

get_comm_manager().register_target(chat_protocol.TARGET, open_chat)
"""
CHAT_SHOWN = ".jp-tinycode-chat:not(.lm-mod-hidden)"
PWNED_JS = "() => window.__tinycode_pwned === undefined ? null : String(window.__tinycode_pwned)"
# What an attack would leave in a part of the page: images, frames, MathJax, and the text shown.
INSPECT_JS = """(selector) => [...document.querySelectorAll(selector)].map(node => ({
  images: node.querySelectorAll('img, iframe, svg image, video, audio, object, embed').length,
  math: node.querySelectorAll('mjx-container, .MathJax').length,
  links: [...node.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
  code: [...node.querySelectorAll('pre, code')].map(c => c.innerText),
  text: node.innerText,
}))"""


@dataclass
class Attacked:
    page: Page
    lab_server: LabServer
    requests: list[str] = field(default_factory=list)


def script(where: str) -> list[Any]:
    code = f"print({FENCE_BREAK.format(where=where)!r})\nprint({DOLLARS!r})"
    return [call("run_python", {"code": code}, content=f"Working. {MARKUP}"), say(f"{MARKUP}\n\n{DOLLARS}\n\n{ANSWER_CODE}")]


@pytest.fixture(scope="module")
def model_server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


@pytest.fixture(scope="module")
def attacked(browser: Any, lab_server: LabServer, model_server: ScriptedServer) -> Iterator[Attacked]:
    """One page with the notebook open and its setup cell run; every request the page makes is recorded."""
    lab_server.write_notebook(NOTEBOOK, [{"id": "setup", "cell_type": "code", "source": setup_source(model_server)}])
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    shared = Attacked(page, lab_server)
    page.on("request", lambda request: shared.requests.append(request.url))
    open_notebook(page, lab_server.page_url(NOTEBOOK))
    run_cell(page, 0)
    yield shared
    context.close()
    lab_server.shutdown_kernels()


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_sidebar_shows_fence_closing_output_and_markup_from_the_model_as_text(attacked: Attacked, model_server) -> None:
    page = attacked.page
    model_server.add(*script("sidebar"))
    chat = open_chat(page)
    send(chat, "Go.")
    wait_until_idle(chat, timeout_ms=60_000)
    screenshot(page, "test_sidebar_shows_fence_closing_output_and_markup_from_the_model_as_text")

    assert chat.locator(".jp-tinycode-output").last.inner_text() == f"{FENCE_BREAK.format(where='sidebar')}\n{DOLLARS}"
    [shown] = page.evaluate(INSPECT_JS, "#tinycode-jupyter-chat .jp-tinycode-transcript")
    assert (shown["images"], shown["math"]) == (0, 0)
    assert all(href.startswith("http://") for href in shown["links"])  # bare URLs may be linked: nothing loads
    answer = chat.locator(".jp-tinycode-answer").last.inner_text()
    assert "![pixel](" in answer and "<script>" in answer and DOLLARS in answer
    assert page.evaluate(PWNED_JS) is None
    assert [url for url in attacked.requests if url.startswith(TRACKER)] == []


def test_agent_cell_output_shows_fence_closing_output_and_markup_from_the_model_as_text(attacked: Attacked, model_server) -> None:
    page = attacked.page
    model_server.add(*script("cell"))
    page.locator(f"{PANEL} .jp-Notebook").focus()
    index = run_cell_and_wait(page, "%%agent\nGo.", timeout_ms=60_000)
    page.locator(f"{PANEL} .jp-Notebook .jp-Cell").nth(index).locator("summary", has_text="run_python").click()  # open the step
    screenshot(page, "test_agent_cell_output_shows_fence_closing_output_and_markup_from_the_model_as_text")

    cell = f"{PANEL} .jp-Notebook .jp-Cell:nth-child({index + 1}) .jp-OutputArea"
    page.locator(cell).screenshot(path=str(ARTIFACTS / "test_agent_cell_output_shows_the_attacks_as_text.png"))
    [shown] = page.evaluate(INSPECT_JS, cell)
    assert (shown["images"], shown["math"]) == (0, 0)
    assert all(href.startswith("http://") for href in shown["links"])  # bare URLs may be linked: nothing loads
    assert any(FENCE_BREAK.format(where="cell") in code for code in shown["code"])  # the whole payload is code text
    assert "![pixel](" in shown["text"] and DOLLARS in shown["text"]
    assert page.evaluate(PWNED_JS) is None
    assert [url for url in attacked.requests if url.startswith(TRACKER)] == []


def test_sidebar_renders_raw_markup_from_a_kernel_as_text_without_images_or_math(attacked: Attacked) -> None:
    page = attacked.page
    raw = json.dumps(f"{MARKUP}\n\n{DOLLARS}")
    attacked.lab_server.write_notebook(RAW_CHAT_NOTEBOOK, [{"id": "raw", "cell_type": "code",
                                                           "source": RAW_CHAT_KERNEL.format(raw=raw)}])  # fmt: skip
    open_notebook(page, attacked.lab_server.page_url(RAW_CHAT_NOTEBOOK))
    run_cell(page, 0)
    chat = open_chat(page)
    send(chat, "Go.")
    answer = chat.locator(".jp-tinycode-answer", has_text="The fix costs")
    answer.wait_for(timeout=30_000)
    screenshot(page, "test_sidebar_renders_raw_markup_from_a_kernel_as_text_without_images_or_math")

    [shown] = page.evaluate(INSPECT_JS, f"#tinycode-jupyter-chat {CHAT_SHOWN} .jp-tinycode-answer")
    assert (shown["images"], shown["math"]) == (0, 0)
    assert all(href.startswith("http://") for href in shown["links"])
    assert DOLLARS in shown["text"]  # not typeset
    assert page.evaluate(PWNED_JS) is None
    assert [url for url in attacked.requests if url.startswith(TRACKER)] == []
