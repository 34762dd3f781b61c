/**
 * The chat's transcript: prompts, the model's text, tool calls with code and output,
 * answers, usage footers and notes. The model's Markdown is rendered untrusted, with text
 * formatting only and no math ({@link untrustedMarkdown}); code and output are text.
 */
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { MimeModel } from '@jupyterlab/rendermime';
import type { Message } from '@lumino/messaging';
import { Panel, Widget } from '@lumino/widgets';

import { ChatEvent } from './chatProtocol';
import { untrustedMarkdown } from './untrustedMarkdown';

type ToolStart = Extract<ChatEvent, { kind: 'tool_start' }>;
type ToolEnd = Extract<ChatEvent, { kind: 'tool_end' }>;
type Usage = Extract<ChatEvent, { kind: 'usage' }>;

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

/** A markdown entry that re-renders in order, however fast the updates come. */
class MarkdownEntry {
  readonly widget: ReturnType<IRenderMimeRegistry['createRenderer']>;
  private pending: Promise<void> = Promise.resolve();

  constructor(rendermime: IRenderMimeRegistry) {
    this.widget = rendermime.createRenderer('text/markdown');
    this.widget.addClass('jp-tinycode-text');
  }

  render(text: string, onRendered: () => void): void {
    const model = new MimeModel({ data: { 'text/markdown': text }, trusted: false });
    this.pending = this.pending
      .then(() => this.widget.renderModel(model))
      .then(onRendered, error => console.error('tinycode-jupyter: cannot render markdown:', error));
  }
}

/**
 * Keeps the newest entry in view while the user follows the stream (is scrolled to the
 * end), also across being hidden while another notebook's chat is shown.
 */
export class Transcript extends Panel {
  private turns = new Map<number, MarkdownEntry>();
  private tools = new Map<string, HTMLElement>();
  private following = true;
  private readonly rendermime: IRenderMimeRegistry;

  constructor(rendermime: IRenderMimeRegistry) {
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
    this.following = true; // sending means reading what comes back
    this.add(element('div', 'jp-tinycode-prompt', text));
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
      this.addWidget(entry.widget);
    }
    entry.widget.toggleClass('jp-tinycode-answer', isAnswer);
    entry.render(text, () => this.scrollToEnd());
  }

  private showToolStart(event: ToolStart): void {
    const block = element('div', 'jp-tinycode-tool');
    block.append(element('div', 'jp-tinycode-tool-name', `▶ ${event.name}`));
    block.append(element('pre', 'jp-tinycode-code', event.body));
    this.tools.set(event.id, block);
    this.add(block);
  }

  private showToolEnd(event: ToolEnd): void {
    let block = this.tools.get(event.id);
    if (block === undefined) {
      block = element('div', 'jp-tinycode-tool');
      this.add(block);
    }
    const output = element('pre', 'jp-tinycode-output', event.output);
    output.classList.toggle('jp-mod-error', !event.ok);
    block.append(output);
    for (const png of event.images) {
      const image = document.createElement('img');
      image.className = 'jp-tinycode-image';
      image.src = `data:image/png;base64,${png}`;
      image.alt = `figure from ${event.name}`;
      image.addEventListener('load', () => this.scrollToEnd());
      block.append(image);
    }
    this.scrollToEnd();
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
