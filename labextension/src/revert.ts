/**
 * `revert_run` of the notebook protocol (`tinycode_jupyter/notebook/protocol.py`) on the live
 * notebook model: the TypeScript side of `tinycode_jupyter/notebook/revert.py`.
 *
 * In this order: the cells the run inserted that are still the agent's are removed; the cells
 * it edited get back the source before its first edit, if their source is still what its last
 * edit left (the edit record's `new_sha`); the cells it deleted come back below the cell they
 * followed (at the top for none; below the run's agent cell, or at the end, when that cell is
 * gone), with their old id unless another cell has it. Anything the user changed since is kept
 * and listed with the reason. The run's edit records and `deleted` entries are dropped. It all
 * happens in one `transact`: one undo step.
 */
import type * as nbformat from '@jupyterlab/nbformat';
import type { INotebookModel } from '@jupyterlab/notebook';
import type { PartialJSONObject } from '@lumino/coreutils';

import { METADATA_KEY } from './protocol';
import { cellTag, ICellLike, ICellTag, isAgentCell, sourceSha, tagOf } from './provenance';

export type SharedNotebook = INotebookModel['sharedModel'];
type SharedCell = SharedNotebook['cells'][number];

/** What reverting one run did to the cells (the `revert_run` result). */
export interface IRevertSummary {
  /** Cells the run inserted, removed. */
  removed: string[];
  /** Cells the run edited, back to their source before the run. */
  restored: string[];
  /** Cells the run deleted, back in the notebook. */
  reinserted: string[];
  /** Cells the run touched that were left as they are, and why. */
  kept: { cell_id: string; reason: string }[];
}

export const CHANGED_SINCE_WRITTEN = 'changed by the user since the run wrote it';
export const CHANGED_SINCE_EDITED = 'changed since the run edited it';
export const NOT_HASHED = 'edited before edits recorded their result, so whether it changed since cannot be told';

interface IEditRecord {
  run_id?: unknown;
  previous_source?: unknown;
  new_sha?: unknown;
}

interface IDeletedEntry {
  run_id?: unknown;
  after_cell_id?: unknown;
  cell: nbformat.ICell;
}

