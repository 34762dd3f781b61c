"""Drive a notebook in JupyterLab or Notebook 7 the way a user does: click, type, run, save.

``window.jupyterapp`` (exposed by the test server) is only read to wait: for the
kernel to be idle, for a save to finish. Every change goes through keyboard and mouse.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
CELLS = f"{PANEL} .jp-Notebook .jp-Cell"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
]
KERNEL_IDLE_JS = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session
    && panel.sessionContext.session.kernel;
  return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle'
    && !!document.querySelector('%s');
}""" % CELLS
KERNEL_ID_JS = "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.id"
CELLS_JS = """(selector) => [...document.querySelectorAll(selector)].map(cell => ({
  type: cell.classList.contains('jp-CodeCell') ? 'code'
      : cell.classList.contains('jp-MarkdownCell') ? 'markdown' : 'raw',
  source: [...cell.querySelectorAll('.jp-InputArea-editor .cm-line')].map(l => l.textContent).join('\\n'),
  rendered: cell.querySelector('.jp-RenderedMarkdown') ? cell.querySelector('.jp-RenderedMarkdown').innerText.trim() : null,
  outputs: [...cell.querySelectorAll('.jp-OutputArea-output')].map(o => o.innerText.trim()),
  prompt: (cell.querySelector('.jp-InputPrompt') || {textContent: ''}).textContent.trim(),
}))"""


def open_notebook(page: Page, url: str, timeout_ms: float = 60_000) -> None:
    """Open a notebook URL and wait until its cells are shown and its kernel is idle."""
    page.goto(url)
    page.wait_for_selector(PANEL, timeout=timeout_ms)
    page.wait_for_function(KERNEL_IDLE_JS, timeout=timeout_ms)


def cell(page: Page, index: int) -> Locator:
    return page.locator(CELLS).nth(index)


def cells(page: Page) -> list[dict[str, Any]]:
    """What the user sees: each cell's type, source, rendered markdown, outputs and prompt."""
    return page.evaluate(CELLS_JS, CELLS)


def edit_cell(page: Page, index: int) -> None:
    """Put the cell at ``index`` in edit mode with the cursor in its editor."""
    cell(page, index).locator(".jp-InputArea-editor").click()


def set_cell_source(page: Page, index: int, source: str) -> None:
    """Replace a cell's source as if typed (no auto-indent or bracket closing)."""
    edit_cell(page, index)
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.insert_text(source)


def prompt_text(page: Page, index: int) -> str:
    """The cell's input prompt as shown: ``[ ]:``, ``[*]:`` while it runs, ``[3]:`` after."""
    return (cell(page, index).locator(".jp-InputPrompt").text_content() or "").strip()


def start_cell(page: Page, index: int) -> str:
    """Run the cell at ``index`` in place (Ctrl+Enter) without waiting for it; return its prompt before."""
    before = prompt_text(page, index)
    edit_cell(page, index)
    page.keyboard.press("Control+Enter")
    return before


def wait_for_cell(page: Page, index: int, before: str, timeout_ms: float = 60_000) -> str:
    """Wait until the cell started by :func:`start_cell` has finished and the kernel is idle; return its prompt."""
    prompt = cell(page, index).locator(".jp-InputPrompt")
    page.wait_for_function(
        """([el, before]) => /^\\[\\d+\\]:$/.test(el.textContent.trim()) && el.textContent.trim() !== before""",
        arg=[prompt.element_handle(), before],
        timeout=timeout_ms,
    )
    page.wait_for_function(KERNEL_IDLE_JS, timeout=timeout_ms)
    return prompt_text(page, index)


def run_cell(page: Page, index: int, timeout_ms: float = 60_000) -> str:
    """Run the cell at ``index`` in place; wait until it has finished; return its prompt."""
    return wait_for_cell(page, index, start_cell(page, index), timeout_ms)


def add_cell_below(page: Page, index: int, source: str) -> None:
    """Select the cell at ``index``, insert a code cell below it (B) and type ``source``."""
    cell(page, index).locator(".jp-InputPrompt").click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.insert_text(source)
    page.keyboard.press("Escape")


