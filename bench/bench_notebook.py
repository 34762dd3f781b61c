"""Notebook bars: `%load_ext tinycode_jupyter` time in a real kernel, kernel memory after it and after a first run.

Run: .venv/bin/python bench/bench_notebook.py [--kernels 5] [--json PATH]
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _common import report  # noqa: E402
from kernel_harness import Kernel  # noqa: E402

MEASURE_LOAD = (
    "import time, sys\n_t = time.perf_counter()\nget_ipython().run_line_magic('load_ext', 'tinycode_jupyter')\n"
    "print((time.perf_counter() - _t) * 1000, 'litellm' in sys.modules)"
)
MEMORY = "print([int(l.split()[1]) for f in ('VmRSS', 'VmHWM') for l in open('/proc/self/status') if l.startswith(f)])"


def main() -> None:
    from tinycode_jupyter.testing import ScriptedServer, call, say

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kernels", type=int, default=5, help="fresh kernels to measure %%load_ext in")
    parser.add_argument("--json", help="output path (default bench/results/notebook.json)")
    args = parser.parse_args()
    load_ms, leaked = [], []
    memory = {}
    for index in range(args.kernels):
        kernel = Kernel()
        try:
            before = eval(kernel.execute(MEMORY).text())
            elapsed, litellm_loaded = kernel.execute(MEASURE_LOAD).text().split()
            load_ms.append(float(elapsed))
            leaked.append(litellm_loaded == "True")
            if index == 0:
                after_load = eval(kernel.execute(MEMORY).text())
                with ScriptedServer([call("run_python", {"code": "x = sum(range(10))"}), say("45")]) as server:
                    kernel.execute(f"%%agent --model openai/bench --api-base {server.url}\nsum 0..9")
                after_run = eval(kernel.execute(MEMORY).text())
                memory = {"before_kib": before, "after_load_ext_kib": after_load, "after_first_run_kib": after_run}
        finally:
            kernel.shutdown()
    mib = lambda kib: kib / 1024  # noqa: E731
    rows = [
        ("%load_ext tinycode_jupyter (ms, median)", statistics.median(load_ms), "bar <= 150"),
        ("  litellm imported by %load_ext", str(any(leaked)), "bar False"),
        ("kernel RSS before (MiB)", mib(memory["before_kib"][0]), ""),
        ("kernel RSS after %load_ext (MiB)", mib(memory["after_load_ext_kib"][0]), ""),
        ("kernel RSS after first run (MiB)", mib(memory["after_first_run_kib"][0]), ""),
        ("kernel peak RSS after first run (MiB)", mib(memory["after_first_run_kib"][1]), ""),
    ]
    report("notebook", rows, {"load_ms_samples": load_ms, "memory": memory}, args.json)


if __name__ == "__main__":
    main()
