"""The notebook tools, the context and the owner's rules, on an nbformat document answering the real protocol.

The document owner (:class:`NotebookDocument`, what ``tinycode run`` uses) is driven in process
through :class:`DirectTransport`; the agent is real, with a scripted model and the kernel provider.
Tests named after an attack assert containment: the user's cell is byte-for-byte what it was.
"""
from __future__ import annotations

import asyncio
import copy
import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tinycode_jupyter import TinyCodeAgent
from tinycode_jupyter.cassette import request_key
from tinycode_jupyter.events import Hook
from tinycode_jupyter.jupyter.variables import brief
from tinycode_jupyter.notebook import protocol
from tinycode_jupyter.notebook.base import TOOL_NAMES, NotebookError, TurnSnapshot
from tinycode_jupyter.notebook.comm_backend import DirectTransport, ProtocolNotebook, connect
from tinycode_jupyter.notebook.context import CONTEXT_TOKENS, build_context, variables, without_context
from tinycode_jupyter.notebook.document import NotebookDocument
from tinycode_jupyter.notebook.readonly import HistoryNotebook, TurnMemory
from tinycode_jupyter.notebook.records import is_agent_cell, source_sha, stamp_agent_cell
from tinycode_jupyter.notebook.workspace import run_with_notebook
from tinycode_jupyter.testing import ScriptedLLM, call, say

from _require import require_all

THRESHOLD = "threshold = 10\nselected = [v for v in values if v > threshold]\nprint('selected', selected)"


def make_nb() -> Any:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("values = [3, 1, 2, 8]", id="data"),
        nbformat.v4.new_code_cell(THRESHOLD, id="thr0001"),
        nbformat.v4.new_markdown_cell("## Notes", id="notes"),
        nbformat.v4.new_code_cell("%%agent\nLower the threshold", id="agent"),
    ]
    return nb


def frozen(nb: Any) -> dict[str, str]:
    return {c.id: json.dumps(c, sort_keys=True) for c in nb.cells}


class Events(Hook):
    def __init__(self) -> None:
        self.starts: list[Any] = []
        self.ends: list[Any] = []

    def on_tool_start(self, event: Any) -> None:
        self.starts.append(event)

    def on_tool_end(self, event: Any) -> None:
        self.ends.append(event)


def run(nb: Any, script: list[Any], policy: str = "allow", variables_text: str | None = None) -> tuple[Any, ScriptedLLM, Events]:
    """One agent run started from the notebook's ``agent`` cell; the model's requests and the tool events."""
    llm = ScriptedLLM(script)
    events = Events()

    async def main() -> Any:
        notebook = await connect(DirectTransport(NotebookDocument(nb, policy, "t.ipynb", lambda: "agent")), "agent")
        assert notebook is not None
        async with TinyCodeAgent(llm=llm, provider="kernel", callbacks=[events]) as agent:
            return await run_with_notebook(agent, "Lower the threshold", notebook, "agent", variables_text)

    return asyncio.run(main()), llm, events


def tool_results(llm: ScriptedLLM) -> list[str]:
    return [m["content"] for m in llm.requests[-1]["messages"] if m["role"] == "tool"]


def first_prompt(llm: ScriptedLLM) -> str:
    return next(m["content"] for m in llm.requests[0]["messages"] if m["role"] == "user")


# --- the tools ---------------------------------------------------------------------------------
def test_the_five_tools_have_exactly_the_names_and_arguments_of_the_issue():
    _, llm, _ = run(make_nb(), [say("ok")])
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in llm.requests[0]["tools"]}
    expected = {
        "read_cells": ([], ["cell_ids"]),
        "insert_cell": (["source"], ["source", "cell_type", "after_cell_id"]),
        "edit_cell": (["cell_id", "new_source"], ["cell_id", "new_source", "old_source"]),
        "delete_cell": (["cell_id"], ["cell_id"]),
        "run_cells": (["cell_ids"], ["cell_ids"]),
    }
    assert tuple(expected) == TOOL_NAMES
    for name, (required, properties) in expected.items():
        assert schemas[name]["required"] == required and list(schemas[name]["properties"]) == properties, name
    assert schemas["read_cells"]["properties"]["cell_ids"]["type"] == "array"
    assert "run_python" in schemas  # the other tools keep theirs


