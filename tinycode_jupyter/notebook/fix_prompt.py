"""The prompt of ``%agent fix``: which error to fix, and the cells the model needs to fix it where it starts.

The error (:func:`choose_error`): with ``--cell ID``, that cell's; else the newest one the kernel
recorded that is still there, else the last cell above the fix cell whose outputs show an error.
A recorded error is gone once its cell runs cleanly in the kernel, or once the notebook shows the
cell ran again (another execution count) without an error, as after the agent's ``run_cells``.

The cells (:func:`involved_cells`), in this order: the failing cell; each cell a frame of the
traceback ran in; then, for the functions in those frames, for a ``NameError``'s missing name
(and names close to it) and for the names on the failing line of a ``NameError`` or
``AttributeError``, the latest cell above the failing one that defines or assigns them.

Caps: the traceback :data:`TRACEBACK_CHARS` (head and tail kept: the cells' frames come first,
the error last), each cell's source :data:`CELL_CHARS`, all cells :data:`CELLS_CHARS` (cells past
it are named, not shown), at most :data:`MAX_CELLS` cells. With every cap reached the prompt is
about 12,800 characters: 3,750 tokens by tiktoken's ``o200k_base`` and ``cl100k_base``
(``bench/bench_fix_prompt.py``); the notebook context (:mod:`.context`) comes on top.
"""
from __future__ import annotations

import builtins
import difflib
import keyword
import re
from typing import Iterable, Protocol

from ..errors import TinyCodeError
from ..untrusted_text import code_block
from .base import CellInfo, NotebookState
from .cell_errors import CellError, Frame, cut, error_in_outputs
from .cell_index import CellIndex

TRACEBACK_CHARS = 4_000
CELL_CHARS = 2_500
CELLS_CHARS = 8_000
MAX_CELLS = 6
MAX_CLOSE_NAMES = 3
FAILING = "the failing cell"
_NAME_ERRORS = ("NameError", "UnboundLocalError")
_LOOKED_UP = _NAME_ERRORS + ("AttributeError",)
_QUOTED_NAME = re.compile(r"'([A-Za-z_]\w*)'")
_LINE_NAME = re.compile(r"(?<![.\w])([A-Za-z_]\w*)")
_COMMON_NAMES = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | {"self", "cls"}


class NothingToFix(TinyCodeError):
    """``%agent fix`` found no error to fix; the message says where it looked."""


class KernelErrors(Protocol):
    """What the kernel recorded (:class:`~tinycode_jupyter.jupyter.error_log.ErrorLog`)."""

    def latest(self) -> list[CellError]: ...

    def cell_id_of(self, count: int) -> str | None: ...


class _Cells:
    """The notebook's cells, looked up by id and by the execution that ran them."""

    def __init__(self, state: NotebookState, errors: KernelErrors) -> None:
        self.state = state
        self.errors = errors
        self.by_id = {cell.id: cell for cell in state.cells}

    def for_run(self, count: int | None, cell_id: str | None = None, error: CellError | None = None) -> CellInfo | None:
        """The cell that ran as ``In[count]``: by the id it ran with, its execution count, or (not in the
        notebook: ``index`` -1) the source the kernel ran."""
        for known in (cell_id, self.errors.cell_id_of(count) if count is not None else None):
            if known in self.by_id:
                return self.by_id[known]
        if count is None:
            return None
        counted = [cell for cell in self.state.cells if cell.execution_count == count]
        if counted:
            return counted[-1]
        source = error.source_of(count) if error is not None else None
        return CellInfo(f"In[{count}]", -1, "code", source, count) if source is not None else None

    def still_failing(self, error: CellError) -> bool:
        """Unless the notebook shows the cell ran again since (another execution count) without an error."""
        cell = self.by_id.get(error.cell_id or "")
        if cell is None or cell.execution_count in (None, error.execution_count):
            return True
        return error_in_outputs(cell.outputs, cell.id, cell.execution_count) is not None


def choose_error(state: NotebookState, errors: KernelErrors, cell: str | None = None) -> tuple[CellError, CellInfo | None]:
    """The error to fix and its cell (None: not in the notebook); :class:`NothingToFix`, or
    ``NotebookError`` ``unknown_cell`` for a ``cell`` id that matches no cell."""
    cells = _Cells(state, errors)
    if cell is not None:
        return _error_of_cell(cells, cell)
    for error in errors.latest():
        if cells.still_failing(error):
            return error, cells.for_run(error.execution_count, error.cell_id, error)
    shown = _shown_errors(state)
    if shown:
        return shown[-1], cells.by_id[shown[-1].cell_id or ""]
    raise NothingToFix("Nothing to fix: no cell has failed in this kernel since it started, and no cell in the "
                       "notebook shows an error.")  # fmt: skip


def _error_of_cell(cells: _Cells, given: str) -> tuple[CellError, CellInfo | None]:
    index = CellIndex()
    index.update(cells.state, complete=True)
    recorded = [e for e in cells.errors.latest() if e.cell_id == given]
    cell_id = index.lookup(given) or (given if recorded else None)
    if cell_id is None:
        index.resolve(given)  # raises, naming the closest ids
    cell = cells.by_id.get(str(cell_id))
    for error in cells.errors.latest():
        ran_in = cells.for_run(error.execution_count, error.cell_id, error)
        if ran_in is not None and ran_in.id == cell_id and cells.still_failing(error):
            return error, ran_in
    shown = error_in_outputs(cell.outputs, cell.id, cell.execution_count) if cell is not None else None
    if shown is None:
        raise NothingToFix(f"Nothing to fix: cell {cell_id} shows no error (its last run succeeded, or it has not run).")
    return shown, cell


