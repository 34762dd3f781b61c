/**
 * The sidebar chat: one {@link NotebookChat} per open notebook, showing the active
 * notebook's; and the "Open agent chat" command.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { LabIcon } from '@jupyterlab/ui-components';
import { StackedPanel, Widget } from '@lumino/widgets';

import { IChatServices, NotebookChat } from './notebookChat';

export const OPEN_CHAT = 'tinycode-jupyter:open-chat';

const chatIcon = new LabIcon({
  name: 'tinycode-jupyter:chat',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<path class="jp-icon3" fill="#616161" d="M20 2H4a2 2 0 0 0-2 2v18l4-4h14a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2z' +
    'M7 9h10v2H7zm0-3h10v2H7zm0 6h7v2H7z"/></svg>'
});

export class ChatSidebar extends StackedPanel {
  private readonly chats = new Map<NotebookPanel, NotebookChat>();
  private readonly placeholder = new Widget();

  constructor(
    private readonly tracker: INotebookTracker,
    private readonly services: IChatServices
  ) {
    super();
    this.id = 'tinycode-jupyter-chat';
    this.addClass('jp-tinycode-sidebar');
    this.title.icon = chatIcon;
    this.title.caption = 'Agent chat';
    this.placeholder.addClass('jp-tinycode-placeholder');
    this.placeholder.node.textContent = 'Open a notebook to chat with the agent in its kernel.';
    this.addWidget(this.placeholder);
    tracker.currentChanged.connect((_, notebook) => this.showChatOf(notebook), this);
    this.showChatOf(tracker.currentWidget);
  }

  /** The chat shown now: the active notebook's. */
  get current(): NotebookChat | null {
    const notebook = this.tracker.currentWidget;
    return notebook ? this.chatOf(notebook) : null;
  }

  private showChatOf(notebook: NotebookPanel | null): void {
    const shown = notebook && !notebook.isDisposed ? this.chatOf(notebook) : this.placeholder;
    this.widgets.forEach(widget => widget.setHidden(widget !== shown));
  }

  private chatOf(notebook: NotebookPanel): NotebookChat {
    let chat = this.chats.get(notebook);
    if (chat === undefined) {
      chat = new NotebookChat(notebook, this.services);
      this.chats.set(notebook, chat);
      this.addWidget(chat);
      notebook.disposed.connect(() => {
        this.chats.get(notebook)?.dispose(); // the tracker then announces the next current notebook
        this.chats.delete(notebook);
      }, this);
    }
    return chat;
  }
}

export const sidebar: JupyterFrontEndPlugin<void> = {
  id: 'tinycode-jupyter:sidebar',
  description: 'A sidebar chat with the agent in the active notebook’s kernel.',
  autoStart: true,
  requires: [INotebookTracker, IRenderMimeRegistry],
  optional: [ICommandPalette, IEditorLanguageRegistry],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    rendermime: IRenderMimeRegistry,
    palette: ICommandPalette | null,
    languages: IEditorLanguageRegistry | null
  ): void => {
    const panel = new ChatSidebar(tracker, { shell: app.shell, rendermime, languages });
    app.shell.add(panel, 'right', { rank: 700 });
    app.commands.addCommand(OPEN_CHAT, {
      label: 'Open agent chat',
      caption: 'Chat with the agent in the active notebook’s kernel',
      icon: chatIcon,
      execute: () => {
        app.shell.activateById(panel.id);
        panel.current?.focusPrompt();
      }
    });
    palette?.addItem({ command: OPEN_CHAT, category: 'Agent' });
  }
};
