"""An answered agent cell in a real JupyterLab: once its cells are written, the agent cell's first
line carries the ``--answered`` marker (JupyterLab applies the kernel's ``set_next_input`` replace
payload), and Restart & Run All asks the model nothing: the agent cell says it was answered and
the cells it wrote run as ordinary cells.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from labserver import LabServer
from notebook_page import agent_source, cell, cells, open_notebook, run_cell, save, wait_for_cells, wait_for_output

from tinycode_jupyter.testing import ScriptedServer, call, say

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.timeout(180)

NB = "answered.ipynb"
SUM_STEP = "total = sum(sales)\nprint('total', total)"


def model_requests(server: ScriptedServer) -> int:
    return sum(1 for r in server.requests if r["path"].endswith("/chat/completions"))


def restart_and_run_all(page: Page) -> None:
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text="Run").click()
    page.locator(".lm-Menu-item[data-command='runmenu:restart-and-run-all']").click()
    page.locator(".jp-Dialog .jp-mod-accept").click()


def test_restart_and_run_all_does_not_ask_an_answered_agent_cell_again(
        page: Page, lab_server: LabServer, model_server: ScriptedServer) -> None:  # fmt: skip
    lab_server.write_notebook(NB, [
        {"id": "data", "cell_type": "code", "source": "%load_ext tinycode_jupyter\nsales = [120, 340, 560]"},
        {"id": "agent", "cell_type": "code",
         "source": agent_source(model_server, "Sum {sales} into `total`.")},
        {"id": "tail", "cell_type": "code", "source": "print('twice', total * 2)"},
    ])  # fmt: skip
    model_server.add(call("run_python", {"code": SUM_STEP}), say("The total is 1020."))
    open_notebook(page, lab_server.page_url(NB, "lab"))
    run_cell(page, 0)
    run_cell(page, 1)

    shown = wait_for_cells(page, 5)
    marker = re.search(r" --answered (\w+):\w+$", shown[1]["source"].splitlines()[0])
    assert marker, shown[1]["source"]
    assert shown[1]["source"].splitlines()[1] == "Sum {sales} into `total`."
    assert (shown[2]["source"], shown[2]["outputs"]) == (SUM_STEP, ["total 1020"])
    asked = model_requests(model_server)

    restart_and_run_all(page)
    wait_for_output(page, "twice 2040", timeout_ms=60_000)

    shown = cells(page)
    assert model_requests(model_server) == asked  # Restart & Run All asked the model nothing
    assert shown[1]["outputs"] == [f"answered in run {marker.group(1)} — --rerun to ask again"]
    assert shown[2]["outputs"] == ["total 1020"] and shown[2]["prompt"] == "[3]:"  # ran as an ordinary cell
    cell(page, 4).scroll_into_view_if_needed()  # for the screenshot
    save(page)
    saved = "".join(lab_server.read_notebook(NB)["cells"][1]["source"])
    assert saved.startswith("%%agent") and f"--answered {marker.group(1)}:" in saved.splitlines()[0]
