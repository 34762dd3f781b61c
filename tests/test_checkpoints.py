"""Git checkpoints with the real git in temporary repositories."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from _require import require_tool

from tinycode_jupyter.checkpoints import MAX_COMMAND_CHARS, GitCheckpointer, redact_secrets


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch) -> Path:
    """An empty HOME and no system config: the checkpointer must not rely on, or write, any git config."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    for variable in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(variable, raising=False)
    return home


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def repo(tmp_path) -> Path:
    require_tool("git", "checkpoints commit with the host's git")
    path = tmp_path / "project"
    path.mkdir()
    git(path, "init", "-q")
    return path


def commit_count(repo: Path) -> int:
    result = subprocess.run(
        ["git", "rev-list", "--count", "HEAD"], cwd=repo, capture_output=True, text=True, check=False
    )
    return int(result.stdout) if result.returncode == 0 else 0


async def test_a_change_is_committed_with_description_time_and_command(repo):
    (repo / "results.csv").write_text("a,b\n1,2\n")
    result = await GitCheckpointer(str(repo), enabled=True).checkpoint("after bash", "python analysis.py > results.csv")
    assert result.committed and result.note is None
    assert result.commit == git(repo, "rev-parse", "HEAD").strip()
    message = git(repo, "log", "-1", "--format=%B")
    assert message.startswith("tinycode: after bash")
    assert re.search(r"Time: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", message)
    assert "python analysis.py > results.csv" in message
    assert git(repo, "log", "-1", "--format=%an <%ae>").strip() == "TinyCode Agent <tinycode-agent@localhost>"
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["results.csv"]


async def test_nothing_changed_means_no_commit_and_no_note(repo):
    (repo / "a.txt").write_text("1")
    checkpointer = GitCheckpointer(str(repo), enabled=True)
    assert (await checkpointer.checkpoint("first", "echo 1 > a.txt")).committed
    result = await checkpointer.checkpoint("second", "ls")
    assert (result.committed, result.commit, result.note) == (False, None, None)
    assert commit_count(repo) == 1


async def test_edits_and_deletions_are_committed(repo):
    (repo / "keep.txt").write_text("v1")
    (repo / "gone.txt").write_text("bye")
    checkpointer = GitCheckpointer(str(repo), enabled=True)
    await checkpointer.checkpoint("create", "write files")
    (repo / "keep.txt").write_text("v2")
    (repo / "gone.txt").unlink()
    assert (await checkpointer.checkpoint("edit", "edit files")).committed
    assert git(repo, "show", "HEAD:keep.txt") == "v2"
    assert git(repo, "ls-files").split() == ["keep.txt"]


async def test_disabled_checkpointer_does_nothing(repo):
    (repo / "a.txt").write_text("1")
    result = await GitCheckpointer(str(repo), enabled=False).checkpoint("step", "cmd")
    assert not result.committed and commit_count(repo) == 0


async def test_a_directory_that_is_not_a_repository_gets_a_note(tmp_path):
    require_tool("git")
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.txt").write_text("1")
    result = await GitCheckpointer(str(plain), enabled=True).checkpoint("step", "cmd")
    assert not result.committed
    assert "is not a git repository" in result.note and "git init" in result.note


async def test_missing_git_is_a_clear_note(repo, monkeypatch, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    (repo / "a.txt").write_text("1")
    result = await GitCheckpointer(str(repo), enabled=True).checkpoint("step", "cmd")
    assert not result.committed and "git is not installed" in result.note


async def test_secrets_are_redacted_from_the_message(repo):
    (repo / "a.txt").write_text("1")
    command = (
        "OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwx python run.py && "
        'curl -H "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig" '
        "--aws AKIAIOSFODNN7EXAMPLE --gh ghp_abcdefghijklmnopqrstuvwxyz0123456789 --slack xoxb-1234567890-abcdef"
    )
    await GitCheckpointer(str(repo), enabled=True).checkpoint("use key sk-ant-api03-secretsecretsecret", command)
    message = git(repo, "log", "-1", "--format=%B")
    for secret in ("sk-proj-abc", "sk-ant-api03", "eyJhbGci", "AKIAIOSFODNN7EXAMPLE", "ghp_abc", "xoxb-1234"):
        assert secret not in message
    assert message.count("[REDACTED]") >= 6
    assert "python run.py" in message  # the rest of the command is kept


async def test_long_commands_are_truncated(repo):
    (repo / "a.txt").write_text("1")
    await GitCheckpointer(str(repo), enabled=True).checkpoint("long", "echo " + "x" * 5000)
    message = git(repo, "log", "-1", "--format=%B")
    assert len(message) < MAX_COMMAND_CHARS + 400
    assert "more characters]" in message


async def test_no_git_config_or_home_file_is_written(repo, isolated_home):
    config_before = (repo / ".git" / "config").read_bytes()
    (repo / "a.txt").write_text("1")
    assert (await GitCheckpointer(str(repo), enabled=True).checkpoint("step", "cmd")).committed
    assert (repo / ".git" / "config").read_bytes() == config_before
    assert list(isolated_home.iterdir()) == []


async def test_only_changes_under_the_workdir_are_committed(repo):
    (repo / "outside.txt").write_text("user's own work in progress")
    work = repo / "agent"
    work.mkdir()
    (work / "out.txt").write_text("agent output")
    result = await GitCheckpointer(str(work), enabled=True).checkpoint("step", "cmd")
    assert result.committed
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["agent/out.txt"]
    assert "?? outside.txt" in git(repo, "status", "--porcelain")


async def test_the_users_staged_changes_elsewhere_stay_staged(repo):
    (repo / "base.txt").write_text("0")
    git(repo, "add", "base.txt")
    git(repo, "-c", "user.name=u", "-c", "user.email=u@x", "commit", "-qm", "base")
    (repo / "base.txt").write_text("user edit")
    git(repo, "add", "base.txt")
    work = repo / "agent"
    work.mkdir()
    (work / "out.txt").write_text("agent output")
    assert (await GitCheckpointer(str(work), enabled=True).checkpoint("step", "cmd")).committed
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["agent/out.txt"]
    assert git(repo, "diff", "--cached", "--name-only").split() == ["base.txt"]


@pytest.mark.parametrize(("text", "secret"), [
    ("key sk-abcdefghijklmnopqrstu", "sk-abcdefghijklmnopqrstu"),
    ("AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("token ghp_0123456789abcdefghijABCDEFGHIJ", "ghp_0123456789"),
    ("xoxb-123456789012-abcdefghij", "xoxb-1234"),
    ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
    ("GITHUB_TOKEN=abc123 make", "abc123"),
    ("https://x/api?api_key=s3cr3t&q=1", "s3cr3t"),
])
def test_redact_secrets(text, secret):
    redacted = redact_secrets(text)
    assert secret not in redacted and "[REDACTED]" in redacted


def test_ordinary_text_is_not_redacted():
    text = "python train.py --epochs 3 --task-key-frames 10 && git commit -m 'risk-free'"
    assert redact_secrets(text) == text
