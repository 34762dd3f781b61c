"""The context a run started from a notebook gets unasked: an outline of the cells, the kernel's
variables and what the user changed since the agent's last turn, within one token budget.

The whole block stays within :data:`CONTEXT_TOKENS` whatever the notebook's size: lines get
shorter first, then only the cells nearest the agent's cell are listed and the others are
counted (``read_cells`` shows them). Tokens are estimated by :func:`estimate_tokens`, which
tracks real tokenizers on this kind of text (characters / 4 counts outlines about 40% short);
``bench/bench_context.py`` checks the result with tiktoken for 10, 100 and 1,000 cells.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .base import CellChange, CellInfo, Notebook, NotebookState
from .records import source_sha

CONTEXT_TOKENS = 1400
"""The budget in estimated tokens; the estimate is within about 5% of tiktoken here, so real counts stay under 1,500."""
OPEN_TAG, CLOSE_TAG = "<notebook-context>", "</notebook-context>"
"""The block is wrapped in these, so a cassette can match the user's prompt without it (:func:`without_context`)."""
VARIABLE_TOKENS = 160
CHANGE_TOKENS = 160
MAX_VARIABLES = 40
MAX_CHANGES = 10
MIN_ID_CHARS = 4
LINE_WIDTHS = ((64, 64), (64, 40), (48, 28), (48, 20), (40, 14), (40, 10))
"""Characters of a cell's first line shown (near the agent's cell, elsewhere), tried in turn until the outline fits."""
MIN_OUTPUT_WIDTH = 10
NEAR_ABOVE, NEAR_BELOW = 12, 3
"""The cells "near" the agent's cell."""
_RANDOM_ID = re.compile(r"[0-9a-f-]{8,}")
_TOKEN_PIECE = re.compile(r"[A-Za-z]{1,7}|\d{1,3}|[^\sA-Za-z\d]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SKIPPED_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython", "open"})


def without_context(text: str) -> str:
    """``text`` without the notebook context block(s) appended to it."""
    while OPEN_TAG in text and CLOSE_TAG in text.split(OPEN_TAG, 1)[1]:
        before, rest = text.split(OPEN_TAG, 1)
        text = before.rstrip("\n") + rest.split(CLOSE_TAG, 1)[1]
    return text


def estimate_tokens(text: str) -> int:
    """Word pieces: runs of up to 7 letters, up to 3 digits, and every other non-space character."""
    return len(_TOKEN_PIECE.findall(text))


def short_ids(cells: Sequence[CellInfo]) -> dict[str, str]:
    """Random-looking ids (8 or more hex digits, UUIDs) cut to the shortest prefix of at least 4 characters
    that no other cell's id starts with; other ids (``setup``, ``In[3]``) in full."""
    ids = sorted({cell.id for cell in cells})
    shown: dict[str, str] = {}
    for position, cell_id in enumerate(ids):
        if not _RANDOM_ID.fullmatch(cell_id):
            shown[cell_id] = cell_id
            continue
        neighbours = ids[max(0, position - 1):position] + ids[position + 1:position + 2]
        shared = max((_common_prefix(cell_id, other) for other in neighbours), default=0)
        shown[cell_id] = cell_id[: max(MIN_ID_CHARS, shared + 1)]
    return shown


def _common_prefix(a: str, b: str) -> int:
    length = 0
    while length < min(len(a), len(b)) and a[length] == b[length]:
        length += 1
    return length


def one_line(text: str, width: int) -> str:
    """The text on one line, without control characters, cut to ``width`` with an ellipsis."""
    flat = _CONTROL.sub("", " ".join(text.split()))
    return flat if len(flat) <= width else flat[: max(1, width - 1)] + "…"