def run_cell_and_wait(page: Page, source: str, timeout_ms: float = 60_000) -> int:
    """Append a code cell with ``source`` at the end, run it, wait for it; return its index."""
    last = page.locator(CELLS).count() - 1
    add_cell_below(page, last, source)
    run_cell(page, last + 1, timeout_ms)
    return last + 1


def save(page: Page, timeout_ms: float = 15_000) -> None:
    """Save with Ctrl+S and wait until the document is no longer dirty."""
    page.locator(PANEL).locator(".jp-Notebook").focus()
    page.keyboard.press("Escape")
    page.keyboard.press("ControlOrMeta+s")
    page.wait_for_function(
        "() => { const w = window.jupyterapp.shell.currentWidget;"
        " return !!w && !!w.context && !w.context.model.dirty; }",
        timeout=timeout_ms,
    )


def wait_for_cells(page: Page, count: int, timeout_ms: float = 30_000) -> list[dict[str, Any]]:
    """Wait until the notebook shows ``count`` cells; return them (see :func:`cells`)."""
    page.wait_for_function(
        "([selector, count]) => document.querySelectorAll(selector).length === count",
        arg=[CELLS, count],
        timeout=timeout_ms,
    )
    return cells(page)


def wait_for_output(page: Page, text: str, present: bool = True, timeout_ms: float = 30_000) -> None:
    """Wait until some cell output contains ``text`` (or, with ``present=False``, none does)."""
    page.wait_for_function(
        """([selector, text, present]) => present === [...document.querySelectorAll(selector)]
             .some(o => o.innerText.includes(text))""",
        arg=[f"{CELLS} .jp-OutputArea-output", text, present],
        timeout=timeout_ms,
    )


def agent_source(model_server: Any, prompt: str) -> str:
    """An ``%%agent`` cell asking the scripted server's model."""
    return f"%%agent --model openai/scripted --api-base {model_server.url}\n{prompt}"


BADGE = ".jp-tinycode-badge-button"
PROVENANCE_POPOVER = ".jp-tinycode-provenance"
BADGES_JS = """([selector, badge]) => [...document.querySelectorAll(selector)]
  .map(cell => { const b = cell.querySelector(badge); return b ? b.textContent : null; })"""


def wait_for_badges(page: Page, expected: list[str | None], timeout_ms: float = 30_000) -> None:
    """Wait until the cells show exactly the provenance badges ``expected``: each cell's badge text, None for none."""
    page.wait_for_function(
        f"([selector, badge, expected]) => JSON.stringify(({BADGES_JS})([selector, badge])) === JSON.stringify(expected)",
        arg=[CELLS, BADGE, expected],
        timeout=timeout_ms,
    )


def open_provenance(page: Page, index: int) -> Locator:
    """Click the badge of the cell at ``index``; return its popover once shown."""
    cell(page, index).locator(BADGE).click()
    popover = page.locator(PROVENANCE_POPOVER)
    popover.wait_for()
    return popover


PANEL_IDLE_JS = """(path) => [...window.jupyterapp.shell.widgets('main')].some(w => {
  const kernel = w.context && w.context.path === path && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle';
})"""


def show_notebook(page: Page, name: str) -> None:
    """Make the notebook ``name`` the active tab in JupyterLab: its tab if it is open, else open it from the file browser."""
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=name)
    if tab.count():
        tab.click()
    else:
        page.locator(".jp-DirListing-content").get_by_text(name, exact=True).dblclick()
    page.wait_for_function("(name) => window.jupyterapp.shell.currentWidget.context.path === name", arg=name)
    page.locator(CELLS).first.wait_for()


def wait_for_idle(page: Page, name: str, timeout_ms: float = 60_000) -> None:
    """Wait until the kernel of the open notebook ``name`` (active or not) is idle."""
    page.wait_for_function(PANEL_IDLE_JS, arg=name, timeout=timeout_ms)
