"""Kernel-state undo: what a step can change is saved before it runs, and ``%agent undo`` puts it back.

In-process tests drive the real pipeline with an embedded IPython shell and the scripted model;
the kernel tests drive ``%%agent`` and ``%agent undo`` in a real kernel through jupyter_client.
Each test names what the agent did to the user's state and asserts the state afterwards.
"""
from __future__ import annotations

import copy
import json
import re
import socket

import numpy as np
import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

from tinycode_jupyter import TinyCodeAgent
from tinycode_jupyter.actions import DenyTools
from tinycode_jupyter.kernel_undo import UndoConfig, UndoError, UndoHistory, UndoRecorder
from tinycode_jupyter.kernel_undo import copies
from tinycode_jupyter.kernel_undo.names import step_names
from tinycode_jupyter.kernel_undo.restore import restore_run
from tinycode_jupyter.kernel_undo.sizes import OverLimit, estimate_bytes
from tinycode_jupyter.testing import ScriptedLLM, ScriptedServer, call, say

from _require import require_tool
from kernel_harness import Kernel

pytestmark = pytest.mark.timeout(120)


# --- what a step can change, from its source ------------------------------------------------------
def test_names_cover_assignment_deletion_mutation_imports_and_globals_in_functions():
    names = step_names(
        "import os\nfrom math import pi as PI\nx = 1\ny += 2\ndel z\nlst.append(1)\ndf['c'] = 0\nd[k] = v\n"
        "obj.attr = 3\nfor i in range(3): pass\nwith open('f') as fh: pass\n[w := 1 for _ in r]\n"
        "def f():\n    global g\n    g = 1\n    cache.append(2)\n    local = 3\nclass C:\n    z2 = base\n"
    )
    assert {"os", "PI", "x", "y", "z", "i", "fh", "w", "g", "f", "C"} <= names.bound
    assert {"lst", "df", "d", "k", "v", "obj", "cache", "base", "r", "y"} <= names.referenced
    assert {"lst", "df", "d", "obj"} >= names.mutated >= {"df", "d", "obj"}
    assert "local" not in names.bound | names.referenced and "z2" not in names.bound
    assert not names.dynamic


@pytest.mark.parametrize("source, how", [
    ("exec('a = 1')", "exec()"), ("eval('b')", "eval()"), ("globals()['c'] = 1", "globals()"),
    ("from os.path import *", "from … import *"), ("get_ipython().run_line_magic('reset', '-f')", "IPython magics"),
    ("vars()['d'] = 1", "vars()"), ("import __main__\n__main__.e = 1", "import __main__"),
])  # fmt: skip
def test_code_that_reaches_the_namespace_through_strings_is_dynamic(source, how):
    assert any(how in reason for reason in step_names(source).dynamic)


@pytest.mark.parametrize("source", ["vars(obj)", "__import__('json').dumps(x)", "def f():\n    return locals()"])
def test_ordinary_code_is_not_taken_for_dynamic(source):
    assert not step_names(source).dynamic


# --- sizes and copies ---------------------------------------------------------------------------------
def test_size_estimate_stops_early_on_a_huge_list():
    huge = list(range(2_000_000))
    with pytest.raises(OverLimit):
        estimate_bytes(huge, 1_000_000, lambda v: False, lambda v: None)
    assert 2_000_000 * 28 < estimate_bytes(huge, 10**9, lambda v: False, lambda v: None) < 2_000_000 * 40


def test_a_dataframe_is_shared_copy_on_write_and_counts_its_full_size_against_the_cap():
    frame = pd.DataFrame({"a": np.arange(10**6, dtype=float)})
    shared: list = []
    assert 8 * 10**6 <= estimate_bytes({"frame": frame}, 10**9, copies.shares_on_write, shared.append) < 8 * 10**6 + 10_000
    assert shared == [frame]
    memo: dict = {}
    duplicate = copies.copy_into(frame, memo)
    frame.loc[0, "a"] = -1.0  # copy-on-write: the saved copy keeps the old value
    assert duplicate.loc[0, "a"] == 0.0


def test_plain_data_copies_keep_shared_and_cyclic_structure():
    inner = [1]
    data = [inner, inner, {"k": inner, ("t", 1): [2]}]
    data.append(data)
    memo: dict = {}
    duplicate = copies.copy_into(data, memo)
    assert duplicate[0] is duplicate[1] is duplicate[2]["k"] and duplicate[0] is not inner
    assert duplicate[3] is duplicate and duplicate[2][("t", 1)] == [2]
    assert {id(item) for item in copies.originals(memo)} >= {id(data), id(inner), id(data[2])}


