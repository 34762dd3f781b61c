"""What the magics say, in a real kernel: one line on ``%load_ext``, ``%agent help``, and a
"did you mean" for a misspelled option, setting or command."""
from __future__ import annotations

import pytest

from tinycode_jupyter import __version__

from kernel_harness import Kernel

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    k = Kernel(cwd=str(tmp_path_factory.mktemp("messages")), env={"TINYCODE_MODEL": "", "TINYCODE_PROVIDER": ""})
    assert k.execute("%load_ext tinycode_jupyter").status == "ok"
    yield k
    k.shutdown()


def usage_error(run) -> str:
    assert run.status == "error" and run.error["ename"] == "UsageError", run.text()
    return run.error["evalue"]


def test_load_ext_says_in_one_line_the_version_the_model_and_the_provider(tmp_path):
    k = Kernel(cwd=str(tmp_path), env={"TINYCODE_MODEL": "openai/gpt-4.1-mini", "TINYCODE_PROVIDER": "local"})
    try:
        run = k.execute("%load_ext tinycode_jupyter")
        assert run.status == "ok"
        assert run.text() == (f"tinycode_jupyter {__version__} · model openai/gpt-4.1-mini · provider local · "
                              "%agent help for options")  # fmt: skip
    finally:
        k.shutdown()


def test_load_ext_without_a_model_says_how_to_set_one(tmp_path):
    k = Kernel(cwd=str(tmp_path), env={"TINYCODE_MODEL": "", "TINYCODE_PROVIDER": ""})
    try:
        run = k.execute("%load_ext tinycode_jupyter")
        assert run.text() == (f"tinycode_jupyter {__version__} · no model set (%agent model=NAME, or TINYCODE_MODEL) · "
                              "provider kernel · %agent help for options")  # fmt: skip
    finally:
        k.shutdown()


def test_agent_help_lists_every_option_and_command(kernel):
    run = kernel.execute("%agent help")
    assert run.status == "ok"
    shown = run.text()
    assert shown.startswith("usage: %%agent [options]")
    for option in ("--model", "--api-base", "--provider", "--max-turns", "--out", "--record", "--replay",
                   "--budget-usd", "--approve", "--rerun", "--answered"):  # fmt: skip
        assert option in shown
    for command in ("%agent reset", "%agent usage", "%agent chat", "%agent export PATH", "%agent help", "%%sandbox NAME"):
        assert command in shown


@pytest.mark.parametrize("cell, message", [
    ("%%agent --modle openai/scripted\nHow many rows?",
     "%%agent: unrecognized arguments: --modle openai/scripted; did you mean `--model`?"),
    ("%%agent --api_base=http://127.0.0.1:9/v1\nHow many rows?",
     "%%agent: unrecognized arguments: --api_base=http://127.0.0.1:9/v1; did you mean `--api-base`?"),
    ("%agent modle=openai/scripted", "; did you mean `model`?"),
    ("%agent hepl", "; did you mean `help`?"),
])  # fmt: skip
def test_a_misspelled_option_setting_or_command_gets_a_did_you_mean(kernel, cell, message):
    shown = usage_error(kernel.execute(cell))
    assert shown.endswith(message) and "\n" not in shown


def test_an_abbreviated_option_is_refused_not_guessed(kernel):
    assert usage_error(kernel.execute("%%agent --mod openai/scripted\nHow many rows?")).startswith(
        "%%agent: unrecognized arguments: --mod openai/scripted")
