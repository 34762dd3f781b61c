"""The LLM seam: the only module that imports litellm, and only on first use.

:class:`LiteLLMModel` streams a chat completion, hands text and tool-call deltas
to a callback, captures usage and cost on every call, retries transient
failures (429, 5xx, timeouts, dropped connections) with backoff, and turns
permanent failures into typed exceptions with actionable messages.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import random
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterator, Protocol
from urllib.parse import urlparse

from .accounting import ModelPrice, cost_text, estimated_usage
from .errors import LLMAuthenticationError, LLMError, LLMTimeoutError, ModelNotFoundError, TinyCodeError
from .json_limits import MAX_ARGUMENT_CHARS
from .logging_setup import redact

log = logging.getLogger(__name__)

DeltaCallback = Callable[[str | None, dict[str, Any] | None], Awaitable[None]]
"""Receives ``(text_delta, tool_call_delta)`` while a response streams."""

_KEY_ENV_BY_PREFIX = {
    "anthropic/": "ANTHROPIC_API_KEY",
    "claude": "ANTHROPIC_API_KEY",
    "gemini/": "GEMINI_API_KEY",
    "groq/": "GROQ_API_KEY",
    "mistral/": "MISTRAL_API_KEY",
    "openrouter/": "OPENROUTER_API_KEY",
    "deepseek/": "DEEPSEEK_API_KEY",
}


class UnexpectedModelRequest(TinyCodeError):
    """A real (non-loopback) model request was attempted while tests forbid it."""


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    estimated: bool = False
    """The server reported no usage, so the counts are an estimate (about four characters per token)."""

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_tokens + other.cached_tokens,
            self.estimated or other.estimated,
        )


@dataclass
class ToolCall:
    """A tool call as the model sent it; ``arguments`` is the raw JSON text (from a model, at most
    :data:`ARGUMENTS_KEPT` characters of it)."""

    id: str
    name: str
    arguments: str

    def to_message(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass
class LLMResponse:
    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost: float | None = 0.0
    """US$; None when the model's price is unknown (see :mod:`tinycode_jupyter.accounting`)."""
    model: str = ""
    finish_reason: str | None = None
    duration: float = 0.0

    def to_message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.content}  # "" not None: some chat templates need the key
        if self.tool_calls:
            message["tool_calls"] = [call.to_message() for call in self.tool_calls]
        return message


@dataclass(frozen=True)
class RetryNotice:
    """A model call's try failed and another follows: what a status line shows."""

    model: str
    reason: str
    attempt: int
    """The try that failed (1-based)."""
    tries: int
    wait: float

    def line(self) -> str:
        return f"{self.reason}; try {self.attempt + 1} of {self.tries} in {self.wait:.1f} s"


RetryCallback = Callable[[RetryNotice], None]
"""Set as a model's ``on_retry`` to show retries (one status line); they are also logged at INFO."""


def notify_retry(on_retry: RetryCallback | None, notice: RetryNotice) -> None:
    """Log a retry at INFO (no warning per try) and tell ``on_retry``, whose failure is logged, not raised."""
    log.info("%s", notice.line())
    if on_retry is not None:
        try:
            on_retry(notice)
        except Exception:  # a status line that fails must not fail the call
            log.warning("the retry status callback failed", exc_info=True)


class LLM(Protocol):
    """What the agent loop needs from a model."""

    model: str

    async def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], on_delta: DeltaCallback | None = None
    ) -> LLMResponse: ...


def refuse_unexpected_request(model: str, base: str | None) -> None:
    """Raise :class:`UnexpectedModelRequest` for a request to a non-loopback ``base`` while
    ``TINYCODE_ALLOW_MODEL_REQUESTS=0`` (the test guard, for every client)."""
    if os.environ.get("TINYCODE_ALLOW_MODEL_REQUESTS", "1") != "0":
        return
    if not base or not _is_loopback(base):
        raise UnexpectedModelRequest(
            f"a real model request to {model!r} (api_base={base!r}) was attempted while "
            "TINYCODE_ALLOW_MODEL_REQUESTS=0; use tinycode_jupyter.testing.ScriptedServer"
        )


