"""Git checkpoints: a commit of the working directory after each agent step that changed it.

Runs the host's ``git`` with argument lists (never a shell string) in the working
directory. It writes no git configuration and no credentials anywhere: the author
is given with ``-c user.name=… -c user.email=…`` on the command line, and git is
never allowed to prompt. Only changes under the working directory are committed,
with ``--no-verify`` (an automatic checkpoint must not run the repository's hooks)
and without signing. Problems come back as a note, never as an exception.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone

logger = logging.getLogger(__name__)

AUTHOR_NAME = "TinyCode Agent"
AUTHOR_EMAIL = "tinycode-agent@localhost"
GIT_TIMEOUT_S = 60.0
MAX_COMMAND_CHARS = 500
MAX_SUBJECT_CHARS = 72

# Each pattern is (what to keep)(the secret).
_SECRETS = [
    re.compile(r"()\bsk-[A-Za-z0-9_\-]{16,}"),  # OpenAI, Anthropic (sk-ant-…), sk-proj-…
    re.compile(r"()\bA[KS]IA[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"()\b(?:(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"),
    re.compile(r"()\bxox[abposr]-[A-Za-z0-9-]{10,}"),  # Slack
    re.compile(r"()\bAIza[0-9A-Za-z_\-]{35}"),  # Google API keys
    re.compile(r"(?i)(\bBearer\s+)[A-Za-z0-9._~+/=\-]+"),
    re.compile(r"(?i)(\b(?:token|secret|password|passwd|api[_-]?key)=)[^\s&'\"]+"),
    re.compile(r"(\b[A-Z][A-Z0-9_]*(?:KEY|TOKEN|SECRET|PASSWORD)=)[^\s'\"]+"),
]


@dataclass(frozen=True)
class CheckpointResult:
    """``committed`` with the new ``commit`` id, or a ``note`` saying why not (None when nothing changed)."""

    committed: bool
    commit: str | None = None
    note: str | None = None


def redact_secrets(text: str) -> str:
    """``text`` with anything that looks like an API key or token replaced by ``[REDACTED]``."""
    for pattern in _SECRETS:
        text = pattern.sub(r"\1[REDACTED]", text)
    return text


def checkpoint_message(description: str, command: str, now: datetime | None = None) -> str:
    """The commit message: a subject from ``description``, then the time and the (shortened) command."""
    description = redact_secrets(description.strip()) or "agent step"
    command = redact_secrets(command.strip())
    if len(command) > MAX_COMMAND_CHARS:
        command = command[:MAX_COMMAND_CHARS] + f"… [{len(command) - MAX_COMMAND_CHARS} more characters]"
    subject = description.splitlines()[0]
    if len(subject) > MAX_SUBJECT_CHARS:
        subject = subject[:MAX_SUBJECT_CHARS - 1] + "…"
    timestamp = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    return f"tinycode: {subject}\n\n{description}\n\nTime: {timestamp}\nCommand:\n{command}\n"


class GitCheckpointer:
    """Commits the working directory after agent steps, when ``enabled``."""

    def __init__(self, workdir: str, enabled: bool = False):
        self.workdir = workdir
        self.enabled = enabled
        self._lock = asyncio.Lock()

    async def checkpoint(self, description: str, command: str) -> CheckpointResult:
        """Commit what changed under the working directory; see :class:`CheckpointResult`."""
        if not self.enabled:
            return CheckpointResult(committed=False)
        async with self._lock:
            try:
                return await self._checkpoint(description, command)
            except _GitFailed as failure:
                logger.warning("git checkpoint in %s failed: %s", self.workdir, failure)
                return CheckpointResult(committed=False, note=str(failure))

    async def _checkpoint(self, description: str, command: str) -> CheckpointResult:
        if not os.path.isdir(self.workdir):
            return CheckpointResult(committed=False, note=f"{self.workdir} does not exist, so no checkpoint was made")
        code, _, error = await self._git("rev-parse", "--is-inside-work-tree", check=False)
        if code != 0 and "not a git repository" in error:
            return CheckpointResult(
                committed=False,
                note=f"{self.workdir} is not a git repository; run `git init` there to enable checkpoints",
            )
        if code != 0:
            raise _GitFailed(f"`git rev-parse` failed: {_last_line(error, code)}")
        _, status, _ = await self._git("status", "--porcelain", "--untracked-files=all", "--", ".")
        if not status.strip():
            return CheckpointResult(committed=False)
        await self._git("add", "--all", "--", ".")
        message = checkpoint_message(description, command)
        await self._git(
            "-c", f"user.name={AUTHOR_NAME}", "-c", f"user.email={AUTHOR_EMAIL}", "-c", "commit.gpgsign=false",
            "commit", "--quiet", "--no-verify", "-m", message, "--", ".",
        )
        _, commit, _ = await self._git("rev-parse", "HEAD")
        return CheckpointResult(committed=True, commit=commit.strip())

    async def _git(self, *args: str, check: bool = True) -> tuple[int, str, str]:
        """Run git in the working directory: (exit code, stdout, stderr); _GitFailed if ``check`` and it fails."""
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": "", "LC_ALL": "C"}
        try:
            process = await asyncio.create_subprocess_exec(
                "git", *args, cwd=self.workdir, env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError as error:
            raise _GitFailed("git is not installed, so no checkpoint was made; install git to enable them") from error
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), GIT_TIMEOUT_S)
        except asyncio.TimeoutError as error:
            process.kill()
            await process.wait()
            raise _GitFailed(f"`git {args[0]}` took longer than {GIT_TIMEOUT_S:.0f} s and was stopped") from error
        code = process.returncode or 0
        error = stderr.decode(errors="replace")
        if check and code != 0:
            raise _GitFailed(f"`git {_subcommand(args)}` failed: {_last_line(error, code)}")
        return code, stdout.decode(errors="replace"), error


class _GitFailed(Exception):
    """A git command failed; its message becomes the checkpoint's note."""


def _last_line(stderr: str, code: int) -> str:
    lines = stderr.strip().splitlines()
    return lines[-1] if lines else f"exit code {code}"


def _subcommand(args: tuple[str, ...]) -> str:
    """The git subcommand in ``args``, skipping ``-c key=value`` options."""
    index = 0
    while index < len(args) and args[index] == "-c":
        index += 2
    return args[index] if index < len(args) else ""
