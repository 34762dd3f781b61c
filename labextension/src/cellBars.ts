/**
 * A bar at the bottom of some cells of a notebook, kept in step with the notebook's model.
 *
 * Whoever uses it says, for one cell, what its bar shows (or that it has none); the bar is
 * rebuilt only when that answer's key changes, once per animation frame at most.
 */
import { NotebookActions, NotebookPanel } from '@jupyterlab/notebook';

export type CellWidget = NotebookPanel['content']['widgets'][number];

/** What one cell's bar shows: `key` names the state; `build` makes its content. */
export interface IBarSpec {
  key: string;
  build(bar: HTMLElement): void;
}

export type DecideBar = (cell: CellWidget) => IBarSpec | null;

/**
 * Keep a bar of class `className` on every cell of `panel` for which `decide` gives one.
 * Returns what asks for an update when the answer changes for a reason outside the model.
 */
export function watchCellBars(panel: NotebookPanel, className: string, decide: DecideBar): () => void {
  let scheduled = false;
  const update = (): void => {
    scheduled = false;
    if (panel.isDisposed) {
      return;
    }
    for (const cell of panel.content.widgets) {
      updateBar(cell, className, decide(cell));
    }
  };
  const schedule = (): void => {
    if (!scheduled) {
      scheduled = true;
      requestAnimationFrame(update);
    }
  };
  const watchModel = (): void => {
    panel.content.model?.contentChanged.connect(schedule);
    schedule();
  };
  panel.content.modelChanged.connect(watchModel);
  void panel.context.ready.then(watchModel);
  return schedule;
}

function updateBar(cell: CellWidget, className: string, spec: IBarSpec | null): void {
  let bar = cell.node.querySelector<HTMLElement>(`:scope > .${className}`);
  if (spec === null) {
    bar?.remove();
    return;
  }
  if (bar?.dataset.key === spec.key) {
    return;
  }
  if (!bar) {
    bar = document.createElement('div');
    bar.className = `jp-tinycode-cellbar ${className}`;
    cell.node.appendChild(bar);
  }
  bar.replaceChildren();
  bar.dataset.key = spec.key;
  spec.build(bar);
}

/** A small styled button. */
export function barButton(label: string, title: string, onClick: () => void): HTMLButtonElement {
  const node = document.createElement('button');
  node.type = 'button';
  node.className = 'jp-Button jp-mod-styled jp-mod-minimal jp-tinycode-cellbar-button';
  node.textContent = label;
  node.title = title;
  node.addEventListener('click', event => {
    event.stopPropagation();
    onClick();
  });
  return node;
}

/** Make the cell at `index` the only selected one and run it in the panel's kernel, as Shift+Enter would. */
export async function runCellAt(panel: NotebookPanel, index: number): Promise<void> {
  const notebook = panel.content;
  notebook.activeCellIndex = index;
  notebook.deselectAll();
  await NotebookActions.run(notebook, panel.sessionContext);
}
