"""The notebook as the agent's workspace, end to end: ``tinycode run`` in a subprocess, a real kernel,
the loopback scripted model, and the saved notebook compared cell by cell as JSON.

User cells get random ids, and the scripted model finds the cell it changes in the context the
run was given (no ``{var}`` in the prompt), as a real model would.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tinycode_jupyter.notebook.records import source_sha, stamp_agent_cell
from tinycode_jupyter.testing import call, say

pytestmark = pytest.mark.kernel

THRESHOLD = "threshold = 10\nselected = [v for v in values if v > threshold]\nprint('selected', selected)"
LOWERED = THRESHOLD.replace("threshold = 10", "threshold = 1")
COUNT = "print('count', len(selected))"
TASK = "Lower the threshold to 1, run that cell, and add a cell below it that prints how many values were selected."


def tinycode(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENAI_API_KEY": "test-key", "TINYCODE_MODEL": ""}
    return subprocess.run([sys.executable, "-m", "tinycode_jupyter.cli", *args], capture_output=True, text=True,
                          timeout=300, env=env)  # fmt: skip


def new_notebook(cells: list[Any]) -> Any:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = cells
    return nb


def agent_source(server: Any, task: str) -> str:
    return f"%%agent --model openai/scripted --api-base {server.url}\n{task}"


def as_json(cell: Any) -> str:
    return json.dumps(cell, sort_keys=True)


def prompt_of(cell: Any) -> tuple[str, Any]:
    """An agent cell's source and metadata, without the ``--answered`` marker a finished run adds to its first line."""
    return re.sub(r" --answered \S+", "", cell.source, count=1), cell.metadata


def by_id(path: Path) -> dict[str, Any]:
    return {c.id: c for c in nbformat.read(path, as_version=4).cells}


def tool_messages(server: Any) -> list[str]:
    last = [r for r in server.requests if r["path"].endswith("/chat/completions")][-1]
    return [m["content"] for m in last["body"]["messages"] if m["role"] == "tool"]


class FromContext:
    """The model's first step: find the threshold cell in the notebook context of the prompt, and edit it."""

    def __init__(self) -> None:
        self.cell_id = ""
        self.prompt = ""

    def __call__(self, request: dict[str, Any]) -> Any:
        self.prompt = next(m["content"] for m in request["messages"] if m["role"] == "user")
        found = re.search(r"^\d+ (\S+) \[\d+\] threshold = 10", self.prompt, re.MULTILINE)
        assert found, self.prompt
        self.cell_id = found.group(1)
        return call("edit_cell", {"cell_id": self.cell_id, "new_source": "threshold = 1", "old_source": "threshold = 10"})

    def then(self, name: str, arguments: Any) -> Any:
        """A later step: ``arguments(cell_id)`` with the id found in the first."""
        return lambda request: call(name, arguments(self.cell_id))


@pytest.fixture(scope="module")
def analysis(server, tmp_path_factory):
    """A notebook with user cells (random ids) and an agent cell, and the same notebook run by an agent that changes nothing."""
    folder = tmp_path_factory.mktemp("analysis")
    nb = new_notebook([
        nbformat.v4.new_code_cell("%load_ext tinycode_jupyter\nvalues = [3, 1, 2, 8]"),
        nbformat.v4.new_code_cell(THRESHOLD),
        nbformat.v4.new_markdown_cell("## Notes\nThe threshold is arbitrary."),
        nbformat.v4.new_code_cell(agent_source(server, TASK)),
        nbformat.v4.new_code_cell("print('sum', sum(values))"),
    ])  # fmt: skip
    source = folder / "analysis.ipynb"
    nbformat.write(nb, source)
    server.add(say("Nothing to change."))
    done = tinycode("run", str(source), "-o", str(folder / "control.ipynb"))
    assert done.returncode == 0, done.stderr
    return source, nb, folder / "control.ipynb"


def test_asked_to_change_run_and_add_the_agent_does_exactly_that_from_the_context_alone(analysis, server, tmp_path):
    source, nb, control_path = analysis
    setup, threshold, notes, agent, after = nb.cells
    model = FromContext()
    server.add(model, model.then("run_cells", lambda cell_id: {"cell_ids": [cell_id]}),
               model.then("insert_cell", lambda cell_id: {"source": COUNT, "after_cell_id": cell_id}),
               say("Done: 3 values are above 1."))  # fmt: skip
    out = tmp_path / "changed.ipynb"

    done = tinycode("run", str(source), "-o", str(out), "--allow-edits")

    assert done.returncode == 0, done.stderr
    assert threshold.id.startswith(model.cell_id) and "{" not in TASK  # found in the context, no {var}
    assert "values: list len 4" in model.prompt and "selected: list len 0" in model.prompt
    saved, control = by_id(out), by_id(control_path)
    order = list(saved)
    inserted = saved[order[2]]
    assert order[:2] == [setup.id, threshold.id] and order[3:5] == [notes.id, agent.id] and order[-1] == after.id
    # the change: the same cell, its new source, the outputs of the run, and the record of the edit
    changed = saved[threshold.id]
    assert changed.source == LOWERED
    assert changed.outputs == [{"output_type": "stream", "name": "stdout", "text": "selected [3, 2, 8]\n"}]
    answer = saved[order[5]]
    assert changed.metadata == {"tinycode": {"edits": [{"run_id": answer.metadata["tinycode"]["run_id"], "previous_source": THRESHOLD,
                                                        "new_sha": source_sha(LOWERED)}]}}
    # the cell it added (not executed by the run: run_cells runs cells), written by this run below that cell
    assert inserted.source == COUNT and inserted.outputs == []
    assert inserted.metadata["tinycode"]["run_id"] == answer.metadata["tinycode"]["run_id"]
    assert answer.source == "Done: 3 values are above 1."
    # every other cell byte for byte as in the run where the agent changed nothing
    for cell in (setup, notes, after):
        assert as_json(saved[cell.id]) == as_json(control[cell.id]), cell.id
    assert prompt_of(saved[agent.id]) == (agent.source, agent.metadata)
    assert len(saved) == len(control) + 1


