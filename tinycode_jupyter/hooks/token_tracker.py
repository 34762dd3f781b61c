"""TokenTracker: per-model prompt/completion tokens and cost, rolled up into parents."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..events import Event, Hook


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
    """

    def __init__(self, name: str = "tracker", parent: "TokenTracker | None" = None) -> None:
        self.name = name
        self.parent = parent
        self.by_model: dict[str, ModelUsage] = {}

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
