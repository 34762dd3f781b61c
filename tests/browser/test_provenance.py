"""Provenance in a real JupyterLab and Notebook 7: the badges on the agent's cells, the prompt they
open to, cells that become the user's (an edit, a pasted copy) and survive a re-run, and "Revert
this run" removing, restoring and bringing back cells, as one undo step.

The live tests run real ``%%agent`` cells against the scripted model server. The revert test opens
a notebook in which :class:`~tinycode_jupyter.notebook.document.NotebookDocument` (the reference
document owner) applied a run's insert, edit and delete requests, so its metadata is exactly what
an owner writes.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
import pytest
from conftest import ARTIFACTS
from labserver import KERNELSPEC, LabServer
from notebook_page import (
    BADGE,
    CELLS,
    PANEL,
    agent_source,
    cell,
    cells,
    open_notebook,
    open_provenance,
    run_cell,
    save,
    set_cell_source,
    wait_for_badges,
    wait_for_cells,
)

from tinycode_jupyter.notebook.document import NotebookDocument
from tinycode_jupyter.notebook.protocol import request
from tinycode_jupyter.testing import ScriptedServer, call, say

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.timeout(180)

MODEL = "openai/scripted"
PROMPT = "Sum {sales} into `total`, then double it."
SUM_STEP = "total = sum(sales)\nprint('total', total)"
DOUBLE_STEP = "print('double', total * 2)"
ANSWER = "The total is 6; doubled, 12."


def run_two_steps(page: Page, lab_server: LabServer, model_server: ScriptedServer, name: str) -> str:
    """Open a notebook with a data cell and an agent cell, run both (two code steps and an answer);
    return the run id the saved cells carry."""
    lab_server.write_notebook(name, [
        {"id": "data", "cell_type": "code", "source": "%load_ext tinycode_jupyter\nsales = [1, 2, 3]"},
        {"id": "agent", "cell_type": "code", "source": agent_source(model_server, PROMPT)},
    ])  # fmt: skip
    open_notebook(page, lab_server.page_url(name))
    model_server.add(call("run_python", {"code": SUM_STEP}), call("run_python", {"code": DOUBLE_STEP}), say(ANSWER))
    run_cell(page, 0)
    run_cell(page, 1)
    shown = wait_for_cells(page, 5)
    assert [c["source"] for c in shown[2:4]] == [SUM_STEP, DOUBLE_STEP]
    save(page)
    run_ids = {c["metadata"]["tinycode"]["run_id"] for c in lab_server.read_notebook(name)["cells"][2:]}
    assert len(run_ids) == 1
    return run_ids.pop()


def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def test_the_agents_cells_show_a_badge_that_opens_to_the_prompt_and_a_users_edit_removes_it(
        page: Page, lab_server: LabServer, model_server: ScriptedServer) -> None:  # fmt: skip
    run_id = run_two_steps(page, lab_server, model_server, "badges.ipynb")
    label = f"agent · {MODEL} · {run_id[:8]}"
    wait_for_badges(page, [None, None, label, label, label])

    popover = open_provenance(page, 2)
    assert popover.locator(".jp-tinycode-provenance-title").text_content() == "Written by the agent"
    assert popover.locator(".jp-tinycode-provenance-prompt pre").text_content() == PROMPT
    assert popover.locator(".jp-tinycode-provenance-run").text_content() == run_id
    assert popover.locator(".jp-tinycode-provenance-model").text_content() == MODEL
    assert popover.locator(".jp-tinycode-provenance-revert").text_content() == "Revert this run"
    shot(page, "provenance_badge_popover")
    page.keyboard.press("Escape")
    popover.wait_for(state="detached")

    set_cell_source(page, 3, "print('mine', total * 3)")  # the user's now
    wait_for_badges(page, [None, None, label, None, label])


def test_a_pasted_copy_and_an_edited_agent_cell_are_the_users_and_a_rerun_keeps_both(
        page: Page, lab_server: LabServer, model_server: ScriptedServer) -> None:  # fmt: skip
    name = "ownership.ipynb"
    run_id = run_two_steps(page, lab_server, model_server, name)
    label = f"agent · {MODEL} · {run_id[:8]}"
    cell(page, 2).locator(".jp-InputPrompt").click()  # copy the first step's cell, paste it below the answer
    page.keyboard.press("Escape")
    page.keyboard.press("c")
    cell(page, 4).locator(".jp-InputPrompt").click()
    page.keyboard.press("Escape")
    page.keyboard.press("v")
    wait_for_cells(page, 6)
    mine = "print('mine', total * 3)"
    set_cell_source(page, 3, mine)
    wait_for_badges(page, [None, None, label, None, label, None])  # neither the edit nor the copy is the agent's
    save(page)
    before = lab_server.read_notebook(name)["cells"]
    users = {before[3]["id"]: mine, before[5]["id"]: SUM_STEP}
    assert before[5]["id"] != before[2]["id"]

    mean_step = "print('mean', total / len(sales))"
    model_server.add(call("run_python", {"code": mean_step}), say("The mean is 2.0."))
    set_cell_source(page, 1, agent_source(model_server, "Now the mean of {sales}."))
    run_cell(page, 1)
    page.locator(f"{CELLS}.jp-MarkdownCell", has_text="The mean is 2.0.").wait_for(timeout=60_000)

    shown = cells(page)  # the old run's two agent cells replaced by the new run's two
    assert len(shown) == 6 and shown[2]["source"] == mean_step and shown[3]["rendered"] == "The mean is 2.0."
    assert [c["source"] for c in shown[4:]] == [mine, SUM_STEP]
    assert [c["source"] for c in shown].count(SUM_STEP) == 1
    save(page)
    after = lab_server.read_notebook(name)["cells"]
    assert {c["id"]: "".join(c["source"]) for c in after[4:]} == users  # the user's cells, exactly
    new_run = after[2]["metadata"]["tinycode"]["run_id"]
    new_label = f"agent · {MODEL} · {new_run[:8]}"
    wait_for_badges(page, [None, None, new_label, new_label, None, None])


# --- revert ------------------------------------------------------------------------------------
RUN = "5929bbcf56884b1c9e2a7b3d"
TIDY = "Tidy the cells up."
REVERT_NB = "revert.ipynb"


def notebook_after_a_run(path: Path) -> dict[str, str]:
    """Write a notebook in which run RUN inserted two cells, edited the user's cell ``edited`` and deleted
    ``doomed``, through the reference owner; return the inserted cells' ids."""
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    for cell_id, source in [("ask", f"%%agent --model {MODEL}\n{TIDY}"), ("keep", "x = 1"), ("edited", "y = 2"),
                            ("doomed", "z = 3")]:  # fmt: skip
        nb.cells.append(nbformat.v4.new_code_cell(source, id=cell_id))
    owner = NotebookDocument(nb, policy="allow")
    hello = owner.handle(request("hello", version=1))
    assert hello is not None and hello["ok"], hello
    owner_id = hello["result"]["owner_id"]
    run = {"run_id": RUN, "anchor_cell_id": "ask", "model": MODEL}

    def ask(op: str, **arguments: Any) -> dict[str, Any]:
        reply = owner.handle(request(op, owner_id, run=run, **arguments))
        assert reply is not None and reply["ok"], reply
        return reply["result"]

    first = ask("insert_cell", cell_type="code", source="print(x)", after_cell_id="ask")["cell"]["id"]
    second = ask("insert_cell", cell_type="code", source="print('two')", after_cell_id=first)["cell"]["id"]
    ask("edit_cell", cell_id="edited", source="y = 20", expected_source="y = 2")
    ask("delete_cell", cell_id="doomed", expected_source="z = 3")
    nbformat.write(nb, str(path))
    return {"first": first, "second": second}


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_revert_this_run_removes_restores_and_brings_back_cells_and_keeps_the_users_change(
        page: Page, lab_server: LabServer, ui: str) -> None:  # fmt: skip
    inserted = notebook_after_a_run(lab_server.root_dir / REVERT_NB)
    open_notebook(page, lab_server.page_url(REVERT_NB, ui))
    label, edited = f"agent · {MODEL} · {RUN[:8]}", f"edited by agent · run {RUN[:8]}"
    wait_for_badges(page, [None, label, label, None, edited])
    assert [c["source"] for c in cells(page)] == [f"%%agent --model {MODEL}\n{TIDY}", "print(x)", "print('two')",
                                                  "x = 1", "y = 20"]  # fmt: skip

    popover = open_provenance(page, 4)  # the user's cell the agent edited: what it was before
    assert popover.locator(".jp-tinycode-provenance-title").text_content() == "Edited by the agent"
    assert popover.locator(".jp-tinycode-provenance-previous pre").text_content() == "y = 2"
    assert popover.locator(".jp-tinycode-provenance-prompt pre").text_content() == TIDY
    shot(page, f"provenance_edited_popover_{ui}")
    page.keyboard.press("Escape")

    set_cell_source(page, 2, "print('two, mine')")  # the user changes one of the run's cells: it is kept
    wait_for_badges(page, [None, label, None, None, edited])
    popover = open_provenance(page, 1)
    assert popover.locator(".jp-tinycode-provenance-prompt pre").text_content() == TIDY
    popover.locator(".jp-tinycode-provenance-revert").click()

    notice = page.locator(".Toastify__toast", has_text=f"Reverted run {RUN[:8]}")
    notice.wait_for(timeout=15_000)
    page.wait_for_function("(el) => el.getBoundingClientRect().right <= window.innerWidth",  # in view, slid in
                           arg=notice.element_handle())
    shot(page, f"provenance_reverted_{ui}")
    assert (notice.text_content() or "").endswith(
        f"Reverted run {RUN[:8]}: 1 cell removed, 1 restored, 1 brought back; kept 1 you changed")
    shown = wait_for_cells(page, 5)
    assert [c["source"] for c in shown] == [f"%%agent --model {MODEL}\n{TIDY}", "print('two, mine')", "x = 1",
                                            "y = 2", "z = 3"]  # fmt: skip
    wait_for_badges(page, [None] * 5)

    save(page)
    saved = lab_server.read_notebook(REVERT_NB)
    assert [c["id"] for c in saved["cells"]] == ["ask", inserted["second"], "keep", "edited", "doomed"]
    assert "tinycode" not in saved["metadata"]  # the run's deleted entry is dropped
    assert "tinycode" not in saved["cells"][3]["metadata"]  # and its edit record
    assert page.locator(f"{PANEL} {BADGE}").count() == 0 and page.locator(CELLS).count() == 5

    cell(page, 0).locator(".jp-InputPrompt").click()  # one undo step takes the whole revert back
    page.keyboard.press("Escape")
    page.keyboard.press("z")
    wait_for_badges(page, [None, label, None, None, edited])
    assert [c["source"] for c in cells(page)][1:] == ["print(x)", "print('two, mine')", "x = 1", "y = 20"]
