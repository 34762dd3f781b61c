"""Model settings for the examples, from environment variables.

TINYCODE_MODEL     litellm model name (default gpt-4.1-mini, which needs OPENAI_API_KEY)
TINYCODE_API_BASE  base URL of an OpenAI-compatible or Ollama server (optional)
TINYCODE_PROVIDER  where code runs: local (sandbox, default), kernel, modal
TINYCODE_PRICE_PER_MTOK  "IN,OUT": US$ per million input and output tokens, for a model with no known price
                   (any model on your own server); a cost budget refuses such a model without it
"""
from __future__ import annotations

import os
from typing import Any


def agent_options(default_model: str = "gpt-4.1-mini", **model_kwargs: Any) -> dict[str, Any]:
    """Keyword arguments for TinyCodeAgent taken from the environment."""
    api_base = os.environ.get("TINYCODE_API_BASE")
    if api_base:
        model_kwargs["api_base"] = api_base
    if os.environ.get("TINYCODE_PRICE_PER_MTOK"):
        model_kwargs["price_per_mtok"] = os.environ["TINYCODE_PRICE_PER_MTOK"]
    options: dict[str, Any] = {"model": os.environ.get("TINYCODE_MODEL") or default_model, "model_kwargs": model_kwargs}
    if os.environ.get("TINYCODE_PROVIDER"):
        options["provider"] = os.environ["TINYCODE_PROVIDER"]
    return options
