"""Kernel-undo bar: checkpoint time and memory per step, on typical notebook state, for steps that touch one object.

The namespace holds every object below at once (DataFrames of 10^4, 10^5 and 10^6 rows, a dict,
lists, a list of records, a fitted model: scikit-learn's when it is installed, else a model class
with numpy weights). Each case is one step that touches one of them; its checkpoint
(``RunCheckpoint.save_step``: read the code, find what it can change, copy that) is timed against
two references measured in the same run: the step's own execution, and a plain ``copy.deepcopy``
of the object it touches. Memory is what the checkpoint costs once the step ran (tracemalloc, numpy
and pandas buffers included: growth with the checkpoint minus growth without it, each on a fresh
copy of the state, once the one-step run ended) against the size of everything the step touches
(the names it saved). The checkpoint's own record (the run, its step, the names saved: a few
hundred bytes, the same for any state) is shown apart from the state it keeps (copies and their
index). Bar: <= 5 ms, and state kept <= the touched size.

Run: .venv/bin/python bench/bench_undo.py [--repeat N] [--json PATH]
"""
from __future__ import annotations

import argparse
import asyncio
import copy
import gc
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report  # noqa: E402

MODEL_SOURCE = """
class LinearModel:
    def __init__(self, features):
        self.coef_ = np.zeros(features)
        self.params = {"alpha": 0.1, "max_iter": 100}
        self.history = []

    def fit_step(self, X, y):
        grad = X.T @ (X @ self.coef_ - y) / len(y)
        self.coef_ -= self.params["alpha"] * grad
        self.history.append(float(grad @ grad))
"""


@dataclass(frozen=True)
class Case:
    name: str
    touches: str
    code: str


CASES = [
    Case("DataFrame 10^4 rows: new column", "df4", "df4['total'] = df4['a'] + df4['b']"),
    Case("DataFrame 10^5 rows: new column", "df5", "df5['total'] = df5['a'] + df5['b']"),
    Case("DataFrame 10^6 rows: new column", "df6", "df6['total'] = df6['a'] + df6['b']"),
    Case("DataFrame 10^6 rows: edit in place", "df6", "df6.loc[df6['a'] > 0.99, 'c'] = 0.0"),
    Case("DataFrame 10^6 rows: read only", "df6", "m = df6['a'].mean()"),
    Case("dict of 10^4 floats: set a key", "prices", "prices['new'] = 1.0"),
    Case("list of 10^5 floats: append", "values", "values.append(0.5)"),
    Case("list of 10^4 records: edit one", "records", "records[0]['score'] = 0"),
    Case("nested config dict: edit", "config", "config['model']['layers'].append(64)"),
    Case("fitted model: one more step", "model", "model.fit_step(X, y)"),
    Case("nothing big touched: a new result", "answer", "answer = 6 * 7"),
]
AGENT_STEP = "small.append(1)"


def namespace() -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    ns: dict[str, Any] = {"__name__": "__main__", "np": np, "pd": pd}
    for exponent in (4, 5, 6):
        rows = 10**exponent
        ns[f"df{exponent}"] = pd.DataFrame({"a": rng.random(rows), "b": rng.random(rows), "c": rng.random(rows),
                                            "n": rng.integers(0, 100, rows)})  # fmt: skip
    ns["prices"] = {f"item{i}": float(i) for i in range(10**4)}
    ns["values"] = [float(i) for i in range(10**5)]
    ns["records"] = [{"id": i, "name": f"user{i}", "score": i % 7} for i in range(10**4)]
    ns["config"] = {"model": {"layers": [128, 128], "dropout": 0.1}, "train": {"epochs": 10, "lr": 1e-3}}
    ns["X"], ns["y"] = rng.random((2000, 50)), rng.random(2000)
    ns["model"] = fitted_model(ns)
    return ns


def fitted_model(ns: dict[str, Any]) -> Any:
    """scikit-learn's Ridge fitted on X, y when scikit-learn is installed; else the model class above."""
    try:
        from sklearn.linear_model import SGDRegressor
    except ImportError:
        exec(MODEL_SOURCE, ns)
        model = ns["LinearModel"](ns["X"].shape[1])
        for _ in range(5):
            model.fit_step(ns["X"], ns["y"])
        return model
    model = SGDRegressor(max_iter=5, tol=None).fit(ns["X"], ns["y"])
    ns["MODEL_SOURCE"] = "sklearn"
    model.fit_step = lambda X, y: model.partial_fit(X, y)  # the same step for both kinds of model
    return model


