/**
 * The chat of one notebook: a transcript, a prompt box, Send and Stop.
 *
 * A run is bound at Send to this notebook's kernel and to its active cell (the
 * anchor of the cells the run writes); its events come back on that kernel's
 * connection and are shown here only, whichever notebook is active meanwhile.
 */
import type { NotebookPanel } from '@jupyterlab/notebook';
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { Panel, Widget } from '@lumino/widgets';

import { appendAnchor } from './cells';
import { ChatEvent } from './chatProtocol';
import { IChatListener, KernelChat } from './kernelChat';
import { Transcript } from './transcript';

function button(label: string, className: string, onClick: () => void): HTMLButtonElement {
  const node = document.createElement('button');
  node.type = 'button';
  node.className = `jp-Button jp-mod-styled ${className}`;
  node.textContent = label;
  node.addEventListener('click', onClick);
  return node;
}

/** The anchor for a run sent now: below the active cell, after the cells earlier runs wrote there. */
function anchorOf(notebook: NotebookPanel): string | null {
  const cellId = notebook.content.activeCell?.model.id;
  const shared = notebook.content.model?.sharedModel;
  return cellId === undefined || shared === undefined ? null : appendAnchor(shared, cellId);
}

export class NotebookChat extends Panel implements IChatListener {
  readonly notebook: NotebookPanel;
  private readonly transcript: Transcript;
  private readonly heading = document.createElement('div');
  private readonly prompt = document.createElement('textarea');
  private readonly status = document.createElement('div');
  private readonly sendButton = button('Send', 'jp-mod-accept jp-tinycode-send', () => this.send());
  private readonly stopButton = button('Stop', 'jp-mod-warn jp-tinycode-stop', () => this.stop());
  private connection: KernelChat | null = null;
  private running: KernelChat | null = null;

  constructor(notebook: NotebookPanel, rendermime: IRenderMimeRegistry) {
    super();
    this.notebook = notebook;
    this.addClass('jp-tinycode-chat');
    this.transcript = new Transcript(rendermime);
    this.heading.className = 'jp-tinycode-heading';
    this.addWidget(new Widget({ node: this.heading }));
    this.addWidget(this.transcript);
    this.addWidget(new Widget({ node: this.form() }));
    this.showPath();
    notebook.context.pathChanged.connect(this.showPath, this);
    this.setRunning(false);
  }

  focusPrompt(): void {
    this.prompt.focus();
  }

  /** Run the agent on the prompt box's text in this notebook's kernel. */
  send(): void {
    const text = this.prompt.value.trim();
    const kernel = this.notebook.sessionContext.session?.kernel;
    if (text === '' || this.running !== null) {
      return;
    }
    if (!kernel) {
      this.transcript.addNote('This notebook has no kernel; start one, then send again.', 'error');
      return;
    }
    if (this.connection === null || !this.connection.usable || this.connection.kernel !== kernel) {
      this.connection?.dispose();
      this.connection = null;
      try {
        this.connection = new KernelChat(kernel, this);
      } catch (error) {
        this.transcript.addNote(`Cannot talk to this notebook’s kernel: ${error}`, 'error');
        return;
      }
    }
    this.prompt.value = '';
    this.transcript.addPrompt(text);
    this.running = this.connection;
    this.setRunning(true, 'Waiting for the kernel…');
    this.running.run(text, anchorOf(this.notebook));
  }

  stop(): void {
    if (this.running !== null) {
      this.running.stop();
      this.status.textContent = 'Stopping…';
    }
  }

  onEvent(chat: KernelChat, event: ChatEvent): void {
    if (chat !== this.running) {
      return;
    }
    this.transcript.apply(event);
    if (event.kind === 'start') {
      this.status.textContent = `${event.model} · working…`;
    } else if (event.kind === 'done') {
      this.finish();
    }
  }

  onLost(chat: KernelChat, reason: string): void {
    if (chat === this.connection) {
      this.connection = null;
    }
    if (chat === this.running) {
      this.transcript.addNote(reason, 'error');
      this.finish();
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.connection?.dispose();
    this.connection = this.running = null;
    super.dispose();
  }

  private finish(): void {
    this.running = null;
    this.setRunning(false);
  }

  private form(): HTMLElement {
    const form = document.createElement('div');
    form.className = 'jp-tinycode-form';
    this.prompt.className = 'jp-tinycode-input';
    this.prompt.rows = 3;
    this.prompt.placeholder = 'Ask the agent; it runs code in this notebook’s kernel. Enter sends, Shift+Enter: new line.';
    this.prompt.addEventListener('keydown', event => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send();
      }
    });
    this.status.className = 'jp-tinycode-status';
    const buttons = document.createElement('div');
    buttons.className = 'jp-tinycode-buttons';
    buttons.append(this.status, this.stopButton, this.sendButton);
    form.append(this.prompt, buttons);
    return form;
  }

  private setRunning(running: boolean, status = ''): void {
    this.sendButton.disabled = running;
    this.stopButton.disabled = !running;
    this.status.textContent = status;
  }

  private showPath(): void {
    this.heading.textContent = `Agent · ${this.notebook.context.path}`;
  }
}
