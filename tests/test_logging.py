"""Debug logging: one switch shows model requests and tool calls, and never a secret."""
from __future__ import annotations

import io
import logging
import subprocess
import sys

import tinycode_jupyter
from tinycode_jupyter import TinyCodeAgent
from tinycode_jupyter.logging_setup import disable_debug_logging, redact
from tinycode_jupyter.testing import ScriptedServer, call, say

API_KEY = "sk-proj-Zx81HqLmN0pQrStUvWx"
ENV_TOKEN = "ghp_9f8e7d6c5b4a3210fedcba"
CUSTOM_KEY = "plainkey-31415926535"


async def test_requests_and_tool_calls_are_logged_with_every_secret_redacted(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("MY_SERVICE_TOKEN", ENV_TOKEN)
    stream = io.StringIO()
    tinycode_jupyter.enable_debug_logging(stream)
    caplog.set_level(logging.DEBUG, logger="tinycode_jupyter")
    code = f"import os\nheaders = {{'Authorization': 'Bearer {ENV_TOKEN}', 'x-api-key': '{CUSTOM_KEY}'}}\nprint(len(headers))"
    try:
        with ScriptedServer([call("run_python", {"code": code}), say(f"used {API_KEY}")]) as server:
            agent = TinyCodeAgent(model="openai/scripted", api_key=API_KEY, model_kwargs={"api_base": server.url},
                                  provider="kernel", default_workdir=tmp_path)  # fmt: skip
            async with agent:
                await agent.run(f"my key is {API_KEY}, call the API with token {ENV_TOKEN}")
            assert server.requests[0]["headers"]["authorization"] == f"Bearer {API_KEY}"  # the key was really used
    finally:
        disable_debug_logging()
    written = stream.getvalue()
    for text in (written, caplog.text):
        assert "model request: model=" in text and "tool call" in text and "run_python" in text
        assert "model response: finish=tool_calls" in text
        for secret in (API_KEY, ENV_TOKEN, CUSTOM_KEY):
            assert secret not in text
    assert "Bearer ***" in written and "'x-api-key': '***'" in written


def test_redaction_patterns(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "abc-anthropic-secret")
    monkeypatch.setenv("DEBUG_LEVEL", "verbose")  # not a secret by name: untouched
    text = redact("key sk-abcdefghijklmnop, auth: Bearer eyJhbGciOi.x, password=hunter22, anth abc-anthropic-secret, verbose")
    assert text == "key sk-***, auth: Bearer ***, password=***, anth ***, verbose"
    assert redact("prompt_tokens=120 completion_tokens=5") == "prompt_tokens=120 completion_tokens=5"


def test_nothing_is_logged_without_the_switch(tmp_path):
    assert not [h for h in logging.getLogger("tinycode_jupyter").handlers if type(h).__name__ == "_DebugHandler"]


def test_env_switch_turns_debug_logging_on():
    code = (
        "import logging\n"
        "from tinycode_jupyter import TinyCodeAgent\n"
        "from tinycode_jupyter.testing import ScriptedLLM\n"
        "TinyCodeAgent(llm=ScriptedLLM(), provider='kernel')\n"
        "logging.getLogger('tinycode_jupyter.x').debug('hello with sk-abcdefghijkl')\n"
    )
    env = {"TINYCODE_DEBUG": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "DEBUG tinycode_jupyter.x: hello with sk-***" in done.stderr
