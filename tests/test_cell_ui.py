"""The agent's cell as a person reads it: a short transcript, live long steps, interrupted steps kept.

The transcript tests run the real agent loop with a scripted model and record each display
block the cell would show; the Markdown is judged by rendering it (as in
``tests/test_escape_output.py``). The live and interrupt tests run ``%%agent`` in a real kernel
(jupyter_client) and synchronise on what the cell shows: a step waits for a file that the test
creates only once it has seen the step's output arrive live, so a cell that did not stream
would make the step wait in vain.
"""
from __future__ import annotations

import ast
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from _require import require_tool
from kernel_harness import Kernel
from test_escape_output import TINY_PNG, assert_inert, render
from tinycode_jupyter import TinyCodeAgent
from tinycode_jupyter.errors import RunCancelled
from tinycode_jupyter.jupyter.background_loop import BackgroundLoop
from tinycode_jupyter.jupyter.cell_output import CellOutput
from tinycode_jupyter.jupyter.cells import cells_for_run
from tinycode_jupyter.jupyter.kernel_runner import KernelRunner
from tinycode_jupyter.testing import ScriptedLLM, ScriptedServer, call, say

LABELS = ("[stderr]", "[display", "[value]", "[exit code", "[no output]")
FAILING = "def ratio(x):\n    return 1 / x\n\nprint('before')\nratio(0)"
# Prints "waiting" (spelled so that the code itself does not contain it), then waits up to a minute for a file.
RELEASE_WAIT = ("import glob, time\nprint('wait' + 'ing', flush=True)\nfor _ in range(1200):\n    if glob.glob({flag!r}):\n"
                "        print('re' + 'leased')\n        break\n    time.sleep(0.05)\nelse:\n    print('never ' + 're' + 'leased')")


class Blocks:
    """The cell's display blocks, each with every bundle it was asked to show, in order."""

    def __init__(self, on_show: Any = None) -> None:
        self.blocks: list[list[dict[str, Any]]] = []
        self.on_show = on_show or (lambda bundle: None)

    def new(self, schedule: Any) -> Any:
        shown: list[dict[str, Any]] = []
        self.blocks.append(shown)
        return _Recorder(shown, self.on_show)

    @property
    def final(self) -> list[dict[str, Any]]:
        """What the cell shows at the end: each block's last bundle."""
        return [shown[-1] for shown in self.blocks if shown]

    def markdown(self) -> list[str]:
        return [b["text/markdown"] for b in self.final if "text/markdown" in b]

    def every_bundle(self) -> list[dict[str, Any]]:
        return [bundle for shown in self.blocks for bundle in shown]


class _Recorder:
    def __init__(self, shown: list[dict[str, Any]], on_show: Any) -> None:
        self.shown, self.on_show = shown, on_show

    def show(self, bundle: dict[str, Any]) -> None:
        self.shown.append(dict(bundle))
        self.on_show(bundle)


async def run_scripted(tmp_path: Path, replies: list[Any], provider: str = "kernel", figures_below: bool = False,
                       **options: Any) -> tuple[Blocks, TinyCodeAgent]:  # fmt: skip
    tmp_path.mkdir(parents=True, exist_ok=True)
    blocks = Blocks()
    view = CellOutput(lambda f: f(), blocks.new, figures_below=lambda: figures_below)
    agent = TinyCodeAgent(llm=ScriptedLLM(replies), provider=provider, default_workdir=tmp_path, callbacks=[view], **options)
    async with agent:
        await agent.run("go")
    return blocks, agent


def steps(blocks: Blocks) -> list[str]:
    return [m for m in blocks.markdown() if m.startswith("<details>")]


# --- the compact transcript ----------------------------------------------------------------------
async def test_a_finished_step_is_one_line_that_opens_to_its_code_and_output(tmp_path):
    code = "total = sum([120, 340, 560])\nprint('total', total)"
    blocks, _ = await run_scripted(tmp_path, [call("run_python", {"code": code}, content="Adding up."), say("It is 1020.")])
    [step] = steps(blocks)
    rendered = render(step)
    assert rendered.elements[:2] == ["details", "summary"]
    summary = step.split("</summary>")[0]
    assert "✓ run_python · " in summary and " ms · total 1020" in summary  # mark, name, time, the last line printed
    assert code in "".join(rendered.code) and "total 1020" in "".join(rendered.code)
    shown = [b["text/plain"] for b in blocks.final]
    assert shown[1:3] == ["Adding up.", summary.removeprefix("<details><summary>")]  # plain text: the line only
    assert shown[3] == "It is 1020."


