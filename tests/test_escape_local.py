"""Attacks on the ``local`` bubblewrap sandbox. Each must fail inside, and leave the host intact."""
from __future__ import annotations

import builtins
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from _require import require_tool
from provider_params import started_local_providers

from tinycode_jupyter.errors import ProviderError
from tinycode_jupyter.providers.local import LocalProvider

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(60)]

SECRET = f"sk-escape-test-{uuid.uuid4().hex}"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
async def make_sandbox(workdir):
    """Start a sandboxed provider with the given provider_config; all are closed afterwards."""
    require_tool("bwrap", "the local provider's sandbox")
    async with started_local_providers(workdir) as make:
        yield make


@pytest.fixture
async def sandbox(make_sandbox):
    return await make_sandbox()


@pytest.fixture
def home_secret():
    """A secret file in the host user's home directory, removed afterwards."""
    path = Path.home() / f".tinycode-escape-{uuid.uuid4().hex}"
    path.write_text(SECRET)
    yield path
    path.unlink()


async def python_ok(provider: LocalProvider, code: str, timeout: float = 20) -> str:
    result = await provider.run_python(code, timeout=timeout)
    assert result.ok, result
    return result.stdout


def failures(paths: list[str], mode: str) -> str:
    """Code that opens each path with ``mode`` (writing a byte, or reading) and prints what happened."""
    action = "f.write('x')" if "w" in mode else "print(f.read())"
    return (
        f"for p in {paths!r}:\n"
        f"    try:\n        with open(p, {mode!r}) as f:\n            {action}\n        print('SUCCEEDED', p)\n"
        f"    except OSError as exc:\n        print('failed', type(exc).__name__)\n"
    )


# --- the filesystem -------------------------------------------------------------------------
async def test_system_and_interpreter_dirs_are_read_only(sandbox):
    targets = [f"{d}/pwned-{uuid.uuid4().hex}" for d in ("/etc", "/usr", "/usr/local/bin", sys.prefix, sys.base_prefix)]
    out = await python_ok(sandbox, failures(targets, "w"))
    assert "SUCCEEDED" not in out and out.count("failed") == len(targets)
    assert not any(os.path.exists(t) for t in targets)


async def test_tmp_is_private(sandbox):
    name = f"/tmp/tinycode-escape-{uuid.uuid4().hex}"
    out = await python_ok(sandbox, f"open({name!r}, 'w').write('inside')\nprint(open({name!r}).read())")
    assert out == "inside\n"
    assert not os.path.exists(name)


async def test_cannot_write_next_to_the_workdir(sandbox, workdir):
    outside = workdir.parent / "outside.txt"
    outside.write_text("host content")
    await sandbox.run_python(f"open({str(outside)!r}, 'w').write('pwned')")
    await sandbox.run_shell(f"echo pwned > {outside.parent}/new-file.txt")
    assert outside.read_text() == "host content"
    assert not (workdir.parent / "new-file.txt").exists()


async def test_cannot_read_shadow_or_other_host_secrets(sandbox):
    if not os.path.exists("/etc/shadow"):
        pytest.skip("this host has no /etc/shadow")
    out = await python_ok(sandbox, failures(["/etc/shadow", "/etc/sudoers", "/etc/gshadow"], "r"))
    assert "SUCCEEDED" not in out


async def test_cannot_read_the_home_directory(sandbox, home_secret):
    code = failures([str(home_secret)], "r") + f"print(os.path.isdir({str(Path.home())!r}) and os.listdir({str(Path.home())!r}))"
    out = await python_ok(sandbox, "import os\n" + code)
    assert SECRET not in out and "SUCCEEDED" not in out
    assert home_secret.name not in out.splitlines()[-1]
    shell = await sandbox.run_shell(f"cat {home_secret}; ls -a {Path.home()}")
    assert SECRET not in shell.stdout and home_secret.name not in shell.stdout


async def test_symlink_to_a_host_file_does_not_reach_it(sandbox, home_secret):
    code = f"import os\nos.symlink({str(home_secret)!r}, 'link_home')\nos.symlink('/etc/shadow', 'link_shadow')\n"
    out = await python_ok(sandbox, code + failures(["link_home", "link_shadow"], "r"))
    assert SECRET not in out and "SUCCEEDED" not in out
    for link in ("link_home", "link_shadow"):
        with pytest.raises(FileNotFoundError):
            await sandbox.read_file(link)


