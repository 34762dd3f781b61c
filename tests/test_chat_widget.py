"""`%agent chat` in a real kernel, driven as a frontend drives it: widget comm messages over jupyter_client.

The test keeps a mirror of every widget's state from the kernel's IOPub messages (as
JupyterLab does), types into the prompt with an ``update`` message and presses the
buttons with the ``click`` message a browser sends.
"""
from __future__ import annotations

import queue
import time
from collections import defaultdict
from typing import Any

import pytest

from tinycode_jupyter.jupyter import comm_protocol
from tinycode_jupyter.notebook.records import source_sha
from tinycode_jupyter.testing import call, fault, say

from kernel_harness import Kernel

pytestmark = pytest.mark.kernel
LONG_STEP = "import time\nfor _ in range(600):\n    time.sleep(0.05)"


class WidgetFrontend:
    """A minimal frontend: mirrors widget state, sends clicks and edits, runs cells."""

    def __init__(self, kernel: Kernel) -> None:
        self.client = kernel.client
        self.states: dict[str, dict[str, Any]] = {}
        self.idle: dict[str, float] = {}
        self.outputs: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.cell_messages: list[dict[str, Any]] = []
        """What the kernel sent on the cells comm, which this frontend answers as the labextension does."""
        self._cell_comms: set[str] = set()

    # --- receiving ---
    def _take(self, timeout: float) -> None:
        try:
            msg = self.client.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            return
        kind, content = msg["msg_type"], msg["content"]
        parent = msg["parent_header"].get("msg_id", "")
        if kind == "comm_open" and content.get("target_name") == "jupyter.widget":
            self.states[content["comm_id"]] = dict(content["data"]["state"])
        elif kind == "comm_msg" and content["data"].get("method") == "update" and content["comm_id"] in self.states:
            self.states[content["comm_id"]].update(content["data"]["state"])
        elif kind == "comm_open" and content.get("target_name") == comm_protocol.TARGET:
            self._cell_comms.add(content["comm_id"])
            self.send_comm(content["comm_id"], {"action": "ready", "version": comm_protocol.VERSION})
        elif kind == "comm_msg" and content["comm_id"] in self._cell_comms:
            self.cell_messages.append(content["data"])
        elif kind == "status" and content["execution_state"] == "idle":
            self.idle[parent] = time.monotonic()
        elif kind in ("stream", "execute_result", "display_data", "error"):
            self.outputs[parent].append(msg)

    def wait_idle(self, msg_id: str, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while msg_id not in self.idle:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no idle for {msg_id} in {timeout}s")
            self._take(0.05)
        return self.idle[msg_id]

    def wait_for(self, predicate: Any, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not reached")
            self._take(0.05)

    # --- sending ---
    def start_cell(self, code: str, cell_id: str | None = None) -> str:
        """Execute ``code``, as the cell ``cell_id`` when given (the id JupyterLab sends with a cell's code)."""
        if cell_id is None:
            return self.client.execute(code)
        content = {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False}
        message = self.client.session.msg("execute_request", content, metadata={"cellId": cell_id})
        self.client.shell_channel.send(message)
        return message["header"]["msg_id"]

    def run(self, code: str, timeout: float = 60) -> str:
        """Run a cell and return its text output; fails the test if the cell raised."""
        msg_id = self.start_cell(code)
        self.wait_idle(msg_id, timeout)
        return self.text(msg_id)

    def text(self, msg_id: str) -> str:
        parts = []
        for msg in self.outputs[msg_id]:
            content = msg["content"]
            assert msg["msg_type"] != "error", "\n".join(content["traceback"])
            parts.append(content.get("text") or content.get("data", {}).get("text/plain", ""))
        return "".join(parts)

    def send_comm(self, comm_id: str, data: dict[str, Any], subshell: str | None = None) -> str:
        message = self.client.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        if subshell is not None:
            message["header"]["subshell_id"] = subshell
        self.client.shell_channel.send(message)
        return message["header"]["msg_id"]

    def type_into(self, comm_id: str, value: str, subshell: str | None = None) -> None:
        self.send_comm(comm_id, {"method": "update", "state": {"value": value}, "buffer_paths": []}, subshell)

    def click(self, comm_id: str, subshell: str | None = None) -> str:
        return self.send_comm(comm_id, {"method": "custom", "content": {"event": "click"}}, subshell)

    def create_subshell(self) -> str:
        """A kernel subshell, as JupyterLab 4.6 creates one per comm target for widget messages."""
        self.client.control_channel.send(self.client.session.msg("create_subshell_request", {}))
        reply = self.client.get_control_msg(timeout=10)
        return reply["content"]["subshell_id"]

    # --- reading the chat ---
    def children(self, model_id: str) -> list[str]:
        return [ref.removeprefix("IPY_MODEL_") for ref in self.states[model_id]["children"]]


class Chat:
    """The chat widget's parts, found from the displayed root box like a frontend renders them."""

    def __init__(self, frontend: WidgetFrontend, root: str) -> None:
        self.frontend = frontend
        self.transcript, row = frontend.children(root)
        self.prompt, buttons = frontend.children(row)
        self.send_button, self.stop_button, self.undo_button = frontend.children(buttons)

    def state(self, model_id: str) -> dict[str, Any]:
        return self.frontend.states[model_id]

    def text(self) -> str:
        entries = []
        for output_id in self.frontend.children(self.transcript):
            for output in self.state(output_id)["outputs"]:
                entries.append(output["data"].get("text/plain", ""))
        return "\n".join(entries)

    def send(self, prompt: str, subshell: str | None = None) -> str:
        self.frontend.type_into(self.prompt, prompt, subshell)
        return self.frontend.click(self.send_button, subshell)


@pytest.fixture(scope="module")
def frontend(server, tmp_path_factory):
    kernel = Kernel(cwd=str(tmp_path_factory.mktemp("chat")))
    front = WidgetFrontend(kernel)
    front.run("%load_ext tinycode_jupyter\nimport pandas as pd\ndf = pd.DataFrame({'a': [1, 2, 3]})")
    front.run(f"%agent model=openai/scripted api_base={server.url}")
    yield front
    kernel.shutdown()


def open_chat(frontend: WidgetFrontend, cell_id: str | None = None) -> Chat:
    """Run ``%agent chat`` (as the cell ``cell_id``) and find the chat it shows."""
    msg_id = frontend.start_cell("%agent chat", cell_id)
    frontend.wait_idle(msg_id)
    [shown] = [m for m in frontend.outputs[msg_id] if m["msg_type"] == "execute_result"]
    return Chat(frontend, shown["content"]["data"]["application/vnd.jupyter.widget-view+json"]["model_id"])


@pytest.fixture
def chat(frontend):
    return open_chat(frontend)


def test_undo_puts_back_what_the_chats_last_run_changed(frontend, server, chat):
    frontend.run("shelf = ['book']")
    assert chat.state(chat.undo_button)["disabled"] is True  # nothing to undo yet
    server.add(call("run_python", {"code": "shelf.append('lamp')\nprint(shelf)"}), say("Added a lamp."))
    frontend.wait_idle(chat.send("Add a lamp to shelf."))
    assert chat.state(chat.undo_button)["disabled"] is False
    frontend.wait_idle(frontend.click(chat.undo_button))
    assert "Undone:** Undid 1 run" in chat.text() and "restored shelf" in chat.text(), chat.text()
    assert frontend.run("print(shelf)").strip() == "['book']"
    assert chat.state(chat.undo_button)["disabled"] is True  # undone: nothing left for this button


def test_each_run_writes_its_cells_below_the_last_with_the_question_recorded(frontend, server):
    chat = open_chat(frontend, cell_id="chat-cell")
    written = len(frontend.cell_messages)
    server.add(call("run_python", {"code": "doubled = [2 * x for x in df['a']]\nprint(doubled)"}), say("Doubled: $2, $4, $6."))
    frontend.wait_idle(chat.send("Double column a of {df}; cost $5?"))
    server.add(say("Nothing to run."))
    frontend.wait_idle(chat.send("Thanks *a lot*"))

    upserts = [m for m in frontend.cell_messages[written:] if m["action"] == "upsert_cell"]
    cells = [m["cell"] for m in upserts]
    assert [c["cell_type"] for c in cells] == ["markdown", "code", "markdown", "markdown", "markdown"]
    assert cells[0]["source"] == ("**Asked in the chat:** Double column a of &#123;df&#125;&#59; cost "
                                  "<span>&#36;</span>5&#63;")  # fmt: skip
    assert cells[1]["source"].startswith("doubled = ") and cells[1]["outputs"][0]["text"] == "[2, 4, 6]\n"
    assert cells[3]["source"] == "**Asked in the chat:** Thanks &#42;a lot&#42;"
    assert [m["anchor_cell_id"] for m in upserts] == ["chat-cell"] * 3 + [cells[2]["id"]] * 2  # the second run below the first
    assert not [m for m in frontend.cell_messages[written:] if m["action"] == "replace_run"]
    for cell in cells:
        tag = cell["metadata"]["tinycode"]
        assert tag["cell_id"] == cell["id"] and tag["source_sha"] == source_sha(cell["source"])
        assert tag["model"] == "openai/scripted" and tag["run_id"]
    assert {c["metadata"]["tinycode"]["prompt"] for c in cells[:3]} == {"Double column a of {df}; cost $5?"}
    assert {c["metadata"]["tinycode"]["prompt"] for c in cells[3:]} == {"Thanks *a lot*"}


def test_send_streams_the_run_into_the_transcript_and_keeps_the_conversation(chat, frontend, server):
    server.add(call("run_python", {"code": "total = int(df['a'].sum())\nprint('total', total)"}, content="Summing column a."),
               say("The total of **a** is 6."))  # fmt: skip
    asked = len(server.requests)
    frontend.wait_idle(chat.send("Put the sum of column a of {df} in `total`."))

    shown = chat.text()
    for expected in ["**You:** Put the sum of column a of {df} in `total`.", "Summing column a.", "✓ run_python",
                     "total 6", "The total of **a** is 6.", "completion tokens"]:  # fmt: skip  (a step's plain text is its line)
        assert expected in shown
    assert shown.index("✓ run_python") < shown.index("The total of **a** is 6.")  # the finished step, folded to a line
    assert chat.state(chat.prompt)["value"] == ""
    assert chat.state(chat.send_button)["disabled"] is False and chat.state(chat.stop_button)["disabled"] is True
    assert frontend.run("print(total)").strip() == "6"  # the agent's code ran in the user's namespace
    assert "DataFrame shape=(3, 1)" in server.requests[asked]["body"]["messages"][-1]["content"]

    server.add(say("You asked me to sum column a."))
    frontend.wait_idle(chat.send("What did I ask you before?"))
    messages = server.requests[-1]["body"]["messages"]
    assert any("Put the sum of column a" in str(m.get("content")) for m in messages)  # same agent, same conversation
    assert "You asked me to sum column a." in chat.text()


def test_stop_interrupts_a_long_step_and_the_kernel_stays_usable(chat, frontend, server):
    server.add(call("run_python", {"code": LONG_STEP}, content="Sleeping for half a minute."))
    send = chat.send("Take your time.")
    frontend.wait_for(lambda: "▶ run_python" in chat.text() and not chat.state(chat.stop_button)["disabled"])
    time.sleep(0.5)  # the step is now running on the kernel's main thread

    stopped_at = time.monotonic()
    frontend.click(chat.stop_button)
    ended = frontend.wait_idle(send, timeout=20)

    assert ended - stopped_at < 3.0
    assert "Stopped." in chat.text()
    assert chat.state(chat.send_button)["disabled"] is False
    assert frontend.run("print(1 + 1)").strip() == "2"
    server.add(say("Still here."))
    frontend.wait_idle(chat.send("Are you there?"))
    assert "Still here." in chat.text()


def test_stop_while_the_model_is_answering(chat, frontend, server):
    server.add(fault("delay", delay=20))
    send = chat.send("Think hard.")
    frontend.wait_for(lambda: "working" in chat.text() and not chat.state(chat.stop_button)["disabled"])
    time.sleep(0.3)

    stopped_at = time.monotonic()
    frontend.click(chat.stop_button)
    assert frontend.wait_idle(send, timeout=20) - stopped_at < 3.0
    assert "Stopped." in chat.text()


def test_a_failed_run_says_why_in_the_transcript(chat, frontend, server):
    server.add(fault("status", status=401, message="bad key"))
    frontend.wait_idle(chat.send("Hello?"))
    assert "**LLMAuthenticationError:**" in chat.text()
    assert chat.state(chat.send_button)["disabled"] is False


def test_a_cell_run_during_a_chat_run_waits_for_it_then_runs(chat, frontend, server):
    server.add(call("run_python", {"code": "marker = 'set by the agent'\nimport time\ntime.sleep(1.5)"}), say("Done."))
    send = chat.send("Set a marker.")
    frontend.wait_for(lambda: "▶ run_python" in chat.text())
    cell = frontend.start_cell("print(marker)")

    send_done = frontend.wait_idle(send)
    cell_done = frontend.wait_idle(cell)

    assert cell_done > send_done
    assert frontend.text(cell).strip() == "set by the agent"
    assert "Done." in chat.text()


def test_a_second_send_during_a_run_is_refused_with_a_note(chat, frontend, server):
    server.add(call("run_python", {"code": "import time\ntime.sleep(1.5)"}), say("First finished."))
    first = chat.send("First.")
    frontend.wait_for(lambda: "▶ run_python" in chat.text())
    msg_id = frontend.start_cell("%agent chat")  # a second chat panel on the same kernel
    frontend.wait_idle(first)
    frontend.wait_idle(msg_id)
    [shown] = [m for m in frontend.outputs[msg_id] if m["msg_type"] == "execute_result"]
    other = Chat(frontend, shown["content"]["data"]["application/vnd.jupyter.widget-view+json"]["model_id"])

    server.add(call("run_python", {"code": "import time\ntime.sleep(1.5)"}), say("Second finished."))
    second = chat.send("Second.")
    frontend.wait_for(lambda: "**You:** Second." in chat.text() and "▶ run_python" in chat.text().split("**You:** Second.")[1])
    other.send("Me too!")
    frontend.wait_for(lambda: "Another agent run is in progress" in other.text())
    assert second not in frontend.idle  # the click was handled while the first panel's run went on
    frontend.wait_idle(second)

    assert "First finished." in chat.text() and "Second finished." in chat.text()
    assert "Me too!" not in " ".join(str(r["body"]["messages"]) for r in server.requests)


def test_widget_messages_sent_to_a_subshell_still_run_the_agent_on_the_main_thread(chat, frontend, server):
    """JupyterLab 4.6 sends widget messages to a kernel subshell: the run must still use the main thread."""
    subshell = frontend.create_subshell()
    frontend.run("import threading")
    server.add(call("run_python", {"code": "print('ran on', threading.current_thread().name)"}), say("Checked."))
    frontend.wait_idle(chat.send("Which thread?", subshell))  # the click went to the main shell, which reports idle
    assert "**You:** Which thread?" in chat.text() and "ran on MainThread" in chat.text()

    server.add(call("run_python", {"code": LONG_STEP}))
    send = chat.send("Sleep.", subshell)
    frontend.wait_for(lambda: "**You:** Sleep." in chat.text() and "▶ run_python" in chat.text().split("**You:** Sleep.")[1])
    time.sleep(0.5)
    stopped_at = time.monotonic()
    frontend.click(chat.stop_button, subshell)
    frontend.wait_for(lambda: "Stopped." in chat.text().split("**You:** Sleep.")[1], timeout=20)
    assert time.monotonic() - stopped_at < 3.0
    frontend.wait_idle(send)
    assert frontend.run("print(1 + 1)").strip() == "2"
