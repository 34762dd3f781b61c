"""Size of what ``%agent fix`` and cell references add to a prompt, at their caps.

Worst cases, built with the package's own functions: a fix prompt whose traceback and six cells
are all far over their caps (long lines of real-looking code and library frames), and a prompt
with the most references, each far over its cap. Tokens are counted with tiktoken's
``o200k_base`` and ``cl100k_base`` (the files litellm ships), beside the character counts.

Run: .venv/bin/python bench/bench_fix_prompt.py
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_context import tokenizers  # noqa: E402

from tinycode_jupyter.notebook.base import CellInfo  # noqa: E402
from tinycode_jupyter.notebook.cell_errors import CellError, Frame, cut  # noqa: E402
from tinycode_jupyter.notebook.fix_prompt import MAX_CELLS, fix_prompt  # noqa: E402
from tinycode_jupyter.jupyter.references import MAX_REFERENCES, REFERENCE_CHARS  # noqa: E402
from tinycode_jupyter.untrusted_text import code_block  # noqa: E402

CODE_LINE = "    frame['margin_{n}'] = (frame.price - frame.cost_{n}) / frame.price.where(frame.price != 0)  # per row\n"
FRAME_LINE = ("File ~/.venv/lib/python3.11/site-packages/pandas/core/frame.py:{n}, in DataFrame.__getitem__(self, key)\n"
              "   {n} if self.columns.is_unique and key in self.columns:\n--> {n}     return self._get_item_cache(key)\n")  # fmt: skip


def worst_fix_prompt() -> str:
    traceback = "".join(FRAME_LINE.format(n=n) for n in range(300)) + "KeyError: 'cost_7'"
    cells = [(CellInfo(f"cell{n:04d}", n, "code", "".join(CODE_LINE.format(n=k) for k in range(60)), n + 1),
              f"defines or assigns name_{n}") for n in range(MAX_CELLS)]  # fmt: skip
    error = CellError("KeyError", "'cost_7'", traceback, 6, "cell0005", (Frame(6, 3), Frame(2, 40, "margins")))
    return fix_prompt(error, cells, "Keep the column names as they are.")


def worst_references() -> str:
    block = "".join(CODE_LINE.format(n=k) for k in range(80))
    return "".join(f"\nIn[{n}]:\n{code_block(cut(block, REFERENCE_CHARS), 'python')}\n" for n in range(MAX_REFERENCES))


def main() -> None:
    counters = tokenizers()
    for name, text in (("fix prompt, every cap reached", worst_fix_prompt()),
                       (f"{MAX_REFERENCES} references, each over its cap", worst_references())):  # fmt: skip
        counts = ", ".join(f"{encoding} {count(text):,} tokens" for encoding, count in counters.items())
        print(f"{name}: {len(text):,} characters; {counts or 'tiktoken not installed'}")


if __name__ == "__main__":
    main()
