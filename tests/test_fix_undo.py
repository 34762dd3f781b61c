"""``%agent fix``, cell references in prompts and ``%agent undo`` of cells, end to end.

Headless: ``tinycode run`` in a subprocess on notebooks written here, a real kernel, the loopback
scripted model; the saved notebook and the model's recorded requests are what is asserted.
In a real kernel (jupyter_client) without a frontend: the document owner is an nbformat
document in the kernel's own process (``DirectTransport``), since no comm reaches one.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import nbformat
import pytest

from IPython.core.interactiveshell import InteractiveShell

from tinycode_jupyter.notebook.base import CellInfo, NotebookReadOnly, NotebookState, RunInfo
from tinycode_jupyter.notebook.cell_errors import error_in_outputs
from tinycode_jupyter.notebook.comm_backend import DirectTransport, connect
from tinycode_jupyter.notebook.document import NotebookDocument
from tinycode_jupyter.notebook.fix_prompt import choose_error, involved_cells
from tinycode_jupyter.notebook.readonly import HistoryNotebook, TurnMemory
from tinycode_jupyter.notebook.records import source_sha
from tinycode_jupyter.testing import ScriptedServer, call, say

from kernel_harness import Kernel

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(300)]

DEFINE = "def select(values):\n    return [v for v in values if v > threshold]"
FIXED = "threshold = 2\n\n" + DEFINE
DATA = "values = [3, 1, 2, 8]"
USE = "selected = select(values)\nprint('selected', selected)"
AFTER = "print('after', len(selected))"
FIX_SCRIPT = [call("edit_cell", {"cell_id": "define", "new_source": FIXED}),
              call("run_cells", {"cell_ids": ["define", "use"]}),
              say("Cell define used `threshold` without defining it; I defined it there and re-ran define and use.")]  # fmt: skip


def tinycode(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENAI_API_KEY": "test-key", "TINYCODE_MODEL": ""}
    return subprocess.run([sys.executable, "-m", "tinycode_jupyter.cli", *args], capture_output=True, text=True,
                          timeout=300, env=env)  # fmt: skip


def notebook_file(path: Path, cells: list[tuple[str, str]]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source, id=cell_id) for cell_id, source in cells]
    nbformat.write(nb, path)
    return path


def setup_cell(server: ScriptedServer) -> str:
    return f"%load_ext tinycode_jupyter\n%agent model=openai/scripted api_base={server.url}"


def chat_requests(server: ScriptedServer) -> list[dict[str, Any]]:
    return [r for r in server.requests if r["path"].endswith("/chat/completions")]


def user_prompt(request: dict[str, Any]) -> str:
    return next(m["content"] for m in request["body"]["messages"] if m["role"] == "user")


def shown(cell: Any) -> str:
    """What a saved cell shows: its streams, results and tracebacks, as text."""
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", "") + (output.get("data") or {}).get("text/plain", ""))
        parts += output.get("traceback", [])
    return "".join(parts)


def assert_fix_request(prompt: str, failing: str = "use", defining: str = "define") -> None:
    """The model got the traceback, the failing cell and the cell defining the function, each with its id."""
    assert "NameError: name 'threshold' is not defined" in prompt
    assert "Traceback" in prompt and "\x1b[" not in prompt  # the traceback, without its colours
    assert f"### cell {failing} (" in prompt and USE in prompt
    assert f"### cell {defining} (" in prompt and DEFINE in prompt
    assert prompt.index(f"### cell {failing} (") < prompt.index(f"### cell {defining} (")
    assert "edit_cell" in prompt and "run_cells" in prompt


# --- headless ------------------------------------------------------------------------------------------
def test_headless_fix_edits_the_defining_cell_reruns_and_later_cells_run_clean(server, tmp_path):
    path = notebook_file(tmp_path / "fix.ipynb", [("setup", setup_cell(server)), ("define", DEFINE), ("data", DATA),
                                                  ("use", USE), ("fix", "%agent fix"), ("after", AFTER)])  # fmt: skip
    before = len(chat_requests(server))
    server.add(*FIX_SCRIPT)

    done = tinycode("run", str(path), "-o", str(tmp_path / "out.ipynb"), "--allow-errors", "--allow-edits")

    assert done.returncode == 0, done.stderr
    [request] = chat_requests(server)[before:before + 1]
    assert_fix_request(user_prompt(request))
    cells = {c.id: c for c in nbformat.read(tmp_path / "out.ipynb", as_version=4).cells}
    assert cells["define"].source == FIXED
    [edit] = cells["define"].metadata["tinycode"]["edits"]
    assert edit["previous_source"] == DEFINE and edit["new_sha"] == source_sha(FIXED)
    assert shown(cells["use"]) == "selected [3, 8]\n"  # re-run by the agent: the error is gone from the cell
    assert shown(cells["after"]) == "after 2\n"
    assert "I defined it there" in "".join(c.source for c in cells.values())


def test_headless_fix_of_a_named_cell_and_nothing_to_fix_is_one_line_without_a_model_call(server, tmp_path):
    path = notebook_file(tmp_path / "cell.ipynb", [("setup", setup_cell(server)), ("define", DEFINE), ("data", DATA),
                                                   ("use", USE), ("fix", "%agent fix --cell use"),
                                                   ("again", "%agent fix"), ("ok", "print('fine')"),
                                                   ("fine", "%agent fix --cell ok")])  # fmt: skip
    before = len(chat_requests(server))
    server.add(*FIX_SCRIPT)

    done = tinycode("run", str(path), "-o", str(tmp_path / "out.ipynb"), "--allow-errors", "--allow-edits")

    assert done.returncode == 0, done.stderr
    assert len(chat_requests(server)) == before + 3  # the one fix; the two later ones asked nothing
    assert_fix_request(user_prompt(chat_requests(server)[before]))
    cells = {c.id: c for c in nbformat.read(tmp_path / "out.ipynb", as_version=4).cells}
    assert shown(cells["again"]).strip().splitlines() == [
        "Nothing to fix: no cell has failed in this kernel since it started, and no cell in the notebook shows an error."]
    assert shown(cells["fine"]).strip() == "Nothing to fix: cell ok shows no error (its last run succeeded, or it has not run)."


def test_headless_undo_reverts_the_cells_a_run_inserted_edited_and_deleted(server, tmp_path):
    agent = f"%%agent\nTidy the notebook."
    path = notebook_file(tmp_path / "undo.ipynb", [("setup", setup_cell(server)), ("keep", "x = 1"),
                                                   ("doomed", "y = 2"), ("agent", agent), ("undo", "%agent undo"),
                                                   ("tail", "print('tail', x, y)")])  # fmt: skip
    original = {c.id: json.dumps(c, sort_keys=True) for c in nbformat.read(path, as_version=4).cells}
    server.add(call("edit_cell", {"cell_id": "keep", "new_source": "x = 10"}),
               call("delete_cell", {"cell_id": "doomed"}),
               call("insert_cell", {"source": "z = 3", "after_cell_id": "keep"}),
               call("run_python", {"code": "x = 10"}), say("Tidied."))  # fmt: skip

    done = tinycode("run", str(path), "-o", str(tmp_path / "out.ipynb"), "--allow-edits")

    assert done.returncode == 0, done.stderr
    saved = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert [c.id for c in saved.cells] == ["setup", "keep", "doomed", "agent", "undo", "tail"]
    for cell in saved.cells:
        if cell.id in ("keep", "doomed"):  # back as they were, without the run's records
            assert (cell.source, cell.metadata) == (json.loads(original[cell.id])["source"], {})
    assert "tinycode" not in saved.metadata or "deleted" not in saved.metadata["tinycode"]
    report = shown(next(c for c in saved.cells if c.id == "undo"))
    run_id = re.search(r"Undid 1 run (\w+)", report)
    assert run_id, report
    assert re.search(rf"Cells: run {run_id[1]}: removed \w+(, \w+)*; restored keep; brought back doomed", report), report
    assert "restored x" in report
    assert shown(next(c for c in saved.cells if c.id == "tail")) == "tail 1 2\n"


# --- a real kernel -----------------------------------------------------------------------------------
OWNER = """\
import nbformat
from tinycode_jupyter.notebook.comm_backend import DirectTransport
from tinycode_jupyter.notebook.document import NotebookDocument
cells = [nbformat.v4.new_code_cell(source, id=cell_id) for cell_id, source in {cells!r}]
document = NotebookDocument(nbformat.v4.new_notebook(cells=cells), "allow", "owned.ipynb")
session = get_ipython().magics_manager.registry['AgentMagics'].session
session.notebooks().transport = lambda schedule: DirectTransport(document)
"""


def own(kernel: Kernel, cells: list[tuple[str, str]]) -> dict[str, str]:
    """A document owner in the kernel's process holding ``cells``; run them with :func:`run_cell`."""
    assert kernel.execute(OWNER.format(cells=cells)).status == "ok"
    return dict(cells)


