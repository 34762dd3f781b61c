/**
 * A "Fix with agent" bar under every error output: it inserts `%agent fix --cell <id>` below the
 * failing cell and runs it, so the fix is a cell of the notebook like any other agent run.
 */
import type { NotebookPanel } from '@jupyterlab/notebook';

import { barButton, CellWidget, IBarSpec, runCellAt, watchCellBars } from './cellBars';

/** Cells of the agent itself: a failed run is not fixed by another run. */
const AGENT_MAGIC = /^\s*%%?agent\b/;

/** The error an agent can be asked to fix in this cell, as `ename: evalue`; null when there is none. */
export function errorOf(cell: CellWidget): string | null {
  const model = cell.model;
  if (model.type !== 'code' || AGENT_MAGIC.test(model.sharedModel.getSource())) {
    return null;
  }
  const outputs = (model.toJSON() as { outputs?: { output_type?: string; ename?: unknown; evalue?: unknown }[] }).outputs;
  // An interrupt is the user's doing, not an error to fix.
  const error = (outputs ?? []).find(output => output.output_type === 'error' && output.ename !== 'KeyboardInterrupt');
  return error ? `${String(error.ename ?? 'Error')}: ${String(error.evalue ?? '')}` : null;
}

/** Insert the fix cell below `cell` and run it in the panel's kernel. */
async function askForFix(panel: NotebookPanel, cell: CellWidget): Promise<void> {
  const notebook = panel.content;
  const index = notebook.widgets.indexOf(cell);
  const shared = notebook.model?.sharedModel;
  if (index < 0 || !shared) {
    return;
  }
  shared.insertCell(index + 1, { cell_type: 'code', source: `%agent fix --cell ${cell.model.id}`, metadata: {} });
  await runCellAt(panel, index + 1);
}

/** Show the bar on the panel's failing cells. */
export function watchErrors(panel: NotebookPanel): void {
  watchCellBars(panel, 'jp-tinycode-fixbar', (cell): IBarSpec | null => {
    const error = errorOf(cell);
    if (error === null) {
      return null;
    }
    return {
      key: error,
      build: bar => {
        const fix = barButton('Fix with agent', 'Ask the agent to find the cause of this error (in this cell or the cells it uses) and fix it there', () => {
          fix.disabled = true;
          void askForFix(panel, cell).finally(() => (fix.disabled = false));
        });
        fix.classList.add('jp-tinycode-fix');
        bar.append(fix);
      }
    };
  });
}