def test_a_list_of_records_is_copied_record_by_record_and_a_record_another_name_holds_stays_one_object():
    records = [{"id": i, "name": f"user{i}"} for i in range(5)]
    nested = [{"id": 0, "tags": ["a"]}]  # not flat: its inner list must be copied too
    memo: dict = {}
    first = copies.copy_into(records[2], memo)  # another name saved the third record first
    duplicate = copies.copy_into(records, memo)
    assert duplicate == records and all(c is not r for c, r in zip(duplicate, records))
    assert duplicate[2] is first  # restored as the one object both names held
    again = copies.copy_into(nested, memo)
    assert again == nested and again[0]["tags"] is not nested[0]["tags"]
    records[0]["name"] = "changed"
    assert duplicate[0]["name"] == "user0"


def test_records_with_a_key_that_can_change_or_a_record_held_twice_are_undone_whole():
    class Label(str):  # a str subclass has attributes: not atomic, unlike an exact str
        pass

    label = Label("id")
    label.note = "before"
    node = type("Node", (), {"state": "before"})()
    row = {"id": 1}
    ns = {"labelled": [{label: 1}, {"id": 2}], "keyed": [{node: 1}], "twice": [row, row]}
    run = UndoHistory().begin("r", "p")
    run.save_step(ns, (), ["labelled[0], keyed[0], twice[0]['id'] = 0, 0, 0"], "c", 1)
    label.note = node.state = "after"
    row["id"] = 0
    restore_run(run, ns)
    assert label.note == "before" and node.state == "before"
    assert ns["twice"][0] is ns["twice"][1] is row and row == {"id": 1}


@pytest.mark.parametrize("value", [
    pd.DataFrame({"a": np.arange(1000.0), "n": np.arange(1000), "s": ["x"] * 1000}),
    pd.Series(np.arange(1000.0), index=np.arange(1000) * 2), pd.Index(np.arange(1000)),
])  # fmt: skip
def test_pandas_sizes_are_what_memory_usage_says(value):
    usage = value.memory_usage(deep=False)
    assert estimate_bytes(value, 10**9, lambda v: False, lambda v: None) == int(getattr(usage, "sum", lambda: usage)())


def test_arrays_of_other_libraries_count_their_data():
    class Tensor:  # what torch, jax and cupy arrays show: a module of their own and nbytes
        __module__ = "torch"
        nbytes = 4 * 10**6

    assert estimate_bytes(Tensor(), 10**9, lambda v: False, lambda v: None) >= 4 * 10**6
    with pytest.raises(OverLimit):
        estimate_bytes([Tensor()], 10**6, lambda v: False, lambda v: None)


def test_without_copy_on_write_a_dataframe_is_copied_deeply(monkeypatch):
    monkeypatch.setattr(copies, "pandas_copy_on_write", lambda pandas: False)
    frame = pd.DataFrame({"a": np.arange(100, dtype=float)})
    duplicate = copies.copy_into(frame, {})
    assert not np.shares_memory(duplicate["a"].to_numpy(), frame["a"].to_numpy())


# --- undo of one run, in process ----------------------------------------------------------------------
@pytest.fixture
def shell():
    shell = InteractiveShell.instance()
    saved = dict(shell.user_ns)
    yield shell
    shell.user_ns.clear()
    shell.user_ns.update(saved)


async def run_agent(shell, tmp_path, steps, history=None, later=(), **options):
    """Run the scripted model's steps (code strings) in ``shell``; the history and the run's record.

    ``later``: interceptors asked after the recorder (as approval is).
    """
    history = history or UndoHistory()
    script = [call("run_python", {"code": code}) for code in steps] + [say("done")]
    agent = TinyCodeAgent(llm=ScriptedLLM(script), provider="kernel", provider_config={"shell": shell},
                          default_workdir=tmp_path, **options)  # fmt: skip
    agent.add_callback(UndoRecorder(history, agent))
    for interceptor in later:
        agent.add_interceptor(interceptor)
    async with agent:
        result = await agent.run("change my variables")
    return history, result.record


async def undo(shell, history, count=1):
    return await history.undo(count, shell.user_ns, shell.user_ns_hidden)


