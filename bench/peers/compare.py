"""Side by side with the peers, measured in one run: import / ``%load_ext`` time, framework
overhead per turn, sandboxed step latency, prompt tokens, kernel memory.

Peers (each in its own throwaway venv under ``bench/.peers/``, created with uv when missing):
tinyagent-py's TinyCodeAgent, jupyter-ai-magics, smolagents' CodeAgent. Every agent runs the
same 20-step trajectory (see ``trajectories.py``) against one scripted server in its own process.
A peer that cannot be set up or driven shows up as ``n/a`` with the reason; no figure is invented.

Run: .venv/bin/python bench/peers/compare.py [--repeats 2] [--json PATH]
"""
from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
from _common import report  # noqa: E402
from kernel_load import BenchKernel  # noqa: E402
from processes import ServerProcess, child_env, run_driver  # noqa: E402
from trajectories import STEPS  # noqa: E402
from venvs import PEERS, ensure  # noqa: E402

log = logging.getLogger("peers")

OURS = sys.executable
IMPORTS = {
    "ours": "from tinycode_jupyter import TinyCodeAgent",
    "tinyagent": "from tinyagent import TinyCodeAgent",
    "smolagents": "from smolagents import CodeAgent",
}
IMPORT_PROBE = "import time\n_t = time.perf_counter()\n{statement}\nprint('IMPORT', time.perf_counter() - _t)"
DRIVERS = [  # (key, venv, script, mode, runs): each run is STEPS turns
    ("ours_kernel", None, "drive_ours.py", "kernel", 6),
    ("ours_local", None, "drive_ours.py", "local", 6),
    ("tinyagent_inprocess", "tinyagent", "drive_tinyagent.py", "inprocess", 6),
    ("smolagents", "smolagents", "drive_smolagents.py", "local-executor", 6),
]
TINYAGENT_BWRAP = ("tinyagent_bubblewrap", "tinyagent", "drive_tinyagent.py", "bubblewrap", 1)
"""One run only: every step of its sandbox starts a new process (seconds each)."""
Measurements = dict[str, Any]


def peer_pythons() -> dict[str, str | None]:
    """Each peer's venv Python, or None when its venv could not be created."""
    pythons: dict[str, str | None] = {}
    for name, spec in PEERS.items():
        try:
            pythons[name] = str(ensure(spec))
        except (OSError, subprocess.SubprocessError) as exc:
            log.error("peer %s: could not create its venv: %s", name, exc)
            pythons[name] = None
    return pythons


def import_seconds(python: str, statement: str) -> float:
    done = subprocess.run([python, "-c", IMPORT_PROBE.format(statement=statement)], capture_output=True, text=True,
                          env=child_env(), timeout=300, check=True)  # fmt: skip
    return float(next(l for l in done.stdout.splitlines() if l.startswith("IMPORT ")).split()[1])


def import_times(pythons: dict[str, str | None], repeat: int) -> Measurements:
    """Median in-process import time of each agent class (interleaved, so drift hits all alike)."""
    targets = {"ours": OURS, "tinyagent": pythons["tinyagent"], "smolagents": pythons["smolagents"]}
    samples: dict[str, list[float]] = {name: [] for name, python in targets.items() if python}
    for _ in range(repeat):
        for name, taken in samples.items():
            taken.append(import_seconds(targets[name], IMPORTS[name]) * 1000)  # type: ignore[arg-type]
    return {name: {"median_ms": statistics.median(s), "samples_ms": s} for name, s in samples.items()}


