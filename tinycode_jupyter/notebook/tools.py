"""The five notebook tools: read_cells, insert_cell, edit_cell, delete_cell, run_cells.

Each declares its effects and its looks: reading declares none; insert, edit and delete declare
``edits_cell`` (target: the cell's id, None for a new cell); run_cells declares ``runs_python``
for each cell with the source the policy checks read, and runs only that source. edit_cell's
view is a unified diff of the cell's source, delete_cell's the source it removes. Where the
notebook is read-only the change is only proposed: the result shows the diff and says why.
:class:`UserCellGuard` refuses changes to the user's cells when the notebook's owner allows none.
"""
from __future__ import annotations

import difflib
import functools
import re
from typing import Any, Awaitable, Callable

from ..actions import Action, Interceptor
from ..events import Deny
from ..images import MAX_IMAGES, image_url
from ..jupyter.cells import outputs_for
from ..providers.base import Provider
from ..tools.base import Tool, ToolResult
from ..tools.effects import ActionView, Effect
from ..tools.render import render_exec_result
from .base import CELL_TYPES, CellInfo, CellType, Notebook, NotebookError, NotebookReadOnly, RunInfo
from .cell_index import CellIndex

READ_CHARS = 10_000
"""What read_cells returns at most (the pipeline's truncation keeps head and tail of more)."""
OUTPUT_CHARS = 2_000
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def source_diff(cell_id: str, old: str, new: str) -> str:
    lines = difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/cell {cell_id}", f"b/cell {cell_id}")
    text = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of cell\n" for line in lines)
    return text or f"(no change to cell {cell_id})\n"


def outputs_text(outputs: tuple[dict[str, Any], ...], limit: int = OUTPUT_CHARS, images: list[str] | None = None) -> str:
    """A cell's outputs as the model reads them: text, images named, errors with the traceback's tail.

    With ``images`` (a model that reads them), raster images are appended to it, up to
    :data:`~tinycode_jupyter.images.MAX_IMAGES`, and the text says which one each is.
    """
    parts: list[str] = []
    for output in outputs:
        kind, data = output.get("output_type"), output.get("data") or {}
        if kind == "stream":
            parts.append(_joined(output.get("text")))
        elif kind == "error":
            traceback = _ANSI.sub("", "\n".join(_joined(line) for line in output.get("traceback") or []))
            parts.append(traceback or f"{output.get('ename')}: {output.get('evalue')}")
        else:
            parts += [_image_part(mime, data[mime], images) for mime in sorted(data) if mime.startswith("image/")]
            if "text/plain" in data:
                parts.append(_joined(data["text/plain"]))
    text = "\n".join(part.rstrip("\n") for part in parts if part)
    return text if len(text) <= limit else f"{text[: limit // 2]}\n[… {len(text) - limit} characters cut …]\n{text[-limit // 2:]}"


def _image_part(mime: str, data: Any, images: list[str] | None) -> str:
    """The text that stands for one image; the image itself goes to ``images`` when the model reads them."""
    if images is None:
        return f"[{mime} output]"
    url = image_url(mime, data) if len(images) < MAX_IMAGES else None
    if url is None:
        return f"[{mime} output, not attached: not a raster image under the size cap, or over {MAX_IMAGES} images]"
    images.append(url)
    return f"[{mime} output: attached as image {len(images)}]"


def _precise(func: Callable[..., Awaitable[ToolResult]]) -> Callable[..., Awaitable[ToolResult]]:
    """A notebook error (unknown id, conflict, refusal) becomes the model's result, as the notebook said it."""

    @functools.wraps(func)
    async def call(**arguments: Any) -> ToolResult:
        try:
            return await func(**arguments)
        except NotebookError as exc:
            return ToolResult(f"Error: {exc}", ok=False)

    return call