async def test_no_internal_label_reaches_the_user_but_the_model_still_reads_them(tmp_path):
    code = ("import sys\nfrom IPython.display import HTML, display\nprint('out')\nprint('careful', file=sys.stderr)\n"
            "display(HTML('<b>table</b>'))\n41 + 1")  # fmt: skip
    replies = [call("run_python", {"code": code}), call("bash", {"command": "exit 3"}), say("ok")]
    blocks, agent = await run_scripted(tmp_path, replies, authorized_imports=["*"])
    for bundle in blocks.every_bundle():
        for text in bundle.values():
            assert not any(label in text for label in LABELS), text
    python, bash = steps(blocks)
    assert "careful" in python and "42" in python and "out" in python and "table" in python
    assert "exit code 3" in bash
    read = [c.result for c in agent.last_run.tool_calls]
    assert "[stderr]\n" in read[0] and "[display text/html]" in read[0] and "[value] 42" in read[0] and "[exit code 3]" in read[1]


async def test_a_traceback_is_coloured_like_ipythons_and_shows_the_frames_of_the_users_code(tmp_path):
    blocks, _ = await run_scripted(tmp_path, [call("run_python", {"code": FAILING}), say("It failed.")])
    [step] = steps(blocks)
    assert step.startswith("<details><summary>✗ run_python · ") and " · ZeroDivisionError: division by zero</summary>" in step
    error = step[step.index("<pre") :]
    assert '">ZeroDivisionError</span>: division by zero' in error  # the exception's name in colour
    assert "Cell In[" in error and "in ratio(x)" in error and "----&gt; " in error  # the user's frames, the failing lines
    assert "interactiveshell" not in error and "tinycode_jupyter" not in error  # not IPython's or ours
    assert_inert(step)


async def test_a_sandbox_traceback_shows_only_the_frames_of_the_users_code(tmp_path):
    require_tool("bwrap", "the local provider's sandbox")
    blocks, _ = await run_scripted(tmp_path / "work", [call("run_python", {"code": FAILING}), say("It failed.")], provider="local")
    [step] = steps(blocks)
    error = step[step.index("<pre") :]
    assert 'File &quot;&lt;cell-1&gt;&quot;, line 5' in error and ", in ratio" in error
    assert "worker" not in error and '">ZeroDivisionError</span>: division by zero' in error


async def test_model_text_and_output_show_dollar_amounts_as_text_not_math(tmp_path):
    code = "print('The fix costs $5 and the licence $10 a month.')"
    answer = "It costs **$5** now and $10 later; `cost = $5`."
    blocks, _ = await run_scripted(tmp_path, [call("run_python", {"code": code}, content="Pricing $5 and $10."), say(answer)])
    shown = blocks.markdown()
    for markdown in shown:
        assert_inert(markdown)  # no math, no active element in any block
    assert "".join(render(shown[-2]).prose).startswith("It costs $5 now and $10 later")
    assert "$5 and the licence $10" in "".join(render(steps(blocks)[0]).code)


async def test_output_that_tries_to_close_the_summary_or_the_details_stays_text(tmp_path):
    escape = "</summary></details><img src=http://127.0.0.1:9/x.png> $5 and $10 \\(x\\)"
    blocks, _ = await run_scripted(tmp_path, [call("run_python", {"code": f"print({escape!r})"}), say("ok")])
    [step] = steps(blocks)
    rendered = assert_inert(step)
    assert rendered.elements.count("details") == 1 and "img" not in rendered.elements
    assert escape.replace("\\", "") in "".join(rendered.prose).replace("\\", "")  # the summary line shows it as text


