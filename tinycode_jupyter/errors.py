"""Typed exceptions for failures of a run itself (never "Error: ..." strings)."""
from __future__ import annotations


class TinyCodeError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigurationError(TinyCodeError, ValueError):
    """An option passed by the user is unknown or invalid."""


class LLMError(TinyCodeError):
    """The model call failed after retries."""

    def __init__(self, message: str, *, model: str | None = None, status_code: int | None = None):
        super().__init__(message)
        self.model = model
        self.status_code = status_code


class LLMAuthenticationError(LLMError):
    """The provider rejected the API key (or none was set)."""


class ModelNotFoundError(LLMError):
    """The provider does not know the model name that was tried."""


class LLMTimeoutError(LLMError):
    """The model did not answer within the configured timeout."""


class MaxTurnsExceeded(TinyCodeError):
    """The agent used all of its turns without giving a final answer."""

    def __init__(self, max_turns: int):
        super().__init__(
            f"The agent used all {max_turns} turns without a final answer; "
            "raise max_turns or simplify the prompt. The transcript so far is in agent.last_run."
        )
        self.max_turns = max_turns


class BudgetExceeded(TinyCodeError):
    """A token or cost budget was used up; the run stopped cleanly.

    ``limit`` names the option that was reached, ``scope`` is ``"run"`` or ``"session"``,
    ``maximum`` its value and ``used`` the amount used; None when not known.
    """

    def __init__(self, message: str, *, limit: str | None = None, scope: str | None = None,
                 maximum: float | None = None, used: float | None = None):  # fmt: skip
        super().__init__(message)
        self.limit = limit
        self.scope = scope
        self.maximum = maximum
        self.used = used


class RunCancelled(TinyCodeError):
    """The run was stopped by the user (Stop button, interrupt)."""


class ProviderError(TinyCodeError):
    """An execution provider could not start or lost its worker."""


class SandboxUnavailableError(ProviderError):
    """The sandbox tool (bwrap, modal) is missing or not usable here."""
