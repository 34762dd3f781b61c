"""Notebook context size: the outline + variables + changes block for 10, 100 and 1,000-cell notebooks.

Each notebook is generated from a fixed seed and mixes what analysis notebooks hold: markdown
headings and prose, imports, data loading, transforms with DataFrame results, plots (PNG
outputs), prints, a few failed cells and cells the agent wrote; the user changed a few cells
since the agent's last turn, and the kernel holds 30 variables. The block is built exactly as a
run gets it (an nbformat document answering the notebook protocol in process).

Tokens are counted with tiktoken's ``o200k_base`` and ``cl100k_base`` encodings (the files litellm
ships, so no download), beside the package's own estimate (characters / 4). A "worst case" row
uses cells whose every line is long and every output an error.

Run: .venv/bin/python bench/bench_context.py [--json PATH]
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import random
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report  # noqa: E402

SIZES = (10, 100, 1000)
BAR_TOKENS = 1500


def tokenizers() -> dict[str, Callable[[str], int]]:
    """tiktoken encodings from litellm's bundled files; empty when tiktoken is missing."""
    try:
        import tiktoken
    except ImportError:
        return {}
    litellm = importlib.util.find_spec("litellm")  # found, not imported
    if litellm is not None and litellm.submodule_search_locations:
        bundled = Path(list(litellm.submodule_search_locations)[0]) / "litellm_core_utils" / "tokenizers"
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(bundled))
    found: dict[str, Callable[[str], int]] = {}
    for name in ("o200k_base", "cl100k_base"):
        try:
            encoding = tiktoken.get_encoding(name)
        except Exception:  # not bundled in this litellm
            continue
        found[name] = lambda text, encoding=encoding: len(encoding.encode(text))
    return found


# --- synthetic notebooks -------------------------------------------------------------------
_CODE = [
    ("import pandas as pd\nimport numpy as np", None),
    ("df = pd.read_csv('data/sales_{n}.csv', parse_dates=['date'])", ("result", "(12000, 8)")),
    ("df.head()", ("result", "        date  region  units  price\n0 2024-01-01  north     12   9.99")),
    ("monthly = df.groupby(df.date.dt.to_period('M'))['units'].sum()", None),
    ("fig, ax = plt.subplots(figsize=(8, 4))\nmonthly.plot(ax=ax)\nax.set_title('Units per month')", ("image", "")),
    ("print(f'total revenue: {{(df.units * df.price).sum():,.2f}}')", ("stream", "total revenue: 1,234,567.89")),
    ("model = LinearRegression().fit(X_train, y_train)\nscore = model.score(X_test, y_test)", None),
    ("df['margin'] = (df.price - df.cost) / df.price", ("error", ("KeyError", "'cost'"))),
    ("clean = df.dropna(subset=['region']).query('units > 0')", None),
    ("pivot = clean.pivot_table(index='region', columns='month', values='units', aggfunc='sum')", ("result", "month  1  2  3")),
]
_MARKDOWN = ["# Sales analysis {n}", "## Data cleaning", "We drop rows without a region and negative unit counts, "
             "then look at the monthly trend before fitting a simple model.", "### Notes\n- check outliers"]  # fmt: skip


def _outputs(kind: tuple[str, Any] | None) -> list[dict[str, Any]]:
    if kind is None:
        return []
    what, value = kind
    if what == "result":
        return [{"output_type": "execute_result", "execution_count": 1, "metadata": {},
                 "data": {"text/plain": value, "text/html": "<table>…</table>"}}]  # fmt: skip
    if what == "image":
        return [{"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBORw0KGgo=" * 200, "text/plain": "<Figure>"}}]
    if what == "stream":
        return [{"output_type": "stream", "name": "stdout", "text": value + "\n"}]
    ename, evalue = value
    return [{"output_type": "error", "ename": ename, "evalue": evalue, "traceback": ["Traceback …", f"{ename}: {evalue}"]}]


def notebook(size: int, worst: bool = False, seed: int = 7) -> Any:
    """A notebook of ``size`` cells; the %%agent cell is the last one."""
    import nbformat

    from tinycode_jupyter.notebook.records import stamp_agent_cell

    rng = random.Random(seed)
    cells = []
    for n in range(size - 1):
        if worst:
            line = f"result_{n} = " + " + ".join(f"compute_feature_{k}(frame, window={k})" for k in range(12))
            cell = nbformat.v4.new_code_cell(line + "\n" + line, execution_count=n + 1)
            cell.outputs = [nbformat.from_dict(o) for o in _outputs(("error", ("ValueError", "x" * 300)))]
        elif rng.random() < 0.3:
            cell = nbformat.v4.new_markdown_cell(rng.choice(_MARKDOWN).format(n=n))
        else:
            source, kind = rng.choice(_CODE)
            cell = nbformat.v4.new_code_cell(source.format(n=n), execution_count=n + 1)
            cell.outputs = [nbformat.from_dict(o) for o in _outputs(kind)]
        cells.append(cell)
        if not worst and rng.random() < 0.1:
            stamp_agent_cell(cell, run_id="r0", anchor_cell_id="agent", model="m")
    cells.append(nbformat.v4.new_code_cell("%%agent\nWhy does the margin cell fail? Fix it and re-run it.", id="agent"))
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    return nb


