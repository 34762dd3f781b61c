"""Start a real Jupyter server (JupyterLab + Notebook 7) in throwaway directories.

Shared by the browser tests and ``bench/bench_page_load.py``. The server sees the
repository's built labextension through ``JUPYTER_PATH``, never the user's own
Jupyter directories, and it makes no request outside this machine.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "tinycode_jupyter" / "labextension"
EXTENSION_NAME = "tinycode-jupyter"
TOKEN = "tinycode-browser-tests"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

# Keep JupyterLab quiet and offline: no news feed, no update check, no notification toasts.
# ``window.jupyterapp`` lets tests and the bench see when the kernel is idle.
SERVER_CONFIG = {
    "LabApp": {
        "news_url": None,
        "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate",
        "expose_app_in_browser": True,
    },
    "JupyterNotebookApp": {"expose_app_in_browser": True},
}
SETTING_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def notebook_json(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """An nbformat 4.5 notebook holding ``cells`` (each needs ``id``, ``cell_type``, ``source``)."""
    full = []
    for cell in cells:
        base: dict[str, Any] = {"metadata": {}, **cell}
        if base["cell_type"] == "code":
            base = {"execution_count": None, "outputs": [], **base}
        full.append(base)
    return {
        "cells": full,
        "metadata": {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


@dataclass
class LabServer:
    """A running ``jupyter lab`` process; files live under ``root_dir``."""

    base: Path
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def root_dir(self) -> Path:
        return self.base / "root"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
        env.update(
            JUPYTER_CONFIG_DIR=str(self.base / "config"),
            JUPYTER_DATA_DIR=str(self.base / "data"),
            JUPYTER_RUNTIME_DIR=str(self.base / "runtime"),
            JUPYTER_PATH=str(self.base / "path"),
            JUPYTER_PLATFORM_DIRS="1",
        )
        return env

    def prepare(self) -> None:
        """Create the directories, the config and the link to the repository's bundle."""
        if not (BUNDLE / "package.json").is_file():
            raise FileNotFoundError(f"{BUNDLE} holds no built labextension (see labextension/README.md)")
        for name in ("config", "data", "runtime", "root"):
            (self.base / name).mkdir(parents=True, exist_ok=True)
        link = self.base / "path" / "labextensions" / EXTENSION_NAME
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(BUNDLE, target_is_directory=True)
        _write_json(self.base / "config" / "jupyter_server_config.json", SERVER_CONFIG)
        _write_json(self.base / "config" / "labconfig" / "default_setting_overrides.json", SETTING_OVERRIDES)

    def set_extension_enabled(self, enabled: bool) -> None:
        """Enable or disable the extension in this server's (temporary) user config."""
        verb = "enable" if enabled else "disable"
        subprocess.run(
            [sys.executable, "-m", "jupyterlab.labextensions", verb, "--level=user", EXTENSION_NAME],
            env=self.env, check=True, capture_output=True,
        )

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait until its API answers."""
        self.prepare()
        log = (self.base / "server.log").open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "jupyterlab",
                "--allow-root", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
                f"--ServerApp.root_dir={self.root_dir}", f"--IdentityProvider.token={TOKEN}",
                "--ServerApp.port_retries=0",
            ],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root_dir,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                urllib.request.urlopen(f"{self.url}/api/status?token={TOKEN}", timeout=2).close()
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"jupyter lab did not answer within {timeout} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, chars: int = 4000) -> str:
        path = self.base / "server.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def write_notebook(self, name: str, cells: list[dict[str, Any]]) -> str:
        """Write a notebook into the root dir (the contents API wants an XSRF token)."""
        _write_json(self.root_dir / name, notebook_json(cells))
        return name

    def read_notebook(self, name: str) -> dict[str, Any]:
        return json.loads((self.root_dir / name).read_text(encoding="utf-8"))

    def page_url(self, name: str, ui: str = "lab") -> str:
        """URL that opens ``name`` in JupyterLab (``ui="lab"``) or Notebook 7 (``"notebook"``)."""
        path = f"/lab/tree/{name}?reset&" if ui == "lab" else f"/notebooks/{name}?"
        return f"{self.url}{path}token={TOKEN}"

    def shutdown_kernels(self) -> None:
        """Shut every kernel down, so tests don't share kernels or CPU."""
        sessions = self._api("GET", "/api/sessions")
        for session in sessions:
            self._api("DELETE", f"/api/sessions/{session['id']}")

    def _api(self, method: str, path: str) -> Any:
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None
