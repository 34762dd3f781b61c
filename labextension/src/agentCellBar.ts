/**
 * The bar under every agent cell that ran:
 * - "Undo this run" asks the kernel for `%agent undo --run <id>` (that run and any after it:
 *   variables, files with git checkpoints, and the cells through the notebook's "revert this
 *   run") and shows the kernel's report;
 * - "Ask again" re-runs an answered cell with `--rerun` (the kernel drops the word when it
 *   writes the new answer marker), as a user would type it.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import type { NotebookPanel } from '@jupyterlab/notebook';
import type { KernelMessage } from '@jupyterlab/services';

import { barButton, CellWidget, IBarSpec, runCellAt, watchCellBars } from './cellBars';

/** The footer output's machine-readable part (`tinycode_jupyter/jupyter/cell_output.py`). */
export const RUN_MIME = 'application/vnd.tinycode.run+json';
const AGENT_CELL = /^\s*%%agent\b/;
const RUN_ID = /^[0-9a-f]{6,40}$/;

/** The run the agent cell shows (the newest footer's), or null when it has not run. */
export function runIdOf(cell: CellWidget): string | null {
  const model = cell.model;
  if (model.type !== 'code' || !AGENT_CELL.test(model.sharedModel.getSource())) {
    return null;
  }
  const outputs = (model.toJSON() as { outputs?: { data?: Record<string, unknown> }[] }).outputs ?? [];
  for (const output of [...outputs].reverse()) {
    const runId = (output.data?.[RUN_MIME] as { run_id?: unknown } | undefined)?.run_id;
    if (typeof runId === 'string' && RUN_ID.test(runId)) {
      return runId;
    }
  }
  return null;
}

/** The text of what an execution printed: streams, results and the error's name and message. */
function textOf(message: KernelMessage.IIOPubMessage): string {
  const content = message.content as { text?: string; data?: Record<string, unknown>; ename?: string; evalue?: string };
  if (message.header.msg_type === 'stream') {
    return content.text ?? '';
  }
  if (message.header.msg_type === 'error') {
    return `${content.ename}: ${content.evalue}\n`;
  }
  const plain = content.data?.['text/plain'];
  return typeof plain === 'string' ? `${plain}\n` : '';
}

/** Run `%agent undo --run <runId>` in the panel's kernel, as from the agent cell; the kernel's report. */
async function undoRun(panel: NotebookPanel, cell: CellWidget, runId: string): Promise<string> {
  const kernel = panel.sessionContext.session?.kernel;
  if (!kernel) {
    return 'No kernel: start the kernel, then run %agent undo.';
  }
  const code = `%agent undo --run ${runId}`;
  const future = kernel.requestExecute({ code, silent: false, store_history: false }, true, { cellId: cell.model.id });
  let text = '';
  future.onIOPub = message => {
    text += textOf(message);
  };
  await future.done;
  return text.trim() || 'Undone.';
}

/** The agent cell's source with `--rerun` on its first line. */
export function withRerun(source: string): string {
  const [first, ...rest] = source.split('\n');
  return /\s--rerun(\s|$)/.test(first) ? source : [`${first.trimEnd()} --rerun`, ...rest].join('\n');
}

/** Run the agent cell again with `--rerun`: the model is asked again and the run's cells are replaced. */
async function askAgain(panel: NotebookPanel, cell: CellWidget): Promise<void> {
  const index = panel.content.widgets.indexOf(cell);
  if (index < 0) {
    return;
  }
  cell.model.sharedModel.setSource(withRerun(cell.model.sharedModel.getSource()));
  await runCellAt(panel, index);
}

/** Show the bar on the panel's agent cells that ran. */
export function watchAgentRuns(panel: NotebookPanel): void {
  watchCellBars(panel, 'jp-tinycode-undobar', (cell): IBarSpec | null => {
    const runId = runIdOf(cell);
    if (runId === null) {
      return null;
    }
    return {
      key: runId,
      build: bar => {
        const report = document.createElement('pre');
        report.className = 'jp-tinycode-undo-report';
        const undo = barButton('↩ Undo this run', 'Put back the variables, files and cells this run (and any run after it) changed', () => {
          void confirmAndUndo(panel, cell, runId, undo, report);
        });
        undo.classList.add('jp-tinycode-undo');
        const again = barButton('⟳ Ask again', 'Ask the model again and replace the cells this cell wrote', () => {
          void askAgain(panel, cell);
        });
        again.classList.add('jp-tinycode-rerun');
        bar.append(undo, again, report);
      }
    };
  });
}

async function confirmAndUndo(panel: NotebookPanel, cell: CellWidget, runId: string, button: HTMLButtonElement,
                              report: HTMLElement): Promise<void> {
  const answer = await showDialog({
    title: 'Undo this agent run?',
    body: `Run ${runId} and any agent run after it: their variables, files (with git checkpoints) and cells go back to how they were before.`,
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Undo' })]
  });
  if (!answer.button.accept) {
    return;
  }
  button.disabled = true;
  report.textContent = 'Undoing…';
  try {
    report.textContent = await undoRun(panel, cell, runId);
  } catch (error) {
    report.textContent = `Undo failed: ${String(error)}`;
  } finally {
    button.disabled = false;
  }
}
