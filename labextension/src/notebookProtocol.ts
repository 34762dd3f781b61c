/**
 * The notebook protocol, as the document owner reads it: the TypeScript side of
 * `tinycode_jupyter/notebook/protocol.py`, which is the contract.
 *
 * Every request is hostile data (code the agent runs in the kernel can send one too):
 * `parseRequest` checks each field and throws `NotebookError('bad_request')` for anything
 * malformed, so no handler ever sees a field of the wrong type.
 */

/** The comm target the kernel opens, once per agent run. */
export const NOTEBOOK_TARGET = 'tinycode_jupyter.notebook';
export const NOTEBOOK_VERSION = 1;

export type ErrorCode = 'unknown_cell' | 'conflict' | 'needs_approval' | 'rejected' | 'not_code' | 'bad_request';
export type CellType = 'code' | 'markdown' | 'raw';
export const CELL_TYPES: readonly CellType[] = ['code', 'markdown', 'raw'];

/** A refusal the kernel gets as `{ok: false, error: {code, message, ...detail}}`. */
export class NotebookError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly detail: Record<string, unknown> = {}
  ) {
    super(message);
    this.name = 'NotebookError';
  }
}

/** The agent run a change belongs to. */
export interface IRun {
  run_id: string;
  anchor_cell_id: string | null;
  model: string | null;
}

export type Request =
  | { op: 'hello'; version: number; kernel_cell_id: string | null }
  | { op: 'get_cells'; cell_ids: string[] | null }
  | { op: 'insert_cell'; cell_type: CellType; source: string; after_cell_id: string | null; run: IRun }
  | { op: 'edit_cell'; cell_id: string; source: string; expected_source: string; run: IRun }
  | { op: 'delete_cell'; cell_id: string; expected_source: string; run: IRun }
  | { op: 'set_outputs'; cell_id: string; outputs: unknown[]; execution_count: number | null }
  | { op: 'set_last_turn'; last_turn: Record<string, unknown> }
  | { op: 'revert_run'; run_id: string };

export type Op = Request['op'];
const OPS: readonly Op[] = ['hello', 'get_cells', 'insert_cell', 'edit_cell', 'delete_cell', 'set_outputs',
  'set_last_turn', 'revert_run'];

/** What every request carries: its id (to reply to), the owner it is for, its op. */
export interface IEnvelope {
  requestId: string;
  ownerId: unknown;
  op: unknown;
}

export type Reply =
  | { reply_to: string; ok: true; result: Record<string, unknown> }
  | { reply_to: string; ok: false; error: Record<string, unknown> }
  | { reply_to: string; waiting: 'user' };

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function bad(message: string): NotebookError {
  return new NotebookError('bad_request', message);
}

/** The envelope of a message, or null when it is no request (without a `request_id` no reply can be sent). */
export function envelopeOf(data: unknown): IEnvelope | null {
  if (!isObject(data) || typeof data.request_id !== 'string') {
    return null;
  }
  return { requestId: data.request_id, ownerId: data.owner_id, op: data.op };
}

function text(data: Record<string, unknown>, key: string): string {
  const value = data[key];
  if (typeof value !== 'string') {
    throw bad(`${key} must be a string`);
  }
  return value;
}

function optionalText(data: Record<string, unknown>, key: string): string | null {
  const value = data[key];
  if (value === null || value === undefined) {
    return null;
  }
  if (typeof value !== 'string') {
    throw bad(`${key} must be a string or null`);
  }
  return value;
}

function run(data: Record<string, unknown>): IRun {
  const value = data.run;
  if (!isObject(value) || typeof value.run_id !== 'string' || value.run_id === '') {
    throw bad('run must be {run_id, anchor_cell_id, model}');
  }
  return { run_id: value.run_id, anchor_cell_id: optionalText(value, 'anchor_cell_id'), model: optionalText(value, 'model') };
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value);
}

/** The request `data` is, checked field by field; `NotebookError('bad_request')` says what is wrong. */
export function parseRequest(data: Record<string, unknown>): Request {
  const op = data.op as Op;
  if (!OPS.includes(op)) {
    throw bad(`unknown op ${JSON.stringify(data.op)}`);
  }
  switch (op) {
    case 'hello':
      if (data.version !== NOTEBOOK_VERSION) {
        throw bad(`protocol version ${JSON.stringify(data.version)} is not ${NOTEBOOK_VERSION}`);
      }
      return { op, version: NOTEBOOK_VERSION, kernel_cell_id: optionalText(data, 'kernel_cell_id') };
    case 'get_cells': {
      const ids = data.cell_ids ?? null;
      if (ids !== null && !(Array.isArray(ids) && ids.every(id => typeof id === 'string'))) {
        throw bad('cell_ids must be a list of strings or null');
      }
      return { op, cell_ids: ids as string[] | null };
    }
    case 'insert_cell': {
      const cellType = data.cell_type as CellType;
      if (!CELL_TYPES.includes(cellType)) {
        throw bad(`cell_type must be one of ${CELL_TYPES.join(', ')}`);
      }
      return { op, cell_type: cellType, source: text(data, 'source'), after_cell_id: optionalText(data, 'after_cell_id'),
               run: run(data) }; // prettier-ignore
    }
    case 'edit_cell':
      return { op, cell_id: text(data, 'cell_id'), source: text(data, 'source'),
               expected_source: text(data, 'expected_source'), run: run(data) }; // prettier-ignore
    case 'delete_cell':
      return { op, cell_id: text(data, 'cell_id'), expected_source: text(data, 'expected_source'), run: run(data) };
    case 'set_outputs': {
      const count = data.execution_count ?? null;
      if (!Array.isArray(data.outputs) || !(count === null || isCount(count))) {
        throw bad('outputs must be a list and execution_count an integer or null');
      }
      return { op, cell_id: text(data, 'cell_id'), outputs: data.outputs, execution_count: count };
    }
    case 'set_last_turn':
      if (!isObject(data.last_turn) || !Array.isArray(data.last_turn.cells)) {
        throw bad('last_turn must be {run_id, cells}');
      }
      return { op, last_turn: data.last_turn };
    case 'revert_run':
      if (typeof data.run_id !== 'string' || data.run_id === '') {
        throw bad('run_id must be a non-empty string');
      }
      return { op, run_id: data.run_id };
  }
}

export function okReply(requestId: string, result: Record<string, unknown>): Reply {
  return { reply_to: requestId, ok: true, result };
}

export function errorReply(requestId: string, error: NotebookError): Reply {
  return { reply_to: requestId, ok: false, error: { code: error.code, message: error.message, ...error.detail } };
}

/** The interim message: a person is deciding (the kernel then waits up to its review timeout). */
export function waitingReply(requestId: string): Reply {
  return { reply_to: requestId, waiting: 'user' };
}
