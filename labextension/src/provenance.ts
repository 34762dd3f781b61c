/**
 * Which cells are the agent's: the TypeScript side of `tinycode_jupyter/notebook/records.py`.
 *
 * A cell is the agent's while its `metadata.tinycode` has a `run_id`, a `cell_id` equal to
 * the cell's id (a pasted copy gets a new id) and a `source_sha` equal to the hash of its
 * source (a user's edit changes it). Cells written before those two fields existed count as
 * the agent's while they carry a `run_id`.
 */
import { METADATA_KEY } from './protocol';

/** The fields of `metadata.tinycode` on a cell. */
export interface ICellTag {
  run_id?: unknown;
  anchor_cell_id?: unknown;
  model?: unknown;
  prompt?: unknown;
  step?: unknown;
  cell_id?: unknown;
  source_sha?: unknown;
  edits?: unknown;
}

/** What provenance needs of a cell: its id, source and metadata (a shared model cell fits). */
export interface ICellLike {
  readonly id: string;
  readonly source: string;
  getMetadata(key: string): unknown;
}

const SHA_CHARS = 16;

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
]);

function rotr(x: number, n: number): number {
  return (x >>> n) | (x << (32 - n));
}

/** SHA-256 of `bytes`, as 64 hex digits (synchronous: notebook edits cannot wait for `crypto.subtle`). */
export function sha256Hex(bytes: Uint8Array): string {
  const padded = new Uint8Array(((bytes.length + 9 + 63) >> 6) << 6);
  padded.set(bytes);
  padded[bytes.length] = 0x80;
  const view = new DataView(padded.buffer);
  const bits = bytes.length * 8;
  view.setUint32(padded.length - 8, Math.floor(bits / 2 ** 32));
  view.setUint32(padded.length - 4, bits >>> 0);
  const h = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
  ]);
  const w = new Uint32Array(64);
  for (let block = 0; block < padded.length; block += 64) {
    for (let i = 0; i < 16; i++) {
      w[i] = view.getUint32(block + i * 4);
    }
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) >>> 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      [hh, g, f, e, d, c, b, a] = [g, f, e, (d + t1) >>> 0, c, b, a, (t1 + t2) >>> 0];
    }
    [a, b, c, d, e, f, g, hh].forEach((value, i) => (h[i] = (h[i] + value) >>> 0));
  }
  return Array.from(h, word => word.toString(16).padStart(8, '0')).join('');
}

/** The hash a cell's source is stamped with: SHA-256 of its UTF-8, hex, first 16 characters. */
export function sourceSha(source: string): string {
  return sha256Hex(new TextEncoder().encode(source)).slice(0, SHA_CHARS);
}

/** `metadata.tinycode` of a metadata object ({} when absent or not an object). */
export function tagOf(metadata: unknown): ICellTag {
  const tag = (metadata as Record<string, unknown> | undefined)?.[METADATA_KEY];
  return typeof tag === 'object' && tag !== null && !Array.isArray(tag) ? (tag as ICellTag) : {};
}

/** `metadata.tinycode` of a cell. */
export function cellTag(cell: ICellLike): ICellTag {
  return tagOf({ [METADATA_KEY]: cell.getMetadata(METADATA_KEY) });
}

/** Written by the agent and since then neither copied nor edited by the user. */
export function isAgentCell(cell: ICellLike): boolean {
  const tag = cellTag(cell);
  if (typeof tag.run_id !== 'string' || tag.run_id === '') {
    return false;
  }
  if ('cell_id' in tag && tag.cell_id !== cell.id) {
    return false; // a copy: the user's
  }
  return !('source_sha' in tag) || tag.source_sha === sourceSha(cell.source);
}

/** The tag that marks a cell as the agent's as it is now (`fields`: run_id, anchor_cell_id, model…). */
export function agentStamp(base: ICellTag, id: string, source: string, fields: Partial<ICellTag> = {}): ICellTag {
  const defined = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined && value !== null));
  return { ...base, ...defined, cell_id: id, source_sha: sourceSha(source) };
}