def run_cell(kernel: Kernel, cells: dict[str, str], cell_id: str) -> Any:
    """Run a cell of the document as a frontend would: its source, with its id in the request."""
    return kernel.execute(cells[cell_id], cell_id=cell_id)


@pytest.fixture
def kernel(tmp_path, server):
    k = Kernel(cwd=str(tmp_path))
    assert k.execute(f"%load_ext tinycode_jupyter\n%agent model=openai/scripted api_base={server.url}").status == "ok"
    yield k
    k.shutdown()


def test_real_kernel_fix_lands_in_the_defining_cell_and_undo_reverts_it(kernel, server):
    cells = own(kernel, [("define", DEFINE), ("data", DATA), ("use", USE), ("fix", "%agent fix"), ("after", AFTER),
                         ("undo", "%agent undo")])  # fmt: skip
    assert run_cell(kernel, cells, "define").status == run_cell(kernel, cells, "data").status == "ok"
    failed = run_cell(kernel, cells, "use")
    assert failed.status == "error" and failed.error["ename"] == "NameError"
    before = len(chat_requests(server))
    server.add(*FIX_SCRIPT)

    fixed = run_cell(kernel, cells, "fix")

    assert fixed.status == "ok", fixed.text()
    assert_fix_request(user_prompt(chat_requests(server)[before]))
    assert kernel.eval("document.nb.cells[0].source") == repr(FIXED)
    assert kernel.eval("selected") == "[3, 8]"
    assert run_cell(kernel, cells, "after").text() == "after 2\n"
    undone = run_cell(kernel, cells, "undo")
    assert undone.status == "ok", undone.text()
    assert re.search(r"Cells: run \w+: restored define$", undone.text(), re.MULTILINE), undone.text()
    assert kernel.eval("document.nb.cells[0].source") == repr(DEFINE)
    assert kernel.eval("'threshold' in dir()") == "False"