def normalize_model_name(model: str, api_base: str | None = None) -> str:
    """The litellm route for ``model``.

    ``ollama/<m>`` goes to ``ollama_chat`` for native tool calling. ``openai/<m>`` with an
    ``api_base`` of your own (vLLM, llama.cpp, LM Studio, a proxy) goes to litellm's plain
    OpenAI-compatible HTTP handler (the ``hosted_vllm`` route), which skips the OpenAI SDK's
    per-message request transformation: the same wire format at half the cost per call.
    Claude models keep the ``openai`` route, because the plain handler drops prompt-cache marks.
    """
    if model.startswith("ollama/"):
        return "ollama_chat/" + model.split("/", 1)[1]
    if model.startswith("openai/") and api_base and "api.openai.com" not in api_base and "claude" not in model:
        return "hosted_vllm/" + model.split("/", 1)[1]
    return model


def import_litellm() -> Any:
    """Import litellm with the offline cost map and quiet start-up."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    _limit_litellm_argument_parsing()
    return litellm


_PARALLEL_QUIRK = "multi_tool_use.parallel"


def _limit_litellm_argument_parsing() -> None:
    """Stop litellm from parsing every non-streamed tool call's arguments.

    litellm runs ``json.loads`` on each call's arguments only to spot one OpenAI quirk (a made-up
    ``multi_tool_use.parallel`` call) and lets ``RecursionError`` through, so a model's deeply
    nested arguments failed the whole response instead of reaching the tool pipeline, which
    answers them. Now it parses only calls with that name, and a ``RecursionError`` there keeps
    the calls as sent (as litellm does for malformed JSON). On a litellm without that function,
    nothing changes.
    """
    try:
        from litellm.litellm_core_utils.llm_response_utils import convert_dict_to_response as module
    except ImportError:
        return
    original = getattr(module, "handle_invalid_parallel_tool_calls", None)
    if original is None or getattr(original, "tinycode_guarded", False):
        return

    def handle_invalid_parallel_tool_calls(tool_calls: Any) -> Any:
        if not any(getattr(getattr(c, "function", None), "name", None) == _PARALLEL_QUIRK for c in tool_calls or ()):
            return tool_calls
        try:
            return original(tool_calls)
        except RecursionError:
            return tool_calls

    handle_invalid_parallel_tool_calls.tinycode_guarded = True  # type: ignore[attr-defined]
    module.handle_invalid_parallel_tool_calls = handle_invalid_parallel_tool_calls


class LiteLLMModel:
    """A model reached through litellm: every provider without a native client (see
    :mod:`tinycode_jupyter.models.routing`), or every model when litellm is forced."""

    def __init__(
        self,
        model: str,
        api_key: str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        *,
        max_retries: int = 4,
        timeout: float = 120.0,
        backoff: float = 0.5,
        price_per_mtok: tuple[float, float] | None = None,
    ) -> None:
        self.model = model
        """The name as the user gave it (shown in records and used for cost)."""
        self.model_kwargs = dict(model_kwargs or {})
        base = self.model_kwargs.get("api_base") or self.model_kwargs.get("base_url")
        self.route = normalize_model_name(model, base)
        """The litellm model string actually called."""
        self.api_key = api_key or _placeholder_key_for_local_server(model, self.model_kwargs)
        self.max_retries = int(self.model_kwargs.pop("num_retries", max_retries))
        self.timeout = float(self.model_kwargs.pop("timeout", timeout))
        self.backoff = float(self.model_kwargs.pop("retry_backoff", backoff))
        per_mtok = self.model_kwargs.pop("price_per_mtok", price_per_mtok)
        self.price = ModelPrice(model, per_mtok, on_this_machine=_is_loopback(base) if base else False)
        """What calls cost: ``price_per_mtok`` (or ``model_kwargs["price_per_mtok"]``), else litellm's cost map, else unknown."""
        self._litellm: Any = None
        self.on_retry: RetryCallback | None = None

    async def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], on_delta: DeltaCallback | None = None
    ) -> LLMResponse:
        self._guard_real_requests()
        litellm = self._litellm or self._load()
        for attempt in range(self.max_retries + 1):
            try:
                return await self._call_once(litellm, messages, tools, on_delta)
            except Exception as exc:  # classified below: retried, typed, or re-raised
                wait = self._retry_delay(litellm, exc, attempt)
                if wait is None:
                    raise self._typed_error(litellm, exc) from exc
                notify_retry(self.on_retry, RetryNotice(self.model, _short(exc, 160), attempt + 1, self.max_retries + 1, wait))
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    # --- one streamed call -----------------------------------------------------
    async def _call_once(
        self, litellm: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]], on_delta: DeltaCallback | None
    ) -> LLMResponse:
        """One model call: streamed when someone listens for deltas, else in one piece (cheaper)."""
        started = time.perf_counter()
        kwargs = dict(self.model_kwargs)
        if tools:
            kwargs["tools"] = tools
        if on_delta is not None:
            kwargs["stream"] = True
            kwargs["stream_options"] = {"include_usage": True}
        if log.isEnabledFor(logging.DEBUG):
            log.debug("model request: model=%s stream=%s %s", self.route, on_delta is not None, self._describe(messages, kwargs))
        builder = _ResponseBuilder(self.model)
        with _without_litellm_bookkeeping(litellm):
            raw = await litellm.acompletion(
                model=self.route, messages=messages, api_key=self.api_key, timeout=self.timeout, num_retries=0, **kwargs
            )
            if on_delta is None:
                builder.add_whole(raw)
            else:
                async for chunk in raw:
                    await builder.add(chunk, on_delta)
        response = builder.finish()
        if not response.usage.total_tokens:  # the server reported no usage; a budget still needs a count
            response.usage = estimated_usage(messages, tools, response)
        response.cost = self.price.cost(response.usage)
        response.duration = time.perf_counter() - started
        if log.isEnabledFor(logging.DEBUG):
            log.debug("model response: %s", self._describe_response(response))
        return response

    def _describe(self, messages: list[dict[str, Any]], kwargs: dict[str, Any]) -> str:
        """The request for the debug log, secrets redacted (the API key itself is never included)."""
        shown = {k: v for k, v in kwargs.items() if k not in ("tools", "api_key")}
        text = f"options={json.dumps(shown, default=repr)} tools={len(kwargs.get('tools', []))} messages={json.dumps(messages, default=repr)}"
        return redact(_clip(text), [self.api_key] if self.api_key else ())

    def _describe_response(self, response: LLMResponse) -> str:
        calls = [(c.name, c.arguments) for c in response.tool_calls]
        text = (f"finish={response.finish_reason} tokens={response.usage.prompt_tokens}+{response.usage.completion_tokens} "
                f"cost={cost_text(response.cost)} {response.duration * 1000:.0f}ms text={response.content!r} tool_calls={calls!r}")  # fmt: skip
        return redact(_clip(text), [self.api_key] if self.api_key else ())

    def _load(self) -> Any:
        self._litellm = import_litellm()
        return self._litellm

    def _guard_real_requests(self) -> None:
        refuse_unexpected_request(self.model, self.model_kwargs.get("api_base") or self.model_kwargs.get("base_url"))

    # --- failures -----------------------------------------------------------------
    def _retry_delay(self, litellm: Any, exc: Exception, attempt: int) -> float | None:
        """Seconds to wait before retrying ``exc``, or None if it must not be retried."""
        if attempt >= self.max_retries or _is_auth_problem(exc) or not _is_transient(litellm, exc):
            return None
        retry_after = _retry_after_seconds(exc)
        if retry_after is not None:
            return min(retry_after, 60.0)
        return self.backoff * (2**attempt) * (0.5 + random.random())

    def _typed_error(self, litellm: Any, exc: Exception) -> Exception:
        if isinstance(exc, TinyCodeError):
            return exc
        status = getattr(exc, "status_code", None)
        detail = _short(exc)
        if isinstance(exc, litellm.AuthenticationError) or status == 401 or _is_auth_problem(exc):
            return LLMAuthenticationError(
                f"The model provider rejected the API key for {self.model!r}: pass api_key=... "
                f"or set {self._key_env()}. ({detail})",
                model=self.model,
                status_code=status,
            )
        if isinstance(exc, litellm.NotFoundError) or status == 404 or _mentions_unknown_model(detail):
            return ModelNotFoundError(
                f"Model {self.model!r} was not found (litellm name {self.route!r}); check the name "
                f"and the provider prefix, e.g. 'openai/...', 'anthropic/...', 'ollama/...'. ({detail})",
                model=self.model,
                status_code=status,
            )
        if isinstance(exc, (litellm.Timeout, asyncio.TimeoutError)):
            return LLMTimeoutError(
                f"Model {self.model!r} did not answer within {self.timeout:.0f}s after "
                f"{self.max_retries} retries; raise model_kwargs['timeout'] or check the server.",
                model=self.model,
            )
        return LLMError(f"Model call to {self.model!r} failed: {detail}", model=self.model, status_code=status)

    def _key_env(self) -> str:
        for prefix, env in _KEY_ENV_BY_PREFIX.items():
            if self.route.startswith(prefix):
                return env
        return "OPENAI_API_KEY"


