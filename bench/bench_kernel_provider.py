"""Kernel-provider bar: overhead of `run_python` over a bare `exec` of the same code (in-process shell).

Run: .venv/bin/python bench/bench_kernel_provider.py [--json PATH]
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median_ms, report  # noqa: E402

CODE = "y = sum(range(100))\ny"


async def measure(repeat: int) -> tuple[list[float], list[float]]:
    from tinycode_jupyter.providers.kernel import KernelProvider

    provider = KernelProvider()
    await provider.start()
    namespace = provider.shell.user_ns
    compiled = compile(CODE, "<bench>", "exec")
    ours, bare = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        exec(compiled, namespace)
        bare.append(time.perf_counter() - started)
        started = time.perf_counter()
        await provider.run_python(CODE)
        ours.append(time.perf_counter() - started)
    await provider.close()
    return ours, bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=500)
    parser.add_argument("--json", help="output path (default bench/results/kernel_provider.json)")
    args = parser.parse_args()
    ours, bare = asyncio.run(measure(args.repeat))
    rows = [
        ("kernel run_python round trip (ms)", median_ms(ours), ""),
        ("bare exec of the same code (ms)", median_ms(bare), ""),
        ("overhead over bare exec (ms)", median_ms(ours) - median_ms(bare), "bar <= 1"),
    ]
    report("kernel_provider", rows, {}, args.json)


if __name__ == "__main__":
    main()
