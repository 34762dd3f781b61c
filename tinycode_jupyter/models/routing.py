"""Which client serves a model name: a native one for the OpenAI, Anthropic and Ollama protocols,
litellm (imported only then) for every other provider.

``TINYCODE_FORCE_LITELLM=1`` in the environment, or ``model_kwargs={"force_litellm": True}``,
sends every model through litellm. So does an HTTP proxy set in the environment for the
model's host (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, minus ``NO_PROXY``): the native
clients do not speak through proxies.
"""
from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass
from typing import Any, Literal, Mapping
from urllib.parse import urlsplit

from ..llm import LLM

FORCE_LITELLM_ENV = "TINYCODE_FORCE_LITELLM"
FORCE_LITELLM_OPTION = "force_litellm"
Protocol = Literal["openai", "anthropic", "ollama"]
_CLIENTS: dict[Protocol, str] = {
    "openai": "tinycode_jupyter.models.openai_chat:OpenAIChatModel",
    "anthropic": "tinycode_jupyter.models.anthropic_messages:AnthropicMessagesModel",
    "ollama": "tinycode_jupyter.models.ollama_chat:OllamaChatModel",
}


@dataclass(frozen=True)
class Provider:
    """A model-name prefix served natively: its protocol, default server, and key variables."""

    prefix: str
    protocol: Protocol
    default_base: str | None
    base_envs: tuple[str, ...] = ()
    key_envs: tuple[str, ...] = ()
    hosted: bool = False
    """A hosted service: with its default server, a call without a key fails before it is sent."""


OPENAI = Provider("openai/", "openai", "https://api.openai.com/v1", ("OPENAI_BASE_URL", "OPENAI_API_BASE"), ("OPENAI_API_KEY",), True)
ANTHROPIC = Provider("anthropic/", "anthropic", "https://api.anthropic.com", ("ANTHROPIC_BASE_URL", "ANTHROPIC_API_BASE"),
                     ("ANTHROPIC_API_KEY",), True)  # fmt: skip
OLLAMA_ENVS = ("OLLAMA_API_BASE",)
PROVIDERS = (
    OPENAI,
    ANTHROPIC,
    Provider("ollama/", "ollama", "http://localhost:11434", OLLAMA_ENVS),
    Provider("ollama_chat/", "ollama", "http://localhost:11434", OLLAMA_ENVS),
    Provider("hosted_vllm/", "openai", None, ("HOSTED_VLLM_API_BASE",), ("HOSTED_VLLM_API_KEY",)),
    Provider("lm_studio/", "openai", "http://localhost:1234/v1", ("LM_STUDIO_API_BASE",), ("LM_STUDIO_API_KEY",)),
    Provider("openrouter/", "openai", "https://openrouter.ai/api/v1", ("OPENROUTER_API_BASE",), ("OPENROUTER_API_KEY",), True),
    Provider("groq/", "openai", "https://api.groq.com/openai/v1", ("GROQ_API_BASE",), ("GROQ_API_KEY",), True),
    Provider("together_ai/", "openai", "https://api.together.xyz/v1", ("TOGETHER_AI_API_BASE",),
             ("TOGETHER_API_KEY", "TOGETHERAI_API_KEY", "TOGETHER_AI_API_KEY"), True),  # fmt: skip
    Provider("deepseek/", "openai", "https://api.deepseek.com/v1", ("DEEPSEEK_API_BASE",), ("DEEPSEEK_API_KEY",), True),
)
BARE_NAMES = ((re.compile(r"claude"), ANTHROPIC), (re.compile(r"(gpt-|chatgpt-|o[1-9](-|$))"), OPENAI))
"""Names without a provider prefix that are served natively (the rest go to litellm, which knows them)."""


@dataclass(frozen=True)
class Route:
    """How a native client reaches a model."""

    protocol: Protocol
    wire_model: str
    """The model name sent to the server (the prefix removed)."""
    base_url: str
    key_envs: tuple[str, ...]
    key_required: bool
    base_given: bool
    """Whether the base URL came from the user (option or environment), not the provider's default."""


def create_model(model: str, api_key: str | None = None, model_kwargs: dict[str, Any] | None = None) -> LLM:
    """The client for ``model``: native when :func:`native_route` finds one, else litellm's."""
    kwargs = dict(model_kwargs or {})
    forced = _truthy(kwargs.pop(FORCE_LITELLM_OPTION, None)) or _truthy(os.environ.get(FORCE_LITELLM_ENV))
    route = None if forced else native_route(model, kwargs)
    if route is None:
        from ..llm import LiteLLMModel

        return LiteLLMModel(model, api_key=api_key, model_kwargs=kwargs)
    module, _, name = _CLIENTS[route.protocol].partition(":")
    client: LLM = getattr(importlib.import_module(module), name)(model, route, api_key=api_key, model_kwargs=kwargs)
    return client


def native_route(model: str, model_kwargs: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> Route | None:
    """The native route for ``model``, or None when litellm must serve it."""
    found = _provider(model)
    if found is None:
        return None
    provider, wire_model = found
    given = model_kwargs.get("api_base") or model_kwargs.get("base_url")
    base = given or next((environ[e] for e in provider.base_envs if environ.get(e)), None) or provider.default_base
    if not base or not wire_model or urlsplit(base).scheme not in ("http", "https") or _proxied(base, environ):
        return None
    default = base == provider.default_base
    return Route(provider.protocol, wire_model, base, provider.key_envs, provider.hosted and default, not default)


def _provider(model: str) -> tuple[Provider, str] | None:
    for provider in PROVIDERS:
        if model.startswith(provider.prefix):
            return provider, model[len(provider.prefix) :]
    if "/" not in model:
        for pattern, provider in BARE_NAMES:
            if pattern.match(model):
                return provider, model
    return None


def _proxied(url: str, environ: Mapping[str, str]) -> bool:
    """Whether the environment sends requests for ``url`` through a proxy (loopback never is)."""
    parts = urlsplit(url)
    if not any(environ.get(n) or environ.get(n.upper()) for n in (f"{parts.scheme}_proxy", "all_proxy")):
        return False
    host = (parts.hostname or "").lower()
    if host in ("localhost", "127.0.0.1", "::1"):
        return False
    for entry in (environ.get("no_proxy") or environ.get("NO_PROXY") or "").lower().split(","):
        name = entry.strip().lstrip(".")  # "example.com" and ".example.com" both cover its subdomains
        if name == "*" or (name and (host == name or host.endswith("." + name))):
            return False
    return True


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
