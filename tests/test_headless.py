"""`tinycode run`: real kernels through nbclient, a loopback scripted model, the saved notebook checked cell by cell."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from tinycode_jupyter.cli import main
from tinycode_jupyter.testing import ScriptedServer, call, say

pytestmark = pytest.mark.kernel

FIRST_CODE = "total = int(df['a'].sum())\nopen('agent_code_runs.txt', 'a').write('first\\n')\nprint('total', total)"
SECOND_CODE = "total = int(df['a'].sum()) * 10\nopen('agent_code_runs.txt', 'a').write('second\\n')\nprint('total', total)"


def write_notebook(folder: Path, server: ScriptedServer) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext tinycode_jupyter\nimport pandas as pd\ndf = pd.DataFrame({'a': [1, 2, 3]})", id="setup"),
        nbformat.v4.new_code_cell(f"%%agent --model openai/scripted --api-base {server.url}\nPut the sum of column a of {{df}} in `total`.", id="agent"),
        nbformat.v4.new_code_cell("print('twice', total * 2)", id="after"),
    ]
    path = folder / "analysis.ipynb"
    nbformat.write(nb, path)
    return path


def cells(path: Path) -> list:
    return nbformat.read(path, as_version=4).cells


def text_of(cell) -> str:
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.get("outputs", []))


def tag(cell) -> dict:
    return cell.metadata.get("tinycode", {})


def unmarked(source: str) -> str:
    """A cell's source without the answered marker the kernel writes on an agent cell's first line."""
    return re.sub(r" --answered \S+", "", source)


@pytest.fixture(scope="module")
def first_run(server, tmp_path_factory):
    """The notebook after one `tinycode run`, with the default output path."""
    folder = tmp_path_factory.mktemp("first")
    source = write_notebook(folder, server)
    before = source.read_bytes()
    server.add(call("run_python", {"code": FIRST_CODE}, content="Summing column a."), say("The total of **a** is 6."))
    code = main(["run", str(source)])
    return folder, source, before, code


def test_agent_cells_are_saved_below_the_agent_cell_and_the_next_cell_uses_them(first_run, capsys):
    folder, source, before, code = first_run
    assert code == 0
    out = folder / "analysis.out.ipynb"
    assert source.read_bytes() == before  # the input is never overwritten by default
    saved = cells(out)
    assert [c.cell_type for c in saved] == ["code", "code", "code", "markdown", "code"]
    setup, agent, agent_code, answer, after = saved
    assert (setup.id, agent.id, after.id) == ("setup", "agent", "after")
    assert agent_code.source == FIRST_CODE
    assert "total 6" in text_of(agent_code)
    assert answer.source == "The total of **a** is 6."
    for written in (agent_code, answer):
        assert tag(written)["anchor_cell_id"] == "agent"
        assert tag(written)["model"] == "openai/scripted"
        assert tag(written)["run_id"] == tag(agent_code)["run_id"]
    assert [tag(agent_code)["step"], tag(answer)["step"]] == [0, 1]
    assert "twice 12" in text_of(after)  # the user's next cell used the agent's variable
    assert "The total of **a** is 6." in text_of(agent)  # the agent cell's own streamed output
    nbformat.validate(nbformat.read(out, as_version=4))
    assert (folder / "agent_code_runs.txt").read_text() == "first\n"


def test_a_rerun_replaces_the_previous_agent_cells_and_never_touches_user_cells(first_run, server, tmp_path):
    folder, _, _, _ = first_run
    rerun = tmp_path / "analysis.ipynb"
    nb = nbformat.read(folder / "analysis.out.ipynb", as_version=4)
    users_own = nbformat.v4.new_code_cell("between = 'a cell the user wrote between the agent cells'", id="between")
    nb.cells.insert(3, users_own)  # after the agent's code cell, before its answer
    nbformat.write(nb, rerun)
    (tmp_path / "agent_code_runs.txt").write_text("first\n")
    old_user_cells = {c.id: (unmarked(c.source), c.metadata) for c in nb.cells if not tag(c)}

    server.add(call("run_python", {"code": SECOND_CODE}), say("Now the total is 60."))
    assert main(["run", str(rerun), "--rerun", "-o", str(tmp_path / "again.ipynb")]) == 0

    saved = cells(tmp_path / "again.ipynb")
    assert len(saved) == len(nb.cells)
    assert [c.id for c in saved if not tag(c)] == ["setup", "agent", "between", "after"]
    assert {c.id: (unmarked(c.source), c.metadata) for c in saved if not tag(c)} == old_user_cells
    written = [c for c in saved if tag(c)]
    assert [c.source for c in written] == [SECOND_CODE, "Now the total is 60."]
    assert [c.id for c in saved[2:4]] == [c.id for c in written]  # right below the agent cell
    assert tag(written[0])["run_id"] != tag(nb.cells[2])["run_id"]
    assert "twice 120" in text_of(saved[-1])
    # the first run's code cell was not executed again: only the new run's code ran
    assert (tmp_path / "agent_code_runs.txt").read_text() == "first\nsecond\n"


def test_a_failing_agent_run_keeps_the_previous_agent_cells(first_run, server, tmp_path, capsys):
    folder, _, _, _ = first_run
    nb = nbformat.read(folder / "analysis.out.ipynb", as_version=4)
    nb.cells[1].source = nb.cells[1].source.replace("--api-base", "--rerun --replay no-such-cassette.json --api-base")
    nbformat.write(nb, tmp_path / "analysis.ipynb")

    code = main(["run", str(tmp_path / "analysis.ipynb")])

    assert code == 1
    error = capsys.readouterr().err
    assert "error: cell 2 (id agent) failed: UsageError: CassetteMismatch: cassette no-such-cassette.json does not exist" in error
    assert len(error.strip().splitlines()) == 1
    saved = cells(tmp_path / "analysis.out.ipynb")
    assert [(c.id, c.source) for c in saved] == [(c.id, c.source) for c in nb.cells]
    assert "CassetteMismatch" in text_of(saved[1])  # the agent cell shows why
    assert saved[-1].outputs == nb.cells[-1].outputs  # execution stopped at the agent cell


def test_a_failing_user_cell_exits_non_zero_names_the_cell_and_stops(tmp_path, capsys):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("x = 1", id="one"),
        nbformat.v4.new_markdown_cell("Some text", id="text"),
        nbformat.v4.new_code_cell("x / 0", id="boom"),
        nbformat.v4.new_code_cell("print('never runs')", id="later"),
    ]
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    path.chmod(0o640)

    assert main(["run", str(path), "--inplace"]) == 1

    captured = capsys.readouterr()
    assert "error: cell 3 (id boom) failed: ZeroDivisionError: division by zero" in captured.err
    assert f"wrote {path}" in captured.out
    assert path.stat().st_mode & 0o777 == 0o640  # rewritten in place, permissions kept
    saved = cells(path)
    assert [o.output_type for o in saved[2].outputs] == ["error"]
    assert saved[3].outputs == []


def test_missing_notebook_and_unknown_kernel_are_one_line_errors(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.ipynb")]) == 2
    assert "cannot read" in capsys.readouterr().err
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("1")]
    nbformat.write(nb, tmp_path / "ok.ipynb")
    assert main(["run", str(tmp_path / "ok.ipynb"), "--kernel", "no-such-kernel"]) == 2
    assert "no Jupyter kernel named 'no-such-kernel'" in capsys.readouterr().err


def test_a_notebook_of_many_agent_cells_runs_to_the_end(server, tmp_path):
    """Each agent cell's last write-back reply races the cell's execute_reply; none may be lost (a lost one hung the run)."""
    count = 10
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("%load_ext tinycode_jupyter", id="setup")]
    for n in range(count):
        prompt = f"%%agent --model openai/scripted --api-base {server.url}\nSet step_{n}."
        nb.cells.append(nbformat.v4.new_code_cell(prompt, id=f"agent{n}"))
        server.add(call("run_python", {"code": f"step_{n} = {n}"}), say(f"step_{n} is set."))
    every_step = ", ".join(f"step_{n}" for n in range(count))
    nb.cells.append(nbformat.v4.new_code_cell(f"print(sum([{every_step}]))", id="total"))
    path = tmp_path / "many.ipynb"
    nbformat.write(nb, path)

    assert main(["run", str(path), "--timeout", "60"]) == 0

    saved = cells(tmp_path / "many.out.ipynb")
    answers = [c.source for c in saved if tag(c) and c.cell_type == "markdown"]
    assert answers == [f"step_{n} is set." for n in range(count)]
    assert text_of(saved[-1]).strip() == str(sum(range(count)))
