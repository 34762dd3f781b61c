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
    prompt_text,
    run_cell,
    run_cell_and_wait,
    save,
    wait_for_cell,
    wait_for_cells,
    wait_for_output,
)

from tinycode_jupyter.notebook.records import source_sha
from tinycode_jupyter.testing import ScriptedServer, call, say

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.timeout(120)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
AGENT_NB, OTHER_NB, UNLOADED_NB = "sidebar_agent.ipynb", "sidebar_other.ipynb", "sidebar_unloaded.ipynb"
NOTEBOOK7_NB, RECORD_NB, HISTORY_NB = "sidebar_notebook7.ipynb", "sidebar_record.ipynb", "sidebar_history.ipynb"
LARGE_MODEL = "openai/scripted-large"
RECORDED_PROMPT = "Asked in an earlier session"
FIGURE_STEP = (
    "import matplotlib.pyplot as plt\nimport pandas as pd\n"
    "sales = pd.DataFrame({'region': ['South', 'North'], 'revenue': [7573.75, 4758.98]})\n"
    "display(sales)\n"
    "fig, ax = plt.subplots(figsize=(4, 2.4))\nax.bar(sales.region, sales.revenue, color='#4C72B0')\n"
    "ax.set_title('Revenue by region')\nplt.show()\n"
    "from IPython.display import HTML\n"
    "display(HTML('<img src=x onerror=\"window.tinycodeRan = 1\"><script>window.tinycodeRan = 2</script><i>hostile</i>'))"
)
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
    lab_server.write_notebook(RECORD_NB, [{"id": "setup", "cell_type": "code", "source": setup_source(model_server)}])
    lab_server.write_notebook(HISTORY_NB, [{"id": "asked", "cell_type": "markdown", "source": "**Asked in the sidebar:** …",
                                            "metadata": {"tinycode": {"run_id": "r0", "prompt": RECORDED_PROMPT}}}])  # fmt: skip
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
    return (f"%load_ext tinycode_jupyter\n%agent model=openai/scripted api_base={model_server.url}\n"
            f"%env TINYCODE_MODELS={LARGE_MODEL}\nnumbers = [1, 2, 3]")  # fmt: skip


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
    assert chat.locator(".jp-tinycode-title").inner_text() == f"Agent · {AGENT_NB}"
    send(chat, "Sum {numbers} into total.")

    code = chat.locator(".jp-tinycode-tool .jp-tinycode-code").last
    code.wait_for(timeout=30_000)
    assert code.inner_text() == SUM_STEP  # shown while the step still runs
    assert chat.locator(".jp-tinycode-stop").is_enabled() and chat.locator(".jp-tinycode-answer").count() == 0
    assert "openai/scripted · working" in chat.locator(".jp-tinycode-status").inner_text()

    wait_until_idle(chat)
    assert chat.locator(".jp-tinycode-prompt-text").last.inner_text() == "Sum {numbers} into total."
    tool = chat.locator(".jp-tinycode-tool").last
    assert tool.locator(".jp-tinycode-tool-name").inner_text() == "run_python"
    assert tool.locator(".jp-tinycode-tool-state").inner_text() == "✓"
    assert tool.locator(".jp-tinycode-output").inner_text() == "total 6"
    texts = chat.locator(".jp-tinycode-text").all_inner_texts()
    assert texts[-2:] == ["Adding up the numbers.", "The total is 6, now in total."]
    assert chat.locator(".jp-tinycode-answer").last.inner_text() == "The total is 6, now in total."
    footer = chat.locator(".jp-tinycode-usage").last.inner_text()
    assert footer.startswith("openai/scripted · 2 turns · ") and " completion tokens · price unknown · " in footer

    shown = wait_for_cells(page, anchor + 5)
    assert [c["type"] for c in shown[anchor:]] == ["code", "markdown", "code", "markdown", "code"]
    assert shown[anchor + 1]["rendered"] == "Asked in the sidebar: Sum {numbers} into total."
    assert shown[anchor + 2]["source"] == SUM_STEP and shown[anchor + 2]["outputs"] == ["total 6"]
    assert shown[anchor + 3]["rendered"] == "The total is 6, now in total."
    assert shown[anchor + 4]["source"] == "print('a user cell below')"

    model_server.add(say("A second answer."))  # the same active cell: below the first run's cells, not instead
    send(chat, "And again.")
    shown = wait_for_cells(page, anchor + 7)
    rendered = [c["rendered"] for c in shown[anchor + 1 : anchor + 6]]
    assert rendered == ["Asked in the sidebar: Sum {numbers} into total.", None, "The total is 6, now in total.",
                        "Asked in the sidebar: And again.", "A second answer."]  # fmt: skip
    assert shown[anchor + 6]["source"] == "print('a user cell below')"


