/**
 * The document owner of the notebook protocol in JupyterLab 4 / Notebook 7: the agent's notebook
 * tools (read_cells, insert_cell, edit_cell, delete_cell, run_cells) act on the live notebook.
 *
 * Each notebook panel registers the comm target on its kernel (again after every kernel change),
 * so the owner of a run is the panel whose kernel opened the comm, never the active tab. Its
 * policy is `review`: the agent's own cells change at once; an edit or delete of a user's cell
 * first gets the interim `waiting: "user"` message, then the user's Accept (applied if the cell
 * is still what the agent read, else `conflict`) or Reject (`rejected`, with the reason).
 * A review disappears unanswered when its comm closes, its kernel goes away or the execution
 * it came during ends (the run is over). Requests for another owner are ignored; malformed
 * ones get `bad_request`.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import type { Kernel } from '@jupyterlab/services';
import type { JSONObject } from '@lumino/coreutils';

import { watchDeletedCells } from './deletedCells';
import { ExecutingCell, KERNEL_GONE } from './executingCell';
import {
  applyDelete, applyEdit, cellsOf, checkedCell, insertCell, setLastTurn, setOutputs, SharedNotebook
} from './notebookCells'; // prettier-ignore
import {
  envelopeOf, errorReply, IRun, NOTEBOOK_TARGET, NOTEBOOK_VERSION, NotebookError, okReply, parseRequest, Reply, Request,
  waitingReply
} from './notebookProtocol'; // prettier-ignore
import { isAgentCell } from './provenance';
import { revertRun } from './revert';
import { IReview, ReviewQueue } from './review';
import { Withdrawals } from './withdrawals';

type Result = Record<string, unknown>;

/** One comm of one run: where its replies go, and what withdraws its reviews (the comm closed, the kernel went). */
interface IChannel {
  send(reply: Reply): void;
  withdrawals: Withdrawals[];
}

function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), byte => byte.toString(16).padStart(2, '0')).join('');
}

function rejected(verb: string, cellId: string, reason: string): NotebookError {
  const why = reason ? `, saying: ${reason}` : ' (no reason given)';
  return new NotebookError('rejected', `the user rejected the ${verb} of cell ${cellId}${why}; the cell was not changed`,
                           { reason }); // prettier-ignore
}

class NotebookOwner {
  readonly ownerId = randomHex(16);
  private readonly reviews: ReviewQueue;
  private readonly kernels = new WeakSet<Kernel.IKernelConnection>();

  constructor(private readonly panel: NotebookPanel) {
    this.reviews = new ReviewQueue(panel);
    panel.sessionContext.kernelChanged.connect((_, change) => this.connect(change.newValue));
    this.connect(panel.sessionContext.session?.kernel);
    panel.disposed.connect(() => {
      this.reviews.clear().forEach(review => review.reject('the notebook was closed before the user decided'));
    });
  }

  /** Answer the protocol on `kernel`; its reviews are withdrawn when it goes away. */
  private connect(kernel: Kernel.IKernelConnection | null | undefined): void {
    if (!kernel || this.kernels.has(kernel)) {
      return;
    }
    this.kernels.add(kernel);
    const executing = new ExecutingCell(kernel);
    const ofKernel = new Withdrawals();
    kernel.statusChanged.connect((_, status) => KERNEL_GONE.has(status) && ofKernel.run());
    kernel.disposed.connect(() => ofKernel.run());
    this.panel.sessionContext.kernelChanged.connect((_, change) => change.oldValue === kernel && ofKernel.run());
    // The registry survives kernel restarts; registering twice replaces the callback.
    kernel.registerCommTarget(NOTEBOOK_TARGET, (comm, open) => {
      const ofComm = new Withdrawals();
      const channel: IChannel = {
        send: reply => {
          if (!comm.isDisposed && !kernel.isDisposed) {
            void comm.send(reply as unknown as JSONObject); // after the comm closed or the kernel went: no one to tell
          }
        },
        withdrawals: [ofComm, ofKernel]
      };
      comm.onMsg = msg => this.handle(channel, msg.content.data, executing);
      comm.onClose = () => ofComm.run();
      this.handle(channel, open.content.data, executing);
    });
  }

  private handle(channel: IChannel, data: unknown, executing: ExecutingCell): void {
    const envelope = envelopeOf(data);
    if (envelope === null || (envelope.op !== 'hello' && envelope.ownerId !== this.ownerId)) {
      return; // not a request, or one for another owner (another tab of this notebook answered first)
    }
    const { requestId } = envelope;
    try {
      const request = parseRequest(data as Result);
      if (request.op === 'hello' && !this.ranHere(request.kernel_cell_id)) {
        return; // another notebook on this kernel ran it
      }
      const result = this.answer(request, requestId, channel, executing);
      if (result !== null) {
        channel.send(okReply(requestId, result));
      }
    } catch (error) {
      channel.send(errorReply(requestId, this.asNotebookError(error, envelope.op)));
    }
  }