def test_real_kernel_without_a_frontend_fix_sends_the_cells_and_undo_says_why_cells_stay(kernel, server):
    kernel.execute(DEFINE, cell_id="define")
    kernel.execute(DATA, cell_id="data")
    assert kernel.execute(USE, cell_id="use").status == "error"
    before = len(chat_requests(server))
    server.add(*FIX_SCRIPT)

    fixed = kernel.execute("%agent fix", cell_id="fix")

    assert fixed.status == "ok", fixed.text()
    prompt = user_prompt(chat_requests(server)[before])
    assert_fix_request(prompt, failing="In[4]", defining="In[2]")  # the kernel's history: cells by execution
    assert "Read-only" in prompt
    undone = kernel.execute("%agent undo", cell_id="undo")
    assert undone.status == "ok", undone.text()
    assert "Cells: not reverted: no notebook frontend with the tinycode extension answered" in undone.text()


def test_real_kernel_nothing_to_fix_is_one_line_and_calls_no_model(kernel, server):
    before = len(chat_requests(server))
    done = kernel.execute("%agent fix please", cell_id="fix")
    assert done.status == "ok", done.text()
    assert done.text().strip().splitlines() == [
        "Nothing to fix: no cell has failed in this kernel since it started, and no cell in the notebook shows an error."]
    assert len(chat_requests(server)) == before