def namespace() -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=50), "units": range(50)})
    values: dict[str, Any] = {f"df_{i}": frame for i in range(8)}
    values.update({f"arr_{i}": np.zeros((100, i + 1)) for i in range(8)})
    values.update({f"threshold_{i}": 0.5 for i in range(6)})
    values.update({f"names_{i}": ["a", "b", "c"] for i in range(6)})
    values.update({"pd": pd, "np": np, "_hidden": 1})
    return values


async def context_for(nb: Any) -> tuple[str, int, float, float]:
    """The context block a run gets, how many cells the user changed since the last turn, and the
    milliseconds to fetch the cells through the protocol and to build the block."""
    from tinycode_jupyter.jupyter.variables import brief
    from tinycode_jupyter.notebook.base import TurnSnapshot
    from tinycode_jupyter.notebook.comm_backend import DirectTransport, connect
    from tinycode_jupyter.notebook.context import build_context, variables
    from tinycode_jupyter.notebook.document import NotebookDocument
    from tinycode_jupyter.notebook.records import snapshot_entry

    document = NotebookDocument(nb, executing_cell_id=lambda: "agent")
    notebook_ = await connect(DirectTransport(document), "agent")
    assert notebook_ is not None
    entries = tuple(tuple(snapshot_entry(c)) for c in nb.cells)
    await notebook_.remember_turn(TurnSnapshot("r0", entries))  # type: ignore[arg-type]
    changed = nb.cells[1: len(nb.cells) - 1: max(1, len(nb.cells) // 5)]
    for cell in changed:  # the user edits a few cells after the agent's last turn
        cell.source += "\n# changed by the user"
    names = variables(namespace(), set(), brief)
    started = time.perf_counter()
    state = await notebook_.state()
    fetched = time.perf_counter()
    text = build_context(state, notebook_, names)
    built = time.perf_counter()
    return text, len(changed), (fetched - started) * 1000, (built - fetched) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", help="output path (default bench/results/context.json)")
    args = parser.parse_args()
    counters = tokenizers()
    rows: list[tuple[str, float | str, str]] = []
    table: list[dict[str, Any]] = []
    asyncio.run(context_for(notebook(10)))  # imports, first-call costs
    for size, worst in [(s, False) for s in SIZES] + [(100, True), (1000, True)]:
        text, changed, fetch_ms, build_ms = asyncio.run(context_for(notebook(size, worst)))
        counts = {name: count(text) for name, count in counters.items()}
        listed = sum(1 for line in text.splitlines() if re.match(r"\d+ \S+ (\[|md |raw )", line))
        label = f"{size} cells{' (worst case)' if worst else ''}"
        entry = {"cells": size, "worst": worst, "chars": len(text), "estimate": -(-len(text) // 4), **counts,
                 "cells_listed": listed, "changed": changed, "fetch_ms": round(fetch_ms, 1),
                 "build_ms": round(build_ms, 1)}  # fmt: skip
        table.append(entry)
        best = max(counts.values()) if counts else entry["estimate"]
        bar = f"<= {BAR_TOKENS} tokens: {'ok' if best <= BAR_TOKENS else 'OVER'}"
        rows.append((f"{label}: tokens ({'/'.join(counts) or 'chars/4'})", "/".join(str(v) for v in counts.values()) or str(entry["estimate"]), bar))
    header = ["cells", "chars", "chars/4", *counters, "cells listed", "fetch ms", "build ms"]
    print(" | ".join(header))
    for entry in table:
        name = f"{entry['cells']}{' worst' if entry['worst'] else ''}"
        print(" | ".join([name, str(entry["chars"]), str(entry["estimate"]), *(str(entry[n]) for n in counters),
                          str(entry["cells_listed"]), f"{entry['fetch_ms']:.1f}", f"{entry['build_ms']:.1f}"]))  # fmt: skip
    report("context", rows, {"table": table, "tokenizers": list(counters) or ["chars/4 only: tiktoken missing"]}, args.json)


if __name__ == "__main__":
    main()