def test_edit_with_old_source_replaces_exactly_one_occurrence_keeps_the_id_and_records_the_previous_source():
    nb = make_nb()
    result, llm, events = run(nb, [call("edit_cell", {"cell_id": "thr0", "new_source": "threshold = 1",
                                                      "old_source": "threshold = 10"}), say("done")])  # fmt: skip
    cell = nb.cells[1]
    assert (cell.id, cell.source) == ("thr0001", THRESHOLD.replace("threshold = 10", "threshold = 1"))
    assert cell.metadata["tinycode"]["edits"] == [{"run_id": result.record.run_id, "previous_source": THRESHOLD,
                                                   "new_sha": source_sha(cell.source)}]
    assert not is_agent_cell(cell)  # still the user's cell
    start = events.starts[0]
    assert [(e.kind, e.target) for e in start.effects] == [("edits_cell", "thr0001")]
    assert start.view.language == "diff" and "-threshold = 10\n+threshold = 1\n" in start.view.body
    assert "Edited cell thr0001" in tool_results(llm)[0]


@pytest.mark.parametrize("old, found", [("threshold = 99", "does not occur"), ("threshold", "occurs 2 times")])
def test_an_old_source_that_does_not_match_exactly_once_names_what_did_not_match_and_changes_nothing(old, found):
    nb = make_nb()
    before = frozen(nb)
    _, llm, _ = run(nb, [call("edit_cell", {"cell_id": "thr0001", "new_source": "x", "old_source": old}), say("ok")])
    result = tool_results(llm)[0]
    assert result.startswith("Error: old_source") and repr(old) in result and found in result
    assert frozen(nb) == before


def test_an_unknown_cell_id_is_an_error_that_lists_the_closest_valid_ids():
    nb = make_nb()
    _, llm, _ = run(nb, [call("delete_cell", {"cell_id": "thr0002"}), call("run_cells", {"cell_ids": ["nope"]}), say("ok")])
    deleted, ran = tool_results(llm)
    assert "no cell has the id 'thr0002'" in deleted and "'thr0001' (#2: threshold = 10)" in deleted
    assert "no cell has the id 'nope'" in ran and "'notes' (#3: ## Notes)" in ran
    assert len(nb.cells) == 4


def test_insert_returns_the_new_id_and_by_default_goes_below_the_agents_own_cells():
    nb = make_nb()
    earlier = nbformat.v4.new_code_cell("old = 1", id="earlier1")
    stamp_agent_cell(earlier, run_id="r0", anchor_cell_id="agent", model="m")
    nb.cells.append(earlier)
    nb.cells.append(nbformat.v4.new_code_cell("print('user below')", id="below"))
    result, llm, _ = run(nb, [call("insert_cell", {"source": "print(len(selected))"}),
                              call("insert_cell", {"source": "# Top", "cell_type": "markdown", "after_cell_id": "data"}),
                              say("ok")])  # fmt: skip
    ids = [c.id for c in nb.cells]
    new = nb.cells[ids.index("earlier1") + 1]
    assert ids[ids.index("earlier1") + 2] == "below"
    assert new.source == "print(len(selected))" and is_agent_cell(new)
    assert new.metadata["tinycode"]["run_id"] == result.record.run_id and new.metadata["tinycode"]["anchor_cell_id"] == "agent"
    assert tool_results(llm)[0] == f"Inserted code cell {new.id} at #6."  # before the second insert moved it to #7
    assert nb.cells[1].cell_type == "markdown" and nb.cells[1].source == "# Top"
    assert result.record.tool_calls[0].view.cell_source is None  # not written back again as a run_python cell


