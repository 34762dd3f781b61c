"""The bars under cells in a real JupyterLab: Undo, Ask again and Fix, and what the page shows after each.

A scripted model drives real runs in a real kernel. "↩ Undo this run" under an agent cell asks
the kernel for ``%agent undo --run <id>``; "⟳ Ask again" re-runs it with ``--rerun``; "Fix with
agent" under an error output inserts a ``%agent fix --cell <id>`` cell below it and runs it.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from labserver import LabServer
from notebook_page import (
    agent_source,
    cell,
    cells,
    open_notebook,
    prompt_text,
    run_cell,
    run_cell_and_wait,
    set_cell_source,
    start_cell,
    wait_for_cell,
    wait_for_cells,
)

from tinycode_jupyter.testing import ScriptedServer, call, say

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.timeout(180)
NB = "fix_undo.ipynb"
CHANGE = "values.append(3)\ncreated = 'new'\ndel gone\nprint('changed', values)"
REVIEW = ".jp-tinycode-review-box"
DEFINE = "def total(xs):\n    return sum(xs) * factor"
FIXED = "factor = 2\n\n\ndef total(xs):\n    return sum(xs) * factor"


def accept_review_at(page: Page, index: int) -> None:
    """Accept the agent's change shown as a diff at the cell at ``index``."""
    review = cell(page, index).locator(REVIEW)
    review.wait_for(timeout=60_000)
    review.locator("button", has_text="Accept").click()
    review.wait_for(state="detached")


def error_names(page: Page, index: int) -> list[str]:
    return cell(page, index).locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_text_contents()


def open_fresh(page: Page, lab_server: LabServer, cells_json: list[dict[str, Any]]) -> None:
    lab_server.write_notebook(NB, cells_json)
    open_notebook(page, lab_server.page_url(NB))


def test_undo_this_run_puts_the_kernel_and_the_cells_back_and_the_page_shows_it(page: Any, lab_server: LabServer,
                                                                                model_server: ScriptedServer) -> None:  # fmt: skip
    open_fresh(page, lab_server, [
        {"id": "data", "cell_type": "code", "source": "%load_ext tinycode_jupyter\nvalues = [1, 2]\ngone = 0"},
        {"id": "notes", "cell_type": "markdown", "source": "## Notes"},
        {"id": "agent", "cell_type": "code", "source": agent_source(model_server, "Add 3 to values, tidy up, note it.")},
    ])  # fmt: skip
    run_cell(page, 0)
    model_server.add(call("run_python", {"code": CHANGE}),
                     call("edit_cell", {"cell_id": "notes", "new_source": "## Notes\nvalues now ends with 3."}),
                     say("Added 3; removed `gone`; noted it."))  # fmt: skip
    start_cell(page, 2)
    accept_review_at(page, 1)  # the notes are the user's: the edit waits for Accept
    shown = wait_for_cells(page, 5)  # the step's cell and the answer below the agent cell
    assert "changed [1, 2, 3]" in "\n".join(shown[3]["outputs"])
    assert shown[1]["source"] == "## Notes\nvalues now ends with 3."

    undo = cell(page, 2).locator(".jp-tinycode-undo")
    undo.wait_for()
    assert undo.text_content() == "↩ Undo this run"
    undo.click()
    dialog = page.locator(".jp-Dialog")
    assert "Undo this agent run?" in (dialog.text_content() or "")
    dialog.locator("button", has_text="Undo").click()
    report = cell(page, 2).locator(".jp-tinycode-undo-report")
    report.filter(has_text="Undid 1 run").wait_for(timeout=30_000)
    text = report.text_content() or ""
    assert "values" in text and "created" in text and "gone" in text and "Cells:" in text, text

    shown = wait_for_cells(page, 3)  # the run's cells are gone, the user's notes are as they were
    assert [c["source"] for c in shown[:2]] == ["%load_ext tinycode_jupyter\nvalues = [1, 2]\ngone = 0", "## Notes"]
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
    before = prompt_text(page, 1)
    cell(page, 1).locator(".jp-tinycode-rerun").click()
    wait_for_cell(page, 1, before)  # the run has ended and the kernel is idle
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
    set_cell_source(page, 2, "raise KeyboardInterrupt")
    run_cell(page, 2)
    assert "KeyboardInterrupt" in cells(page)[2]["outputs"][0]
    run_cell(page, 1)
    fix = cell(page, 1).locator(".jp-tinycode-fix")
    fix.wait_for()
    assert fix.text_content() == "Fix with agent"
    assert cell(page, 2).locator(".jp-tinycode-fix").count() == 0  # bars are drawn together: an interrupt is not an error to fix
    fix.click()
    shown = wait_for_cells(page, 4)
    assert shown[2]["source"] == "%agent fix --cell boom"  # the request is a cell of the notebook, below the error


def test_fix_with_agent_on_a_traceback_fixes_the_defining_cell_after_accept_and_the_cell_runs_clean(
        page: Any, lab_server: LabServer, model_server: ScriptedServer) -> None:  # fmt: skip
    open_fresh(page, lab_server, [
        {"id": "setup", "cell_type": "code",
         "source": f"%load_ext tinycode_jupyter\n%agent model=openai/scripted api_base={model_server.url}"},
        {"id": "define", "cell_type": "code", "source": DEFINE},
        {"id": "use", "cell_type": "code", "source": "print('total', total([1, 2, 3]))"},
    ])  # fmt: skip
    for index in range(3):
        run_cell(page, index)
    assert any("NameError" in text for text in error_names(page, 2))
    model_server.add(call("edit_cell", {"cell_id": "define", "new_source": FIXED}),
                     call("run_cells", {"cell_ids": ["define", "use"]}),
                     say("`factor` was never defined: I set it in the cell that defines `total`."))  # fmt: skip

    cell(page, 2).locator(".jp-tinycode-fix").click()
    accept_review_at(page, 1)  # the defining cell is the user's: its diff waits for Accept
    cell(page, 2).locator(".jp-OutputArea-output", has_text="total 12").wait_for(timeout=60_000)
    page.wait_for_function("() => document.body.innerText.includes('I set it in the cell that defines')", timeout=60_000)
    shown = cells(page)
    assert shown[1]["source"] == FIXED and shown[3]["source"] == "%agent fix --cell use"
    assert error_names(page, 2) == [] and cell(page, 2).locator(".jp-tinycode-fix").count() == 0
    fix_request = next(r["body"] for r in model_server.requests if "NameError" in json.dumps(r["body"]))
    sent = json.dumps(fix_request)
    assert "factor" in sent and "def total(xs)" in sent  # the traceback and the defining cell went to the model