def _shown_errors(state: NotebookState) -> list[CellError]:
    """Errors the cells' outputs show, in notebook order; those above the agent's cell when there are any."""
    above = next((c.index for c in state.cells if c.id == state.agent_cell_id), len(state.cells))
    found = [e for c in state.cells if (e := error_in_outputs(c.outputs, c.id, c.execution_count)) is not None]
    before = [e for e in found if _index_of(state, e.cell_id) < above]
    return before or found


def _index_of(state: NotebookState, cell_id: str | None) -> int:
    return next((c.index for c in state.cells if c.id == cell_id), -1)


# --- the cells involved -------------------------------------------------------------------------
def involved_cells(error: CellError, failing: CellInfo | None, state: NotebookState,
                   errors: KernelErrors) -> list[tuple[CellInfo, str]]:  # fmt: skip
    """``(cell, why it is shown)``, the failing cell first; at most :data:`MAX_CELLS`."""
    cells = _Cells(state, errors)
    chosen: dict[str, tuple[CellInfo, str]] = {}

    def add(cell: CellInfo | None, why: str) -> None:
        if cell is not None and cell.id not in chosen and len(chosen) < MAX_CELLS:
            chosen[cell.id] = (cell, why)

    add(failing, FAILING)
    frame_cells = [(frame, cells.for_run(frame.execution_count, error=error)) for frame in error.frames]
    for frame, cell in frame_cells:
        add(cell, f"in the traceback: {frame.function}, line {frame.lineno}")
    code = [c for c in state.cells if c.cell_type == "code"]
    bound = {c.id: bound_names(c.source) for c in code}
    for name in _names_involved(error, frame_cells, bound.values()):
        add(_definer(name, code, bound, failing), f"defines or assigns {name}")
    return list(chosen.values())


def _names_involved(error: CellError, frame_cells: list[tuple[Frame, CellInfo | None]],
                    bound: Iterable[set[str]]) -> list[str]:  # fmt: skip
    names = [frame.defined_name for frame in error.frames if frame.defined_name]
    if error.ename in _NAME_ERRORS:
        missing = _QUOTED_NAME.search(error.evalue)
        if missing:
            everything = set().union(*bound)
            names += [missing[1]] + difflib.get_close_matches(missing[1], sorted(everything), n=MAX_CLOSE_NAMES)
    if error.ename in _LOOKED_UP and error.frames:
        names += _names_on_line(error, frame_cells[-1][1])
    return list(dict.fromkeys(n for n in names if n not in _COMMON_NAMES))


def _names_on_line(error: CellError, cell: CellInfo | None) -> list[str]:
    """The names (not attributes) on the line the innermost cell frame failed at."""
    frame = error.frames[-1]
    source = error.source_of(frame.execution_count) or (cell.source if cell is not None else "")
    lines = source.splitlines()
    line = lines[frame.lineno - 1] if 0 < frame.lineno <= len(lines) else ""
    return _LINE_NAME.findall(line)


def bound_names(source: str) -> set[str]:
    """The names a cell's top level defines or assigns (IPython syntax turned into Python first); none if it does not parse."""
    from IPython.core.inputtransformer2 import TransformerManager

    from ..kernel_undo.names import step_names

    try:
        return step_names(TransformerManager().transform_cell(source)).bound
    except (SyntaxError, ValueError):
        return set()


def _definer(name: str, code: list[CellInfo], bound: dict[str, set[str]], failing: CellInfo | None) -> CellInfo | None:
    """The latest code cell above the failing one that binds ``name``; else the latest anywhere."""
    binding = [c for c in code if name in bound[c.id]]
    above = [c for c in binding if failing is None or failing.index < 0 or c.index < failing.index]
    found = above or binding
    return found[-1] if found else None


# --- the prompt ---------------------------------------------------------------------------------
def fix_prompt(error: CellError, involved: list[tuple[CellInfo, str]], instructions: str = "") -> str:
    """The task, the capped traceback and the involved cells' sources (within :data:`CELLS_CHARS`)."""
    failing = involved[0][0] if involved and involved[0][1] == FAILING else None
    where = f"cell {failing.id}" if failing is not None else f"In[{error.execution_count}]"
    parts = [f"Fix the error in {where}: {error.headline()}"]
    if instructions.strip():
        parts.append(f"The user adds: {instructions.strip()}")
    parts += [
        "Fix the cause where it starts: often a cell above defines a function or a name the failing cell uses. Change "
        "that cell with edit_cell (changes to cells you did not write are shown to the user for review), then re-run "
        "with run_cells the cells you changed and the cells after them that depend on them, up to the failing cell, "
        "until it runs without the error. Do not hide the error in the failing cell (no try/except around it, no "
        "stand-in definition there) when the cause is elsewhere. End by saying in a few sentences what you changed, "
        "in which cells, and what you ran.",
        "## Traceback (colours removed)",
        code_block(cut(error.traceback, TRACEBACK_CHARS), "text"),
        "## Cells involved (their source now)",
    ]
    used = 0
    left_out: list[str] = []
    for cell, why in involved:
        block = _cell_block(cell, why)
        if used + len(block) > CELLS_CHARS and used:
            left_out.append(f"{cell.id} ({why})")
            continue
        parts.append(block)
        used += len(block)
    if left_out:
        parts.append(f"[not shown, to keep this short; read_cells shows them: {', '.join(left_out)}]")
    return "\n\n".join(parts)


def _cell_block(cell: CellInfo, why: str) -> str:
    if cell.index < 0:
        place = f"In[{cell.execution_count}], not in the notebook now: the source as it ran"
    else:
        place = f"#{cell.index + 1}" + (f", In[{cell.execution_count}]" if cell.execution_count is not None else "")
    return f"### cell {cell.id} ({place}) · {why}\n{code_block(cut(cell.source, CELL_CHARS), 'python')}"

