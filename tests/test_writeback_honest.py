"""The notebook the agent leaves behind is honest and reproducible.

- only what worked becomes cells, and the saved cells re-run without the agent cell;
- an answered agent cell is not asked again (no model request) until ``--rerun`` or a change;
- code from a sandboxed run re-runs in the sandbox, never on the host.

Real kernels, ``tinycode run`` in a subprocess, papermill and nbclient, and the loopback scripted
model, whose requests are counted.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from tinycode_jupyter.testing import ScriptedServer, call, say

from _require import require_tool
from kernel_harness import Kernel

pytestmark = pytest.mark.kernel

SETUP = "%load_ext tinycode_jupyter\nimport pandas as pd\nsales = pd.DataFrame({'month': [1, 2, 3], 'revenue': [100.0, 250.0, 175.0]})"
FAILING = "best = int(sales.loc[sales['Revenue'].idxmax(), 'month'])\nprint('best month', best)"
FIXED = "best = int(sales.loc[sales['revenue'].idxmax(), 'month'])\nprint('best month', best)"
COUNTED = "open('runs.txt', 'a').write('ran\\n')\ntotal = sales['revenue'].sum()\nprint('total', total)"
UID = "x = 41\nuid = [line.split()[1] for line in open('/proc/self/status') if line.startswith('Uid:')][0]\nprint('uid', uid)"


@pytest.fixture
def server():
    with ScriptedServer() as s:
        yield s


def model_requests(server: ScriptedServer) -> int:
    return sum(1 for r in server.requests if r["path"].endswith("/chat/completions"))


def tinycode(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENAI_API_KEY": "test-key", "TINYCODE_MODEL": ""}
    done = subprocess.run([sys.executable, "-m", "tinycode_jupyter.cli", *args], capture_output=True, text=True,
                          timeout=300, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done


def write_notebook(path: Path, cells: list[Any]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = cells
    nbformat.write(nb, path)
    return path


def agent_cell(server: ScriptedServer, prompt: str, options: str = "", cell_id: str = "agent") -> Any:
    return nbformat.v4.new_code_cell(f"%%agent --model openai/scripted --api-base {server.url}{options}\n{prompt}", id=cell_id)


def analysis(folder: Path, server: ScriptedServer, prompt: str = "Which month has the most revenue? Keep it in `best`.",
             after: str = "print('the user uses', best)", options: str = "") -> Path:  # fmt: skip
    return write_notebook(folder / "analysis.ipynb", [
        nbformat.v4.new_code_cell(SETUP, id="setup"),
        agent_cell(server, prompt, options),
        nbformat.v4.new_code_cell(after, id="after"),
    ])  # fmt: skip


def cells(path: Path) -> list[Any]:
    return nbformat.read(path, as_version=4).cells


def by_id(path: Path, cell_id: str) -> Any:
    return next(c for c in cells(path) if c.id == cell_id)


def written(path: Path, anchor: str = "agent") -> list[Any]:
    return [c for c in cells(path) if c.metadata.get("tinycode", {}).get("anchor_cell_id") == anchor]


def text_of(cell: Any) -> str:
    parts = []
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        parts.append(output.get("text", "") or data.get("text/markdown", "") or data.get("text/plain", "")
                     or "\n".join(output.get("traceback", [])))  # fmt: skip
    return "\n".join(parts)


def marker(path: Path, cell_id: str = "agent") -> str:
    found = re.search(r" --answered (\S+):\S+$", by_id(path, cell_id).source.splitlines()[0])
    assert found, by_id(path, cell_id).source
    return found.group(1)


# --- only what worked becomes cells ----------------------------------------------------------
def test_a_step_that_raised_and_was_then_fixed_is_not_saved_and_the_saved_cells_run_clean_without_the_agent_cell(
        server, tmp_path):  # fmt: skip
    source = analysis(tmp_path, server)
    server.add(call("run_python", {"code": FAILING}, content="Finding the best month."),
               call("run_python", {"code": FIXED}, content="The column is lowercase."),
               say("Month **2** has the most revenue; it is in `best`."))  # fmt: skip

    tinycode("run", str(source), "-o", str(tmp_path / "out.ipynb"))

    out = tmp_path / "out.ipynb"
    assert [(c.cell_type, c.source) for c in written(out)] == [
        ("code", FIXED), ("markdown", "Month **2** has the most revenue; it is in `best`.")]
    assert "KeyError" in text_of(by_id(out, "agent"))  # the failed attempt is still in the agent cell's transcript
    without_agent = nbformat.read(out, as_version=4)
    without_agent.cells = [c for c in without_agent.cells if not c.source.startswith("%%agent")]
    NotebookClient(without_agent, timeout=60, resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises on error
    assert text_of(without_agent.cells[-1]) == "the user uses 2\n"


def test_a_failure_nothing_fixed_is_saved_so_the_notebook_stops_where_the_agent_did(server, tmp_path):
    source = analysis(tmp_path, server, after="print('after')")
    server.add(call("run_python", {"code": "count = len(sales)"}), call("run_python", {"code": FAILING}),
               say("There is no `Revenue` column."))  # fmt: skip

    tinycode("run", str(source), "-o", str(tmp_path / "out.ipynb"))

    code = [c for c in written(tmp_path / "out.ipynb") if c.cell_type == "code"]
    assert [c.source for c in code] == ["count = len(sales)", FAILING]
    assert [o.output_type for o in code[1].outputs] == ["error"]


# --- answered cells are not asked again ----------------------------------------------------
@pytest.fixture
def answered(server, tmp_path):
    """A notebook run once by ``tinycode run``: its agent cell is answered."""
    source = analysis(tmp_path, server, prompt="Put the total revenue in `total`.", after="print('twice', total * 2)")
    server.add(call("run_python", {"code": COUNTED}), say("The total is 525."))
    tinycode("run", str(source), "-o", str(tmp_path / "answered.ipynb"))
    assert model_requests(server) == 2
    return tmp_path / "answered.ipynb"


def test_a_notebook_answered_once_makes_no_model_request_on_a_second_headless_run_and_its_cells_run(
        answered, server, tmp_path):  # fmt: skip
    run_id = marker(answered)
    assert {c.metadata["tinycode"]["run_id"] for c in written(answered)} == {run_id}

    done = tinycode("run", str(answered), "-o", str(tmp_path / "again.ipynb"))

    again = tmp_path / "again.ipynb"
    assert model_requests(server) == 2  # none by the second run
    assert "0 agent cells written, 2 kept from earlier runs" in done.stdout
    assert text_of(by_id(again, "agent")) == f"answered in run {run_id} — `--rerun` to ask again"
    assert [(c.id, c.source) for c in written(again)] == [(c.id, c.source) for c in written(answered)]
    code = written(again)[0]
    assert code.execution_count is not None and text_of(code) == "total 525.0\n"  # ran as an ordinary cell
    assert (tmp_path / "runs.txt").read_text() == "ran\nran\n"  # once by the agent, once as a cell
    assert text_of(by_id(again, "after")) == "twice 1050.0\n"
    assert by_id(again, "agent").source == by_id(answered, "agent").source


def test_rerun_asks_again_and_replaces_the_cells(answered, server, tmp_path):
    old_ids = {c.id for c in written(answered)}
    server.add(call("run_python", {"code": "total = 1.0"}), say("Now the total is 1."))

    tinycode("run", str(answered), "--rerun", "-o", str(tmp_path / "rerun.ipynb"))

    rerun = tmp_path / "rerun.ipynb"
    assert model_requests(server) == 4
    assert [c.source for c in written(rerun)] == ["total = 1.0", "Now the total is 1."]
    assert not old_ids & {c.id for c in written(rerun)}
    assert marker(rerun) == written(rerun)[0].metadata["tinycode"]["run_id"] != marker(answered)
    assert text_of(by_id(rerun, "after")) == "twice 2.0\n"


def test_rerun_in_the_cell_asks_once_and_the_cell_is_answered_again(answered, server, tmp_path):
    nb = nbformat.read(answered, as_version=4)
    agent = next(c for c in nb.cells if c.id == "agent")
    first, _, prompt = agent.source.partition("\n")
    agent.source = first.replace(" --answered", " --rerun --answered") + "\n" + prompt
    nbformat.write(nb, tmp_path / "asked.ipynb")
    server.add(call("run_python", {"code": "total = 2.0"}), say("Now the total is 2."))

    tinycode("run", str(tmp_path / "asked.ipynb"), "--inplace")
    tinycode("run", str(tmp_path / "asked.ipynb"), "--inplace")

    assert model_requests(server) == 4  # the second run of the notebook asked nothing
    saved = by_id(tmp_path / "asked.ipynb", "agent")
    assert "--rerun" not in saved.source and saved.source.endswith("\n" + prompt)
    assert marker(tmp_path / "asked.ipynb") != marker(answered)


def test_a_changed_prompt_is_asked_again(answered, server, tmp_path):
    nb = nbformat.read(answered, as_version=4)
    agent = next(c for c in nb.cells if c.id == "agent")
    agent.source = agent.source.replace("total revenue", "total revenue, in dollars,")
    nbformat.write(nb, tmp_path / "edited.ipynb")
    server.add(call("run_python", {"code": "total = 3.0"}), say("3 dollars."))

    tinycode("run", str(tmp_path / "edited.ipynb"), "-o", str(tmp_path / "out.ipynb"))

    assert model_requests(server) == 4
    assert [c.source for c in written(tmp_path / "out.ipynb")] == ["total = 3.0", "3 dollars."]


def test_an_answered_cell_whose_cells_were_deleted_is_asked_again(answered, server, tmp_path):
    nb = nbformat.read(answered, as_version=4)
    nb.cells = [c for c in nb.cells if "tinycode" not in c.metadata]
    nbformat.write(nb, tmp_path / "deleted.ipynb")
    server.add(call("run_python", {"code": "total = 4.0"}), say("4."))

    tinycode("run", str(tmp_path / "deleted.ipynb"), "-o", str(tmp_path / "out.ipynb"))

    assert model_requests(server) == 4
    assert [c.source for c in written(tmp_path / "out.ipynb")] == ["total = 4.0", "4."]


def test_papermill_runs_an_answered_notebook_without_a_model_request(answered, server, tmp_path):
    import papermill

    papermill.execute_notebook(str(answered), str(tmp_path / "papermill.ipynb"), cwd=str(tmp_path), progress_bar=False,
                               kernel_name="python3")  # fmt: skip

    assert model_requests(server) == 2
    out = tmp_path / "papermill.ipynb"
    assert text_of(by_id(out, "agent")) == f"answered in run {marker(answered)} — `--rerun` to ask again"
    assert text_of(by_id(out, "after")) == "twice 1050.0\n"


def test_an_answered_cell_with_out_says_its_variable_is_not_set(server, tmp_path):
    source = analysis(tmp_path, server, prompt="Say hi.", options=" -o result", after="print('after')")
    server.add(say("Hi."))
    tinycode("run", str(source), "--inplace")

    tinycode("run", str(source), "--inplace")

    assert model_requests(server) == 1
    shown = text_of(by_id(source, "agent"))
    assert shown == f"answered in run {marker(source)} — `--rerun` to ask again (`result` is not set by an answered cell)"


# --- cells from a sandboxed run re-run in the sandbox ---------------------------------------------
@pytest.mark.bwrap
def test_cells_from_a_sandboxed_run_rerun_in_the_sandbox_never_on_the_host(server, tmp_path):
    require_tool("bwrap", "the local provider runs code in a bubblewrap sandbox")
    assert os.getuid() != 65534  # so the sandbox's uid tells where the code ran
    source = write_notebook(tmp_path / "sandboxed.ipynb", [
        nbformat.v4.new_code_cell("%load_ext tinycode_jupyter", id="setup"),
        agent_cell(server, "Set x to 41 and tell me your uid.", " --provider local"),
        nbformat.v4.new_code_cell("print('x in the kernel:', 'x' in globals())", id="after"),
    ])  # fmt: skip
    server.add(call("run_python", {"code": UID}), say("x is 41; my uid is 65534."))
    tinycode("run", str(source), "--inplace")
    [code, _] = written(source)
    assert code.source == "%%sandbox local\n" + UID and code.metadata["tinycode"]["provider"] == "local"

    nb = nbformat.read(source, as_version=4)  # a new question to the agent after the answered cell's cells
    nb.cells.insert(4, agent_cell(server, "Add one to x.", " --provider local", cell_id="second"))
    nbformat.write(nb, source)
    server.add(call("run_python", {"code": "print(x + 1)"}), say("42."))
    tinycode("run", str(source), "--inplace")

    assert model_requests(server) == 4  # the first agent cell was answered; the second one asked
    [code, _] = written(source)
    assert code.execution_count is not None and text_of(code) == "uid 65534\n"  # re-ran in the sandbox
    assert text_of(by_id(source, "after")) == "x in the kernel: False\n"
    [second, _] = written(source, "second")
    assert text_of(second) == "42\n"  # the agent took over the sandbox the cells re-ran in


@pytest.mark.bwrap
def test_a_sandbox_cell_whose_code_fails_fails_the_cell(tmp_path):
    require_tool("bwrap", "the local provider runs code in a bubblewrap sandbox")
    kernel = Kernel(cwd=str(tmp_path))
    try:
        kernel.execute("%load_ext tinycode_jupyter")
        run = kernel.execute("%%sandbox local\nprint('before')\n1 / 0")
        assert run.status == "error"
        assert "before" in run.text() and "ZeroDivisionError: division by zero (in the local sandbox)" in run.text()
    finally:
        kernel.shutdown()


def test_a_sandbox_cell_without_the_extension_fails_loudly_and_runs_nothing_on_the_host(tmp_path):
    kernel = Kernel(cwd=str(tmp_path))
    try:
        run = kernel.execute("%%sandbox local\nopen('ran-on-the-host.txt', 'w').write('oops')")
        assert run.status == "error" and "Cell magic `%%sandbox` not found" in run.text()
        assert not (tmp_path / "ran-on-the-host.txt").exists()
    finally:
        kernel.shutdown()
