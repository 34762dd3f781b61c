/**
 * tinycode-jupyter: JupyterLab 4 / Notebook 7 plugins.
 *
 * `cells` writes the agent's results back into the notebook as cells; `sidebar`
 * (in `sidebar.ts`) is the chat with the agent in the active notebook's kernel.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { watchNotebook } from './comm';
import { watchErrors } from './fixButton';
import { watchAgentRuns } from './agentCellBar';
import { provenanceBadges } from './badges';
import { notebookOwner } from './notebookOwner';
import { sidebar } from './sidebar';

const cells: JupyterFrontEndPlugin<void> = {
  id: 'tinycode-jupyter:cells',
  description: 'Inserts the cells a tinycode agent run produces below its agent cell.',
  autoStart: true,
  requires: [INotebookTracker],
  activate: (_app: JupyterFrontEnd, tracker: INotebookTracker): void => {
    tracker.forEach(watchNotebook);
    tracker.widgetAdded.connect((_, panel) => watchNotebook(panel));
  }
};

const cellActions: JupyterFrontEndPlugin<void> = {
  id: 'tinycode-jupyter:cell-actions',
  description: 'Adds "Fix with agent" under error outputs, and "Undo this run" and "Ask again" under agent cells.',
  autoStart: true,
  requires: [INotebookTracker],
  activate: (_app: JupyterFrontEnd, tracker: INotebookTracker): void => {
    const watch = (panel: NotebookPanel): void => {
      watchErrors(panel);
      watchAgentRuns(panel);
    };
    tracker.forEach(watch);
    tracker.widgetAdded.connect((_, panel) => watch(panel));
  }
};

export default [cells, sidebar, cellActions, provenanceBadges, notebookOwner];
