"""The live notebook as the agent's workspace, in a real JupyterLab and Notebook 7.

A scripted model drives the real notebook tools from a ``%%agent`` cell in a real kernel; the
extension owns the notebook (comm target ``tinycode_jupyter.notebook``). A change to a user's
cell shows as a diff with Accept / Reject at that cell and happens only on Accept; a deleted
cell leaves a bar that restores it; the changes land in the notebook whose kernel runs the
agent, whichever tab is active. Long steps wait for a file the test creates once it has seen
what it waits for, so nothing depends on timing.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import nbformat
import pytest
from nbformat.v4.rwbase import rejoin_lines
from labserver import LabServer
from notebook_page import (
    agent_source,
    cell,
    cells,
    open_notebook,
    run_cell,
    run_cell_and_wait,
    save,
    show_notebook,
    start_cell,
    wait_for_cell,
    wait_for_idle,
)

from tinycode_jupyter.notebook.records import source_sha
from tinycode_jupyter.testing import ScriptedServer, call, say

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.timeout(180)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
REVIEW = ".jp-tinycode-review-box"
DELETED = ".jp-tinycode-deleted-row"
SETUP = "%load_ext tinycode_jupyter\nvalues = [3, 1, 2, 8]"
THRESHOLD = "threshold = 10\nselected = [v for v in values if v > threshold]\nprint('selected', selected)"
LOWERED = THRESHOLD.replace("threshold = 10", "threshold = 1")
NOTES = "## Notes\nThe threshold is arbitrary."
AFTER = "print('sum', sum(values))"
IDS = {"setup": "3f9c2a71", "threshold": "b81d07e4", "notes": "0c5e9a2d", "agent": "e6a4d1f0", "after": "71b2c8e3"}
# Waits (up to two minutes) for a file, then says so.
WAIT_STEP = "import glob, time\nfor _ in range(1200):\n    if glob.glob({flag!r}):\n        break\n    time.sleep(0.1)\nprint('go')"
LOWER = call("edit_cell", {"cell_id": IDS["threshold"], "new_source": "threshold = 1", "old_source": "threshold = 10"})
MODEL_CELL_IDS_JS = "() => window.jupyterapp.shell.currentWidget.content.model.sharedModel.cells.map(c => c.id)"


@pytest.fixture(autouse=True)
def quiet_extension(extension_console: list[str]) -> Any:
    """The extension logs nothing: it answers every request, malformed ones with bad_request."""
    yield
    assert extension_console == []


def analysis(server: ScriptedServer, task: str) -> list[dict[str, Any]]:
    return [
        {"id": IDS["setup"], "cell_type": "code", "source": SETUP},
        {"id": IDS["threshold"], "cell_type": "code", "source": THRESHOLD},
        {"id": IDS["notes"], "cell_type": "markdown", "source": NOTES},
        {"id": IDS["agent"], "cell_type": "code", "source": agent_source(server, task)},
        {"id": IDS["after"], "cell_type": "code", "source": AFTER},
    ]  # fmt: skip


def saved_cells(lab_server: LabServer, name: str) -> dict[str, str]:
    """Each saved cell as its JSON text (sorted keys), by id."""
    return {c["id"]: json.dumps(c, sort_keys=True) for c in lab_server.read_notebook(name)["cells"]}


def source_of(saved: dict[str, Any]) -> str:
    return "".join(saved["source"])


def as_stored(cell_json: dict[str, Any]) -> str:
    """A cell as JSON text with its multiline strings joined (the file splits them into lines, metadata does not)."""
    return json.dumps(rejoin_lines(nbformat.from_dict({"cells": [cell_json]})).cells[0], sort_keys=True)


def inserted_id(request: dict[str, Any], back: int = 1) -> str:
    """The id in the "Inserted … cell <id>" tool result ``back`` results ago (1: the latest) the model got."""
    results = [m["content"] for m in request["messages"] if m["role"] == "tool"]
    found = re.search(r"Inserted \w+ cell (\w+)", results[-back])
    assert found, results
    return found.group(1)


def on_inserted(name: str, arguments: Callable[[str], dict[str, Any]]) -> Callable[[dict[str, Any]], Any]:
    """A model step calling ``name`` with ``arguments(id of the cell just inserted)``."""
    return lambda request: call(name, arguments(inserted_id(request)))


def tool_results(server: ScriptedServer) -> list[str]:
    last = [r for r in server.requests if r["path"].endswith("/chat/completions")][-1]
    return [m["content"] for m in last["body"]["messages"] if m["role"] == "tool"]


def review_at(page: Page, index: int) -> Locator:
    """The review shown at the cell at ``index``, once it shows."""
    review = cell(page, index).locator(REVIEW)
    review.wait_for(timeout=60_000)
    return review


def diff_lines(review: Locator) -> list[str]:
    return review.locator(".jp-tinycode-review-diff > div").all_text_contents()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def start_analysis(page: Page, lab_server: LabServer, server: ScriptedServer, name: str, *script: Any,
                   run_first: int = 1) -> str:  # fmt: skip
    """Open the analysis notebook, run its first ``run_first`` cells, save it, start the agent cell; its prompt before."""
    lab_server.write_notebook(name, analysis(server, "Lower the threshold to 1."))
    open_notebook(page, lab_server.page_url(name))
    for index in range(run_first):
        run_cell(page, index)
    save(page)
    server.add(*script)
    return start_cell(page, 3)


def test_an_edit_of_a_users_cell_shows_a_diff_and_applies_only_on_accept(page: Page, lab_server: LabServer,
                                                                          model_server: ScriptedServer) -> None:  # fmt: skip
    name = "live_accept.ipynb"
    before_run = start_analysis(page, lab_server, model_server, name, LOWER, say("Lowered the threshold to 1."))
    before = saved_cells(lab_server, name)

    review = review_at(page, 1)
    title = review.locator(".jp-tinycode-review-title").text_content() or ""
    assert title.startswith("The agent wants to change this cell (run ")
    assert "- threshold = 10" in diff_lines(review) and "+ threshold = 1" in diff_lines(review)
    assert review.locator("button", has_text="Accept").is_visible() and review.locator("button", has_text="Reject").is_visible()
    assert cells(page)[1]["source"] == THRESHOLD  # nothing changes before Accept
    review.scroll_into_view_if_needed()
    shot(page, "workspace_live_review.png")

    review.locator("button", has_text="Accept").click()
    wait_for_cell(page, 3, before_run)
    assert cells(page)[1]["source"] == LOWERED
    assert page.locator(REVIEW).count() == 0

    save(page)
    after = saved_cells(lab_server, name)
    for key in ("setup", "notes", "after"):
        assert after[IDS[key]] == before[IDS[key]], key  # byte for byte
    edited = json.loads(after[IDS["threshold"]])
    (edit,) = edited["metadata"]["tinycode"]["edits"]
    assert source_of(edited) == LOWERED and edit["previous_source"] == THRESHOLD
    assert edit["new_sha"] == source_sha(LOWERED) and edit["run_id"]
    untouched = json.loads(before[IDS["threshold"]])
    assert {k: v for k, v in edited.items() if k not in ("source", "metadata")} == \
           {k: v for k, v in untouched.items() if k not in ("source", "metadata")}  # fmt: skip


def test_a_rejected_edit_leaves_the_cell_and_the_model_reads_the_reason(page: Page, lab_server: LabServer,
                                                                       model_server: ScriptedServer) -> None:  # fmt: skip
    name = "live_reject.ipynb"
    reason = "keep 10, it is the agreed cut-off"
    before_run = start_analysis(page, lab_server, model_server, name, LOWER, say("I left the threshold at 10."))
    before = saved_cells(lab_server, name)

    review = review_at(page, 1)
    review.locator(".jp-tinycode-review-reason").fill(reason)
    review.locator("button", has_text="Reject").click()
    wait_for_cell(page, 3, before_run)

    assert cells(page)[1]["source"] == THRESHOLD
    assert page.locator(REVIEW).count() == 0
    (result,) = tool_results(model_server)
    assert "rejected" in result and reason in result and "not changed" in result, result
    save(page)
    assert saved_cells(lab_server, name)[IDS["threshold"]] == before[IDS["threshold"]]


def test_a_deleted_cell_leaves_a_bar_that_restores_it_exactly(page: Page, lab_server: LabServer,
                                                              model_server: ScriptedServer) -> None:  # fmt: skip
    name = "live_delete.ipynb"
    before_run = start_analysis(page, lab_server, model_server, name, call("delete_cell", {"cell_id": IDS["threshold"]}),
                                say("Deleted the threshold cell."), run_first=2)  # fmt: skip
    before = saved_cells(lab_server, name)

    review = review_at(page, 1)
    assert (review.locator(".jp-tinycode-review-title").text_content() or "").startswith("The agent wants to delete this cell")
    assert diff_lines(review) == [f"- {line}" for line in THRESHOLD.split("\n")]
    review.locator("button", has_text="Accept").click()
    wait_for_cell(page, 2, before_run)  # the agent cell, one up

    assert [c["source"] for c in cells(page)[:2]] == [SETUP, NOTES]
    bar = cell(page, 0).locator(DELETED)
    assert re.fullmatch(r"Cell deleted by the agent \(run [0-9a-f]{8}\)threshold = 10Restore", bar.text_content() or "")
    bar.scroll_into_view_if_needed()
    shot(page, "workspace_live_deleted.png")
    save(page)
    saved = lab_server.read_notebook(name)
    assert IDS["threshold"] not in [c["id"] for c in saved["cells"]]  # no placeholder cell in the file
    (entry,) = saved["metadata"]["tinycode"]["deleted"]
    assert entry["after_cell_id"] == IDS["setup"] and as_stored(entry["cell"]) == as_stored(json.loads(before[IDS["threshold"]]))

    bar.locator("button", has_text="Restore").click()
    cell(page, 1).locator(".jp-OutputArea-output", has_text="selected [").wait_for()
    assert page.locator(DELETED).count() == 0
    assert cells(page)[1]["source"] == THRESHOLD
    assert page.evaluate(MODEL_CELL_IDS_JS)[:3] == [IDS["setup"], IDS["threshold"], IDS["notes"]]
    save(page)
    restored = lab_server.read_notebook(name)
    assert json.dumps(restored["cells"][1], sort_keys=True) == before[IDS["threshold"]]  # id, source, outputs, metadata
    assert "deleted" not in restored["metadata"].get("tinycode", {})


FORGE = """\
owner = next(o.owner_id for o in gc.get_objects() if type(o).__name__ == "ProtocolNotebook")
replies = []
forged = create_comm(target_name="tinycode_jupyter.notebook", data={{"op": "hello", "request_id": "hello", "version": 1}})
forged.on_msg(lambda msg: replies.append(msg["content"]["data"]))
run = {{"run_id": "forged", "anchor_cell_id": None, "model": "x"}}
cell = {{"owner_id": owner, "cell_id": {cell_id!r}, "expected_source": {source!r}, "run": run}}
html = {{"output_type": "display_data", "data": {{"text/html": {html!r}}}, "metadata": {{}}}}
for request in [
    {{"op": "edit_cell", "request_id": "edit", **cell, "source": "secret = 'pwned'"}},
    {{"op": "delete_cell", "request_id": "delete", **cell}},
    {{"op": "edit_cell", "request_id": "bad source", **cell, "source": 5}},
    {{"op": "insert_cell", "request_id": "bad type", **cell, "cell_type": "evil", "source": "x", "after_cell_id": None}},
    {{"op": "set_outputs", "request_id": "bad output", **cell, "outputs": [{{**html, "transient": {{}}}}]}},
    {{"op": "set_outputs", "request_id": "html", **cell, "outputs": [html], "execution_count": 7}},
    {{"op": "steal", "request_id": "bad op", "owner_id": owner}},
    {{"op": "edit_cell", "request_id": "not mine", **cell, "owner_id": "another owner", "source": "secret = 'pwned'"}},
]:
    forged.send(request)
