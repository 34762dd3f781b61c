"""MCP servers as tool sources: real server processes (the mcp package's MCPServer) over stdio."""
from __future__ import annotations

import asyncio
import os
import sys
import textwrap

import pytest

from tinycode_jupyter import TinyCodeAgent
from tinycode_jupyter.errors import ConfigurationError
from tinycode_jupyter.mcp_tools import MCPServerError
from tinycode_jupyter.testing import ScriptedLLM, call, say

SERVER = textwrap.dedent('''
    import os
    import sys

    from mcp.server.mcpserver import MCPServer

    name = sys.argv[1]
    app = MCPServer(name)

    if name == "math":
        @app.tool()
        def add(a: int, b: int) -> int:
            """Add two integers."""
            return a + b

        @app.tool()
        def multiply(a: float, b: float) -> float:
            """Multiply two numbers."""
            return a * b
    else:
        @app.tool()
        def shout(text: str) -> str:
            """Upper-case a text."""
            return text.upper()

        @app.tool()
        def fail(reason: str) -> str:
            """Always fails."""
            raise ValueError(reason)

        @app.tool()
        def bash(command: str) -> str:
            """A tool whose name clashes with the built-in bash."""
            return "the MCP bash ran"

    @app.tool(name=name + "_pid")
    def pid() -> int:
        """The server's process id."""
        return os.getpid()

    app.run()
''')


@pytest.fixture
def server_script(tmp_path):
    path = tmp_path / "server.py"
    path.write_text(SERVER)
    return str(path)


def child_pids() -> set[int]:
    """Live (non-zombie) child processes of this test process."""
    children = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            children.add(int(entry))
    return children


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def tool_results(llm):
    return [m["content"] for m in llm.requests[-1]["messages"] if m["role"] == "tool"]


async def test_two_servers_filters_calls_from_the_model_and_from_code_and_shutdown(tmp_path, server_script):
    script = [
        call("add", {"a": 2, "b": 3}),
        call("shout", {"text": "hi"}),
        call("fail", {"reason": "no way"}),
        call("run_python", {"code": "print(add(a=4, b=5), shout(text='code'))"}),
        call("math_pid"),
        call("text_pid"),
        call("bash", {"command": "echo built-in"}),
        say("done"),
    ]
    llm = ScriptedLLM(script)
    agent = TinyCodeAgent(llm=llm, provider="kernel", default_workdir=tmp_path)
    before = child_pids()
    async with agent:
        math_tools, text_tools = await asyncio.gather(
            agent.connect_mcp_server(sys.executable, [server_script, "math"], include_tools=["add", "math_pid"]),
            agent.connect_mcp_server(sys.executable, [server_script, "text"], exclude_tools=["bash"]),
        )
        assert sorted(math_tools) == ["add", "math_pid"] and sorted(text_tools) == ["fail", "shout", "text_pid"]
        assert len(child_pids() - before) == 2
        await agent.run("use the MCP tools")
        schemas = {t["function"]["name"]: t["function"] for t in llm.requests[0]["tools"]}
        assert schemas["add"]["description"] == "Add two integers."
        assert schemas["add"]["parameters"]["properties"]["a"]["type"] == "integer"
        assert schemas["add"]["parameters"]["required"] == ["a", "b"]
        assert "multiply" not in schemas
        assert schemas["bash"]["description"] == "Run a shell command with bash."  # the built-in stays
        assert {"run_python", "read_file", "write_file", "todo_write"} <= set(schemas)
    results = tool_results(llm)
    assert results[0] == "5" and results[1] == "HI"
    assert results[2].startswith("Error from MCP tool fail: Error executing tool fail")
    assert agent.last_run.tool_calls[2].ok is False
    assert results[3] == "9 CODE"
    math_pid, text_pid = int(results[4]), int(results[5])
    assert results[6] == "built-in"
    # agent.close() (by `async with`) stopped both servers and removed their tools
    assert not alive(math_pid) and not alive(text_pid)
    assert child_pids() - before == set()
    assert "add" not in agent.tools and "bash" in agent.tools


async def test_a_clashing_tool_name_is_an_error_and_the_server_is_stopped(tmp_path, server_script):
    agent = TinyCodeAgent(llm=ScriptedLLM(), provider="kernel", default_workdir=tmp_path)
    before = child_pids()
    async with agent:
        with pytest.raises(ConfigurationError, match=r"already taken: bash.*exclude_tools"):
            await agent.connect_mcp_server(sys.executable, [server_script, "text"])
        assert child_pids() - before == set()
        assert agent.tools["bash"].builtin


async def test_a_server_that_dies_at_start_reports_its_stderr(tmp_path):
    agent = TinyCodeAgent(llm=ScriptedLLM(), provider="kernel", default_workdir=tmp_path)
    crash = "import sys; sys.stderr.write('missing config file settings.toml'); sys.exit(3)"
    async with agent:
        with pytest.raises(MCPServerError, match=r"did not start(.|\n)*missing config file settings.toml"):
            await agent.connect_mcp_server(sys.executable, ["-c", crash])
        assert set(agent.tools) == {"run_python", "bash", "read_file", "write_file", "update_file", "glob", "grep", "todo_write"}


def test_args_must_be_a_list(tmp_path):
    from tinycode_jupyter.mcp_tools import MCPServerConnection

    with pytest.raises(ConfigurationError, match="list of strings"):
        MCPServerConnection("python", "server.py")
