"""The real worker on plain pipes, spoken to line by line: bytes and orders the host client never produces."""
from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from tinycode_jupyter.providers.worker_client import WORKER_PATH


class RawWorker:
    """One worker subprocess; ``send`` writes whole lines in a single write, ``reply`` reads one back."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdin is not None and process.stdout is not None
        self.process = process
        self._stdin = process.stdin
        self._stdout = process.stdout

    @classmethod
    async def start(cls, cwd: str, **config: Any) -> "RawWorker":
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-u", str(WORKER_PATH), json.dumps(config), cwd=cwd, limit=1 << 26,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        return cls(process)

    async def send(self, *messages: dict[str, Any] | bytes) -> None:
        """Write every message (a dict is encoded as one JSON line; bytes go as they are) at once."""
        self._stdin.write(b"".join(m if isinstance(m, bytes) else json.dumps(m).encode() + b"\n" for m in messages))
        await self._stdin.drain()

    async def reply(self, timeout: float = 20) -> dict[str, Any]:
        line = await asyncio.wait_for(self._stdout.readline(), timeout)
        assert line, "the worker's output ended"
        return json.loads(line)

    async def run(self, request_id: int, code: str) -> dict[str, Any]:
        await self.send({"id": request_id, "op": "exec", "code": code})
        return await self.reply()

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
