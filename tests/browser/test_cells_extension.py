"""The labextension in a real browser: a kernel cell sends the cells protocol over a
real comm, and the cells appear (or are replaced) in the notebook the user sees.
"""
from __future__ import annotations

import json
from typing import Any

import pytest
from kernel_side import PRINT_RECEIVED, agent_run, code_cell, markdown_cell, sender_source
from labserver import LabServer
from notebook_page import (
    KERNEL_ID_JS,
    add_cell_below,
    cells,
    open_notebook,
    run_cell,
    save,
    set_cell_source,
    start_cell,
    wait_for_cells,
    wait_for_output,
)

from tinycode_jupyter.jupyter.comm_protocol import HELLO

pytestmark = pytest.mark.timeout(180)

ANCHOR = "agent-cell"


def write_agent_notebook(server: LabServer, name: str, messages: list[dict[str, Any]], delay: float = 0.0) -> None:
    """A notebook: intro markdown, the sending (agent) cell, and a user cell below it."""
    server.write_notebook(
        name,
        [
            {"id": "intro", "cell_type": "markdown", "source": "# Agent notebook"},
            {"id": ANCHOR, "cell_type": "code", "source": sender_source(messages, delay=delay)},
            {"id": "user-tail", "cell_type": "code", "source": "tail = 'user cell below the agent cell'"},
        ],
    )


def first_run() -> list[dict[str, Any]]:
    return agent_run(
        "run-1",
        [
            code_cell("run-1", 1, "print('step one')\n'step one result'", "step one"),
            markdown_cell("run-1", 2, "The answer is **forty-two**."),
        ],
    )


def tinycode_tags(notebook: dict[str, Any]) -> list[dict[str, Any] | None]:
    return [cell["metadata"].get("tinycode") for cell in notebook["cells"]]


def assert_first_run_inserted(shown: list[dict[str, Any]]) -> None:
    assert [c["type"] for c in shown] == ["markdown", "code", "code", "markdown", "code"]
    inserted_code, inserted_markdown = shown[2], shown[3]
    assert inserted_code["source"] == "print('step one')\n'step one result'"
    assert inserted_code["outputs"] == ["step one", "'step one result'"]
    assert inserted_code["prompt"] == "[1]:"
    assert inserted_markdown["rendered"] == "The answer is forty-two."
    assert shown[4]["source"] == "tail = 'user cell below the agent cell'"


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_agent_cells_appear_below_the_agent_cell(
    page: Any, lab_server: LabServer, extension_console: list[str], ui: str
) -> None:
    name = f"insert_{ui}.ipynb"
    write_agent_notebook(lab_server, name, first_run())
    open_notebook(page, lab_server.page_url(name, ui))

    run_cell(page, 1)

    assert_first_run_inserted(wait_for_cells(page, 5))
    save(page)
    saved = lab_server.read_notebook(name)
    assert [c["id"] for c in saved["cells"]][:2] == ["intro", ANCHOR]
    assert [(t or {}).get("step") for t in tinycode_tags(saved)] == [None, None, 1, 2, None]
    assert all(t["anchor_cell_id"] == ANCHOR for t in tinycode_tags(saved)[2:4])
    assert "".join(saved["cells"][2]["outputs"][0]["text"]) == "step one\n"
    assert extension_console == []


OWNER_HAS_CELLS_JS = """([path, count]) => [...window.jupyterapp.shell.widgets('main')]
  .some(w => w.context && w.context.path === path && w.content.model.cells.length === count)"""


def test_cells_go_to_the_notebook_that_runs_the_agent_not_the_active_one(
    page: Any, lab_server: LabServer
) -> None:
    write_agent_notebook(lab_server, "owner.ipynb", first_run(), delay=3.0)
    lab_server.write_notebook("other.ipynb", [{"id": "o", "cell_type": "code", "source": "other = 1"}])
    open_notebook(page, lab_server.page_url("owner.ipynb"))

    start_cell(page, 1)  # the "agent" waits 3 s before it sends its cells
    page.locator(".jp-DirListing-content").get_by_text("other.ipynb", exact=True).dblclick()  # not sidebar_other.ipynb
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.context.path === 'other.ipynb'"
    )
    wait_for_cells(page, 1)
    page.wait_for_function(OWNER_HAS_CELLS_JS, arg=["owner.ipynb", 5], timeout=30_000)
    assert page.evaluate("() => window.jupyterapp.shell.currentWidget.context.path") == "other.ipynb"
    assert [c["source"] for c in cells(page)] == ["other = 1"]

    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="owner.ipynb").click()
    assert_first_run_inserted(wait_for_cells(page, 5))