print("forged with owner", owner[:4])
"""
FORGED_HTML = "<b id='forged-html'>forged output</b><script>window.tinycodePwned = 1</script>"
# What the forged comm got, once the two reviews were answered (replies to comm messages come on a subshell).
REPLIES = ("import time\nfor _ in range(200):\n    if sum('waiting' not in r for r in replies) >= 8:\n        break\n"
           "    time.sleep(0.05)\nprint(sorted(f\"{r['reply_to']}: {r.get('waiting') or r.get('error', {}).get('code') or 'ok'}\" "
           "for r in replies))")  # fmt: skip


def test_requests_kernel_code_forges_are_reviewed_or_refused_and_never_change_a_users_cell(
    page: Page, lab_server: LabServer, model_server: ScriptedServer, tmp_path: Path
) -> None:
    name = "live_forged.ipynb"
    secret = "secret = 'keep me'"
    lab_server.write_notebook(name, [
        {"id": "setup", "cell_type": "code", "source": "%load_ext tinycode_jupyter\nimport gc\nfrom comm import create_comm"},
        {"id": "secret", "cell_type": "code", "source": secret},
        {"id": "agent", "cell_type": "code", "source": agent_source(model_server, "Tidy up the notebook.")},
    ])  # fmt: skip
    flag = tmp_path / "answered"
    model_server.add(call("run_python", {"code": FORGE.format(cell_id="secret", source=secret, html=FORGED_HTML)}),
                     call("run_python", {"code": WAIT_STEP.format(flag=str(flag))}), say("Tidied."))  # fmt: skip
    open_notebook(page, lab_server.page_url(name))
    run_cell(page, 0)
    run_cell(page, 1)  # the user ran it: Lab trusts its outputs
    before_run = start_cell(page, 2)

    review = review_at(page, 1)
    title = review.locator(".jp-tinycode-review-title")
    assert (title.text_content() or "").startswith("The agent wants to change this cell (run forged).")
    assert (title.text_content() or "").endswith(" · 1 more waiting")
    shot(page, "workspace_live_queued_review.png")
    review.locator(".jp-tinycode-review-reason").fill("forged")
    review.locator("button", has_text="Reject").click()
    title.filter(has_text="The agent wants to delete this cell").wait_for()
    review.locator("button", has_text="Reject").click()
    page.locator(REVIEW).wait_for(state="detached")
    flag.touch()
    wait_for_cell(page, 2, before_run)

    shown = cells(page)
    assert shown[1]["source"] == secret and shown[1]["outputs"] == ["forged output"]  # outputs may be set, untrusted:
    assert page.evaluate("() => window.tinycodePwned") is None  # its script did not run
    assert page.locator(DELETED).count() == 0
    index = run_cell_and_wait(page, REPLIES)
    assert cells(page)[index]["outputs"] == [str(sorted([
        "hello: ok", "edit: user", "edit: rejected", "delete: user", "delete: rejected", "bad source: bad_request",
        "bad type: bad_request", "bad output: bad_request", "html: ok", "bad op: bad_request"]))]  # fmt: skip
    save(page)
    saved = {c["id"]: c for c in lab_server.read_notebook(name)["cells"]}
    assert source_of(saved["secret"]) == secret and "tinycode" not in saved["secret"]["metadata"]


def test_a_review_disappears_when_its_run_ends_unanswered(page: Page, lab_server: LabServer,
                                                           model_server: ScriptedServer) -> None:  # fmt: skip
    name = "live_interrupted.ipynb"
    before_run = start_analysis(page, lab_server, model_server, name, LOWER, say("Lowered."))
    review_at(page, 1)

    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text="Kernel").click()
    page.locator(".lm-Menu-item[data-command='kernelmenu:interrupt']").click()
    wait_for_cell(page, 3, before_run)
    page.locator(REVIEW).wait_for(state="detached")  # the run is over
    assert cells(page)[1]["source"] == THRESHOLD


def two_notebook_script(flag: Path, mark: str) -> list[Any]:
    """Wait for ``flag``, insert a cell printing ``mark``, edit it (the agent's own cell: no review), answer."""
    return [call("run_python", {"code": WAIT_STEP.format(flag=str(flag))}),
            call("insert_cell", {"source": f"print('{mark} inserted')"}),
            on_inserted("edit_cell", lambda cell_id: {"cell_id": cell_id, "new_source": f"print('{mark} edited')"}),
            say(f"Done in {mark}.")]  # fmt: skip


def sources(page: Page) -> list[str]:
    return [c["source"] for c in cells(page)]


def write_agent_notebook(lab_server: LabServer, server: ScriptedServer, name: str) -> None:
    lab_server.write_notebook(name, [
        {"id": "setup", "cell_type": "code", "source": SETUP},
        {"id": "agent", "cell_type": "code", "source": agent_source(server, "Add a cell.")},
    ])  # fmt: skip


def start_agent(page: Page, name: str) -> None:
    """In the notebook ``name`` (shown now), run the setup cell and start the agent cell; return once its step runs."""
    wait_for_idle(page, name)
    run_cell(page, 0)
    start_cell(page, 1)
    cell(page, 1).locator(".jp-OutputArea-output", has_text="▶ run_python").wait_for(timeout=60_000)


def test_the_agents_changes_land_in_its_own_notebook_when_another_tab_is_active(
    page: Page, lab_server: LabServer, model_server: ScriptedServer, tmp_path: Path
) -> None:
    flag = tmp_path / "go"
    model_server.add(*two_notebook_script(flag, "A"))
    write_agent_notebook(lab_server, model_server, "live_tabs_a.ipynb")
    lab_server.write_notebook("live_tabs_b.ipynb", [{"id": "b1", "cell_type": "code", "source": "b = 1"}])
    open_notebook(page, lab_server.page_url("live_tabs_a.ipynb"))
    start_agent(page, "live_tabs_a.ipynb")

    show_notebook(page, "live_tabs_b.ipynb")  # B is the active tab while A's agent goes on
    flag.touch()
    wait_for_idle(page, "live_tabs_a.ipynb")
    assert sources(page) == ["b = 1"]
    assert page.evaluate("() => window.jupyterapp.shell.currentWidget.context.path") == "live_tabs_b.ipynb"

    show_notebook(page, "live_tabs_a.ipynb")
    shown = sources(page)
    assert shown[0] == SETUP and shown[2] == "print('A edited')" and "print('A inserted')" not in shown, shown


def test_two_notebooks_on_two_kernels_each_agent_changes_only_its_own(
    page: Page, lab_server: LabServer, model_server: ScriptedServer, tmp_path: Path
) -> None:
    flag = tmp_path / "go"
    with ScriptedServer() as other_server:
        model_server.add(*two_notebook_script(flag, "A"))
        other_server.add(*two_notebook_script(flag, "B"))
        write_agent_notebook(lab_server, model_server, "live_two_a.ipynb")
        write_agent_notebook(lab_server, other_server, "live_two_b.ipynb")
        open_notebook(page, lab_server.page_url("live_two_a.ipynb"))
        start_agent(page, "live_two_a.ipynb")
        show_notebook(page, "live_two_b.ipynb")
        start_agent(page, "live_two_b.ipynb")  # both agents now wait for the flag
        flag.touch()
        wait_for_idle(page, "live_two_a.ipynb")
        wait_for_idle(page, "live_two_b.ipynb")

    shown_b = sources(page)
    assert shown_b[2] == "print('B edited')" and not any("'A " in s for s in shown_b), shown_b
    show_notebook(page, "live_two_a.ipynb")
    shown_a = sources(page)
    assert shown_a[2] == "print('A edited')" and not any("'B " in s for s in shown_a), shown_a


def test_in_notebook_7_the_agent_inserts_edits_a_users_cell_on_accept_and_runs_them(
    page: Page, lab_server: LabServer, model_server: ScriptedServer
) -> None:
    name = "live_nb7.ipynb"
    lab_server.write_notebook(name, [
        {"id": "setup", "cell_type": "code", "source": "%load_ext tinycode_jupyter"},
        {"id": "n", "cell_type": "code", "source": "n = 2\nprint('n', n)"},
        {"id": "agent", "cell_type": "code", "source": agent_source(model_server, "Make n 21, double it, run both.")},
    ])  # fmt: skip
    model_server.add(call("insert_cell", {"source": "print('double', n * 2)", "after_cell_id": "n"}),
                     call("edit_cell", {"cell_id": "n", "new_source": "n = 21", "old_source": "n = 2"}),
                     lambda request: call("run_cells", {"cell_ids": ["n", inserted_id(request, back=2)]}),
                     say("n is 21 and doubled it is 42."))  # fmt: skip
    open_notebook(page, lab_server.page_url(name, ui="notebook"))
    assert page.url.split("?")[0].endswith(f"/notebooks/{name}")
    run_cell(page, 0)
    before_run = start_cell(page, 2)

    review = review_at(page, 1)
    assert "- n = 2" in diff_lines(review) and "+ n = 21" in diff_lines(review)
    assert cells(page)[1]["source"] == "n = 2\nprint('n', n)"  # not before Accept
    assert cells(page)[2]["source"] == "print('double', n * 2)"  # the agent's insert needs no review
    shot(page, "workspace_live_nb7_review.png")
    review.locator("button", has_text="Accept").click()
    wait_for_cell(page, 3, before_run)

    shown = cells(page)
    assert shown[1]["source"] == "n = 21\nprint('n', n)" and shown[1]["outputs"] == ["n 21"]
    assert shown[2]["source"] == "print('double', n * 2)" and shown[2]["outputs"] == ["double 42"]

