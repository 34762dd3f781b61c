"""The model seams that behaviour tests run on: each protocol, through the native client and through litellm.

Every seam talks real HTTP to the loopback ScriptedServer, which speaks all three protocols.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pytest

from tinycode_jupyter.testing import ScriptedServer
from tinycode_jupyter.testing.server import ANTHROPIC_PATHS, OPENAI_CHAT_PATHS, _AnthropicWire

Protocol = Literal["openai", "anthropic", "ollama"]
Path = Literal["native", "litellm"]
MODELS: dict[Protocol, str] = {"openai": "openai/scripted", "anthropic": "anthropic/claude-scripted", "ollama": "ollama/scripted"}
CHAT_PATHS: dict[Protocol, frozenset[str]] = {"openai": OPENAI_CHAT_PATHS, "anthropic": ANTHROPIC_PATHS, "ollama": frozenset({"/api/chat"})}
KEY_ENVS: dict[Protocol, str] = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "ollama": "api_key="}


@dataclass(frozen=True)
class Seam:
    protocol: Protocol
    path: Path

    @property
    def id(self) -> str:
        return f"{self.protocol}-{self.path}"

    @property
    def model(self) -> str:
        return MODELS[self.protocol]

    @property
    def key_hint(self) -> str:
        """What an authentication error must name for the user to act on."""
        return KEY_ENVS[self.protocol]

    def api_base(self, server: ScriptedServer) -> str:
        return {"openai": server.url, "anthropic": server.anthropic_url, "ollama": server.ollama_url}[self.protocol]

    def model_kwargs(self, server: ScriptedServer, **extra: Any) -> dict[str, Any]:
        return {"api_base": self.api_base(server), "force_litellm": self.path == "litellm", **extra}

    def chat_requests(self, server: ScriptedServer) -> list[dict[str, Any]]:
        """The bodies of the chat requests the server received, in order."""
        return [r["body"] for r in server.requests if r["path"].split("?")[0] in CHAT_PATHS[self.protocol]]

    def streamed(self, body: dict[str, Any]) -> bool:
        return bool(body.get("stream", self.protocol == "ollama"))

    def conversation(self, body: dict[str, Any]) -> list[tuple[str, str | None]]:
        """(role, tool_call_id) of each message sent, in the agent's terms (Ollama sends no call ids)."""
        messages = _AnthropicWire.script_view(body)["messages"] if self.protocol == "anthropic" else body["messages"]
        return [(m["role"], self.call_id(m)) for m in messages]

    def call_id(self, message: dict[str, Any]) -> str | None:
        return None if self.protocol == "ollama" else message.get("tool_call_id")


def litellm_gap(request: pytest.FixtureRequest, seam: Seam, protocols: tuple[Protocol, ...], reason: str) -> None:
    """Mark this test as an expected failure (strict) on litellm's path for ``protocols``: a litellm behaviour, not ours."""
    if seam.path == "litellm" and seam.protocol in protocols:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


SEAMS = [Seam(protocol, path) for protocol in MODELS for path in ("native", "litellm")]


def seams(*, protocols: tuple[Protocol, ...] = ("openai", "anthropic", "ollama"), paths: tuple[Path, ...] = ("native", "litellm")) -> Any:
    """``@seams()``: run the test on every seam (or the chosen protocols and paths), as the ``seam`` argument."""
    chosen = [s for s in SEAMS if s.protocol in protocols and s.path in paths]
    return pytest.mark.parametrize("seam", chosen, ids=[s.id for s in chosen])
