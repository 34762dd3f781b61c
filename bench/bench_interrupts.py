"""Interrupts at random moments of sandboxed steps: none may cost the sandbox its state.

Through the real LocalProvider (bubblewrap), each round starts a step, waits a
random 0..--max-ms milliseconds (exactly 0 in one round of four: the interrupt
then comes before the step's request is written), and interrupts it. The
steps vary, so interrupts land before the code starts, in it, in its
``finally``, while the reply is written and after the step ended:

- ``long``: ``time.sleep(60)``, which must be stopped by every interrupt;
- ``short``: a sleep of 0..--max-ms ms inside ``try``/``finally``;
- ``busy``: a pure-Python loop of 0..--max-ms ms;
- ``shell``: ``sleep 60`` through run_shell, which must be stopped.

After each round, a sentinel variable set at the start must still be there,
which also proves the next step runs and is not hit by a late interrupt.
The bar is 0 state losses, 0 unstopped long steps and 0 failed next steps.

Run: .venv/bin/python bench/bench_interrupts.py [--rounds 1000] [--max-ms 20] [--seed 1] [--json PATH]
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report  # noqa: E402

SENTINEL = "'alive'"
KINDS = ("long", "short", "busy", "shell")
MUST_STOP = {"long", "shell"}


def step_code(kind: str, millis: float) -> str:
    seconds = millis / 1000
    if kind == "long":
        return "import time\ntime.sleep(60)"
    if kind == "short":
        return f"import time\ntry:\n    time.sleep({seconds!r})\nfinally:\n    after = 1"
    return f"import time\nend = time.perf_counter() + {seconds!r}\nwhile time.perf_counter() < end:\n    pass"


async def one_round(provider: Any, kind: str, delay_ms: float, length_ms: float, counts: collections.Counter,
                    stop_ms: list[float]) -> None:  # fmt: skip
    if kind == "shell":
        step = asyncio.ensure_future(provider.run_shell("sleep 60"))
    else:
        step = asyncio.ensure_future(provider.run_python(step_code(kind, length_ms)))
    await asyncio.sleep(0)  # the step's coroutine has started: there is a step to interrupt
    if delay_ms:
        await asyncio.sleep(delay_ms / 1000)
    sent = time.perf_counter()
    await provider.interrupt()
    result = await asyncio.wait_for(step, timeout=30)
    interrupted = result.error is not None and result.error.name == "KeyboardInterrupt"
    counts["interrupted" if interrupted else "finished before the interrupt"] += 1
    if kind in MUST_STOP:
        stop_ms.append((time.perf_counter() - sent) * 1000)
        counts["long step not stopped"] += 0 if interrupted else 1
    counts["state lost"] += bool(result.state_lost)
    if result.state_lost:
        counts[f"state lost: {kind} step, interrupt at {delay_ms:.1f} ms: {result.error and result.error.value}"] += 1
        await provider.run_python(f"sentinel = {SENTINEL}")
    after = await provider.run_python("sentinel")
    counts["sentinel missing or next step failed"] += after.value != SENTINEL


async def measure(rounds: int, max_ms: float, seed: int, sandbox: bool, grace: float) -> tuple[collections.Counter, list[float], float]:
    from tinycode_jupyter.providers.local import LocalProvider

    rng = random.Random(seed)
    counts: collections.Counter = collections.Counter()
    stop_ms: list[float] = []
    with tempfile.TemporaryDirectory() as workdir:
        async with LocalProvider(workdir, sandbox=sandbox, interrupt_grace=grace) as provider:
            await provider.run_python(f"sentinel = {SENTINEL}")
            started = time.perf_counter()
            for _ in range(rounds):
                kind = rng.choice(KINDS)
                delay_ms = 0.0 if rng.random() < 0.25 else rng.uniform(0, max_ms)
                counts[f"kind {kind}"] += 1
                await one_round(provider, kind, delay_ms, rng.uniform(0, max_ms), counts, stop_ms)
            elapsed = time.perf_counter() - started
    return counts, stop_ms, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1000, help="interrupts to send")
    parser.add_argument("--max-ms", type=float, default=5.0, help="latest moment of an interrupt after its step")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--grace", type=float, default=1.0, help="seconds an interrupted step has to stop before the worker is restarted")
    parser.add_argument("--unsandboxed", action="store_true", help="run the worker without bubblewrap")
    parser.add_argument("--json", default=None, help="where to write the results (default bench/results/interrupts.json)")
    args = parser.parse_args()
    counts, stop_ms, elapsed = asyncio.run(measure(args.rounds, args.max_ms, args.seed, not args.unsandboxed, args.grace))
    label = "unsandboxed" if args.unsandboxed else "bwrap"
    rows: list[tuple[str, float | str, str]] = [
        (f"{label}: interrupts sent", args.rounds, ""),
        ("steps interrupted", counts["interrupted"], ""),
        ("steps that finished before the interrupt", counts["finished before the interrupt"], "short and busy steps only"),
        ("state losses (worker restarted)", counts["state lost"], "0"),
        ("long steps not stopped", counts["long step not stopped"], "0"),
        ("sentinel missing or next step failed", counts["sentinel missing or next step failed"], "0"),
        ("interrupt to result of a long step, median ms", statistics.median(stop_ms) if stop_ms else "-", ""),
        ("interrupt to result of a long step, max ms", max(stop_ms) if stop_ms else "-", ""),
        ("wall time, s", elapsed, ""),
    ]
    extra = {"counts": dict(counts), "rounds": args.rounds, "max_ms": args.max_ms, "seed": args.seed, "sandbox": label,
             "grace_s": args.grace, "stop_ms": stop_ms}  # fmt: skip
    report("interrupts", rows, extra, args.json)
    failures = counts["state lost"] + counts["long step not stopped"] + counts["sentinel missing or next step failed"]
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