def test_rerun_replaces_its_cells_and_keeps_the_users_cell(
    page: Any, lab_server: LabServer, extension_console: list[str]
) -> None:
    name = "rerun.ipynb"
    write_agent_notebook(lab_server, name, first_run())
    open_notebook(page, lab_server.page_url(name))
    run_cell(page, 1)
    wait_for_cells(page, 5)
    add_cell_below(page, 2, "users_own = 'between the agent cells'")  # between the two agent cells

    second = agent_run("run-2", [code_cell("run-2", 1, "print('second run')", "second run")])
    set_cell_source(page, 1, sender_source(second))
    run_cell(page, 1)

    wait_for_output(page, "second run")
    shown = wait_for_cells(page, 5)
    assert [c["type"] for c in shown] == ["markdown", "code", "code", "code", "code"]
    assert shown[2]["source"] == "print('second run')"
    assert shown[2]["outputs"] == ["second run", "'second run result'"]
    assert shown[3]["source"] == "users_own = 'between the agent cells'"
    assert shown[4]["source"] == "tail = 'user cell below the agent cell'"
    save(page)
    tags = tinycode_tags(lab_server.read_notebook(name))
    assert [(t or {}).get("run_id") for t in tags] == [None, None, "run-2", None, None]
    assert extension_console == []


@pytest.mark.parametrize("hello_in", ["message", "comm_open"])
def test_hello_is_answered_ready_and_upserts_are_acknowledged(
    page: Any, lab_server: LabServer, hello_in: str
) -> None:
    name = f"hello_{hello_in}.ipynb"
    messages = agent_run("run-h", [code_cell("run-h", 1, "x = 1", "x")], hello=hello_in == "message")
    source = sender_source(messages, open_data=HELLO if hello_in == "comm_open" else None)
    write_agent_notebook(lab_server, name, [])
    open_notebook(page, lab_server.page_url(name))
    set_cell_source(page, 1, source)
    run_cell(page, 1)
    wait_for_cells(page, 4)

    set_cell_source(page, 3, PRINT_RECEIVED)  # the user cell below now prints what the kernel got
    run_cell(page, 3)

    printed = cells(page)[3]["outputs"]
    assert [json.loads(line) for line in printed] == [
        [
            {"action": "ready", "version": 1},
            {"action": "applied", "run_id": "run-h", "count": 1},
        ]
    ]


def test_upsert_of_the_same_step_replaces_in_place_and_undo_restores(page: Any, lab_server: LabServer) -> None:
    name = "upsert.ipynb"
    messages = [
        *agent_run("run-u", [code_cell("run-u", 1, "draft = 1", "draft")]),
        *agent_run("run-u", [code_cell("run-u", 1, "final = 2", "final")])[1:],
    ]
    write_agent_notebook(lab_server, name, messages)
    open_notebook(page, lab_server.page_url(name))
    run_cell(page, 1)
    wait_for_output(page, "final result")

    shown = wait_for_cells(page, 4)
    assert [c["source"] for c in shown[2:]] == ["final = 2", "tail = 'user cell below the agent cell'"]

    page.keyboard.press("Escape")
    page.keyboard.press("z")  # notebook undo, in command mode
    wait_for_output(page, "final result", present=False)
    assert [c["source"] for c in wait_for_cells(page, 3)[2:]] == ["tail = 'user cell below the agent cell'"]


def test_a_message_for_a_cell_that_is_gone_is_rejected_not_guessed(page: Any, lab_server: LabServer) -> None:
    name = "missing.ipynb"
    upsert = agent_run("run-m", [code_cell("run-m", 1, "lost = 1", "lost")])[1]
    source = sender_source([upsert], anchor="no-such-cell")
    write_agent_notebook(lab_server, name, [])
    open_notebook(page, lab_server.page_url(name))
    set_cell_source(page, 1, source)
    run_cell(page, 1)
    set_cell_source(page, 2, PRINT_RECEIVED)
    run_cell(page, 2)

    shown = cells(page)
    assert len(shown) == 3
    (reply,) = json.loads(shown[2]["outputs"][0])
    assert reply["count"] == 0 and "no-such-cell" in reply["error"]


RESTARTED_JS = """() => { const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  let restarting = false;
  window.tinycodeRestarted = new Promise(resolve => kernel.statusChanged.connect((_, status) => {
    restarting = restarting || status === 'restarting';
    if (restarting && status === 'idle') { resolve(kernel.id); }
  }));
}"""


def test_insertion_still_works_after_a_kernel_restart(page: Any, lab_server: LabServer) -> None:
    name = "restart.ipynb"
    write_agent_notebook(lab_server, name, first_run())
    open_notebook(page, lab_server.page_url(name))
    assert run_cell(page, 2) == "[1]:"
    kernel_id = page.evaluate(KERNEL_ID_JS)
    page.evaluate(RESTARTED_JS)

    page.keyboard.press("Escape")
    page.keyboard.press("0")
    page.keyboard.press("0")  # restart the kernel, in command mode
    page.locator(".jp-Dialog .jp-mod-accept").click()
    assert page.evaluate("() => window.tinycodeRestarted") == kernel_id  # same kernel, restarted

    assert run_cell(page, 1) == "[1]:"  # the execution count starts again
    assert_first_run_inserted(wait_for_cells(page, 5))
