"""The same 20-step trajectory, spoken in each agent's own tool dialect.

Every agent gets STEPS - 1 turns that run ``x = <turn>`` in Python, then a final
text answer (smolagents: a ``final_answer`` code step, which is how its
CodeAgent ends). The turn number is the count of assistant messages already in
the request, so a responder needs no state and works for any number of runs.
"""
from __future__ import annotations

from typing import Any, Callable

STEPS = 20
FINAL = "done"


def _turn(request: dict[str, Any]) -> int:
    return sum(1 for m in request.get("messages", []) if m.get("role") == "assistant")


def ours(request: dict[str, Any]) -> Any:
    """tinycode_jupyter: ``run_python(code: str)``."""
    from tinycode_jupyter.testing import call, say

    done = _turn(request)
    return call("run_python", {"code": f"x = {done}"}) if done < STEPS - 1 else say(FINAL)


def tinyagent(request: dict[str, Any]) -> Any:
    """tinyagent-py's TinyCodeAgent: ``run_python(code_lines: list[str])``; plain text ends the run."""
    from tinycode_jupyter.testing import call, say

    done = _turn(request)
    return call("run_python", {"code_lines": [f"x = {done}"]}) if done < STEPS - 1 else say(FINAL)


def smolagents(request: dict[str, Any]) -> Any:
    """smolagents' CodeAgent: no tool calls; a ``<code>`` block per step, ``final_answer`` to end."""
    from tinycode_jupyter.testing import say

    done = _turn(request)
    code = f"x = {done}" if done < STEPS - 1 else f"final_answer({FINAL!r})"
    return say(f"Thought: step {done}.\n<code>\n{code}\n</code>")


RESPONDERS: dict[str, Callable[[dict[str, Any]], Any]] = {"ours": ours, "tinyagent": tinyagent, "smolagents": smolagents}
