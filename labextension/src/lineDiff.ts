/**
 * A line diff of two texts, grouped into hunks with a few lines of context, as a unified diff shows it.
 */

export type DiffKind = 'same' | 'removed' | 'added';

export interface IDiffLine {
  kind: DiffKind;
  text: string;
}

/** A run of lines to show; `skipped` lines without change come before it. */
export interface IHunk {
  skipped: number;
  lines: IDiffLine[];
}

/** Above this many line pairs the middle is shown as all removed, then all added (no alignment). */
const MAX_PAIRS = 4_000_000;

function lines(text: string): string[] {
  return text === '' ? [] : text.split('\n');
}

/** The middle of a diff by longest common subsequence. */
function alignMiddle(a: string[], b: string[]): IDiffLine[] {
  if (a.length * b.length > MAX_PAIRS) {
    return [...a.map(text => ({ kind: 'removed' as const, text })), ...b.map(text => ({ kind: 'added' as const, text }))];
  }
  const width = b.length + 1;
  const common = new Uint32Array((a.length + 1) * width);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      common[i * width + j] =
        a[i] === b[j] ? common[(i + 1) * width + j + 1] + 1 : Math.max(common[(i + 1) * width + j], common[i * width + j + 1]);
    }
  }
  const out: IDiffLine[] = [];
  let [i, j] = [0, 0];
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push({ kind: 'same', text: a[i++] });
      j++;
    } else if (j >= b.length || (i < a.length && common[(i + 1) * width + j] >= common[i * width + j + 1])) {
      out.push({ kind: 'removed', text: a[i++] });
    } else {
      out.push({ kind: 'added', text: b[j++] });
    }
  }
  return out;
}

/** Every line of `before` and `after`, marked same, removed or added. */
export function lineDiff(before: string, after: string): IDiffLine[] {
  const a = lines(before);
  const b = lines(after);
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) {
    head++;
  }
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) {
    tail++;
  }
  const same = (text: string): IDiffLine => ({ kind: 'same', text });
  return [
    ...a.slice(0, head).map(same),
    ...alignMiddle(a.slice(head, a.length - tail), b.slice(head, b.length - tail)),
    ...a.slice(a.length - tail).map(same)
  ];
}

/** The changed lines with `context` unchanged lines around each change; the rest is counted as skipped. */
export function hunks(diff: IDiffLine[], context = 3): IHunk[] {
  const shown = diff.map(() => false);
  diff.forEach((line, index) => {
    if (line.kind !== 'same') {
      for (let k = Math.max(0, index - context); k <= Math.min(diff.length - 1, index + context); k++) {
        shown[k] = true;
      }
    }
  });
  const out: IHunk[] = [];
  let skipped = 0;
  diff.forEach((line, index) => {
    if (!shown[index]) {
      skipped++;
      return;
    }
    if (skipped > 0 || out.length === 0) {
      out.push({ skipped, lines: [] });
      skipped = 0;
    }
    out[out.length - 1].lines.push(line);
  });
  if (skipped > 0) {
    out.push({ skipped, lines: [] });
  }
  return out;
}
