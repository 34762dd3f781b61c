"""One-line errors a person can act on, naming what they typed: the model and the server.

"cannot reach http://127.0.0.1:9/v1 (connection refused) after 5 tries in 8.2 s",
"model 'gpt-5-typo' not found at api.openai.com (…)", "no API key for 'gpt-4.1-mini': set
OPENAI_API_KEY or pass api_key=". The same words describe a failed try in the retry status line.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..errors import LLMAuthenticationError, LLMError, LLMTimeoutError, ModelNotFoundError
from .builder import IncompleteAnswer
from .http import TransportError

RETRY_STATUSES = frozenset({408, 409, 429})
"""Statuses worth another try, besides every 5xx (529: Anthropic is overloaded)."""
_SPACES = re.compile(r"\s+")
_MESSAGE_CHARS = 300


@dataclass(frozen=True)
class Target:
    """What the user asked for: the model name as typed, the server's base URL, the key's variable."""

    model: str
    url: str
    key_env: str | None = None
    not_found_hint: str = ""
    """Added to "model … not found" (e.g. "run `ollama pull llama3.1`")."""

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc or self.url


class StatusFailure(Exception):
    """An HTTP answer that is not a success: its status, the server's own words, its Retry-After."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.message, self.retry_after = status, message, retry_after

    @property
    def retry(self) -> bool:
        return self.status in RETRY_STATUSES or self.status >= 500


def expect_object(answer: Any) -> dict[str, Any]:
    """``answer`` if it is a JSON object; anything else from the server is a bad gateway (tried again)."""
    if not isinstance(answer, dict):
        raise StatusFailure(502, f"an answer that is not a JSON object: {one_line(str(answer), 80)}")
    return answer


def can_retry(failure: TransportError | StatusFailure | IncompleteAnswer) -> bool:
    return isinstance(failure, IncompleteAnswer) or failure.retry


def describe(target: Target, failure: TransportError | StatusFailure | IncompleteAnswer) -> str:
    """What went wrong with one try, in words (no "after N tries")."""
    if isinstance(failure, TransportError):
        if failure.timed_out is not None:
            return f"model {target.model!r} at {target.url} did not answer within {failure.timed_out:g} s"
        if failure.reached:
            return f"model {target.model!r} at {target.url}: {failure.reason}"
        return f"cannot reach {target.url} ({failure.reason})"
    if isinstance(failure, IncompleteAnswer):
        return f"model {target.model!r} at {target.host}: {failure}"
    if failure.status == 429:
        return f"rate limited by {target.host} for {target.model!r} ({failure.message})"
    return f"HTTP {failure.status} from {target.host} for {target.model!r} ({failure.message})"


def final_error(target: Target, failure: TransportError | StatusFailure | IncompleteAnswer, tries: int, elapsed: float) -> LLMError:
    """The typed error that ends the call: after the last try, or at once for what no retry can fix."""
    model = target.model
    if isinstance(failure, StatusFailure) and not failure.retry:
        return _refusal(target, failure)
    if isinstance(failure, TransportError) and not failure.retry:
        return LLMError(describe(target, failure), model=model)
    text = f"{describe(target, failure)} {_after(tries, elapsed)}"
    if isinstance(failure, TransportError) and failure.timed_out is not None:
        return LLMTimeoutError(f"{text}; raise model_kwargs['timeout'] or check the server", model=model)
    return LLMError(text, model=model, status_code=failure.status if isinstance(failure, StatusFailure) else None)


def _refusal(target: Target, failure: StatusFailure) -> LLMError:
    status, message, model, host = failure.status, failure.message, target.model, target.host
    if status in (401, 403):
        where = f"set {target.key_env} or pass api_key=" if target.key_env else "pass api_key="
        return LLMAuthenticationError(f"{host} rejected the API key for {model!r} (HTTP {status}: {message}): {where}",
                                      model=model, status_code=status)  # fmt: skip
    if status == 404 and "model" in message.lower():
        hint = f"; {target.not_found_hint}" if target.not_found_hint else ""
        return ModelNotFoundError(f"model {model!r} not found at {host} ({message}){hint}", model=model, status_code=status)
    if status == 404:
        return LLMError(f"{target.url} has no such API (HTTP 404: {message}); check api_base", model=model, status_code=status)
    return LLMError(f"{host} refused the request for {model!r} (HTTP {status}: {message})", model=model, status_code=status)


def missing_key(target: Target) -> LLMAuthenticationError:
    return LLMAuthenticationError(f"no API key for {target.model!r}: set {target.key_env} or pass api_key=", model=target.model)


def bad_answer(target: Target, reason: str) -> LLMError:
    return LLMError(f"model {target.model!r} at {target.host} sent an answer that cannot be read: {reason}", model=target.model)


def server_message(body: bytes) -> str:
    """The error message inside an error answer (OpenAI, Anthropic and Ollama shapes), on one line."""
    text = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict):
        error = data.get("error", data.get("message"))
        if isinstance(error, dict):
            error = error.get("message") or error.get("type")
        if isinstance(error, str) and error:
            text = error
    return one_line(text) or "no message"


def one_line(text: str, limit: int = _MESSAGE_CHARS) -> str:
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def retry_after_seconds(headers: dict[str, str]) -> float | None:
    """Seconds the server asks us to wait (``retry-after-ms``, or ``Retry-After`` in seconds), if any."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue  # an HTTP date: rare for APIs; the backoff applies
    return None


def _after(tries: int, elapsed: float) -> str:
    seconds = f"{elapsed:.1f}" if elapsed < 10 else f"{elapsed:.0f}"
    return f"after {tries} {'try' if tries == 1 else 'tries'} in {seconds} s"
