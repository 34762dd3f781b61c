/**
 * Links from the chat to the cells a run wrote: a click shows the notebook, scrolls to the
 * cell and selects it.
 */
import type { JupyterFrontEnd } from '@jupyterlab/application';
import type { NotebookPanel } from '@jupyterlab/notebook';

/** How long (ms) a revealed cell is highlighted. */
const FLASH_MS = 1200;

/** Show `panel`, select the cell with id `cellId` and scroll it into view; false when it is gone. */
export function revealCell(shell: JupyterFrontEnd.IShell, panel: NotebookPanel, cellId: string): boolean {
  const notebook = panel.content;
  const index = notebook.widgets.findIndex(cell => cell.model.id === cellId);
  if (index < 0) {
    return false;
  }
  shell.activateById(panel.id);
  notebook.mode = 'command';
  notebook.activeCellIndex = index;
  notebook.deselectAll();
  const cell = notebook.widgets[index];
  void notebook.scrollToCell(cell, 'center');
  cell.addClass('jp-tinycode-revealed');
  window.setTimeout(() => cell.removeClass('jp-tinycode-revealed'), FLASH_MS);
  return true;
}

/** A small link-styled button; `onClick` gets the button (to say when the cell is gone). */
export function cellLink(label: string, title: string, onClick: (link: HTMLButtonElement) => void): HTMLButtonElement {
  const link = document.createElement('button');
  link.type = 'button';
  link.className = 'jp-tinycode-cell-link';
  link.textContent = label;
  link.title = title;
  link.addEventListener('click', () => onClick(link));
  return link;
}
