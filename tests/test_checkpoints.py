"""Git checkpoints with the real git, in a private repository outside temporary work dirs."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from _require import require_tool

from tinycode_jupyter.checkpoints import MAX_COMMAND_CHARS, GitCheckpointer


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch) -> Path:
    """An empty HOME, a private state dir and no system config: nothing may rely on, or write, any git config."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    for variable in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(variable, raising=False)
    return home


@pytest.fixture
def work(tmp_path) -> Path:
    require_tool("git", "checkpoints commit with the host's git")
    path = tmp_path / "project"
    path.mkdir()
    return path


@pytest.fixture
def checkpointer(work) -> GitCheckpointer:
    return GitCheckpointer(str(work), enabled=True)


def git(checkpointer: GitCheckpointer, *args: str) -> str:
    """Read the checkpoint repository (the documented way: ``git --git-dir=<checkpointer.git_dir>``)."""
    return subprocess.run(["git", f"--git-dir={checkpointer.git_dir}", *args],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip


def user_git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


async def test_a_change_is_committed_with_description_time_and_command(work, checkpointer):
    (work / "results.csv").write_text("a,b\n1,2\n")
    result = await checkpointer.checkpoint("after bash", "python analysis.py > results.csv")
    assert result.committed and result.note is None
    assert result.commit == git(checkpointer, "rev-parse", "HEAD").strip()
    message = git(checkpointer, "log", "-1", "--format=%B")
    assert message.startswith("tinycode: after bash")
    assert re.search(r"Time: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", message)
    assert "python analysis.py > results.csv" in message
    assert git(checkpointer, "log", "-1", "--format=%an <%ae>").strip() == "TinyCode Agent <tinycode-agent@localhost>"
    assert git(checkpointer, "show", "--name-only", "--format=", "HEAD").split() == ["results.csv"]


async def test_a_plain_directory_needs_no_git_init(work, checkpointer):
    (work / "a.txt").write_text("1")
    assert (await checkpointer.checkpoint("step", "cmd")).committed
    assert not (work / ".git").exists()


async def test_nothing_changed_means_no_commit_and_no_note(work, checkpointer):
    (work / "a.txt").write_text("1")
    assert (await checkpointer.checkpoint("first", "echo 1 > a.txt")).committed
    result = await checkpointer.checkpoint("second", "ls")
    assert (result.committed, result.commit, result.note) == (False, None, None)
    assert len(await checkpointer.log()) == 1


async def test_edits_and_deletions_are_committed(work, checkpointer):
    (work / "keep.txt").write_text("v1")
    (work / "gone.txt").write_text("bye")
    await checkpointer.checkpoint("create", "write files")
    (work / "keep.txt").write_text("v2")
    (work / "gone.txt").unlink()
    assert (await checkpointer.checkpoint("edit", "edit files")).committed
    assert git(checkpointer, "show", "HEAD:keep.txt") == "v2"
    assert git(checkpointer, "ls-tree", "--name-only", "HEAD").split() == ["keep.txt"]


async def test_gitignore_in_the_work_dir_is_honoured(work, checkpointer):
    (work / ".gitignore").write_text("__pycache__/\n")
    (work / "__pycache__").mkdir()
    (work / "__pycache__" / "m.pyc").write_bytes(b"\0")
    (work / "m.py").write_text("x = 1\n")
    await checkpointer.checkpoint("step", "cmd")
    assert git(checkpointer, "ls-tree", "-r", "--name-only", "HEAD").split() == [".gitignore", "m.py"]


async def test_files_are_stored_byte_for_byte_whatever_gitattributes_says(work, checkpointer):
    (work / ".gitattributes").write_text("* text eol=crlf ident working-tree-encoding=UTF-16\n")
    content = b"line one\nline two\r\n$Id$\n\xff\xfe not utf-8\n"
    (work / "data.txt").write_bytes(content)
    first = await checkpointer.checkpoint("first", "c")
    (work / "data.txt").write_bytes(b"changed\n")
    await checkpointer.checkpoint("second", "c")
    await checkpointer.restore(first.commit)
    assert (work / "data.txt").read_bytes() == content
    blob = subprocess.run(["git", f"--git-dir={checkpointer.git_dir}", "cat-file", "blob", f"{first.commit}:data.txt"],
                          capture_output=True, check=True).stdout  # fmt: skip
    assert blob == content


async def test_executable_bits_and_symlinks_are_kept(work, checkpointer):
    tool = work / "run.sh"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    (work / "link").symlink_to("run.sh")
    await checkpointer.checkpoint("step", "cmd")
    modes = {line.split()[3]: line.split()[0] for line in git(checkpointer, "ls-tree", "HEAD").splitlines()}
    assert modes == {"link": "120000", "run.sh": "100755"}


async def test_special_files_are_skipped_not_waited_on(work, checkpointer):
    os.mkfifo(work / "pipe")
    (work / "a.txt").write_text("1")
    assert (await checkpointer.checkpoint("step", "cmd")).committed
    assert git(checkpointer, "ls-tree", "--name-only", "HEAD").split() == ["a.txt"]


async def test_disabled_checkpointer_does_nothing(work):
    (work / "a.txt").write_text("1")
    checkpointer = GitCheckpointer(str(work), enabled=False)
    result = await checkpointer.checkpoint("step", "cmd")
    assert not result.committed and not os.path.exists(checkpointer.checkpoint_dir)


async def test_a_missing_work_dir_gets_a_note(tmp_path):
    require_tool("git")
    result = await GitCheckpointer(str(tmp_path / "nowhere"), enabled=True).checkpoint("step", "cmd")
    assert not result.committed and "does not exist" in result.note


async def test_a_checkpoint_dir_that_cannot_be_made_is_a_note(work, tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("not a directory")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "a-file" / "state"))
    (work / "a.txt").write_text("1")
    result = await GitCheckpointer(str(work), enabled=True).checkpoint("step", "cmd")
    assert not result.committed and "could not be set up" in result.note


