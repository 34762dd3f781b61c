"""TokenTracker: per-model prompt/completion tokens and cost, rolled up into parents, with optional budgets."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from ..events import Event, Hook, StopRun
from .budget import Budget


@dataclass
class ModelUsage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class TokenTracker(Hook):
    """Counts the usage the model server reported on every call (``llm_end``), per model.

    Pass ``parent=`` to roll a child's totals up into a parent tracker as they arrive.

    Budgets: ``max_tokens``/``max_cost`` limit everything this tracker counts (the
    session), ``per_run_max_tokens``/``per_run_max_cost`` one ``agent.run()``. Limits
    are checked before every model call and tool call, for this tracker and its
    parents; a reached limit ends the run with :class:`~tinycode_jupyter.errors.BudgetExceeded`
    (the usage of the call that crossed it is still counted and in the run record).
    A parent attached to no agent of its own counts a run from the start of its
    children's latest run.
    """

    def __init__(
        self,
        name: str = "tracker",
        parent: "TokenTracker | None" = None,
        *,
        max_tokens: int | None = None,
        max_cost: float | None = None,
        per_run_max_tokens: int | None = None,
        per_run_max_cost: float | None = None,
    ) -> None:
        self.name = name
        self.parent = parent
        self.budget = Budget(max_tokens, max_cost, per_run_max_tokens, per_run_max_cost)
        self.by_model: dict[str, ModelUsage] = {}
        self._run_start: ModelUsage | None = None
        self._has_own_agent = False

    def on_agent_start(self, event: Event) -> None:
        self._run_start = self.total
        self._has_own_agent = True
        parent = self.parent
        while parent is not None and not parent._has_own_agent:
            parent._run_start = parent.total
            parent = parent.parent

    def on_llm_start(self, event: Event) -> None:
        self.check_budget()

    def on_tool_start(self, event: Event) -> None:
        self.check_budget()

    def on_llm_end(self, event: Event) -> None:
        response = event.response
        if response is not None:
            self.record(response.model, response.usage.prompt_tokens, response.usage.completion_tokens,
                        response.usage.cached_tokens, response.cost)  # fmt: skip

    def record(self, model: str, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0, cost: float = 0.0) -> None:
        usage = self.by_model.setdefault(model, ModelUsage())
        usage.calls += 1
        usage.prompt_tokens += prompt_tokens
        usage.completion_tokens += completion_tokens
        usage.cached_tokens += cached_tokens
        usage.cost += cost
        if self.parent is not None:
            self.parent.record(model, prompt_tokens, completion_tokens, cached_tokens, cost)

    @property
    def run_usage(self) -> ModelUsage | None:
        """Usage since the current (or last) run started, if this tracker saw it start."""
        if self._run_start is None:
            return None
        total, start = self.total, self._run_start
        return replace(
            total,
            calls=total.calls - start.calls,
            prompt_tokens=total.prompt_tokens - start.prompt_tokens,
            completion_tokens=total.completion_tokens - start.completion_tokens,
            cached_tokens=total.cached_tokens - start.cached_tokens,
            cost=total.cost - start.cost,
        )

    def check_budget(self) -> None:
        """Stop the run (``StopRun(BudgetExceeded)``) if this tracker or a parent reached a limit."""
        tracker: TokenTracker | None = self
        while tracker is not None:
            if tracker.budget.limited:
                error = tracker.budget.check(tracker.name, tracker.total, tracker.run_usage)
                if error is not None:
                    raise StopRun(error)
            tracker = tracker.parent

    @property
    def total(self) -> ModelUsage:
        total = ModelUsage()
        for usage in self.by_model.values():
            total.calls += usage.calls
            total.prompt_tokens += usage.prompt_tokens
            total.completion_tokens += usage.completion_tokens
            total.cached_tokens += usage.cached_tokens
            total.cost += usage.cost
        return total

    def summary(self) -> str:
        lines = [f"{'model':<32} {'calls':>5} {'prompt':>9} {'completion':>10} {'cost $':>10}"]
        for model, usage in sorted(self.by_model.items()):
            lines.append(f"{model:<32} {usage.calls:>5} {usage.prompt_tokens:>9} {usage.completion_tokens:>10} {usage.cost:>10.4f}")
        total = self.total
        lines.append(f"{'total':<32} {total.calls:>5} {total.prompt_tokens:>9} {total.completion_tokens:>10} {total.cost:>10.4f}")
        return "\n".join(lines)

    def print_summary(self, write: Callable[[str], object] = print) -> None:
        """Print :meth:`summary` (or pass ``write`` to send it elsewhere)."""
        write(self.summary())

    def reset(self) -> None:
        self.by_model.clear()
        self._run_start = None
        self._has_own_agent = False
