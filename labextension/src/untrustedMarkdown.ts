/**
 * Rendering of untrusted Markdown (the model's text) in the sidebar: text formatting only.
 *
 * The kernel already sends the model's text made safe (`tinycode_jupyter.untrusted_text`);
 * this is the second lock, at the sink. HTML is cut down to text formatting (no images,
 * media, frames, forms or styles, whatever the Markdown holds) and nothing is typeset as
 * LaTeX, so `$5 and $10` stays text.
 */
import type { IRenderMime, IRenderMimeRegistry } from '@jupyterlab/rendermime';

const TEXT_TAGS = [
  'a', 'b', 'blockquote', 'br', 'code', 'del', 'div', 'em', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'i',
  'kbd', 'li', 'ol', 'p', 'pre', 's', 'span', 'strong', 'sub', 'sup', 'table', 'tbody', 'td', 'th', 'thead',
  'tr', 'ul'
];

const noMath: IRenderMime.ILatexTypesetter = { typeset: () => undefined };

/** A copy of `rendermime` whose renderers allow only text formatting and typeset no math. */
export function untrustedMarkdown(rendermime: IRenderMimeRegistry): IRenderMimeRegistry {
  const base = rendermime.sanitizer;
  const sanitizer: IRenderMime.ISanitizer = {
    sanitize: (dirty, options) => base.sanitize(dirty, { ...options, allowedTags: TEXT_TAGS }),
    getAutolink: () => base.getAutolink?.() ?? true,
    allowNamedProperties: false,
    allowCommandLinker: false
  };
  return rendermime.clone({ sanitizer, latexTypesetter: noMath });
}
