"""The same N-step trajectory (20 by default), spoken in each agent's own tool dialect.

Every agent gets N - 1 turns that run ``x = <turn>`` in Python, then a final
text answer (smolagents: a ``final_answer`` code step, which is how its
CodeAgent ends). The turn number is the count of assistant messages already in
the request, so a responder needs no state and serves any number of runs. The
request's model name picks the dialect and may carry the length:
``tinyagent`` (20 steps) or ``tinyagent-5``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

STEPS = 20
FINAL = "done"


def _turn(request: dict[str, Any]) -> int:
    return sum(1 for m in request.get("messages", []) if m.get("role") == "assistant")


def ours(turn: int, steps: int) -> Any:
    """tinycode_jupyter: ``run_python(code: str)``."""
    from tinycode_jupyter.testing import call, say

    return call("run_python", {"code": f"x = {turn}"}) if turn < steps - 1 else say(FINAL)


def tinyagent(turn: int, steps: int) -> Any:
    """tinyagent-py's TinyCodeAgent: ``run_python(code_lines: list[str])``; plain text ends the run."""
    from tinycode_jupyter.testing import call, say

    return call("run_python", {"code_lines": [f"x = {turn}"]}) if turn < steps - 1 else say(FINAL)


def smolagents(turn: int, steps: int) -> Any:
    """smolagents' CodeAgent: no tool calls; a ``<code>`` block per step, ``final_answer`` to end."""
    from tinycode_jupyter.testing import say

    code = f"x = {turn}" if turn < steps - 1 else f"final_answer({FINAL!r})"
    return say(f"Thought: step {turn}.\n<code>\n{code}\n</code>")


DIALECTS: dict[str, Callable[[int, int], Any]] = {"ours": ours, "tinyagent": tinyagent, "smolagents": smolagents}


def model_name(dialect: str, steps: int = STEPS) -> str:
    return dialect if steps == STEPS else f"{dialect}-{steps}"


def respond(request: dict[str, Any]) -> Any:
    """The reply for ``request``, in the dialect and length its model name asks for."""
    name = str(request.get("model", "")).rsplit("/", 1)[-1]
    dialect, _, length = name.partition("-")
    if dialect not in DIALECTS or not (length.isdigit() or not length):
        raise ValueError(f"no trajectory for model {name!r}; use one of {sorted(DIALECTS)}, optionally with -<steps>")
    return DIALECTS[dialect](_turn(request), int(length or STEPS))
