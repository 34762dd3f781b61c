"""Page-load cost of the labextension in JupyterLab: enabled vs disabled.

One load = a fresh browser context (cold cache) opening ``/lab/tree/NB.ipynb?reset``;
it is timed from navigation start (``performance.now()`` in the page) to the moment
the notebook panel shows its cells and its kernel is connected and idle. The kernel
keeps running between loads, so kernel start-up is not in the numbers. Loads
alternate between the two modes (``jupyter labextension disable`` in the server's
temporary config dir) so that drift hits both alike. Bar: ≤ 100 ms added (median).

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
from labserver import LabServer  # noqa: E402
from notebook_page import CHROMIUM_ARGS, KERNEL_IDLE_JS, PANEL  # noqa: E402

BAR_MS = 100.0
PLUGIN = "tinycode-jupyter:cells"
NOTEBOOK = "bench.ipynb"
READY_AT_JS = "() => (%s)() && performance.now()" % KERNEL_IDLE_JS
PANEL_AT_JS = "() => !!document.querySelector('%s .jp-Cell') && performance.now()" % PANEL
PLUGIN_ACTIVE_JS = "(id) => window.jupyterapp.isPluginActivated(id)"


def load_once(browser: Any, url: str, expect_plugin: bool) -> tuple[float, float]:
    """One cold load; returns (panel shown, kernel idle) in ms since navigation start."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(url)
        panel_ms = page.wait_for_function(PANEL_AT_JS, polling="raf", timeout=60_000).json_value()
        ready_ms = page.wait_for_function(READY_AT_JS, polling="raf", timeout=60_000).json_value()
        active = page.evaluate(PLUGIN_ACTIVE_JS, PLUGIN)
        if active != expect_plugin:
            raise RuntimeError(f"{PLUGIN} activated={active}, expected {expect_plugin}")
        return float(panel_ms), float(ready_ms)
    finally:
        context.close()


def measure(loads: int) -> dict[str, dict[str, list[float]]]:
    from playwright.sync_api import sync_playwright

    samples: dict[str, dict[str, list[float]]] = {
        mode: {"panel_ms": [], "ready_ms": []} for mode in ("enabled", "disabled")
    }
    with tempfile.TemporaryDirectory(prefix="tinycode-bench-") as tmp:
        server = LabServer(Path(tmp))
        server.start()
        server.write_notebook(
            NOTEBOOK,
            [
                {"id": "md", "cell_type": "markdown", "source": "# Page load"},
                {"id": "code", "cell_type": "code", "source": "x = 1"},
            ],
        )
        url = server.page_url(NOTEBOOK)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                for round_ in range(loads + 1):  # round 0 warms up the server and starts the kernel
                    order = ("enabled", "disabled") if round_ % 2 else ("disabled", "enabled")
                    for mode in order:
                        server.set_extension_enabled(mode == "enabled")
                        panel_ms, ready_ms = load_once(browser, url, mode == "enabled")
                        if round_:
                            samples[mode]["panel_ms"].append(panel_ms)
                            samples[mode]["ready_ms"].append(ready_ms)
                browser.close()
        finally:
            server.stop()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=7, help="timed loads per mode (default 7)")
    parser.add_argument("--json", help="where to write the results (default bench/results/page_load.json)")
    args = parser.parse_args()

    samples = measure(args.loads)
    medians = {mode: {k: statistics.median(v) for k, v in s.items()} for mode, s in samples.items()}
    added = medians["enabled"]["ready_ms"] - medians["disabled"]["ready_ms"]
    rows: list[tuple[str, float | str, str]] = [
        ("disabled: panel shown (ms, median)", medians["disabled"]["panel_ms"], ""),
        ("enabled: panel shown (ms, median)", medians["enabled"]["panel_ms"], ""),
        ("disabled: kernel idle (ms, median)", medians["disabled"]["ready_ms"], ""),
        ("enabled: kernel idle (ms, median)", medians["enabled"]["ready_ms"], ""),
        ("added by the extension (ms)", added, f"<= {BAR_MS:.0f} ms: {'ok' if added <= BAR_MS else 'FAIL'}"),
    ]
    report(
        "page_load",
        rows,
        {"loads_per_mode": args.loads, "bar_ms": BAR_MS, "added_ms": added, "samples": samples},
        args.json,
    )


if __name__ == "__main__":
    main()
