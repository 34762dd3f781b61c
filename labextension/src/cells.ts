/**
 * Edits of the shared notebook model: delete a run's cells, insert or replace one.
 *
 * Only cells that are still the agent's (`isAgentCell`: not a user's copy, not edited by the
 * user) are replaced, deleted or followed; a user's cell is never touched. Each edit runs in
 * one `transact`, so notebook undo reverts it as one step.
 */
import type * as nbformat from '@jupyterlab/nbformat';
import type { INotebookModel } from '@jupyterlab/notebook';
import type { PartialJSONObject } from '@lumino/coreutils';

import { IReplaceRun, IUpsertCell, METADATA_KEY } from './protocol';
import { agentStamp, cellTag, ICellTag, isAgentCell, tagOf } from './provenance';

type SharedNotebook = INotebookModel['sharedModel'];
type SharedCell = SharedNotebook['cells'][number];

/** Raised when the agent cell a message refers to is not in the notebook. */
export class AnchorNotFoundError extends Error {
  constructor(anchorId: string) {
    super(`anchor cell ${anchorId} is not in this notebook`);
    this.name = 'AnchorNotFoundError';
  }
}

/** The tag of `cell` if it is still the agent's, else null (a user's cell, or a user's copy or edit of the agent's). */
function agentTag(cell: SharedCell): ICellTag | null {
  return isAgentCell(cell) ? cellTag(cell) : null;
}

function joinSource(source: nbformat.MultilineString): string {
  return Array.isArray(source) ? source.join('') : source;
}

/** Delete every cell tagged with the anchor; returns how many were deleted. */
export function replaceRun(notebook: SharedNotebook, request: IReplaceRun): number {
  const doomed = notebook.cells
    .map((cell, index) => (agentTag(cell)?.anchor_cell_id === request.anchor_cell_id ? index : -1))
    .filter(index => index >= 0)
    .reverse();
  notebook.transact(() => doomed.forEach(index => notebook.deleteCell(index)));
  return doomed.length;
}

/** The cell to write: tagged with its anchor and run, never trusted, id kept only if unused (stamped by `stamp`). */
function prepareCell(notebook: SharedNotebook, request: IUpsertCell): nbformat.ICell {
  const { cell, anchor_cell_id, run_id } = request;
  const metadata: Record<string, unknown> = { ...cell.metadata };
  delete metadata.trusted; // written-back outputs must not run JavaScript
  metadata[METADATA_KEY] = { ...tagOf(cell.metadata), anchor_cell_id, run_id };
  const prepared = { ...cell, metadata } as nbformat.ICell;
  if (prepared.id !== undefined && notebook.cells.some(c => c.id === prepared.id)) {
    delete prepared.id;
  }
  return prepared;
}

/** Mark the written cell as the agent's with the id and source it has now (only the owner stamps). */
function stamp(cell: SharedCell): void {
  cell.setMetadata(METADATA_KEY, agentStamp(cellTag(cell), cell.id, cell.getSource()) as PartialJSONObject);
}

/** Overwrite the cell at `index` with `data`, keeping its id (and its widget when the type is unchanged). */
function replaceAt(notebook: SharedNotebook, index: number, data: nbformat.ICell): void {
  const cell = notebook.cells[index];
  if (cell.cell_type !== data.cell_type) {
    notebook.deleteCell(index);
    stamp(notebook.insertCell(index, { ...data, id: cell.id }));
    return;
  }
  cell.setSource(joinSource(data.source));
  cell.setMetadata(data.metadata);
  stamp(cell);
  if ('setOutputs' in cell) {
    const code = data as nbformat.ICodeCell;
    cell.setOutputs(code.outputs ?? []);
    cell.execution_count = code.execution_count ?? null;
  }
}

/** Index below the anchor cell and below the run's cells inserted so far. */
function insertionIndex(notebook: SharedNotebook, request: IUpsertCell): number {
  const cells = notebook.cells;
  const anchor = cells.findIndex(cell => cell.id === request.anchor_cell_id);
  if (anchor < 0) {
    throw new AnchorNotFoundError(request.anchor_cell_id);
  }
  let index = anchor + 1;
  cells.forEach((cell, i) => {
    const tag = agentTag(cell);
    if (i >= index && tag?.anchor_cell_id === request.anchor_cell_id && tag.run_id === request.run_id) {
      index = i + 1;
    }
  });
  return index;
}

/**
 * Insert the request's cell below its anchor, or replace the cell of the same
 * run and step. Returns the number of the run's cells now in the notebook.
 */
export function upsertCell(notebook: SharedNotebook, request: IUpsertCell): number {
  const data = prepareCell(notebook, request);
  const step = tagOf(data.metadata).step;
  const existing =
    step === undefined
      ? -1
      : notebook.cells.findIndex(cell => {
          const tag = agentTag(cell);
          return tag?.run_id === request.run_id && tag.step === step;
        });
  const index = existing >= 0 ? existing : insertionIndex(notebook, request);
  notebook.transact(() => {
    if (existing >= 0) {
      replaceAt(notebook, index, data);
    } else {
      stamp(notebook.insertCell(index, data));
    }
  });
  return notebook.cells.filter(cell => agentTag(cell)?.run_id === request.run_id).length;
}

/**
 * The anchor for a new run started from the cell `cellId`: that cell, or, when earlier
 * runs wrote cells below it, the last of those (followed through runs anchored there),
 * so the new run's cells come after them instead of replacing them.
 */
export function appendAnchor(notebook: SharedNotebook, cellId: string): string {
  let anchor = cellId;
  for (let hops = 0; hops < notebook.cells.length; hops++) {
    const written = notebook.cells.filter(cell => agentTag(cell)?.anchor_cell_id === anchor);
    if (written.length === 0) {
      break;
    }
    anchor = written[written.length - 1].id;
  }
  return anchor;
}
