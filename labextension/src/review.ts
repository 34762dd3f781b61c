/**
 * The user's review of a change the agent wants to make to one of the user's cells.
 *
 * The review shows at that cell: what the agent wants (change or delete it), the diff of the
 * source, an optional reason and Accept / Reject. Reviews of one notebook queue: one shows at a
 * time, in the order they came, with how many more wait. Whoever adds a review gets back what
 * withdraws it (its kernel went away, its comm closed): it then disappears unanswered.
 */
import type { NotebookPanel } from '@jupyterlab/notebook';

import { barButton, CellWidget, IBarSpec, watchCellBars } from './cellBars';
import { hunks, lineDiff } from './lineDiff';

export interface IReview {
  cellId: string;
  kind: 'edit' | 'delete';
  /** The cell's source as the agent read it. */
  before: string;
  /** The source the agent wants (empty for a delete). */
  after: string;
  runId: string;
  accept(): void;
  reject(reason: string): void;
}

const MARKS = { same: ' ', removed: '-', added: '+' } as const;

/** The diff of the review, one element per line, as text only. */
function diffView(review: IReview): HTMLElement {
  const view = document.createElement('pre');
  view.className = 'jp-tinycode-review-diff';
  for (const hunk of hunks(lineDiff(review.before, review.after))) {
    if (hunk.skipped > 0) {
      const gap = document.createElement('div');
      gap.className = 'jp-tinycode-diff-gap';
      gap.textContent = `⋯ ${hunk.skipped} unchanged line${hunk.skipped === 1 ? '' : 's'}`;
      view.appendChild(gap);
    }
    for (const line of hunk.lines) {
      const row = document.createElement('div');
      row.className = `jp-tinycode-diff-${line.kind}`;
      row.textContent = `${MARKS[line.kind]} ${line.text}`;
      view.appendChild(row);
    }
  }
  return view;
}

export class ReviewQueue {
  private readonly queue: IReview[] = [];
  private readonly waitingLabels = new Map<IReview, HTMLElement>();
  private readonly refresh: () => void;
  private serial = 0;
  private shownHead: IReview | undefined;
  private readonly keys = new Map<IReview, string>();

  constructor(private readonly panel: NotebookPanel) {
    this.refresh = watchCellBars(panel, 'jp-tinycode-review', cell => this.barFor(cell));
  }

  /** Queue `review`; returns what withdraws it unanswered. */
  add(review: IReview): () => void {
    this.queue.push(review);
    this.keys.set(review, `review-${++this.serial}`);
    this.changed();
    return () => this.remove(review);
  }

  /** Withdraw every review (the notebook is closing). */
  clear(): IReview[] {
    const all = this.queue.splice(0);
    this.keys.clear();
    this.changed();
    return all;
  }

  private remove(review: IReview): void {
    const index = this.queue.indexOf(review);
    if (index >= 0) {
      this.queue.splice(index, 1);
      this.keys.delete(review);
      this.changed();
    }
  }

  private changed(): void {
    this.showWaiting();
    this.refresh();
    const head = this.queue[0];
    if (head !== this.shownHead) {
      this.shownHead = head;
      const widget = head && this.panel.content.widgets.find(cell => cell.model.id === head.cellId);
      if (widget) {
        void this.panel.content.scrollToCell(widget, 'smart');
      }
    }
  }

  /** How many reviews wait behind the one shown. */
  private showWaiting(): void {
    this.waitingLabels.forEach((label, review) => {
      if (this.queue[0] === review) {
        label.textContent = this.queue.length > 1 ? ` · ${this.queue.length - 1} more waiting` : '';
      } else {
        this.waitingLabels.delete(review);
      }
    });
  }

  private barFor(cell: CellWidget): IBarSpec | null {
    const head = this.queue[0];
    if (!head || head.cellId !== cell.model.id) {
      return null;
    }
    return { key: this.keys.get(head) ?? '', build: bar => this.build(bar, head) };
  }

  private build(bar: HTMLElement, review: IReview): void {
    const box = document.createElement('div');
    box.className = 'jp-tinycode-review-box';
    box.addEventListener('mousedown', event => event.stopPropagation()); // the notebook would take the focus

    const title = document.createElement('div');
    title.className = 'jp-tinycode-review-title';
    const what = review.kind === 'edit' ? 'change this cell' : 'delete this cell';
    title.textContent = `The agent wants to ${what} (run ${review.runId.slice(0, 8)}). It is your cell: nothing changes unless you accept.`;
    const waiting = document.createElement('span');
    waiting.className = 'jp-tinycode-review-waiting';
    this.waitingLabels.set(review, waiting);
    title.appendChild(waiting);

    const reason = document.createElement('input');
    reason.type = 'text';
    reason.className = 'jp-tinycode-review-reason';
    reason.placeholder = 'Reason (optional; the agent reads it)';
    const settle = (action: () => void): void => {
      this.remove(review);
      action();
    };
    const accept = barButton('Accept', review.kind === 'edit' ? 'Apply this change to the cell' : 'Delete the cell', () =>
      settle(() => review.accept())
    );
    accept.classList.add('jp-tinycode-review-accept');
    const reject = barButton('Reject', 'Keep the cell as it is; the agent is told, with your reason', () =>
      settle(() => review.reject(reason.value.trim()))
    );
    reject.classList.add('jp-tinycode-review-reject');
    const actions = document.createElement('div');
    actions.className = 'jp-tinycode-review-actions';
    actions.append(reason, accept, reject);

    box.append(title, diffView(review), actions);
    bar.appendChild(box);
    this.showWaiting();
  }
}