def test_delete_keeps_the_whole_cell_in_the_notebooks_metadata():
    nb = make_nb()
    original = copy.deepcopy(dict(nb.cells[2]))
    result, _, _ = run(nb, [call("delete_cell", {"cell_id": "notes"}), say("ok")])
    assert [c.id for c in nb.cells] == ["data", "thr0001", "agent"]
    [record] = nb.metadata["tinycode"]["deleted"]
    assert record == {"run_id": result.record.run_id, "after_cell_id": "thr0001", "cell": original}


def test_run_cells_runs_in_notebook_order_saves_outputs_into_the_cells_and_stops_at_the_first_error():
    nb = make_nb()
    nb.cells.insert(3, nbformat.v4.new_code_cell("1 / 0", id="boom"))
    nb.cells.insert(4, nbformat.v4.new_code_cell("print('never')", id="later"))
    _, llm, _ = run(nb, [call("run_cells", {"cell_ids": ["later", "thr0001", "boom", "data"]}), say("ok")])
    text = tool_results(llm)[0]
    assert text.index("cell data") < text.index("cell thr0001") < text.index("cell boom")
    assert "selected []" in text and "ZeroDivisionError" in text and "not run: later" in text
    by_id = {c.id: c for c in nb.cells}
    assert by_id["thr0001"].outputs == [{"output_type": "stream", "name": "stdout", "text": "selected []\n"}]
    assert by_id["boom"].outputs[0]["ename"] == "ZeroDivisionError"
    assert by_id["later"].outputs == []
    counts = [by_id[i].execution_count for i in ("data", "thr0001", "boom")]  # numbered as Shift+Enter numbers them
    assert all(isinstance(n, int) for n in counts) and counts == sorted(counts) and len(set(counts)) == 3, counts
    assert by_id["later"].execution_count is None


def test_run_cells_refuses_to_run_the_agent_cell_itself():
    _, llm, _ = run(make_nb(), [call("run_cells", {"cell_ids": ["agent"]}), say("ok")])
    assert "is the agent cell running you" in tool_results(llm)[0]


def test_a_cell_edited_after_run_cells_was_checked_is_not_run_with_unchecked_source():
    """The policy checks read the source the run saw; a source that changed before invoking is not run."""
    nb = make_nb()
    nb.cells[1].source = "print('the source the checks read')"

    def swap_then_run(request: dict) -> Any:
        nb.cells[1].source = "checked_marker = 'this source was never checked'"  # after the context, before the call
        return call("run_cells", {"cell_ids": ["thr0001"]})

    _, llm, _ = run(nb, [swap_then_run, say("ok")])
    assert "changed after this call was checked" in tool_results(llm)[0]
    assert nb.cells[1].outputs == []


def test_run_cells_checks_the_cells_source_like_any_python_the_agent_runs():
    nb = make_nb()
    nb.cells[1].source = "import subprocess\nsubprocess.run(['true'])"
    _, llm, _ = run(nb, [call("run_cells", {"cell_ids": ["thr0001"]}), say("ok")])
    assert tool_results(llm)[0].startswith("Blocked by the security check") and "subprocess" in tool_results(llm)[0]
    assert nb.cells[1].outputs == []


# --- permission --------------------------------------------------------------------------------
def test_without_permission_an_edit_or_delete_of_a_users_cell_is_denied_and_the_cell_never_changes():
    nb = make_nb()
    mine = nbformat.v4.new_code_cell("draft = 1", id="mine")
    stamp_agent_cell(mine, run_id="r0", anchor_cell_id="agent", model="m")
    nb.cells.append(mine)
    before = frozen(nb)
    result, llm, _ = run(nb, [call("edit_cell", {"cell_id": "thr0001", "new_source": "threshold = 1"}),
                              call("delete_cell", {"cell_id": "notes"}),
                              call("edit_cell", {"cell_id": "mine", "new_source": "draft = 2"}), say("ok")], policy="deny")
    edit, delete, own = tool_results(llm)
    for text in (edit, delete):
        assert text.startswith("Denied by the user's policy") and "--allow-edits" in text and "was not changed" in text
    assert [c.outcome for c in result.record.tool_calls] == ["denied", "denied", "ran"]
    assert {k: v for k, v in frozen(nb).items() if k != "mine"} == {k: v for k, v in before.items() if k != "mine"}
    assert nb.cells[-1].source == "draft = 2" and is_agent_cell(nb.cells[-1])  # the agent's own cell changes freely
    assert "Cells you did not write cannot be changed" in first_prompt(llm)


