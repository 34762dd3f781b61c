"""Each script in examples/ runs as a user would run it, against the loopback model server."""
from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

from tinycode_jupyter.testing import ScriptedServer, call, say

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, server_url: str, workdir: Path, model: str = "openai/scripted", stdin: str = "") -> str:
    env = {**os.environ, "TINYCODE_MODEL": model, "TINYCODE_API_BASE": server_url, "TINYCODE_PROVIDER": "kernel",
           "TINYCODE_PRICE_PER_MTOK": "0.4,1.6", "OPENAI_API_KEY": "test-key", "COLUMNS": "100"}  # fmt: skip
    done = subprocess.run([sys.executable, str(EXAMPLES / name)], input=stdin, capture_output=True, text=True,
                          timeout=120, env=env, cwd=workdir)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def last_tool_output(request: dict) -> str:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"][-1]


def then_report(first_call):
    """A model that makes one tool call, then answers with what the tool really returned."""
    def respond(request):
        if not any(m["role"] == "tool" for m in request["messages"]):
            return first_call
        return say(f"Result: {last_tool_output(request)}")
    return respond


def chat_requests(server):
    return [r["body"] for r in server.requests if r["path"].endswith(("/chat/completions", "/api/chat"))]


def test_base64_example_decodes_with_the_obfuscation_check_off(tmp_path):
    code = "import base64\nprint(base64.b64decode('SGVsbG8gZnJvbSB0aW55Y29kZSE=').decode())"
    with ScriptedServer(then_report(call("run_python", {"code": code}))) as server:
        out = run_example("base64_decode.py", server.url, tmp_path)
        first = chat_requests(server)[0]
    assert out.strip() == "Result: Hello from tinycode!"
    assert "SGVsbG8gZnJvbSB0aW55Y29kZSE=" in first["messages"][-1]["content"]
    assert base64.b64decode("SGVsbG8gZnJvbSB0aW55Y29kZSE=") == b"Hello from tinycode!"


def test_custom_tools_example_describes_and_runs_the_tool(tmp_path):
    code = "eur = 250 * get_exchange_rate(currency='EUR')\nyen = 250 * get_exchange_rate(currency='JPY')\nprint(round(eur, 2), round(yen, 1))"
    with ScriptedServer(then_report(call("run_python", {"code": code}))) as server:
        out = run_example("custom_tools.py", server.url, tmp_path)
        tools = {t["function"]["name"]: t["function"] for t in chat_requests(server)[0]["tools"]}
    assert out.strip() == "Result: 230.0 37825.0"
    assert tools["get_exchange_rate"]["description"] == "How many units of a currency one US dollar buys."
    assert tools["get_exchange_rate"]["parameters"]["properties"]["currency"]["type"] == "string"


def test_hooks_example_asks_before_the_shell_command_and_tracks_tokens(tmp_path):
    command = "echo 'hello hooks' > notes.txt && cat notes.txt"
    with ScriptedServer(then_report(call("bash", {"command": command}))) as server:
        out = run_example("hooks_tracking_approval.py", server.url, tmp_path, stdin="y\n")
        reported = [r for r in server.requests if r["path"].endswith("/chat/completions")]
        usage = server.responses
    assert "Run this shell command?" in out and command in out and "Approve bash?" in out
    assert "Result: hello hooks" in out
    assert (tmp_path / "notes.txt").read_text() == "hello hooks\n"
    total_line = [line for line in out.splitlines() if line.startswith("total")][0]
    calls, prompt, completion = (int(x) for x in total_line.split()[1:4])
    assert calls == len(reported) == 2
    assert prompt == sum(u["usage"]["prompt_tokens"] for u in usage)
    assert completion == sum(u["usage"]["completion_tokens"] for u in usage)


def test_ollama_example_uses_the_chat_api_with_num_ctx(tmp_path):
    with ScriptedServer(then_report(call("run_python", {"code": "sum(i * i for i in range(1, 101))"}))) as server:
        out = run_example("ollama_local.py", server.ollama_url, tmp_path, model="ollama/llama3.1")
        chats = [r["body"] for r in server.requests if r["path"] == "/api/chat"]
    assert out.strip() == "Result: [value] 338350" or out.strip().endswith("338350")
    assert chats and all(body["model"] == "llama3.1" and body["options"]["num_ctx"] == 16384 for body in chats)
