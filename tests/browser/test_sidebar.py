"""The sidebar chat in a real JupyterLab: opened from the command palette, it runs the
agent (against a scripted model server) in the active notebook's kernel, streams the
run, and the agent's cells appear in that notebook.

The JupyterLab tests share one page and one agent notebook (its kernel pays the model
client's import once); each asserts relative to the cells it adds. Notebook 7 gets a
page of its own.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from labserver import LabServer
from notebook_page import (
    CELLS,
    KERNEL_IDLE_JS,
    PANEL,
    add_cell_below,
    cell,
    cells,
    open_notebook,
    run_cell,
    run_cell_and_wait,
    wait_for_cells,
    wait_for_output,
)

from tinycode_jupyter.testing import ScriptedServer, call, say

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.timeout(120)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
AGENT_NB, OTHER_NB, UNLOADED_NB = "sidebar_agent.ipynb", "sidebar_other.ipynb", "sidebar_unloaded.ipynb"
NOTEBOOK7_NB = "sidebar_notebook7.ipynb"
CHAT = "#tinycode-jupyter-chat .jp-tinycode-chat:not(.lm-mod-hidden)"
SUM_STEP = "import time\ntotal = sum(numbers)\ntime.sleep(1.5)\nprint('total', total)"
LONG_STEP = "import time\nfor _ in range(600):\n    time.sleep(0.05)"
CELL_COUNT_JS = """(path) => [...window.jupyterapp.shell.widgets('main')]
  .filter(w => w.context && w.context.path === path).map(w => w.content.model.cells.length)[0]"""


@dataclass
class Lab:
    page: Page
    console: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def model_server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


@pytest.fixture(scope="module")
def lab(browser: Any, lab_server: LabServer, model_server: ScriptedServer) -> Iterator[Lab]:
    """One page with the agent notebook open and its setup cell (load the extension, set the model) run."""
    lab_server.write_notebook(AGENT_NB, [{"id": "setup", "cell_type": "code", "source": setup_source(model_server)}])
    lab_server.write_notebook(OTHER_NB, [{"id": "other", "cell_type": "code", "source": "other = 1"}])
    lab_server.write_notebook(UNLOADED_NB, [{"id": "plain", "cell_type": "code", "source": "plain = 1"}])
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    shared = Lab(page)
    page.on("console", lambda msg: shared.console.append(msg.text) if "tinycode-jupyter" in msg.text else None)
    open_notebook(page, lab_server.page_url(AGENT_NB))
    run_cell(page, 0)
    yield shared
    context.close()
    lab_server.shutdown_kernels()


@pytest.fixture
def page(lab: Lab, request: pytest.FixtureRequest) -> Iterator[Page]:
    """The shared page, with the agent notebook active; a screenshot per test, no extension errors logged."""
    show_notebook(lab.page, AGENT_NB)
    logged = len(lab.console)
    yield lab.page
    ARTIFACTS.mkdir(exist_ok=True)
    lab.page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    assert lab.console[logged:] == []


def setup_source(model_server: ScriptedServer) -> str:
    return f"%load_ext tinycode_jupyter\n%agent model=openai/scripted api_base={model_server.url}\nnumbers = [1, 2, 3]"


def show_notebook(page: Page, name: str) -> None:
    """Make the notebook ``name`` the active one: its tab if it is open, else open it from the file browser."""
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=name)
    if tab.count():
        tab.click()
    else:
        page.locator(".jp-DirListing-item", has_text=name).dblclick()
    page.wait_for_function("(name) => window.jupyterapp.shell.currentWidget.context.path === name", arg=name)
    page.locator(CELLS).first.wait_for()


def open_chat(page: Page) -> Locator:
    """Open the sidebar as a user does: the command palette, "Open agent chat"."""
    page.locator(f"{PANEL} .jp-Notebook").focus()  # command mode; the active cell stays as it is
    page.keyboard.press("Escape")
    page.keyboard.press("ControlOrMeta+Shift+c")
    page.locator(".jp-ModalCommandPalette .lm-CommandPalette-input").fill("Open agent chat")
    page.keyboard.press("Enter")
    chat = page.locator(CHAT)
    chat.wait_for()
    return chat


def send(chat: Locator, prompt: str) -> None:
    chat.locator(".jp-tinycode-input").fill(prompt)
    chat.locator(".jp-tinycode-send").click()


def wait_until_idle(chat: Locator, timeout_ms: float = 30_000) -> None:
    """Wait until the run has ended (Send is enabled again)."""
    chat.locator(".jp-tinycode-send:enabled").wait_for(timeout=timeout_ms)


def select_cell(page: Page, index: int) -> None:
    cell(page, index).locator(".jp-InputPrompt").click()


def test_send_streams_the_run_and_the_agents_cells_appear_below_the_active_cell(page: Page, model_server) -> None:
    anchor = run_cell_and_wait(page, "numbers = [1, 2, 3]")
    add_cell_below(page, anchor, "print('a user cell below')")
    select_cell(page, anchor)  # the cell that is active at Send
    model_server.add(call("run_python", {"code": SUM_STEP}, content="Adding up the numbers."),
                     say("The total is **6**, now in `total`."))  # fmt: skip

    chat = open_chat(page)
    assert chat.locator(".jp-tinycode-heading").inner_text() == f"Agent · {AGENT_NB}"
    send(chat, "Sum {numbers} into total.")

    code = chat.locator(".jp-tinycode-tool .jp-tinycode-code").last
    code.wait_for(timeout=30_000)
    assert code.inner_text() == SUM_STEP  # shown while the step still runs
    assert chat.locator(".jp-tinycode-stop").is_enabled() and chat.locator(".jp-tinycode-answer").count() == 0
    assert "openai/scripted · working" in chat.locator(".jp-tinycode-status").inner_text()

    wait_until_idle(chat)
    assert chat.locator(".jp-tinycode-prompt").last.inner_text() == "Sum {numbers} into total."
    tool = chat.locator(".jp-tinycode-tool").last
    assert tool.locator(".jp-tinycode-tool-name").inner_text() == "▶ run_python"
    assert tool.locator(".jp-tinycode-output").inner_text() == "total 6"
    texts = chat.locator(".jp-tinycode-text").all_inner_texts()
    assert texts[-2:] == ["Adding up the numbers.", "The total is 6, now in total."]
    assert chat.locator(".jp-tinycode-answer").last.inner_text() == "The total is 6, now in total."
    footer = chat.locator(".jp-tinycode-usage").last.inner_text()
    assert footer.startswith("openai/scripted · 2 turns · ") and " completion tokens · price unknown · " in footer

    shown = wait_for_cells(page, anchor + 4)
    assert [c["type"] for c in shown[anchor:]] == ["code", "code", "markdown", "code"]
    assert shown[anchor + 1]["source"] == SUM_STEP and shown[anchor + 1]["outputs"] == ["total 6"]
    assert shown[anchor + 2]["rendered"] == "The total is 6, now in total."
    assert shown[anchor + 3]["source"] == "print('a user cell below')"

    model_server.add(say("A second answer."))  # the same active cell: below the first run's cells, not instead
    send(chat, "And again.")
    shown = wait_for_cells(page, anchor + 5)
    answers = [c["rendered"] for c in shown[anchor + 2 : anchor + 4]]
    assert answers == ["The total is 6, now in total.", "A second answer."]
    assert shown[anchor + 4]["source"] == "print('a user cell below')"


def test_stop_ends_a_long_step_and_the_kernel_stays_usable(page: Page, model_server) -> None:
    model_server.add(call("run_python", {"code": LONG_STEP}, content="This takes a while."))
    chat = open_chat(page)
    send(chat, "Take your time.")
    chat.locator(".jp-tinycode-code", has_text="range(600)").wait_for(timeout=30_000)
    page.wait_for_timeout(500)  # the step now runs on the kernel's main thread

    chat.locator(".jp-tinycode-stop").click()
    chat.locator(".jp-tinycode-note", has_text="Stopped.").wait_for(timeout=5_000)
    wait_until_idle(chat, timeout_ms=5_000)
    assert chat.locator(".jp-tinycode-stop").is_disabled()
    index = run_cell_and_wait(page, "print(1 + 1)", timeout_ms=15_000)
    assert cells(page)[index]["outputs"] == ["2"]

    model_server.add(say("Still here."))
    send(chat, "Are you there?")
    chat.locator(".jp-tinycode-answer", has_text="Still here.").wait_for(timeout=15_000)


def test_a_run_stays_with_its_notebook_when_another_one_becomes_active(page: Page, model_server) -> None:
    from playwright.sync_api import expect

    model_server.add(call("run_python", {"code": "import time\ntime.sleep(2)\nprint('slow step done')"}),
                     say("Finished in the agent notebook."))  # fmt: skip
    before = page.evaluate(CELL_COUNT_JS, AGENT_NB)
    chat = open_chat(page)
    send(chat, "Work slowly.")
    chat.locator(".jp-tinycode-code", has_text="slow step done").wait_for(timeout=30_000)

    show_notebook(page, OTHER_NB)
    other_chat = page.locator(CHAT)
    assert other_chat.locator(".jp-tinycode-heading").inner_text() == f"Agent · {OTHER_NB}"
    assert other_chat.locator(".jp-tinycode-transcript").inner_text() == ""
    page.wait_for_function(f"(path) => ({CELL_COUNT_JS})(path) === {before + 2}", arg=AGENT_NB, timeout=30_000)
    assert [c["source"] for c in cells(page)] == ["other = 1"]
    assert page.locator(CHAT).locator(".jp-tinycode-transcript").inner_text() == ""

    show_notebook(page, AGENT_NB)
    agent_chat = page.locator(CHAT)
    assert agent_chat.locator(".jp-tinycode-heading").inner_text() == f"Agent · {AGENT_NB}"
    answer = agent_chat.locator(".jp-tinycode-answer").last
    assert answer.inner_text() == "Finished in the agent notebook."
    expect(answer).to_be_in_viewport()  # the transcript followed the run while it was hidden
    wait_for_output(page, "slow step done")


def test_without_the_extension_loaded_the_sidebar_says_how_to_load_it(page: Page) -> None:
    show_notebook(page, UNLOADED_NB)
    page.wait_for_function(KERNEL_IDLE_JS)
    chat = open_chat(page)
    send(chat, "Hello?")

    error = chat.locator(".jp-tinycode-error")
    error.wait_for(timeout=15_000)
    assert error.inner_text().startswith(
        "Run `%load_ext tinycode_jupyter` in this notebook (or use the Python 3 (agent) kernel)"
    )
    wait_until_idle(chat, timeout_ms=5_000)
    assert [c["source"] for c in cells(page)] == ["plain = 1"]


def test_the_sidebar_works_in_notebook_7(browser: Any, lab_server: LabServer, model_server: ScriptedServer) -> None:
    lab_server.write_notebook(NOTEBOOK7_NB, [
        {"id": "setup", "cell_type": "code", "source": setup_source(model_server)},
        {"id": "tail", "cell_type": "code", "source": "print('the user cell stays last')"},
    ])  # fmt: skip
    model_server.add(call("run_python", {"code": "print(sum(numbers))"}), say("It is **6**."))
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        open_notebook(page, lab_server.page_url(NOTEBOOK7_NB, ui="notebook"))
        run_cell(page, 0)
        chat = open_chat(page)
        send(chat, "Sum the numbers.")
        answer = chat.locator(".jp-tinycode-answer").filter(has_text="It is 6.")  # the answer renders as it arrives
        assert answer.inner_text(timeout=30_000) == "It is 6."
        assert chat.locator(".jp-tinycode-output").inner_text() == "6"
        shown = wait_for_cells(page, 4)
        assert (shown[1]["source"], shown[2]["rendered"], shown[3]["source"]) == (
            "print(sum(numbers))", "It is 6.", "print('the user cell stays last')")  # fmt: skip
    finally:
        page.screenshot(path=str(ARTIFACTS / "test_the_sidebar_works_in_notebook_7.png"))
        context.close()
