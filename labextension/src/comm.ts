/**
 * Binds the comm target to a notebook's kernel, and answers the kernel's messages
 * by editing that notebook (the one that owns the kernel, not the active one).
 */
import type { NotebookPanel } from '@jupyterlab/notebook';
import type { Kernel, KernelMessage } from '@jupyterlab/services';

import { AnchorNotFoundError, replaceRun, upsertCell } from './cells';
import { parseRequest, Reply, TARGET, VERSION } from './protocol';

/** Apply one kernel message to the panel's notebook; returns the reply, if any. */
export function handleMessage(panel: NotebookPanel, data: unknown): Reply | null {
  const request = parseRequest(data);
  if (request.action === 'hello') {
    return { action: 'ready', version: VERSION };
  }
  const notebook = panel.content.model?.sharedModel;
  if (!notebook) {
    throw new Error(`notebook ${panel.context.path} has no model`);
  }
  if (request.action === 'replace_run') {
    replaceRun(notebook, request);
    return null;
  }
  try {
    return { action: 'applied', run_id: request.run_id, count: upsertCell(notebook, request) };
  } catch (error) {
    if (error instanceof AnchorNotFoundError) {
      return { action: 'applied', run_id: request.run_id, count: 0, error: error.message };
    }
    throw error;
  }
}

/** Apply one message and send the reply; a message that cannot be applied is logged. */
function respond(panel: NotebookPanel, comm: Kernel.IComm, data: unknown): void {
  let reply: Reply | null;
  try {
    reply = handleMessage(panel, data);
  } catch (error) {
    console.error(`tinycode-jupyter: cannot apply message in ${panel.context.path}:`, error);
    return;
  }
  if (reply) {
    comm.send(reply);
  }
}

function onCommOpen(panel: NotebookPanel, comm: Kernel.IComm, open: KernelMessage.ICommOpenMsg): void {
  comm.onMsg = (msg: KernelMessage.ICommMsgMsg) => respond(panel, comm, msg.content.data);
  if (open.content.data && 'action' in open.content.data) {
    respond(panel, comm, open.content.data); // the kernel may send its hello with the open
  }
}

/** Register the comm target on the panel's kernel now and after every kernel change. */
export function watchNotebook(panel: NotebookPanel): void {
  const register = (kernel: Kernel.IKernelConnection | null | undefined): void => {
    // The registry survives kernel restarts; registering twice replaces the callback.
    kernel?.registerCommTarget(TARGET, (comm, open) => onCommOpen(panel, comm, open));
  };
  panel.sessionContext.kernelChanged.connect((_, change) => register(change.newValue));
  register(panel.sessionContext.session?.kernel);
}