async def test_a_run_that_mutates_creates_and_deletes_is_fully_undone(shell, tmp_path):
    ns = shell.user_ns
    ns.update(lst=[1, 2, 3], doomed={"keep": "me"}, nested={"rows": [[1], [2]]})
    alias = ns["nested"]["rows"][0]
    history, record = await run_agent(shell, tmp_path, [
        "lst.append(4)\ncreated = 42\ndel doomed", "nested['rows'][0].append(99)\nnested['new'] = 1",
    ])  # fmt: skip
    assert ns["lst"] == [1, 2, 3, 4] and "created" in ns and "doomed" not in ns
    report = await undo(shell, history)
    assert ns["lst"] == [1, 2, 3]
    assert "created" not in ns
    assert ns["doomed"] == {"keep": "me"}
    assert ns["nested"] == {"rows": [[1], [2]]} and ns["nested"]["rows"][0] is alias  # restored in place
    assert report.restored == ("lst", "nested") and report.removed == ("created",) and report.brought_back == ("doomed",)
    assert [p.saved for p in record.undo_points] == [("created", "doomed", "lst"), ("nested",)]


async def test_a_mutated_dataframe_array_and_model_come_back_and_their_aliases_too(shell, tmp_path):
    class Model:
        def __init__(self):
            self.weights = np.zeros(3)
            self.fitted = False

    ns = shell.user_ns
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    array = np.arange(6.0)
    ns.update(df=frame, arr=array, view=array[:3], model=Model())
    ns["pipeline"] = [ns["model"]]
    history, _ = await run_agent(shell, tmp_path, [
        "df.loc[0, 'a'] = 99.0\ndf['b'] = 1\narr[:] = -1\nmodel.weights += 5\nmodel.fitted = True\nmodel.extra = 1",
    ])  # fmt: skip
    await undo(shell, history)
    assert ns["df"].equals(pd.DataFrame({"a": [1.0, 2.0, 3.0]}))
    assert ns["arr"] is array and list(array) == [0, 1, 2, 3, 4, 5] and list(ns["view"]) == [0, 1, 2]
    assert ns["pipeline"][0] is ns["model"] and not ns["model"].fitted and not hasattr(ns["model"], "extra")
    assert list(ns["model"].weights) == [0, 0, 0]


async def test_an_object_kept_by_reference_in_one_step_is_copied_before_a_later_step_changes_it(shell, tmp_path):
    shell.user_ns["x"] = [1]
    history, _ = await run_agent(shell, tmp_path, ["if False:\n    x = None", "x.append(2)"])
    assert shell.user_ns["x"] == [1, 2]
    await undo(shell, history)
    assert shell.user_ns["x"] == [1]


async def test_a_global_changed_inside_a_notebook_function_is_undone(shell, tmp_path):
    shell.run_cell("cache = []\ncounter = 0\ndef helper():\n    global counter\n    cache.append(1)\n    counter += 1")
    history, _ = await run_agent(shell, tmp_path, ["helper()\nhelper()"])
    assert shell.user_ns["cache"] == [1, 1]
    await undo(shell, history)
    assert shell.user_ns["cache"] == [] and shell.user_ns["counter"] == 0


async def test_exec_and_globals_are_listed_and_the_names_they_bind_are_removed(shell, tmp_path):
    shell.user_ns["kept"] = "user's"
    history, record = await run_agent(shell, tmp_path, ["exec('made = 1')\nglobals()['other'] = 2\ndel kept"])
    [point] = record.undo_points
    assert [item.name for item in point.not_restorable] == ["exec(), globals()"]
    await undo(shell, history)
    assert "made" not in shell.user_ns and "other" not in shell.user_ns and shell.user_ns["kept"] == "user's"


async def test_once_a_run_ended_it_keeps_the_names_it_created_not_the_namespaces_names(shell, tmp_path):
    """A kernel with many variables: the ended run holds one name, and still removes what exec created."""
    shell.user_ns.update({f"var{i}": i for i in range(2000)})
    history, _ = await run_agent(shell, tmp_path, ["exec('made = 1')"])
    [run] = history.runs
    assert run.keys_before is None and run.created == ("made",)
    await undo(shell, history)
    assert "made" not in shell.user_ns and shell.user_ns["var1999"] == 1999


async def test_an_agents_reset_magic_is_undone(shell, tmp_path):
    shell.user_ns.update(a=[1], b="two")
    history, _ = await run_agent(shell, tmp_path, ["%reset -f"])
    assert "a" not in shell.user_ns
    report = await undo(shell, history)
    assert shell.user_ns["a"] == [1] and shell.user_ns["b"] == "two" and {"a", "b"} <= set(report.brought_back)


