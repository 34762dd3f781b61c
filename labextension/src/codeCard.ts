/**
 * Code shown in the chat, highlighted as JupyterLab highlights a cell's code (its CodeMirror
 * languages). The highlighter builds text nodes, so the code stays text whatever it holds.
 */
import type { IEditorLanguageRegistry } from '@jupyterlab/codemirror';

/** A `<pre>` with `code` in `language`, highlighted when `languages` is given (plain text until then). */
export function codeBlock(code: string, language: string, languages: IEditorLanguageRegistry | null): HTMLElement {
  const pre = document.createElement('pre');
  pre.className = 'jp-tinycode-code';
  pre.dataset.language = language;
  const body = document.createElement('code');
  body.textContent = code;
  pre.append(body);
  const found = languages?.findBest(language) ?? null;
  if (languages !== null && found !== null) {
    const highlighted = document.createElement('code');
    languages.highlight(code, found, highlighted).then(
      () => body.replaceWith(highlighted),
      error => console.error('tinycode-jupyter: cannot highlight code:', error)
    );
  }
  return pre;
}