def test_the_sidebars_agent_reads_and_inserts_cells_of_the_live_notebook(page: Page, model_server) -> None:
    anchor = run_cell_and_wait(page, "marker = 'live notebook'")
    select_cell(page, anchor)
    model_server.add(call("read_cells", {}), call("insert_cell", {"source": "print(marker)"}), say("Read and added."))
    chat = open_chat(page)
    send(chat, "Read the notebook, then add a cell that prints marker.")
    wait_until_idle(chat)
    results = [m["content"] for m in model_server.requests[-1]["body"]["messages"] if m["role"] == "tool"][-2:]
    assert "marker = 'live notebook'" in results[0] and "history" not in results[0]  # the notebook, not the kernel's history
    assert results[1].startswith("Inserted code cell ")
    page.locator(".jp-Cell .jp-InputArea-editor", has_text="print(marker)").wait_for(timeout=30_000)


def test_undo_in_the_sidebar_puts_the_kernel_and_the_notebook_back(page: Page, model_server) -> None:
    anchor = run_cell_and_wait(page, "basket = ['apple']")
    select_cell(page, anchor)
    count = page.locator(CELLS).count()
    model_server.add(call("run_python", {"code": "basket.append('pear')\nprint(basket)"}), say("Added a pear."))
    chat = open_chat(page)
    send(chat, "Add a pear to basket.")
    wait_until_idle(chat)
    wait_for_cells(page, count + 3)  # what was asked, the step, the answer

    chat.locator(".jp-tinycode-undo").last.click()
    page.locator(".jp-Dialog button", has_text="Undo").click()
    report = chat.locator(".jp-tinycode-undo-report").last
    report.filter(has_text="Undid 1 run").wait_for(timeout=30_000)
    assert "restored basket" in (report.inner_text() or "")
    wait_for_cells(page, count)  # the run's cells are gone from the notebook
    index = run_cell_and_wait(page, "print(basket)")
    assert cells(page)[index]["outputs"] == ["['apple']"]


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
    assert other_chat.locator(".jp-tinycode-title").inner_text() == f"Agent · {OTHER_NB}"
    assert other_chat.locator(".jp-tinycode-transcript").inner_text() == ""
    page.wait_for_function(f"(path) => ({CELL_COUNT_JS})(path) === {before + 3}", arg=AGENT_NB, timeout=30_000)
    assert [c["source"] for c in cells(page)] == ["other = 1"]
    assert page.locator(CHAT).locator(".jp-tinycode-transcript").inner_text() == ""

    show_notebook(page, AGENT_NB)
    agent_chat = page.locator(CHAT)
    assert agent_chat.locator(".jp-tinycode-title").inner_text() == f"Agent · {AGENT_NB}"
    answer = agent_chat.locator(".jp-tinycode-answer").last
    assert answer.inner_text() == "Finished in the agent notebook."
    expect(answer).to_be_in_viewport()  # the transcript followed the run while it was hidden
    wait_for_output(page, "slow step done")


def written_cell(page: Page, link: Locator) -> Locator:
    """Click a link to a written cell; the notebook's active cell, once it is the one linked."""
    cell_id = link.get_attribute("data-cell-id")
    link.click()
    active = page.locator(f"{CELLS}.jp-mod-active")
    page.wait_for_function(ACTIVE_CELL_ID_JS + " === id", arg=cell_id)
    return active


ACTIVE_CELL_ID_JS = "(id) => window.jupyterapp.shell.currentWidget.content.activeCell.model.id"


