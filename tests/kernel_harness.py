"""A real Jupyter kernel for tests, driven through jupyter_client."""
from __future__ import annotations

import os
import queue
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from jupyter_client.manager import KernelManager


@dataclass
class CellRun:
    status: str
    outputs: list[dict[str, Any]] = field(default_factory=list)
    payload: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    duration: float = 0.0

    def text(self) -> str:
        """Everything the cell showed, as text (streams, plain and markdown displays, errors)."""
        parts = []
        for out in self.outputs:
            if out["msg_type"] == "stream":
                parts.append(out["content"]["text"])
            elif out["msg_type"] in ("display_data", "update_display_data", "execute_result"):
                data = out["content"]["data"]
                parts.append(data.get("text/markdown") or data.get("text/plain", ""))
            elif out["msg_type"] == "error":
                parts.append("\n".join(out["content"]["traceback"]))
        return "\n".join(parts)


class Kernel:
    def __init__(self, env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        kernel_env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", **(env or {})}
        # Unix sockets, not TCP: free ports picked before the kernel binds them can be taken meanwhile.
        self._sockets = tempfile.TemporaryDirectory(prefix="kernel-")
        self.manager = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(self._sockets.name, "k"))
        self.manager.start_kernel(env=kernel_env, cwd=cwd)
        self.client = self.manager.client()
        self.client.start_channels()
        try:
            self.client.wait_for_ready(timeout=60)
        except RuntimeError:
            self.shutdown()
            raise

    def execute(self, code: str, timeout: float = 60, cell_id: str | None = None, interrupt_after: float | None = None,
                on_message: Callable[[dict[str, Any]], None] | None = None) -> CellRun:  # fmt: skip
        metadata = {"cellId": cell_id} if cell_id else {}
        content = {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False,
                   "stop_on_error": True}  # fmt: skip
        message = self.client.session.msg("execute_request", content, metadata=metadata)
        self.client.shell_channel.send(message)
        msg_id = message["header"]["msg_id"]
        started = time.monotonic()
        run = CellRun(status="")
        interrupted = False
        while True:
            if interrupt_after is not None and not interrupted and time.monotonic() - started > interrupt_after:
                self.manager.interrupt_kernel()
                interrupted = True
                run.duration = time.monotonic()  # reused below as the interrupt time
            try:
                msg = self.client.get_iopub_msg(timeout=0.05)
            except queue.Empty:
                if time.monotonic() - started > timeout:
                    raise TimeoutError(f"cell did not finish in {timeout}s") from None
                continue
            if on_message is not None:
                on_message(msg)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "status" and msg["content"]["execution_state"] == "idle":
                break
            if kind in ("stream", "display_data", "update_display_data", "execute_result", "error"):
                run.outputs.append({"msg_type": kind, "content": msg["content"]})
        reply = self.client.get_shell_msg(timeout=timeout)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.client.get_shell_msg(timeout=timeout)
        run.status = reply["content"]["status"]
        run.payload = reply["content"].get("payload", [])
        if run.status == "error":
            run.error = reply["content"]
        run.duration = time.monotonic() - (run.duration if interrupted else started)
        return run

    def click_button(self, comm_id: str) -> None:
        """Do what a browser does when an ipywidgets Button is clicked."""
        content = {"comm_id": comm_id, "data": {"method": "custom", "content": {"event": "click"}}}
        self.client.shell_channel.send(self.client.session.msg("comm_msg", content))

    def eval(self, expression: str) -> str:
        run = self.execute(f"print(repr({expression}))")
        assert run.status == "ok", run.text()
        return run.text().strip()

    def shutdown(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)
        self._sockets.cleanup()