async def test_a_denied_step_leaves_no_undo_point(shell, tmp_path):
    shell.user_ns["data"] = [1]
    history, record = await run_agent(shell, tmp_path, ["data.append(2)"], later=[DenyTools(["run_python"])])
    assert shell.user_ns["data"] == [1] and record.undo_points == []
    assert history.runs[-1].names == {}


async def test_unrelated_variables_are_never_copied_or_touched(shell, tmp_path):
    unrelated = pd.DataFrame(np.zeros((10**5, 4)))
    shell.user_ns.update(unrelated=unrelated, small=[1])
    history, record = await run_agent(shell, tmp_path, ["small.append(2)"])
    run = history.runs[-1]
    assert "unrelated" not in run.names and id(unrelated) not in run.memo
    assert [p.saved for p in record.undo_points] == [("small",)]
    await undo(shell, history)
    assert shell.user_ns["unrelated"] is unrelated and shell.user_ns["small"] == [1]


async def test_over_the_cap_an_open_file_a_socket_and_a_generator_are_listed_before_the_step(shell, tmp_path):
    handle = open(tmp_path / "notes.txt", "w")
    sock = socket.socket()
    ns = shell.user_ns
    ns.update(big=list(range(100_000)), fh=handle, sock=sock, gen=(i for i in range(3)))
    history = UndoHistory(UndoConfig(max_copy_bytes=100_000))
    try:
        _, record = await run_agent(shell, tmp_path, ["big.append(-1)\nfh.write('x')\nsock.fileno()\nnext(gen)"],
                                    history)  # fmt: skip
    finally:
        handle.close()
        sock.close()
    reasons = {item.name: item.reason for item in record.undo_points[0].not_restorable}
    assert set(reasons) == {"big", "fh", "sock", "gen"}
    assert "over the undo cap" in reasons["big"] and "open file" in reasons["fh"] and "socket" in reasons["sock"]
    report = await undo(shell, history)
    assert ns["big"][-1] == -1  # left as is
    assert {item.name for item in report.not_restored} == {"big", "fh", "sock", "gen"}


async def test_a_dataframe_over_the_cap_is_not_shared_either_and_is_left_as_is(shell, tmp_path):
    shell.user_ns["df"] = pd.DataFrame({"a": np.zeros(10**4)})
    history = UndoHistory(UndoConfig(max_copy_bytes=10_000))
    _, record = await run_agent(shell, tmp_path, ["df.loc[0, 'a'] = 5.0"], history)
    [item] = record.undo_points[0].not_restorable
    assert item.name == "df" and "over the undo cap" in item.reason and not history.runs[-1].memo
    await undo(shell, history)
    assert shell.user_ns["df"].loc[0, "a"] == 5.0


async def test_a_cap_used_up_by_earlier_steps_says_what_was_left(shell, tmp_path):
    shell.user_ns.update(first=list(range(2000)), second=list(range(2000)))
    history = UndoHistory(UndoConfig(max_copy_bytes=100_000))
    _, record = await run_agent(shell, tmp_path, ["first.append(1)", "second.append(1)"], history)
    assert record.undo_points[0].not_restorable == ()
    [item] = record.undo_points[1].not_restorable
    assert item.name == "second" and re.search(r"more than the \d+ KiB left of the undo cap \(98 KiB per run\)", item.reason)


async def test_an_object_whose_copy_fails_is_listed_with_the_reason(shell, tmp_path):
    class Stubborn:
        def __deepcopy__(self, memo):
            raise TypeError("no copies of me")

    shell.user_ns["thing"] = Stubborn()
    _, record = await run_agent(shell, tmp_path, ["thing.x = 1"])
    [item] = record.undo_points[0].not_restorable
    assert item.name == "thing" and "cannot be copied (TypeError: no copies of me)" in item.reason


async def test_undo_two_runs_goes_back_two_runs(shell, tmp_path):
    shell.user_ns["counter"] = [0]
    history, _ = await run_agent(shell, tmp_path, ["counter.append(1)\nfirst = 1"])
    await run_agent(shell, tmp_path, ["counter.append(2)\nsecond = 2"], history)
    with pytest.raises(UndoError, match="only 2 runs can be undone"):
        await undo(shell, history, 3)
    report = await undo(shell, history, 2)
    assert shell.user_ns["counter"] == [0] and "first" not in shell.user_ns and "second" not in shell.user_ns
    assert len(report.runs) == 2 and report.removed == ("first", "second")
    assert (await undo(shell, history)).text().startswith("Nothing to undo")


