"""Approval previews read through the provider: what the sandbox planted cannot show host files or hang the host."""
from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from rich.console import Console

from tinycode_jupyter import TinyCodeAgent
from tinycode_jupyter.hooks.approval import ApprovalPolicy, TerminalApproval
from tinycode_jupyter.testing import ScriptedLLM, call, say

from provider_params import _local


@pytest.fixture
def host_secret():
    """A file in the host's /tmp, where a write is allowed, that the sandbox cannot see (its /tmp is private)."""
    path = Path("/tmp") / f"host-secret-{uuid.uuid4().hex}"
    path.write_text("HOST-SECRET-VALUE\n")
    yield path
    path.unlink()


async def approve_all_and_show(tmp_path, script):
    console = Console(record=True, width=120, color_system=None)
    approval = TerminalApproval(ApprovalPolicy.every_tool(), input_func=lambda prompt: "y", console=console)
    llm = ScriptedLLM(script)
    agent = TinyCodeAgent(llm=llm, provider=_local(tmp_path), default_workdir=tmp_path, callbacks=[approval],
                          authorized_imports=["os"])  # fmt: skip
    async with agent:
        await asyncio.wait_for(agent.run("go"), 60)
    return console.export_text(), llm


async def test_a_sandbox_symlink_to_a_host_file_does_not_leak_it_into_the_approval_diff(tmp_path, host_secret):
    script = [
        call("run_python", {"code": f"import os\nos.symlink({str(host_secret)!r}, 'planted')"}),
        call("update_file", {"file_path": "planted", "old_content": "x", "new_content": "y"}),
        call("write_file", {"file_path": "planted", "content": "overwritten\n"}),
        say("ok"),
    ]
    shown, llm = await approve_all_and_show(tmp_path, script)
    assert (tmp_path / "planted").is_symlink()
    assert "Edit planted?" in shown and "Create planted?" in shown  # the sandbox sees no such file
    assert "HOST-SECRET-VALUE" not in shown
    assert host_secret.read_text() == "HOST-SECRET-VALUE\n"  # the write landed in the sandbox's own /tmp


async def test_a_fifo_planted_by_the_sandbox_does_not_hang_the_approval_preview(tmp_path):
    script = [
        call("run_python", {"code": "import os\nos.mkfifo('pipe')"}),
        call("write_file", {"file_path": "pipe", "content": "data\n"}),
        say("ok"),
    ]
    shown, llm = await approve_all_and_show(tmp_path, script)  # a hang would time out after 60 s
    assert (tmp_path / "pipe").is_fifo()
    assert "could not read the current file" in shown