def load_ext_and_memory(pythons: dict[str, str | None], server: ServerProcess, kernels: int) -> Measurements:
    """``%load_ext`` time in fresh kernels (ours vs jupyter-ai-magics), and kernel memory."""
    targets = {"ours": (OURS, "tinycode_jupyter"), "jupyter_ai": (pythons["jupyter_ai"], "jupyter_ai_magics")}
    out: Measurements = {name: {"samples_ms": [], "litellm_imported": False} for name, (python, _) in targets.items() if python}
    for index in range(kernels):
        for name in out:
            python, extension = targets[name]
            kernel = BenchKernel(python)  # type: ignore[arg-type]
            try:
                before = kernel.memory_kib()
                elapsed, litellm_loaded = kernel.load_ext(extension)
                out[name]["samples_ms"].append(elapsed)
                out[name]["litellm_imported"] |= litellm_loaded
                if index == 0:
                    out[name]["memory_kib"] = {"before": before, "after_load_ext": kernel.memory_kib()}
                    if name == "ours":
                        kernel.run(f"%%agent --model openai/ours --api-base {server.url} --max-turns 25\nRun the trajectory.")
                        out[name]["memory_kib"]["after_first_run"] = kernel.memory_kib()
            finally:
                kernel.close()
    for entry in out.values():
        entry["median_ms"] = statistics.median(entry["samples_ms"])
    return out


def trajectories(pythons: dict[str, str | None], server: ServerProcess, repeats: int, bwrap_steps: int) -> Measurements:
    """Each agent's 20-step runs (interleaved over ``repeats`` rounds), with the prompt tokens it sent;
    tinyagent-py's bubblewrap path runs once, ``bwrap_steps`` turns long."""
    out: Measurements = {}
    plan = [(*d, STEPS) for _ in range(repeats) for d in DRIVERS] + [(*TINYAGENT_BWRAP, bwrap_steps)]
    for key, venv, script, mode, runs, steps in plan:
        python = OURS if venv is None else pythons[venv]
        if python is None:
            out[key] = {"error": f"the {venv} venv could not be created"}
            continue
        server.command("reset")
        log.info("trajectory: %s", key)
        arguments = ["--url", server.url, "--mode", mode, "--runs", str(runs), "--steps", str(steps)]
        result = run_driver(python, script, arguments, timeout=400)
        tokens = server.command("tokens")["prompt_tokens"]
        entry = out.setdefault(key, {"steps": steps, "overhead_ms": [], "per_turn_ms": [], "steps_ms": [], "first_steps_ms": []})
        if "error" in result:
            entry["error"] = result["error"]
            continue
        warm = result["runs"][1:] or result["runs"]
        entry["overhead_ms"] += [r["overhead_per_turn_ms"] for r in warm]
        entry["per_turn_ms"] += [r["per_turn_ms"] for r in warm]
        entry["steps_ms"] += [d for r in result["runs"] for d in r["steps_ms"]][1:]
        entry["first_steps_ms"].append(result["first_step_ms"])
        entry["fixed_prompt_tokens"] = tokens[0]
        entry["run_prompt_tokens"] = sum(tokens[-steps:])
        entry["requests_per_run"] = len(tokens) / len(result["runs"])
    for entry in out.values():
        if entry.get("overhead_ms"):
            entry.update({
                "overhead_ms_median": statistics.median(entry["overhead_ms"]),
                "per_turn_ms_median": statistics.median(entry["per_turn_ms"]),
                "step_ms_median": statistics.median(entry["steps_ms"]),
                "first_step_ms_median": statistics.median(entry["first_steps_ms"]),
            })  # fmt: skip
    return out


def sandbox_steps(server: ServerProcess) -> Measurements:
    return run_driver(OURS, "drive_ours.py", ["--url", server.url, "--mode", "sandbox-steps"], timeout=300)


def measure(repeats: int, kernels: int, import_repeat: int, bwrap_steps: int) -> Measurements:
    pythons = peer_pythons()
    measurements: Measurements = {"pythons": pythons}
    with ServerProcess() as server:
        log.info("import times")
        measurements["imports"] = import_times(pythons, import_repeat)
        log.info("%%load_ext and memory")
        measurements["load_ext"] = load_ext_and_memory(pythons, server, kernels)
        measurements["trajectories"] = trajectories(pythons, server, repeats, bwrap_steps)
        log.info("sandbox steps")
        measurements["sandbox"] = sandbox_steps(server)
    return measurements


