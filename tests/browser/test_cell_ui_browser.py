"""What a person sees of an ``%%agent`` cell in JupyterLab, asserted in a real browser.

A scripted model drives real runs in a real kernel. The tests share one notebook and one
kernel and run in order: a compact transcript (one line per step, that opens), dollar
amounts shown as text, a long step whose output and clock move while the kernel says Busy,
and an interrupted step whose cell is written with what it printed. Long steps wait for a
file that the test creates once it has seen what it waits for, so nothing depends on timing.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from labserver import LabServer
from notebook_page import (
    CELLS,
    add_cell_below,
    cell,
    cells,
    open_notebook,
    run_cell,
    run_cell_and_wait,
    save,
    start_cell,
    wait_for_cell,
    wait_for_cells,
)

from tinycode_jupyter.testing import ScriptedServer, call, say

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.timeout(180)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
NB = "cell_ui.ipynb"
SALES = ("import pandas as pd\nsales = pd.DataFrame({'month': ['Jan', 'Feb', 'Mar'], "
         "'revenue': [1163.70, 2242.88, 1592.64]})\nsales")  # fmt: skip
TYPO = "best = sales.loc[sales.revenu.idxmax()]"
FIXED = "best = sales.loc[sales.revenue.idxmax()]\nprint(best.month, best.revenue)"
ANSWER = "The best month is **Feb** with $2,242.88; the weakest is Jan ($1,163.70)."
# Prints a line every tenth of a second for a while, then waits (up to two minutes) for a file.
LONG_STEP = ("import glob, time\nfor i in range(30):\n    print(f'iteration {{i}}', flush=True)\n    time.sleep(0.1)\n"
             "for _ in range(1200):\n    if glob.glob({flag!r}):\n        break\n    time.sleep(0.1)\nprint('finished')")  # fmt: skip
STATUSES_JS = """() => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  window.__statuses = [];
  kernel.statusChanged.connect((_, status) => window.__statuses.push(status));
}"""
KERNEL_STATUS_JS = "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status"
SPAN_COLOURS_JS = """([el, text]) => {
  const span = [...el.querySelectorAll('details[open] pre span')].find(s => s.textContent === text);
  const pre = span.closest('pre');
  return [getComputedStyle(span).color, getComputedStyle(pre).color, getComputedStyle(pre).backgroundColor];
}"""


@pytest.fixture(scope="module")
def model_server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


@pytest.fixture(scope="module")
def page(browser: Any, lab_server: LabServer, model_server: ScriptedServer) -> Iterator[Page]:
    lab_server.write_notebook(NB, [
        {"id": "load", "cell_type": "code", "source": "%load_ext tinycode_jupyter"},
        {"id": "agent", "cell_type": "code", "source": agent_source(model_server, "Which month of `sales` was best?")},
    ])  # fmt: skip
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    shown = context.new_page()
    open_notebook(shown, lab_server.page_url(NB))
    run_cell(shown, 0)
    yield shown
    context.close()
    lab_server.shutdown_kernels()


@pytest.fixture(autouse=True)
def screenshot(page: Page, request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))


def agent_source(model_server: ScriptedServer, prompt: str) -> str:
    return f"%%agent --model openai/scripted --api-base {model_server.url}\n{prompt}"


def agent_outputs(page: Page, index: int) -> list[str]:
    return cells(page)[index]["outputs"]


def add_agent_cell(page: Page, model_server: ScriptedServer, prompt: str) -> int:
    index = page.locator(CELLS).count()
    add_cell_below(page, index - 1, agent_source(model_server, prompt))
    return index


def wait_for_text(page: Page, index: int, text: str | re.Pattern[str], timeout_ms: float = 60_000) -> None:
    cell(page, index).locator(".jp-OutputArea-output", has_text=text).first.wait_for(timeout=timeout_ms)


def test_the_agent_cell_is_a_short_transcript_with_one_line_per_step_and_a_footer(page: Page, model_server) -> None:
    model_server.add(call("run_python", {"code": SALES}, content="I'll build the sales table as `sales`."),
                     call("run_python", {"code": TYPO}, content="Now the best month."),
                     call("run_python", {"code": FIXED}, content="A typo; fixed."), say(ANSWER))  # fmt: skip
    run_cell(page, 1)
    wait_for_cells(page, 5)  # the two steps that worked and the answer, below the agent cell
    shown = agent_outputs(page, 1)
    assert shown[0] == "tinycode · openai/scripted · done"
    assert shown[1] == "I'll build the sales table as sales."
    assert shown[2].startswith("✓ run_python · ") and "month" in shown[2]  # the line: mark, name, time, a hint
    assert shown[3:4] == ["Now the best month."]
    assert shown[4].startswith("✗ run_python · ") and shown[4].endswith("AttributeError: 'DataFrame' object has no attribute 'revenu'")
    assert shown[5:6] == ["A typo; fixed."]
    assert shown[6].startswith("✓ run_python · ") and shown[6].endswith(" · Feb 2242.88")
    assert shown[7] == "The best month is Feb with $2,242.88; the weakest is Jan ($1,163.70)."
    assert shown[8].startswith("openai/scripted · 4 turns · ") and " completion tokens · price unknown · " in shown[8]
    assert re.search(r" · \d[\d.,]* (ms|s) · kernel$", shown[8]) and len(shown) == 9  # under a second reads in ms
    everything = "\n".join(shown)
    assert "sales = pd.DataFrame" not in everything and "Traceback" not in everything  # written below, not repeated
    assert not any(label in everything for label in ("[stderr]", "[display", "[value]"))

    failed = cell(page, 1).locator("summary", has_text="✗ run_python")
    failed.click()  # a step's line opens to its code and output
    opened = "\n".join(agent_outputs(page, 1))
    assert TYPO in opened and "Cell In[" in opened and "AttributeError" in opened
    name, text, background = page.evaluate(SPAN_COLOURS_JS, [cell(page, 1).element_handle(), "AttributeError"])
    assert name != text and background != "rgba(0, 0, 0, 0)"  # coloured like IPython's, on an error background
    cell(page, 1).scroll_into_view_if_needed()


def test_dollar_amounts_show_as_text_and_nothing_is_typeset_as_math(page: Page) -> None:
    agent = cell(page, 1)
    assert agent.locator("mjx-container, .MathJax").count() == 0
    answer = agent.locator(".jp-OutputArea-output", has_text="best month is").inner_text()
    assert "$2,242.88" in answer and "($1,163.70)" in answer
    footer = agent.locator(".jp-OutputArea-output").last.inner_text()
    assert "price unknown" in footer


def test_a_long_step_streams_its_output_and_its_clock_while_the_kernel_shows_busy(page: Page, model_server,
                                                                                  lab_server: LabServer) -> None:  # fmt: skip
    flag = lab_server.root_dir / "release-long-step"
    model_server.add(call("run_python", {"code": LONG_STEP.format(flag=str(flag))}, content="Running the simulation."),
                     say("The simulation finished."))  # fmt: skip
    index = add_agent_cell(page, model_server, "Run the long simulation.")
    page.evaluate(STATUSES_JS)
    before = start_cell(page, index)

    wait_for_text(page, index, "iteration 20")  # printed output, while the step runs (more than the tail holds)
    wait_for_text(page, index, re.compile(r"running · [2-9]\d* s"))  # and its clock
    live = "\n".join(agent_outputs(page, index))
    assert "▶ run_python · running · " in live and "iteration 0" not in live  # the tail of the output
    assert page.evaluate(KERNEL_STATUS_JS) == "busy"
    assert "Python 3 (ipykernel) | Busy" in page.locator("#jp-main-statusbar").inner_text()  # what the user reads
    cell(page, index).scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "test_a_long_step_streams_its_output_while_it_runs.png"))

    flag.touch()
    wait_for_cell(page, index, before, timeout_ms=60_000)
    statuses = page.evaluate("() => window.__statuses")
    assert statuses[0] == "busy" and statuses[-1] == "idle"
    assert all(after == "busy" for status, after in zip(statuses, statuses[1:]) if status == "idle")  # never left idle
    shown = agent_outputs(page, index)
    assert shown[0] == "tinycode · openai/scripted · done"
    assert shown[2].startswith("✓ run_python · ") and shown[2].endswith(" · finished")


def test_an_interrupted_step_writes_its_cell_marked_interrupted_with_its_partial_output(page: Page, model_server,
                                                                                       lab_server: LabServer) -> None:  # fmt: skip
    model_server.add(call("run_python", {"code": LONG_STEP.format(flag=str(lab_server.root_dir / "never"))},
                          content="This takes a while."))  # fmt: skip
    requests = len(model_server.requests)
    index = add_agent_cell(page, model_server, "Run it and wait.")
    before = start_cell(page, index)
    wait_for_text(page, index, "iteration 3")

    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text="Kernel").click()
    page.locator(".lm-Menu-item[data-command='kernelmenu:interrupt']").click()
    wait_for_cell(page, index, before, timeout_ms=20_000)

    shown = wait_for_cells(page, index + 2)
    outputs = shown[index]["outputs"]
    assert outputs[0] == "tinycode · openai/scripted · stopped: RunCancelled"
    assert outputs[2].startswith("■ run_python · interrupted after ")
    assert outputs[-1].startswith("UsageError: RunCancelled: The run was interrupted")
    written = shown[index + 1]
    assert written["type"] == "code" and written["source"].startswith("# interrupted after ")
    assert written["outputs"][0].startswith("iteration 0\niteration 1\niteration 2\niteration 3")
    assert "KeyboardInterrupt" in written["outputs"][-1]
    assert len(model_server.requests) == requests + 1  # the model was asked nothing after the interrupt
    cell(page, index + 1).scroll_into_view_if_needed()

    save(page)
    saved = lab_server.read_notebook(NB)["cells"][index + 1]
    assert saved["metadata"]["tinycode"]["interrupted"] is True
    after = run_cell_and_wait(page, "print('i =', i)", timeout_ms=20_000)
    wait_for_text(page, after, "i = ")
    assert cells(page)[after]["outputs"][0].removeprefix("i = ").isdigit()  # the kernel kept what the step did