def _joined(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


class CellTools:
    """The tools of one run, on ``notebook``; code runs through ``provider`` (the agent's)."""

    def __init__(self, notebook: Notebook, provider: Provider, index: CellIndex, run: RunInfo,
                 timeout: float | None = 600.0, vision: bool = False) -> None:  # fmt: skip
        self.notebook = notebook
        self.vision = vision
        """Pass the cells' images to the model (it reads them)."""
        self.provider = provider
        self.index = index
        self.run = run
        self.timeout = timeout

    def tools(self) -> list[Tool]:
        made = [self._read_cells(), self._insert_cell(), self._edit_cell(), self._delete_cell(), self._run_cells()]
        for item in made:
            item.builtin = True
        return made

    # --- helpers ----------------------------------------------------------------------------
    def _target(self, given: Any) -> str:
        """The full id for effects and views (sync: from what the run has seen)."""
        return self.index.lookup(str(given)) or str(given)

    def _label(self, cell: CellInfo) -> str:
        owner = "the agent's" if cell.agent else "the user's"
        return f"cell {cell.id} (#{cell.index + 1}, {cell.cell_type}, {owner})"

    async def _fresh(self, given: str) -> CellInfo:
        """The cell as it is now; an unknown id refreshes the index once before it is an error."""
        cell_id = self.index.lookup(given)
        if cell_id is None:
            self.index.update(await self.notebook.state(), complete=True)
            cell_id = self.index.resolve(given)
        state = await self.notebook.state([cell_id])
        if not state.cells:
            self.index.update(await self.notebook.state(), complete=True)
            raise NotebookError("unknown_cell", f"cell {cell_id} is no longer in the notebook. {self.index.nearby(given)}")
        self.index.update(state, complete=False)
        return state.cells[0]

    def _cached_source(self, given: Any) -> str:
        cell = self.index.cells.get(self._target(given))
        return cell.source if cell is not None else ""

    # --- read_cells ----------------------------------------------------------------------------
    def _read_cells(self) -> Tool:
        @_precise
        async def read_cells(cell_ids: list[str] | None = None) -> ToolResult:
            """Read cells: source, outputs, execution count, and whether you wrote them.

            Args:
                cell_ids: Ids (or unique prefixes) to read; omit to read every cell (capped).
            """
            if cell_ids is None:
                state = await self.notebook.state()
                self.index.update(state, complete=True)
                cells = list(state.cells)
            else:
                cells = sorted([await self._fresh(str(given)) for given in cell_ids], key=lambda c: c.index)
            images: list[str] | None = [] if self.vision else None
            return ToolResult(self._render(cells, images), images=tuple(images or ()))

        return Tool.from_function(read_cells, effects=[], view=lambda a: ActionView("Read cells", str(a.get("cell_ids") or "all"), "text"))

    def _render(self, cells: list[CellInfo], images: list[str] | None) -> str:
        parts: list[str] = []
        size = 0
        for number, cell in enumerate(cells):
            count = f" [{cell.execution_count}]" if cell.execution_count is not None else ""
            header = f"── {self._label(cell)}{count}{' · this agent cell (you)' if cell.id == self.index.agent_cell_id else ''} ──"
            body = cell.source if cell.source else "(empty)"
            outputs = outputs_text(cell.outputs, images=images) if cell.cell_type == "code" else ""
            part = f"{header}\n{body}" + (f"\n[outputs]\n{outputs}" if outputs else "")
            if size + len(part) > READ_CHARS and parts:
                rest = ", ".join(c.id for c in cells[number:number + 20])
                parts.append(f"[{len(cells) - number} more cells not shown: read them by id, e.g. {rest}]")
                break
            parts.append(part)
            size += len(part)
        return "\n\n".join(parts) if parts else "[no cells]"

    # --- insert_cell -------------------------------------------------------------------------------
    def _insert_cell(self) -> Tool:
        @_precise
        async def insert_cell(source: str, cell_type: CellType = "code", after_cell_id: str | None = None) -> ToolResult:
            """Insert a new cell; returns its id. It is not run (use run_cells).

            Args:
                source: The cell's source.
                cell_type: code, markdown or raw.
                after_cell_id: Insert below this cell; omit to insert below your own cells.
            """
            if cell_type not in CELL_TYPES:
                return ToolResult(f"Error: cell_type must be one of {', '.join(CELL_TYPES)}", ok=False)
            after = (await self._fresh(after_cell_id)).id if after_cell_id is not None else self._below_agent_cells()
            try:
                cell = await self.notebook.insert(source, cell_type, after, self.run)
            except NotebookReadOnly as exc:
                return _proposed(exc, f"a new {cell_type} cell below {after or 'the top'}:\n{source}")
            self.index.inserted(cell)
            return ToolResult(f"Inserted {cell.cell_type} cell {cell.id} at #{cell.index + 1}.", value=cell.id)

        def view(arguments: dict[str, Any]) -> ActionView:
            after = arguments.get("after_cell_id")
            cell_type = str(arguments.get("cell_type") or "code")
            where = f"below cell {self._target(after)}" if after else "below the agent's cells"
            return ActionView(f"Insert a {cell_type} cell?", str(arguments["source"]), "python" if cell_type == "code" else "text",
                              subtitle=where)  # fmt: skip

        return Tool.from_function(insert_cell, effects=lambda a: [Effect("edits_cell", payload=str(a["source"]))], view=view)

    def _below_agent_cells(self) -> str | None:
        """The last of the agent cell and the agent's cells right below it (None: the notebook's end, or top if empty)."""
        ordered = self.index.ordered()
        anchor = next((i for i, c in enumerate(ordered) if c.id == self.index.agent_cell_id), None)
        if anchor is None:
            return ordered[-1].id if ordered else None
        last = anchor
        while last + 1 < len(ordered) and ordered[last + 1].agent:
            last += 1
        return ordered[last].id

    # --- edit_cell ---------------------------------------------------------------------------------
    def _edit_cell(self) -> Tool:
        @_precise
        async def edit_cell(cell_id: str, new_source: str, old_source: str | None = None) -> ToolResult:
            """Change a cell's source: all of it, or exactly one occurrence of old_source.

            Args:
                cell_id: The cell's id (or a unique prefix).
                new_source: The new source, or what replaces old_source.
                old_source: Text that occurs exactly once in the cell; omit to replace the whole source.
            """
            cell = await self._fresh(cell_id)
            new = _replaced(cell, new_source, old_source)
            diff = source_diff(cell.id, cell.source, new)
            try:
                changed = await self.notebook.edit(cell.id, new, cell.source, self.run)
            except NotebookReadOnly as exc:
                return _proposed(exc, diff)
            self.index.put(changed)
            return ToolResult(f"Edited {self._label(changed)}; the previous source is recorded in the notebook.\n{diff}")

        def view(arguments: dict[str, Any]) -> ActionView:
            target = self._target(arguments["cell_id"])
            old = self._cached_source(target)
            old_part, new_part = arguments.get("old_source"), str(arguments["new_source"])
            new = old.replace(str(old_part), new_part, 1) if old_part is not None else new_part
            return ActionView(f"Edit cell {target}?", source_diff(target, old, new), "diff", subtitle=f"cell {target}")

        async def preview(arguments: dict[str, Any]) -> ActionView:
            cell = await self._fresh(str(arguments["cell_id"]))
            notes: tuple[str, ...] = ()
            try:
                new = _replaced(cell, str(arguments["new_source"]), arguments.get("old_source"))
            except NotebookError as exc:
                new, notes = cell.source, (f"the edit would fail: {exc}",)
            return ActionView(f"Edit {self._label(cell)}?", source_diff(cell.id, cell.source, new), "diff",
                              subtitle=f"cell {cell.id}", notes=notes)  # fmt: skip

        tool = Tool.from_function(edit_cell, effects=lambda a: [Effect("edits_cell", target=self._target(a["cell_id"]))], view=view)
        tool.preview = preview
        return tool

    # --- delete_cell ---------------------------------------------------------------------------------
    def _delete_cell(self) -> Tool:
        @_precise
        async def delete_cell(cell_id: str) -> ToolResult:
            """Delete a cell (it is kept in the notebook's metadata and can be restored).

            Args:
                cell_id: The cell's id (or a unique prefix).
            """
            cell = await self._fresh(cell_id)
            try:
                removed = await self.notebook.delete(cell.id, cell.source, self.run)
            except NotebookReadOnly as exc:
                return _proposed(exc, f"delete {self._label(cell)}, whose source is:\n{cell.source}")
            self.index.removed(removed)
            return ToolResult(f"Deleted {self._label(removed)}; it is kept in the notebook's metadata and can be restored.")

        def view(arguments: dict[str, Any]) -> ActionView:
            target = self._target(arguments["cell_id"])
            return ActionView(f"Delete cell {target}?", self._cached_source(target) or "(empty)", "python", subtitle=f"cell {target}")

        return Tool.from_function(delete_cell, effects=lambda a: [Effect("edits_cell", target=self._target(a["cell_id"]))], view=view)

    # --- run_cells -------------------------------------------------------------------------------------
    def _run_cells(self) -> Tool:
        @_precise
        async def run_cells(cell_ids: list[str]) -> ToolResult:
            """Run cells in notebook order, as Shift+Enter would; their outputs are saved in the cells. Stops at the first error.

            Args:
                cell_ids: Ids (or unique prefixes) of the cells to run.
            """
            checked = {self._target(given): self._cached_source(given) for given in cell_ids}
            fresh = {cell.id: cell for cell in [await self._fresh(str(given)) for given in cell_ids]}
            cells = sorted(fresh.values(), key=lambda c: c.index)
            problem = self._cannot_run(cells, checked)
            if problem:
                return ToolResult(f"Error: {problem}; nothing was run.", ok=False)
            return await self._run_in_order(cells)

        def effects(arguments: dict[str, Any]) -> list[Effect]:
            ids = [self._target(given) for given in arguments["cell_ids"]]
            return [Effect("runs_python", target=cell_id, payload=self._cached_source(cell_id)) for cell_id in ids]

        def view(arguments: dict[str, Any]) -> ActionView:
            ids = [self._target(given) for given in arguments["cell_ids"]]
            body = "\n\n".join(f"# ── cell {cell_id} ──\n{self._cached_source(cell_id)}" for cell_id in ids)
            return ActionView(f"Run {len(ids)} cell(s)?", body, "python")

        return Tool.from_function(run_cells, effects=effects, view=view)

    def _cannot_run(self, cells: list[CellInfo], checked: dict[str, str]) -> str:
        for cell in cells:
            if cell.id == self.index.agent_cell_id:
                return f"cell {cell.id} is the agent cell running you; it cannot run itself"
            if checked.get(cell.id) != cell.source:
                return (f"cell {cell.id} changed after this call was checked (someone edited it); "
                        "call run_cells again to run its current source")  # fmt: skip
        return ""

    async def _run_in_order(self, cells: list[CellInfo]) -> ToolResult:
        parts: list[str] = []
        notes: list[str] = []
        ok = True
        for position, cell in enumerate(cells):
            if cell.cell_type != "code":
                parts.append(f"── {self._label(cell)} ──\n[{cell.cell_type}: nothing to run]")
                continue
            result = await self.provider.run_python(cell.source, timeout=self.timeout, as_cell=True)
            parts.append(f"── {self._label(cell)} ──\n{render_exec_result(result)}")
            try:
                await self.notebook.save_outputs(cell.id, outputs_for(result), result.execution_count, self.run)
            except NotebookReadOnly as exc:
                notes = [f"[outputs not saved in the cells: {exc}]"]
            if not result.ok:
                ok = False
                rest = [c.id for c in cells[position + 1:]]
                parts += [f"[stopped at the error; not run: {', '.join(rest)}]"] if rest else []
                break
        if not self.provider.capabilities.shares_user_namespace:
            notes.append(f"[ran in the {self.provider.name} provider, not in the kernel: the kernel's variables are not there]")
        return ToolResult("\n\n".join(parts + notes), ok=ok)


def _replaced(cell: CellInfo, new_source: str, old_source: str | None) -> str:
    """The cell's new source; old_source must occur exactly once."""
    if old_source is None:
        return new_source
    found = cell.source.count(old_source) if old_source else 0
    if found == 1:
        return cell.source.replace(old_source, new_source, 1)
    shown = old_source if len(old_source) <= 80 else old_source[:77] + "..."
    if found == 0:
        start = cell.source[:120] + ("…" if len(cell.source) > 120 else "")
        raise NotebookError("bad_request", f"old_source {shown!r} does not occur in cell {cell.id}; nothing was changed. "
                            f"The cell's source begins: {start!r}")  # fmt: skip
    raise NotebookError("bad_request", f"old_source {shown!r} occurs {found} times in cell {cell.id}; give more of the "
                        "surrounding text so it occurs exactly once. Nothing was changed.")  # fmt: skip


def _proposed(exc: NotebookReadOnly, change: str) -> ToolResult:
    return ToolResult(f"Not applied: {exc}. The proposed change, shown to the user:\n{change}", ok=False)


class UserCellGuard(Interceptor):
    """Denies edits and deletes of the user's cells when the notebook's owner allows none (headless without
    ``--allow-edits``); the agent's own cells, and notebooks that ask the user (review), pass."""

    def __init__(self, notebook: Notebook, index: CellIndex) -> None:
        self.notebook = notebook
        self.index = index

    async def intercept(self, action: Action) -> Deny | None:
        if self.notebook.policy != "deny":
            return None
        for effect in action.effects:
            cell = self.index.cells.get(effect.target or "") if effect.kind == "edits_cell" else None
            if cell is not None and not cell.agent:
                return Deny(f"cell {cell.id} (#{cell.index + 1}) was written by the user: changing it needs the user's "
                            "approval, which this run does not have (tinycode run gives it with --allow-edits). The cell "
                            "was not changed. Suggest the change in your answer, or put it in a new cell.")  # fmt: skip
        return None
