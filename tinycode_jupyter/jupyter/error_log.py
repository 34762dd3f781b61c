"""The kernel's record of its cells' errors, for ``%agent fix`` and ``{Err[n]}``.

:class:`ErrorLog` is an IPython ``post_run_cell`` hook. For each execution it remembers the cell
id the frontend sent (``metadata.cellId``, kept by IPython as ``info.cell_id``); for each failed
one, the error: name, message, the traceback as the user saw it (no ANSI colours, capped) and
the frames that ran in cells, each mapped to its execution count through IPython's compiler (the
cell's file name) and to its source through :mod:`linecache`. No frame, local or exception object
is kept. A later successful run of the same cell forgets its errors.

Not recorded: interrupted cells, agent magic cells (``%agent``, ``%%agent``), and what runs while
an agent run is going on (its steps are the agent's, not the user's).
"""
from __future__ import annotations

import linecache
import sys
import traceback
from collections import OrderedDict
from typing import Any, Callable

from ..notebook.cell_errors import CellError, Frame, cut, plain

MAX_ERRORS = 50
MAX_CELL_IDS = 2000
TRACEBACK_KEEP_CHARS = 20_000
"""What is kept of one traceback (the prompt caps it again, smaller)."""
SOURCE_KEEP_CHARS = 20_000


class ErrorLog:
    """Errors by execution count, newest last; ``busy()`` true while an agent run is going on."""

    def __init__(self, shell: Any, busy: Callable[[], bool] = lambda: False) -> None:
        self.shell = shell
        self.busy = busy
        self.errors: OrderedDict[int, CellError] = OrderedDict()
        self.cell_ids: OrderedDict[int, str] = OrderedDict()

    def attach(self) -> None:
        self.shell.events.register("post_run_cell", self.post_run_cell)

    def detach(self) -> None:
        try:
            self.shell.events.unregister("post_run_cell", self.post_run_cell)
        except ValueError:
            pass  # not attached

    # --- the hook ---------------------------------------------------------------------------
    def post_run_cell(self, result: Any) -> None:
        info = getattr(result, "info", None)
        raw = str(getattr(info, "raw_cell", "") or "")
        count = result.execution_count
        if self.busy() or raw.lstrip().startswith("%agent") or raw.lstrip().startswith("%%agent") or count is None:
            return
        cell_id = getattr(info, "cell_id", None)
        if isinstance(cell_id, str) and cell_id:
            _put(self.cell_ids, count, cell_id, MAX_CELL_IDS)
        exc = result.error_in_exec or result.error_before_exec
        if isinstance(exc, KeyboardInterrupt):
            return  # the user stopped it: nothing to fix
        if exc is None:
            self._forget_cell(cell_id if isinstance(cell_id, str) else None, raw)
            return
        _put(self.errors, count, self._record(exc, count, cell_id if isinstance(cell_id, str) else None), MAX_ERRORS)

    def _record(self, exc: BaseException, count: int, cell_id: str | None) -> CellError:
        frames, files = self._cell_frames(exc)
        sources = tuple((n, cut("".join(linecache.getlines(name)), SOURCE_KEEP_CHARS)) for n, name in files.items())
        return CellError(type(exc).__name__, str(exc), cut(self._traceback_text(exc), TRACEBACK_KEEP_CHARS), count,
                         cell_id, tuple(frames), sources)  # fmt: skip

    def _traceback_text(self, exc: BaseException) -> str:
        """What the kernel showed (ipykernel keeps it), else the standard formatting."""
        shown = getattr(self.shell, "_last_traceback", None)
        if shown and getattr(sys, "last_value", None) is exc:
            return plain(shown)
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))

    def _cell_frames(self, exc: BaseException) -> tuple[list[Frame], dict[int, str]]:
        """The traceback's frames that ran in cells (execution count from the compiler's file names), and each
        cell's file name."""
        numbers = getattr(self.shell.compile, "_filename_map", {})
        frames: list[Frame] = []
        files: dict[int, str] = {}
        tb = exc.__traceback__
        while tb is not None:
            code = tb.tb_frame.f_code
            count = numbers.get(code.co_filename)
            if isinstance(count, int):
                frames.append(Frame(count, tb.tb_lineno, getattr(code, "co_qualname", code.co_name)))
                files.setdefault(count, code.co_filename)
            tb = tb.tb_next
        return frames, files

    def _forget_cell(self, cell_id: str | None, raw: str) -> None:
        """A cell ran cleanly: its earlier errors are fixed (matched by id, or by source without one)."""
        for count, error in list(self.errors.items()):
            same = error.cell_id == cell_id if cell_id else error.cell_id is None and self._raw(count) == raw
            if same:
                del self.errors[count]

    def _raw(self, count: int) -> str | None:
        inputs = self.shell.history_manager.input_hist_raw
        return inputs[count] if 0 < count < len(inputs) else None

    # --- reading ---------------------------------------------------------------------------
    def latest(self) -> list[CellError]:
        """The recorded errors, newest first."""
        return list(reversed(self.errors.values()))

    def by_count(self, count: int) -> CellError | None:
        return self.errors.get(count)

    def cell_id_of(self, count: int) -> str | None:
        return self.cell_ids.get(count)


def _put(mapping: OrderedDict[int, Any], key: int, value: Any, limit: int) -> None:
    mapping[key] = value
    mapping.move_to_end(key)
    while len(mapping) > limit:
        mapping.popitem(last=False)