def output_summary(cell: CellInfo, width: int) -> str:
    """``! Error: message`` for a failed cell, else ``→`` and the first line of its last result, text or image.

    Narrower than :data:`MIN_OUTPUT_WIDTH`, only an error's name is shown.
    """
    if not cell.outputs:
        return ""
    error = next((o for o in cell.outputs if o.get("output_type") == "error"), None)
    if error is not None:
        name = str(error.get("ename", "Error"))
        return "! " + (one_line(f"{name}: {error.get('evalue', '')}", width) if width >= MIN_OUTPUT_WIDTH else name)
    if width < MIN_OUTPUT_WIDTH:
        return ""
    for output in reversed(cell.outputs):
        data = output.get("data") or {}
        images = sorted(mime for mime in data if mime.startswith("image/"))
        if images:
            return "→ [" + ", ".join(images) + "]"
        text = output.get("text") if output.get("output_type") == "stream" else data.get("text/plain")
        text = "".join(text) if isinstance(text, list) else str(text or "")
        if text.strip():
            return "→ " + one_line(text.strip().splitlines()[0], width)
    return ""


def outline_line(cell: CellInfo, shown_id: str, agent_cell_id: str | None, width: int) -> str:
    if cell.cell_type == "code":
        kind = f"[{cell.execution_count}]" if cell.execution_count is not None else "[ ]"
    else:
        kind = "md" if cell.cell_type == "markdown" else "raw"
    parts = [str(cell.index + 1), shown_id, kind, one_line(cell.first_line, width) or "(empty)"]
    if cell.cell_type == "code":
        parts.append(output_summary(cell, width // 2))
    if cell.id == agent_cell_id:
        parts.append("(this agent cell: you)")
    elif cell.agent:
        parts.append("(agent)")
    return " ".join(part for part in parts if part)


def outline(state: NotebookState, budget: int) -> str:
    """One line per cell; shorter lines (the ones near the agent's cell last), then a window around
    the agent's cell, until it fits ``budget`` tokens."""
    cells = state.cells
    ids = short_ids(cells)
    center = _agent_position(cells, state.agent_cell_id)

    def render(near: int, far: int) -> tuple[list[str], list[int]]:
        widths = [near if -NEAR_ABOVE <= i - center <= NEAR_BELOW else far for i in range(len(cells))]
        lines = [outline_line(c, ids[c.id], state.agent_cell_id, w) for c, w in zip(cells, widths)]
        return lines, [estimate_tokens(line) + 1 for line in lines]

    lines, sizes = render(*LINE_WIDTHS[-1])
    if sum(sizes) > budget:
        return "\n".join(_window(lines, sizes, center, budget))
    for near, far in LINE_WIDTHS:
        lines, sizes = render(near, far)
        if sum(sizes) <= budget:
            break
    return "\n".join(lines)


def _agent_position(cells: Sequence[CellInfo], agent_cell_id: str | None) -> int:
    return next((i for i, c in enumerate(cells) if c.id == agent_cell_id), len(cells) - 1)


def _window(lines: list[str], sizes: list[int], center: int, budget: int) -> list[str]:
    """The lines nearest the agent's cell (two above for one below), with the others counted."""
    room = budget - 2 * 16 - sizes[center]  # the two "not shown" lines
    first = last = center
    while True:
        grew = False
        for _ in range(2):
            if first > 0 and sizes[first - 1] <= room:
                first, room, grew = first - 1, room - sizes[first - 1], True
        if last + 1 < len(lines) and sizes[last + 1] <= room:
            last, room, grew = last + 1, room - sizes[last + 1], True
        if not grew:
            break
    shown = lines[first:last + 1]
    if first > 0:
        shown.insert(0, f"… cells 1-{first} not shown (read_cells lists them)")
    if last < len(lines) - 1:
        shown.append(f"… cells {last + 2}-{len(lines)} not shown (read_cells lists them)")
    return shown


def variables(namespace: Mapping[str, Any], hidden: Mapping[str, Any] | set[str], describe: Any) -> str:
    """``name: type shape`` for the user's variables (no values), capped; ``describe`` gives the type part."""
    import types

    names = [n for n, v in namespace.items() if not n.startswith("_") and n not in hidden and n not in _SKIPPED_NAMES
             and not isinstance(v, types.ModuleType)]  # fmt: skip
    parts: list[str] = []
    size = 0
    for name in names[:MAX_VARIABLES]:
        part = f"{name}: {describe(namespace[name])}"
        if size + estimate_tokens(part) + 1 > VARIABLE_TOKENS:
            break
        parts.append(part)
        size += estimate_tokens(part) + 1
    more = len(names) - len(parts)
    return "; ".join(parts) + (f"; (+{more} more)" if more else "")


def changes(state: NotebookState, live: bool) -> list[CellChange]:
    """What the user did since the last turn's snapshot (the agent's own changes are in the snapshot)."""
    snapshot = state.last_turn
    if snapshot is None:
        return []
    before = {entry[0]: entry for entry in snapshot.cells}
    found: list[CellChange] = []
    for cell in state.cells:
        if cell.agent or cell.id == state.agent_cell_id:
            continue
        entry = before.get(cell.id)
        if entry is None:
            found.append(CellChange("added" if live else "ran", cell.id, cell.index, cell.first_line))
        elif entry[1] != source_sha(cell.source):
            found.append(CellChange("edited", cell.id, cell.index, cell.first_line, "was yours" if entry[2] else ""))
    present = {cell.id for cell in state.cells}
    found += [CellChange("deleted", cell_id) for cell_id, _, agent in snapshot.cells if cell_id not in present and not agent]
    return found


def changes_text(found: list[CellChange], ids: Mapping[str, str]) -> str:
    lines: list[str] = []
    size = 0
    for number, change in enumerate(found[:MAX_CHANGES]):
        where = f"{change.index + 1} " if change.index is not None else ""
        note = f" ({change.detail})" if change.detail else ""
        line = f"{change.kind} {where}{ids.get(change.cell_id, change.cell_id)}{note}"
        line = f"{line}: {one_line(change.first_line, 40)}" if change.first_line else line
        if size + estimate_tokens(line) > CHANGE_TOKENS:
            found = found[number:]
            break
        lines.append(line)
        size += estimate_tokens(line)
    else:
        found = found[MAX_CHANGES:]
    if found:
        lines.append(f"(+{len(found)} more changes)")
    return "\n".join(lines)


def build_context(state: NotebookState, notebook: Notebook, variables_text: str | None) -> str:
    """The block appended to the prompt; at most :data:`CONTEXT_TOKENS` estimated tokens."""
    ids = short_ids(state.cells)
    name = f" {state.name}" if state.name else ""
    head = [f"\n\n{OPEN_TAG}", f"## Notebook{name}: {len(state.cells)} cells. Line: position, id (tools take this prefix), "
            "[execution count], first line, → output or ! error; (agent): you wrote it.",
            _policy_note(notebook)]  # fmt: skip
    tail: list[str] = []
    if variables_text is not None:
        tail += ["## Kernel variables (type, shape; no values)", variables_text or "(none)"]
    found = changes(state, notebook.live)
    if found:
        tail += ["## Changed by the user since your last turn", changes_text(found, ids)]
    fixed = sum(estimate_tokens(part) + 1 for part in head + tail) + estimate_tokens(CLOSE_TAG)
    body = "\n".join(head[1:] + [outline(state, CONTEXT_TOKENS - fixed)] + tail)
    return "\n".join([head[0], _untagged(body), CLOSE_TAG])


def _untagged(text: str) -> str:
    """The notebook's own text cannot open or close the block."""
    return text.replace(OPEN_TAG, "<notebook-context >").replace(CLOSE_TAG, "</notebook-context >")


def _policy_note(notebook: Notebook) -> str:
    if not notebook.live:
        return f"Read-only: {notebook.why_not_live}. Your changes are shown to the user as proposals."
    return {
        "allow": "You may change any cell; each change is recorded in the notebook.",
        "review": "The user is asked to accept each change to a cell you did not write; yours change freely.",
    }.get(notebook.policy, "Cells you did not write cannot be changed in this run (not allowed); yours change freely.")