def test_real_kernel_references_expand_and_unknown_ones_fail_in_one_line(kernel, server):
    cells = own(kernel, [("data", "values = [3, 1, 2, 8]\nsum(values)"), ("boom", "1 / 0"),
                         ("notes", "print('a cell of notes')")])  # fmt: skip
    assert run_cell(kernel, cells, "data").status == "ok"  # In[3], Out[3]
    assert run_cell(kernel, cells, "boom").status == "error"  # In[4], Err[4]
    before = len(chat_requests(server))
    server.add(say("Read them."))

    asked = kernel.execute("%%agent\nLook at {In[3]}, {Out[3]}, {Err[4]} and @cell:notes with {values}.", cell_id="ask")

    assert asked.status == "ok", asked.text()
    prompt = user_prompt(chat_requests(server)[before])
    assert "In[3]:\n```python\nvalues = [3, 1, 2, 8]\nsum(values)\n```" in prompt
    assert "Out[3]:\n```text\n14\n```" in prompt
    assert "Err[4] (ZeroDivisionError: division by zero):" in prompt and "----> 1 1 / 0" in prompt
    assert "cell notes (#3, code):\n```python\nprint('a cell of notes')\n```" in prompt
    assert "values: list len=4" in prompt  # {var} still describes the variable
    for reference, named in (("{In[99]}", "no execution 99"), ("{Out[4]}", "execution 4 has no result"),
                             ("{Err[3]}", "execution 3 raised no error"), ("@cell:nosuch", "no cell has this id")):  # fmt: skip
        failed = kernel.execute(f"%%agent\nExplain {reference}", cell_id="bad")
        assert failed.status == "error" and len(failed.error["evalue"].splitlines()) == 1, failed.text()
        assert reference in failed.error["evalue"] and named in failed.error["evalue"]
    assert len(chat_requests(server)) == before + 1


def test_help_lists_fix_undo_and_the_reference_forms(kernel):
    text = kernel.execute("%agent help").text()
    for form in ("%agent fix [INSTRUCTIONS]", "%agent fix --cell ID", "%agent undo [N]", "{In[3]}", "{Out[3]}",
                 "{Err[3]}", "@cell:ID", "{df} or @df"):  # fmt: skip
        assert form in text, form


MARKED = """\
from tinycode_jupyter.jupyter.answered import Answered, answer_key, marked_source
from tinycode_jupyter.jupyter.magics import NOT_THE_QUESTION, _cell_parser
options = {{k: v for k, v in vars(_cell_parser().parse_args([])).items() if k not in NOT_THE_QUESTION}}
print(marked_source("%%agent\\nSet z.", Answered({run_id!r}, answer_key("Set z.", options))))
"""


def test_real_kernel_an_agent_cell_whose_run_was_undone_is_asked_again(kernel, server):
    before = len(chat_requests(server))
    server.add(call("run_python", {"code": "z = 1"}), say("z is 1."))
    assert kernel.execute("%%agent -o result\nSet z.", cell_id="agent").status == "ok"
    run_id = kernel.eval("result.record.run_id").strip("'")
    answered = kernel.execute(MARKED.format(run_id=run_id)).text().strip()
    assert answered.startswith("%%agent --answered " + run_id)
    assert f"answered in run {run_id}" in kernel.execute(answered, cell_id="agent").text()  # not asked again
    assert len(chat_requests(server)) == before + 2
    assert kernel.execute("%agent undo", cell_id="undo").status == "ok"
    server.add(say("Asked again."))

    again = kernel.execute(answered, cell_id="agent")

    assert again.status == "ok" and "Asked again." in again.text()
    assert len(chat_requests(server)) == before + 3


