"""Token and cost limits, per session and per run, checked by :class:`~tinycode_jupyter.hooks.TokenTracker`."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from ..accounting import unknown_price_message
from ..errors import BudgetExceeded, ConfigurationError

if TYPE_CHECKING:
    from .token_tracker import ModelUsage


@dataclass(frozen=True)
class Budget:
    """Limits on usage; ``None`` means no limit. Tokens are prompt + completion tokens, cost is in US$.

    ``max_*`` cover everything a tracker has counted (the session, until ``reset()``);
    ``per_run_max_*`` cover one ``agent.run()``. A cost limit fails closed: usage with no
    known price counts as over it.
    """

    max_tokens: int | None = None
    max_cost: float | None = None
    per_run_max_tokens: int | None = None
    per_run_max_cost: float | None = None

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            number = value is not None and not isinstance(value, bool) and isinstance(value, (int, float))
            if value is not None and not (number and math.isfinite(value) and value >= 0):
                raise ConfigurationError(f"{item.name} must be a finite non-negative number or None, got {value!r}")

    @property
    def limited(self) -> bool:
        return any(getattr(self, item.name) is not None for item in fields(self))

    @property
    def limits_cost(self) -> bool:
        return self.max_cost is not None or self.per_run_max_cost is not None

    def check(self, owner: str, session: "ModelUsage", run: "ModelUsage | None", unpriced_model: str = "") -> BudgetExceeded | None:
        """The error for the first limit that ``session``/``run`` usage has reached, or None.

        ``unpriced_model`` names the model whose calls could not be priced, for the message.
        """
        scopes = [("max", "session", session)] + ([("per_run_max", "run", run)] if run is not None else [])
        for prefix, scope, usage in scopes:
            tokens_limit = getattr(self, f"{prefix}_tokens")
            if tokens_limit is not None and usage.total_tokens >= tokens_limit:
                return _reached(owner, f"{prefix}_tokens", scope, tokens_limit, usage.total_tokens,
                                f"{usage.total_tokens:,} tokens used of {tokens_limit:,}")  # fmt: skip
            cost_limit = getattr(self, f"{prefix}_cost")
            if cost_limit is None:
                continue
            if usage.cost is None:
                message = (f"{unknown_price_message(unpriced_model)} ({prefix}_cost of tracker {owner!r} cannot be checked; "
                           "the run stopped before its next model or tool call)")  # fmt: skip
                return _error(message, f"{prefix}_cost", scope, cost_limit, None)
            if usage.cost >= cost_limit:
                return _reached(owner, f"{prefix}_cost", scope, cost_limit, usage.cost,
                                f"${usage.cost:.4f} spent of ${cost_limit:.4f}")  # fmt: skip
        return None


def _reached(owner: str, limit: str, scope: str, maximum: float, used: float, amount: str) -> BudgetExceeded:
    message = (f"Budget reached ({limit} of tracker {owner!r}, this {scope}): {amount}. The run stopped before its "
               f"next model or tool call; raise {limit}" + (" or call reset() on the tracker." if scope == "session" else "."))  # fmt: skip
    return _error(message, limit, scope, maximum, used)


def _error(message: str, limit: str, scope: str, maximum: float, used: float | None) -> BudgetExceeded:
    """``used`` is None when the usage could not be priced."""
    return BudgetExceeded(message, limit=limit, scope=scope, maximum=maximum, used=used)
