"""First-run bars: the first `%%agent` run in a fresh kernel, to done, and the kernel's memory after it.

For each model path (the native client, and litellm forced with ``TINYCODE_FORCE_LITELLM=1``),
each of ``--kernels`` fresh kernels loads the extension and runs the same two-turn task twice
(one ``run_python`` step, then the answer) against a zero-latency loopback model served from
this process. The run time is the ``%%agent`` cell's time from the request to the kernel's idle
status, as a notebook sees it; an empty cell's round trip is shown beside it. The package's
bytecode is compiled first, as an install does.

Run: .venv/bin/python bench/bench_first_run.py [--kernels 3] [--json PATH]
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _common import compile_package, report  # noqa: E402
from kernel_harness import Kernel  # noqa: E402

STATE = (
    "import sys as _s\nprint('STATE', *[int(l.split()[1]) for f in ('VmRSS', 'VmHWM') for l in open('/proc/self/status') "
    "if l.startswith(f)], *[m for m in ('litellm', 'httpx', 'aiohttp', 'openai') if m in _s.modules])"
)
PATHS = {"native": {}, "litellm": {"TINYCODE_FORCE_LITELLM": "1"}}


def two_turns(request: dict[str, Any]) -> Any:
    from tinycode_jupyter.testing import call, say

    done = any(m.get("role") == "tool" for m in request.get("messages", []))
    return say("45") if done else call("run_python", {"code": "x = sum(range(10))"})


def state(kernel: Kernel) -> tuple[int, int, list[str]]:
    """RSS and peak RSS (KiB), and which heavy HTTP stacks the kernel has imported."""
    fields = next(line for line in kernel.execute(STATE).text().splitlines() if line.startswith("STATE ")).split()[1:]
    return int(fields[0]), int(fields[1]), fields[2:]


def one_kernel(url: str, env: dict[str, str]) -> dict[str, Any]:
    kernel = Kernel(env=env)
    try:
        empty = kernel.execute("pass").duration
        loaded = kernel.execute("%load_ext tinycode_jupyter")
        assert loaded.status == "ok", loaded.text()
        after_load = state(kernel)
        cell = f"%%agent --model openai/bench --api-base {url}\nsum 0..9"
        first = kernel.execute(cell, timeout=120)
        assert first.status == "ok" and "45" in first.text(), first.text()[-500:]
        after_first = state(kernel)
        second = kernel.execute(cell, timeout=120)
        assert second.status == "ok", second.text()[-500:]
        after_second = state(kernel)
    finally:
        kernel.shutdown()
    return {"empty_cell_s": empty, "load_ext_s": loaded.duration, "first_run_s": first.duration, "second_run_s": second.duration,
            "rss_after_load_ext_kib": after_load[0], "rss_after_first_run_kib": after_first[0],
            "rss_after_second_run_kib": after_second[0], "peak_after_first_run_kib": after_first[1],
            "imported_after_load_ext": after_load[2], "imported_after_first_run": after_first[2]}  # fmt: skip


def main() -> None:
    from tinycode_jupyter.testing import ScriptedServer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", type=int, default=3, help="fresh kernels per model path")
    parser.add_argument("--paths", default="native,litellm", help="model paths to measure, comma-separated")
    parser.add_argument("--json", help="output path (default bench/results/first_run.json)")
    args = parser.parse_args()
    paths = args.paths.split(",")
    compile_package()
    samples: dict[str, list[dict[str, Any]]] = {path: [] for path in paths}
    with ScriptedServer(two_turns) as server:
        for _ in range(args.kernels):  # interleaved, so drift hits both paths alike
            for path in paths:
                samples[path].append(one_kernel(server.url, PATHS[path]))
    rows: list[tuple[str, float | str, str]] = []
    for path in paths:
        runs = samples[path]
        med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
        native = path == "native"
        growth = (med("rss_after_first_run_kib") - med("rss_after_load_ext_kib")) / 1024
        rows += [
            (f"{path}: first %%agent run in a fresh kernel, to done (s)", med("first_run_s"), "bar <= 0.5" if native else ""),
            (f"{path}:   second run (s)", med("second_run_s"), ""),
            (f"{path}:   empty cell round trip (s, reference)", med("empty_cell_s"), ""),
            (f"{path}: kernel RSS after %load_ext (MiB)", med("rss_after_load_ext_kib") / 1024, ""),
            (f"{path}: kernel RSS after the first run (MiB)", med("rss_after_first_run_kib") / 1024, ""),
            (f"{path}:   growth over %load_ext (MiB)", growth, "bar <= 40" if native else ""),
            (f"{path}:   after the second run (MiB)", med("rss_after_second_run_kib") / 1024, ""),
            (f"{path}:   imported by %load_ext", " ".join(runs[0]["imported_after_load_ext"]) or "none", "bar none"),
            (f"{path}:   imported by the first run", " ".join(runs[0]["imported_after_first_run"]) or "none",
             "bar none" if native else ""),
        ]  # fmt: skip
    report("first_run", rows, {"samples": samples}, args.json)


if __name__ == "__main__":
    main()