  private asNotebookError(error: unknown, op: unknown): NotebookError {
    if (error instanceof NotebookError) {
      return error;
    }
    console.error(`tinycode-jupyter: cannot answer ${String(op)} in ${this.panel.context.path}:`, error);
    return new NotebookError('bad_request', `malformed ${String(op)} request (${String(error)})`);
  }

  private get notebook(): SharedNotebook {
    const model = this.panel.content.model;
    if (!model) {
      throw new NotebookError('bad_request', `notebook ${this.panel.context.path} is not loaded`);
    }
    return model.sharedModel;
  }

  private ranHere(cellId: string | null): boolean {
    return cellId === null || this.notebook.cells.some(cell => cell.id === cellId);
  }

  /** The result of `request`, or null when a review answers it later. */
  private answer(request: Request, requestId: string, channel: IChannel, executing: ExecutingCell): Result | null {
    const notebook = this.notebook;
    const where = { name: this.panel.context.path, executing_cell_id: executing.cellId };
    switch (request.op) {
      case 'hello':
        return { owner_id: this.ownerId, version: NOTEBOOK_VERSION, policy: 'review', ...where };
      case 'get_cells':
        return { ...cellsOf(notebook, request.cell_ids), ...where };
      case 'insert_cell':
        return { cell: insertCell(notebook, request.cell_type, request.source, request.after_cell_id, request.run) };
      case 'edit_cell':
      case 'delete_cell':
        return this.change(request, requestId, channel, executing);
      case 'set_outputs':
        return {
          cell: setOutputs(notebook, request.cell_id, request.outputs, request.execution_count, id => this.distrust(id))
        };
      case 'set_last_turn':
        setLastTurn(notebook, request.last_turn);
        return {};
      case 'revert_run':
        return { ...revertRun(notebook, request.run_id) };
    }
  }

  /** An edit or delete: at once for the agent's cell, after the user's review for the user's. */
  private change(request: Extract<Request, { op: 'edit_cell' | 'delete_cell' }>, requestId: string, channel: IChannel,
                 executing: ExecutingCell): Result | null { // prettier-ignore
    const apply = (): Result => {
      const [index] = checkedCell(this.notebook, request.cell_id, request.expected_source);
      const run: IRun = request.run;
      return { cell: request.op === 'edit_cell' ? applyEdit(this.notebook, index, request.source, run)
                                                : applyDelete(this.notebook, index, run) }; // prettier-ignore
    };
    const [, cell] = checkedCell(this.notebook, request.cell_id, request.expected_source);
    if (isAgentCell(cell)) {
      return apply();
    }
    channel.send(waitingReply(requestId));
    const settle = (reply: () => Reply): void => {
      forget.forEach(f => f());
      try {
        channel.send(reply());
      } catch (error) {
        channel.send(errorReply(requestId, this.asNotebookError(error, request.op)));
      }
    };
    const review: IReview = {
      cellId: cell.id,
      kind: request.op === 'edit_cell' ? 'edit' : 'delete',
      before: request.expected_source,
      after: request.op === 'edit_cell' ? request.source : '',
      runId: request.run.run_id,
      accept: () => settle(() => okReply(requestId, apply())),
      reject: reason => settle(() => errorReply(requestId, rejected(request.op === 'edit_cell' ? 'edit' : 'deletion', cell.id, reason)))
    };
    const unqueue = this.reviews.add(review);
    const withdraw = (): void => {
      forget.forEach(f => f());
      unqueue();
    };
    const ending = [...channel.withdrawals, ...(executing.ending ? [executing.ending] : [])];
    const forget = ending.map(withdrawals => withdrawals.add(withdraw));
    return null;
  }

  /** The cell's outputs render untrusted from now on (no script in them runs). */
  private distrust(cellId: string): void {
    const model = this.panel.content.widgets.find(cell => cell.model.id === cellId)?.model;
    if (model) {
      model.trusted = false;
    }
  }
}

/** Own the panel's notebook for the notebook protocol, and show where the agent deleted cells. */
export function watchNotebookOwner(panel: NotebookPanel): void {
  new NotebookOwner(panel);
  watchDeletedCells(panel);
}

export const notebookOwner: JupyterFrontEndPlugin<void> = {
  id: 'tinycode-jupyter:notebook-owner',
  description: "Lets the agent's notebook tools read and change the live notebook, with a review of every change to a user's cell.",
  autoStart: true,
  requires: [INotebookTracker],
  activate: (_app: JupyterFrontEnd, tracker: INotebookTracker): void => {
    tracker.forEach(watchNotebookOwner);
    tracker.widgetAdded.connect((_, panel) => watchNotebookOwner(panel));
  }
};