# --- the table -----------------------------------------------------------------------------
def _get(data: Measurements, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _value(data: Measurements, *path: str) -> float | str:
    """A number, or ``n/a`` with the nearest recorded error on the way to it."""
    value = _get(data, *path)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    for depth in range(len(path) - 1, 0, -1):
        reason = _get(data, *path[:depth], "error")
        if reason:
            return f"n/a: {str(reason)[:100]}"
    return "n/a: not measured"


def _ratio(ours: float | str, theirs: float | str, bar: float) -> tuple[str, str]:
    """The ratio to three significant digits (some are 1e-5), and the verdict against ``bar``."""
    if isinstance(ours, float) and isinstance(theirs, float) and theirs > 0:
        ratio = ours / theirs
        return f"{ratio:.3g}", f"bar <= {bar:g}: {'PASS' if ratio <= bar else 'FAIL'}"
    return "n/a", f"bar <= {bar:g}: not measurable"


def rows(m: Measurements) -> list[tuple[str, float | str, str]]:
    t = m["trajectories"]
    imp_ours, imp_ta, imp_smol = (_value(m, "imports", n, "median_ms") for n in ("ours", "tinyagent", "smolagents"))
    load_ours, load_jai = _value(m, "load_ext", "ours", "median_ms"), _value(m, "load_ext", "jupyter_ai", "median_ms")
    ov = {k: _value(t, k, "overhead_ms_median") for k in ("ours_kernel", "ours_local", "tinyagent_inprocess", "tinyagent_bubblewrap", "smolagents")}
    wall = {k: _value(t, k, "per_turn_ms_median") for k in ("ours_kernel", "ours_local", "tinyagent_inprocess", "smolagents")}
    warm_ours, cold_ours = _value(m, "sandbox", "warm_ms_median"), _value(m, "sandbox", "cold_ms_median")
    warm_ta, cold_ta = _value(t, "tinyagent_bubblewrap", "step_ms_median"), _value(t, "tinyagent_bubblewrap", "first_step_ms_median")
    fixed = {k: _value(t, k, "fixed_prompt_tokens") for k in ("ours_kernel", "ours_local", "tinyagent_inprocess", "smolagents")}
    total = {k: _value(t, k, "run_prompt_tokens") for k in ("ours_kernel", "ours_local", "tinyagent_inprocess", "smolagents")}
    mem = lambda name, when: _value(m, "load_ext", name, "memory_kib", when, "peak_kib")  # noqa: E731
    mib = lambda v: v / 1024 if isinstance(v, float) else v  # noqa: E731
    return [
        ("import: ours, from tinycode_jupyter import TinyCodeAgent (ms)", imp_ours, ""),
        ("import: tinyagent-py, from tinyagent import TinyCodeAgent (ms)", imp_ta, "peer figure 3300-3900"),
        ("import: smolagents, from smolagents import CodeAgent (ms)", imp_smol, ""),
        ("import ratio ours / tinyagent-py", *_ratio(imp_ours, imp_ta, 0.05)),
        ("%load_ext: ours, tinycode_jupyter (ms)", load_ours, ""),
        ("%load_ext: jupyter_ai_magics (ms)", load_jai, "peer figure 1000-3000"),
        ("%load_ext ratio ours / jupyter-ai", *_ratio(load_ours, load_jai, 0.05)),
        ("litellm imported by %load_ext: ours / jupyter-ai",
         f"{_get(m, 'load_ext', 'ours', 'litellm_imported')} / {_get(m, 'load_ext', 'jupyter_ai', 'litellm_imported')}", ""),
        ("overhead/turn, 20 steps: ours kernel (ms)", ov["ours_kernel"], ""),
        ("overhead/turn, 20 steps: ours local sandbox (ms)", ov["ours_local"], ""),
        ("overhead/turn, 20 steps: tinyagent-py in-process (ms)", ov["tinyagent_inprocess"], "peer figure 7.6"),
        (f"overhead/turn, {_get(t, 'tinyagent_bubblewrap', 'steps')} steps: tinyagent-py bubblewrap (ms)", ov["tinyagent_bubblewrap"], "1 run"),
        ("overhead/turn, 20 steps: smolagents CodeAgent (ms)", ov["smolagents"], ""),
        ("overhead ratio ours kernel / tinyagent-py in-process", *_ratio(ov["ours_kernel"], ov["tinyagent_inprocess"], 0.7)),
        ("wall time/turn incl. execution: ours kernel (ms)", wall["ours_kernel"], ""),
        ("wall time/turn incl. execution: ours local sandbox (ms)", wall["ours_local"], "litellm's background work overlaps the sandbox wait"),
        ("wall time/turn incl. execution: tinyagent-py in-process (ms)", wall["tinyagent_inprocess"], ""),
        ("wall time/turn incl. execution: smolagents CodeAgent (ms)", wall["smolagents"], ""),
        ("sandbox step warm: ours local (ms)", warm_ours, "bar <= 5"),
        ("sandbox step warm: tinyagent-py bubblewrap (ms)", warm_ta, "peer figure 3000-4000"),
        ("sandbox warm ratio ours / tinyagent-py", *_ratio(warm_ours, warm_ta, 0.01)),
        ("sandbox cold start to first result: ours local (ms)", cold_ours, "bar <= 150"),
        ("sandbox first step: tinyagent-py bubblewrap (ms)", cold_ta, ""),
        ("fixed prompt, 1st request: ours kernel (tokens)", fixed["ours_kernel"], "bar <= 1500"),
        ("fixed prompt, 1st request: ours local (tokens)", fixed["ours_local"], ""),
        ("fixed prompt, 1st request: tinyagent-py (tokens)", fixed["tinyagent_inprocess"], "peer figure ~4600"),
        ("fixed prompt, 1st request: smolagents (tokens)", fixed["smolagents"], ""),
        ("fixed prompt ratio ours / tinyagent-py", *_ratio(fixed["ours_kernel"], fixed["tinyagent_inprocess"], 0.35)),
        ("prompt tokens over a 20-step run: ours kernel", total["ours_kernel"], ""),
        ("prompt tokens over a 20-step run: tinyagent-py", total["tinyagent_inprocess"], ""),
        ("prompt tokens over a 20-step run: smolagents", total["smolagents"], ""),
        ("20-step prompt tokens ratio ours / tinyagent-py", *_ratio(total["ours_kernel"], total["tinyagent_inprocess"], 0.35)),
        ("kernel peak RSS after %load_ext: ours (MiB)", mib(mem("ours", "after_load_ext")), ""),
        ("kernel peak RSS after first 20-step run: ours (MiB)", mib(mem("ours", "after_first_run")), ""),
        ("kernel peak RSS after %load_ext: jupyter-ai (MiB)", mib(mem("jupyter_ai", "after_load_ext")), ""),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="rounds of every in-process trajectory driver")
    parser.add_argument("--kernels", type=int, default=3, help="fresh kernels per %%load_ext measurement")
    parser.add_argument("--imports", type=int, default=5, help="import-time samples per agent")
    parser.add_argument("--bwrap-steps", type=int, default=STEPS, help="turns of tinyagent-py's bubblewrap run (seconds per turn)")
    parser.add_argument("--json", help="output path (default bench/results/peers.json)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="  [peers] %(message)s")
    measurements = measure(args.repeats, args.kernels, args.imports, args.bwrap_steps)
    report("peers", rows(measurements), {"measurements": measurements}, args.json)


if __name__ == "__main__":
    main()