async def test_writing_through_a_symlink_leaves_the_host_file_alone(sandbox, workdir):
    target = workdir.parent / "host-target.txt"
    target.write_text("original")
    await sandbox.run_python(f"import os\nos.symlink({str(target)!r}, 'out')\nopen('out', 'w').write('pwned')")
    await sandbox.write_file("out", "pwned again")
    await sandbox.run_shell("echo pwned >> out")
    assert target.read_text() == "original"


async def test_extra_dirs_are_mounted_as_asked(make_sandbox, tmp_path):
    readable, writable = tmp_path / "ro", tmp_path / "rw"
    readable.mkdir()
    writable.mkdir()
    (readable / "data.txt").write_text("shared data")
    provider = await make_sandbox(additional_read_dirs=[str(readable)], additional_write_dirs=[str(writable)])
    code = f"print(open({str(readable / 'data.txt')!r}).read())\nopen({str(writable / 'out.txt')!r}, 'w').write('written')\n"
    out = await python_ok(provider, code + failures([str(readable / "new.txt")], "w"))
    assert out.startswith("shared data\n") and "failed" in out
    assert (writable / "out.txt").read_text() == "written"
    assert not (readable / "new.txt").exists()


async def test_kernel_settings_cannot_be_changed(sandbox):
    """As root, the sandbox user maps to root outside: sysctls like core_pattern must still be read-only."""
    core_pattern = Path("/proc/sys/kernel/core_pattern").read_text()
    targets = ["/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe", "/proc/sys/vm/drop_caches", "/proc/sysrq-trigger"]
    out = await python_ok(sandbox, "import os\nprint(os.path.exists('/sys/fs/cgroup'))\n" + failures(targets, "w"))
    assert out.startswith("False\n") and "SUCCEEDED" not in out
    shell = await sandbox.run_shell("echo '|/tmp/evil' > /proc/sys/kernel/core_pattern")
    assert shell.exit_code != 0
    assert Path("/proc/sys/kernel/core_pattern").read_text() == core_pattern


# --- the environment and other processes ---------------------------------------------------------
async def test_host_environment_secrets_do_not_reach_the_worker(make_sandbox, monkeypatch, workdir):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    provider = await make_sandbox()
    code = """
        import os
        print(dict(os.environ))
        print(open('/proc/self/environ').read())
        print(open('/proc/1/environ', errors='replace').read())
    """
    out = await python_ok(provider, textwrap.dedent(code))
    assert SECRET not in out and "OPENAI_API_KEY" not in out
    shell = await provider.run_shell("env; cat /proc/*/environ | tr '\\0' '\\n'")
    assert SECRET not in shell.stdout
    assert (await provider.run_python("os.environ['HOME']")).value == repr(str(workdir))


async def test_proc_shows_only_the_sandbox(sandbox):
    code = """
        import os
        for pid in sorted(p for p in os.listdir('/proc') if p.isdigit()):
            print(open(f'/proc/{pid}/cmdline', 'rb').read().split(bytes(1))[0].decode())
    """
    commands = (await python_ok(sandbox, textwrap.dedent(code))).split()
    assert commands == [shutil.which("bwrap"), sandbox.interpreter.executable]  # its init and the worker: no host process


async def test_killing_the_parent_and_pid_1_does_nothing(sandbox):
    before = sandbox.worker_info["pid"]
    await sandbox.run_python("import os, signal\nkept = 1\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(1, signal.SIGKILL)")
    result = await sandbox.run_python("kept")
    assert result.value == "1" and not result.state_lost
    assert sandbox.worker_info["pid"] == before


async def test_killing_every_process_only_kills_the_sandbox(sandbox):
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        await sandbox.run_shell("sleep 60 &")
        code = """
            import os, signal, time
            os.kill(-1, signal.SIGKILL)
            time.sleep(0.2)
            len([p for p in os.listdir('/proc') if p.isdigit()])
        """
        result = await sandbox.run_python(textwrap.dedent(code))
        assert result.value == "2"  # the sandbox's sleep is gone; its init and the worker remain
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


