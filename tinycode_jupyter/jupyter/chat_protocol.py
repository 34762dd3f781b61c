"""The sidebar chat protocol: the frontend asks the kernel to run the agent, the kernel streams the run back.

The frontend (the JupyterLab sidebar) opens a comm on :data:`TARGET`, which
``%load_ext tinycode_jupyter`` registers in the kernel. The kernel answers the open
with :data:`READY`. Without the extension loaded, the kernel closes the comm at once,
and the sidebar tells the user to load it.

Messages from the frontend:

``{"action": "run", "prompt": str, "anchor_cell_id": str | null, "model": str | null}``
    Run the agent on ``prompt`` in this kernel, with the settings of ``%agent``, in the
    kernel's one agent session (the conversation is shared with ``%%agent`` cells).
    ``model`` (one of those a ``models`` request lists; null: the default) is the
    model of this run only; another model than the session's starts a new conversation, as
    ``%%agent --model`` does. The run's cells are appended below ``anchor_cell_id`` through
    the cells protocol (:mod:`.comm_protocol`), after a markdown cell that says what was asked
    (:mod:`.asked`); with ``null`` no cells are written. One run at a time per comm.
``{"action": "stop"}``
    Stop the current run. It is noticed as soon as it arrives, also during a long step.
``{"action": "models"}``
    Asks which models a run may choose.
``{"action": "undo", "run_id": str, "cell_id": str | null}``
    Undo run ``run_id`` and every run after it, as ``%agent undo --run`` does (variables, files
    with git checkpoints, and the cells through the notebook, found with ``cell_id``: the cell
    the run wrote below). Answered with one ``undone`` message.

Messages from the kernel: ``{"action": "ready", "version": 1}`` once;
``{"action": "models", "default": str, "models": [str, ...]}`` for each ``models`` request
(``default``: the ``%agent`` model, "" when none is set; ``models``: the default first, then
those of the environment variable :data:`MODELS_ENV`, comma-separated, read at each request);
``{"action": "undone", "run_id": str, "ok": bool, "text": str}`` for each ``undo`` (``text``: the
undo's report, or the one line saying why it could not be done);
and for each run ``{"action": "event", "kind": KIND, ...}`` with these kinds and keys:

``start``: ``run_id``, ``model``
    The kernel has begun the run (a busy kernel starts it after its current cell).
``text``: ``turn``, ``text``
    The model's text in that turn so far, as Markdown that renders no HTML, image, link or math
    (:func:`tinycode_jupyter.untrusted_text.markdown_text`); each message replaces the previous one of the turn.
``tool_start``: ``id``, ``name``, ``title``, ``body``, ``language``
    A tool call about to run, as its tool shows it: ``body`` is the code, the command, a diff
    or the arguments as JSON, in ``language`` (python, bash, diff, json, text).
``tool_end``: ``id``, ``name``, ``ok``, ``output``, ``images``, ``html``
    Its result: ``output`` is text (head and tail kept when long), ``images`` a list of base64 PNGs,
    ``html`` the HTML displays that are not figures (tables), which the sidebar renders sanitised.
``cell``: ``cell_id``, ``role`` (``"prompt"``, ``"code"`` or ``"answer"``), ``tool_call_id`` (null but for code)
    The run sent a cell to the notebook; the sidebar links to it.
``answer``: ``turn``, ``text``
    The final answer, as Markdown made safe in the same way; it replaces the text of its turn.
``usage``: ``model``, ``turns``, ``prompt_tokens``, ``completion_tokens``, ``cost_usd`` (null: price unknown), ``duration_s``
    Totals of the run, sent when it ends (also when it was stopped or failed).
``error``: ``error_type``, ``message``
    Why the run failed or was refused (no model configured, another run in progress, …).
``done``: ``status`` (``"ok"``, ``"stopped"`` or ``"error"``)
    Always the last message of a run.
"""
from __future__ import annotations

import os
from typing import Any, Literal

TARGET = "tinycode_jupyter.chat"
VERSION = 1
READY = {"action": "ready", "version": VERSION}
MAX_IMAGES = 4
MAX_IMAGE_CHARS = 2_000_000
"""Base64 characters of one image (about 1.5 MB of PNG); larger images are left out."""
MAX_HTML = 4
MAX_HTML_CHARS = 200_000
"""Characters of one HTML display; larger ones are left out (the output text still has them)."""
MODELS_ENV = "TINYCODE_MODELS"

EventKind = Literal["start", "text", "tool_start", "tool_end", "cell", "answer", "usage", "error", "done"]
RunStatus = Literal["ok", "stopped", "error"]


def event(kind: EventKind, **fields: Any) -> dict[str, Any]:
    """One kernel-to-frontend event message."""
    return {"action": "event", "kind": kind, **fields}


def offered_models(default: str) -> list[str]:
    """The models a run may choose: ``default`` (if set), then those of :data:`MODELS_ENV`, each once."""
    listed = [name.strip() for name in os.environ.get(MODELS_ENV, "").split(",")]
    return list(dict.fromkeys(name for name in [default, *listed] if name))


def models_reply(default: str) -> dict[str, Any]:
    return {"action": "models", "default": default, "models": offered_models(default)}