async def test_names_made_after_the_run_by_the_user_are_not_removed(shell, tmp_path):
    history, _ = await run_agent(shell, tmp_path, ["made_by_agent = 1"])
    shell.user_ns["made_by_user"] = 2
    await undo(shell, history)
    assert "made_by_agent" not in shell.user_ns and shell.user_ns["made_by_user"] == 2


async def test_files_come_back_with_git_checkpoints(shell, tmp_path, monkeypatch):
    require_tool("git", "git checkpoints")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    work = tmp_path / "work"
    work.mkdir()
    (work / "data.txt").write_text("user's")
    history, _ = await run_agent(shell, work, ["open('data.txt', 'w').write('agent')\nopen('new.txt', 'w').write('x')"],
                                 auto_git_checkpoint=True)  # fmt: skip
    assert (work / "data.txt").read_text() == "agent"
    report = await undo(shell, history)
    assert (work / "data.txt").read_text() == "user's" and not (work / "new.txt").exists()
    assert report.files is not None and report.files.startswith("back to git checkpoint")


async def test_without_git_checkpoints_the_report_says_files_were_not_restored(shell, tmp_path):
    history, _ = await run_agent(shell, tmp_path, ["x = 1"])
    report = await undo(shell, history)
    assert report.files == "not restored: git checkpoints were off (auto_git_checkpoint=True turns them on)"


def test_restore_uses_the_checkpoint_only_once():
    history = UndoHistory()
    run = history.begin("r", "p")
    ns = {"__name__": "__main__", "x": [1]}
    run.save_step(ns, (), ["x.append(2)"], "c", 1)
    ns["x"].append(2)
    restore_run(run, ns)
    assert ns["x"] == [1]
    assert copy.deepcopy(ns) == {"__name__": "__main__", "x": [1]}


# --- a real kernel ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    k = Kernel(cwd=str(tmp_path_factory.mktemp("undo-kernel")), env={"TINYCODE_UNDO_MAX_MB": "1"})
    assert k.execute("%load_ext tinycode_jupyter").status == "ok"
    yield k
    k.shutdown()


@pytest.fixture
def server():
    with ScriptedServer() as s:
        yield s


def agent_cell(server, prompt, options=""):
    return f"%%agent --model openai/scripted --api-base {server.url} {options}\n{prompt}"


SESSION = "get_ipython().magics_manager.registry['AgentMagics'].session"


@pytest.fixture
def fresh(kernel):
    """Each test starts with an empty undo history and the conversation forgotten."""
    assert kernel.execute(f"%agent reset\n{SESSION}.undo_history().runs.clear()").status == "ok"
    return kernel


def test_real_kernel_a_run_that_mutates_a_list_creates_and_deletes_a_variable_is_undone(fresh, server):
    fresh.execute("lst = [1, 2, 3]\ngone = 'still here'")
    server.add(call("run_python", {"code": "lst.append(4)\ncreated = 'new'\ndel gone"}), say("done"))
    assert fresh.execute(agent_cell(server, "change things")).status == "ok"
    assert fresh.eval("(lst, 'created' in dir(), 'gone' in dir())") == "([1, 2, 3, 4], True, False)"
    undone = fresh.execute("%agent undo")
    assert undone.status == "ok", undone.text()
    assert fresh.eval("(lst, 'created' in dir(), gone)") == "([1, 2, 3], False, 'still here')"
    assert "restored lst; removed created; brought back gone" in undone.text()


def test_real_kernel_over_the_cap_is_listed_before_the_step_and_left_as_is(fresh, server):
    fresh.execute("big = list(range(200_000))\nsmall = [1]")
    server.add(call("run_python", {"code": "big.append(-1)\nsmall.append(2)\nprint('step ran')"}), say("done"))
    run = fresh.execute(agent_cell(server, "append", "-o result"))
    assert run.status == "ok", run.text()
    texts = [out["content"].get("data", {}).get("text/plain", "") + out["content"].get("text", "") for out in run.outputs]
    notice = next(i for i, text in enumerate(texts) if "Undo cannot restore" in text)
    ran = next(i for i, text in enumerate(texts) if "step ran" in text and "▶" not in text)
    assert notice < ran  # shown before the step's output
    assert "big: a list of more than 1 MiB, over the undo cap (1 MiB per run)" in texts[notice]
    points = json.loads(fresh.eval("__import__('json').dumps([[i.name for i in p.not_restorable] for p in result.record.undo_points])").strip("'"))
    assert points == [["big"]]
    undone = fresh.execute("%agent undo")
    assert undone.status == "ok" and "Not restored, left as is: big" in undone.text()
    assert fresh.eval("(big[-1], small)") == "(-1, [1])"