@pytest.mark.parametrize("below", [True, False], ids=["cells_written_below", "no_cells_written"])
async def test_figures_are_not_repeated_above_the_cells_written_below(tmp_path, below):
    code = f"import base64\nfrom IPython.display import Image, display\ndisplay(Image(data=base64.b64decode({TINY_PNG!r})))"
    blocks, _ = await run_scripted(tmp_path, [call("run_python", {"code": code}), say("ok")], figures_below=below,
                                   check_string_obfuscation=False)  # the PNG travels as base64
    images = [b for b in blocks.every_bundle() if "image/png" in b]
    [step] = steps(blocks)
    if below:
        assert images == [] and "1 figure (in the cell below)" in step
    else:
        assert [b["image/png"] for b in images] == [TINY_PNG] and "1 figure (below)" in step


@pytest.mark.parametrize("provider", ["kernel", "local"])
async def test_what_a_step_prints_reaches_the_cell_while_the_step_runs(tmp_path, provider):
    if provider == "local":
        require_tool("bwrap", "the local provider's sandbox")
    flag = tmp_path / "release"  # the step waits for it; it is made once the cell shows "waiting" live

    def release_when_shown_live(bundle: dict[str, Any]) -> None:
        if bundle["text/plain"].startswith("▶ run_python · running") and "waiting" in bundle["text/plain"]:
            flag.touch()

    blocks = Blocks(release_when_shown_live)
    view = CellOutput(lambda f: f(), blocks.new)
    agent = TinyCodeAgent(llm=ScriptedLLM([call("run_python", {"code": RELEASE_WAIT.format(flag=str(flag))}), say("ok")]),
                          provider=provider, default_workdir=tmp_path, callbacks=[view])  # fmt: skip
    agent.provider.on_output = view.show_output  # as the kernel runner sets it for a run
    async with agent:
        await agent.run("go")
    [step] = steps(blocks)
    assert "released" in step and "never released" not in step


# Code in the sandbox takes over the worker's channel and sends live output of its own making.
FORGE_LIVE_OUTPUT = """\
import gc, _tinycode_worker as w
worker = next(o for o in gc.get_objects() if isinstance(o, w.Worker))
worker.channel.send({{"type": "output", "id": worker.live._request, "stream": "stdout", "text": {markup!r}}})
worker.channel.send({{"type": "output", "id": worker.live._request, "stream": {stream!r}, "text": {text!r}}})
"""
LIVE_MARKUP = "```\n<img src=http://127.0.0.1:9/live.png> $5 and $10\n</code></pre>"


@pytest.mark.parametrize("stream, text, breach", [("stdout", "fine", False), ("stdin", "x", True), ("stdout", 5, True)],
                         ids=["well_formed", "unknown_stream", "text_not_a_string"])  # fmt: skip
async def test_live_output_forged_by_sandboxed_code_is_shown_as_text_or_ends_the_worker(tmp_path, stream, text, breach):
    require_tool("bwrap", "the local provider's sandbox")
    from tinycode_jupyter.jupyter.step_view import running_step
    from tinycode_jupyter.providers.local import LocalProvider
    from tinycode_jupyter.tools.effects import ActionView

    received: list[str] = []
    async with LocalProvider(tmp_path) as sandbox:
        sandbox.on_output = lambda _stream, shown: received.append(shown)
        result = await sandbox.run_python(FORGE_LIVE_OUTPUT.format(markup=LIVE_MARKUP, stream=stream, text=text))
    assert received[0] == LIVE_MARKUP
    assert result.state_lost is breach  # a malformed message is a protocol breach: the worker is replaced
    rendered = assert_inert(running_step("run_python", ActionView("", "x = 1", "python"), 1.0, "".join(received))["text/markdown"])
    assert rendered.only_in_code("live.png")


# --- the real kernel: live output, elapsed time, interrupts, busy status --------------------------
@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    k = Kernel(cwd=str(tmp_path_factory.mktemp("cell-ui")))
    k.execute("%load_ext tinycode_jupyter")
    yield k
    k.shutdown()


def agent_cell(server: ScriptedServer, prompt: str) -> str:
    return f"%%agent --model openai/scripted --api-base {server.url}\n{prompt}"


def markdown_of(msg: dict[str, Any]) -> str:
    if msg["msg_type"] not in ("display_data", "update_display_data"):
        return ""
    return msg["content"]["data"].get("text/markdown", "")


