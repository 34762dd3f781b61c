"""The kernel <-> frontend protocol for writing agent results back as cells.

The kernel opens a comm on :data:`TARGET`; the frontend extension registers that
target and answers :data:`HELLO` (sent as a message or as the ``comm_open`` data)
with ``{"action": "ready", "version": 1}``.
If nothing answers within :data:`HELLO_TIMEOUT` seconds the kernel falls back to
``set_next_input`` (one combined cell) and remembers that for the session.

Messages from the kernel (``comm.send(data)``):

``{"action": "hello", "version": 1}``
    Asks whether a frontend is listening.
``{"action": "replace_run", "anchor_cell_id": str, "run_id": str}``
    Delete every cell whose ``metadata.tinycode.anchor_cell_id`` equals the anchor
    (the cells of an earlier run of that agent cell). User cells are never touched.
``{"action": "upsert_cell", "anchor_cell_id": str, "run_id": str, "cell": <nbformat v4 cell>}``
    Insert the cell below the anchor cell (after the run's cells inserted so far),
    or replace the cell of the same ``metadata.tinycode.step`` and ``run_id``.
    The cell's ``metadata.tinycode`` holds ``run_id``, ``step``, ``model``,
    ``tokens`` and ``anchor_cell_id``. Code cells carry their ``outputs``.

Messages from the frontend: ``{"action": "ready", "version": 1}`` and
``{"action": "applied", "run_id": str, "count": int}`` after an upsert, where
``count`` is the number of the run's cells now in the notebook. When the anchor
cell is not in the notebook nothing is inserted and the reply is
``{"action": "applied", "run_id": str, "count": 0, "error": str}``. Every frontend
showing the notebook answers, so a kernel may get more than one reply.

The frontend writes ``anchor_cell_id`` and ``run_id`` of the message into the
cell's ``metadata.tinycode``, drops ``metadata.trusted`` (written-back outputs
never run JavaScript), and keeps the cell's ``id`` only if no other cell has it.
"""
from __future__ import annotations

TARGET = "tinycode_jupyter.cells"
VERSION = 1
HELLO = {"action": "hello", "version": VERSION}
HELLO_TIMEOUT = 0.5
METADATA_KEY = "tinycode"
