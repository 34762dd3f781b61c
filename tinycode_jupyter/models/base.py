"""What the native clients share: options, the test guard, the retry loop, typed errors, usage and cost.

A protocol module says how to encode a request and read an answer (whole or streamed);
:class:`NativeModel` does the rest. A call is streamed only when someone listens for
deltas (``on_delta``), as on the litellm path.
"""
from __future__ import annotations

import abc
import asyncio
import json
import logging
import os
import random
import time
from collections.abc import AsyncIterator
from typing import Any

from ..accounting import ModelPrice, cost_text, estimated_usage
from ..json_limits import loads_bounded
from ..llm import DeltaCallback, LLMResponse, RetryCallback, RetryNotice, _clip, _is_loopback, notify_retry, refuse_unexpected_request
from ..logging_setup import redact
from .builder import IncompleteAnswer, ResponseBuilder
from .failures import StatusFailure, Target, bad_answer, can_retry, describe, final_error, missing_key, retry_after_seconds, server_message
from .http import HTTPClient, TransportError
from .routing import Route

log = logging.getLogger(__name__)

SEAM_OPTIONS = ("api_base", "base_url", "timeout", "num_retries", "retry_backoff", "extra_headers")
"""``model_kwargs`` the seam itself reads; every other key goes to the protocol's request."""
MAX_RETRY_AFTER = 60.0