def last_run_cells(kernel: Kernel) -> list[dict[str, Any]]:
    """The cells of the kernel's last run, as written back (:func:`cells_for_run`)."""
    expression = ("__import__('json').dumps(__import__('tinycode_jupyter.jupyter.cells', fromlist=['c']).cells_for_run("
                  "get_ipython().magics_manager.registry['AgentMagics'].session.agent.last_run))")  # fmt: skip
    return json.loads(ast.literal_eval(kernel.eval(expression)))


def test_a_long_steps_printed_output_and_elapsed_time_stream_into_the_cell_while_it_runs(kernel, server, tmp_path):
    flag = tmp_path / "release"
    server.add(call("run_python", {"code": RELEASE_WAIT.format(flag=str(flag))}), say("done"))
    live: list[str] = []

    def release_once_live(msg: dict[str, Any]) -> None:
        shown = markdown_of(msg)
        if shown.startswith("**▶ run_python** · running · ") and "waiting" in shown:
            live.append(shown)
            if re.search(r"running · [1-9]\d* s", shown):  # the clock moved while the step waited
                flag.touch()

    run = kernel.execute(agent_cell(server, "wait"), on_message=release_once_live, timeout=120)
    assert run.status == "ok", run.text()
    assert live
    [step] = [m for m in (markdown_of({"msg_type": o["msg_type"], "content": o["content"]}) for o in run.outputs)
              if m.startswith("<details>")]  # fmt: skip
    assert "released" in step and "never released" not in step


def test_an_interrupted_step_writes_its_cell_marked_interrupted_with_its_partial_output(kernel, server, tmp_path):
    flag = tmp_path / "never"
    server.add(call("run_python", {"code": "progress = 'started'\n" + RELEASE_WAIT.format(flag=str(flag))}))
    requests = len(server.requests)
    interrupted = threading.Event()

    def interrupt_once_live(msg: dict[str, Any]) -> None:
        if "waiting" in markdown_of(msg) and not interrupted.is_set():
            interrupted.set()
            kernel.manager.interrupt_kernel()

    run = kernel.execute(agent_cell(server, "wait forever"), on_message=interrupt_once_live, timeout=60)
    assert run.status == "error" and "RunCancelled: The run was interrupted" in run.error["evalue"]
    assert len(server.requests) == requests + 1  # the model was asked nothing after the interrupt
    assert "■ run_python · interrupted after " in run.text()
    [cell] = last_run_cells(kernel)
    assert cell["source"].startswith("# interrupted after ") and "progress = 'started'" in cell["source"]
    assert cell["metadata"]["tinycode"]["interrupted"] is True
    assert [o.get("text") for o in cell["outputs"] if o["output_type"] == "stream"] == ["waiting\n"]
    assert [o["ename"] for o in cell["outputs"] if o["output_type"] == "error"] == ["KeyboardInterrupt"]
    assert kernel.eval("progress") == "'started'"  # the kernel kept what the step did


def test_a_timed_out_step_writes_its_cell_even_when_a_later_step_works(kernel, server):
    server.add(call("bash", {"command": "echo started; sleep 30; echo never", "timeout": 1}),
               call("run_python", {"code": "print('next')"}), say("The command timed out."))  # fmt: skip
    run = kernel.execute(agent_cell(server, "run the slow command"), timeout=60)
    assert run.status == "ok", run.text()
    assert re.search(r"■ bash · timed out after [\d.]+ s · started", run.text())
    slow, after = last_run_cells(kernel)[:2]
    assert slow["source"].startswith("%%bash\n# interrupted after ") and slow["metadata"]["tinycode"]["interrupted"]
    assert [o.get("text") for o in slow["outputs"]] == ["started\n"]
    assert after["source"] == "print('next')"