/** A cell as it will be when the transaction applies: the new source and tag (null: no tag). */
interface IRestore {
  cell: SharedCell;
  source: string | null;
  tag: ICellTag | null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function joinSource(source: unknown): string {
  return Array.isArray(source) ? source.join('') : String(source ?? '');
}

/** `tag` with `key` set to `left`, or without `key` when `left` is empty; null when nothing is left. */
function withList(tag: ICellTag | Record<string, unknown>, key: string, left: unknown[]): Record<string, unknown> | null {
  const rest: Record<string, unknown> = { ...tag };
  delete rest[key];
  if (left.length > 0) {
    rest[key] = left;
  }
  return Object.keys(rest).length > 0 ? rest : null;
}

/** The agent cell the run's cells belong to, while one of them says so. */
function anchorOf(cells: readonly SharedCell[], runId: string): string | null {
  for (const cell of cells) {
    const tag = cellTag(cell);
    if (tag.run_id === runId && isAgentCell(cell) && typeof tag.anchor_cell_id === 'string' && tag.anchor_cell_id) {
      return tag.anchor_cell_id;
    }
  }
  return null;
}

/** What to do with a cell the run edited, or null when it did not edit it. */
function planRestore(cell: SharedCell, runId: string, summary: IRevertSummary): IRestore | null {
  const tag = cellTag(cell);
  const edits = Array.isArray(tag.edits) ? (tag.edits as unknown[]) : [];
  const mine = edits.filter((e): e is IEditRecord => isObject(e) && e.run_id === runId);
  if (mine.length === 0) {
    return null;
  }
  const rest = withList(tag, 'edits', edits.filter(e => !mine.includes(e as IEditRecord)));
  const leftByRun = mine[mine.length - 1].new_sha;
  if (typeof leftByRun !== 'string' || leftByRun !== sourceSha(cell.source)) {
    summary.kept.push({ cell_id: cell.id, reason: leftByRun ? CHANGED_SINCE_EDITED : NOT_HASHED });
    return { cell, source: null, tag: rest };
  }
  const source = joinSource(mine[0].previous_source);
  const restamped = rest && isAgentCell(cell) ? { ...rest, source_sha: sourceSha(source) } : rest;
  summary.restored.push(cell.id);
  return { cell, source, tag: restamped };
}

/** The notebook's `metadata.tinycode.deleted` entries, split into this run's and the others. */
function deletedEntries(notebook: SharedNotebook, runId: string): { mine: IDeletedEntry[]; all: unknown[] } {
  const tag = tagOf(notebook.getMetadata()) as Record<string, unknown>;
  const all = Array.isArray(tag.deleted) ? (tag.deleted as unknown[]) : [];
  const mine = all.filter((d): d is IDeletedEntry => isObject(d) && d.run_id === runId && isObject(d.cell));
  return { mine, all };
}

/** A stored nbformat cell as provenance sees it. */
function storedCell(cell: nbformat.ICell): ICellLike {
  return {
    id: typeof cell.id === 'string' ? cell.id : '',
    source: joinSource(cell.source),
    getMetadata: key => (cell.metadata as Record<string, unknown> | undefined)?.[key]
  };
}

/** Where a deleted cell comes back in `ids` (the notebook's cell ids as they are now). */
function positionOf(ids: string[], after: unknown, anchor: string | null): number {
  if (after === null || after === undefined) {
    return 0;
  }
  for (const target of [after, anchor]) {
    const index = typeof target === 'string' ? ids.indexOf(target) : -1;
    if (index >= 0) {
      return index + 1;
    }
  }
  return ids.length;
}

/** Bring back the run's deleted cells (the last deletion first, so each finds the one it followed). */
function reinsert(notebook: SharedNotebook, ids: string[], entries: IDeletedEntry[], anchor: string | null,
                  summary: IRevertSummary): void {
  for (const entry of [...entries].reverse()) {
    const cell = JSON.parse(JSON.stringify(entry.cell)) as nbformat.ICell;
    const agent = isAgentCell(storedCell(cell));
    cell.source = joinSource(cell.source);
    delete (cell.metadata as Record<string, unknown>).trusted;
    const fresh = typeof cell.id !== 'string' || cell.id === '' || ids.includes(cell.id);
    if (fresh) {
      delete cell.id;
    }
    const position = positionOf(ids, entry.after_cell_id, anchor);
    const inserted = notebook.insertCell(position, cell);
    if (fresh && agent) {
      inserted.setMetadata(METADATA_KEY, { ...cellTag(inserted), cell_id: inserted.id } as PartialJSONObject);
    }
    ids.splice(position, 0, inserted.id);
    summary.reinserted.push(inserted.id);
  }
}

/** Undo what run `runId` did to the notebook's cells, as one undo step; says what it did. */
export function revertRun(notebook: SharedNotebook, runId: string): IRevertSummary {
  if (typeof runId !== 'string' || runId === '') {
    throw new Error('run_id must be a non-empty string');
  }
  const summary: IRevertSummary = { removed: [], restored: [], reinserted: [], kept: [] };
  const cells = [...notebook.cells];
  const anchor = anchorOf(cells, runId);
  const removed = new Set<number>();
  cells.forEach((cell, index) => {
    const tag = cellTag(cell);
    const written = tag.run_id === runId && (tag.cell_id ?? cell.id) === cell.id; // not a copy
    if (written && isAgentCell(cell)) {
      removed.add(index);
      summary.removed.push(cell.id);
    } else if (written) {
      summary.kept.push({ cell_id: cell.id, reason: CHANGED_SINCE_WRITTEN });
    }
  });
  const left = cells.filter((_, index) => !removed.has(index));
  const restores = left.map(cell => planRestore(cell, runId, summary)).filter((r): r is IRestore => r !== null);
  const { mine, all } = deletedEntries(notebook, runId);
  notebook.transact(() => {
    [...removed].reverse().forEach(index => notebook.deleteCell(index));
    for (const { cell, source, tag } of restores) {
      if (source !== null) {
        cell.setSource(source);
      }
      if (tag) {
        cell.setMetadata(METADATA_KEY, tag as PartialJSONObject);
      } else {
        cell.deleteMetadata(METADATA_KEY);
      }
    }
    reinsert(notebook, left.map(cell => cell.id), mine, anchor, summary);
    if (mine.length > 0) {
      const rest = withList(tagOf(notebook.getMetadata()), 'deleted', all.filter(d => !mine.includes(d as IDeletedEntry)));
      if (rest) {
        notebook.setMetadata(METADATA_KEY, rest as PartialJSONObject);
      } else {
        notebook.deleteMetadata(METADATA_KEY);
      }
    }
  });
  return summary;
}
