/**
 * Whether a value is a valid nbformat 4.5 output (the `output` definition of nbformat's schema):
 * what `set_outputs` accepts, as `nbformat.validator.validate(output, ref="output")` does.
 */
import type * as nbformat from '@jupyterlab/nbformat';

import { isObject } from './notebookProtocol';

type Check = (value: unknown) => boolean;

const JSON_MIME = /^application\/(.*\+)?json$/;

function isMultiline(value: unknown): boolean {
  return typeof value === 'string' || (Array.isArray(value) && value.every(line => typeof line === 'string'));
}

function isMimeBundle(value: unknown): boolean {
  return isObject(value) && Object.entries(value).every(([mime, data]) => JSON_MIME.test(mime) || isMultiline(data));
}

const isCountOrNull: Check = value => value === null || (typeof value === 'number' && Number.isInteger(value) && value >= 0);
const isString: Check = value => typeof value === 'string';

/** Each output type's properties (all required: the schema allows no others and needs each). */
const SHAPES: Record<string, Record<string, Check>> = {
  execute_result: { execution_count: isCountOrNull, data: isMimeBundle, metadata: isObject },
  display_data: { data: isMimeBundle, metadata: isObject },
  stream: { name: isString, text: isMultiline },
  error: { ename: isString, evalue: isString, traceback: value => Array.isArray(value) && value.every(isString) }
};

/** Why `value` is not a valid output, or null when it is one. */
export function outputProblem(value: unknown): string | null {
  if (!isObject(value)) {
    return 'an output must be an object';
  }
  const shape = SHAPES[value.output_type as string];
  if (!shape) {
    return `output_type ${JSON.stringify(value.output_type)} is not one of ${Object.keys(SHAPES).join(', ')}`;
  }
  for (const key of Object.keys(value)) {
    if (key !== 'output_type' && !(key in shape)) {
      return `a ${value.output_type} output has no property ${JSON.stringify(key)}`;
    }
  }
  for (const [key, check] of Object.entries(shape)) {
    if (!(key in value) || !check(value[key])) {
      return `a ${value.output_type} output needs a valid ${key}`;
    }
  }
  return null;
}

/** `values` as outputs, or the first problem. */
export function checkedOutputs(values: unknown[]): nbformat.IOutput[] | string {
  for (const value of values) {
    const problem = outputProblem(value);
    if (problem !== null) {
      return problem;
    }
  }
  return values as nbformat.IOutput[];
}