async def test_privileged_syscalls_fail(sandbox):
    code = (
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "print('setuid', libc.setuid(0))\n"
        "print('unshare', libc.unshare(0x10000000))\n"  # CLONE_NEWUSER
        "print('mount', libc.mount(b'none', b'/usr', b'tmpfs', 0, None))\n"
        "print('remount', libc.mount(None, b'/usr', None, 0x20 | 0x1000, None))\n"  # MS_REMOUNT | MS_BIND: make /usr writable
        "for pid in ('self', '1'):\n"
        "    print(*[l.split(':')[1].strip() for l in open(f'/proc/{pid}/status') if l.startswith(('CapEff', 'NoNewPrivs'))])\n"
    )
    lines = (await python_ok(sandbox, code)).splitlines()
    assert lines[:4] == ["setuid -1", "unshare -1", "mount -1", "remount -1"]
    # Every process it can see (itself, bwrap's init) has no capabilities, so ptrace would gain nothing.
    assert lines[4:] == ["0000000000000000 1", "0000000000000000 1"]


async def test_setuid_binaries_do_not_elevate(sandbox):
    result = await sandbox.run_shell("su -c id root; sudo -n id; id -u")
    assert result.stdout.strip().splitlines()[-1] == "65534"
    assert "uid=0" not in result.stdout


async def test_os_system_and_shell_substitution_run_inside(sandbox, workdir):
    marker = f"/etc/pwned-{uuid.uuid4().hex}"
    await sandbox.run_python(f"import os\nos.system('touch {marker}; id -u > uid.txt')")
    assert not os.path.exists(marker)
    assert (workdir / "uid.txt").read_text().strip() == "65534"
    result = await sandbox.run_shell("echo $(id -u) `hostname`; echo $(touch /usr/pwned 2>&1)")
    assert result.stdout.splitlines()[0] == "65534 sandbox"
    assert not os.path.exists("/usr/pwned")


# --- the network -----------------------------------------------------------------------------
async def test_no_connection_to_a_listener_on_the_host(sandbox):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.3)
        port = listener.getsockname()[1]
        code = f"import socket\nprint(socket.if_nameindex())\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)"
        result = await sandbox.run_python(code)
        assert result.error is not None and issubclass(getattr(builtins, result.error.name), OSError)
        assert "'lo'" in result.stdout and "eth" not in result.stdout
        with pytest.raises(socket.timeout):
            listener.accept()


async def test_no_dns(sandbox):
    result = await sandbox.run_python("import socket\nsocket.getaddrinfo('pypi.org', 443)", timeout=20)
    assert result.error is not None and result.error.name == "gaierror"


# --- resource exhaustion ---------------------------------------------------------------------
async def test_fork_bomb_is_contained(make_sandbox):
    provider = await make_sandbox(max_processes=64)
    probe = """
        import os, time
        children = []
        try:
            for _ in range(1000):
                pid = os.fork()
                if pid == 0:
                    time.sleep(30)
                    os._exit(0)
                children.append(pid)
        except OSError as exc:
            print('stopped by', type(exc).__name__)
        for pid in children:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        print(len(children))
    """
    out = await python_ok(provider, textwrap.dedent(probe))
    assert "stopped by BlockingIOError" in out and int(out.split()[-1]) < 64
    # The probe proved the limit holds, so a real fork bomb is safe to run now.
    await provider.run_shell(":(){ :|:& };:", timeout=5)
    count = await provider.run_python("import os, time\ntime.sleep(1)\nlen([p for p in os.listdir('/proc') if p.isdigit()])")
    assert count.ok and int(count.value) <= 64
    assert (await provider.run_python("'still answering'")).value == "'still answering'"


async def test_memory_bombs_raise_memory_error(make_sandbox):
    provider = await make_sandbox(memory_limit_mb=1024)
    await provider.run_python("kept = 'yes'")
    huge = await provider.run_python("block = bytearray(16 * 2**30)")
    assert huge.error is not None and huge.error.name == "MemoryError"
    growth = await provider.run_python("chunks = []\nwhile True:\n    chunks.append(b'x' * (64 * 2**20))")
    assert growth.error is not None and growth.error.name == "MemoryError"
    assert int((await provider.run_python("len(chunks)")).value) < 16
    child = await provider.run_shell("python -c 'x = bytearray(16 * 2**30)'")
    assert child.exit_code == 1 and "MemoryError" in child.stderr
    assert (await provider.run_python("del chunks\nkept")).value == "'yes'"


