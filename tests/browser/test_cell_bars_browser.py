"""The bars under cells in a real JupyterLab: Undo, Ask again and Fix, and what the page shows after each.

A scripted model drives real runs in a real kernel. "↩ Undo this run" under an agent cell asks
the kernel for ``%agent undo --run <id>``; "⟳ Ask again" re-runs it with ``--rerun``; "Fix with
agent" under an error output inserts a ``%agent fix --cell <id>`` cell below it and runs it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from labserver import LabServer
from notebook_page import agent_source, cell, cells, open_notebook, run_cell, run_cell_and_wait, wait_for_cells

from tinycode_jupyter.testing import ScriptedServer, call, say

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.timeout(180)
NB = "fix_undo.ipynb"
CHANGE = "values.append(3)\ncreated = 'new'\ndel gone\nprint('changed', values)"


def open_fresh(page: Page, lab_server: LabServer, cells_json: list[dict[str, Any]]) -> None:
    lab_server.write_notebook(NB, cells_json)
    open_notebook(page, lab_server.page_url(NB))


def test_undo_this_run_puts_the_kernel_back_and_the_page_says_what_it_did(page: Any, lab_server: LabServer,
                                                                          model_server: ScriptedServer) -> None:  # fmt: skip
    open_fresh(page, lab_server, [
        {"id": "data", "cell_type": "code", "source": "%load_ext tinycode_jupyter\nvalues = [1, 2]\ngone = 0"},
        {"id": "agent", "cell_type": "code", "source": agent_source(model_server, "Add 3 to values, tidy up.")},
    ])  # fmt: skip
    run_cell(page, 0)
    model_server.add(call("run_python", {"code": CHANGE}), say("Added 3; removed `gone`."))
    run_cell(page, 1)
    shown = wait_for_cells(page, 4)  # the step's cell and the answer below the agent cell
    assert "changed [1, 2, 3]" in "\n".join(shown[2]["outputs"])

    undo = cell(page, 1).locator(".jp-tinycode-undo")
    undo.wait_for()
    assert undo.text_content() == "↩ Undo this run"
    undo.click()
    dialog = page.locator(".jp-Dialog")
    assert "Undo this agent run?" in (dialog.text_content() or "")
    dialog.locator("button", has_text="Undo").click()
    report = cell(page, 1).locator(".jp-tinycode-undo-report")
    report.filter(has_text="Undid 1 run").wait_for(timeout=30_000)
    text = report.text_content() or ""
    assert "values" in text and "created" in text and "gone" in text, text

    index = run_cell_and_wait(page, "print(values, 'created' in dir(), gone)")
    assert cells(page)[index]["outputs"] == ["[1, 2] False 0"]


def test_ask_again_calls_the_model_again_and_replaces_the_runs_cells(page: Any, lab_server: LabServer,
                                                                     model_server: ScriptedServer) -> None:  # fmt: skip
    open_fresh(page, lab_server, [
        {"id": "load", "cell_type": "code", "source": "%load_ext tinycode_jupyter"},
        {"id": "agent", "cell_type": "code", "source": agent_source(model_server, "Make x.")},
    ])  # fmt: skip
    run_cell(page, 0)
    model_server.add(call("run_python", {"code": "x = 1\nprint('x is', x)"}), say("x is 1."))
    run_cell(page, 1)
    first = wait_for_cells(page, 4)
    assert "--answered" in first[1]["source"]
    asked = len(model_server.requests)

    model_server.add(call("run_python", {"code": "x = 2\nprint('x is', x)"}), say("x is 2 now."))
    cell(page, 1).locator(".jp-tinycode-rerun").click()
    page.wait_for_function("() => document.body.innerText.includes('x is 2 now.')", timeout=60_000)
    shown = wait_for_cells(page, 4)  # replaced, not added
    assert len(model_server.requests) == asked + 2
    assert shown[2]["source"] == "x = 2\nprint('x is', x)" and shown[2]["outputs"] == ["x is 2"]
    assert "--rerun" not in shown[1]["source"] and "--answered" in shown[1]["source"]


def test_fix_with_agent_shows_under_an_error_and_asks_the_agent_below_the_failing_cell(page: Any, lab_server: LabServer) -> None:
    open_fresh(page, lab_server, [
        {"id": "load", "cell_type": "code", "source": "%load_ext tinycode_jupyter"},
        {"id": "boom", "cell_type": "code", "source": "1 / 0"},
        {"id": "fine", "cell_type": "code", "source": "print('fine')"},
    ])  # fmt: skip
    run_cell(page, 0)
    run_cell(page, 2)
    assert cell(page, 2).locator(".jp-tinycode-fix").count() == 0  # no error, no button
    run_cell(page, 1)
    fix = cell(page, 1).locator(".jp-tinycode-fix")
    fix.wait_for()
    assert fix.text_content() == "Fix with agent"
    fix.click()
    shown = wait_for_cells(page, 4)
    assert shown[2]["source"] == "%agent fix --cell boom"  # the request is a cell of the notebook, below the error