def test_without_allow_edits_a_users_cell_never_changes(analysis, server, tmp_path):
    source, nb, control_path = analysis
    model = FromContext()
    server.add(model, model.then("insert_cell", lambda cell_id: {"source": LOWERED, "after_cell_id": cell_id}),
               say("Suggested in a new cell."))  # fmt: skip
    out = tmp_path / "denied.ipynb"

    done = tinycode("run", str(source), "-o", str(out))

    assert done.returncode == 0, done.stderr
    refused = tool_messages(server)[0]
    assert refused.startswith("Denied by the user's policy") and "--allow-edits" in refused and "was not changed" in refused
    saved, control = by_id(out), by_id(control_path)
    for cell in nb.cells:
        if cell.source.startswith("%%agent"):
            assert prompt_of(saved[cell.id]) == (cell.source, cell.metadata)
        else:
            assert as_json(saved[cell.id]) == as_json(control[cell.id]), cell.id
    suggested = [c for c in saved.values() if c.source == LOWERED]
    assert len(suggested) == 1 and suggested[0].id != nb.cells[1].id


FORGE = """\
owner = next(o.owner_id for o in gc.get_objects() if type(o).__name__ == "ProtocolNotebook")
forged = create_comm(target_name="tinycode_jupyter.notebook", data={{"op": "hello", "request_id": "h", "version": 1}})
run = {{"run_id": "forged", "anchor_cell_id": None, "model": "x"}}
forged.send({{"op": "edit_cell", "request_id": "e", "owner_id": owner, "cell_id": {cell_id!r}, "source": "secret = 'pwned'",
             "expected_source": {source!r}, "run": run}})
forged.send({{"op": "delete_cell", "request_id": "d", "owner_id": owner, "cell_id": {cell_id!r}, "expected_source": {source!r},
             "run": run}})
print("forged with owner", owner[:4])
"""


def test_agent_code_forging_notebook_requests_cannot_change_a_users_cell(server, tmp_path):
    """Code the agent runs in the kernel sends edit and delete requests itself, with the owner's real id.

    ``gc`` and ``create_comm`` are already in the namespace: the import gate cannot see names that exist
    (as it documents), so the document owner is what has to refuse.
    """
    secret = nbformat.v4.new_code_cell("secret = 'keep me'")
    nb = new_notebook([
        nbformat.v4.new_code_cell("%load_ext tinycode_jupyter\nimport gc\nfrom comm import create_comm"),
        secret,
        nbformat.v4.new_code_cell(agent_source(server, "Tidy up the notebook.")),
        nbformat.v4.new_code_cell("print(secret)"),
    ])  # fmt: skip
    path = tmp_path / "forged.ipynb"
    nbformat.write(nb, path)
    forge = call("run_python", {"code": FORGE.format(cell_id=secret.id, source=secret.source)})
    server.add(forge, say("Tidied."))
    probe = tinycode("run", str(path), "-o", str(tmp_path / "allowed.ipynb"), "--allow-edits")
    assert probe.returncode == 0, probe.stderr
    assert by_id(tmp_path / "allowed.ipynb")[secret.id].source == "secret = 'pwned'"  # the forged requests reach the owner
    server.add(forge, say("Tidied."))

    done = tinycode("run", str(path), "--inplace")

    assert done.returncode == 0, done.stderr
    saved = nbformat.read(path, as_version=4)
    shown = "".join(o.get("text", "") + (o.get("data") or {}).get("text/plain", "") for c in saved.cells for o in c.get("outputs", []))
    assert "forged with owner" in shown  # the attack ran (the agent cell shows its output), with the owner's id
    kept = {c.id: c for c in saved.cells}[secret.id]
    assert (kept.source, kept.metadata) == ("secret = 'keep me'", {})
    assert "keep me" in "".join(o.get("text", "") for o in saved.cells[-1].outputs)
    assert "deleted" not in saved.metadata.get("tinycode", {})


def tag(cell: Any) -> dict[str, Any]:
    return cell.metadata.get("tinycode", {})


def stamped(cell: Any) -> Any:
    """``cell`` as an earlier run of the agent cell ``agent`` wrote it."""
    stamp_agent_cell(cell, run_id="r0", anchor_cell_id="agent", model="openai/scripted")
    return cell


