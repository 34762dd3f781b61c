"""Shared helpers for the benchmark scripts: medians, tables, JSON output."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def time_command(argv: list[str], repeat: int, env: dict[str, str] | None = None) -> list[float]:
    """Wall times (s) of running ``argv`` to completion ``repeat`` times."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - started)
    return samples


def compile_package() -> None:
    """Compile the package's bytecode, as ``pip``/``uv`` install do, so that import times measured
    with ``PYTHONDONTWRITEBYTECODE`` set (as on these machines) are not compile times."""
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "tinycode_jupyter"), quiet=1)


def python_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    return env


def report(name: str, rows: list[tuple[str, float | str, str]], extra: dict[str, Any], json_path: str | None) -> None:
    """Print a table of (metric, value, bar) rows and write them with ``extra`` as JSON."""
    width = max(len(r[0]) for r in rows)
    print(f"\n{name}")
    for metric, value, bar in rows:
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"  {metric:<{width}}  {shown:>10}  {bar}")
    path = Path(json_path) if json_path else RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "python": sys.version.split()[0], "rows": [list(r) for r in rows], **extra}
    path.write_text(json.dumps(payload, indent=2))
    print(f"  -> {path}")


def best_of(func: Callable[[], float], repeat: int) -> list[float]:
    return [func() for _ in range(repeat)]