def test_a_step_is_a_highlighted_code_card_with_its_table_and_figure(page: Page, model_server) -> None:
    model_server.add(call("run_python", {"code": FIGURE_STEP}, content="Charting revenue."),
                     say("South leads with **$7,573.75**; North has $4,758.98."))  # fmt: skip
    chat = open_chat(page)
    send(chat, "Chart revenue by region.")
    wait_until_idle(chat)

    card = chat.locator(".jp-tinycode-tool").last
    code = card.locator(".jp-tinycode-code")
    assert code.inner_text() == FIGURE_STEP
    keyword = code.locator("span", has_text="import").first
    keyword.wait_for()
    colours = keyword.evaluate("(span) => [getComputedStyle(span).color, getComputedStyle(span.closest('pre')).color]")
    assert colours[0] != colours[1]  # coloured as JupyterLab colours a keyword
    table = card.locator(".jp-tinycode-table table")
    assert table.locator("thead th").all_inner_texts()[1:] == ["region", "revenue"]
    assert table.locator("tbody tr").first.inner_text().split() == ["0", "South", "7573.75"]
    assert "{" not in card.locator(".jp-tinycode-table").first.inner_text()  # pandas' <style> block is not shown as text
    hostile = card.locator(".jp-tinycode-table").nth(1)
    assert hostile.inner_text() == "hostile" and hostile.locator("img, script").count() == 0
    assert page.evaluate("() => window.tinycodeRan") is None
    figure = card.locator("img.jp-tinycode-image")
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 200", arg=figure.element_handle())
    answer = chat.locator(".jp-tinycode-answer").last
    assert answer.inner_text() == "South leads with $7,573.75; North has $4,758.98."
    assert answer.locator("mjx-container, .MathJax").count() == 0
    card.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "sidebar_code_card_table_figure.png"))


def test_links_select_the_cells_a_run_wrote(page: Page, model_server) -> None:
    from playwright.sync_api import expect

    model_server.add(call("run_python", {"code": "linked = 'here'\nprint(linked)"}), say("It is in `linked`."))
    chat = open_chat(page)
    send(chat, "Put 'here' in linked.")
    wait_until_idle(chat)
    select_cell(page, 0)  # the notebook's first cell is active, the run's cells are further down

    step = written_cell(page, chat.locator(".jp-tinycode-tool").last.locator(".jp-tinycode-cell-link"))
    assert step.locator(".jp-InputArea-editor").inner_text().startswith("linked = 'here'")
    expect(step).to_be_in_viewport()
    assert page.locator(f"{CELLS}.jp-mod-selected").count() == 1
    asked = written_cell(page, chat.locator(".jp-tinycode-prompt").last.locator(".jp-tinycode-cell-link"))
    assert asked.locator(".jp-RenderedMarkdown").inner_text() == "Asked in the sidebar: Put 'here' in linked."
    answer = written_cell(page, chat.locator(".jp-tinycode-entry").last.locator(".jp-tinycode-cell-link"))
    assert answer.locator(".jp-RenderedMarkdown").inner_text() == "It is in linked."


def test_the_model_picker_sets_the_model_of_the_run(page: Page, model_server) -> None:
    from playwright.sync_api import expect

    chat = open_chat(page)
    picker = chat.locator(".jp-tinycode-model")
    expect(picker.locator("option")).to_have_text(["openai/scripted", LARGE_MODEL])  # the kernel's default first
    picker.select_option(LARGE_MODEL)
    model_server.add(say("The large model answers."))
    send(chat, "Which model are you?")
    wait_until_idle(chat)
    assert model_server.requests[-1]["body"]["model"] == "scripted-large"
    assert chat.locator(".jp-tinycode-usage").last.inner_text().startswith(f"{LARGE_MODEL} · 1 turn · ")

    picker.select_option(label="openai/scripted")
    model_server.add(say("The default model answers."))
    send(chat, "And now?")
    wait_until_idle(chat)
    assert model_server.requests[-1]["body"]["model"] == "scripted"
    assert chat.locator(".jp-tinycode-usage").last.inner_text().startswith("openai/scripted · 1 turn · ")


