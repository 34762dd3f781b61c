"""The kernel side of the cells protocol, as the source of a user cell.

The generated cell opens a real comm on the protocol's target, sends the given
messages with the running cell's id as anchor, and records every reply in the
kernel variable ``tinycode_received``. The messages travel as one JSON string.
"""
from __future__ import annotations

import json
from typing import Any

from tinycode_jupyter.jupyter.comm_protocol import HELLO, METADATA_KEY, TARGET

_SOURCE = """\
import json
import time
from comm import create_comm
anchor = {anchor}
time.sleep({delay!r})
tinycode_received = globals().get("tinycode_received", [])
tinycode_comm = create_comm(target_name={target!r}, data=json.loads({open_data!r}))
tinycode_comm.on_msg(lambda msg: tinycode_received.append(msg["content"]["data"]))
for message in json.loads({payload!r}):
    if "anchor_cell_id" in message:
        message["anchor_cell_id"] = anchor
    if "cell" in message:
        message["cell"]["metadata"][{key!r}]["anchor_cell_id"] = anchor
    tinycode_comm.send(message)
"""
PRINT_RECEIVED = "print(json.dumps(tinycode_received))"
RUNNING_CELL_ID = 'get_ipython().kernel.get_parent()["metadata"]["cellId"]'


def code_cell(run_id: str, step: int, source: str, text: str) -> dict[str, Any]:
    """An agent code cell with a stream output and an ``execute_result``."""
    return {
        "cell_type": "code",
        "source": source,
        "execution_count": step,
        "outputs": [
            {"output_type": "stream", "name": "stdout", "text": f"{text}\n"},
            {
                "output_type": "execute_result",
                "execution_count": step,
                "data": {"text/plain": f"'{text} result'"},
                "metadata": {},
            },
        ],
        "metadata": {METADATA_KEY: tag(run_id, step)},
    }


def markdown_cell(run_id: str, step: int, source: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "source": source, "metadata": {METADATA_KEY: tag(run_id, step)}}


def tag(run_id: str, step: int) -> dict[str, Any]:
    return {"run_id": run_id, "step": step, "model": "scripted", "tokens": 0, "anchor_cell_id": ""}


def replace_run(run_id: str) -> dict[str, Any]:
    return {"action": "replace_run", "anchor_cell_id": "", "run_id": run_id}


def upsert(run_id: str, cell: dict[str, Any]) -> dict[str, Any]:
    return {"action": "upsert_cell", "anchor_cell_id": "", "run_id": run_id, "cell": cell}


def agent_run(run_id: str, cells: list[dict[str, Any]], hello: bool = False) -> list[dict[str, Any]]:
    """The messages of one run: optional ``hello``, ``replace_run``, then one upsert per cell."""
    head = [HELLO] if hello else []
    return [*head, replace_run(run_id), *(upsert(run_id, c) for c in cells)]


def sender_source(
    messages: list[dict[str, Any]],
    anchor: str | None = None,
    open_data: dict[str, Any] | None = None,
    delay: float = 0.0,
) -> str:
    """Source of a cell that waits ``delay`` seconds, opens a real comm (with ``open_data``)
    and sends ``messages``, anchored at itself (the id the kernel reads from the execute
    request) or at ``anchor``."""
    return _SOURCE.format(
        target=TARGET,
        payload=json.dumps(messages),
        key=METADATA_KEY,
        anchor=RUNNING_CELL_ID if anchor is None else repr(anchor),
        open_data=json.dumps(open_data or {}),
        delay=delay,
    )