class NativeModel(abc.ABC):
    """A model reached over one HTTP protocol without litellm (subclasses: one per protocol)."""

    path = ""
    """The request path below the base URL."""

    def __init__(self, model: str, route: Route, *, api_key: str | None = None, model_kwargs: dict[str, Any] | None = None,
                 max_retries: int = 4, timeout: float = 120.0, backoff: float = 0.5) -> None:  # fmt: skip
        options = dict(model_kwargs or {})
        self.model = model
        """The name as the user gave it (shown in records and errors, and priced)."""
        self.route = route
        self.api_key = api_key
        self.max_retries = int(options.pop("num_retries", max_retries))
        self.timeout = float(options.pop("timeout", timeout))
        self.backoff = float(options.pop("retry_backoff", backoff))
        self.extra_headers: dict[str, str] = dict(options.pop("extra_headers", None) or {})
        self.price = ModelPrice(model, options.pop("price_per_mtok", None), on_this_machine=_is_loopback(route.base_url))
        """What calls cost: ``price_per_mtok``, else litellm's cost map (read as data), else unknown."""
        for name in SEAM_OPTIONS:
            options.pop(name, None)
        self.options = options
        """What goes into every request (temperature, max_tokens, num_ctx, …)."""
        self.target = Target(model, route.base_url, route.key_envs[0] if route.key_envs else None, self.not_found_hint())
        self.on_retry: RetryCallback | None = None
        """Called before each retry's wait (a status line to update); retries are also logged at INFO."""
        self._http = HTTPClient(route.base_url, self.timeout)
        self._tools: tuple[object, int, str] = (None, 0, "")
        """The last list of tools, its length, and its encoding."""

    # --- for the protocols -----------------------------------------------------------
    @abc.abstractmethod
    def request_body(self, messages: list[dict[str, Any]], stream: bool) -> dict[str, Any]:
        """The request without its tools (they are encoded once per list of tools, see :meth:`wire_tools`)."""

    def wire_tools(self, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The tool schemas (OpenAI-shaped) as this protocol's ``tools``."""
        return tools

    @abc.abstractmethod
    def headers(self, api_key: str | None) -> dict[str, str]:
        """The protocol's headers for ``api_key`` (None: no key)."""

    @abc.abstractmethod
    async def read_whole(self, answer: Any, builder: ResponseBuilder) -> None:
        """Read a whole (non-streamed) answer, parsed from JSON, into ``builder``."""

    @abc.abstractmethod
    async def read_stream(self, lines: AsyncIterator[bytes], builder: ResponseBuilder) -> None:
        """Read a streamed answer, line by line, into ``builder``."""

    def not_found_hint(self) -> str:
        return ""

    # --- one call ---------------------------------------------------------------------
    async def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], on_delta: DeltaCallback | None = None
    ) -> LLMResponse:
        headers = {"Content-Type": "application/json", **self.headers(self._key()), **self.extra_headers}
        refuse_unexpected_request(self.model, self.route.base_url if self.route.base_given else None)
        encoded = self._encode(messages, tools, stream=on_delta is not None)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("model request: model=%s url=%s%s %s", self.model, self.route.base_url, self.path, self._redacted(encoded.decode()))
        started = time.perf_counter()
        tries = self.max_retries + 1
        for attempt in range(1, tries + 1):
            try:
                response, cache_writes = await self._attempt(encoded, headers, on_delta)
            except (TransportError, StatusFailure, IncompleteAnswer) as failure:
                if attempt == tries or not can_retry(failure):
                    raise final_error(self.target, failure, attempt, time.perf_counter() - started) from None
                await self._wait_before_retry(failure, attempt, tries)
                continue
            if not response.usage.total_tokens:  # the server reported no usage; a budget still needs a count
                response.usage = estimated_usage(messages, tools, response)
            response.cost = self.price.cost(response.usage, cache_writes)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("model response: %s", self._redacted(_summary(response)))
            return response
        raise AssertionError("unreachable")

    async def _attempt(self, body: bytes, headers: dict[str, str], on_delta: DeltaCallback | None) -> tuple[LLMResponse, int]:
        """One try: the answer, and the prompt tokens it wrote to the cache (priced apart)."""
        started = time.perf_counter()
        answer = await self._http.request("POST", self.path, body, headers)
        builder = ResponseBuilder(self.model, on_delta)
        try:
            if answer.status >= 300:
                message = self._redacted(server_message(await answer.read()))
                raise StatusFailure(answer.status, message, retry_after_seconds(answer.headers))
            if on_delta is None:
                await self.read_whole(self.parse_json(await answer.read()), builder)
            else:
                await self.read_stream(answer.lines(), builder)
        finally:
            answer.close()  # a body left unread (an error event mid-stream, a cancelled run) ends its connection
        response = builder.finish()
        response.duration = time.perf_counter() - started
        return response, builder.cache_write_tokens

    def _encode(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], stream: bool) -> bytes:
        text = json.dumps(self.request_body(messages, stream), separators=(",", ":"))
        if tools:
            if tools is not self._tools[0] or len(tools) != self._tools[1]:  # the agent sends one list per run
                self._tools = (tools, len(tools), json.dumps(self.wire_tools(tools), separators=(",", ":")))
            text = f'{text[:-1]},"tools":{self._tools[2]}}}'
        return text.encode()

    def parse_json(self, raw: bytes | str) -> Any:
        """JSON from the server; an answer that is not JSON (or nests beyond Python's limit) is a typed error."""
        try:
            return json.loads(raw)
        except RecursionError:
            raise bad_answer(self.target, "its JSON nests too deeply to read") from None
        except ValueError as exc:
            raise bad_answer(self.target, f"not JSON ({exc})") from None

    def _key(self) -> str | None:
        key = self.api_key or next((os.environ[e] for e in self.route.key_envs if os.environ.get(e)), None)
        if key is None and self.route.key_required:
            raise missing_key(self.target)
        return key

    async def _wait_before_retry(self, failure: TransportError | StatusFailure | IncompleteAnswer, attempt: int, tries: int) -> None:
        retry_after = failure.retry_after if isinstance(failure, StatusFailure) else None
        if retry_after is not None:
            wait = min(retry_after, MAX_RETRY_AFTER)
        else:
            wait = self.backoff * (2 ** (attempt - 1)) * (0.5 + random.random())
        notify_retry(self.on_retry, RetryNotice(self.model, describe(self.target, failure), attempt, tries, wait))
        await asyncio.sleep(wait)

    def _redacted(self, text: str) -> str:
        return redact(_clip(text), [self.api_key] if self.api_key else ())


def arguments_object(arguments: Any) -> dict[str, Any]:
    """A tool call's arguments as the object these protocols require; arguments that are not a JSON
    object (the model's malformed JSON, sent back to it) travel as ``{"arguments": <the text>}``."""
    if isinstance(arguments, dict):
        return arguments
    try:
        value = loads_bounded(arguments or "{}")
    except ValueError:  # not JSON, or over the limits
        value = None
    return value if isinstance(value, dict) else {"arguments": arguments}


def _summary(response: LLMResponse) -> str:
    calls = [(c.name, c.arguments) for c in response.tool_calls]
    usage = response.usage
    return (f"finish={response.finish_reason} tokens={usage.prompt_tokens}+{usage.completion_tokens} cached={usage.cached_tokens} "
            f"cost={cost_text(response.cost)} {response.duration * 1000:.0f}ms text={response.content!r} tool_calls={calls!r}")  # fmt: skip
