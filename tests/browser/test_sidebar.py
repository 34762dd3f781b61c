"""The sidebar chat in a real JupyterLab: opened from the command palette, it runs the
agent (a scripted model server) in the active notebook's kernel, streams the run, and
the agent's cells appear in that notebook.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from labserver import LabServer
from notebook_page import PANEL, cells, open_notebook, run_cell, run_cell_and_wait, wait_for_cells, wait_for_output

from tinycode_jupyter.testing import ScriptedServer, call, say

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.timeout(120)

CHAT = "#tinycode-jupyter-chat .jp-tinycode-chat:not(.lm-mod-hidden)"
LONG_STEP = "import time\nfor _ in range(600):\n    time.sleep(0.05)"
SUM_STEP = "import time\ntotal = sum(numbers)\ntime.sleep(1.5)\nprint('total', total)"


@pytest.fixture(scope="module")
def model_server():
    with ScriptedServer() as server:
        yield server


def write_notebook(lab_server: LabServer, name: str, model_server: ScriptedServer, load: bool = True) -> None:
    """A notebook whose first cell loads the extension and sets the scripted model, then a user cell."""
    setup = f"%load_ext tinycode_jupyter\n%agent model=openai/scripted api_base={model_server.url}\n" if load else ""
    lab_server.write_notebook(
        name,
        [
            {"id": "setup", "cell_type": "code", "source": setup + "numbers = [1, 2, 3]"},
            {"id": "user-tail", "cell_type": "code", "source": "print('the user cell stays last')"},
        ],
    )


def open_chat(page: Page) -> Locator:
    """Open the sidebar the way a user does: the command palette, "Open agent chat"."""
    page.locator(PANEL).locator(".jp-Notebook").focus()
    page.keyboard.press("Escape")
    page.keyboard.press("ControlOrMeta+Shift+c")
    page.locator(".jp-mod-commandPalette input, #command-palette input").first.fill("Open agent chat")
    page.keyboard.press("Enter")
    chat = page.locator(CHAT)
    chat.wait_for()
    return chat


def send(chat: Locator, prompt: str) -> None:
    chat.locator(".jp-tinycode-input").fill(prompt)
    chat.locator(".jp-tinycode-send").click()


def wait_until_idle(chat: Locator, timeout_ms: float = 30_000) -> None:
    """Wait until the run has ended: Send is enabled again."""
    chat.locator(".jp-tinycode-send:enabled").wait_for(timeout=timeout_ms)


def test_send_streams_the_run_and_the_agents_cells_appear_below_the_active_cell(
    page: Any, lab_server: LabServer, model_server: ScriptedServer, extension_console: list[str]
) -> None:
    write_notebook(lab_server, "sidebar_send.ipynb", model_server)
    open_notebook(page, lab_server.page_url("sidebar_send.ipynb"))
    run_cell(page, 0)  # loads the extension; the setup cell stays the active cell
    model_server.add(call("run_python", {"code": SUM_STEP}, content="Adding up the numbers."),
                     say("The total is **6**, now in `total`."))  # fmt: skip

    chat = open_chat(page)
    assert chat.locator(".jp-tinycode-heading").inner_text() == "Agent · sidebar_send.ipynb"
    send(chat, "Sum {numbers} into total.")

    tool = chat.locator(".jp-tinycode-tool")
    tool.locator(".jp-tinycode-code").wait_for(timeout=30_000)
    assert tool.locator(".jp-tinycode-code").inner_text() == SUM_STEP  # shown while the step runs
    assert chat.locator(".jp-tinycode-stop").is_enabled() and chat.locator(".jp-tinycode-answer").count() == 0
    assert "openai/scripted · working" in chat.locator(".jp-tinycode-status").inner_text()

    wait_until_idle(chat)
    assert chat.locator(".jp-tinycode-prompt").inner_text() == "Sum {numbers} into total."
    assert chat.locator(".jp-tinycode-text").first.inner_text() == "Adding up the numbers."
    assert tool.locator(".jp-tinycode-tool-name").inner_text() == "▶ run_python"
    assert tool.locator(".jp-tinycode-output").inner_text() == "total 6"
    assert chat.locator(".jp-tinycode-answer").inner_text() == "The total is 6, now in total."
    footer = chat.locator(".jp-tinycode-usage").inner_text()
    assert footer.startswith("openai/scripted · 2 turns · ") and "completion tokens · $0.0000 · " in footer

    shown = wait_for_cells(page, 4)
    assert [c["type"] for c in shown] == ["code", "code", "markdown", "code"]
    assert shown[1]["source"] == SUM_STEP and shown[1]["outputs"] == ["total 6"]
    assert shown[2]["rendered"] == "The total is 6, now in total."
    assert shown[3]["source"] == "print('the user cell stays last')"
    assert extension_console == []


def test_stop_ends_a_long_step_and_the_kernel_stays_usable(
    page: Any, lab_server: LabServer, model_server: ScriptedServer
) -> None:
    write_notebook(lab_server, "sidebar_stop.ipynb", model_server)
    open_notebook(page, lab_server.page_url("sidebar_stop.ipynb"))
    run_cell(page, 0)
    model_server.add(call("run_python", {"code": LONG_STEP}, content="This takes a while."))

    chat = open_chat(page)
    send(chat, "Take your time.")
    chat.locator(".jp-tinycode-code").wait_for(timeout=30_000)
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


def test_a_run_stays_with_its_notebook_when_another_one_becomes_active(
    page: Any, lab_server: LabServer, model_server: ScriptedServer
) -> None:
    write_notebook(lab_server, "sidebar_owner.ipynb", model_server)
    lab_server.write_notebook("sidebar_other.ipynb", [{"id": "o", "cell_type": "code", "source": "other = 1"}])
    open_notebook(page, lab_server.page_url("sidebar_owner.ipynb"))
    run_cell(page, 0)
    model_server.add(call("run_python", {"code": "import time\ntime.sleep(3)\nprint('slow step done')"}),
                     say("Finished in the owner notebook."))  # fmt: skip
    chat = open_chat(page)
    send(chat, "Work slowly.")
    chat.locator(".jp-tinycode-code").wait_for(timeout=30_000)

    page.locator(".jp-DirListing-item", has_text="sidebar_other.ipynb").dblclick()
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget.context.path === 'sidebar_other.ipynb'")
    other_chat = page.locator(CHAT)
    assert other_chat.locator(".jp-tinycode-heading").inner_text() == "Agent · sidebar_other.ipynb"
    assert other_chat.locator(".jp-tinycode-transcript").inner_text() == ""
    page.wait_for_function(
        """() => [...window.jupyterapp.shell.widgets('main')].some(w => w.context
             && w.context.path === 'sidebar_owner.ipynb' && w.content.model.cells.length === 4)""",
        timeout=30_000,
    )
    assert [c["source"] for c in cells(page)] == ["other = 1"]
    assert page.locator(CHAT).locator(".jp-tinycode-transcript").inner_text() == ""

    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="sidebar_owner.ipynb").click()
    owner_chat = page.locator(CHAT)
    assert owner_chat.locator(".jp-tinycode-heading").inner_text() == "Agent · sidebar_owner.ipynb"
    assert owner_chat.locator(".jp-tinycode-answer").inner_text() == "Finished in the owner notebook."
    wait_for_output(page, "slow step done")


def test_without_the_extension_loaded_the_sidebar_says_how_to_load_it(
    page: Any, lab_server: LabServer, model_server: ScriptedServer
) -> None:
    write_notebook(lab_server, "sidebar_unloaded.ipynb", model_server, load=False)
    open_notebook(page, lab_server.page_url("sidebar_unloaded.ipynb"))

    chat = open_chat(page)
    send(chat, "Hello?")

    error = chat.locator(".jp-tinycode-error")
    error.wait_for(timeout=15_000)
    assert "Run `%load_ext tinycode_jupyter` in this notebook (or use the Python 3 (agent) kernel)" in error.inner_text()
    wait_until_idle(chat, timeout_ms=5_000)
