"""Scaling: 1, 4, 16, 64 concurrent agents (asyncio), each with its own ``local`` sandbox.

Every agent runs the same short trajectory against one loopback ScriptedServer:
it stores its own secret in a sandbox variable and a file, computes with it, and
finally prints both back; its answer is what its sandbox printed. Measured per
level: throughput (turns/s), p50/p95 turn latency (from one ``llm_start`` to the
next), memory of this process plus every sandbox (RSS of the process tree),
cross-talk (an agent whose answer is not its own secret) and processes or
cgroups left behind once every agent is closed. With the default zero-latency
model every turn is CPU work in this one process, so throughput stops growing
once both cores are busy; ``--latency`` adds a model delay to see overlap.

Run: .venv/bin/python bench/bench_scaling.py [--levels 1 4 16 64] [--json PATH]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report  # noqa: E402

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

LEVELS = (1, 4, 16, 64)
SECRET = re.compile(r"secret ([0-9a-f]{16})")


def _code_for(turn: int, secret: str) -> str | None:
    """The code of each turn (None: time for the final answer). The secret travels as a JSON string literal."""
    steps = [
        f"secret = {secret!r}",
        "open('secret.txt', 'w').write(secret)",
        "checksum = sum(map(ord, secret))",
        "print(secret, open('secret.txt').read(), checksum == sum(map(ord, secret)))",
    ]
    return steps[turn] if turn < len(steps) else None


def responder(request: dict[str, Any]) -> Any:
    """Per agent (told apart by the secret in its prompt): run the steps, then answer with what the sandbox printed."""
    from tinycode_jupyter.testing import call, say

    messages = request["messages"]
    prompt = next(m["content"] for m in messages if m["role"] == "user")
    secret = SECRET.search(prompt).group(1)  # type: ignore[union-attr]
    turn = sum(1 for m in messages if m["role"] == "assistant")
    code = _code_for(turn, secret)
    if code is not None:
        return call("run_python", {"code": code})
    return say(messages[-1]["content"].strip())


TURNS = 5
"""Model turns per run: four code steps and the answer."""


class TurnClock:
    """A hook that timestamps each model turn of one agent."""

    def __init__(self) -> None:
        self.marks: list[float] = []

    def __call__(self, event: Any) -> None:
        if event.name in ("llm_start", "agent_end"):
            self.marks.append(time.perf_counter())

    def latencies(self) -> list[float]:
        return [b - a for a, b in zip(self.marks, self.marks[1:])]


@dataclass
class LevelResult:
    agents: int
    wall_s: float
    start_s: float
    """Time to start every sandbox (concurrently)."""
    throughput_turns_per_s: float
    p50_turn_ms: float
    p95_turn_ms: float
    rss_mib: float
    """This process plus every sandbox process, while all agents were open."""
    rss_per_agent_mib: float
    cross_talk: int
    """Agents whose answer was not their own secret."""
    failed: int
    leftover_processes: int
    leftover_cgroups: int
    errors: list[str] = field(default_factory=list)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int | None = None) -> list[int]:
    """Every live process below ``pid`` (default: this process)."""
    tree, found, todo = _children(), [], [pid or os.getpid()]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as fh:
                total += next((int(l.split()[1]) for l in fh if l.startswith("VmRSS:")), 0)
        except OSError:
            continue
    return total


def own_cgroups() -> list[str]:
    """Sandbox cgroups this process created and has not removed (named ``tinycode-<pid>-<n>``)."""
    root = Path("/sys/fs/cgroup")
    pattern = f"tinycode-{os.getpid()}-*"
    return [str(p) for depth in ("", "*/", "*/*/", "*/*/*/") for p in root.glob(depth + pattern)]


async def run_level(count: int, url: str) -> LevelResult:
    from tinycode_jupyter import TinyCodeAgent

    before_processes = set(descendants())
    before_cgroups = set(own_cgroups())
    with tempfile.TemporaryDirectory() as root:
        secrets_by_agent = [secrets.token_hex(8) for _ in range(count)]
        clocks = [TurnClock() for _ in range(count)]
        agents = []
        for index in range(count):
            workdir = os.path.join(root, f"agent{index}")
            os.mkdir(workdir)
            agents.append(TinyCodeAgent(model="openai/scaling", api_key="bench", provider="local", default_workdir=workdir,
                                        model_kwargs={"api_base": url, "num_retries": 2, "timeout": 120},
                                        callbacks=[clocks[index]], max_turns=TURNS + 2))  # fmt: skip
        started = time.perf_counter()
        try:
            await asyncio.gather(*(agent.start() for agent in agents))
            start_s = time.perf_counter() - started
            started = time.perf_counter()
            outcomes = await asyncio.gather(
                *(agent.run(f"Keep secret {s} in the sandbox, then print it back.") for agent, s in zip(agents, secrets_by_agent)),
                return_exceptions=True,
            )
            wall = time.perf_counter() - started
            memory = rss_kib([os.getpid(), *descendants()])
        finally:
            await asyncio.gather(*(agent.close() for agent in agents), return_exceptions=True)
    errors = [f"{type(o).__name__}: {o}" for o in outcomes if isinstance(o, BaseException)]
    crossed = sum(1 for o, s in zip(outcomes, secrets_by_agent) if not isinstance(o, BaseException) and str(o) != f"{s} {s} True")
    latencies = [lat for clock in clocks for lat in clock.latencies()]
    cuts = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else latencies * 19
    leftovers = [p for p in descendants() if p not in before_processes]
    return LevelResult(
        agents=count, wall_s=wall, start_s=start_s, throughput_turns_per_s=len(latencies) / wall,
        p50_turn_ms=statistics.median(latencies) * 1000, p95_turn_ms=cuts[18] * 1000,
        rss_mib=memory / 1024, rss_per_agent_mib=memory / 1024 / count, cross_talk=crossed, failed=len(errors),
        leftover_processes=len(leftovers), leftover_cgroups=len(set(own_cgroups()) - before_cgroups), errors=errors[:3],
    )  # fmt: skip


async def measure(levels: list[int], latency: float = 0.0) -> list[LevelResult]:
    """One :class:`LevelResult` per number of agents; ``latency``: seconds the model waits before each answer."""
    from tinycode_jupyter.llm import import_litellm
    from tinycode_jupyter.testing import ScriptedServer

    import_litellm()
    with ScriptedServer(responder, latency=latency) as server:
        await run_level(1, server.url)  # warm-up: the first model call pays for litellm's lazy imports
        return [await run_level(count, server.url) for count in levels]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=list(LEVELS))
    parser.add_argument("--latency", type=float, default=0.0, help="model latency in seconds (default 0: framework cost only)")
    parser.add_argument("--json", help="output path (default bench/results/scaling.json)")
    args = parser.parse_args()
    results = asyncio.run(measure(args.levels, args.latency))
    rows: list[tuple[str, float | str, str]] = []
    for r in results:
        rows += [
            (f"{r.agents:>2} agents: throughput (turns/s)", r.throughput_turns_per_s, ""),
            (f"{r.agents:>2} agents: turn latency p50 / p95 (ms)", f"{r.p50_turn_ms:.1f} / {r.p95_turn_ms:.1f}", ""),
            (f"{r.agents:>2} agents: sandboxes started in (s)", r.start_s, ""),
            (f"{r.agents:>2} agents: RSS total / per agent (MiB)", f"{r.rss_mib:.0f} / {r.rss_per_agent_mib:.1f}", ""),
            (f"{r.agents:>2} agents: failed, cross-talk, leftover processes, cgroups",
             f"{r.failed}, {r.cross_talk}, {r.leftover_processes}, {r.leftover_cgroups}", "bar 0, 0, 0, 0"),
        ]  # fmt: skip
    report("scaling", rows, {"latency_s": args.latency, "levels": [asdict(r) for r in results]}, args.json)


if __name__ == "__main__":
    main()
