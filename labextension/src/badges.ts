/**
 * Provenance the user can see, in JupyterLab and Notebook 7.
 *
 * Every cell that is still the agent's shows a small badge at its top-right, "agent · <model> ·
 * <run>"; a user's cell whose source is what an agent's edit left shows "edited by agent · run
 * <run>". A click opens a popover with the prompt of the run, its id and model, the source
 * before the agent's edit, and "Revert this run" (`revertRun`, one undo step), whose result is
 * shown as a notice. Badges follow the model: a user's edit or pasted copy of an agent cell is
 * the user's and shows none. Everything is rendered as text.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Notification } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { CellWidget, IBarSpec, watchCellBars } from './cellBars';
import { cellTag, ICellLike, isAgentCell, sourceSha } from './provenance';
import { IRevertSummary, revertRun, SharedNotebook } from './revert';

const RUN_CHARS = 8;
const AGENT_CELL_MAGIC = /^\s*%%agent\b/;
const AGENT_LINE_MAGIC = /^\s*%agent\b/;
const POPOVER = 'jp-tinycode-provenance';

/** What a badge says about one cell: who changed it, in which run, and with which model. */
interface IProvenance {
  kind: 'agent' | 'edited';
  runId: string;
  model: string;
  /** For an edit: the source before it. */
  previousSource: string | null;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** The agent's edit that left the cell's current source, if any. */
function standingEdit(cell: ICellLike): { runId: string; previousSource: string } | null {
  const edits = cellTag(cell).edits;
  if (!Array.isArray(edits)) {
    return null;
  }
  const sha = sourceSha(cell.source);
  for (const edit of [...edits].reverse()) {
    const record = edit as { run_id?: unknown; previous_source?: unknown; new_sha?: unknown };
    if (text(record.run_id) && record.new_sha === sha) {
      return { runId: text(record.run_id), previousSource: text(record.previous_source) };
    }
  }
  return null;
}

/** The badge's subject for a cell, or null for a cell that is the user's and unedited by the agent. */
export function provenanceOf(cell: ICellLike): IProvenance | null {
  const edit = standingEdit(cell);
  if (isAgentCell(cell)) {
    const tag = cellTag(cell);
    return { kind: 'agent', runId: text(tag.run_id), model: text(tag.model), previousSource: edit?.previousSource ?? null };
  }
  return edit ? { kind: 'edited', runId: edit.runId, model: '', previousSource: edit.previousSource } : null;
}

/** The badge's text. */
export function badgeLabel(provenance: IProvenance): string {
  const run = provenance.runId.slice(0, RUN_CHARS);
  if (provenance.kind === 'edited') {
    return `edited by agent · run ${run}`;
  }
  return ['agent', provenance.model, run].filter(part => part !== '').join(' · ');
}

/**
 * The prompt of run `runId`: a cell's recorded prompt (chat runs), else its agent cell's source below
 * the `%%agent` line, or the whole `%agent …` line; null when none of these is in the notebook.
 */
export function promptOf(notebook: SharedNotebook, runId: string): string | null {
  const written = notebook.cells.filter(cell => cellTag(cell).run_id === runId);
  for (const cell of written) {
    const prompt = cellTag(cell).prompt;
    if (typeof prompt === 'string' && prompt !== '') {
      return prompt;
    }
  }
  const anchorIds = new Set(written.map(cell => cellTag(cell).anchor_cell_id).filter(id => typeof id === 'string'));
  const anchor = notebook.cells.find(cell => anchorIds.has(cell.id));
  if (anchor && AGENT_CELL_MAGIC.test(anchor.source)) {
    return anchor.source.split('\n').slice(1).join('\n').trim();
  }
  return anchor && AGENT_LINE_MAGIC.test(anchor.source) ? anchor.source.trim() : null;
}

function plural(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** One line saying what a revert did: "Reverted run abc12345: 2 cells removed, 1 restored, 1 brought back; kept 1 you changed". */
export function revertNotice(runId: string, summary: IRevertSummary): string {
  const parts = [
    summary.removed.length ? `${plural(summary.removed.length, 'cell', 'cells')} removed` : '',
    summary.restored.length ? `${summary.restored.length} restored` : '',
    summary.reinserted.length ? `${summary.reinserted.length} brought back` : ''
  ].filter(part => part !== '');
  const done = parts.join(', ') || 'no cell to change';
  const kept = summary.kept.length ? `; kept ${summary.kept.length} you changed` : '';
  return `Reverted run ${runId.slice(0, RUN_CHARS)}: ${done}${kept}`;
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, content = ''): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = content;
  return node;
}

/** A labelled section of the popover holding `content` as preformatted text. */
function section(label: string, content: string, className: string): HTMLElement {
  const node = element('div', `${POPOVER}-section ${className}`);
  node.append(element('div', `${POPOVER}-label`, label), element('pre', `${POPOVER}-text`, content));
  return node;
}

let openPopover: { anchor: HTMLElement; close: () => void } | null = null;

function closePopover(): void {
  openPopover?.close();
  openPopover = null;
}

/** Revert the run in the panel's notebook and say what happened. */
function revertAndNotify(panel: NotebookPanel, runId: string): void {
  const notebook = panel.content.model?.sharedModel;
  if (!notebook) {
    return;
  }
  try {
    Notification.success(revertNotice(runId, revertRun(notebook, runId)), { autoClose: 15000 });
  } catch (error) {
    Notification.error(`Could not revert run ${runId.slice(0, RUN_CHARS)}: ${String(error)}`, { autoClose: 15000 });
  }
}

/** The popover of a badge: prompt, run, model, the source before an edit, and "Revert this run". */
function buildPopover(panel: NotebookPanel, provenance: IProvenance): HTMLElement {
  const node = element('div', POPOVER);
  node.setAttribute('role', 'dialog');
  const notebook = panel.content.model?.sharedModel;
  const title = provenance.kind === 'agent' ? 'Written by the agent' : 'Edited by the agent';
  node.append(element('div', `${POPOVER}-title`, title));
  const facts = element('dl', `${POPOVER}-facts`);
  facts.append(element('dt', '', 'Run'), element('dd', `${POPOVER}-run`, provenance.runId));
  if (provenance.model) {
    facts.append(element('dt', '', 'Model'), element('dd', `${POPOVER}-model`, provenance.model));
  }
  node.append(facts);
  const prompt = notebook ? promptOf(notebook, provenance.runId) : null;
  node.append(section('Prompt', prompt ?? 'not recorded in the notebook', `${POPOVER}-prompt`));
  if (provenance.previousSource !== null) {
    node.append(section('Before the agent edited it', provenance.previousSource, `${POPOVER}-previous`));
  }
  const revert = element('button', `jp-Button jp-mod-styled jp-mod-warn ${POPOVER}-revert`, 'Revert this run');
  revert.type = 'button';
  revert.title = "Remove this run's cells, undo its edits and bring back the cells it deleted (one undo step)";
  revert.addEventListener('click', () => {
    closePopover();
    revertAndNotify(panel, provenance.runId);
  });
  node.append(revert);
  return node;
}

/** Open the badge's popover below it, or above when there is no room (closing any other); it closes on Escape or a click elsewhere. */
function showPopover(panel: NotebookPanel, anchor: HTMLElement, provenance: IProvenance): void {
  closePopover();
  const node = buildPopover(panel, provenance);
  document.body.appendChild(node);
  const rect = anchor.getBoundingClientRect();
  const below = rect.bottom + 4 + node.offsetHeight <= window.innerHeight;
  node.style.top = `${below ? rect.bottom + 4 : Math.max(8, rect.top - 4 - node.offsetHeight)}px`;
  node.style.left = `${Math.max(8, rect.right - node.offsetWidth)}px`;
  const onPointer = (event: MouseEvent): void => {
    if (!node.contains(event.target as Node) && !anchor.contains(event.target as Node)) {
      closePopover();
    }
  };
  const onKey = (event: KeyboardEvent): void => {
    if (event.key === 'Escape') {
      closePopover();
    }
  };
  document.addEventListener('mousedown', onPointer, true);
  document.addEventListener('keydown', onKey, true);
  openPopover = {
    anchor,
    close: () => {
      document.removeEventListener('mousedown', onPointer, true);
      document.removeEventListener('keydown', onKey, true);
      node.remove();
    }
  };
}

function decideBadge(panel: NotebookPanel, cell: CellWidget): IBarSpec | null {
  const provenance = provenanceOf(cell.model.sharedModel);
  if (provenance === null) {
    return null;
  }
  const label = badgeLabel(provenance);
  return {
    key: `${provenance.kind}\n${label}\n${provenance.runId}`,
    build: bar => {
      const badge = element('button', `jp-tinycode-badge-button jp-tinycode-badge-${provenance.kind}`, label);
      badge.type = 'button';
      badge.title = 'What the agent did here: the prompt, and Revert this run';
      badge.addEventListener('click', event => {
        event.stopPropagation();
        if (openPopover?.anchor === badge) {
          closePopover();
        } else {
          showPopover(panel, badge, provenanceOf(cell.model.sharedModel) ?? provenance);
        }
      });
      bar.append(badge);
    }
  };
}

/** Show the provenance badges on every notebook's cells. */
export const provenanceBadges: JupyterFrontEndPlugin<void> = {
  id: 'tinycode-jupyter:provenance-badges',
  description: 'Badges on the cells the agent wrote or edited: the prompt, the run and model, and "Revert this run".',
  autoStart: true,
  requires: [INotebookTracker],
  activate: (_app: JupyterFrontEnd, tracker: INotebookTracker): void => {
    const watch = (panel: NotebookPanel): void => {
      watchCellBars(panel, 'jp-tinycode-badge', cell => decideBadge(panel, cell));
    };
    tracker.forEach(watch);
    tracker.widgetAdded.connect((_, panel) => watch(panel));
  }
};
