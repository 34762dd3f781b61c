"""TokenTracker: per-model prompt/completion tokens and cost, rolled up into parents, with optional budgets."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable, Iterable

from ..accounting import ModelPrice, unknown_price_message
from ..actions import Action, Interceptor
from ..errors import ConfigurationError
from ..events import AgentStart, Hook, LLMEnd, StopRun
from .budget import Budget


@dataclass
class ModelUsage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    priced_cost: float = 0.0
    """US$ of the calls whose price is known."""
    unpriced_calls: int = 0
    """Calls whose price is unknown: while there are any, :attr:`cost` is None."""
    estimated_calls: int = 0
    """Calls whose token counts are estimates, because the server reported no usage."""

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost(self) -> float | None:
        """US$, or None when the price of some call is unknown."""
        return None if self.unpriced_calls else self.priced_cost

    def plus(self, other: "ModelUsage", sign: int = 1) -> "ModelUsage":
        """The field-wise sum (``sign=-1``: the difference)."""
        return ModelUsage(**{item.name: getattr(self, item.name) + sign * getattr(other, item.name) for item in fields(self)})


class TokenTracker(Hook, Interceptor):
    """Counts the usage the model server reported on every call (``llm_end``), per model (an estimate
    when it reported none: see ``estimated_calls``).

    Pass ``parent=`` to roll a child's totals up into a parent tracker as they arrive.

    Budgets: ``max_tokens``/``max_cost`` limit everything this tracker counts (the
    session), ``per_run_max_tokens``/``per_run_max_cost`` one ``agent.run()``. Limits
    are checked before every model call and tool call (as an interceptor, so a
    failing check stops the run), for this tracker and its parents; a reached limit ends the run with :class:`~tinycode_jupyter.errors.BudgetExceeded`
    (the usage of the call that crossed it is still counted and in the run record).
    A parent attached to no agent of its own counts a run from the start of its
    children's latest run. A cost limit fails closed: a call whose price is unknown
    stops the run (and :func:`refuse_unpriced_cost_limits` refuses before the first call).
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

    def on_agent_start(self, event: AgentStart) -> None:
        self._run_start = self.total
        self._has_own_agent = True
        parent = self.parent
        while parent is not None and not parent._has_own_agent:
            parent._run_start = parent.total
            parent = parent.parent

    async def before_model_call(self, run_id: str, turn: int) -> None:
        self.check_budget()

    async def intercept(self, action: Action) -> None:
        self.check_budget()

    def on_llm_end(self, event: LLMEnd) -> None:
        response = event.response
        if response is not None:
            usage = response.usage
            self.record(response.model, usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens, response.cost,
                        estimated=usage.estimated)  # fmt: skip

    def record(self, model: str, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0,
               cost: float | None = 0.0, *, estimated: bool = False) -> None:  # fmt: skip
        """Count one model call; ``cost`` None means its price is unknown."""
        call = ModelUsage(calls=1, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, cached_tokens=cached_tokens,
                          priced_cost=cost or 0.0, unpriced_calls=int(cost is None), estimated_calls=int(estimated))  # fmt: skip
        self._add(model, call)

    def _add(self, model: str, call: ModelUsage) -> None:
        self.by_model[model] = self.by_model.get(model, ModelUsage()).plus(call)
        if self.parent is not None:
            self.parent._add(model, call)

    @property
    def run_usage(self) -> ModelUsage | None:
        """Usage since the current (or last) run started, if this tracker saw it start."""
        if self._run_start is None:
            return None
        return self.total.plus(self._run_start, sign=-1)

    @property
    def limits_cost(self) -> bool:
        """Whether this tracker or a parent has a cost limit."""
        tracker: TokenTracker | None = self
        while tracker is not None:
            if tracker.budget.limits_cost:
                return True
            tracker = tracker.parent
        return False

    def check_budget(self) -> None:
        """Stop the run (``StopRun(BudgetExceeded)``) if this tracker or a parent reached a limit.

        A cost limit that meets a call with no known price stops the run too: it fails closed.
        """
        tracker: TokenTracker | None = self
        while tracker is not None:
            if tracker.budget.limited:
                error = tracker.budget.check(tracker.name, tracker.total, tracker.run_usage, tracker._unpriced_model())
                if error is not None:
                    raise StopRun(error)
            tracker = tracker.parent

    def _unpriced_model(self) -> str:
        return next((model for model, usage in self.by_model.items() if usage.unpriced_calls), "")

    @property
    def total(self) -> ModelUsage:
        total = ModelUsage()
        for usage in self.by_model.values():
            total = total.plus(usage)
        return total

    def summary(self) -> str:
        lines = [f"{'model':<32} {'calls':>5} {'prompt':>9} {'completion':>10} {'cost $':>10}"]
        rows = [*sorted(self.by_model.items()), ("total", self.total)]
        for model, usage in rows:
            cost = "unknown" if usage.cost is None else f"{usage.cost:.4f}"
            lines.append(f"{model:<32} {usage.calls:>5} {usage.prompt_tokens:>9} {usage.completion_tokens:>10} {cost:>10}")
        estimated = self.total.estimated_calls
        if estimated:
            lines.append(f"(token counts of {estimated} call{'s' if estimated != 1 else ''} are estimates: the server reported no usage)")
        return "\n".join(lines)

    def print_summary(self, write: Callable[[str], object] = print) -> None:
        """Print :meth:`summary` (or pass ``write`` to send it elsewhere)."""
        write(self.summary())

    def reset(self) -> None:
        self.by_model.clear()
        self._run_start = None
        self._has_own_agent = False


def run_budget_tracker(budget_usd: float | None = None, budget_tokens: int | None = None) -> TokenTracker | None:
    """A tracker for ``--budget-usd``/``--budget-tokens`` (limits per run; 0 or None: no limit), or None if neither is set."""
    flags = {"--budget-usd": budget_usd, "--budget-tokens": budget_tokens}
    named = " and ".join(flag for flag, value in flags.items() if value)
    if not named:
        return None
    return TokenTracker(named, per_run_max_cost=budget_usd or None, per_run_max_tokens=budget_tokens or None)


def refuse_unpriced_cost_limits(llm: Any, hooks: Iterable[Any]) -> None:
    """Raise :class:`ConfigurationError` (one line, before any request) when one of ``hooks`` is a tracker with a cost
    limit (its own or a parent's) and ``llm`` is a model whose price is unknown.

    Call it before a run starts; without it, a cost limit still fails closed, after the first unpriced call.
    """
    price = getattr(llm, "price", None)
    if not isinstance(price, ModelPrice) or price.known:
        return
    if any(isinstance(hook, TokenTracker) and hook.limits_cost for hook in hooks):
        raise ConfigurationError(unknown_price_message(llm.model))
