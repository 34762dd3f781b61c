"""What a model call costs, and the token count when a server reports none.

A cost is ``None`` when the price is unknown, never a made-up ``0.0``: "free" and "unknown"
stay apart all the way to the footer ("price unknown"). A price is known when it is given
(``price_per_mtok=(input, output)``, US$ per million tokens) or when litellm's offline cost
map has the model. A model served from your own machine (a loopback ``api_base``, Ollama,
vLLM, LM Studio) has no known price unless one is given, whatever its name.
"""
from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from .errors import ConfigurationError
from .models import prices
from .option_values import BadOptionValue
from .truncation import CHARS_PER_TOKEN

if TYPE_CHECKING:
    from .llm import LLMResponse, Usage

PricePerMTok = tuple[float, float]
"""``(input, output)``: US$ per million prompt and completion tokens."""

SELF_HOSTED_ROUTES = ("ollama/", "ollama_chat/", "hosted_vllm/", "vllm/", "lm_studio/", "llamafile/")
"""litellm routes to servers you run yourself: their cost-map entries (often 0.0) are not a price."""


def unknown_price_message(model: str) -> str:
    """The one line said when a cost limit meets a model with no known price."""
    return f"no known price for model {model!r}: pass price_per_mtok=(in, out) or use --budget-tokens"


def cost_text(cost: float | None) -> str:
    """``$0.0012``, or ``price unknown``."""
    return "price unknown" if cost is None else f"${cost:.4f}"


def add_costs(costs: Iterable[float | None]) -> float | None:
    """The sum, or None if any part is unknown."""
    total = 0.0
    for cost in costs:
        if cost is None:
            return None
        total += cost
    return total


def check_price_per_mtok(value: Any) -> PricePerMTok | None:
    """``value`` as ``(input, output)``, from a pair of numbers or an ``"IN,OUT"`` string; None/"" mean none."""
    if value is None or value == "":
        return None
    parts: Sequence[Any] = value.split(",") if isinstance(value, str) else value
    try:
        pair = tuple(float(part) for part in parts)
    except (TypeError, ValueError):
        pair = ()
    if len(pair) != 2 or any(isinstance(part, bool) or not math.isfinite(p) or p < 0 for part, p in zip(parts, pair)):
        raise ConfigurationError(
            f"price_per_mtok must be (input, output) US$ per million tokens, e.g. (0.4, 1.6) or '0.4,1.6'; got {value!r}"
        )
    return pair[0], pair[1]


def price_option(value: Any) -> str:
    """An ``"IN,OUT"`` option value (command line, magics, environment), checked and kept as text ("" for none)."""
    try:
        check_price_per_mtok(value)
    except ConfigurationError as exc:
        raise BadOptionValue(str(exc)) from None
    return str(value)


class ModelPrice:
    """The price of one model's calls: explicit, from litellm's offline cost map, or unknown."""

    def __init__(self, model: str, per_mtok: Any = None, *, on_this_machine: bool = False) -> None:
        """``on_this_machine``: the model is served from a loopback address."""
        self.model = model
        self.per_mtok = check_price_per_mtok(per_mtok)
        self._self_hosted = on_this_machine or model.startswith(SELF_HOSTED_ROUTES)
        self._in_cost_map: bool | None = None

    @property
    def known(self) -> bool:
        """Whether calls can be priced (looks the model up in the cost map once)."""
        if self.per_mtok is not None:
            return True
        if self._self_hosted:
            return False
        if self._in_cost_map is None:
            self._in_cost_map = self._map_cost(0, 0) is not None
        return self._in_cost_map

    def cost(self, usage: "Usage", cache_write_tokens: int = 0) -> float | None:
        """US$ for one call's usage, or None when the price is unknown. From the cost map, cached
        prompt tokens (and ``cache_write_tokens``, Anthropic's) are priced at the model's cache rates."""
        if self.per_mtok is not None:
            price_in, price_out = self.per_mtok
            return (usage.prompt_tokens * price_in + usage.completion_tokens * price_out) / 1_000_000
        if not self.known:
            return None
        return prices.cost(self.model, usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens, cache_write_tokens)

    def _map_cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        return prices.cost(self.model, prompt_tokens, completion_tokens)  # read as data: litellm is not imported


def estimated_usage(messages: list[dict[str, Any]], tools: list[dict[str, Any]], response: "LLMResponse") -> "Usage":
    """About four characters per token, for a server that reported no usage (marked ``estimated``)."""
    from .llm import Usage

    sent = len(json.dumps(messages, default=str)) + len(json.dumps(tools, default=str))
    said = len(response.content) + sum(len(call.name) + len(call.arguments) for call in response.tool_calls)
    return Usage(_tokens(sent), _tokens(said), estimated=True)


def _tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)
