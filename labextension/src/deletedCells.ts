/**
 * Where the agent deleted a cell, a bar says so and restores it in one click.
 *
 * The bars are drawn from the notebook's `metadata.tinycode.deleted` (what the saved file keeps;
 * no placeholder cell is ever in the notebook): each entry shows below the cell it followed
 * (`after_cell_id`), above the first cell when it was the first, or below the last cell when the
 * one it followed is gone too. An entry whose cell is in the notebook again (the user undid the
 * deletion) shows nothing. Restore puts the cell back there as it was (id, source, outputs,
 * metadata; never trusted) and drops its entry, in one undo step.
 */
import type * as nbformat from '@jupyterlab/nbformat';
import type { NotebookPanel } from '@jupyterlab/notebook';
import type { PartialJSONObject } from '@lumino/coreutils';

import { barButton, CellWidget, IBarSpec, watchCellBars } from './cellBars';
import { notebookTag, oneStep, SharedNotebook } from './notebookCells';
import { isObject } from './notebookProtocol';
import { METADATA_KEY } from './protocol';

interface IDeleted {
  run_id: string;
  after_cell_id: string | null;
  cell: nbformat.ICell;
}

/** Where an entry shows: the host cell's id, and whether above it (only for the notebook's first cell). */
interface IPlace {
  hostId: string;
  above: boolean;
}

function isDeleted(entry: unknown): entry is IDeleted {
  return (
    isObject(entry) &&
    typeof entry.run_id === 'string' &&
    (entry.after_cell_id === null || typeof entry.after_cell_id === 'string') &&
    isObject(entry.cell) &&
    ['code', 'markdown', 'raw'].includes(entry.cell.cell_type as string)
  );
}

function entries(notebook: SharedNotebook): unknown[] {
  const deleted = notebookTag(notebook).deleted;
  return Array.isArray(deleted) ? deleted : [];
}

function placeOf(notebook: SharedNotebook, entry: IDeleted): IPlace | null {
  const ids = notebook.cells.map(cell => cell.id);
  if (ids.length === 0 || (typeof entry.cell.id === 'string' && ids.includes(entry.cell.id))) {
    return null;
  }
  if (entry.after_cell_id === null) {
    return { hostId: ids[0], above: true };
  }
  return { hostId: ids.includes(entry.after_cell_id) ? entry.after_cell_id : ids[ids.length - 1], above: false };
}

function firstLine(cell: nbformat.ICell): string {
  const source = Array.isArray(cell.source) ? cell.source.join('') : String(cell.source ?? '');
  const line = source.split('\n').find(l => l.trim() !== '') ?? '';
  return line.length > 60 ? `${line.slice(0, 57)}…` : line;
}

/** Put the deleted cell back where its bar shows, as it was, and drop its entry (one undo step). */
export function restoreDeleted(notebook: SharedNotebook, entry: IDeleted): void {
  const all = entries(notebook);
  const stored = JSON.stringify(entry);
  const at = all.findIndex(e => JSON.stringify(e) === stored);
  const place = placeOf(notebook, entry);
  if (at < 0 || place === null) {
    return; // restored or reverted meanwhile
  }
  const cell = JSON.parse(stored).cell as nbformat.ICell;
  cell.source = Array.isArray(cell.source) ? cell.source.join('') : String(cell.source ?? '');
  cell.metadata = isObject(cell.metadata) ? cell.metadata : {};
  delete cell.metadata.trusted; // a restored output runs no script
  const host = notebook.cells.findIndex(c => c.id === place.hostId);
  const rest: Record<string, unknown> = { ...notebookTag(notebook), deleted: all.filter((_, i) => i !== at) };
  if ((rest.deleted as unknown[]).length === 0) {
    delete rest.deleted;
  }
  oneStep(notebook, () => {
    notebook.insertCell(place.above ? host : host + 1, cell);
    if (Object.keys(rest).length > 0) {
      notebook.setMetadata(METADATA_KEY, rest as PartialJSONObject);
    } else {
      notebook.deleteMetadata(METADATA_KEY);
    }
  });
}

function row(notebook: SharedNotebook, entry: IDeleted): HTMLElement {
  const node = document.createElement('div');
  node.className = 'jp-tinycode-deleted-row';
  const label = document.createElement('span');
  label.className = 'jp-tinycode-deleted-label';
  label.textContent = `Cell deleted by the agent (run ${entry.run_id.slice(0, 8)})`;
  const source = document.createElement('code');
  source.className = 'jp-tinycode-deleted-source';
  source.textContent = firstLine(entry.cell);
  const restore = barButton('Restore', 'Put the cell back here, as it was', () => restoreDeleted(notebook, entry));
  restore.classList.add('jp-tinycode-restore');
  node.append(label, source, restore);
  return node;
}

/** The entries to show, by `above:hostId`. */
function placementsOf(notebook: SharedNotebook): Map<string, IDeleted[]> {
  const found = new Map<string, IDeleted[]>();
  for (const entry of entries(notebook).filter(isDeleted)) {
    const place = placeOf(notebook, entry);
    if (place !== null) {
      const key = `${place.above}:${place.hostId}`;
      found.set(key, [...(found.get(key) ?? []), entry]);
    }
  }
  return found;
}

/** Show the bars of the panel's deleted cells: one bar below a cell, one above the first cell. */
export function watchDeletedCells(panel: NotebookPanel): void {
  let placed: Map<string, IDeleted[]> | null = null;
  const placements = (notebook: SharedNotebook): Map<string, IDeleted[]> => {
    if (placed === null) {
      placed = placementsOf(notebook);
      queueMicrotask(() => (placed = null)); // computed once per update of all the cells' bars
    }
    return placed;
  };
  for (const above of [false, true]) {
    watchCellBars(panel, above ? 'jp-tinycode-deleted-above' : 'jp-tinycode-deleted', (cell: CellWidget): IBarSpec | null => {
      const notebook = panel.content.model?.sharedModel;
      const here = notebook ? placements(notebook).get(`${above}:${cell.model.id}`) : undefined;
      if (!notebook || !here) {
        return null;
      }
      return {
        key: JSON.stringify(here),
        build: bar => {
          bar.classList.add('jp-tinycode-deleted-bar');
          if (above) {
            cell.node.prepend(bar);
          }
          bar.append(...here.map(entry => row(notebook, entry)));
        }
      };
    });
  }
}
