/**
 * The document owner's rules, applied to a live notebook model: the TypeScript side of
 * `tinycode_jupyter/notebook/document.py` (same checks, same metadata).
 *
 * Each change is one transaction of its own (`oneStep`), so notebook undo reverts it as one step.
 * Only the owner writes ids and `metadata.tinycode`: an inserted cell gets a fresh id and the agent's stamp,
 * an edit appends `{run_id, previous_source, new_sha}` to the cell's `tinycode.edits`, and a
 * deleted cell is kept whole in the notebook's `metadata.tinycode.deleted`.
 */
import type * as nbformat from '@jupyterlab/nbformat';
import type { INotebookModel } from '@jupyterlab/notebook';
import type { PartialJSONObject } from '@lumino/coreutils';

import { IRun, NotebookError } from './notebookProtocol';
import { checkedOutputs } from './outputCheck';
import { METADATA_KEY } from './protocol';
import { agentStamp, cellTag, isAgentCell, sourceSha, tagOf } from './provenance';

export type SharedNotebook = INotebookModel['sharedModel'];
export type SharedCell = SharedNotebook['cells'][number];
type SharedCodeCell = SharedCell & { execution_count: nbformat.ExecutionCount; setOutputs(outputs: nbformat.IOutput[]): void };

/** A cell as the owner sends it to the kernel. */
export interface IWireCell {
  id: string;
  index: number;
  cell_type: string;
  source: string;
  execution_count: number | null;
  outputs?: nbformat.IOutput[];
  agent: boolean;
  run_id: string | null;
}

/**
 * Apply `change` as one undo step of its own: one transaction, not merged with the changes just
 * before or after it (the notebook's undo manager merges what comes within half a second).
 */
export function oneStep(notebook: SharedNotebook, change: () => void): void {
  const undo = (notebook as { undoManager?: { stopCapturing(): void } }).undoManager;
  undo?.stopCapturing();
  notebook.transact(change);
  undo?.stopCapturing();
}

function isCode(cell: SharedCell): cell is SharedCodeCell {
  return cell.cell_type === 'code';
}

export function wireCell(cell: SharedCell, index: number): IWireCell {
  const agent = isAgentCell(cell);
  const wire: IWireCell = {
    id: cell.id,
    index,
    cell_type: ['code', 'markdown'].includes(cell.cell_type) ? cell.cell_type : 'raw',
    source: cell.source,
    execution_count: isCode(cell) ? cell.execution_count ?? null : null,
    agent,
    run_id: agent ? (cellTag(cell).run_id as string) : null
  };
  if (isCode(cell)) {
    wire.outputs = (cell.toJSON() as nbformat.ICodeCell).outputs ?? [];
  }
  return wire;
}

/** The notebook's `metadata.tinycode`. */
export function notebookTag(notebook: SharedNotebook): Record<string, unknown> {
  return tagOf(notebook.getMetadata()) as Record<string, unknown>;
}

/** The cell with id `cellId` and its index; `unknown_cell` when no cell has it. */
export function findCell(notebook: SharedNotebook, cellId: string): [number, SharedCell] {
  const index = notebook.cells.findIndex(cell => cell.id === cellId);
  if (index < 0) {
    throw new NotebookError('unknown_cell', `no cell has the id ${JSON.stringify(cellId)}`, { cell_id: cellId });
  }
  return [index, notebook.cells[index]];
}

/** The cell to change, if its source is still `expected` (else `conflict`, with the source it has now). */
export function checkedCell(notebook: SharedNotebook, cellId: string, expected: string): [number, SharedCell] {
  const [index, cell] = findCell(notebook, cellId);
  if (cell.source !== expected) {
    throw new NotebookError('conflict', `cell ${cell.id} changed since it was read; read it again`,
                            { current_source: cell.source }); // prettier-ignore
  }
  return [index, cell];
}

/** The `get_cells` result (without `name` and `executing_cell_id`, which the owner knows). */
export function cellsOf(notebook: SharedNotebook, cellIds: string[] | null): Record<string, unknown> {
  const wanted = cellIds === null ? null : new Set(cellIds);
  const cells = notebook.cells
    .map((cell, index) => (wanted === null || wanted.has(cell.id) ? wireCell(cell, index) : null))
    .filter(cell => cell !== null);
  return { cells, last_turn: notebookTag(notebook).last_turn ?? null };
}

