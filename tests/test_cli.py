"""`tinycode chat`: its help, and a real terminal session against the loopback model server."""
from __future__ import annotations

import os
import subprocess
import sys

from tinycode_jupyter.testing import ScriptedServer, call, say


def tinycode(*args: str, stdin: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "COLUMNS": "100", "TERM": "dumb", **(env or {})}
    return subprocess.run([sys.executable, "-m", "tinycode_jupyter.cli", *args], input=stdin, capture_output=True,
                          text=True, timeout=120, env=full_env)  # fmt: skip


def test_chat_help_explains_every_option():
    done = tinycode("chat", "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for option, explanation in [
        ("--model", "litellm model name"),
        ("--provider", "where code runs: local (bubblewrap sandbox"),
        ("--api-base URL", "base URL of the model server"),
        ("--max-turns N", "model turns allowed per task"),
        ("--no-thinking", "do not stream the model's text"),
    ]:
        assert option in text and explanation in text
    assert "/reset starts a new conversation" in text and "OPENAI_API_KEY" in text


def test_top_level_help_lists_chat():
    assert "chat with the agent in the terminal" in " ".join(tinycode("--help").stdout.split())


def test_chat_session_runs_tasks_shows_work_and_resets(tmp_path):
    script = [
        call("run_python", {"code": "print(6 * 7)"}, content="Computing it."),
        say("The answer is **42**."),
        say("A fresh start."),
    ]
    with ScriptedServer(script) as server:
        done = tinycode(
            "chat", "--model", "openai/scripted", "--api-base", server.url, "--provider", "kernel",
            stdin="what is 6 times 7?\n/reset\nhello again\n/exit\nnever sent\n",
            env={"OPENAI_API_KEY": "test-key", "TINYCODE_MODEL": ""},
        )  # fmt: skip
        requests = [r["body"] for r in server.requests if r["path"].endswith("/chat/completions")]
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "model hosted_vllm/scripted" in out or "model openai/scripted" in out
    assert "you› " in out and "› what is 6 times 7?" not in out  # the typed task is not echoed again
    assert "Computing it." in out and "print(6 * 7)" in out and "42" in out
    assert "The answer is 42." in out  # rendered Markdown
    assert "2 turns ·" in out and "completion tokens" in out
    assert "(new conversation)" in out and "A fresh start." in out
    assert len(requests) == 3  # the line after /exit was never sent
    assert [m["content"] for m in requests[2]["messages"] if m["role"] == "user"] == ["hello again"]


def test_chat_ends_on_end_of_input_and_reports_bad_configuration(tmp_path):
    with ScriptedServer([]) as server:
        done = tinycode("chat", "--model", "openai/scripted", "--api-base", server.url, "--provider", "kernel",
                        env={"OPENAI_API_KEY": "test-key"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    bad = tinycode("chat", "--model", "openai/x", "--provider", "nope")
    assert bad.returncode == 2 and "unknown provider 'nope'" in bad.stderr
