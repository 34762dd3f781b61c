"""Attacks on git checkpoints through what the sandbox can write: none of them may run on the host.

Each attack plants a payload as sandboxed code could leave it in the work dir (or, for the
environment, as the host process could inherit it). The payload creates a marker file in a host
directory the sandbox cannot reach. A checkpoint, a second checkpoint, a restore and a log must
leave that directory empty, and still work. Where the checkpoint operations can trigger it, a
control then runs plain ``git`` in the work dir the way a naive checkpointer would, and shows the
payload is live.
"""
from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from _require import require_tool

from tinycode_jupyter.checkpoints import CheckpointResult, GitCheckpointer

HOOKS = (
    "applypatch-msg", "pre-applypatch", "post-applypatch", "pre-commit", "pre-merge-commit", "prepare-commit-msg",
    "commit-msg", "post-commit", "pre-rebase", "post-checkout", "post-merge", "pre-push", "pre-receive", "update",
    "proc-receive", "post-receive", "post-update", "reference-transaction", "push-to-checkout", "pre-auto-gc",
    "post-rewrite", "sendemail-validate", "fsmonitor-watchman", "p4-changelist", "p4-prepare-changelist",
    "p4-post-changelist", "p4-pre-submit", "post-index-change",
)  # fmt: skip


@pytest.fixture(autouse=True)
def host(tmp_path, monkeypatch) -> Path:
    """The host's side: an empty HOME and state dir, no git config, and the directory payloads would write to."""
    require_tool("git", "checkpoints commit with the host's git")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    for name in [n for n in os.environ if n.startswith("GIT_") or n.startswith("XDG_CONFIG")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    markers = tmp_path / "host-markers"
    markers.mkdir()
    return markers


@pytest.fixture
def work(tmp_path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    (path / "data.txt").write_text("v1\n")
    return path


def listing(root: Path) -> set[str]:
    """Every path under ``root`` (symlinks not followed)."""
    return {os.path.relpath(os.path.join(d, n), root) for d, dirs, files in os.walk(root) for n in dirs + files}


def fired(markers: Path) -> list[str]:
    return sorted(p.name for p in markers.iterdir())


def touch(markers: Path, name: str) -> str:
    return f"touch {markers / name}"


def script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def naive_git(work: Path, *args: str, env: dict[str, str] | None = None) -> None:
    """Plain git in the work dir, as a checkpointer that trusts the work tree would run it."""
    subprocess.run(["git", *args], cwd=work, env=env, capture_output=True, check=False)


def naive_checkpoint(work: Path, env: dict[str, str] | None = None) -> None:
    for args in (("status", "--porcelain"), ("add", "--all"),
                 ("-c", "user.name=u", "-c", "user.email=u@x", "commit", "-q", "--no-verify", "-m", "m")):  # fmt: skip
        naive_git(work, *args, env=env)


def sandbox_repo(git_dir: Path) -> Path:
    """A repository the sandbox made: a real one, so host git accepts it if it is ever used."""
    subprocess.run(["git", "init", "-q", "--template=", str(git_dir.parent)], check=True, capture_output=True)
    if git_dir.name != ".git":
        (git_dir.parent / ".git").rename(git_dir)
    return git_dir


def private_git(checkpointer: GitCheckpointer, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={checkpointer.git_dir}", *args],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip


async def exercise(checkpointer: GitCheckpointer, work: Path, markers: Path) -> list[CheckpointResult]:
    """Checkpoint, change a file, checkpoint, restore the first one, list: no payload may fire at any point."""
    first = await checkpointer.checkpoint("first", "python step.py")
    assert fired(markers) == [], f"a payload ran on the host during the first checkpoint: {fired(markers)}"
    (work / "data.txt").write_text("v2\n")
    second = await checkpointer.checkpoint("second", "python step.py")
    assert fired(markers) == [], f"a payload ran on the host during the second checkpoint: {fired(markers)}"
    assert first.committed and second.committed, (first, second)
    restored = await checkpointer.restore(first.commit)
    assert fired(markers) == [], f"a payload ran on the host during the restore: {fired(markers)}"
    assert (work / "data.txt").read_text() == "v1\n"
    assert [c.subject for c in await checkpointer.log()][-2:] == ["tinycode: second", "tinycode: first"]
    assert fired(markers) == []
    return [first, second, restored]


# --- a repository the sandbox made in the work dir -----------------------------------------------
async def test_hooks_of_a_repository_the_sandbox_made_never_run(work, host):
    hooks = sandbox_repo(work / ".git") / "hooks"
    for name in HOOKS:
        script(hooks / name, touch(host, name) + "\ncat >/dev/null 2>&1 || true")
    await exercise(GitCheckpointer(str(work), enabled=True), work, host)
    assert not (work / ".git" / "index").exists()  # the sandbox's repository was not even written to
    naive_checkpoint(work)
    assert {"post-commit", "reference-transaction", "post-index-change"} <= set(fired(host))  # --no-verify does not stop these


@dataclass(frozen=True)
class ConfigAttack:
    """A config the sandbox writes into its own repository (and maybe .gitattributes) to run a payload."""

    name: str
    config: Callable[[Path, Path], str]  # (work, markers) -> config text
    attributes: str = ""
    control: tuple[str, ...] | None = ("checkpoint",)
    """How plain git in the work dir would trigger it: a naive checkpoint, a git command, or None."""


def _payload(where: Path, markers: Path, name: str, then: str = 'cat "$@" 2>/dev/null || true') -> str:
    """An executable in ``where`` (a place the sandbox writes) that creates the marker ``name``."""
    return str(script(where / ".payload" / f"{name}.sh", f"{touch(markers, name)}\n{then}"))


def _fsmonitor(name: str) -> Callable[[Path, Path], str]:
    return lambda work, markers: f"[core]\n\tfsmonitor = {_payload(work, markers, name)}\n"


def _hooks_path(work: Path, markers: Path) -> str:
    script(work / "myhooks" / "post-commit", touch(markers, "hooksPath"))
    return f"[core]\n\thooksPath = {work / 'myhooks'}\n"


def _included(section: str, name: str) -> Callable[[Path, Path], str]:
    def config(work: Path, markers: Path) -> str:
        (work / "extra.cfg").write_text(_fsmonitor(name)(work, markers))
        return f"[{section}]\n\tpath = {work / 'extra.cfg'}\n"
    return config


def _setting(section: str, key: str, name: str, then: str = 'cat "$@" 2>/dev/null || true', extra: str = "") -> Callable[[Path, Path], str]:
    return lambda work, markers: f"{extra}[{section}]\n\t{key} = {_payload(work, markers, name, then)}\n"


def _shell_filter(key: str) -> Callable[[Path, Path], str]:
    return lambda work, markers: f'[filter "evil"]\n\t{key} = {touch(markers, key)}; cat\n'


CONFIG_ATTACKS = [
    ConfigAttack("core.fsmonitor", _fsmonitor("fsmonitor")),
    ConfigAttack("core.hooksPath", _hooks_path),
    ConfigAttack("include.path", _included("include", "include")),
    ConfigAttack("includeIf.gitdir", _included('includeIf "gitdir:/"', "includeIf")),
    ConfigAttack("filter.clean", _shell_filter("clean"), attributes="* filter=evil\n"),
    ConfigAttack("filter.smudge", _shell_filter("smudge"), attributes="* filter=evil\n", control=("checkout", "--", "data.txt")),
    ConfigAttack("filter.process", _setting('filter "evil"', "process", "process", then="exit 1"), attributes="* filter=evil\n"),
    ConfigAttack("diff.textconv", _setting('diff "evil"', "textconv", "textconv"), attributes="* diff=evil\n",
                 control=("log", "-p")),
    ConfigAttack("diff.external", _setting("diff", "external", "external"), control=("diff",)),
    ConfigAttack("gpg.program", _setting("gpg", "program", "gpg", extra="[commit]\n\tgpgsign = true\n")),
    ConfigAttack("core.sshCommand", _setting("core", "sshCommand", "ssh"), control=("fetch", "ssh://example.invalid/repo")),
    ConfigAttack("core.pager", _setting("core", "pager", "pager"), control=None),
    ConfigAttack("core.editor", _setting("core", "editor", "editor"), control=None),
]


@pytest.mark.parametrize("attack", CONFIG_ATTACKS, ids=lambda a: a.name)
async def test_config_of_a_repository_the_sandbox_made_is_never_read(attack, work, host):
    git_dir = sandbox_repo(work / ".git")
    (git_dir / "config").write_text((git_dir / "config").read_text() + attack.config(work, host))
    if attack.attributes:
        (work / ".gitattributes").write_text(attack.attributes)
    checkpointer = GitCheckpointer(str(work), enabled=True)
    await exercise(checkpointer, work, host)
    assert private_git(checkpointer, "show", "HEAD:data.txt") == "v1\n"  # stored as written: no filter touched it
    if attack.control is None:
        return
    naive_checkpoint(work)
    if attack.control != ("checkpoint",):
        (work / "data.txt").write_text("v3\n")
        naive_git(work, *attack.control)
    assert fired(host), f"control: {attack.name} did not fire with plain git, so this test proves nothing"


@pytest.mark.parametrize("kind", ["gitfile", "symlink"])
async def test_a_dot_git_that_points_elsewhere_is_never_followed(kind, work, host):
    elsewhere = sandbox_repo(work / "hidden" / "repo.git")
    (elsewhere / "config").write_text((elsewhere / "config").read_text() + f"[core]\n\tfsmonitor = {_payload(work, host, 'fsmonitor')}\n")
    script(elsewhere / "hooks" / "post-commit", touch(host, "post-commit"))
    if kind == "gitfile":
        (work / ".git").write_text(f"gitdir: {elsewhere}\n")
    else:
        (work / ".git").symlink_to(elsewhere)
    checkpointer = GitCheckpointer(str(work), enabled=True)
    await exercise(checkpointer, work, host)
    assert ".git" not in private_git(checkpointer, "ls-tree", "--name-only", "HEAD").split()
    naive_checkpoint(work)
    assert fired(host)


async def test_a_nested_repository_is_left_out_and_never_entered(work, host):
    nested = work / "sub"
    nested.mkdir()
    (nested / "tracked.txt").write_text("inside\n")
    sandbox_repo(nested / ".git")
    subprocess.run(["git", "-C", str(nested), "add", "tracked.txt"], check=True)
    subprocess.run(["git", "-C", str(nested), "-c", "user.name=u", "-c", "user.email=u@x", "commit", "-qm", "x"], check=True)
    config = nested / ".git" / "config"
    config.write_text(config.read_text() + f"[core]\n\tfsmonitor = {_payload(nested, host, 'fsmonitor')}\n"
                      f"[filter \"evil\"]\n\tclean = {touch(host, 'clean')}; cat\n")  # fmt: skip
    (nested / ".gitattributes").write_text("* filter=evil\n")
    (nested / "tracked.txt").write_text("changed, so git status inside would run the filter\n")
    empty = work / "empty-repo"
    empty.mkdir()
    sandbox_repo(empty / ".git")  # no commit: plain `git add --all` fails on it
    checkpointer = GitCheckpointer(str(work), enabled=True)
    first, *_ = await exercise(checkpointer, work, host)
    assert "sub/" in first.note and "empty-repo/" in first.note
    assert private_git(checkpointer, "ls-tree", "-r", "--name-only", "HEAD").split() == ["data.txt"]
    shutil.rmtree(empty)  # else plain git fails before it reaches the nested repository
    sandbox_repo(work / ".git")
    naive_checkpoint(work)
    naive_checkpoint(work)
    assert fired(host)


async def test_gitattributes_naming_an_undefined_filter_is_harmless(work, host):
    (work / ".gitattributes").write_text("* filter=lfs diff=lfs merge=lfs -text\n*.txt filter=evil\n")
    checkpointer = GitCheckpointer(str(work), enabled=True)
    await exercise(checkpointer, work, host)
    assert private_git(checkpointer, "show", "HEAD~2:data.txt") == "v1\n"
    assert private_git(checkpointer, "show", "HEAD~1:data.txt") == "v2\n"


async def test_a_filter_in_the_hosts_own_git_config_is_not_reachable_from_gitattributes(work, host, tmp_path, monkeypatch):
    gitconfig = Path(os.environ["HOME"]) / ".gitconfig"
    gitconfig.write_text(f"[filter \"lfs\"]\n\tclean = {touch(host, 'host-filter')}; cat\n\trequired = true\n"
                         f"[core]\n\tfsmonitor = {_payload(tmp_path, host, 'host-fsmonitor')}\n")  # fmt: skip
    (work / ".gitattributes").write_text("* filter=lfs\n")
    await exercise(GitCheckpointer(str(work), enabled=True), work, host)
    sandbox_repo(work / ".git")
    naive_checkpoint(work)
    assert fired(host)


# --- what the host process inherited ----------------------------------------------------------
@dataclass(frozen=True)
class EnvAttack:
    name: str
    env: Callable[[Path, Path], dict[str, str]]  # (work, markers) -> variables
    needs_repo: bool = False
    control: bool = True


def _evil_repo(work: Path, markers: Path) -> str:
    repo = sandbox_repo(work / "evil.git")
    script(repo / "hooks" / "post-commit", touch(markers, "post-commit"))
    return str(repo)


ENV_ATTACKS = [
    EnvAttack("GIT_CONFIG_PARAMETERS", lambda w, m: {"GIT_CONFIG_PARAMETERS": f"'core.fsmonitor'='{_payload(w, m, 'params')}'"},
              needs_repo=True),
    EnvAttack("GIT_CONFIG_COUNT", lambda w, m: {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.fsmonitor",
                                                "GIT_CONFIG_VALUE_0": _payload(w, m, "count")}, needs_repo=True),
    EnvAttack("GIT_CONFIG_GLOBAL", lambda w, m: {"GIT_CONFIG_GLOBAL": str(_cfg(w, m, "global"))}, needs_repo=True),
    EnvAttack("GIT_CONFIG_SYSTEM", lambda w, m: {"GIT_CONFIG_NOSYSTEM": "0", "GIT_CONFIG_SYSTEM": str(_cfg(w, m, "system"))},
              needs_repo=True),
    EnvAttack("XDG_CONFIG_HOME", lambda w, m: {"XDG_CONFIG_HOME": str(_cfg(w, m, "xdg", "xdg/git/config").parent.parent)},
              needs_repo=True),
    EnvAttack("GIT_DIR", lambda w, m: {"GIT_DIR": _evil_repo(w, m)}),
    EnvAttack("GIT_INDEX_FILE", lambda w, m: {"GIT_INDEX_FILE": str(w / "evil-index")}, needs_repo=True),
    EnvAttack("GIT_OBJECT_DIRECTORY", lambda w, m: {"GIT_OBJECT_DIRECTORY": str(_mkdir(w / "objects"))}, needs_repo=True),
    EnvAttack("GIT_TRACE", lambda w, m: {"GIT_TRACE": str(w / "trace.log"), "GIT_TRACE2_EVENT": str(w / "trace2.json")},
              needs_repo=True),
    EnvAttack("GIT_EXEC_PATH", lambda w, m: {"GIT_EXEC_PATH": str(_exec_path(w, m))}, control=False),
    EnvAttack("GIT_EXTERNAL_DIFF", lambda w, m: {"GIT_EXTERNAL_DIFF": _payload(w, m, "extdiff"),
                                                 "GIT_SSH_COMMAND": _payload(w, m, "ssh"),
                                                 "GIT_EDITOR": _payload(w, m, "editor"),
                                                 "GIT_PAGER": _payload(w, m, "pager"),
                                                 "GIT_ASKPASS": _payload(w, m, "askpass")}, control=False),
    EnvAttack("PATH with a relative entry", lambda w, m: {"PATH": f".:{os.environ['PATH']}"} | _fake_git(w, m),
              needs_repo=True),
    EnvAttack("PATH with the work dir", lambda w, m: {"PATH": f"{w / 'bin'}:{os.environ['PATH']}"} | _fake_git(w, m, "bin"),
              needs_repo=True),
]


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _cfg(work: Path, markers: Path, name: str, where: str = "") -> Path:
    path = work / (where or f"{name}.cfg")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"[core]\n\tfsmonitor = {_payload(work, markers, name)}\n")
    return path


def _exec_path(work: Path, markers: Path) -> Path:
    for name in ("git", "git-add", "git-commit", "git-status", "git-init", "git-log", "git-read-tree", "git-maintenance"):
        script(work / "libexec" / name, touch(markers, name))
    return work / "libexec"


def _fake_git(work: Path, markers: Path, where: str = "") -> dict[str, str]:
    real = subprocess.run(["sh", "-c", "command -v git"], capture_output=True, text=True, check=True).stdout.strip()
    script(work / where / "git", touch(markers, "fake-git") + f'\nexec {real} "$@"')
    return {}


@pytest.mark.parametrize("attack", ENV_ATTACKS, ids=lambda a: a.name)
async def test_git_variables_the_host_inherited_are_dropped(attack, work, host, monkeypatch):
    if attack.needs_repo:
        sandbox_repo(work / ".git")
    variables = attack.env(work, host)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    before = listing(work)
    checkpointer = GitCheckpointer(str(work), enabled=True)
    await exercise(checkpointer, work, host)
    assert listing(work) == before, f"git honoured {attack.name} and wrote into the work dir"
    if attack.control:
        naive_checkpoint(work, env=dict(os.environ))
        assert fired(host) or listing(work) != before, f"control: {attack.name} had no effect on plain git"


# --- where the checkpoints live ---------------------------------------------------------------
async def test_a_checkpoint_dir_inside_the_work_dir_is_refused(work, host):
    result = await GitCheckpointer(str(work), enabled=True, checkpoint_dir=str(work / "ckpt")).checkpoint("s", "c")
    assert not result.committed and "inside the work dir" in result.note
    assert not (work / "ckpt").exists()


async def test_a_checkpoint_dir_reached_through_a_symlink_into_the_work_dir_is_refused(work, tmp_path):
    (tmp_path / "link").symlink_to(work)
    result = await GitCheckpointer(str(work), enabled=True, checkpoint_dir=str(tmp_path / "link" / "ckpt")).checkpoint("s", "c")
    assert not result.committed and "inside the work dir" in result.note
    assert not (work / "ckpt").exists()


async def test_the_home_dir_as_work_dir_does_not_put_checkpoints_where_the_sandbox_writes(monkeypatch, host):
    home = Path(os.environ["HOME"])
    monkeypatch.delenv("XDG_STATE_HOME")
    (home / "notes.txt").write_text("x")
    checkpointer = GitCheckpointer(str(home), enabled=True)
    result = await checkpointer.checkpoint("s", "c")
    assert not result.committed and "inside the work dir" in result.note and "checkpoint_dir" in result.note
    assert not (home / ".local").exists()


async def test_a_checkpoint_dir_others_can_write_is_refused(work, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    result = await GitCheckpointer(str(work), enabled=True, checkpoint_dir=str(shared)).checkpoint("s", "c")
    assert not result.committed and "writable by others" in result.note
    assert list(shared.iterdir()) == []


async def test_the_default_checkpoint_dir_is_private_and_outside_the_work_dir(work, tmp_path):
    checkpointer = GitCheckpointer(str(work), enabled=True)
    assert (await checkpointer.checkpoint("s", "c")).committed
    git_dir = Path(checkpointer.git_dir)
    assert git_dir.is_relative_to(tmp_path / "state" / "tinycode" / "checkpoints")
    assert stat.S_IMODE(git_dir.parent.stat().st_mode) == 0o700
    assert not (git_dir / "hooks").exists()
    assert GitCheckpointer(str(work) + "/").git_dir == checkpointer.git_dir  # one repository per work dir


# --- restore never writes outside the work dir ------------------------------------------------
async def test_restore_through_a_directory_swapped_for_a_symlink_stays_in_the_work_dir(work, tmp_path):
    (work / "out").mkdir()
    (work / "out" / "result.txt").write_text("agent result\n")
    checkpointer = GitCheckpointer(str(work), enabled=True)
    first = await checkpointer.checkpoint("first", "c")
    outside = tmp_path / "host-dir"
    outside.mkdir()
    (work / "out" / "result.txt").unlink()
    (work / "out").rmdir()
    (work / "out").symlink_to(outside)
    result = await checkpointer.restore(first.commit)
    assert result.committed, result
    assert list(outside.iterdir()) == []
    assert not (work / "out").is_symlink() and (work / "out" / "result.txt").read_text() == "agent result\n"


async def test_a_symlink_to_a_host_file_is_stored_as_a_link_not_its_content(work, tmp_path):
    secret = tmp_path / "host-secret.txt"
    secret.write_text("host secret\n")
    (work / "link").symlink_to(secret)
    checkpointer = GitCheckpointer(str(work), enabled=True)
    first = await checkpointer.checkpoint("first", "c")
    assert private_git(checkpointer, "cat-file", "-p", "HEAD:link") == str(secret)
    assert "host secret" not in subprocess.run(["git", f"--git-dir={checkpointer.git_dir}", "log", "-p", "--all"],
                                              capture_output=True, text=True, check=True).stdout  # fmt: skip
    (work / "link").unlink()
    await checkpointer.checkpoint("second", "c")
    await checkpointer.restore(first.commit)
    assert (work / "link").is_symlink() and os.readlink(work / "link") == str(secret)


async def test_restore_refuses_what_is_not_a_commit_id(work):
    checkpointer = GitCheckpointer(str(work), enabled=True)
    await checkpointer.checkpoint("first", "c")
    for bad in ("--output=/tmp/x", "HEAD~1; touch x", "", "main"):
        result = await checkpointer.restore(bad)
        assert not result.committed and "not a checkpoint" in result.note


# --- end to end: the sandbox writes the payloads itself ---------------------------------------
SANDBOX_PAYLOAD = r"""set -e
markers=$1; shift
git init -q .
for hook in "$@"; do printf '#!/bin/sh\ntouch %s/%s\n' "$markers" "$hook" > .git/hooks/$hook; chmod +x .git/hooks/$hook; done
printf '#!/bin/sh\ntouch %s/fsmonitor\n' "$markers" > .git/fsmon.sh && chmod +x .git/fsmon.sh
printf '[core]\n\tfsmonitor = %s/.git/fsmon.sh\n[filter "evil"]\n\tclean = touch %s/clean; cat\n' "$PWD" "$markers" >> .git/config
printf '* filter=evil\n' > .gitattributes
mkdir sub && git -C sub init -q && git -C sub -c user.name=u -c user.email=u@x commit -q --allow-empty -m x
cp .git/config sub/.git/config
echo made > result.txt
"""


@pytest.mark.bwrap
@pytest.mark.timeout(90)
async def test_payloads_written_by_sandboxed_code_never_run_on_the_host(work, host):
    require_tool("bwrap", "the local provider's sandbox")
    from tinycode_jupyter import TinyCodeAgent
    from tinycode_jupyter.testing import ScriptedLLM, call, say

    command = shlex.join(["sh", "payload.sh", str(host), *HOOKS])
    llm = ScriptedLLM([call("write_file", {"file_path": "payload.sh", "content": SANDBOX_PAYLOAD}),
                       call("bash", {"command": command}), call("write_file", {"file_path": "b.txt", "content": "b"}),
                       say("done")])  # fmt: skip
    async with TinyCodeAgent(llm=llm, provider="local", default_workdir=work, auto_git_checkpoint=True,
                             bypass_shell_safety=True) as agent:  # fmt: skip
        answer = await agent.run("prepare the work dir")
        assert [c.ok for c in answer.record.tool_calls] == [True, True, True], answer.record.tool_calls
        assert fired(host) == []
        assert (work / ".git" / "hooks" / "post-commit").exists() and (work / "result.txt").read_text() == "made\n"
        log = await agent.checkpointer.log()
    assert [c.subject for c in log] == ["tinycode: after write_file", "tinycode: after bash", "tinycode: after write_file"]
    assert private_git(agent.checkpointer, "show", "HEAD:result.txt") == "made\n"
    assert fired(host) == []
    naive_checkpoint(work, env={"PATH": os.environ["PATH"], "HOME": os.environ["HOME"]})
    assert {"fsmonitor", "clean", "post-commit"} <= set(fired(host)), "control: the sandbox's payloads are live"


async def test_gitattributes_cannot_select_a_filter_even_one_the_private_config_defined(work, host):
    checkpointer = GitCheckpointer(str(work), enabled=True)
    assert (await checkpointer.checkpoint("first", "c")).committed
    with open(Path(checkpointer.git_dir) / "config", "a") as config:  # as if a filter had got in there
        config.write(f'[filter "evil"]\n\tclean = {touch(host, "clean")}; cat\n\trequired = true\n')
    (work / ".gitattributes").write_text("* filter=evil\n")
    (work / "data.txt").write_text("v2\n")
    assert (await checkpointer.checkpoint("second", "c")).committed
    assert fired(host) == []
    assert private_git(checkpointer, "show", "HEAD:data.txt") == "v2\n"
