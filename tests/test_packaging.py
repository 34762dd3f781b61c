"""The wheel, installed into a fresh venv, brings the kernelspec and the enabled JupyterLab extension."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*argv: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.mark.timeout(900)
def test_wheel_in_a_fresh_venv_lists_the_extension_enabled_and_the_agent_kernel(tmp_path):
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    if not Path(uv).exists():
        pytest.fail("uv is needed to build the wheel (./dev.sh installs it)")
    dist = tmp_path / "dist"
    run(uv, "build", "--wheel", "--out-dir", str(dist), cwd=ROOT)
    [wheel] = dist.glob("tinycode_jupyter-*.whl")
    venv = tmp_path / "venv"
    run(uv, "venv", "--python", sys.executable, str(venv))
    python = venv / "bin" / "python"
    run(uv, "pip", "install", "--python", str(python), str(wheel), "jupyterlab")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env["PATH"] = f"{venv / 'bin'}:{env['PATH']}"
    listing = run(str(venv / "bin" / "jupyter"), "labextension", "list", env=env)
    line = next((l for l in listing.splitlines() if "tinycode-jupyter" in l), "")
    assert "enabled" in line and "OK" in line and "(python, tinycode_jupyter)" in line, listing
    kernels = run(str(venv / "bin" / "jupyter"), "kernelspec", "list", env=env)
    assert "tinycode" in kernels, kernels
    imported = run(str(python), "-c", "import sys, tinycode_jupyter; print('litellm' in sys.modules)", env=env)
    assert imported.strip() == "False"
