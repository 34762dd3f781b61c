/**
 * The prompts sent from one notebook's chat, for ↑ and ↓ in the prompt box: those the notebook
 * records (`metadata.tinycode.prompt` of the cells chat runs wrote, so they outlive a reload),
 * then those sent since.
 */
import type { NotebookPanel } from '@jupyterlab/notebook';

import { cellTag } from './provenance';

/** The prompts the notebook's cells record, oldest first, each once. */
export function recordedPrompts(notebook: NotebookPanel): string[] {
  const cells = notebook.content.model?.sharedModel.cells ?? [];
  const prompts = cells.map(cell => cellTag(cell).prompt).filter((p): p is string => typeof p === 'string');
  return [...new Set(prompts)];
}

export class PromptHistory {
  private entries: string[] = [];
  /** Where ↑/↓ are: an index into `entries`, or `entries.length` for the text being written. */
  private position = 0;
  private draft = '';

  /** Put `earlier` prompts (those the notebook recorded) before the ones sent here; ↑ starts again from the newest. */
  addEarlier(earlier: string[]): void {
    this.entries = [...earlier.filter(prompt => !this.entries.includes(prompt)), ...this.entries];
    this.position = this.entries.length;
  }

  /** Remember a sent prompt (not twice in a row); ↑ starts again from the newest. */
  add(prompt: string): void {
    if (this.entries[this.entries.length - 1] !== prompt) {
      this.entries.push(prompt);
    }
    this.position = this.entries.length;
    this.draft = '';
  }

  /** The prompt before the one shown (`current` is kept as the draft when leaving it), or null at the oldest. */
  previous(current: string): string | null {
    if (this.position === 0) {
      return null;
    }
    if (this.position === this.entries.length) {
      this.draft = current;
    }
    this.position -= 1;
    return this.entries[this.position];
  }

  /** The prompt after the one shown, the draft after the newest, or null when the draft is shown. */
  next(): string | null {
    if (this.position >= this.entries.length) {
      return null;
    }
    this.position += 1;
    return this.position === this.entries.length ? this.draft : this.entries[this.position];
  }
}
