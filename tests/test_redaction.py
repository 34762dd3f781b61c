"""One redactor: every secret form is masked in a log line, a checkpoint commit message and an exported notebook."""
from __future__ import annotations

import io
import json
import logging
import subprocess
import time

import pytest
from _require import require_tool

import tinycode_jupyter
from tinycode_jupyter.checkpoints import GitCheckpointer
from tinycode_jupyter.logging_setup import disable_debug_logging
from tinycode_jupyter.redaction import redact, redact_notebook

ENV_SECRET = "envsecret-7c1e9a5b3d"
PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU\nAAAAEbm9uZQ==\n-----END OPENSSH PRIVATE KEY-----"

# (form, text as it would appear, the part that must never appear)
SECRETS = [
    ("openai key", "key sk-proj-Zx81HqLmN0pQrStUvWx12", "Zx81HqLmN0pQ"),
    ("anthropic key", "using sk-ant-api03-AbCdEf123456-XyZ", "AbCdEf123456"),
    ("langfuse public key", "public key pk-lf-1234abcd-5678efgh", "1234abcd"),
    ("stripe live secret key", "charge with sk_live_51HxYzAbCdEfGh1234 now", "51HxYzAbCdEfGh1234"),
    ("stripe live publishable key", "pk_live_51HxYzAbCdEfGh5678", "51HxYzAbCdEfGh5678"),
    ("stripe restricted test key", "rk_test_51HxYzAbCdEfGh9012", "51HxYzAbCdEfGh9012"),
    ("aws access key id", "aws AKIAIOSFODNN7EXAMPLE", "IOSFODNN7EXAMPLE"),
    ("github token", "token ghp_0123456789abcdefghijABCDEFGHIJ", "0123456789abcdefghij"),
    ("github fine-grained token", "github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "11ABCDEFG0123456789"),
    ("gitlab token", "glpat-abcdefghij0123456789", "abcdefghij0123456789"),
    ("slack token", "xoxb-123456789012-abcdefghij", "123456789012"),
    ("google api key", "AIzaSyA1234567890abcdefghijklmnopqrstuv", "SyA1234567890abcdef"),
    ("hugging face token", "hf_abcdefghijklmnopqrstuvwxyz0123456789", "abcdefghijklmnopqrstuvwxyz"),
    ("json web token", "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     "eyJzdWIiOiIxMjM0NTY3ODkwIn0"),
    ("bearer header", "Authorization: Bearer abc.DEF-123_ghi", "abc.DEF-123_ghi"),
    ("basic auth header", "Authorization: Basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy"),
    ("x-api-key header", "x-api-key: plainkey31415926535", "plainkey31415926535"),
    ("password in a url", "git clone https://alice:hunter2pass@git.example.com/repo.git", "hunter2pass"),
    ("api_key in a query string", "https://api.example.com/v1?api_key=s3cr3tvalue&q=1", "s3cr3tvalue"),
    ("quoted password in json", '{"user": "bob", "password": "correct horse battery"}', "horse battery"),
    ("api_key argument in code", 'client = Client(api_key="live-key-7f3a9c2e")', "7f3a9c2e"),
    ("shell assignment", "STRIPE_KEY=whsec_abc123def456 make deploy", "whsec_abc123def456"),
    ("token assignment", "GITHUB_TOKEN=abc123xyz ./release.sh", "abc123xyz"),
    ("private key block", PEM, "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU"),
    ("secret environment value", f"connecting with {ENV_SECRET}", ENV_SECRET),
]  # fmt: skip
FORMS = [pytest.param(text, secret, id=form) for form, text, secret in SECRETS]

ORDINARY = [
    "python train.py --epochs 3 --task-key-frames 10 && git commit -m 'risk-free'",
    "prompt_tokens=120 completion_tokens=5 max_tokens=100",
    "basic statistics, the bearer of bad news, and a token of thanks",
    "tokens = tokenizer(text); token = tokens[0]; password = getpass.getpass()",
    'headers = {"Authorization": f"Bearer {token}"}; Client(api_key=api_key); {"token": token}',
    "see https://example.com/docs?page=2 and http://localhost:8888/lab",
    "import sklearn, numpy; a risk-adjusted desk-top; gh repo view; the secret of small functions",
]


@pytest.fixture(autouse=True)
def secret_env(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", ENV_SECRET)


@pytest.mark.parametrize(("text", "secret"), FORMS)
def test_redacted_in_a_log_line(text, secret):
    stream = io.StringIO()
    tinycode_jupyter.enable_debug_logging(stream)
    try:
        logging.getLogger("tinycode_jupyter.anything").debug("request: %s", text)
    finally:
        disable_debug_logging()
    written = stream.getvalue()
    assert "request: " in written and "***" in written
    assert secret not in written


@pytest.mark.parametrize(("text", "secret"), FORMS)
async def test_redacted_in_a_commit_message(text, secret, tmp_path, monkeypatch):
    require_tool("git", "checkpoints commit with the host's git")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    work = tmp_path / "work"
    work.mkdir()
    (work / "out.txt").write_text("1")
    checkpointer = GitCheckpointer(str(work), enabled=True)
    assert (await checkpointer.checkpoint(f"step with {text}", f"run {text}")).committed
    message = subprocess.run(["git", f"--git-dir={checkpointer.git_dir}", "log", "-1", "--format=%B"],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert message.startswith("tinycode: step with") and "***" in message
    assert secret not in message


async def test_redacted_in_an_exported_notebook(tmp_path):
    from tinycode_jupyter import TinyCodeAgent
    from tinycode_jupyter.testing import ScriptedLLM, call, say

    texts = [text for _, text, _ in SECRETS]
    code = "for line in TEXTS:\n    print(line)\nraise ValueError(TEXTS[-1])"
    # the raising step comes last: a failed step that a later step fixed is not exported
    llm = ScriptedLLM([call("run_python", {"code": f"TEXTS = {texts!r}"}), call("bash", {"command": f"echo {texts[0]!r}"}),
                       call("run_python", {"code": code}), say("Done: " + " | ".join(texts))])  # fmt: skip
    async with TinyCodeAgent(llm=llm, provider="kernel", default_workdir=tmp_path) as agent:
        await agent.run("use these: " + " | ".join(texts))
        printed = agent.last_run.tool_calls[2].exec_result
        assert printed is not None and texts[0] in printed.stdout  # the secrets really were in the outputs
        agent.export_notebook(tmp_path / "session.ipynb")
    exported = (tmp_path / "session.ipynb").read_text()
    cells = json.loads(exported)["cells"]
    assert cells[0]["source"].startswith("**Prompt:** use these:") and cells[-1]["source"].startswith("Done:")
    assert any(o.get("output_type") == "error" for c in cells for o in c.get("outputs", []))
    leaked = [form for form, _, secret in SECRETS if secret in exported or json.dumps(secret)[1:-1] in exported]
    assert leaked == []


def test_notebook_images_are_left_alone():
    png = {"image/png": "iVBORw0KGgoAAAANSUhEUgAKIAIOSFODNN7EXAMPLE", "text/plain": "password=hunter22"}
    notebook = {"cells": [{"cell_type": "code", "source": "x", "outputs": [{"output_type": "display_data", "data": png}]}]}
    [output] = redact_notebook(notebook)["cells"][0]["outputs"]
    assert output["data"] == {"image/png": png["image/png"], "text/plain": "password=***"}


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_and_code_are_not_redacted(text):
    assert redact(text) == text


@pytest.mark.parametrize(("text", "secret"), FORMS)
def test_redacting_twice_changes_nothing_more(text, secret):
    once = redact(text)
    assert redact(once) == once


def test_time_stays_linear_on_adversarial_text():
    """Inputs that make a careless pattern backtrack quadratically: 100k characters each."""
    pieces = ["x", "x.", "x-", "'", "\\", "a:", "token ", "token=", "a://b:", "sk-", "eyJ-", "Bearer x.", "A-", "api_key",
              "-----BEGIN PRIVATE KEY-----", " "]  # fmt: skip
    started = time.perf_counter()
    for piece in pieces:
        redact(piece * (100_000 // len(piece)))
    assert time.perf_counter() - started < 20  # linear: well under 1 s here; quadratic: many minutes
