"""What the built-in tools need from the agent: the provider, where paths resolve, the todo list."""
from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from typing import Any

from ..providers.base import Provider

DEFAULT_MAX_SHELL_TIMEOUT = 600.0


@dataclass
class ToolContext:
    """Shared by the built-in tools of one agent."""

    provider: Provider
    python_timeout: float = 120.0
    max_shell_timeout: float = DEFAULT_MAX_SHELL_TIMEOUT
    """The longest ``timeout`` the model may choose for a ``bash`` call; longer ones are cut to it."""
    todos: list[dict[str, Any]] = field(default_factory=list)

    def resolve(self, path: str) -> str:
        """``path`` made absolute against the work dir (``~`` is the host user's home)."""
        if path.startswith("~"):
            path = os.path.expanduser(path)
        return posixpath.normpath(path if posixpath.isabs(path) else posixpath.join(self.provider.workdir, path))
