"""``%load_ext`` time and kernel memory in a real IPython kernel of any venv."""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from processes import child_env

MEASURE_LOAD = (
    "import time as _t, sys as _s\n_t0 = _t.perf_counter()\nget_ipython().run_line_magic('load_ext', {name!r})\n"
    "print('LOAD', (_t.perf_counter() - _t0) * 1000, 'litellm' in _s.modules)"
)
MEMORY = "print('MEM', *[l.split()[0].strip(':') + '=' + l.split()[1] for l in open('/proc/self/status') if l.startswith(('VmRSS', 'VmHWM'))])"


class BenchKernel:
    """An ipykernel started with ``python`` (any venv), driven through jupyter_client."""

    def __init__(self, python: str, cwd: str | None = None) -> None:
        from jupyter_client import KernelManager
        from jupyter_client.kernelspec import KernelSpecManager

        self._specs = tempfile.TemporaryDirectory()
        spec_dir = Path(self._specs.name) / "bench"
        spec_dir.mkdir()
        argv = [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        (spec_dir / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "bench", "language": "python"}))
        self.manager = KernelManager(kernel_name="bench", kernel_spec_manager=KernelSpecManager(kernel_dirs=[self._specs.name]))
        self.manager.start_kernel(env=child_env(), cwd=cwd, stderr=subprocess.DEVNULL)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=120)

    def run(self, code: str, timeout: float = 120) -> str:
        """Execute ``code``; everything it printed (an error raises)."""
        printed: list[str] = []
        errors: list[str] = []

        def collect(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "stream":
                printed.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                errors.append("\n".join(msg["content"]["traceback"]))

        reply = self.client.execute_interactive(code, timeout=timeout, output_hook=collect)
        if reply["content"]["status"] != "ok" or errors:
            raise RuntimeError(f"kernel cell failed: {''.join(errors)[-2000:]}")
        return "".join(printed)

    def line(self, code: str, tag: str) -> list[str]:
        """The fields of the printed line that starts with ``tag``."""
        for line in self.run(code).splitlines():
            if line.startswith(tag + " "):
                return line.split()[1:]
        raise RuntimeError(f"no {tag} line in the cell's output")

    def memory_kib(self) -> dict[str, int]:
        fields = dict(field.split("=") for field in self.line(MEMORY, "MEM"))
        return {"rss_kib": int(fields["VmRSS"]), "peak_kib": int(fields["VmHWM"])}

    def load_ext(self, name: str) -> tuple[float, bool]:
        """Milliseconds ``%load_ext name`` took inside the kernel, and whether litellm got imported."""
        elapsed, litellm_loaded = self.line(MEASURE_LOAD.format(name=name), "LOAD")
        return float(elapsed), litellm_loaded == "True"

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)
        self._specs.cleanup()
