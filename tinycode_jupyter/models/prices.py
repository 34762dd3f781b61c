"""Token prices from litellm's bundled cost map, read as data: litellm itself is never imported.

The map (``model_prices_and_context_window_backup.json`` inside the installed litellm
package, about 3 MB and 4,000 models) is read once per process, and each model's entry is
decoded on its first lookup only, then kept. A model the map does not know has no price:
:func:`price_of` returns None and so does :func:`cost`, which callers report as "price
unknown", never as $0 (:class:`~tinycode_jupyter.accounting.ModelPrice` decides what is priced).
The same entry says whether the model reads images (:func:`supports_vision`).
"""
from __future__ import annotations

import functools
import importlib.util
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

COST_MAP_FILE = "model_prices_and_context_window_backup.json"


@dataclass(frozen=True)
class Price:
    """US dollars per token."""

    input: float
    output: float
    cache_read: float | None = None
    """Per cached prompt token read; None: priced as input."""
    cache_write: float | None = None
    """Per prompt token written to the cache (Anthropic); None: priced as input."""

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0, cache_write_tokens: int = 0) -> float:
        """The cost of one call; ``prompt_tokens`` counts every prompt token, cached and cache-written ones included."""
        fresh = max(0, prompt_tokens - cached_tokens - cache_write_tokens)
        read = self.input if self.cache_read is None else self.cache_read
        write = self.input if self.cache_write is None else self.cache_write
        return fresh * self.input + cached_tokens * read + cache_write_tokens * write + completion_tokens * self.output


def cost(model: str, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0, cache_write_tokens: int = 0) -> float | None:
    """What a call to ``model`` cost in US dollars, or None when its price is unknown."""
    price = price_of(model)
    return None if price is None else price.cost(prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens)


def price_of(model: str) -> Price | None:
    """The price of ``model`` as the user named it (``gpt-4.1-mini``, ``openai/gpt-4.1-mini``,
    ``anthropic/claude-sonnet-4-5``, ``deepseek/deepseek-chat``), or None if the map does not know it."""
    entry = model_entry(model)
    return _price(entry) if entry is not None else None


def supports_vision(model: str) -> bool | None:
    """Whether the map says ``model`` reads images; None when the map does not know the model."""
    entry = model_entry(model)
    return None if entry is None else entry.get("supports_vision") is True


@functools.lru_cache(maxsize=256)
def model_entry(model: str) -> dict[str, object] | None:
    """The map's entry for ``model``: looked up as given, then without its provider prefix when the
    entry found there belongs to that provider (``openai/gpt-4.1-mini`` is OpenAI's ``gpt-4.1-mini``;
    a name routed through another provider, such as ``openrouter/openai/gpt-4o``, is not OpenAI's).
    Entries without a price are passed over, as litellm does for pricing."""
    prefix, _, bare = model.partition("/")
    for key, provider in ((model, None), (bare, prefix)):
        entry = _entry(key) if key else None
        if entry is not None and (provider is None or entry.get("litellm_provider") == provider) and _price(entry) is not None:
            return entry
    return None


def _price(entry: dict[str, object]) -> Price | None:
    numbers = {k: v for k, v in entry.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if "input_cost_per_token" not in numbers or "output_cost_per_token" not in numbers:
        return None
    return Price(float(numbers["input_cost_per_token"]), float(numbers["output_cost_per_token"]),
                 _optional(numbers.get("cache_read_input_token_cost")),
                 _optional(numbers.get("cache_creation_input_token_cost")))  # fmt: skip


def _optional(value: float | None) -> float | None:
    return None if value is None else float(value)


def _entry(name: str) -> dict[str, object] | None:
    """The map's entry for exactly ``name``: found in the text, decoded alone, checked to be a model's entry."""
    text = _cost_map_text()
    if not text:
        return None
    decoder = json.JSONDecoder()
    for match in re.finditer(re.escape(json.dumps(name)) + r"\s*:\s*(?=\{)", text):
        try:
            value, _ = decoder.raw_decode(text, match.end())
        except ValueError:
            continue
        if isinstance(value, dict) and "litellm_provider" in value:  # a model's entry, not a nested field
            return value
    return None


@functools.lru_cache(maxsize=1)
def _cost_map_text() -> str:
    """The cost map's text, or "" when litellm (and so the map) is not installed."""
    path = cost_map_path()
    if path is None:
        return ""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        log.warning("cannot read the model price map %s (%s); prices are unknown", path, exc)
        return ""


def cost_map_path() -> Path | None:
    """Where the installed litellm keeps its cost map, found without importing litellm."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / COST_MAP_FILE
        if candidate.is_file():
            return candidate
    return None
