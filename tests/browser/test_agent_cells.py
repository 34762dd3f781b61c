"""A real ``%%agent`` cell, end to end in a real browser: the kernel runs the agent
against a scripted model server, the cell streams the run, and the agent's cells
appear below it in JupyterLab and in Notebook 7.

The tests share one notebook, one kernel (it pays the model client's import once)
and run in order: the re-run and interrupt tests build on the cells the first test
leaves. Notebook 7 then opens the same notebook path, so it joins the warm kernel:
a notebook's kernel outlives its browser tab.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest
from labserver import LabServer
from notebook_page import (
    CELLS,
    add_cell_below,
    cell,
    cells,
    open_notebook,
    prompt_text,
    run_cell,
    run_cell_and_wait,
    save,
    set_cell_source,
    start_cell,
    wait_for_cell,
    wait_for_cells,
)

from tinycode_jupyter.testing import ScriptedServer, call, say

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = pytest.mark.timeout(120)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
NB = "agent_cells.ipynb"
AGENT = "agent"
DATA_SOURCE = "%load_ext tinycode_jupyter\nsales = [120, 340, 560]"
TAIL_SOURCE = "print('the next user cell')"
SUM_STEP = "import time\ntime.sleep(1.5)  # long enough to watch the run stream\ntotal = sum(sales)\nprint('total', total)"
SUM_ANSWER = "The total is **1020**, now in `total`."
MEAN_STEP = "mean = total / len(sales)\nprint('mean', mean)"
MAX_STEP = "print('max', max(sales))"
MEAN_ANSWER = "The mean is **340.0** and the largest sale is 560."
SLEEP_STEP = "import time\ntime.sleep(600)"
MINE_SOURCE = "print('mine', total)"


@dataclass
class Workspace:
    """One browser context whose single page shows the shared notebook in one UI at a time."""

    context: BrowserContext
    lab_server: LabServer
    model_server: ScriptedServer
    page: Page | None = None
    ui: str = ""
    console: list[str] = field(default_factory=list)

    def show(self, ui: Literal["lab", "notebook"]) -> Page:
        """The page with the notebook open in ``ui`` (opened now unless it already is)."""
        if self.ui != ui:
            self.close_page()
            self.page = self.context.new_page()
            self.page.on("console", lambda m: self.console.append(m.text) if "tinycode-jupyter" in m.text else None)
            open_notebook(self.page, self.lab_server.page_url(NB, ui))
            self.ui = ui
        return self.page

    def close_page(self) -> None:
        """Close the notebook's tab without saving; its kernel keeps running."""
        if self.page is not None:
            self.page.close()
        self.page, self.ui = None, ""

    def write_notebook(self) -> None:
        """The starting notebook: a data cell, the agent cell, the user's next cell."""
        self.lab_server.write_notebook(NB, [
            {"id": "data", "cell_type": "code", "source": DATA_SOURCE},
            {"id": AGENT, "cell_type": "code", "source": agent_source(self.model_server, "Sum {sales} into `total`.")},
            {"id": "tail", "cell_type": "code", "source": TAIL_SOURCE},
        ])  # fmt: skip


@pytest.fixture(scope="module")
def model_server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


@pytest.fixture(scope="module")
def workspace(browser: Browser, lab_server: LabServer, model_server: ScriptedServer) -> Iterator[Workspace]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    shared = Workspace(context, lab_server, model_server)
    shared.write_notebook()
    yield shared
    context.close()
    lab_server.shutdown_kernels()


@pytest.fixture(autouse=True)
def screenshot_and_console(workspace: Workspace, request: pytest.FixtureRequest) -> Iterator[None]:
    """A screenshot per test; the extension logs nothing (it logs only when it rejects a message)."""
    logged = len(workspace.console)
    yield
    if workspace.page is not None:
        ARTIFACTS.mkdir(exist_ok=True)
        workspace.page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    assert workspace.console[logged:] == []


def agent_source(model_server: ScriptedServer, prompt: str) -> str:
    return f"%%agent --model openai/scripted --api-base {model_server.url}\n{prompt}"


def outputs(page: Page, index: int) -> str:
    """Everything the cell at ``index`` shows below its input, as one text."""
    return "\n".join(cells(page)[index]["outputs"])


def wait_for_text(page: Page, index: int, text: str, timeout_ms: float = 30_000) -> None:
    cell(page, index).locator(".jp-OutputArea-output", has_text=text).first.wait_for(timeout=timeout_ms)


def tinycode_tag(saved_cell: dict[str, Any]) -> dict[str, Any]:
    return saved_cell["metadata"].get("tinycode", {})


def run_first_agent_cell(page: Page, model_server: ScriptedServer) -> list[dict[str, Any]]:
    """Run the data cell and the agent cell; check what the agent cell shows while it runs and after;
    return the cells shown."""
    model_server.add(call("run_python", {"code": SUM_STEP}, content="Adding up the sales."), say(SUM_ANSWER))
    first_request = len(model_server.requests)
    run_cell(page, 0)
    before = start_cell(page, 1)

    wait_for_text(page, 1, "▶ run_python")  # the step is shown while it still runs
    assert prompt_text(page, 1) == "[*]:"
    status, text = cells(page)[1]["outputs"][:2]
    assert status.startswith("tinycode · openai/scripted · working… ") and text == "Adding up the sales."
    assert "1020" not in outputs(page, 1)

    wait_for_cell(page, 1, before)
    shown = wait_for_cells(page, 5)
    status, text, step, answer, footer = shown[1]["outputs"]
    assert (status, text) == ("tinycode · openai/scripted · done", "Adding up the sales.")
    assert step.startswith("✓ run_python · ") and step.endswith(" s · total 1020")  # one line; it opens to code and output
    assert answer == "The total is 1020, now in total."  # the answer, rendered as markdown
    assert footer.startswith("openai/scripted · 2 turns · ") and " completion tokens · price unknown · " in footer
    assert "[120, 340, 560]" in model_server.requests[first_request]["body"]["messages"][-1]["content"]

    assert [c["type"] for c in shown] == ["code", "code", "code", "markdown", "code"]
    assert shown[2]["source"] == SUM_STEP and shown[2]["outputs"] == ["total 1020"]
    assert shown[3]["rendered"] == "The total is 1020, now in total."
    assert shown[4]["source"] == TAIL_SOURCE and shown[4]["outputs"] == []  # the user's next cell, untouched
    return shown