def test_a_rerun_never_replaces_a_users_copy_or_a_users_edit_of_an_agent_cell(server, tmp_path):
    old = stamped(nbformat.v4.new_code_cell("print('old agent cell ran')", id="old00001"))
    edited = stamped(nbformat.v4.new_code_cell("print('agent cell')", id="edited01"))
    edited.source = "print('the user edited this agent cell')"
    copied = json.loads(json.dumps(old))
    copied["id"] = "copy0001"
    answer = stamped(nbformat.v4.new_markdown_cell("Old answer.", id="answer01"))
    nb = new_notebook([
        nbformat.v4.new_code_cell("%load_ext tinycode_jupyter", id="setup"),
        nbformat.v4.new_code_cell(agent_source(server, "Set x."), id="agent"),
        old, edited, nbformat.from_dict(copied), answer,
        nbformat.v4.new_code_cell("print('after', x)", id="after"),
    ])  # fmt: skip
    path = tmp_path / "rerun.ipynb"
    nbformat.write(nb, path)
    server.add(call("run_python", {"code": "x = 1"}), say("x is 1."))

    done = tinycode("run", str(path), "-o", str(tmp_path / "out.ipynb"))

    assert done.returncode == 0, done.stderr
    saved = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells
    ids = [c.id for c in saved]
    assert "old00001" not in ids and "answer01" not in ids  # the agent's untouched cells were replaced
    assert ids[:2] == ["setup", "agent"] and ids[-3:] == ["edited01", "copy0001", "after"]
    new = saved[2:ids.index("edited01")]  # the new run's cells, right below the agent cell
    assert new[-1].source == "x is 1." and len({tag(c)["run_id"] for c in new}) == 1 and tag(new[0])["run_id"] != "r0"
    shown = {c.id: "".join(o.get("text", "") for o in c.get("outputs", [])) for c in saved}
    assert shown["edited01"] == "the user edited this agent cell\n"  # the user's now: executed, kept
    assert shown["copy0001"] == "old agent cell ran\n"


def test_with_allow_edits_a_deleted_cell_is_not_run_an_edited_one_runs_its_new_source_an_inserted_one_waits(server, tmp_path):
    nb = new_notebook([
        nbformat.v4.new_code_cell("%load_ext tinycode_jupyter", id="setup"),
        nbformat.v4.new_code_cell(agent_source(server, "Fix the cells below."), id="agent"),
        nbformat.v4.new_code_cell("print('original version')", id="later"),
        nbformat.v4.new_code_cell("raise SystemExit('the deleted cell ran')", id="doomed"),
        nbformat.v4.new_code_cell("print('tail ran')", id="tail"),
    ])  # fmt: skip
    path = tmp_path / "edits.ipynb"
    nbformat.write(nb, path)
    server.add(call("edit_cell", {"cell_id": "later", "new_source": "print('edited version')"}),
               call("delete_cell", {"cell_id": "doomed"}),
               call("insert_cell", {"source": "print('inserted')", "after_cell_id": "tail"}), say("Fixed."))  # fmt: skip

    done = tinycode("run", str(path), "--inplace", "--allow-edits")

    assert done.returncode == 0, done.stderr
    saved = nbformat.read(path, as_version=4)
    cells = {c.id: c for c in saved.cells}
    assert "doomed" not in cells
    [deleted] = saved.metadata["tinycode"]["deleted"]
    assert deleted["cell"]["source"] == "raise SystemExit('the deleted cell ran')" and deleted["after_cell_id"] == "later"
    assert cells["later"].outputs[0]["text"] == "edited version\n"
    assert cells["later"].metadata["tinycode"]["edits"][0]["previous_source"] == "print('original version')"
    assert cells["tail"].outputs[0]["text"] == "tail ran\n"
    inserted = saved.cells[[c.id for c in saved.cells].index("tail") + 1]
    assert inserted.source == "print('inserted')" and inserted.outputs == []


def test_allow_errors_goes_on_past_failing_cells_and_names_each(tmp_path):
    nb = new_notebook([
        nbformat.v4.new_code_cell("1 / 0", id="boom"),
        nbformat.v4.new_code_cell("print('went on')", id="next"),
        nbformat.v4.new_code_cell("undefined_name", id="again"),
    ])  # fmt: skip
    path = tmp_path / "errors.ipynb"
    nbformat.write(nb, path)

    done = tinycode("run", str(path), "--allow-errors")

    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: cell 1 (id boom) failed: ZeroDivisionError: division by zero (run went on: --allow-errors)",
                        "warning: cell 3 (id again) failed: NameError: name 'undefined_name' is not defined (run went on: "
                        "--allow-errors)"]  # fmt: skip
    saved = nbformat.read(tmp_path / "errors.out.ipynb", as_version=4).cells
    assert saved[1].outputs[0]["text"] == "went on\n"
    stopped = tinycode("run", str(path), "-o", str(tmp_path / "stopped.ipynb"))
    assert stopped.returncode == 1 and "cell 1 (id boom) failed" in stopped.stderr
