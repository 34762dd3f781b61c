"""THE one command: every benchmark plus the side-by-side peer comparison, one table, one JSON file.

Runs each ``bench/bench_*.py`` in its own process (sizes trimmed so the whole run fits in
about ten minutes on 2 cores; ``--full`` uses every script's own defaults), then
``bench/peers/compare.py``, which creates the peers' venvs under ``bench/.peers/`` when they
are missing (cached afterwards). Prints every row, the ours/theirs ratios first, and writes
``bench/results/all.json``. ``bench_real_model.py`` compiles llama.cpp and takes minutes per
run, so it only runs with ``--real-model``.

Run: .venv/bin/python bench/run_all.py [--full] [--real-model] [--only NAME ...]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
sys.path.insert(0, str(BENCH / "peers"))
from processes import child_env  # noqa: E402


@dataclass(frozen=True)
class Job:
    name: str
    script: str
    quick: tuple[str, ...] = ()
    """Arguments that trim the run to fit the ten-minute budget (dropped with --full)."""
    timeout: float = 300


JOBS = [
    Job("core", "bench_core.py", ("--runs", "5")),
    Job("http", "bench_http.py", ("--calls", "100")),
    Job("kernel_provider", "bench_kernel_provider.py", ("--repeat", "300")),
    Job("local", "bench_local.py", ("--warm", "200", "--cold", "8")),
    Job("notebook", "bench_notebook.py", ("--kernels", "3")),
    Job("hooks", "bench_hooks.py", ("--repeat", "3")),
    Job("page_load", "bench_page_load.py", ("--loads", "6"), timeout=240),
    Job("scaling", "bench_scaling.py"),
    Job("soak", "bench_soak.py", ("--runs", "150", "--every", "10", "--warmup", "30")),
    Job("undo", "bench_undo.py", ("--repeat", "5")),
    Job("interrupts", "bench_interrupts.py"),
    Job("peers", "peers/compare.py", ("--repeats", "2", "--kernels", "3", "--imports", "3", "--bwrap-steps", "5"), timeout=900),
]
REAL_MODEL = Job("real_model", "bench_real_model.py", timeout=3600)
RATIO_MARK = "ratio"


def discover(full: bool) -> list[Job]:
    """The known jobs, plus any newer ``bench_*.py`` run with its defaults."""
    known = {job.script for job in JOBS} | {REAL_MODEL.script}
    extra = [Job(p.stem.removeprefix("bench_"), p.name) for p in sorted(BENCH.glob("bench_*.py")) if p.name not in known]
    return [job if not full else Job(job.name, job.script, (), job.timeout * 3) for job in JOBS + extra]


def run_job(job: Job) -> dict[str, Any]:
    """Run one benchmark script; its rows from the JSON it wrote, or the reason it failed."""
    output = RESULTS / f"{job.name}.json"
    output.unlink(missing_ok=True)
    argv = [sys.executable, str(BENCH / job.script), *job.quick, "--json", str(output)]
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=job.timeout, env=child_env(), cwd=BENCH.parent, check=False)
        failure = None if done.returncode == 0 else f"exit {done.returncode}: {_tail(done.stderr or done.stdout)}"
    except subprocess.TimeoutExpired:
        failure = f"no result within {job.timeout:.0f}s"
    seconds = time.perf_counter() - started
    if failure is None and output.exists():
        return {"seconds": seconds, "command": " ".join(argv[1:]), **json.loads(output.read_text())}
    return {"seconds": seconds, "command": " ".join(argv[1:]), "error": failure or "it wrote no results"}


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])[:400]


def _shown(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def print_table(results: dict[str, dict[str, Any]]) -> None:
    rows = [(name, *row) for name, result in results.items() for row in result.get("rows", [])]
    width = max([len(r[1]) for r in rows] + [40])
    print("\n== ours / theirs (same run) ==")
    for _, metric, value, bar in (r for r in rows if RATIO_MARK in r[1]):
        print(f"  {metric:<{width}}  {_shown(value):>12}  {bar}")
    for name, result in results.items():
        print(f"\n== {name}  ({result['seconds']:.0f}s: {result['command']})")
        if "error" in result:
            print(f"  FAILED: {result['error']}")
        for metric, value, bar in result.get("rows", []):
            print(f"  {metric:<{width}}  {_shown(value):>12}  {bar}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="every script at its own default size (takes longer)")
    parser.add_argument("--real-model", action="store_true", help="also run bench_real_model.py (compiles llama.cpp once)")
    parser.add_argument("--only", nargs="+", help="run only these jobs (names as in the table); all.json keeps the others")
    args = parser.parse_args()
    jobs = discover(args.full) + ([REAL_MODEL] if args.real_model else [])
    if args.only:
        jobs = [job for job in jobs if job.name in args.only]
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    for job in jobs:
        print(f"running {job.name} ...", flush=True)
        results[job.name] = run_job(job)
    total = time.perf_counter() - started
    print_table(results)
    print(f"\ntotal {total:.0f}s")
    summary_path = RESULTS / "all.json"
    kept = json.loads(summary_path.read_text())["benchmarks"] if args.only and summary_path.exists() else {}
    summary = {"total_seconds": total, "full": args.full, "python": sys.version.split()[0], "benchmarks": {**kept, **results}}
    summary_path.write_text(json.dumps(summary, indent=2))
    print(f"-> {summary_path}")
    if any("error" in result for result in results.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