function newId(notebook: SharedNotebook): string {
  const taken = new Set(notebook.cells.map(cell => cell.id));
  for (;;) {
    const bytes = crypto.getRandomValues(new Uint8Array(4));
    const candidate = Array.from(bytes, byte => byte.toString(16).padStart(2, '0')).join('');
    if (!taken.has(candidate)) {
      return candidate;
    }
  }
}

/** Insert an agent's cell below `afterCellId` (null: at the top), stamped as the run's. */
export function insertCell(notebook: SharedNotebook, cellType: nbformat.CellType, source: string,
                           afterCellId: string | null, run: IRun): IWireCell { // prettier-ignore
  const position = afterCellId === null ? 0 : findCell(notebook, afterCellId)[0] + 1;
  const id = newId(notebook);
  const stamp = agentStamp({}, id, source, { run_id: run.run_id, anchor_cell_id: run.anchor_cell_id, model: run.model });
  const metadata = { [METADATA_KEY]: stamp as PartialJSONObject };
  const data = (cellType === 'code'
    ? { id, cell_type: 'code', source, metadata, outputs: [], execution_count: null }
    : { id, cell_type: cellType, source, metadata }) as nbformat.ICell;
  oneStep(notebook, () => {
    notebook.insertCell(position, data);
  });
  return wireCell(notebook.cells[position], position);
}

/** Replace the cell's source (checked by `checkedCell` first) and record the edit; the agent's cells stay the agent's. */
export function applyEdit(notebook: SharedNotebook, index: number, source: string, run: IRun): IWireCell {
  const cell = notebook.cells[index];
  const agent = isAgentCell(cell);
  const tag = cellTag(cell);
  const edits = Array.isArray(tag.edits) ? tag.edits : [];
  const edit = { run_id: run.run_id, previous_source: cell.source, new_sha: sourceSha(source) };
  const updated = { ...tag, edits: [...edits, edit], ...(agent ? { source_sha: sourceSha(source) } : {}) };
  oneStep(notebook, () => {
    cell.setSource(source);
    cell.setMetadata(METADATA_KEY, updated as PartialJSONObject);
  });
  return wireCell(cell, index);
}

/** Remove the cell (checked by `checkedCell` first), keeping it whole, as saved, in `metadata.tinycode.deleted`; the cell as it was. */
export function applyDelete(notebook: SharedNotebook, index: number, run: IRun): IWireCell {
  const cell = notebook.cells[index];
  const wire = wireCell(cell, index);
  const after = index > 0 ? notebook.cells[index - 1].id : null;
  const tag = notebookTag(notebook);
  const deleted = Array.isArray(tag.deleted) ? tag.deleted : [];
  const stored = cell.toJSON();
  delete (stored.metadata as Record<string, unknown>).trusted; // Lab's runtime flag: the saved file has none
  const entry = { run_id: run.run_id, after_cell_id: after, cell: stored };
  oneStep(notebook, () => {
    notebook.setMetadata(METADATA_KEY, { ...tag, deleted: [...deleted, entry] } as PartialJSONObject);
    notebook.deleteCell(index);
  });
  return wire;
}

/**
 * Store the outputs of a run of a code cell, as executing it would. `distrust` is called first:
 * the outputs must render untrusted (no script runs), whatever the cell's model trusted before.
 */
export function setOutputs(notebook: SharedNotebook, cellId: string, outputs: unknown[], count: number | null,
                           distrust: (cellId: string) => void): IWireCell { // prettier-ignore
  const [index, cell] = findCell(notebook, cellId);
  if (!isCode(cell)) {
    throw new NotebookError('not_code', `cell ${cell.id} is a ${cell.cell_type} cell; only code cells have outputs`);
  }
  const checked = checkedOutputs(outputs);
  if (typeof checked === 'string') {
    throw new NotebookError('bad_request', `an output is not valid nbformat: ${checked}`);
  }
  distrust(cell.id);
  oneStep(notebook, () => {
    cell.setOutputs(checked);
    cell.execution_count = count;
    cell.deleteMetadata('trusted');
  });
  return wireCell(cell, index);
}

/** Keep the snapshot of the agent's last turn in the notebook's `metadata.tinycode.last_turn`. */
export function setLastTurn(notebook: SharedNotebook, lastTurn: Record<string, unknown>): void {
  oneStep(notebook, () => {
    notebook.setMetadata(METADATA_KEY, { ...notebookTag(notebook), last_turn: lastTurn } as PartialJSONObject);
  });
}
