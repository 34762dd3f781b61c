/**
 * One sidebar's connection to one kernel's agent: the comm on `tinycode_jupyter.chat`.
 */
import type { CommsOverSubshells, Kernel, KernelMessage } from '@jupyterlab/services';

import { CHAT_TARGET, ChatEvent, ChatRequest, IModels, IUndone, LOAD_HINT, parseReply } from './chatProtocol';

/** What a connection reports to its owner. */
export interface IChatListener {
  /** An event of the current run. */
  onEvent(chat: KernelChat, event: ChatEvent): void;
  /** The kernel's answer to {@link KernelChat.requestModels}. */
  onModels(chat: KernelChat, models: IModels): void;
  /** What an undo this connection asked for did. */
  onUndone(chat: KernelChat, undone: IUndone): void;
  /** The connection is gone (the reason is for the user); no more events will come. */
  onLost(chat: KernelChat, reason: string): void;
}

/** Kernel states after which the comm is gone. */
const LOST_STATES = new Set<KernelMessage.Status>(['restarting', 'autorestarting', 'dead']);

/**
 * Opens the comm at construction. Messages sent before the kernel answers wait in its
 * shell queue, so a run can be sent at once; if the kernel has no such target it closes
 * the comm, and the listener hears {@link LOAD_HINT}.
 */
export class KernelChat {
  readonly kernel: Kernel.IKernelConnection;
  private readonly comm: Kernel.IComm;
  private readonly listener: IChatListener;
  private ready = false;
  private lost = false;

  constructor(kernel: Kernel.IKernelConnection, listener: IChatListener) {
    this.kernel = kernel;
    this.listener = listener;
    this.comm = kernel.createComm(CHAT_TARGET);
    // The agent runs on the kernel's main thread: keep this comm's messages off subshells.
    this.comm.commsOverSubshells = 'disabled' as CommsOverSubshells;
    this.comm.onMsg = msg => this.receive(msg.content.data);
    this.comm.onClose = () => this.lose(this.ready ? 'The kernel closed the chat connection.' : LOAD_HINT);
    kernel.statusChanged.connect(this.onStatus, this);
    this.comm.open({});
  }

  /** False once the comm is closed or the kernel restarted; make a new connection then. */
  get usable(): boolean {
    return !this.lost && !this.kernel.isDisposed;
  }

  /** Run the agent; `model` null: the kernel's default model. */
  run(prompt: string, anchorCellId: string | null, model: string | null): void {
    this.send({ action: 'run', prompt, anchor_cell_id: anchorCellId, model });
  }

  /** Ask which models a run may choose; the answer goes to the listener's `onModels`. */
  requestModels(): void {
    this.send({ action: 'models' });
  }

  stop(): void {
    this.send({ action: 'stop' });
  }

  /** Undo run `runId` and every run after it; `cellId`: the cell its cells were written below. */
  undo(runId: string, cellId: string | null): void {
    this.send({ action: 'undo', run_id: runId, cell_id: cellId });
  }

  /** Close the comm (the kernel stops a run still going) and stop listening. */
  dispose(): void {
    const open = this.usable;
    this.lost = true; // closing calls onClose: the listener is not told
    this.kernel.statusChanged.disconnect(this.onStatus, this);
    if (open) {
      this.comm.close();
    }
  }

  private send(request: ChatRequest): void {
    if (this.usable) {
      this.comm.send(request);
    }
  }

  private receive(data: unknown): void {
    let reply;
    try {
      reply = parseReply(data);
    } catch (error) {
      console.error('tinycode-jupyter: ignoring a chat message from the kernel:', error);
      return;
    }
    if (reply.action === 'ready') {
      this.ready = true;
    } else if (reply.action === 'models') {
      this.listener.onModels(this, reply);
    } else if (reply.action === 'undone') {
      this.listener.onUndone(this, reply);
    } else {
      this.listener.onEvent(this, reply);
    }
  }

  private onStatus(_: Kernel.IKernelConnection, status: KernelMessage.Status): void {
    if (LOST_STATES.has(status)) {
      this.lose(status === 'dead' ? 'The kernel died.' : 'The kernel restarted.');
    }
  }

  private lose(reason: string): void {
    if (this.lost) {
      return;
    }
    this.lost = true;
    this.kernel.statusChanged.disconnect(this.onStatus, this);
    this.listener.onLost(this, reason);
  }
}