def test_forged_requests_past_the_kernel_side_guard_cannot_change_a_users_cell():
    """Code in the kernel can send protocol messages itself; the document owner enforces the policy."""
    nb = make_nb()
    document = NotebookDocument(nb, "deny")
    before = frozen(nb)
    owner = document.handle(protocol.request("hello", version=1))["result"]["owner_id"]
    run_info = {"run_id": "forged", "anchor_cell_id": "agent", "model": "x"}
    forged = [
        protocol.request("edit_cell", owner, cell_id="thr0001", source="pwned", expected_source=THRESHOLD, run=run_info),
        protocol.request("delete_cell", owner, cell_id="thr0001", expected_source=THRESHOLD, run=run_info),
        protocol.request("insert_cell", owner, cell_type="code", source="x", after_cell_id="nope", run=run_info),
        protocol.request("set_outputs", owner, cell_id="thr0001", outputs=[{"output_type": "bogus"}], execution_count=1, run=run_info),
        protocol.request("edit_cell", cell_id="thr0001", source="pwned", expected_source=THRESHOLD, run=run_info),
    ]
    replies = [document.handle(message) for message in forged]
    assert [r["error"]["code"] for r in replies[:4]] == ["needs_approval", "needs_approval", "unknown_cell", "bad_request"]
    assert replies[4] is None  # no owner id: not for this owner, ignored
    assert frozen(nb) == before


def test_an_insert_cannot_take_a_users_cell_id_or_claim_a_cell_for_the_agent():
    nb = make_nb()
    document = NotebookDocument(nb, "deny")
    owner = document.handle(protocol.request("hello", version=1))["result"]["owner_id"]
    message = protocol.request("insert_cell", owner, cell_type="code", source="y = 1", after_cell_id=None,
                               run={"run_id": "r"}, id="thr0001", metadata={"tinycode": {"run_id": "r"}})  # fmt: skip
    new = document.handle(message)["result"]["cell"]
    assert new["id"] != "thr0001" and [c.id for c in nb.cells].count("thr0001") == 1
    assert not is_agent_cell(nb.cells[2])  # the user's thr0001 is still the user's


def test_a_cell_the_user_changed_since_it_was_read_is_not_overwritten():
    nb = make_nb()

    async def main() -> None:
        notebook = await connect(DirectTransport(NotebookDocument(nb, "allow")), "agent")
        assert isinstance(notebook, ProtocolNotebook)
        seen = (await notebook.state(["thr0001"])).cells[0]
        nb.cells[1].source = "threshold = 3  # the user typed this meanwhile"
        with pytest.raises(NotebookError) as raised:
            await notebook.edit("thr0001", "threshold = 1", seen.source, protocol_run())
        assert raised.value.code == "conflict" and "read it again" in str(raised.value)

    asyncio.run(main())
    assert nb.cells[1].source == "threshold = 3  # the user typed this meanwhile"


def protocol_run() -> Any:
    from tinycode_jupyter.notebook.base import RunInfo

    return RunInfo("r1", "agent", "m")


def test_a_users_copy_or_edit_of_an_agent_cell_is_the_users():
    cell = nbformat.v4.new_code_cell("x = 1", id="a1")
    stamp_agent_cell(cell, run_id="r", anchor_cell_id="agent", model="m")
    assert is_agent_cell(cell)
    copied = copy.deepcopy(cell)
    copied["id"] = "b2"
    edited = copy.deepcopy(cell)
    edited["source"] = "x = 2"
    legacy = nbformat.v4.new_code_cell("z", id="c3", metadata={"tinycode": {"run_id": "r", "anchor_cell_id": "agent"}})
    assert not is_agent_cell(copied) and not is_agent_cell(edited) and is_agent_cell(legacy)