def test_clear_empties_the_transcript_and_the_arrows_recall_earlier_prompts(page: Page, model_server) -> None:
    from playwright.sync_api import expect

    chat = open_chat(page)
    for prompt, answer in (("First prompt", "One."), ("Second prompt", "Two.")):
        model_server.add(say(answer))
        send(chat, prompt)
        wait_until_idle(chat)
    chat.locator(".jp-tinycode-clear").click()
    expect(chat.locator(".jp-tinycode-transcript > *")).to_have_count(0)

    box = chat.locator(".jp-tinycode-input")
    box.fill("a draft")
    for key, shown in (("ArrowUp", "Second prompt"), ("ArrowUp", "First prompt"), ("ArrowDown", "Second prompt"),
                       ("ArrowDown", "a draft")):  # fmt: skip
        box.press(key)
        expect(box).to_have_value(shown)

    show_notebook(page, HISTORY_NB)  # a notebook whose cells record a prompt asked before it was opened
    page.wait_for_function(KERNEL_IDLE_JS)
    box = page.locator(CHAT).locator(".jp-tinycode-input")
    box.press("ArrowUp")
    expect(box).to_have_value(RECORDED_PROMPT)


def test_the_saved_notebook_records_the_question_and_run_all_does_not_ask_again(page: Page, lab_server: LabServer,
                                                                                model_server) -> None:  # fmt: skip
    show_notebook(page, RECORD_NB)
    page.wait_for_function(KERNEL_IDLE_JS)
    run_cell(page, 0)
    prompt = "Is $5 + $10 **cheap**? <b>bold</b> [a link](http://example.com)\n# not a heading"
    model_server.add(call("run_python", {"code": "price = 5 + 10\nprint('price', price)"}), say("Yes: $15."))
    chat = open_chat(page)
    send(chat, prompt)
    wait_until_idle(chat)

    shown = wait_for_cells(page, 4)
    assert [c["type"] for c in shown] == ["code", "markdown", "code", "markdown"]
    assert shown[1]["rendered"] == f"Asked in the sidebar: {prompt}"  # as typed: no math, bold, HTML, link or heading
    asked = cell(page, 1).locator(".jp-RenderedMarkdown")
    assert asked.locator("strong").all_inner_texts() == ["Asked in the sidebar:"]
    assert asked.locator("b, a, h1, mjx-container, .MathJax").count() == 0
    save(page)
    saved = lab_server.read_notebook(RECORD_NB)["cells"]
    for written in saved[1:]:
        tag = written["metadata"]["tinycode"]
        assert tag["prompt"] == prompt and tag["cell_id"] == written["id"] and tag["model"] == "openai/scripted"
        assert tag["source_sha"] == source_sha("".join(written["source"])) and tag["anchor_cell_id"] == "setup"

    asked_before = len(model_server.requests)
    before = prompt_text(page, 2)
    page.locator(".lm-MenuBar-item", has_text="Run").click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    wait_for_cell(page, 2, before)
    assert cells(page)[2]["outputs"] == ["price 15"]  # the written cell re-runs without the agent
    assert len(model_server.requests) == asked_before and len(cells(page)) == 4


def palette_labels(page: Page, search: str) -> list[str]:
    """The labels the command palette lists for ``search``, as a user sees them."""
    page.locator(f"{PANEL} .jp-Notebook").focus()
    page.keyboard.press("Escape")
    page.keyboard.press("ControlOrMeta+Shift+c")
    page.locator(".jp-ModalCommandPalette .lm-CommandPalette-input").fill(search)
    labels = page.locator(".jp-ModalCommandPalette .lm-CommandPalette-item .lm-CommandPalette-itemLabel")
    labels.first.wait_for()
    shown = labels.all_inner_texts()
    page.keyboard.press("Escape")
    return shown


def test_the_command_palette_lists_open_agent_chat_once(page: Page) -> None:
    assert palette_labels(page, "agent chat").count("Open agent chat") == 1


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
        shown = wait_for_cells(page, 5)
        assert [c["rendered"] or c["source"] for c in shown[1:]] == [
            "Asked in the sidebar: Sum the numbers.", "print(sum(numbers))", "It is 6.", "print('the user cell stays last')"]  # fmt: skip
        assert palette_labels(page, "agent chat").count("Open agent chat") == 1
    finally:
        page.screenshot(path=str(ARTIFACTS / "test_the_sidebar_works_in_notebook_7.png"))
        context.close()