def deep_size(value: Any) -> int:
    """The touched object's real size: every buffer and Python object reachable from it, once."""
    import numpy as np
    import pandas as pd

    seen: set[int] = set()
    stack, total = [value], 0
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, pd.DataFrame):
            total += int(item.memory_usage(deep=True).sum())
        elif isinstance(item, np.ndarray):
            total += sys.getsizeof(item) + (0 if item.flags.owndata else item.nbytes)  # header and data
        else:
            total += sys.getsizeof(item)
            if isinstance(item, dict):
                stack += [*item.keys(), *item.values()]
            elif isinstance(item, (list, tuple, set)):
                stack += list(item)
            elif hasattr(item, "__dict__"):
                stack.append(vars(item))
    return total


def measure(case: Case, ns: dict[str, Any], repeat: int) -> dict[str, Any]:
    from tinycode_jupyter.kernel_undo.snapshot import RunCheckpoint

    checkpoint, step, deepcopy = [], [], []
    compiled = compile(case.code, "<step>", "exec")
    for _ in range(repeat):
        run = RunCheckpoint("bench", "bench")
        started = time.perf_counter()
        point = run.save_step(ns, (), [case.code], "call", 1)
        checkpoint.append(time.perf_counter() - started)
        assert point.saved and not point.not_restorable, (case.name, point)
        started = time.perf_counter()
        copy.deepcopy(ns.get(case.touches))
        deepcopy.append(time.perf_counter() - started)
        started = time.perf_counter()
        exec(compiled, ns)
        step.append(time.perf_counter() - started)
    kept, record = kept_bytes(case, ns, point.saved)
    saved = [ns[name] for name in point.saved]
    touched = deep_size(saved) - sys.getsizeof(saved)  # every object the step reads or changes, once
    return {"checkpoint_ms": _median_ms(checkpoint), "step_ms": _median_ms(step), "deepcopy_ms": _median_ms(deepcopy),
            "kept_bytes": kept, "record_bytes": record, "state_bytes": max(0, kept - record), "touched_bytes": touched,
            "saved": ", ".join(point.saved)}  # fmt: skip


def kept_bytes(case: Case, ns: dict[str, Any], touched: tuple[str, ...]) -> tuple[int, int]:
    """The memory the checkpoint costs once its step ran (growth with it minus growth without it), and its record's part.

    Each side runs the step on its own fresh copy of the touched objects. For a copy-on-write
    copy this is what pandas had to copy because the checkpoint shares the data.
    """
    with_checkpoint, run = _growth(case, ns, touched, checkpoint=True)
    without, _ = _growth(case, ns, touched, checkpoint=False)
    assert run is not None
    return max(0, with_checkpoint - without), record_bytes(run)


def record_bytes(run: Any) -> int:
    """The checkpoint's own record, the same few hundred bytes whatever the state: the run, its steps, the names
    saved (not their values), what was refused. Everything else it keeps is state: copies and their index (the memo)."""
    parts: list[Any] = [run, run.names, run.refused, run.points, run.created, *run.refused.values()]
    for point in run.points:
        parts += [point, point.saved, point.not_restorable, point.duration]
    if not run.memo:
        parts.append(run.memo)
    return sum(sys.getsizeof(part) for part in parts if part is not None)


def _growth(case: Case, ns: dict[str, Any], touched: tuple[str, ...], checkpoint: bool) -> tuple[int, Any]:
    from tinycode_jupyter.kernel_undo.snapshot import RunCheckpoint

    fresh = {**ns, **{name: copy.deepcopy(ns[name]) for name in touched}}
    compiled = compile(case.code, "<step>", "exec")
    gc.collect()
    tracemalloc.start()
    try:
        if checkpoint:  # traced and dropped: the parser's one-slot caches, replaced later, then count as freed
            RunCheckpoint("warm-up", "warm-up").save_step(fresh, (), [case.code], "call", 1)
            gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        run = RunCheckpoint("bench", "bench") if checkpoint else None
        if run is not None:
            run.save_step(fresh, (), [case.code], "call", 1)
        exec(compiled, fresh)
        if run is not None:
            run.finish(fresh)  # the run ends, as the recorder ends it
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before, run
    finally:
        tracemalloc.stop()
        del fresh