# --- read-only ----------------------------------------------------------------------------------
class _History:
    def __init__(self, inputs: list[str]) -> None:
        self.input_hist_raw = ["", *inputs]


class _Shell:
    def __init__(self, inputs: list[str], outputs: dict[int, Any]) -> None:
        self.history_manager = _History(inputs)
        self.user_ns = {"Out": outputs}


def test_read_only_notebooks_show_the_history_and_propose_edits_as_a_diff_saying_why_not_applied():
    shell = _Shell(["values = [3, 1, 2]", "len(values)", "%%agent\nfix it"], {2: 3})
    llm = ScriptedLLM([call("read_cells", {"cell_ids": ["In[2]"]}),
                       call("edit_cell", {"cell_id": "In[1]", "new_source": "values = [3, 1, 2, 5]"}),
                       call("insert_cell", {"source": "print(values)"}), say("ok")])  # fmt: skip
    events = Events()

    async def main() -> None:
        async with TinyCodeAgent(llm=llm, provider="kernel", callbacks=[events]) as agent:
            await run_with_notebook(agent, "fix it", HistoryNotebook(shell, TurnMemory()), None)

    asyncio.run(main())
    prompt = first_prompt(llm)
    assert "1 In[1] [1] values = [3, 1, 2]" in prompt and "2 In[2] [2] len(values) → 3" in prompt
    assert "3 In[3] [3] %%agent (this agent cell: you)" in prompt and "Read-only: no notebook frontend" in prompt
    read, edit, insert = tool_results(llm)
    assert "len(values)" in read and "[outputs]\n3" in read
    assert edit.startswith("Not applied: no notebook frontend with the tinycode extension answered")
    assert "-values = [3, 1, 2]\n\\ No newline at end of cell\n+values = [3, 1, 2, 5]\n" in edit
    assert insert.startswith("Not applied") and "print(values)" in insert
    shown = [e.result.text for e in events.ends]  # what the cell output shows (CellOutput renders tool_end)
    assert any("+values = [3, 1, 2, 5]" in text and "Not applied" in text for text in shown)


# --- context ------------------------------------------------------------------------------------
def test_the_outline_gives_position_id_count_first_line_output_and_marks_the_agents_cells():
    nb = make_nb()
    nb.cells[1].execution_count = 2
    nb.cells[1].outputs = [nbformat.v4.new_output("error", ename="KeyError", evalue="'cost'", traceback=[])]
    nb.cells[0].execution_count = 1
    nb.cells[0].outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "[3, 1, 2, 8]"}, execution_count=1)]
    mine = nbformat.v4.new_code_cell("plot(values)", id="mine0001")
    mine.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBOR", "text/plain": "<Figure>"})]
    stamp_agent_cell(mine, run_id="r0", anchor_cell_id="agent", model="m")
    nb.cells.append(mine)
    _, llm, _ = run(nb, [say("ok")], variables_text="values: list len 4")
    prompt = first_prompt(llm)
    assert prompt.startswith("Lower the threshold\n\n<notebook-context>\n## Notebook t.ipynb: 5 cells.")
    lines = prompt.splitlines()
    assert "1 data [1] values = [3, 1, 2, 8] → [3, 1, 2, 8]" in lines
    assert "2 thr0001 [2] threshold = 10 ! KeyError: 'cost'" in lines
    assert "3 notes md ## Notes" in lines
    assert "4 agent [ ] %%agent (this agent cell: you)" in lines
    assert "5 mine0001 [ ] plot(values) → [image/png] (agent)" in lines
    assert "values: list len 4" in lines and lines[-1] == "</notebook-context>"