class _ResponseBuilder:
    """Assembles streamed chunks into one :class:`LLMResponse`."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.text: list[str] = []
        self.calls: dict[int, _CallParts] = {}
        self.usage = Usage()
        self.finish_reason: str | None = None

    def add_whole(self, response: Any) -> None:
        """Take a non-streamed response."""
        if getattr(response, "usage", None):
            self.usage = _usage_from(response.usage)
        if not response.choices:
            return
        choice = response.choices[0]
        self.finish_reason = choice.finish_reason or "stop"
        message = choice.message
        if message.content:
            self.text.append(message.content)
        for index, call in enumerate(message.tool_calls or ()):
            parts = self.calls[index] = _CallParts(call.id or "", call.function.name or "")
            parts.add_arguments(call.function.arguments or "")

    async def add(self, chunk: Any, on_delta: DeltaCallback | None) -> None:
        usage = getattr(chunk, "usage", None)
        if usage:
            self.usage = _usage_from(usage)
        for choice in chunk.choices or ():
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
            delta = choice.delta
            if delta is None:
                continue
            if delta.content:
                self.text.append(delta.content)
                if on_delta:
                    await on_delta(delta.content, None)
            for piece in getattr(delta, "tool_calls", None) or ():
                await self._add_tool_piece(piece, on_delta)

    async def _add_tool_piece(self, piece: Any, on_delta: DeltaCallback | None) -> None:
        index = piece.index if piece.index is not None else len(self.calls)
        call = self.calls.setdefault(index, _CallParts())
        function = piece.function
        if piece.id:
            call.id = piece.id
        if function is not None and function.name and not call.name:
            call.name = function.name  # once: some servers (llama.cpp) repeat the name in every chunk
        kept = call.add_arguments(function.arguments) if function is not None and function.arguments else None
        if on_delta and (kept or piece.id or (function is not None and function.name)):
            await on_delta(None, {"index": index, "id": piece.id, "name": function and function.name, "arguments": kept})

    def finish(self) -> LLMResponse:
        if self.finish_reason is None:
            raise _IncompleteResponse("the model's response ended before it finished (cut stream or empty choices)")
        if not self.text and not self.calls and not self.usage.completion_tokens:
            # nothing said and no token generated: an empty ``choices`` list that litellm's stream
            # wrapper closed with a made-up finish_reason, not a model that chose to say nothing
            raise _IncompleteResponse("the model's response had no choices")
        calls = [c.to_call(f"call_{i}") for i, c in sorted(self.calls.items())]
        return LLMResponse("".join(self.text), calls, self.usage, model=self.model, finish_reason=self.finish_reason)


class _CallParts:
    """One tool call as it streams in. Its arguments are joined once, at the end (appending to one
    string would copy it on every chunk), and kept to :func:`cap_arguments`'s length: the rest is
    read (the usage comes after it) but dropped, so a model that sends 10 MB costs no more memory."""

    def __init__(self, call_id: str = "", name: str = "") -> None:
        self.id, self.name = call_id, name
        self.pieces: list[str] = []
        self.length = 0
        self.dropped = 0

    def add_arguments(self, piece: str) -> str:
        """Keep what fits of ``piece``; returns the part kept ("" once the cap is reached)."""
        kept = piece[: max(0, ARGUMENTS_KEPT - self.length)]
        if kept:
            self.pieces.append(kept)
            self.length += len(kept)
        self.dropped += len(piece) - len(kept)
        return kept

    def to_call(self, fallback_id: str) -> ToolCall:
        if self.dropped:
            log.warning("tool call %s: the model sent %d characters of arguments; the first %d were kept",
                        self.name, self.length + self.dropped, self.length)  # fmt: skip
        return ToolCall(id=self.id or fallback_id, name=self.name, arguments="".join(self.pieces) or "{}")


ARGUMENTS_KEPT = MAX_ARGUMENT_CHARS + 1
"""Characters of a tool call's arguments the seam keeps: one more than the pipeline accepts, so
arguments that were cut are still refused as too long, never run as if they were whole."""


def cap_arguments(arguments: str) -> str:
    """A tool call's arguments as the seam hands them on: the first :data:`ARGUMENTS_KEPT` characters."""
    return arguments[:ARGUMENTS_KEPT]


