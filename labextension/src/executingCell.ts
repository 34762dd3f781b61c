/**
 * Which cell a kernel is executing now, as one page sees it.
 *
 * The kernel runs execute requests one at a time, in the order they came; so the cell it runs
 * now is the one of the oldest execute request this connection sent that has no reply yet
 * (a cell queued by Run All waits behind it). A restart or a dead kernel drops them all.
 */
import type { Kernel, KernelMessage } from '@jupyterlab/services';

interface IPending {
  msgId: string;
  cellId: string | null;
}

const GONE: ReadonlySet<string> = new Set(['restarting', 'autorestarting', 'dead', 'terminating', 'starting']);

export class ExecutingCell {
  private pending: IPending[] = [];

  constructor(kernel: Kernel.IKernelConnection) {
    kernel.anyMessage.connect((_, { msg, direction }) => this.onMessage(msg, direction), this);
    kernel.statusChanged.connect((_, status) => {
      if (GONE.has(status)) {
        this.pending = [];
      }
    }, this);
  }

  /** The id of the cell whose execution runs now (null: none, or one this page did not send). */
  get cellId(): string | null {
    return this.pending[0]?.cellId ?? null;
  }

  private onMessage(msg: KernelMessage.IMessage, direction: 'send' | 'recv'): void {
    const type = msg.header.msg_type;
    if (direction === 'send' && type === 'execute_request') {
      const cellId = (msg.metadata as { cellId?: unknown }).cellId;
      this.pending.push({ msgId: msg.header.msg_id, cellId: typeof cellId === 'string' ? cellId : null });
    } else if (direction === 'recv' && type === 'execute_reply') {
      const parent = (msg.parent_header as { msg_id?: unknown }).msg_id;
      this.pending = this.pending.filter(entry => entry.msgId !== parent);
    }
  }
}