def test_the_context_says_what_the_user_changed_since_the_agents_last_turn():
    nb = make_nb()
    first, _, _ = run(nb, [call("insert_cell", {"source": "count = len(selected)"}), say("ok")])
    assert nb.metadata["tinycode"]["last_turn"]["run_id"] == first.record.run_id
    agents = next(c for c in nb.cells if is_agent_cell(c))
    agents.source = "count = len(selected) + 0  # the user edited the agent's cell"
    nb.cells[1].source = "threshold = 5"
    del nb.cells[2]  # the user deleted the notes
    nb.cells.insert(0, nbformat.v4.new_code_cell("import math", id="added01"))
    _, llm, _ = run(nb, [say("ok")])
    changes = first_prompt(llm).split("## Changed by the user since your last turn\n")[1].splitlines()
    assert changes[:2] == ["added 1 added01: import math", "edited 3 thr0001: threshold = 5"]
    assert changes[2].startswith(f"edited 5 {agents.id[:4]} (was yours): count = len(selected) + 0 # the user")
    assert changes[3:] == ["deleted notes", "</notebook-context>"]


def _tokenizer() -> Any:
    """tiktoken's o200k_base from the files litellm ships (no download)."""
    spec = importlib.util.find_spec("litellm")
    if importlib.util.find_spec("tiktoken") is not None and spec is not None and spec.submodule_search_locations:
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(Path(list(spec.submodule_search_locations)[0]) / "litellm_core_utils" / "tokenizers"))
        import tiktoken

        try:
            return tiktoken.get_encoding("o200k_base")
        except Exception as exc:  # the bundled file is missing
            reason = f"tiktoken's o200k_base is not available offline ({exc})"
    else:
        reason = "tiktoken (a litellm dependency) is not installed"
    if require_all():
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.mark.parametrize("size", [10, 100, 1000])
def test_the_context_stays_within_1500_real_tokens_for_10_100_and_1000_cells(size):
    encoding = _tokenizer()
    nb = nbformat.v4.new_notebook()
    long_line = " + ".join(f"compute_feature_{k}(frame, window={k})" for k in range(12))
    for n in range(size - 1):
        cell = nbformat.v4.new_code_cell(f"result_{n} = {long_line}\n{long_line}", execution_count=n + 1)
        cell.outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue="x" * 300, traceback=[])]
        nb.cells.append(cell)
    nb.cells.append(nbformat.v4.new_code_cell("%%agent\nfix the errors", id="agent"))
    namespace = {f"frame_{i}": list(range(i)) for i in range(60)}

    async def context() -> str:
        notebook = await connect(DirectTransport(NotebookDocument(nb)), "agent")
        assert notebook is not None
        await notebook.remember_turn(TurnSnapshot("r0", tuple((c.id, "0" * 16, False) for c in nb.cells)))
        return build_context(await notebook.state(), notebook, variables(namespace, set(), brief))

    text = asyncio.run(context())
    tokens = len(encoding.encode(text))
    assert tokens <= 1500, (tokens, text)
    assert CONTEXT_TOKENS <= 1500
    listed = [line for line in text.splitlines() if re.match(r"\d+ \S+ \[", line)]
    assert listed[-1].startswith(f"{size} agent") and len(listed) >= min(size, 40)
    if size == 1000:
        assert "not shown (read_cells lists them)" in text


def test_variables_are_names_types_and_shapes_never_values():
    import pandas as pd

    namespace = {"df": pd.DataFrame({"secret": ["s3cr3t-value"] * 3}), "token": "s3cr3t-value", "n": 3, "_hidden": 1,
                 "pd": pd, "In": [], "hidden_by_ipython": 1}  # fmt: skip
    text = variables(namespace, {"hidden_by_ipython"}, brief)
    assert text == "df: DataFrame (3, 1); token: str len 12; n: int"


def test_cassettes_match_the_users_prompt_without_the_notebook_context_and_tools():
    tools = [{"function": {"name": n}} for n in ("run_python", *TOOL_NAMES)]
    with_context = request_key([{"role": "user", "content": "do it\n\n<notebook-context>\n1 a [1] x\n</notebook-context>"}], tools)
    plain = request_key([{"role": "user", "content": "do it"}], tools[:1])
    assert with_context == plain
    assert without_context("a\n\n<notebook-context>\nx\n</notebook-context>") == "a"


