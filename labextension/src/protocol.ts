/**
 * The kernel <-> frontend protocol: the TypeScript side of
 * `tinycode_jupyter/jupyter/comm_protocol.py`, which is the contract.
 */
import type * as nbformat from '@jupyterlab/nbformat';

/** The comm target the kernel opens. */
export const TARGET = 'tinycode_jupyter.cells';
/** The protocol version this frontend speaks. */
export const VERSION = 1;
/** The cell metadata key that marks cells written by the agent. */
export const METADATA_KEY = 'tinycode';

/** Asks whether a frontend is listening. */
export interface IHello {
  action: 'hello';
  version: number;
}

/** Deletes the cells of earlier runs of an agent cell. */
export interface IReplaceRun {
  action: 'replace_run';
  anchor_cell_id: string;
  run_id: string;
}

/** Inserts (or replaces) one cell of a run below its agent cell. */
export interface IUpsertCell {
  action: 'upsert_cell';
  anchor_cell_id: string;
  run_id: string;
  cell: nbformat.ICell;
}

/** A message from the kernel. */
export type Request = IHello | IReplaceRun | IUpsertCell;

/** A message to the kernel. */
export type Reply =
  | { action: 'ready'; version: number }
  | { action: 'applied'; run_id: string; count: number; error?: string };

const CELL_TYPES = new Set(['code', 'markdown', 'raw']);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function requireString(data: Record<string, unknown>, key: string): void {
  if (typeof data[key] !== 'string' || data[key] === '') {
    throw new Error(`"${key}" must be a non-empty string`);
  }
}

function checkCell(cell: unknown): void {
  if (!isObject(cell) || !CELL_TYPES.has(cell.cell_type as string)) {
    throw new Error('"cell" must be an nbformat cell of type code, markdown or raw');
  }
  const source = cell.source;
  if (typeof source !== 'string' && !Array.isArray(source)) {
    throw new Error('"cell.source" must be a string or a list of strings');
  }
  if (cell.metadata !== undefined && !isObject(cell.metadata)) {
    throw new Error('"cell.metadata" must be an object');
  }
  if (cell.outputs !== undefined && !Array.isArray(cell.outputs)) {
    throw new Error('"cell.outputs" must be a list');
  }
}

/** Validate a message from the kernel; throws an Error saying what is wrong. */
export function parseRequest(data: unknown): Request {
  if (!isObject(data)) {
    throw new Error('message data must be an object');
  }
  switch (data.action) {
    case 'hello':
      return data as unknown as IHello;
    case 'replace_run':
      requireString(data, 'anchor_cell_id');
      requireString(data, 'run_id');
      return data as unknown as IReplaceRun;
    case 'upsert_cell':
      requireString(data, 'anchor_cell_id');
      requireString(data, 'run_id');
      checkCell(data.cell);
      return data as unknown as IUpsertCell;
    default:
      throw new Error(`unknown action ${JSON.stringify(data.action)}`);
  }
}
