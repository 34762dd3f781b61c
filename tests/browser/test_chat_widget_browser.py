"""`%agent chat` in a real browser: JupyterLab 4.6 (widget messages on a kernel subshell) and Notebook 7."""
from __future__ import annotations

import time
from typing import Any

import pytest
from labserver import LabServer
from notebook_page import PANEL, open_notebook, run_cell, wait_for_cells

from tinycode_jupyter.testing import ScriptedServer, call, say

LONG_STEP = "import time\nfor _ in range(600):\n    time.sleep(0.05)"


def shows(page: Any, text: str, timeout_ms: float = 60_000) -> None:
    page.wait_for_function("(text) => document.body.innerText.includes(text)", arg=text, timeout=timeout_ms)


def ask(page: Any, prompt: str) -> None:
    page.locator(f"{PANEL} .widget-textarea textarea").click()
    page.keyboard.insert_text(prompt)
    page.locator(f"{PANEL} button:has-text('Send')").click()


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_chat_runs_streams_and_stops_in_the_browser(page: Any, lab_server: LabServer, ui: str) -> None:
    with ScriptedServer() as server:
        name = f"chat_{ui}.ipynb"
        lab_server.write_notebook(name, [
            {"id": "setup", "cell_type": "code", "source": f"%load_ext tinycode_jupyter\n%agent model=openai/scripted "
             f"api_base={server.url}\nimport pandas as pd\ndf = pd.DataFrame({{'a': [1, 2, 3]}})"},
            {"id": "chat", "cell_type": "code", "source": "%agent chat"},
        ])  # fmt: skip
        open_notebook(page, lab_server.page_url(name, ui))
        run_cell(page, 0)
        run_cell(page, 1)

        server.add(call("run_python", {"code": "total = int(df['a'].sum())\nprint('total', total)"}, content="Summing."),
                   say("The total of **a** is 6."))  # fmt: skip
        ask(page, "Sum column a of {df} into `total`.")
        shows(page, "The total of a is 6.")
        shows(page, "completion tokens")
        assert "total 6" in page.locator(PANEL).inner_text()
        shown = wait_for_cells(page, 5)  # the run's cells, below the chat's cell, as %%agent writes them
        assert shown[2]["rendered"] == "Asked in the chat: Sum column a of {df} into `total`."
        assert shown[3]["source"].startswith("total = int(df['a'].sum())") and shown[3]["outputs"] == ["total 6"]
        assert shown[4]["rendered"] == "The total of a is 6."

        server.add(call("run_python", {"code": LONG_STEP}, content="Sleeping."))
        ask(page, "Sleep for a while.")
        shows(page, "Sleeping.")
        time.sleep(1.0)  # the step is running on the kernel's main thread
        clicked = time.monotonic()
        page.locator(f"{PANEL} button:has-text('Stop')").click()
        shows(page, "Stopped.", timeout_ms=20_000)
        assert time.monotonic() - clicked < 3.0