async def agent_steps(ns: dict[str, Any], repeat: int) -> dict[str, float]:
    """A whole agent step (scripted model, in-process shell, all the state above), with and without the recorder."""
    from IPython.core.interactiveshell import InteractiveShell

    from tinycode_jupyter import TinyCodeAgent
    from tinycode_jupyter.kernel_undo import UndoHistory, UndoRecorder
    from tinycode_jupyter.testing import ScriptedLLM, call, say

    shell = InteractiveShell.instance()
    shell.user_ns.update({**ns, "small": []})
    times: dict[str, list[float]] = {"without": [], "with": []}
    agents = {}
    for kind in times:
        agent = TinyCodeAgent(llm=ScriptedLLM(), provider="kernel", provider_config={"shell": shell})
        if kind == "with":
            agent.add_callback(UndoRecorder(UndoHistory(), agent))
        await agent.start()
        agents[kind] = agent
    for _ in range(repeat):
        for kind, agent in agents.items():  # interleaved, so drift hits both alike
            agent.llm.add(call("run_python", {"code": AGENT_STEP}), say("done"))  # type: ignore[attr-defined]
            agent.reset()
            started = time.perf_counter()
            await agent.run("append")
            times[kind].append(time.perf_counter() - started)
    for agent in agents.values():
        await agent.close()
    paired = [with_undo - without for with_undo, without in zip(times["with"], times["without"])]
    return {**{kind: _median_ms(samples) for kind, samples in times.items()}, "overhead": _median_ms(paired)}


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--json", help="output path (default bench/results/undo.json)")
    args = parser.parse_args()
    ns = namespace()
    results = {case.name: measure(case, ns, args.repeat) for case in CASES}
    model_kind = "scikit-learn SGDRegressor" if ns.get("MODEL_SOURCE") == "sklearn" else "numpy model class"
    header = (f"{'case':<40} {'ckpt ms':>8} {'step ms':>8} {'deepcopy ms':>11} {'ckpt/deepcopy':>13} {'kept B':>9} "
              f"{'record B':>8} {'touched B':>10} {'kept/touched':>12} {'state/touched':>13}")  # fmt: skip
    print(f"\nkernel undo: checkpoint per step (median of {args.repeat}; model: {model_kind})\n{header}")
    rows: list[tuple[str, float | str, str]] = []
    for name, r in results.items():
        ratio_copy = r["checkpoint_ms"] / r["deepcopy_ms"] if r["deepcopy_ms"] else float("inf")
        kept_ratio, state_ratio = r["kept_bytes"] / r["touched_bytes"], r["state_bytes"] / r["touched_bytes"]
        print(f"{name:<40} {r['checkpoint_ms']:>8.3f} {r['step_ms']:>8.3f} {r['deepcopy_ms']:>11.3f} {ratio_copy:>13.3f} "
              f"{r['kept_bytes']:>9,} {r['record_bytes']:>8,} {r['touched_bytes']:>10,} {kept_ratio:>12.4f} "
              f"{state_ratio:>13.4f}")  # fmt: skip
        rows += [(f"{name}: checkpoint (ms)", r["checkpoint_ms"], "bar <= 5"),
                 (f"{name}: checkpoint / deepcopy", ratio_copy, ""),
                 (f"{name}: kept / touched", kept_ratio, "goal <= 1, the record included"),
                 (f"{name}: state kept / touched", state_ratio, "bar <= 1")]  # fmt: skip
    steps = asyncio.run(agent_steps(ns, max(4 * args.repeat, 40)))
    overhead = steps["overhead"]  # the median of paired differences: steady under the drift of a busy machine
    print(f"\nwhole agent run of one step ({AGENT_STEP!r}, scripted model, in-process shell): "
          f"{steps['without']:.3f} ms without undo, {steps['with']:.3f} ms with; paired difference +{overhead:.3f} ms")
    rows += [("agent run of one step without undo (ms)", steps["without"], ""),
             ("agent run of one step with undo (ms)", steps["with"], ""),
             ("undo overhead per agent step (ms)", overhead, "bar <= 5")]  # fmt: skip
    report("undo", rows, {"model": model_kind, "repeat": args.repeat, "cases": results, "agent_step_ms": steps},
           args.json)  # fmt: skip


if __name__ == "__main__":
    main()