@pytest.mark.kernel
def test_in_a_kernel_without_a_frontend_the_agent_reads_the_history_and_edits_are_only_proposed(server, tmp_path):
    from kernel_harness import Kernel

    kernel = Kernel(cwd=str(tmp_path))
    try:
        kernel.execute("%load_ext tinycode_jupyter\nvalues = [3, 1, 2]")
        server.add(call("read_cells", {"cell_ids": ["In[1]"]}),
                   call("edit_cell", {"cell_id": "In[1]", "new_source": "%load_ext tinycode_jupyter\nvalues = [3, 1, 2, 5]"}),
                   say("I could only propose the change."))  # fmt: skip
        cell = f"%%agent --model openai/scripted --api-base {server.url}\nAdd 5 to the values."
        run_ = kernel.execute(cell, cell_id="agent-cell")  # a cell id, so the kernel asks for a frontend first
        assert run_.status == "ok", run_.text()
        prompt = server.requests[-3]["body"]["messages"][1]["content"]
        assert "1 In[1] [1] %load_ext tinycode_jupyter" in prompt and "values: list len 3" in prompt
        assert "Read-only: no notebook frontend with the tinycode extension answered" in prompt
        shown = run_.text()
        assert "Not applied: no notebook frontend" in shown and "+values = [3, 1, 2, 5]" in shown
        assert kernel.eval("values") == "[3, 1, 2]"
    finally:
        kernel.shutdown()


# --- the comm client ----------------------------------------------------------------------------
class FakeComm:
    """What ``comm.create_comm`` returns, recording what the kernel sends."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.sent: list[dict[str, Any]] = []
        self.handler: Any = None
        self.closed = False

    def on_msg(self, handler: Any) -> None:
        self.handler = handler

    def send(self, data: dict[str, Any]) -> None:
        self.sent.append(data)

    def close(self) -> None:
        self.closed = True

    def reply(self, data: dict[str, Any]) -> None:
        self.handler({"content": {"data": data}})


def test_the_comm_client_talks_to_the_first_owner_only_and_waits_for_a_user_reviewing_a_change(monkeypatch):
    from tinycode_jupyter.notebook.comm_backend import CommTransport

    monkeypatch.setattr(protocol, "REQUEST_TIMEOUT", 0.05)
    comms: list[FakeComm] = []

    def create_comm(**options: Any) -> FakeComm:
        comms.append(FakeComm(**options))
        return comms[-1]

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def schedule(func: Any) -> None:
            func()
            comm = comms[0]
            message = comm.sent[-1] if comm.sent else comm.options["data"]
            if message["op"] == "hello":  # two tabs of the notebook answer; the first counts
                comm.reply(protocol.ok(message["request_id"], {"owner_id": "first", "policy": "review"}))
                comm.reply(protocol.ok(message["request_id"], {"owner_id": "second", "policy": "allow"}))
            elif message["op"] == "edit_cell":  # a person reviews the diff, and accepts after a while
                comm.reply({"reply_to": message["request_id"], "waiting": "user"})
                cell = {"id": "c1", "index": 0, "cell_type": "code", "source": "new", "agent": False}
                loop.call_later(0.3, comm.reply, protocol.ok(message["request_id"], {"cell": cell}))

        notebook = await connect(CommTransport(schedule, create_comm), "agent")
        assert isinstance(notebook, ProtocolNotebook) and notebook.policy == "review"
        assert comms[0].options["target_name"] == protocol.TARGET
        changed = await notebook.edit("c1", "new", "old", protocol_run())
        assert changed.source == "new" and comms[0].sent[-1]["owner_id"] == "first"
        with pytest.raises(NotebookError) as raised:
            await notebook.state()  # nobody answers
        assert raised.value.code == "unavailable"
        await notebook.close()
        assert comms[0].closed

    asyncio.run(main())


def test_a_hello_nobody_answers_means_no_live_notebook():
    from tinycode_jupyter.notebook.comm_backend import CommTransport

    async def main() -> None:
        assert await connect(CommTransport(lambda func: func(), FakeComm), "agent", timeout=0.05) is None

    asyncio.run(main())