async def test_infinite_loop_is_interrupted_by_the_timeout(sandbox):
    await sandbox.run_python("kept = 'yes'")
    result = await sandbox.run_python("while True:\n    pass", timeout=0.5)
    assert result.timed_out and not result.state_lost
    assert (await sandbox.run_python("kept")).value == "'yes'"


@pytest.mark.parametrize(
    "stubborn",
    [
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
        "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass",
    ],
    ids=["ignores-sigint", "catches-everything"],
)
async def test_loop_that_refuses_to_stop_is_killed_and_replaced(sandbox, stubborn):
    await sandbox.run_python("kept = 'yes'")
    result = await sandbox.run_python(stubborn, timeout=0.5)
    assert result.timed_out and result.state_lost
    assert "variables" in result.error.value
    after = await sandbox.run_python("kept")
    assert after.error is not None and after.error.name == "NameError"


async def test_cpu_burn_is_killed_by_the_cpu_time_limit(make_sandbox):
    provider = await make_sandbox(cpu_time_limit_s=1)
    result = await provider.run_shell("sh -c 'while :; do :; done'; echo status=$?", timeout=20)
    assert result.stdout.strip() in {"status=152", "status=137"}  # SIGXCPU, or SIGKILL at the hard limit
    assert (await provider.run_python("'worker fine'")).value == "'worker fine'"


async def test_huge_files_are_capped(make_sandbox, workdir):
    provider = await make_sandbox(file_size_limit_mb=1)
    result = await provider.run_python("open('big.bin', 'wb').write(b'x' * (5 * 2**20))")
    assert result.error is not None and "File too large" in result.error.value
    shell = await provider.run_shell("head -c 5000000 /dev/zero > big2.bin")
    assert shell.exit_code != 0
    assert all((workdir / name).stat().st_size <= 2**20 for name in ("big.bin", "big2.bin"))


async def test_fd_exhaustion_is_contained(make_sandbox):
    provider = await make_sandbox(max_open_files=256)
    code = """
        keep = []
        try:
            while True:
                keep.append(open('/dev/null'))
        except OSError as exc:
            print(exc.errno, len(keep))
    """
    errno, count = (await python_ok(provider, textwrap.dedent(code))).split()
    assert errno == "24" and int(count) < 256
    assert (await provider.run_python("len(keep) > 0")).value == "True"
    assert (await provider.run_python("for f in keep: f.close()\n'recovered'")).value == "'recovered'"


async def test_background_processes_die_with_the_sandbox(make_sandbox):
    provider = await make_sandbox()
    await provider.run_shell("sleep 4321 & disown; nohup sleep 4321 >/dev/null 2>&1 &")
    assert _eventually(lambda: _count_processes("sleep 4321") == 2)
    await provider.close()
    assert _eventually(lambda: _count_processes("sleep 4321") == 0)


def _count_processes(cmdline: str) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        try:
            expected = cmdline.replace(" ", "\0").encode() + b"\0"
            count += entry.name.isdigit() and Path(entry.path, "cmdline").read_bytes() == expected
        except OSError:
            continue
    return count