async def test_missing_git_is_a_clear_note(work, monkeypatch, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    (work / "a.txt").write_text("1")
    result = await GitCheckpointer(str(work), enabled=True).checkpoint("step", "cmd")
    assert not result.committed and "git is not installed" in result.note


async def test_secrets_are_redacted_from_the_message(work, checkpointer):
    (work / "a.txt").write_text("1")
    command = (
        "OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwx python run.py && "
        'curl -H "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig" '
        "--aws AKIAIOSFODNN7EXAMPLE --gh ghp_abcdefghijklmnopqrstuvwxyz0123456789 --slack xoxb-1234567890-abcdef"
    )
    await checkpointer.checkpoint("use key sk-ant-api03-secretsecretsecret", command)
    message = git(checkpointer, "log", "-1", "--format=%B")
    for secret in ("sk-proj-abc", "sk-ant-api03", "eyJhbGci", "AKIAIOSFODNN7EXAMPLE", "ghp_abc", "xoxb-1234"):
        assert secret not in message
    assert message.count("***") >= 6
    assert "python run.py" in message  # the rest of the command is kept


async def test_long_commands_are_truncated(work, checkpointer):
    (work / "a.txt").write_text("1")
    await checkpointer.checkpoint("long", "echo " + "x" * 5000)
    message = git(checkpointer, "log", "-1", "--format=%B")
    assert len(message) < MAX_COMMAND_CHARS + 400
    assert "more characters]" in message


async def test_the_users_own_repository_is_left_untouched(work, checkpointer, isolated_home):
    user_git(work, "init", "-q")
    (work / "base.txt").write_text("0")
    user_git(work, "add", "base.txt")
    user_git(work, "-c", "user.name=u", "-c", "user.email=u@x", "commit", "-qm", "base")
    (work / "base.txt").write_text("user edit")
    user_git(work, "add", "base.txt")
    before = {name: (work / ".git" / name).read_bytes() for name in ("config", "index", "HEAD")}
    (work / "out.txt").write_text("agent output")
    assert (await checkpointer.checkpoint("step", "cmd")).committed
    assert {name: (work / ".git" / name).read_bytes() for name in before} == before
    assert user_git(work, "log", "--format=%s").split() == ["base"]
    assert user_git(work, "diff", "--cached", "--name-only").split() == ["base.txt"]  # still staged
    assert git(checkpointer, "ls-tree", "--name-only", "HEAD").split() == ["base.txt", "out.txt"]  # never .git
    assert list(isolated_home.iterdir()) == []


async def test_log_lists_the_checkpoints_newest_first(work, checkpointer):
    assert await checkpointer.log() == []
    for step in ("one", "two"):
        (work / f"{step}.txt").write_text(step)
        await checkpointer.checkpoint(f"after {step}", f"write {step}")
    entries = await checkpointer.log()
    assert [c.subject for c in entries] == ["tinycode: after two", "tinycode: after one"]
    assert entries[0].commit == git(checkpointer, "rev-parse", "HEAD").strip()
    assert "Command:\nwrite two" in entries[0].message and re.match(r"\d{4}-\d\d-\d\dT", entries[0].time)


async def test_restore_brings_back_edits_and_deletions_and_removes_new_files(work, checkpointer):
    (work / "keep.txt").write_text("v1")
    (work / "gone.txt").write_text("bye")
    first = await checkpointer.checkpoint("first", "c")
    (work / "keep.txt").write_text("v2")
    (work / "gone.txt").unlink()
    (work / "new.txt").write_text("made after, never checkpointed")
    result = await checkpointer.restore(first.commit)
    assert result.committed
    assert sorted(p.name for p in work.iterdir()) == ["gone.txt", "keep.txt"]
    assert (work / "keep.txt").read_text() == "v1" and (work / "gone.txt").read_text() == "bye"
    subjects = [c.subject for c in await checkpointer.log()]
    assert subjects == [f"tinycode: restored {first.commit[:12]}", f"tinycode: before restoring {first.commit[:12]}",
                        "tinycode: first"]  # fmt: skip
    undo = (await checkpointer.log())[1]
    await checkpointer.restore(undo.commit)  # the restore itself can be undone
    assert (work / "new.txt").read_text() == "made after, never checkpointed"


async def test_restore_of_an_unknown_commit_is_a_note(work, checkpointer):
    (work / "a.txt").write_text("1")
    await checkpointer.checkpoint("first", "c")
    result = await checkpointer.restore("0" * 40)
    assert not result.committed and "is not a checkpoint" in result.note
    assert (work / "a.txt").read_text() == "1"


async def test_ignored_files_survive_a_restore(work, checkpointer):
    (work / ".gitignore").write_text("cache/\n")
    (work / "a.txt").write_text("1")
    first = await checkpointer.checkpoint("first", "c")
    (work / "cache").mkdir()
    (work / "cache" / "big.bin").write_bytes(b"x")
    (work / "a.txt").write_text("2")
    await checkpointer.restore(first.commit)
    assert (work / "a.txt").read_text() == "1" and (work / "cache" / "big.bin").exists()