class _IncompleteResponse(ConnectionError):
    """A response with no finished choice: treated as a transient failure and retried."""


_LITELLM_CALLBACK_LISTS = (
    "callbacks", "success_callback", "failure_callback", "input_callback", "service_callback",
    "_async_success_callback", "_async_failure_callback", "_async_input_callback",
)  # fmt: skip


@contextmanager
def _without_litellm_bookkeeping(litellm: Any) -> Iterator[None]:
    """Skip litellm's own success/failure logging for calls made inside, unless a litellm callback listens.

    That pipeline (a standard logging payload, base64 scrubbing, a second cost pass) feeds
    only litellm's callbacks; we keep our own usage and cost. It is about a quarter of
    litellm's time per call. litellm marks its own nested calls the same way.
    """
    marker = None if any(getattr(litellm, name, None) for name in _LITELLM_CALLBACK_LISTS) else _internal_call_marker()
    if marker is None:
        yield
        return
    token = marker.set(True)
    try:
        yield
    finally:
        marker.reset(token)


def _internal_call_marker() -> Any:
    """litellm's context variable for its own nested calls, or None on a release without it (full pipeline kept)."""
    try:
        from litellm._internal_context import is_internal_call
    except ImportError:
        return None
    return is_internal_call


def _usage_from(usage: Any) -> Usage:
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) or 0
    return Usage(int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0), int(cached))


