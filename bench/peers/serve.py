"""The loopback scripted model in its own process, reachable from every peer's venv.

The request's ``model`` picks the trajectory (``ours``, ``tinyagent``,
``smolagents``, optionally ``-<steps>``; see :mod:`trajectories`). Prints ``READY <url>`` and then
answers one command per stdin line with one JSON line on stdout:

- ``reset``: forget the recorded requests;
- ``tokens``: per chat request since the last reset, its prompt tokens counted
  with ``litellm.token_counter`` for gpt-4.1-mini (messages + tool schemas);
- ``quit``: stop.

Run: .venv/bin/python bench/peers/serve.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trajectories import respond  # noqa: E402

COUNTING_MODEL = "gpt-4.1-mini"


def count_tokens(bodies: list[dict[str, Any]]) -> list[int]:
    """Prompt tokens of each request body (messages with their standard fields, plus tool schemas)."""
    from tinycode_jupyter.llm import import_litellm

    litellm = import_litellm()
    counts = []
    for body in bodies:
        messages = [{k: v for k, v in m.items() if k in ("role", "content", "tool_calls", "tool_call_id", "name")}
                    for m in body["messages"]]  # fmt: skip
        counts.append(litellm.token_counter(model=COUNTING_MODEL, messages=messages, tools=body.get("tools") or None))
    return counts


def chat_bodies(server: Any) -> list[dict[str, Any]]:
    return [r["body"] for r in list(server.requests) if r["path"].endswith("/chat/completions") and isinstance(r["body"], dict)]


def main() -> None:
    from tinycode_jupyter.testing import ScriptedServer

    server = ScriptedServer(respond).start()
    print(f"READY {server.url}", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "reset":
            server.requests.clear()
            server.responses.clear()
            reply: dict[str, Any] = {"ok": True}
        elif command == "tokens":
            bodies = chat_bodies(server)
            reply = {"requests": len(bodies), "prompt_tokens": count_tokens(bodies)}
        elif command == "quit":
            break
        else:
            reply = {"error": f"unknown command {command!r}"}
        print(json.dumps(reply), flush=True)
    server.stop()


if __name__ == "__main__":
    main()