def test_real_kernel_an_open_file_handle_is_listed(fresh, server):
    fresh.execute("fh = open('log.txt', 'w')")
    server.add(call("run_python", {"code": "fh.write('agent was here')"}), say("done"))
    run = fresh.execute(agent_cell(server, "write"))
    assert run.status == "ok"
    assert "fh: an open file: what was read or written through it cannot be undone" in run.text()
    fresh.execute("fh.close()")


def test_real_kernel_undo_two_runs_back(fresh, server):
    fresh.execute("steps = []")
    server.add(call("run_python", {"code": "steps.append('one')"}), say("one"))
    assert fresh.execute(agent_cell(server, "first")).status == "ok"
    server.add(call("run_python", {"code": "steps.append('two')\nextra = 2"}), say("two"))
    assert fresh.execute(agent_cell(server, "second")).status == "ok"
    assert fresh.eval("steps") == "['one', 'two']"
    undone = fresh.execute("%agent undo 2")
    assert undone.status == "ok", undone.text()
    assert fresh.eval("(steps, 'extra' in dir())") == "([], False)"
    assert "Undid 2 runs" in undone.text()


def test_real_kernel_undo_back_to_a_run_by_its_id_as_the_undo_button_does(fresh, server):
    fresh.execute("steps = []")
    server.add(call("run_python", {"code": "steps.append('one')"}), say("one"))
    assert fresh.execute(agent_cell(server, "first")).status == "ok"
    first = fresh.eval(f"{SESSION}.undo_history().runs[-1].run_id").strip("'")
    server.add(call("run_python", {"code": "steps.append('two')"}), say("two"))
    assert fresh.execute(agent_cell(server, "second")).status == "ok"
    server.add(call("run_python", {"code": "steps.append('three')"}), say("three"))
    assert fresh.execute(agent_cell(server, "third")).status == "ok"
    undone = fresh.execute(f"%agent undo --run {first}")  # that run and every run after it
    assert undone.status == "ok" and "Undid 3 runs" in undone.text(), undone.text()
    assert fresh.eval("steps") == "[]"
    again = fresh.execute(f"%agent undo --run {first}")
    assert again.status == "error" and f"run {first} cannot be undone" in again.error["evalue"]
    assert len(again.error["evalue"].splitlines()) == 1


def test_real_kernel_nothing_to_undo_is_one_clear_line(fresh):
    undone = fresh.execute("%agent undo")
    assert undone.status == "ok"
    assert undone.text().strip().splitlines() == [
        "Nothing to undo: no agent run has changed this kernel since it started (or since the last undo)."]
    too_many = fresh.execute("%agent undo 0")
    assert too_many.status == "error" and len(too_many.error["evalue"].splitlines()) == 1


def test_real_kernel_an_unrelated_big_dataframe_is_not_copied(fresh, server):
    fresh.execute("import numpy as np, pandas as pd\nunrelated = pd.DataFrame(np.zeros((10**5, 8)))\nsmall = [1]")
    server.add(call("run_python", {"code": "small.append(2)"}), say("done"))
    assert fresh.execute(agent_cell(server, "append")).status == "ok"
    saved = fresh.eval(f"(sorted({SESSION}.undo_history().runs[-1].names), id(unrelated) in {SESSION}.undo_history().runs[-1].memo)")
    assert saved == "(['small'], False)"


def test_real_kernel_a_step_stopped_by_an_interrupt_is_undone(fresh, server):
    fresh.execute("state = {'step': 0}")
    server.add(call("run_python", {"code": "state['step'] = 1\nimport time\nfor i in range(600):\n    time.sleep(0.05)"}))
    run = fresh.execute(agent_cell(server, "work"), interrupt_after=1.5, timeout=30)
    assert run.status == "error" and "RunCancelled" in run.error["evalue"]
    assert fresh.eval("state") == "{'step': 1}"
    undone = fresh.execute("%agent undo")
    assert undone.status == "ok", undone.text()
    assert fresh.eval("state") == "{'step': 0}"