# --- the owner's revert_run, in process -----------------------------------------------------------------
def owner_with(cells: list[Any]) -> tuple[Any, Any]:
    """An nbformat notebook and the kernel's client of its owner (the requests a run sends go through it)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    notebook = asyncio.run(connect(DirectTransport(NotebookDocument(nb, "allow")), "agent"))
    assert notebook is not None
    return nb, notebook


def test_revert_keeps_what_the_user_changed_since_and_says_why():
    nb, notebook = owner_with([nbformat.v4.new_code_cell("a = 1", id="mine"), nbformat.v4.new_code_cell("b = 1", id="also"),
                               nbformat.v4.new_code_cell("%%agent\nchange", id="agent")])  # fmt: skip
    run = RunInfo("run1", "agent", "m")

    async def the_run() -> str:
        await notebook.edit("mine", "a = 2", "a = 1", run)
        await notebook.edit("also", "b = 2", "b = 1", run)
        await notebook.edit("also", "b = 3", "b = 2", run)
        return (await notebook.insert("c = 1", "code", "agent", run)).id

    inserted = asyncio.run(the_run())
    nb.cells[0].source = "a = 2  # the user's own change"  # after the run
    next(c for c in nb.cells if c.id == inserted).source = "c = 1  # edited by the user"

    summary = asyncio.run(notebook.revert("run1"))

    assert summary.restored == ("also",) and summary.removed == ()
    assert dict(summary.kept) == {inserted: "changed by the user since the run wrote it", "mine": "changed since the run edited it"}
    cells = {c.id: c for c in nb.cells}
    assert cells["also"].source == "b = 1" and cells["also"].metadata == {}  # back before the run's first edit
    assert cells["mine"].source == "a = 2  # the user's own change" and "edits" not in cells["mine"].metadata.get("tinycode", {})
    assert summary.line() == f"run run1: restored also; kept {inserted} (changed by the user since the run wrote it); " \
                             "kept mine (changed since the run edited it)"


def test_revert_brings_deleted_cells_back_in_order_under_a_new_id_when_theirs_is_taken():
    nb, notebook = owner_with([nbformat.v4.new_code_cell("x = 1", id="first"), nbformat.v4.new_code_cell("y = 1", id="second"),
                               nbformat.v4.new_code_cell("z = 1", id="third")])  # fmt: skip
    run = RunInfo("run2", None, "m")

    async def the_run() -> None:
        await notebook.delete("second", "y = 1", run)
        await notebook.delete("first", "x = 1", run)

    asyncio.run(the_run())
    nb.cells.append(nbformat.v4.new_code_cell("print()", id="second"))  # the user reuses the id meanwhile

    summary = asyncio.run(notebook.revert("run2"))

    assert [c.source for c in nb.cells] == ["x = 1", "y = 1", "z = 1", "print()"]
    assert summary.reinserted[0] == "first" and summary.reinserted[1] not in ("second", "first")
    assert nb.metadata == {}


def test_a_read_only_notebook_cannot_revert():
    with pytest.raises(NotebookReadOnly, match="no notebook frontend"):
        asyncio.run(HistoryNotebook(InteractiveShell.instance(), TurnMemory()).revert("run"))


# --- the cells a fix gets, in process ----------------------------------------------------------------
def cells_of(*sources: tuple[str, str]) -> Any:
    return NotebookState(tuple(CellInfo(cell_id, i, "code", source, i + 1) for i, (cell_id, source) in enumerate(sources)))


class NoKernelErrors:
    def latest(self) -> list[Any]:
        return []

    def cell_id_of(self, count: int) -> None:
        return None


def test_a_misspelt_name_brings_the_cell_defining_the_close_name_and_an_attribute_error_the_line_names():
    state = cells_of(("limits", "threshold = 2"), ("frame", "import pandas as pd\ndf = pd.DataFrame({'a': [1]})"),
                     ("other", "unrelated = 1"), ("use", "print(thresold)"), ("attr", "df.colum.sum()"))  # fmt: skip
    name_error = {"output_type": "error", "ename": "NameError", "evalue": "name 'thresold' is not defined",
                  "traceback": ["\x1b[36mCell\x1b[39m In[4], line 1\n----> 1 print(thresold)", "NameError: ..."]}  # fmt: skip
    error = error_in_outputs((name_error,), "use", 4)
    assert error is not None
    assert [(c.id, why) for c, why in involved_cells(error, state.cells[3], state, NoKernelErrors())] == [
        ("use", "the failing cell"), ("limits", "defines or assigns threshold")]
    attribute = {"output_type": "error", "ename": "AttributeError", "evalue": "'DataFrame' object has no attribute 'colum'",
                 "traceback": ["Cell In[5], line 1\n----> 1 df.colum.sum()"]}  # fmt: skip
    state = replace(state, cells=state.cells[:4] + (replace(state.cells[4], outputs=(attribute,)),))
    error, failing = choose_error(state, NoKernelErrors())
    assert failing is not None and failing.id == "attr"
    assert [c.id for c, _ in involved_cells(error, failing, state, NoKernelErrors())] == ["attr", "frame"]
