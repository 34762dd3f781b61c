/**
 * Which cell a kernel is executing now, as one page sees it.
 *
 * The kernel runs execute requests one at a time, in the order they came; so the cell it runs
 * now is the one of the oldest execute request this connection sent that has no reply yet
 * (a cell queued by Run All waits behind it). A restart or a dead kernel drops them all.
 * What the agent asked during an execution ends with it: an agent run never outlives its cell.
 */
import type { Kernel, KernelMessage } from '@jupyterlab/services';

import { Withdrawals } from './withdrawals';

interface IPending {
  msgId: string;
  cellId: string | null;
  ended: Withdrawals;
}

/** Kernel statuses after which nothing it was asked before is answered. */
export const KERNEL_GONE: ReadonlySet<string> = new Set(['restarting', 'autorestarting', 'dead', 'terminating']);

export class ExecutingCell {
  private pending: IPending[] = [];

  constructor(kernel: Kernel.IKernelConnection) {
    kernel.anyMessage.connect((_, { msg, direction }) => this.onMessage(msg, direction), this);
    kernel.statusChanged.connect((_, status) => {
      if (KERNEL_GONE.has(status)) {
        this.pending.splice(0).forEach(entry => entry.ended.run());
      }
    }, this);
  }

  /** The id of the cell whose execution runs now (null: none, or one this page did not send). */
  get cellId(): string | null {
    return this.pending[0]?.cellId ?? null;
  }

  /** What runs when the execution running now ends (null: none this page sent runs). */
  get ending(): Withdrawals | null {
    return this.pending[0]?.ended ?? null;
  }

  private onMessage(msg: KernelMessage.IMessage, direction: 'send' | 'recv'): void {
    const type = msg.header.msg_type;
    if (direction === 'send' && type === 'execute_request') {
      const cellId = (msg.metadata as { cellId?: unknown }).cellId;
      const entry = { msgId: msg.header.msg_id, cellId: typeof cellId === 'string' ? cellId : null, ended: new Withdrawals() };
      this.pending.push(entry);
    } else if (direction === 'recv' && type === 'execute_reply') {
      const parent = (msg.parent_header as { msg_id?: unknown }).msg_id;
      const index = this.pending.findIndex(entry => entry.msgId === parent);
      if (index >= 0) {
        this.pending.splice(index, 1)[0].ended.run();
      }
    }
  }
}