def test_the_kernel_shows_busy_for_the_whole_run_while_other_requests_come_and_go(kernel, server, tmp_path):
    flag = tmp_path / "release"
    server.add(call("run_python", {"code": RELEASE_WAIT.format(flag=str(flag))}), say("done"))
    statuses: list[tuple[str, str]] = []
    asked = threading.Event()

    def watch(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "status":
            statuses.append((msg["content"]["execution_state"], msg["parent_header"].get("msg_type", "")))
            if statuses[-2:] == [("idle", "kernel_info_request"), ("busy", "execute_request")]:
                flag.touch()  # the control request ended and the kernel said at once it is still busy
        if "waiting" in markdown_of(msg) and not asked.is_set():
            asked.set()  # what a frontend does meanwhile: a request on the control channel
            kernel.client.control_channel.send(kernel.client.session.msg("kernel_info_request"))

    run = kernel.execute(agent_cell(server, "wait"), on_message=watch, timeout=120)
    assert run.status == "ok", run.text()
    assert "released" in run.text() and "never released" not in run.text()
    ours = [state for state, parent in statuses if parent == "execute_request"]
    assert ours[0] == "busy" and ours[-1] == "idle" and ours.count("idle") == 1


# --- the runner: Stop during a step keeps the step -----------------------------------------------
class _StopWhenPrinted:
    """A live-output hook that presses Stop (from another thread, as a button does) once ``text`` is printed."""

    def __init__(self, view: CellOutput, runner: KernelRunner, text: str) -> None:
        self.view, self.runner, self.text = view, runner, text
        self.pressed = threading.Event()

    def __call__(self, event: Any) -> Any:
        return self.view(event)

    def show_output(self, stream: str, text: str) -> None:
        self.view.show_output(stream, text)
        if self.text in text and not self.pressed.is_set():
            self.pressed.set()
            threading.Thread(target=self.runner.cancel).start()


def run_until_stopped(agent: TinyCodeAgent, hook: Any, runner: KernelRunner) -> None:
    if agent.provider.name == "kernel":
        agent.provider.main_thread_runner = runner.run_on_main
    agent.add_callback(hook)
    runner.attach(agent, [hook])
    try:
        with pytest.raises(RunCancelled, match="The run was stopped"):
            runner.run(lambda: agent.run("go"))
    finally:
        runner.detach(agent)


def test_stop_during_a_kernel_step_keeps_the_steps_partial_result_and_its_cell(tmp_path):
    blocks = Blocks()
    code = "stopped_here = True\n" + RELEASE_WAIT.format(flag=str(tmp_path / "never"))
    agent = TinyCodeAgent(llm=ScriptedLLM([call("run_python", {"code": code}), say("never asked")]), provider="kernel",
                          default_workdir=tmp_path)  # fmt: skip
    runner = KernelRunner(BackgroundLoop())
    stop = _StopWhenPrinted(CellOutput(lambda f: f(), blocks.new), runner, "waiting")
    run_until_stopped(agent, stop, runner)
    [call_record] = agent.last_run.tool_calls
    assert call_record.exec_result.stdout.startswith("waiting") and call_record.exec_result.interrupted
    [cell] = cells_for_run(agent.last_run)
    assert cell["metadata"]["tinycode"]["interrupted"] and "stopped_here = True" in cell["source"]
    assert any("■ run_python · interrupted after" in b["text/plain"] for b in blocks.final)
    assert len(agent.last_run.steps) == 1  # the model was not asked again


def test_stop_during_a_sandbox_step_keeps_the_steps_partial_result_and_its_cell(tmp_path):
    require_tool("bwrap", "the local provider's sandbox")
    work = tmp_path / "work"
    work.mkdir()
    code = "open('started', 'w').close()\nprint('waiting', flush=True)\nimport time\ntime.sleep(600)"
    agent = TinyCodeAgent(llm=ScriptedLLM([call("run_python", {"code": code}), say("never asked")]), provider="local",
                          default_workdir=work)  # fmt: skip
    background = BackgroundLoop()
    runner = KernelRunner(background)
    view = CellOutput(lambda f: f(), Blocks().new)

    def stop_once_started() -> None:
        deadline = time.monotonic() + 60
        while not (work / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        runner.cancel()

    threading.Thread(target=stop_once_started, daemon=True).start()
    try:
        run_until_stopped(agent, view, runner)
    finally:
        KernelRunner(background).run(agent.close)
    [call_record] = agent.last_run.tool_calls
    assert call_record.exec_result.stdout == "waiting\n" and call_record.exec_result.error.name == "KeyboardInterrupt"
    [cell] = cells_for_run(agent.last_run)
    assert cell["source"].startswith("%%sandbox local\n# interrupted after ") and cell["metadata"]["tinycode"]["interrupted"]
