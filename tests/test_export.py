"""agent.export_notebook: the session as a standalone notebook that re-runs without the agent."""
from __future__ import annotations

import nbformat
from nbclient import NotebookClient

from tinycode_jupyter import TinyCodeAgent
from tinycode_jupyter.testing import ScriptedLLM, call, say


async def test_exported_session_validates_and_reruns_without_the_agent(tmp_path):
    llm = ScriptedLLM(
        [
            call("write_file", {"file_path": "data.csv", "content": "a,b\n1,2\n3,4\n"}),
            call("run_python", {"code": "import csv\nrows = list(csv.DictReader(open('data.csv')))\nlen(rows)"}),
            call("run_python", {"code": "this is not python"}),
            call("bash", {"command": "wc -l data.csv"}),
            say("There are **2** rows."),
            call("run_python", {"code": "total = sum(int(r['a']) for r in rows)\nprint('total', total)"}),
            say("The total of a is 4."),
        ]
    )
    async with TinyCodeAgent(llm=llm, provider="kernel", default_workdir=tmp_path) as agent:
        await agent.run("count the rows")
        await agent.run("sum column a")
        path = tmp_path / "session.ipynb"
        agent.export_notebook(path)

    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    sources = [c.source for c in notebook.cells]
    assert sources[0] == "**Prompt:** count the rows"
    assert sources[1].startswith("%%writefile data.csv\na,b")
    assert not any("this is not python" in source for source in sources)  # failed, then a later step worked: dropped
    assert sources[3] == "%%bash\nwc -l data.csv"
    assert sources[4] == "There are **2** rows." and notebook.cells[4].cell_type == "markdown"
    assert notebook.cells[2].metadata["tinycode"]["model"] == "scripted-model"
    assert notebook.cells[2].outputs[-1]["data"]["text/plain"] == "2"

    (tmp_path / "data.csv").unlink()
    NotebookClient(notebook, timeout=60, resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises on an error
    printed = [o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert "total 4\n" in printed
    assert (tmp_path / "data.csv").read_text() == "a,b\n1,2\n3,4\n"
