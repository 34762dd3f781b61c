/**
 * The chat's transcript: prompts, the model's text, tool calls as cards (highlighted code,
 * output, figures, tables), answers, usage footers and notes, and links to the cells a run
 * wrote. The model's Markdown and HTML tables are rendered untrusted, with text formatting and
 * tables only and no math ({@link untrustedMarkdown}); code and output are text.
 */
import type { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { MimeModel } from '@jupyterlab/rendermime';
import type { Message } from '@lumino/messaging';
import { Panel, Widget } from '@lumino/widgets';

import { cellLink } from './cellLink';
import { ChatEvent } from './chatProtocol';
import { codeBlock } from './codeCard';
import { untrustedMarkdown } from './untrustedMarkdown';

type ToolStart = Extract<ChatEvent, { kind: 'tool_start' }>;
type ToolEnd = Extract<ChatEvent, { kind: 'tool_end' }>;
type Usage = Extract<ChatEvent, { kind: 'usage' }>;
type CellWritten = Extract<ChatEvent, { kind: 'cell' }>;
type Renderer = ReturnType<IRenderMimeRegistry['createRenderer']>;

/** Show the cell `cellId` in the notebook; `link` is the link clicked. */
export type OpenCell = (cellId: string, link: HTMLButtonElement) => void;

const LINK_LABELS: Record<CellWritten['role'], [string, string]> = {
  prompt: ['↧ asked in the notebook', 'Show the markdown cell that records this question'],
  code: ['↧ cell', 'Show the cell this step wrote'],
  answer: ['↧ answer cell', 'Show the markdown cell that holds this answer']
};

/** How close to the bottom (px) counts as following the stream. */
const FOLLOW_SLACK = 48;

function element(tag: string, className: string, text?: string): HTMLElement {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function footer(usage: Usage): string {
  const tokens = `${usage.prompt_tokens.toLocaleString('en')} prompt + ${usage.completion_tokens.toLocaleString('en')} completion tokens`;
  const turns = `${usage.turns} ${usage.turns === 1 ? 'turn' : 'turns'}`;
  const cost = usage.cost_usd === null ? 'price unknown' : `$${usage.cost_usd.toFixed(4)}`;
  return `${usage.model} · ${turns} · ${tokens} · ${cost} · ${usage.duration_s.toFixed(1)} s`;
}

/** Render untrusted `data` of type `mime` into `widget`, after what `after` renders; then `onRendered`. */
function renderInto(widget: Renderer, mime: string, data: string, after: Promise<void>, onRendered: () => void): Promise<void> {
  const model = new MimeModel({ data: { [mime]: data }, trusted: false });
  return after
    .then(() => widget.renderModel(model))
    .then(onRendered, error => console.error(`tinycode-jupyter: cannot render ${mime}:`, error));
}

/** A markdown entry that re-renders in order, however fast the updates come; links go below it. */
class MarkdownEntry {
  readonly panel = new Panel();
  readonly widget: Renderer;
  private pending: Promise<void> = Promise.resolve();

  constructor(rendermime: IRenderMimeRegistry) {
    this.widget = rendermime.createRenderer('text/markdown');
    this.widget.addClass('jp-tinycode-text');
    this.panel.addClass('jp-tinycode-entry');
    this.panel.addWidget(this.widget);
  }

  render(text: string, onRendered: () => void): void {
    this.pending = renderInto(this.widget, 'text/markdown', text, this.pending, onRendered);
  }
}

/**
 * Keeps the newest entry in view while the user follows the stream (is scrolled to the
 * end), also across being hidden while another notebook's chat is shown.
 */
export class Transcript extends Panel {
  private turns = new Map<number, MarkdownEntry>();
  private tools = new Map<string, HTMLElement>();
  private prompt: HTMLElement | null = null;
  private answer: MarkdownEntry | null = null;
  private following = true;
  private readonly rendermime: IRenderMimeRegistry;

  constructor(
    rendermime: IRenderMimeRegistry,
    private readonly languages: IEditorLanguageRegistry | null,
    private readonly openCell: OpenCell
  ) {
    super();
    this.rendermime = untrustedMarkdown(rendermime);
    this.addClass('jp-tinycode-transcript');
    this.node.addEventListener('scroll', () => {
      const node = this.node;
      this.following = node.scrollHeight - node.scrollTop - node.clientHeight <= FOLLOW_SLACK;
    });
  }

  /** The user's prompt; starts a new run. */
  addPrompt(text: string): void {
    this.turns.clear();
    this.tools.clear();
    this.answer = null;
    this.following = true; // sending means reading what comes back
    this.prompt = element('div', 'jp-tinycode-prompt');
    this.prompt.append(element('div', 'jp-tinycode-prompt-text', text));
    this.add(this.prompt);
  }

  /** Empty the transcript (the kernel's conversation is not affected). */
  clear(): void {
    this.turns.clear();
    this.tools.clear();
    this.prompt = this.answer = null;
    [...this.widgets].forEach(widget => widget.dispose());
  }

  /** A row with "Undo this run" (calling `onUndo`) and, beside it, where the undo's report goes (returned). */
  addUndo(onUndo: () => void): HTMLElement {
    const row = element('div', 'jp-tinycode-undo-row');
    const undo = element('button', 'jp-Button jp-mod-styled jp-mod-minimal jp-tinycode-undo', '↩ Undo this run');
    undo.addEventListener('click', onUndo);
    const report = element('pre', 'jp-tinycode-undo-report');
    row.append(undo, report);
    this.add(row);
    return report;
  }

  addNote(text: string, kind: 'note' | 'error' = 'note'): void {
    this.add(element('div', `jp-tinycode-${kind}`, text));
  }

  apply(event: ChatEvent): void {
    switch (event.kind) {
      case 'text':
      case 'answer':
        this.showText(event.turn, event.text, event.kind === 'answer');
        break;
      case 'tool_start':
        this.showToolStart(event);
        break;
      case 'tool_end':
        this.showToolEnd(event);
        break;
      case 'cell':
        this.linkCell(event);
        break;
      case 'usage':
        this.add(element('div', 'jp-tinycode-usage', footer(event)));
        break;
      case 'error':
        this.addNote(`${event.error_type}: ${event.message}`, 'error');
        break;
      case 'done':
        if (event.status === 'stopped') {
          this.addNote('Stopped. The kernel is ready; the conversation so far is kept.');
        }
        break;
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.scrollToEnd();
  }

  private showText(turn: number, text: string, isAnswer: boolean): void {
    let entry = this.turns.get(turn);
    if (entry === undefined) {
      entry = new MarkdownEntry(this.rendermime);
      this.turns.set(turn, entry);
      this.addWidget(entry.panel);
    }
    entry.widget.toggleClass('jp-tinycode-answer', isAnswer);
    if (isAnswer) {
      this.answer = entry;
    }
    entry.render(text, () => this.scrollToEnd());
  }

  private showToolStart(event: ToolStart): void {
    const block = this.toolCard(event.id, event.name);
    block.append(codeBlock(event.body, event.language, this.languages));
    this.add(block);
  }

  private toolCard(id: string, name: string): HTMLElement {
    const block = element('div', 'jp-tinycode-tool');
    const header = element('div', 'jp-tinycode-tool-header');
    header.append(element('span', 'jp-tinycode-tool-name', name), element('span', 'jp-tinycode-tool-state', 'running…'));
    block.append(header);
    this.tools.set(id, block);
    return block;
  }

  private showToolEnd(event: ToolEnd): void {
    let block = this.tools.get(event.id);
    if (block === undefined) {
      block = this.toolCard(event.id, event.name);
      this.add(block);
    }
    const state = block.querySelector('.jp-tinycode-tool-state');
    if (state !== null) {
      state.textContent = event.ok ? '✓' : '✗ failed';
      state.classList.toggle('jp-mod-error', !event.ok);
    }
    if (event.output.trim() !== '') {
      const output = element('pre', 'jp-tinycode-output', event.output);
      output.classList.toggle('jp-mod-error', !event.ok);
      block.append(output);
    }
    for (const png of event.images) {
      const image = document.createElement('img');
      image.className = 'jp-tinycode-image';
      image.src = `data:image/png;base64,${png}`;
      image.alt = `figure from ${event.name}`;
      image.addEventListener('load', () => this.scrollToEnd());
      block.append(image);
    }
    for (const html of event.html) {
      const table = this.rendermime.createRenderer('text/html');
      table.addClass('jp-tinycode-table');
      block.append(table.node);
      void renderInto(table, 'text/html', html, Promise.resolve(), () => this.scrollToEnd());
    }
    this.scrollToEnd();
  }

  /** A link to a cell the run wrote, on what it came from: the prompt, the step's card, the answer. */
  private linkCell(event: CellWritten): void {
    const place =
      event.role === 'prompt'
        ? this.prompt
        : event.role === 'answer'
          ? this.answer?.panel.node ?? null
          : this.tools.get(event.tool_call_id ?? '')?.querySelector<HTMLElement>('.jp-tinycode-tool-header') ?? null;
    if (place === null) {
      return;
    }
    const [label, title] = LINK_LABELS[event.role];
    const link = cellLink(label, title, clicked => this.openCell(event.cell_id, clicked));
    link.dataset.cellId = event.cell_id;
    place.append(link);
  }

  private add(node: HTMLElement): void {
    this.addWidget(new Widget({ node }));
    this.scrollToEnd();
  }

  /** Show the newest entry, unless the user has scrolled back to read. */
  private scrollToEnd(): void {
    if (this.following) {
      this.node.scrollTop = this.node.scrollHeight;
    }
  }
}
