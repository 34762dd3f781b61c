"""Page-load cost of the labextension in JupyterLab: enabled vs disabled.

Two servers run side by side, identical but for ``jupyter labextension disable`` in
one's temporary config dir. One load = a new page (warm browser cache) opening
``/lab/tree/NB.ipynb?reset``, timed from navigation start (``performance.now()`` in
the page) to the moment the notebook panel shows its cells and its kernel is
connected and idle. Kernels keep running between loads, so kernel start-up is not
in the numbers. Loads alternate between the servers so that drift hits both alike.
Bar: the difference of the medians is ≤ 100 ms. On 2 cores single loads spread by
±20 %, so use enough loads (default 15) and read the paired median too.

Run: .venv/bin/python bench/bench_page_load.py [--loads N] [--json PATH]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "tests" / "browser")]
from _common import report  # noqa: E402
from labserver import EXTENSION_NAME, LabServer  # noqa: E402
from notebook_page import CHROMIUM_ARGS, KERNEL_IDLE_JS, PANEL  # noqa: E402

BAR_MS = 100.0
PLUGIN = "tinycode-jupyter:cells"
NOTEBOOK = "bench.ipynb"
MODES = ("enabled", "disabled")
READY_AT_JS = "() => (%s)() && performance.now()" % KERNEL_IDLE_JS
PANEL_AT_JS = "() => !!document.querySelector('%s .jp-Cell') && performance.now()" % PANEL
PLUGIN_ACTIVE_JS = "(id) => window.jupyterapp.isPluginActivated(id)"
# The extension's own files (JupyterLab fetches them even when the extension is disabled).
OWN_FILES_JS = """() => {
  const own = performance.getEntriesByType('resource').filter(e => e.name.includes('/lab/extensions/%s/'));
  return {count: own.length, bytes: own.reduce((n, e) => n + e.encodedBodySize, 0)};
}""" % EXTENSION_NAME


def load_once(context: Any, url: str, expect_plugin: bool) -> dict[str, Any]:
    """One load in ``context``: panel shown and kernel idle (ms since navigation start), own files."""
    page = context.new_page()
    try:
        page.goto(url)
        panel_ms = page.wait_for_function(PANEL_AT_JS, polling="raf", timeout=60_000).json_value()
        ready_ms = page.wait_for_function(READY_AT_JS, polling="raf", timeout=60_000).json_value()
        active = page.evaluate(PLUGIN_ACTIVE_JS, PLUGIN)
        if active != expect_plugin:
            raise RuntimeError(f"{PLUGIN} activated={active}, expected {expect_plugin}")
        return {"panel_ms": float(panel_ms), "ready_ms": float(ready_ms), "own_files": page.evaluate(OWN_FILES_JS)}
    finally:
        page.close()


def start_servers(base: Path) -> dict[str, LabServer]:
    """One server per mode, each with its own temporary config (the extension disabled in one)."""
    servers = {}
    for mode in MODES:
        server = LabServer(base / mode)
        server.prepare()
        server.set_extension_enabled(mode == "enabled")
        server.start()
        server.write_notebook(
            NOTEBOOK,
            [
                {"id": "md", "cell_type": "markdown", "source": "# Page load"},
                {"id": "code", "cell_type": "code", "source": "x = 1"},
            ],
        )
        servers[mode] = server
    return servers


def measure(loads: int) -> dict[str, dict[str, list[Any]]]:
    from playwright.sync_api import sync_playwright

    samples: dict[str, dict[str, list[Any]]] = {
        mode: {"panel_ms": [], "ready_ms": [], "own_files": []} for mode in MODES
    }
    with tempfile.TemporaryDirectory(prefix="tinycode-bench-") as tmp:
        servers = start_servers(Path(tmp))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                for round_ in range(loads + 1):  # round 0 warms the cache and starts the kernels
                    for mode in MODES if round_ % 2 else MODES[::-1]:
                        url = servers[mode].page_url(NOTEBOOK)
                        load = load_once(context, url, mode == "enabled")
                        for key, value in load.items():
                            if round_:
                                samples[mode][key].append(value)
                browser.close()
        finally:
            for server in servers.values():
                server.stop()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=15, help="timed loads per mode (default 15)")
    parser.add_argument("--json", help="where to write the results (default bench/results/page_load.json)")
    args = parser.parse_args()

    samples = measure(args.loads)
    medians = {mode: {k: statistics.median(s[k]) for k in ("panel_ms", "ready_ms")} for mode, s in samples.items()}
    own = samples["enabled"]["own_files"][-1]
    added = medians["enabled"]["ready_ms"] - medians["disabled"]["ready_ms"]
    paired = statistics.median(
        e - d for e, d in zip(samples["enabled"]["ready_ms"], samples["disabled"]["ready_ms"])
    )
    rows: list[tuple[str, float | str, str]] = [
        ("disabled: panel shown (ms, median)", medians["disabled"]["panel_ms"], ""),
        ("enabled: panel shown (ms, median)", medians["enabled"]["panel_ms"], ""),
        ("disabled: kernel idle (ms, median)", medians["disabled"]["ready_ms"], ""),
        ("enabled: kernel idle (ms, median)", medians["enabled"]["ready_ms"], ""),
        ("added by the extension (ms)", added, f"<= {BAR_MS:.0f} ms: {'ok' if added <= BAR_MS else 'FAIL'}"),
        ("median of paired differences (ms)", paired, ""),
        ("extension files fetched (count / bytes)", f"{own['count']} / {own['bytes']}", ""),
    ]
    report(
        "page_load",
        rows,
        {"loads_per_mode": args.loads, "bar_ms": BAR_MS, "added_ms": added, "paired_ms": paired, "samples": samples},
        args.json,
    )


if __name__ == "__main__":
    main()