def test_an_agent_cell_streams_and_its_cells_appear_below_it_in_jupyterlab(workspace: Workspace) -> None:
    page = workspace.show("lab")
    run_first_agent_cell(page, workspace.model_server)

    save(page)
    saved = workspace.lab_server.read_notebook(NB)["cells"]
    assert [c["id"] for c in saved[:2]] + [saved[4]["id"]] == ["data", AGENT, "tail"]
    tags = [tinycode_tag(c) for c in saved]
    assert tags[0] == tags[1] == tags[4] == {}
    assert tags[2]["anchor_cell_id"] == tags[3]["anchor_cell_id"] == AGENT
    assert tags[2]["run_id"] == tags[3]["run_id"] != ""
    assert tags[2]["model"] == "openai/scripted"
    assert "".join(saved[2]["outputs"][0]["text"]) == "total 1020\n"


def test_a_rerun_replaces_the_agents_cells_and_keeps_the_users_cell(workspace: Workspace) -> None:
    page, server = workspace.show("lab"), workspace.model_server
    add_cell_below(page, 3, MINE_SOURCE)  # between the agent's cells and the next user cell
    run_cell(page, 4)
    save(page)
    before = workspace.lab_server.read_notebook(NB)["cells"]
    old_run, mine_id = tinycode_tag(before[2])["run_id"], before[4]["id"]

    server.add(call("run_python", {"code": MEAN_STEP}), call("run_python", {"code": MAX_STEP}), say(MEAN_ANSWER))
    set_cell_source(page, 1, agent_source(server, "Mean and largest of {sales}?"))
    run_cell(page, 1)

    shown = wait_for_cells(page, 7)
    assert [c["type"] for c in shown] == ["code", "code", "code", "code", "markdown", "code", "code"]
    assert (shown[2]["source"], shown[2]["outputs"]) == (MEAN_STEP, ["mean 340.0"])
    assert (shown[3]["source"], shown[3]["outputs"]) == (MAX_STEP, ["max 560"])
    assert shown[4]["rendered"] == "The mean is 340.0 and the largest sale is 560."
    assert (shown[5]["source"], shown[5]["outputs"]) == (MINE_SOURCE, ["mine 1020"])  # the user's cell, as it was
    assert shown[6]["source"] == TAIL_SOURCE
    assert "The mean is 340.0 and the largest sale is 560." in shown[1]["outputs"]  # the agent cell shows the new run
    assert "The total is 1020, now in total." not in shown[1]["outputs"]
    cell(page, 5).scroll_into_view_if_needed()  # for the screenshot

    save(page)
    after = workspace.lab_server.read_notebook(NB)["cells"]
    assert after[5]["id"] == mine_id and tinycode_tag(after[5]) == {}
    new_runs = {tinycode_tag(c)["run_id"] for c in after[2:5]}
    assert len(new_runs) == 1 and old_run not in new_runs


def test_kernel_interrupt_stops_an_agent_cell_and_the_kernel_stays_usable(workspace: Workspace) -> None:
    page, server = workspace.show("lab"), workspace.model_server
    server.add(call("run_python", {"code": SLEEP_STEP}, content="Waiting for new sales."))
    requests = len(server.requests)
    index = page.locator(CELLS).count()
    add_cell_below(page, index - 1, agent_source(server, "Wait for new sales."))
    before = start_cell(page, index)
    wait_for_text(page, index, "▶ run_python")
    page.wait_for_timeout(300)  # the step now sleeps on the kernel's main thread

    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text="Kernel").click()
    page.locator(".lm-Menu-item[data-command='kernelmenu:interrupt']").click()
    started = time.monotonic()
    wait_for_cell(page, index, before, timeout_ms=10_000)
    assert time.monotonic() - started < 5

    shown = wait_for_cells(page, index + 2)  # the interrupted step's cell: it changed the kernel's state
    assert shown[index + 1]["source"].startswith("# interrupted after ") and SLEEP_STEP in shown[index + 1]["source"]
    assert shown[index]["outputs"][0].startswith("tinycode · openai/scripted · stopped: ")
    error = shown[index]["outputs"][-1]
    assert error.startswith("UsageError: RunCancelled: The run was interrupted") and "\n" not in error
    assert len(server.requests) == requests + 1  # the agent asked the model nothing more
    answer = run_cell_and_wait(page, "1 + 1", timeout_ms=15_000)
    assert cells(page)[answer]["outputs"] == ["2"]


def test_an_agent_cell_works_in_notebook_7(workspace: Workspace) -> None:
    workspace.close_page()
    workspace.write_notebook()  # the same path: Notebook 7 joins the notebook's running kernel
    page = workspace.show("notebook")
    assert page.url.split("?")[0].endswith(f"/notebooks/{NB}")

    run_first_agent_cell(page, workspace.model_server)

    save(page)
    tags = [tinycode_tag(c) for c in workspace.lab_server.read_notebook(NB)["cells"]]
    assert [t.get("anchor_cell_id") for t in tags] == [None, None, AGENT, AGENT, None]
