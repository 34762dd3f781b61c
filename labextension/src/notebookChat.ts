/**
 * The chat of one notebook: a heading with Clear, a transcript, a prompt box with history
 * (↑/↓), a model picker, Send and Stop.
 *
 * A run is bound at Send to this notebook's kernel, to its active cell (the anchor of the
 * cells the run writes) and to the model picked; its events come back on that kernel's
 * connection and are shown here only, whichever notebook is active meanwhile.
 */
import type { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, showDialog } from '@jupyterlab/apputils';
import type { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import type { NotebookPanel } from '@jupyterlab/notebook';
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import type { Message } from '@lumino/messaging';
import { Panel, Widget } from '@lumino/widgets';

import { appendAnchor } from './cells';
import { revealCell } from './cellLink';
import { ChatEvent, IModels, IUndone } from './chatProtocol';
import { IChatListener, KernelChat } from './kernelChat';
import { ModelPicker } from './modelPicker';
import { PromptHistory, recordedPrompts } from './promptHistory';
import { Transcript } from './transcript';

/** What a chat needs from the application. */
export interface IChatServices {
  shell: JupyterFrontEnd.IShell;
  rendermime: IRenderMimeRegistry;
  languages: IEditorLanguageRegistry | null;
}

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
  private readonly pathLabel = document.createElement('div');
  private readonly prompt = document.createElement('textarea');
  private readonly status = document.createElement('div');
  private readonly models = new ModelPicker();
  private readonly history = new PromptHistory();
  private readonly sendButton = button('Send', 'jp-mod-accept jp-tinycode-send', () => this.send());
  private readonly stopButton = button('Stop', 'jp-mod-warn jp-tinycode-stop', () => this.stop());
  private readonly clearButton = button('Clear', 'jp-mod-minimal jp-tinycode-clear', () => this.transcript.clear());
  private connection: KernelChat | null = null;
  private running: KernelChat | null = null;
  private runAnchor: string | null = null;
  private runId: string | null = null;
  private readonly undoReports = new Map<string, HTMLElement>();

  constructor(notebook: NotebookPanel, services: IChatServices) {
    super();
    this.notebook = notebook;
    this.addClass('jp-tinycode-chat');
    this.transcript = new Transcript(services.rendermime, services.languages, (cellId, link) => {
      if (!revealCell(services.shell, notebook, cellId)) {
        link.disabled = true;
        link.textContent = 'that cell is no longer in the notebook';
      }
    });
    void notebook.context.ready.then(() => this.history.addEarlier(recordedPrompts(notebook)));
    this.addWidget(new Widget({ node: this.heading() }));
    this.addWidget(this.transcript);
    this.addWidget(new Widget({ node: this.form() }));
    this.showPath();
    notebook.context.pathChanged.connect(this.showPath, this);
    this.setRunning(false);
  }

  focusPrompt(): void {
    this.prompt.focus();
  }

  /** Run the agent on the prompt box's text in this notebook's kernel, with the model picked. */
  send(): void {
    const text = this.prompt.value.trim();
    if (text === '' || this.running !== null) {
      return;
    }
    const connection = this.connect(true);
    if (connection === null) {
      return;
    }
    this.prompt.value = '';
    this.history.add(text);
    this.transcript.addPrompt(text);
    this.running = connection;
    this.setRunning(true, 'Waiting for the kernel…');
    this.runAnchor = anchorOf(this.notebook);
    this.runId = null;
    this.running.run(text, this.runAnchor, this.models.model);
  }

  stop(): void {
    if (this.running !== null) {
      this.running.stop();
      this.status.textContent = 'Stopping…';
    }
  }

  onModels(chat: KernelChat, models: IModels): void {
    if (chat === this.connection) {
      this.models.show(models);
    }
  }

  onEvent(chat: KernelChat, event: ChatEvent): void {
    if (chat !== this.running) {
      return;
    }
    this.transcript.apply(event);
    if (event.kind === 'start') {
      this.runId = event.run_id;
      this.status.textContent = `${event.model} · working…`;
    } else if (event.kind === 'done') {
      this.finish();
      if (this.runId !== null) {
        this.offerUndo(this.runId, this.runAnchor);
      }
    }
  }

  onUndone(_chat: KernelChat, undone: IUndone): void {
    const report = this.undoReports.get(undone.run_id);
    if (report !== undefined) {
      report.textContent = undone.text;
      report.classList.toggle('jp-tinycode-error', !undone.ok);
    }
  }

  /** An "Undo this run" button under the run's transcript. */
  private offerUndo(runId: string, anchor: string | null): void {
    const report: HTMLElement = this.transcript.addUndo(() => void this.undo(runId, anchor, report));
  }

  private async undo(runId: string, anchor: string | null, report: HTMLElement): Promise<void> {
    const answer = await showDialog({
      title: 'Undo this agent run?',
      body: `Run ${runId} and any agent run after it: their variables, files (with git checkpoints) and cells go back to how they were before.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Undo' })]
    });
    const connection = answer.button.accept ? this.connect(true) : null;
    if (connection !== null) {
      this.undoReports.set(runId, report);
      report.textContent = 'Undoing…';
      connection.undo(runId, anchor);
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

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.refreshModels();
  }

  /** The connection to this notebook's kernel, made if needed; null (with a note when `say`) if none. */
  private connect(say: boolean): KernelChat | null {
    const kernel = this.notebook.sessionContext.session?.kernel;
    if (!kernel) {
      if (say) {
        this.transcript.addNote('This notebook has no kernel; start one, then send again.', 'error');
      }
      return null;
    }
    if (this.connection === null || !this.connection.usable || this.connection.kernel !== kernel) {
      this.connection?.dispose();
      this.connection = null;
      try {
        this.connection = new KernelChat(kernel, this);
      } catch (error) {
        if (say) {
          this.transcript.addNote(`Cannot talk to this notebook’s kernel: ${error}`, 'error');
        }
        return null;
      }
    }
    return this.connection;
  }

  /** Ask the kernel which models it offers (when the chat is shown, a run ends, the picker is opened). */
  private refreshModels(): void {
    if (this.running === null) {
      this.connect(false)?.requestModels();
    }
  }

  private finish(): void {
    this.running = null;
    this.setRunning(false);
    this.refreshModels();
  }

  private heading(): HTMLElement {
    const heading = document.createElement('div');
    heading.className = 'jp-tinycode-heading';
    this.pathLabel.className = 'jp-tinycode-title';
    this.clearButton.title = 'Clear the transcript (the kernel keeps the conversation; %agent reset forgets it)';
    heading.append(this.pathLabel, this.clearButton);
    return heading;
  }

  private form(): HTMLElement {
    const form = document.createElement('div');
    form.className = 'jp-tinycode-form';
    this.prompt.className = 'jp-tinycode-input';
    this.prompt.rows = 3;
    this.prompt.placeholder = 'Ask the agent to work in this notebook’s kernel. Enter sends · Shift+Enter: new line · ↑↓: earlier prompts';
    this.prompt.addEventListener('keydown', event => this.onPromptKey(event));
    this.models.node.addEventListener('focus', () => this.refreshModels());
    this.status.className = 'jp-tinycode-status';
    const buttons = document.createElement('div');
    buttons.className = 'jp-tinycode-buttons';
    buttons.append(this.models.node, this.status, this.stopButton, this.sendButton);
    form.append(this.prompt, buttons);
    return form;
  }

  /** Enter sends; ↑ on the first line and ↓ on the last go through the earlier prompts. */
  private onPromptKey(event: KeyboardEvent): void {
    if (event.isComposing || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) {
      return;
    }
    const { value, selectionStart, selectionEnd } = this.prompt;
    let recalled: string | null = null;
    if (event.key === 'Enter') {
      event.preventDefault();
      this.send();
      return;
    } else if (event.key === 'ArrowUp' && !value.slice(0, selectionStart).includes('\n')) {
      recalled = this.history.previous(value);
    } else if (event.key === 'ArrowDown' && !value.slice(selectionEnd).includes('\n')) {
      recalled = this.history.next();
    }
    if (recalled !== null) {
      event.preventDefault();
      this.prompt.value = recalled;
      this.prompt.setSelectionRange(recalled.length, recalled.length);
    }
  }

  private setRunning(running: boolean, status = ''): void {
    this.sendButton.disabled = running;
    this.stopButton.disabled = !running;
    this.clearButton.disabled = running;
    this.models.node.disabled = running || this.models.node.options.length === 1;
    this.status.textContent = status;
  }

  private showPath(): void {
    this.pathLabel.textContent = `Agent · ${this.notebook.context.path}`;
  }
}
