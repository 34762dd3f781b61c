/**
 * tinycode-jupyter: JupyterLab 4 / Notebook 7 plugins.
 *
 * `cells` writes the agent's results back into the notebook as cells; `sidebar`
 * (in `sidebar.ts`) is the chat with the agent in the active notebook's kernel.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { INotebookTracker } from '@jupyterlab/notebook';

import { watchNotebook } from './comm';
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

export default [cells, sidebar];