def _eventually(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# --- the protocol and the code itself ------------------------------------------------------------
def write_to_every_fd(payload: str) -> str:
    """Code writing ``payload`` (an expression) to every fd from 3: one is the worker's protocol channel."""
    return textwrap.dedent(f"""
        import os
        for fd in range(3, 256):
            try:
                os.write(fd, {payload})
            except OSError:
                pass
    """)


async def test_crash_in_native_code_is_contained(sandbox):
    result = await sandbox.run_python("import ctypes\nctypes.string_at(0)")
    assert result.state_lost and result.error.name == "WorkerDied" and "SIGSEGV" in result.error.value
    assert (await sandbox.run_python("1 + 1")).value == "2"


async def test_quotes_and_backslashes_travel_verbatim(sandbox, workdir):
    code = (
        "a = '''triple ' single'''\n"
        'b = """triple " double"""\n'
        r"c = '\\back\\slash\\' + '\x01\x7f\u00e9'" "\n"
        "print(a, b, c, sep='|')\n"
        "'''trailing string'''"
    )  # fmt: skip
    result = await sandbox.run_python(code)
    assert result.stdout == "triple ' single|triple \" double|\\back\\slash\\\x01\x7f\u00e9\n"
    assert result.value == "'trailing string'"
    source = 'def f():\n    """A docstring with \'\'\' and \\\\ inside."""\n    return \'\'\'x\'\'\'\n'
    await sandbox.write_file("quoted.py", source)
    assert (workdir / "quoted.py").read_text() == source
    assert (await sandbox.run_python("import quoted\nquoted.f.__doc__")).value == repr("A docstring with ''' and \\ inside.")


async def test_huge_output_is_capped_without_hanging(sandbox):
    code = "import sys\nchunk = 'y' * 1_000_000 + '\\n'\nfor _ in range(50):\n    sys.stdout.write(chunk)"  # 50 MB
    result = await sandbox.run_python(code, timeout=30)
    assert result.ok and len(result.stdout) < 1_100_000 and "truncated" in result.stdout
    shell = await sandbox.run_shell("head -c 50000000 /dev/zero | tr '\\0' z", timeout=30)
    assert len(shell.stdout) < 1_100_000 and "truncated" in shell.stdout


async def test_non_utf8_output_is_replaced(sandbox):
    result = await sandbox.run_python("import os, sys\nos.write(1, b'\\xff\\xfe\\x80 tail\\n')\nos.write(2, b'\\xc3(')")
    assert result.stdout == "\ufffd\ufffd\ufffd tail\n" and result.stderr == "\ufffd("


async def test_garbage_on_the_protocol_channel_restarts_the_worker(sandbox):
    result = await sandbox.run_python(write_to_every_fd("b'garbage, not json\\n'"))
    assert result.state_lost and result.error.name == "WorkerProtocolError"
    assert (await sandbox.run_python("'recovered'")).value == "'recovered'"


async def test_forged_result_is_not_accepted(sandbox):
    forged = b'{"type": "result", "id": 424242, "value": "\'forged\'"}\n'
    result = await sandbox.run_python(write_to_every_fd(repr(forged)) + "'real'")
    assert result.value != "'forged'" and result.error.name == "WorkerProtocolError"


async def test_worker_hijacked_to_send_malformed_replies_cannot_crash_the_host(sandbox, workdir):
    hijack = """
        import gc, _tinycode_worker as w
        worker = next(o for o in gc.get_objects() if isinstance(o, w.Worker))
        send = worker.channel.send
        def forge(message):
            if message.get("type") == "result":
                message = {"id": message["id"], "type": "result", "stdout": ["not", "text"], "displays": 5,
                           "error": "not a dict", "duration": "soon", "value": {"a": 1}, "exit_code": True}
            send(message)
        worker.channel.send = forge
    """
    result = await sandbox.run_python(textwrap.dedent(hijack))
    assert result.stdout == "['not', 'text']" and result.displays == [] and result.error is None
    assert result.value == "{'a': 1}" and result.duration == 0.0
    shell = await sandbox.run_shell("true")
    assert shell.exit_code is None  # a bool is not an exit code
    (workdir / "f.txt").write_text("x")
    with pytest.raises(ProviderError, match="did not describe"):
        await sandbox.read_file("f.txt")


async def test_closing_the_protocol_channel_restarts_the_worker(sandbox):
    result = await sandbox.run_python("import os\nos.closerange(3, 1024)", timeout=10)
    assert result.state_lost and not result.ok
    assert (await sandbox.run_python("'recovered'")).value == "'recovered'"


async def test_oversized_protocol_message_is_refused(make_sandbox):
    provider = await make_sandbox(max_message_bytes=1_000_000)
    result = await provider.run_python(write_to_every_fd("b'[' * 3_000_000"), timeout=10)
    assert result.state_lost and result.error.name == "WorkerProtocolError" and "limit" in result.error.value
    assert (await provider.run_python("'recovered'")).value == "'recovered'"
