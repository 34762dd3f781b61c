"""Run the scripted server and the agent drivers as child processes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every child: offline litellm cost map, quiet warnings, no inherited venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update({"LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONWARNINGS": "ignore", "TOKENIZERS_PARALLELISM": "false"})
    env.update(extra or {})
    return env


class ServerProcess:
    """``bench/peers/serve.py`` in a child process, commanded over its stdin."""

    def __init__(self, python: str = sys.executable) -> None:
        self.process = subprocess.Popen(
            [python, str(HERE / "serve.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=child_env(), cwd=REPO,
        )  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("READY "):
            self.close()
            raise RuntimeError(f"serve.py did not start: {line!r}")
        self.url = line.split()[1]

    def command(self, name: str) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(name + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.command("quit")
                self.process.wait(10)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_driver(python: str, script: str, args: list[str], timeout: float) -> dict[str, Any]:
    """Run ``bench/peers/<script>`` with ``python``; its ``RESULT`` line, or ``{"error": ...}``."""
    started = time.perf_counter()
    try:
        done = subprocess.run([python, str(HERE / script), *args], capture_output=True, text=True, timeout=timeout,
                              env=child_env(), cwd=REPO, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"error": f"{script} {' '.join(args)}: no result within {timeout:.0f}s"}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            result["driver_wall_s"] = time.perf_counter() - started
            return result
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    return {"error": f"{script} {' '.join(args)} exited {done.returncode}: {' | '.join(tail)}"}
