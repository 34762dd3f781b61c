"""The sidebar chat's kernel side in a real kernel, driven as the JupyterLab sidebar drives it.

The test client opens the chat comm with a ``comm_open`` message, sends ``run`` and
``stop``, and reads the events the kernel streams on IOPub. It also answers the kernel's
cell-insertion handshake, as the labextension does, to see which cells a run writes.
"""
from __future__ import annotations

import queue
import time
import uuid
from typing import Any

import pytest

from tinycode_jupyter.jupyter import chat_protocol, comm_protocol
from tinycode_jupyter.notebook.records import source_sha
from tinycode_jupyter.testing import call, fault, say

from kernel_harness import Kernel

pytestmark = pytest.mark.kernel
LONG_STEP = "import time\nfor _ in range(600):\n    time.sleep(0.05)"
TINY_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


class SidebarClient:
    """The frontend's half: opens chat comms, sends run/stop, and collects what comes back."""

    def __init__(self, kernel: Kernel) -> None:
        self.client = kernel.client
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.closed: set[str] = set()
        self.cell_messages: list[dict[str, Any]] = []
        self.idle: set[str] = set()
        self.stdout: dict[str, list[str]] = {}

    def open(self) -> str:
        comm_id = uuid.uuid4().hex
        self.events[comm_id] = []
        self._send("comm_open", {"comm_id": comm_id, "target_name": chat_protocol.TARGET, "data": {}})
        return comm_id

    def run(self, comm_id: str, prompt: str, anchor_cell_id: str | None = "anchor-cell",
            subshell: str | None = None, model: Any = None) -> None:  # fmt: skip
        data = {"action": "run", "prompt": prompt, "anchor_cell_id": anchor_cell_id, "model": model}
        self._send("comm_msg", {"comm_id": comm_id, "data": data}, subshell)

    def ask_models(self, comm_id: str) -> dict[str, Any]:
        """Send ``models`` and return the reply."""
        self._send("comm_msg", {"comm_id": comm_id, "data": {"action": "models"}})
        self.wait_for(lambda: any(e["action"] == "models" for e in self.events[comm_id]))
        return next(e for e in self.events[comm_id] if e["action"] == "models")

    def create_subshell(self) -> str:
        """A kernel subshell, as JupyterLab 4.6 creates one per comm target."""
        self.client.control_channel.send(self.client.session.msg("create_subshell_request", {}))
        reply = self.client.get_control_msg(timeout=10)
        return reply["content"]["subshell_id"]

    def undo(self, comm_id: str, run_id: Any) -> dict[str, Any]:
        """Send ``undo`` for ``run_id`` and return the ``undone`` reply."""
        self._send("comm_msg", {"comm_id": comm_id, "data": {"action": "undo", "run_id": run_id, "cell_id": None}})
        self.wait_for(lambda: any(e["action"] == "undone" for e in self.events[comm_id]))
        return next(e for e in self.events[comm_id] if e["action"] == "undone")

    def stop(self, comm_id: str) -> None:
        self._send("comm_msg", {"comm_id": comm_id, "data": {"action": "stop"}})

    def execute(self, code: str, timeout: float = 30) -> str:
        """Run a cell and return its stdout."""
        msg_id = self.client.execute(code)
        self.wait_for(lambda: msg_id in self.idle, timeout)
        return "".join(self.stdout.pop(msg_id, []))

    def kinds(self, comm_id: str) -> list[str]:
        return [e.get("kind", e["action"]) for e in self.events[comm_id]]

    def of_kind(self, comm_id: str, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events[comm_id] if e.get("kind") == kind]

    def wait_done(self, comm_id: str, timeout: float = 30) -> dict[str, Any]:
        """Wait for the run's ``done`` event and return it (the run's events stay in ``events``)."""
        start = len(self.of_kind(comm_id, "done"))
        self.wait_for(lambda: len(self.of_kind(comm_id, "done")) > start, timeout)
        return self.of_kind(comm_id, "done")[-1]

    def wait_for(self, predicate: Any, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not reached")
            self._take(0.05)

    # --- plumbing ---
    def _send(self, msg_type: str, content: dict[str, Any], subshell: str | None = None) -> None:
        message = self.client.session.msg(msg_type, content)
        if subshell is not None:
            message["header"]["subshell_id"] = subshell
        self.client.shell_channel.send(message)

    def _take(self, timeout: float) -> None:
        try:
            msg = self.client.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            return
        kind, content = msg["msg_type"], msg["content"]
        if kind == "comm_msg" and content["comm_id"] in self.events:
            self.events[content["comm_id"]].append(content["data"])
        elif kind == "comm_close" and content["comm_id"] in self.events:
            self.closed.add(content["comm_id"])
        elif kind == "comm_open" and content["target_name"] == comm_protocol.TARGET:
            self._send("comm_msg", {"comm_id": content["comm_id"], "data": {"action": "ready", "version": 1}})
        elif kind == "comm_msg":
            self.cell_messages.append(content["data"])
        elif kind == "status" and content["execution_state"] == "idle":
            self.idle.add(msg["parent_header"].get("msg_id", ""))
        elif kind == "stream" and content["name"] == "stdout":
            self.stdout.setdefault(msg["parent_header"].get("msg_id", ""), []).append(content["text"])


@pytest.fixture(scope="module")
def sidebar(server, tmp_path_factory):
    kernel = Kernel(cwd=str(tmp_path_factory.mktemp("sidebar")))
    client = SidebarClient(kernel)
    client.execute("%load_ext tinycode_jupyter\nnumbers = [1, 2, 3]")
    client.execute(f"%agent model=openai/scripted api_base={server.url}")
    yield client
    kernel.shutdown()


def test_a_run_streams_its_events_and_writes_its_cells_below_the_anchor(sidebar, server):
    server.add(call("run_python", {"code": "total = sum(numbers)\nprint('total', total)"}, content="Adding up."),
               say("The total is **6**."))  # fmt: skip
    chat = sidebar.open()
    sidebar.run(chat, "Sum {numbers} into `total`.")

    assert sidebar.wait_done(chat) == chat_protocol.event("done", status="ok")
    kinds = sidebar.kinds(chat)
    shown = ["ready", "start", "tool_start", "tool_end", "cell", "cell", "answer", "usage", "cell", "done"]
    assert [k for k in kinds if k != "text"] == shown  # the question's and the step's cells, then the answer's
    assert kinds.index("text") < kinds.index("tool_start")  # the model's text streams before its tool call
    texts = sidebar.of_kind(chat, "text")
    assert [t["text"] for t in texts if t["turn"] == 1] == ["Adding up."]  # sent once, not repeated at the turn's end
    [start], [end] = sidebar.of_kind(chat, "tool_start"), sidebar.of_kind(chat, "tool_end")
    assert start["name"] == "run_python" and start["language"] == "python" and start["body"] == "total = sum(numbers)\nprint('total', total)"
    assert end["id"] == start["id"] and end["ok"] is True and "total 6" in end["output"] and end["images"] == []
    [answer], [usage] = sidebar.of_kind(chat, "answer"), sidebar.of_kind(chat, "usage")
    assert answer == chat_protocol.event("answer", turn=2, text="The total is **6**.")
    assert usage["turns"] == 2 and usage["model"] == "openai/scripted"
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0 and usage["cost_usd"] is None  # a loopback model: price unknown
    assert sidebar.execute("print(total)").strip() == "6"  # ran in the user's namespace

    upserts = [m for m in sidebar.cell_messages if m.get("action") == "upsert_cell"]
    assert [m["anchor_cell_id"] for m in upserts] == ["anchor-cell"] * 3
    assert [m["cell"]["cell_type"] for m in upserts] == ["markdown", "code", "markdown"]
    asked, code, answer_cell = (m["cell"] for m in upserts)
    assert asked["source"] == "**Asked in the sidebar:** Sum &#123;numbers&#125; into &#96;total&#96;&#46;"
    assert code["source"].startswith("total = sum(numbers)") and answer_cell["source"] == "The total is **6**."
    for number, cell in enumerate((asked, code, answer_cell)):  # stamped as %%agent's cells are
        tag = cell["metadata"]["tinycode"]
        assert tag["prompt"] == "Sum {numbers} into `total`." and tag["step"] == number
        assert tag["run_id"] == start_event(sidebar, chat)["run_id"] and tag["model"] == "openai/scripted"
        assert tag["anchor_cell_id"] == "anchor-cell" and tag["cell_id"] == cell["id"]
        assert tag["source_sha"] == source_sha(cell["source"])
    assert not [m for m in sidebar.cell_messages if m.get("action") == "replace_run"]  # a chat run appends
    links = [(e["cell_id"], e["role"], e["tool_call_id"]) for e in sidebar.of_kind(chat, "cell")]
    assert links == [(asked["id"], "prompt", None), (code["id"], "code", start["id"]), (answer_cell["id"], "answer", None)]


def start_event(sidebar: SidebarClient, comm_id: str) -> dict[str, Any]:
    return sidebar.of_kind(comm_id, "start")[-1]


def test_undo_from_the_sidebar_puts_the_kernel_back_and_a_second_undo_says_why_not(sidebar, server):
    sidebar.execute("kept = [1]")
    server.add(call("run_python", {"code": "kept.append(2)\nmade = 'new'"}), say("Appended."))
    chat = sidebar.open()
    sidebar.run(chat, "Append 2 to kept.")
    assert sidebar.wait_done(chat)["status"] == "ok"
    [start] = sidebar.of_kind(chat, "start")
    undone = sidebar.undo(chat, start["run_id"])
    assert undone["ok"] is True and undone["text"].startswith(f"Undid 1 run {start['run_id']}"), undone
    assert sidebar.execute("print(kept, 'made' in dir())").strip() == "[1] False"
    events = sidebar.events[chat]
    events.remove(undone)
    again = sidebar.undo(chat, start["run_id"])
    assert again["ok"] is False and again["text"].startswith(f"Cannot undo: run {start['run_id']} cannot be undone")


def test_figures_travel_as_base64_pngs_and_tables_as_html(sidebar, server):
    sidebar.execute(
        "import base64\nfrom IPython.display import Image, display\n"
        f"PNG = base64.b64decode({TINY_PNG!r})\n"
        "def show_figure():\n    display(Image(data=PNG, format='png'))"
    )
    code = "show_figure()\nimport pandas as pd\ndisplay(pd.DataFrame({'region': ['North'], 'revenue': [4758.98]}))\nprint('drawn')"
    server.add(call("run_python", {"code": code}), say("Here is the figure."))
    chat = sidebar.open()
    sidebar.run(chat, "Draw it.", anchor_cell_id=None)

    assert sidebar.wait_done(chat)["status"] == "ok"
    [end] = sidebar.of_kind(chat, "tool_end")
    assert end["images"] == [TINY_PNG] and end["output"] == "drawn"  # no labels, no text of what is shown as a figure or table
    [table] = end["html"]
    assert "<table" in table and "4758.98" in table


def test_runs_share_the_kernels_conversation_and_no_anchor_writes_no_cells(sidebar, server):
    server.add(say("Noted."), say("The word was pineapple."))
    chat = sidebar.open()
    before = len(sidebar.cell_messages)
    sidebar.run(chat, "Remember the word pineapple.", anchor_cell_id=None)
    assert sidebar.wait_done(chat)["status"] == "ok"
    other = sidebar.open()  # another sidebar, same kernel session
    sidebar.run(other, "Which word?", anchor_cell_id=None)

    assert sidebar.wait_done(other)["status"] == "ok"
    assert "Remember the word pineapple." in str(server.requests[-1]["body"]["messages"])
    assert [m for m in sidebar.cell_messages[before:] if m.get("action") == "upsert_cell"] == []


def test_runs_sent_to_a_subshell_run_on_the_main_thread(sidebar, server):
    sidebar.execute("import threading\ndef thread_name():\n    return threading.current_thread().name")
    chat, subshell = sidebar.open(), sidebar.create_subshell()
    for _ in range(2):  # the kernel would send the second one where the first one's replies came from
        server.add(call("run_python", {"code": "print(thread_name())"}), say("Done."))
        sidebar.run(chat, "Which thread?", subshell=subshell)
        assert sidebar.wait_done(chat)["status"] == "ok"
        assert sidebar.of_kind(chat, "tool_end")[-1]["output"] == "MainThread"


def test_stop_ends_a_long_step_and_the_kernel_stays_usable(sidebar, server):
    server.add(call("run_python", {"code": LONG_STEP}))
    chat = sidebar.open()
    sidebar.run(chat, "Take your time.")
    sidebar.wait_for(lambda: sidebar.of_kind(chat, "tool_start"))
    time.sleep(0.5)  # the step now runs on the kernel's main thread

    stopped_at = time.monotonic()
    sidebar.stop(chat)
    assert sidebar.wait_done(chat, timeout=20)["status"] == "stopped"
    assert time.monotonic() - stopped_at < 3.0
    assert "usage" in sidebar.kinds(chat)
    assert sidebar.execute("print(1 + 1)").strip() == "2"

    server.add(say("Still here."))
    sidebar.run(chat, "Are you there?")
    assert sidebar.wait_done(chat)["status"] == "ok"
    assert sidebar.of_kind(chat, "answer")[-1]["text"] == "Still here."


def test_stop_while_the_model_is_answering(sidebar, server):
    server.add(fault("delay", delay=20))
    chat = sidebar.open()
    sidebar.run(chat, "Think hard.")
    sidebar.wait_for(lambda: sidebar.of_kind(chat, "start"))
    time.sleep(0.3)

    stopped_at = time.monotonic()
    sidebar.stop(chat)
    assert sidebar.wait_done(chat, timeout=20)["status"] == "stopped"
    assert time.monotonic() - stopped_at < 3.0


def test_a_run_from_a_second_sidebar_during_a_run_is_refused(sidebar, server):
    server.add(call("run_python", {"code": "import time\ntime.sleep(1.5)"}), say("First finished."))
    first, second = sidebar.open(), sidebar.open()
    sidebar.run(first, "First.")
    sidebar.wait_for(lambda: sidebar.of_kind(first, "tool_start"))
    sidebar.run(second, "Me too!")

    assert sidebar.wait_done(second)["status"] == "error"
    [error] = sidebar.of_kind(second, "error")
    assert "already in progress" in error["message"]
    assert not sidebar.of_kind(first, "done")  # refused while the first run went on
    assert sidebar.wait_done(first)["status"] == "ok"
    assert "Me too!" not in str([r["body"]["messages"] for r in server.requests])


def test_without_a_model_the_run_fails_with_the_settings_hint(sidebar, server):
    sidebar.execute("%agent model=")
    try:
        chat = sidebar.open()
        sidebar.run(chat, "Anything.")
        assert sidebar.wait_done(chat)["status"] == "error"
        [error] = sidebar.of_kind(chat, "error")
        assert error["error_type"] == "UsageError" and "%agent model=" in error["message"]
    finally:
        sidebar.execute(f"%agent model=openai/scripted api_base={server.url}")


def test_without_the_extension_the_comm_is_closed_at_once(sidebar, server):
    sidebar.execute("%unload_ext tinycode_jupyter")
    try:
        chat = sidebar.open()
        sidebar.wait_for(lambda: chat in sidebar.closed, timeout=10)
        assert sidebar.events[chat] == []
    finally:
        sidebar.execute(f"%load_ext tinycode_jupyter\n%agent model=openai/scripted api_base={server.url}")
    again = sidebar.open()
    sidebar.wait_for(lambda: sidebar.events[again])
    assert sidebar.events[again] == [chat_protocol.READY]


def test_a_run_uses_the_model_the_sidebar_picked_if_the_kernel_offers_it(sidebar, server):
    sidebar.execute("%env TINYCODE_MODELS=openai/scripted-large, openai/scripted")
    chat = sidebar.open()
    assert sidebar.ask_models(chat) == {"action": "models", "default": "openai/scripted",
                                        "models": ["openai/scripted", "openai/scripted-large"]}  # fmt: skip
    server.add(say("Large answer."), say("Default answer."))
    sidebar.run(chat, "Which model?", anchor_cell_id=None, model="openai/scripted-large")
    assert sidebar.wait_done(chat)["status"] == "ok"
    assert server.requests[-1]["body"]["model"] == "scripted-large"
    assert start_event(sidebar, chat)["model"] == "openai/scripted-large"

    sidebar.run(chat, "And now?", anchor_cell_id=None)  # no model: the default again
    assert sidebar.wait_done(chat)["status"] == "ok"
    assert server.requests[-1]["body"]["model"] == "scripted"

    asked = len(server.requests)
    for bad in ("openai/not-offered", 42):
        sidebar.run(chat, "Use another one.", anchor_cell_id=None, model=bad)
        assert sidebar.wait_done(chat)["status"] == "error"
        error = sidebar.of_kind(chat, "error")[-1]
        assert error["error_type"] == "UsageError" and "is not one this kernel offers" in error["message"]
    assert len(server.requests) == asked  # refused before any model call
