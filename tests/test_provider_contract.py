"""The behaviour every execution provider promises, run against each entry of PROVIDER_FACTORIES."""
from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path

import pytest
from provider_params import PROVIDER_FACTORIES

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=PROVIDER_FACTORIES, ids=[name for name, _ in PROVIDER_FACTORIES])
def factory(request):
    return request.param[1]


@pytest.fixture
async def provider(factory, tmp_path):
    provider = factory(tmp_path)
    await provider.start()
    yield provider
    await provider.close()


def descendants(root: int) -> set[int]:
    """Pids of every process below ``root``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


async def test_state_persists_between_steps(provider):
    await provider.run_python("x = 41\ndef gen():\n    yield from range(3)\ng = gen()\nfh = open('state.txt', 'w')")
    await provider.run_python("fh.write('kept'); fh.close(); first = next(g)")
    result = await provider.run_python("(x + 1, first, next(g), open('state.txt').read())")
    assert result.ok, result
    assert result.value == "(42, 0, 1, 'kept')"


async def test_last_expression_value_and_display(provider):
    result = await provider.run_python("display('shown')\nvalue = [1, 2]\nvalue")
    assert result.value == "[1, 2]"
    assert [d.get("text/plain") for d in result.displays] == ["'shown'"]
    assert (await provider.run_python("value = 3")).value is None


async def test_stdout_and_stderr_are_separate(provider):
    result = await provider.run_python("import sys\nprint('to out')\nprint('to err', file=sys.stderr)")
    assert result.stdout == "to out\n"
    assert result.stderr == "to err\n"


async def test_errors_carry_a_traceback(provider):
    result = await provider.run_python("def divide(a):\n    return a / 0\n\ndivide(1)")
    assert not result.ok
    assert result.error.name == "ZeroDivisionError"
    assert "division by zero" in result.error.value
    assert "return a / 0" in result.error.traceback and "divide(1)" in result.error.traceback


async def test_syntax_error_is_reported_not_raised(provider):
    result = await provider.run_python("def broken(:\n    pass")
    assert result.error is not None and result.error.name == "SyntaxError"


async def test_timeout_is_a_result_and_the_next_step_works(provider):
    await provider.run_python("kept = 'still here'")
    started = time.perf_counter()
    result = await provider.run_python("import time\nwhile True:\n    time.sleep(0.01)", timeout=0.5)
    assert result.timed_out and not result.ok
    assert time.perf_counter() - started < 5
    after = await provider.run_python("kept")
    assert after.ok and after.value == "'still here'"


async def test_interrupt_stops_a_running_step(provider):
    if provider.name == "kernel":
        pytest.skip("the in-process kernel provider runs a step on the loop's own thread (as a cell runs on the "
                    "kernel's); it is interrupted by SIGINT — Kernel → Interrupt, tested in test_magics_kernel.py")
    step = asyncio.ensure_future(provider.run_python("import time\ntime.sleep(30)"))
    await asyncio.sleep(0.5)
    await provider.interrupt()
    result = await asyncio.wait_for(step, timeout=10)
    assert result.error is not None and result.error.name == "KeyboardInterrupt"
    assert (await provider.run_python("1 + 1")).value == "2"


async def test_large_output_is_truncated_with_a_marker(provider):
    code = "print('FIRST LINE')\nfor i in range(200_000):\n    print('filler line', i)\nprint('LAST LINE')"
    result = await provider.run_python(code)
    assert result.ok
    assert len(result.stdout) < 3_000_000  # ~4.4 MB were printed
    assert result.stdout.startswith("FIRST LINE")
    assert result.stdout.rstrip().endswith("LAST LINE")
    assert re.search(r"truncated|cut", result.stdout)


async def test_shell_runs_in_the_workdir_with_exit_code(provider, tmp_path):
    result = await provider.run_shell("pwd; echo oops >&2; exit 3")
    assert Path(result.stdout.strip()).resolve() == tmp_path.resolve()
    assert result.stderr == "oops\n"
    assert result.exit_code == 3 and not result.ok


async def test_file_ops_round_trip(provider, tmp_path):
    payload = bytes(range(256)) + b"\xff\xfe not utf-8"
    await provider.write_file("data/blob.bin", payload)
    assert await provider.read_file("data/blob.bin") == payload
    assert (tmp_path / "data" / "blob.bin").read_bytes() == payload

    await provider.write_file(str(tmp_path / "notes.txt"), "alpha\nbeta\n")
    page = await provider.file_op("read_text", path=str(tmp_path / "notes.txt"))
    assert page["lines"] == ["alpha", "beta"] and page["total_lines"] == 2
    await provider.file_op("update_text", path=str(tmp_path / "notes.txt"), old_content="beta", new_content="gamma")
    assert (tmp_path / "notes.txt").read_text() == "alpha\ngamma\n"
    found = await provider.file_op("grep", pattern="gam+a", root=str(tmp_path), output_mode="content")
    assert found["matches"] == [f"{tmp_path / 'notes.txt'}:2:gamma"]
    listed = await provider.list_files("**/*.bin", root=str(tmp_path))
    assert listed["paths"] == [str(tmp_path / "data" / "blob.bin")]

    local = tmp_path.parent / f"{tmp_path.name}-upload.bin"
    local.write_bytes(payload)
    await provider.upload(str(local), "uploaded/copy.bin")
    await provider.download("uploaded/copy.bin", str(local) + ".back")
    assert Path(str(local) + ".back").read_bytes() == payload

    with pytest.raises(FileNotFoundError):
        await provider.read_file(str(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match="expected 1 match"):
        await provider.file_op("update_text", path=str(tmp_path / "notes.txt"), old_content="zzz", new_content="x")


async def test_custom_tools_are_callable_from_code(provider):
    calls = []

    async def handler(name, args):
        calls.append((name, args))
        if name == "explode":
            raise RuntimeError("boom from the host")
        return {"doubled": args["x"] * 2}

    provider.set_tool_handler(["double", "explode"], handler)
    result = await provider.run_python("r = double(x=21)\nr['doubled']")
    assert result.ok and result.value == "42"
    failed = await provider.run_python("explode(x=1)")
    assert failed.error is not None and "boom from the host" in failed.error.value
    assert calls == [("double", {"x": 21}), ("explode", {"x": 1})]


async def test_close_is_idempotent_and_leaves_no_process(factory, tmp_path):
    before = descendants(os.getpid())
    provider = factory(tmp_path)
    await provider.start()
    await provider.run_python("import subprocess\nsubprocess.run(['true'])\n1")
    await provider.run_shell("echo hi")
    await provider.close()
    await provider.close()
    assert not provider.started
    assert descendants(os.getpid()) - before == set()


async def test_async_context_manager(factory, tmp_path):
    async with factory(tmp_path) as provider:
        assert provider.started
        assert (await provider.run_python("6 * 7")).value == "42"
    assert not provider.started
