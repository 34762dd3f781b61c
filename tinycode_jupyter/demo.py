"""The demo: one real agent run, on a real model when one is configured, else on a labelled scripted one."""
from __future__ import annotations

import json
import os
import shutil
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from .testing.script import Reply, call, say

DEMO_PROMPT = "Calculate the factorial of 10 and the first 10 Fibonacci numbers using Python."
DEMO_CODE = """import math
fib = [0, 1]
while len(fib) < 10:
    fib.append(fib[-1] + fib[-2])
print("10! =", math.factorial(10))
print("first 10 Fibonacci numbers:", fib)"""
SCRIPTED_LABEL = "scripted demo model (no API key found: set OPENAI_API_KEY or start Ollama for a real model)"


@dataclass
class DemoModel:
    model: str
    label: str
    model_kwargs: dict[str, Any]
    scripted: bool


def demo_responder(request: dict[str, Any]) -> Reply:
    """The scripted model: runs the demo code, then reports what the code really printed."""
    outputs = [m["content"] for m in request["messages"] if m["role"] == "tool"]
    if not outputs:
        return call("run_python", {"code": DEMO_CODE}, content="I'll compute both with Python.")
    return say(f"The code printed:\n\n{outputs[-1]}\n\n_Answered by the {SCRIPTED_LABEL}._")


def pick_model(stack: ExitStack, requested: str | None) -> DemoModel:
    """A real model if one is configured or reachable, else the scripted one on a loopback server."""
    if requested:
        return DemoModel(requested, requested, {}, scripted=False)
    if os.environ.get("OPENAI_API_KEY"):
        return DemoModel("gpt-4.1-mini", "gpt-4.1-mini (OPENAI_API_KEY)", {}, scripted=False)
    ollama = _first_ollama_model()
    if ollama:
        return DemoModel(f"ollama/{ollama}", f"ollama/{ollama} (local Ollama server)", {"api_base": "http://127.0.0.1:11434"}, False)
    from .testing.server import ScriptedServer

    server = stack.enter_context(ScriptedServer(demo_responder, model="demo"))
    return DemoModel("openai/demo", SCRIPTED_LABEL, {"api_base": server.url, "api_key": "scripted"}, scripted=True)


def pick_provider(requested: str | None) -> tuple[str, str | None]:
    """The provider to demo, with a note when the sandbox is not available."""
    if requested:
        return requested, None
    if shutil.which("bwrap"):
        return "local", None
    return "kernel", "bubblewrap is not installed (apt-get install bubblewrap): running in-process, without isolation"


def _first_ollama_model() -> str | None:
    try:
        with urllib.request.urlopen("http://127.0.0.1:11434/api/tags", timeout=0.3) as response:
            models = json.load(response).get("models", [])
    except (OSError, ValueError):
        return None
    return models[0]["name"] if models else None
