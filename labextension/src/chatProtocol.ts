/**
 * The sidebar chat protocol: the TypeScript side of
 * `tinycode_jupyter/jupyter/chat_protocol.py`, which is the contract.
 */

/** The comm target the kernel registers on `%load_ext tinycode_jupyter`. */
export const CHAT_TARGET = 'tinycode_jupyter.chat';
/** What the sidebar says when the kernel has not registered the target. */
export const LOAD_HINT =
  'Run `%load_ext tinycode_jupyter` in this notebook (or use the Python 3 (agent) kernel), then send again.';

/** A message to the kernel. `model` null: the kernel's default. */
export type ChatRequest =
  | { action: 'run'; prompt: string; anchor_cell_id: string | null; model: string | null }
  | { action: 'stop' }
  | { action: 'models' }
  | { action: 'undo'; run_id: string; cell_id: string | null };

export type RunStatus = 'ok' | 'stopped' | 'error';
/** What a cell a run wrote holds: the question, a step's code, the answer. */
export type CellRole = 'prompt' | 'code' | 'answer';

/** One event of a run, streamed by the kernel. */
export type ChatEvent =
  | { kind: 'start'; run_id: string; model: string }
  | { kind: 'text'; turn: number; text: string }
  | { kind: 'tool_start'; id: string; name: string; title: string; body: string; language: string }
  | { kind: 'tool_end'; id: string; name: string; ok: boolean; output: string; images: string[]; html: string[] }
  | { kind: 'cell'; cell_id: string; role: CellRole; tool_call_id: string | null }
  | { kind: 'answer'; turn: number; text: string }
  | {
      kind: 'usage';
      model: string;
      turns: number;
      prompt_tokens: number;
      completion_tokens: number;
      cost_usd: number | null;
      duration_s: number;
    }
  | { kind: 'error'; error_type: string; message: string }
  | { kind: 'done'; status: RunStatus };

/** The models a run may choose; `default` ('' when none is set) comes first in `models`. */
export interface IModels {
  action: 'models';
  default: string;
  models: string[];
}

/** What an undo did: the kernel's report, or why it could not be done. */
export interface IUndone {
  action: 'undone';
  run_id: string;
  ok: boolean;
  text: string;
}

/** A message from the kernel. */
export type ChatReply = { action: 'ready'; version: number } | IModels | IUndone | ({ action: 'event' } & ChatEvent);

type FieldType = 'string' | 'string|null' | 'number' | 'number|null' | 'boolean' | 'strings';
const ROLES = new Set<string>(['prompt', 'code', 'answer']);

const FIELDS: { [K in ChatEvent['kind']]: Record<string, FieldType> } = {
  start: { run_id: 'string', model: 'string' },
  text: { turn: 'number', text: 'string' },
  tool_start: { id: 'string', name: 'string', title: 'string', body: 'string', language: 'string' },
  tool_end: { id: 'string', name: 'string', ok: 'boolean', output: 'string', images: 'strings', html: 'strings' },
  cell: { cell_id: 'string', role: 'string', tool_call_id: 'string|null' },
  answer: { turn: 'number', text: 'string' },
  usage: {
    model: 'string',
    turns: 'number',
    prompt_tokens: 'number',
    completion_tokens: 'number',
    cost_usd: 'number|null',
    duration_s: 'number'
  },
  error: { error_type: 'string', message: 'string' },
  done: { status: 'string' }
};

function hasType(value: unknown, type: FieldType): boolean {
  switch (type) {
    case 'strings':
      return Array.isArray(value) && value.every(item => typeof item === 'string');
    case 'number|null':
      return value === null || typeof value === 'number';
    case 'string|null':
      return value === null || typeof value === 'string';
    default:
      return typeof value === type;
  }
}

/** Validate a message from the kernel; throws an Error saying what is wrong. */
export function parseReply(data: unknown): ChatReply {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new Error('message data must be an object');
  }
  const message = data as Record<string, unknown>;
  if (message.action === 'ready') {
    return message as unknown as ChatReply;
  }
  if (message.action === 'models') {
    if (typeof message.default !== 'string' || !hasType(message.models, 'strings')) {
      throw new Error('a models message needs "default" (a string) and "models" (strings)');
    }
    return message as unknown as IModels;
  }
  if (message.action === 'undone') {
    if (typeof message.run_id !== 'string' || typeof message.ok !== 'boolean' || typeof message.text !== 'string') {
      throw new Error('an undone message needs "run_id" and "text" (strings) and "ok" (a boolean)');
    }
    return message as unknown as IUndone;
  }
  if (message.action !== 'event') {
    throw new Error(`unknown action ${JSON.stringify(message.action)}`);
  }
  if (typeof message.kind !== 'string' || !Object.prototype.hasOwnProperty.call(FIELDS, message.kind)) {
    throw new Error(`unknown event kind ${JSON.stringify(message.kind)}`);
  }
  for (const [key, type] of Object.entries(FIELDS[message.kind as ChatEvent['kind']])) {
    if (!hasType(message[key], type)) {
      throw new Error(`"${key}" of a ${message.kind as string} event must be of type ${type}`);
    }
  }
  if (message.kind === 'cell' && !ROLES.has(message.role as string)) {
    throw new Error(`unknown cell role ${JSON.stringify(message.role)}`);
  }
  return message as unknown as ChatReply;
}
