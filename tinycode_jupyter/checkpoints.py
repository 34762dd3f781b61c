"""Git checkpoints: a commit of the work dir after each agent step that changed it, in a private repository.

The repository is ``<checkpoint_dir>/git``; by default ``checkpoint_dir`` is
``$XDG_STATE_HOME/tinycode/checkpoints/<hash of the work dir's real path>`` (with
``~/.local/state`` when XDG_STATE_HOME is unset). It is never inside the work dir:
a checkpoint dir that overlaps the work dir, or that others can write, is refused.

Whatever sandboxed code leaves in the work dir is data, never configuration: host
git runs with an explicit ``--git-dir``/``--work-tree``, so the work dir's own
``.git`` (a directory, a file or a symlink) is never read, written or committed, and
nested repositories are left out, never entered. Its environment is PATH (absolute
entries outside the work dir), an empty private HOME, LC_ALL and the author, with no
system or global config. ``-c`` options switch off hooks, fsmonitor, submodule
recursion, transports and automatic gc, and the private ``info/attributes`` unsets
every attribute a ``.gitattributes`` could set (filters, text conversion, diff and
merge drivers), so files are stored byte for byte. Problems come back as a note,
never as an exception.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone

from .errors import TinyCodeError
from .redaction import redact

logger = logging.getLogger(__name__)

AUTHOR_NAME = "TinyCode Agent"
AUTHOR_EMAIL = "tinycode-agent@localhost"
GIT_TIMEOUT_S = 60.0
MAX_COMMAND_CHARS = 500
MAX_SUBJECT_CHARS = 72
SAFE_CONFIG = (
    "core.hooksPath=/dev/null",  # no hook of any name runs (post-commit, reference-transaction, …)
    "core.fsmonitor=false",
    "core.attributesFile=/dev/null",
    "core.excludesFile=/dev/null",
    "core.autocrlf=false",
    "core.symlinks=true",  # a symlink is stored as a link, never followed
    "diff.ignoreSubmodules=all",
    "submodule.recurse=false",
    "protocol.allow=never",
    "commit.gpgSign=false",
    "gc.auto=0",
    "maintenance.auto=false",
)
UNSET_ATTRIBUTES = "* -text -filter -diff -merge -ident !eol !working-tree-encoding\n"
"""The private ``info/attributes``: it overrides every ``.gitattributes`` in the work tree."""
_COMMIT_ID = re.compile(r"[0-9a-f]{7,64}")


@dataclass(frozen=True)
class CheckpointResult:
    """``committed`` with the new ``commit`` id, or not (``note`` says why; None when nothing changed).

    A commit can carry a note too: what was left out of it.
    """

    committed: bool
    commit: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Checkpoint:
    """One commit of the checkpoint repository."""

    commit: str
    time: str
    message: str

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0]


class CheckpointError(TinyCodeError):
    """Reading the checkpoint repository failed (its message says why)."""


def checkpoint_message(description: str, command: str, now: datetime | None = None) -> str:
    """The commit message: a subject from ``description``, then the time and the (shortened) command."""
    description = redact(description.strip()) or "agent step"
    command = redact(command.strip())
    if len(command) > MAX_COMMAND_CHARS:
        command = command[:MAX_COMMAND_CHARS] + f"… [{len(command) - MAX_COMMAND_CHARS} more characters]"
    subject = description.splitlines()[0]
    if len(subject) > MAX_SUBJECT_CHARS:
        subject = subject[:MAX_SUBJECT_CHARS - 1] + "…"
    timestamp = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    return f"tinycode: {subject}\n\n{description}\n\nTime: {timestamp}\nCommand:\n{command}\n"


def default_checkpoint_dir(workdir: str) -> str:
    """``$XDG_STATE_HOME/tinycode/checkpoints/<hash of the real path of workdir>`` (``~/.local/state`` by default)."""
    state = os.environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(state):
        state = os.path.join(os.path.expanduser("~"), ".local", "state")
    digest = hashlib.sha256(os.fsencode(os.path.realpath(workdir))).hexdigest()[:16]
    return os.path.join(state, "tinycode", "checkpoints", digest)


class GitCheckpointer:
    """Commits the work dir after agent steps, when ``enabled``, to ``<checkpoint_dir>/git``.

    See the checkpoints with ``await checkpointer.log()``, or with
    ``git --git-dir=<checkpointer.git_dir> log``; undo with ``await checkpointer.restore(commit)``.
    """

    def __init__(self, workdir: str, enabled: bool = False, checkpoint_dir: str | None = None):
        self.workdir = workdir
        self.enabled = enabled
        self.work_tree = os.path.realpath(workdir)
        self.checkpoint_dir = os.path.abspath(checkpoint_dir) if checkpoint_dir else default_checkpoint_dir(workdir)
        self.git_dir = os.path.join(self.checkpoint_dir, "git")
        self._home = os.path.join(self.checkpoint_dir, "home")
        self._lock = asyncio.Lock()

    async def checkpoint(self, description: str, command: str) -> CheckpointResult:
        """Commit what changed in the work dir; see :class:`CheckpointResult`."""
        if not self.enabled:
            return CheckpointResult(committed=False)
        async with self._lock:
            try:
                await self._prepare()
                return await self._commit_changes(checkpoint_message(description, command))
            except _GitFailed as failure:
                logger.warning("git checkpoint of %s failed: %s", self.workdir, failure)
                return CheckpointResult(committed=False, note=str(failure))

    async def log(self) -> list[Checkpoint]:
        """Every checkpoint, newest first (none before the first); :class:`CheckpointError` if git fails."""
        async with self._lock:
            try:
                self._check_location()
                if not os.path.isfile(os.path.join(self.git_dir, "HEAD")) or not await self._head():
                    return []
                _, out, _ = await self._repo("log", "-z", "--format=%H%x00%cI%x00%B")
            except _GitFailed as failure:
                raise CheckpointError(str(failure)) from failure
        fields = out.split("\0")
        return [Checkpoint(fields[i], fields[i + 1], fields[i + 2].rstrip("\n")) for i in range(0, len(fields) - 2, 3)]

    async def restore(self, commit: str) -> CheckpointResult:
        """Make the work dir's files as they were at checkpoint ``commit``; the result is a new checkpoint.

        What changed since the last checkpoint is checkpointed first, so a restore can
        itself be undone. Ignored files and nested repositories are left alone.
        """
        if not _COMMIT_ID.fullmatch(commit):
            return CheckpointResult(committed=False, note=f"{commit!r} is not a checkpoint id")
        async with self._lock:
            try:
                await self._prepare()
                code, target, _ = await self._repo("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}", check=False)
                if code != 0:
                    return CheckpointResult(committed=False, note=f"{commit} is not a checkpoint in {self.git_dir}")
                await self._commit_changes(checkpoint_message(f"before restoring {commit[:12]}", ""))
                await self._git("read-tree", "--reset", "-u", target.strip())
                return await self._commit_index(checkpoint_message(f"restored {commit[:12]}", ""))
            except _GitFailed as failure:
                logger.warning("git restore of %s failed: %s", self.workdir, failure)
                return CheckpointResult(committed=False, note=str(failure))

    # --- the private repository ---------------------------------------------------------
    async def _prepare(self) -> None:
        """Refuse an unsafe checkpoint dir; create the repository on first use."""
        if not os.path.isdir(self.work_tree):
            raise _GitFailed(f"{self.workdir} does not exist, so no checkpoint was made")
        self._check_location()
        try:
            os.makedirs(self.checkpoint_dir, mode=0o700, exist_ok=True)
            os.makedirs(self._home, mode=0o700, exist_ok=True)
            if not os.path.isfile(os.path.join(self.git_dir, "HEAD")):
                await self._run(["init", "--quiet", "--bare", "--template=", self.git_dir], cwd=self.checkpoint_dir)
                _write(os.path.join(self.checkpoint_dir, "workdir"), self.work_tree + "\n")  # for a reader of the dir
            attributes = os.path.join(self.git_dir, "info", "attributes")
            if not os.path.isfile(attributes):
                os.makedirs(os.path.dirname(attributes), exist_ok=True)
                _write(attributes, UNSET_ATTRIBUTES)
        except OSError as error:
            raise _GitFailed(f"the checkpoint dir {self.checkpoint_dir} could not be set up: {error}") from error

    def _check_location(self) -> None:
        real = os.path.realpath(self.checkpoint_dir)
        if _inside(real, self.work_tree) or _inside(self.work_tree, real):
            raise _GitFailed(
                f"the checkpoint dir {self.checkpoint_dir} is inside the work dir {self.workdir} (or contains it), "
                "where sandboxed code can write, so no checkpoint was made; set XDG_STATE_HOME to a directory "
                "outside it, or pass checkpoint_dir= to GitCheckpointer"
            )
        if os.path.isdir(real):
            status = os.stat(real)
            if status.st_uid != os.getuid() or status.st_mode & 0o022:
                raise _GitFailed(
                    f"the checkpoint dir {self.checkpoint_dir} is writable by others (or not yours), "
                    "so no checkpoint was made; use a private directory (mode 700)"
                )

    async def _commit_changes(self, message: str) -> CheckpointResult:
        """Stage everything but nested repositories, and commit it if anything changed."""
        nested, changed = await self._scan()
        note = f"left out, being git repositories of their own: {', '.join(p + '/' for p in nested)}" if nested else None
        if not changed:
            return CheckpointResult(committed=False, note=note)
        await self._git("add", "--all", "--", ".", *(f":(exclude,literal){path}" for path in nested))
        result = await self._commit_index(message)
        return CheckpointResult(result.committed, result.commit, note)

    async def _commit_index(self, message: str) -> CheckpointResult:
        """Commit the index with plumbing (no porcelain, no hooks), unless its tree is HEAD's."""
        head = await self._head()
        _, tree, _ = await self._repo("write-tree")
        if head and tree == (await self._repo("rev-parse", f"{head}^{{tree}}"))[1]:
            return CheckpointResult(committed=False)
        parent = ["-p", head] if head else []
        _, commit, _ = await self._repo("commit-tree", tree.strip(), *parent, "-m", message)
        await self._repo("update-ref", "HEAD", commit.strip(), head)
        return CheckpointResult(committed=True, commit=commit.strip())

    async def _scan(self) -> tuple[list[str], bool]:
        """(nested repositories, whether anything else changed), from ``git status``."""
        _, out, _ = await self._git("status", "--porcelain", "-z", "--untracked-files=all", "--ignore-submodules=all")
        nested: list[str] = []
        changed = False
        entries = iter(out.split("\0"))
        for entry in entries:
            if not entry:
                continue
            if entry[0] in "RC":
                next(entries, None)  # a rename's second path
            if entry.startswith("?? ") and entry.endswith("/"):  # with --untracked-files=all, only a repository
                nested.append(entry[3:-1])
            else:
                changed = True
        return nested, changed

    async def _head(self) -> str:
        code, out, _ = await self._repo("rev-parse", "--verify", "--quiet", "HEAD", check=False)
        return out.strip() if code == 0 else ""

    async def _git(self, *args: str) -> tuple[int, str, str]:
        """git on the private repository and the work tree: (exit code, stdout, stderr)."""
        return await self._run([f"--git-dir={self.git_dir}", f"--work-tree={self.work_tree}", *args], self.work_tree)

    async def _repo(self, *args: str, check: bool = True) -> tuple[int, str, str]:
        """git on the private repository alone (it never looks at the work tree)."""
        return await self._run([f"--git-dir={self.git_dir}", *args], self.checkpoint_dir, check)

    async def _run(self, args: list[str], cwd: str, check: bool = True) -> tuple[int, str, str]:
        env = self._environment()
        git = shutil.which("git", path=env["PATH"])
        if git is None:
            raise _GitFailed("git is not installed, so no checkpoint was made; install git to enable them")
        options = [part for setting in SAFE_CONFIG for part in ("-c", setting)]
        try:
            process = await asyncio.create_subprocess_exec(
                git, *options, *args, cwd=cwd, env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
        except OSError as error:
            raise _GitFailed(f"git could not be started: {error}") from error
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), GIT_TIMEOUT_S)
        except asyncio.TimeoutError as error:
            process.kill()
            await process.wait()
            raise _GitFailed(f"`git {_subcommand(args)}` took longer than {GIT_TIMEOUT_S:.0f} s and was stopped") from error
        code = process.returncode or 0
        messages = stderr.decode(errors="replace")
        if check and code != 0:
            raise _GitFailed(f"`git {_subcommand(args)}` failed: {_last_line(messages, code)}")
        return code, stdout.decode(errors="surrogateescape"), messages

    def _environment(self) -> dict[str, str]:
        """A clean environment: nothing inherited but a PATH that cannot lead into the work dir."""
        entries = [p for p in os.environ.get("PATH", os.defpath).split(os.pathsep) if os.path.isabs(p)]
        path = os.pathsep.join(p for p in entries if not _inside(os.path.realpath(p), self.work_tree))
        return {
            "PATH": path, "HOME": self._home, "XDG_CONFIG_HOME": self._home, "LC_ALL": "C",
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": AUTHOR_NAME, "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL,
            "GIT_COMMITTER_NAME": AUTHOR_NAME, "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL,
        }  # fmt: skip


class _GitFailed(Exception):
    """A git command failed or was refused; its message becomes the checkpoint's note."""


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as fh:
        fh.write(text)


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def _last_line(stderr: str, code: int) -> str:
    lines = stderr.strip().splitlines()
    return lines[-1] if lines else f"exit code {code}"


def _subcommand(args: list[str]) -> str:
    """The git subcommand in ``args``, after the ``--git-dir=``/``--work-tree=`` options."""
    return next((arg for arg in args if not arg.startswith("--")), "")
