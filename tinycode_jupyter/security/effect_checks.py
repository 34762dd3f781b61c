"""Policy checks on a call's declared effects: the same gates whichever tool has the effect.

Python is read by the import and obfuscation checks, shell commands by the shell
check, and every write (a file tool's path as much as a shell redirect) must land in
the work dir, the temp dir or ``additional_write_dirs``.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from .finding import Finding
from .policy import SecurityPolicy
from .write_area import WriteArea

if TYPE_CHECKING:
    from ..providers.base import Provider
    from ..tools.effects import Effect


class EffectChecks:
    """Checks effects against ``policy``; write roots come from ``provider`` (its work dir and extra dirs)."""

    def __init__(self, policy: SecurityPolicy, provider: "Provider") -> None:
        self.policy = policy
        self.provider = provider

    def check(self, effects: Iterable["Effect"]) -> list[Finding]:
        """Every finding against ``effects``; an empty list means the call may go on."""
        findings: list[Finding] = []
        for effect in effects:
            findings += self._check(effect)
        return list(dict.fromkeys(findings))

    def _check(self, effect: "Effect") -> Sequence[Finding]:
        if effect.kind == "runs_python":
            return self.policy.check_python(effect.payload or "")
        if effect.kind == "runs_shell":
            return self.policy.check_shell(effect.payload or "", effect.target, self.provider.extra_write_dirs)
        if effect.kind == "writes_path" and effect.target and not self.policy.bypass_shell_safety:
            problem = self._area().problem(effect.target)
            if problem:
                return [Finding("path", f"Writing to {effect.target} was refused: it {problem}. Write inside "
                                        f"{self.provider.workdir} instead.")]  # fmt: skip
        return ()

    def _area(self) -> WriteArea:
        provider = self.provider
        return WriteArea(provider.workdir, provider.extra_write_dirs, resolve=provider.capabilities.workdir_on_host)
