"""Soak: many sequential ``%%agent`` runs in one real kernel; memory and open files must stay flat.

Every run is a ``%%agent`` cell against a loopback ScriptedServer: the model
runs one step of code that binds a 2 MB buffer in the kernel (replacing the
previous run's), then answers. Anything that kept each run's objects alive
would grow by megabytes per run.
The conversation is reset after each run (``%agent reset``), as a user
starting a new task would, so what grows is what the package keeps per run.
Every ``--every`` runs the kernel reports its RSS, open file descriptors,
threads and child processes (after ``gc.collect()``); the growth per run is the
Theil-Sen slope (the median of the slopes between every two samples) after the warm-up:
a leak shows between every two samples, while a one-off step (the allocator keeping one
more 2 MB arena, a thread that is just ending when the probe runs) moves only a few of
them. The warm-up is longer than the kernel-state undo history (10 runs by default), which
holds the buffers that earlier runs replaced until it is full.

Run: .venv/bin/python bench/bench_soak.py [--runs 500] [--every 10] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "tests")]
from _common import report  # noqa: E402

PROBE = (
    "import gc as _gc, json as _json, os as _os\n_gc.collect()\n"
    "_status = dict(l.split(':', 1) for l in open('/proc/self/status'))\n"
    "print('PROBE', _json.dumps({'rss_kib': int(_status['VmRSS'].split()[0]), 'fds': len(_os.listdir('/proc/self/fd')),"
    " 'threads': int(_status['Threads']), 'children': len(open('/proc/self/task/%d/children' % _os.getpid()).read().split())}))"
)


ANSWER = "2000000"


def responder(request: dict[str, Any]) -> Any:
    from tinycode_jupyter.testing import call, say

    turn = sum(1 for m in request["messages"] if m["role"] == "assistant")
    if turn == 0:
        return call("run_python", {"code": "data = bytearray(2_000_000)\nprint(len(data))\nlen(data)"})
    return say(f"The buffer has {ANSWER} bytes.")


@dataclass
class Sample:
    run: int
    rss_kib: int
    fds: int
    threads: int
    children: int
    seconds: float


@dataclass
class SoakResult:
    runs: int
    warmup: int
    failed_runs: int
    rss_kib_per_run: float
    fds_per_run: float
    threads_per_run: float
    rss_start_mib: float
    rss_end_mib: float
    fds_start: int
    fds_end: int
    threads_end: int
    children_end: int
    seconds_per_run: float
    samples: list[Sample]


def slope(xs: list[float], ys: list[float]) -> float:
    """Theil-Sen slope of ys over xs: the median of the pairwise slopes (0 for fewer than two points)."""
    pairs = [(ys[j] - ys[i]) / (xs[j] - xs[i]) for i in range(len(xs)) for j in range(i + 1, len(xs)) if xs[j] != xs[i]]
    return statistics.median(pairs) if pairs else 0.0


def probe(kernel: Any, run: int, started: float) -> Sample:
    line = next(l for l in kernel.execute(PROBE).text().splitlines() if l.startswith("PROBE "))
    return Sample(run=run, seconds=time.perf_counter() - started, **json.loads(line[len("PROBE ") :]))


def soak(runs: int, every: int, warmup: int) -> SoakResult:
    """``runs`` sequential ``%%agent`` runs in one fresh kernel, probed every ``every`` runs."""
    from kernel_harness import Kernel

    from tinycode_jupyter.testing import ScriptedServer

    with ScriptedServer(responder) as server:
        kernel = Kernel()
        try:
            kernel.execute("%load_ext tinycode_jupyter")
            cell = f"%%agent --model openai/soak --api-base {server.url}\nMake a 2 MB buffer."
            started = time.perf_counter()
            samples, failed = [], 0
            for run in range(1, runs + 1):
                outcome = kernel.execute(cell, timeout=60)
                failed += outcome.status != "ok" or ANSWER not in outcome.text()
                kernel.execute("%agent reset")
                if run % every == 0 or run == runs:
                    samples.append(probe(kernel, run, started))
            elapsed = time.perf_counter() - started
        finally:
            kernel.shutdown()
    steady = [s for s in samples if s.run > warmup] or samples
    runs_axis = [float(s.run) for s in steady]
    return SoakResult(
        runs=runs, warmup=warmup, failed_runs=failed,
        rss_kib_per_run=slope(runs_axis, [float(s.rss_kib) for s in steady]),
        fds_per_run=slope(runs_axis, [float(s.fds) for s in steady]),
        threads_per_run=slope(runs_axis, [float(s.threads) for s in steady]),
        rss_start_mib=steady[0].rss_kib / 1024, rss_end_mib=steady[-1].rss_kib / 1024,
        fds_start=steady[0].fds, fds_end=steady[-1].fds, threads_end=steady[-1].threads, children_end=steady[-1].children,
        seconds_per_run=elapsed / runs, samples=samples,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--every", type=int, default=10, help="probe the kernel every N runs")
    parser.add_argument("--warmup", type=int, default=50, help="runs left out of the fit")
    parser.add_argument("--json", help="output path (default bench/results/soak.json)")
    args = parser.parse_args()
    result = soak(args.runs, args.every, args.warmup)
    rows: list[tuple[str, float | str, str]] = [
        ("sequential %%agent runs in one kernel (failed)", f"{result.runs} ({result.failed_runs})", "bar 0 failed"),
        ("memory growth, Theil-Sen after warm-up (KiB/run)", result.rss_kib_per_run, ""),
        ("  kernel RSS after warm-up -> end (MiB)", f"{result.rss_start_mib:.1f} -> {result.rss_end_mib:.1f}", ""),
        ("open fds growth (fds/run)", result.fds_per_run, "bar ~0"),
        ("  open fds after warm-up -> end", f"{result.fds_start} -> {result.fds_end}", ""),
        ("threads growth (threads/run)", result.threads_per_run, "bar ~0"),
        ("kernel threads / child processes at the end", f"{result.threads_end} / {result.children_end}", ""),
        ("wall time per run (ms)", result.seconds_per_run * 1000, ""),
    ]
    report("soak", rows, {"result": asdict(result)}, args.json)


if __name__ == "__main__":
    main()