def _is_transient(litellm: Any, exc: Exception) -> bool:
    transient = (
        litellm.RateLimitError,
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
        litellm.APIConnectionError,
        litellm.Timeout,
        asyncio.TimeoutError,
        ConnectionError,
    )
    if isinstance(exc, transient):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status == 429 or status >= 500)


def _retry_after_seconds(exc: Exception) -> float | None:
    """The server's Retry-After, wherever litellm kept the response headers."""
    headers = getattr(exc, "litellm_response_headers", None) or getattr(getattr(exc, "response", None), "headers", None)
    if not headers:
        return None
    value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _placeholder_key_for_local_server(model: str, model_kwargs: dict[str, Any]) -> str | None:
    """OpenAI-compatible servers on your own machine rarely check keys, but the client insists on one."""
    base = model_kwargs.get("api_base") or model_kwargs.get("base_url")
    if model.startswith("openai/") and base and _is_loopback(base) and not os.environ.get("OPENAI_API_KEY"):
        return "no-key-needed"
    return None


def _is_auth_problem(exc: Exception) -> bool:
    text = str(exc).lower()
    return "missing credentials" in text or "api_key client option must be set" in text


def _mentions_unknown_model(detail: str) -> bool:
    lowered = detail.lower()
    return "model" in lowered and ("not found" in lowered or "does not exist" in lowered or "not provided" in lowered)


def _is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _clip(text: str, limit: int = 4000) -> str:
    """Head and tail of a long debug line, saying how much was cut."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]} …[{len(text) - limit} chars cut]… {text[-half:]}"


def _short(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[: limit - 3] + "..."
