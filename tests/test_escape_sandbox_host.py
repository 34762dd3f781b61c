"""Attacks from the ``local`` sandbox on the host: nothing the sandbox writes gains host privileges or runs there.

The host runs as root here and in CI, so the sandbox's files belong to host root: a set-uid bit on one
of them would be a root set-uid file. Each test asserts on the host side (modes of real files, the
kernel's own imports, the keyring) or that the syscall failed with the expected errno inside.
"""
from __future__ import annotations

import ast
import asyncio
import ctypes
import os
import platform
import shutil
import site
import stat
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from _require import require_tool
from kernel_harness import Kernel
from provider_params import started_local_providers

from tinycode_jupyter.errors import ConfigurationError, SandboxUnavailableError
from tinycode_jupyter.providers import seccomp
from tinycode_jupyter.providers.local import Launcher, LocalProvider
from tinycode_jupyter.testing import call, say

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(60)]

# Syscall numbers written down here independently of the filter's own table, so that a wrong
# number in one of them shows up as a failing test instead of hiding.
SYSCALLS = {
    "x86_64": {"keyctl": 250, "add_key": 248, "request_key": 249, "io_uring_setup": 425, "bpf": 321,
               "perf_event_open": 298, "userfaultfd": 323, "process_vm_readv": 310, "kexec_load": 246,
               "finit_module": 313, "fsopen": 430, "open_tree": 428, "pidfd_getfd": 438, "clone": 56,
               "clone3": 435, "openat2": 437, "pivot_root": 155, "setns": 308, "chmod": 90, "fchmodat": 268,
               "fchmodat2": 452, "creat": 85, "openat": 257, "mkdirat": 258, "mknodat": 259, "getpid": 39},
    "aarch64": {"keyctl": 219, "add_key": 217, "request_key": 218, "io_uring_setup": 425, "bpf": 280,
                "perf_event_open": 241, "userfaultfd": 282, "process_vm_readv": 270, "kexec_load": 104,
                "finit_module": 273, "fsopen": 430, "open_tree": 428, "pidfd_getfd": 438, "clone": 220,
                "clone3": 435, "openat2": 437, "pivot_root": 41, "setns": 268, "fchmodat": 53,
                "fchmodat2": 452, "openat": 56, "mkdirat": 34, "mknodat": 33, "getpid": 172},
}  # fmt: skip
NR = SYSCALLS.get(platform.machine(), {})

# Sent once per sandbox; later steps call syscall(nr, ...) with literal numbers.
PROBE = textwrap.dedent('''
    import ctypes, errno, os
    _libc = ctypes.CDLL(None, use_errno=True)
    _libc.syscall.restype = ctypes.c_long
    _pid = os.getpid()

    def _outcome(function, *args):
        """(result, errno name) of a libc call: ints travel as longs, bytes and buffers as pointers."""
        ctypes.set_errno(0)
        result = function(*(ctypes.c_long(a) if isinstance(a, int) else a for a in args))
        if result == 0 and os.getpid() != _pid:
            os._exit(0)  # a clone that should have failed made a child: it leaves at once
        return result, errno.errorcode.get(ctypes.get_errno(), "0")

    def syscall(nr, *args):
        return _outcome(_libc.syscall, nr, *args)

    def libc(name, *args):
        return _outcome(getattr(_libc, name), *args)
''')


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
async def make_sandbox(workdir):
    require_tool("bwrap", "the local provider's sandbox")
    if not NR:
        pytest.skip(f"no syscall table in this test for {platform.machine()}")
    async with started_local_providers(workdir) as make:
        yield make


@pytest.fixture
async def sandbox(make_sandbox):
    provider = await make_sandbox()
    assert (await provider.run_python(PROBE)).ok
    return provider


def setid_files(*roots: Path) -> list[str]:
    """Every file or directory under ``roots`` (on the host) with a set-user-ID or set-group-ID bit."""
    found = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                mode = os.lstat(os.path.join(dirpath, name)).st_mode
                if mode & (stat.S_ISUID | stat.S_ISGID):
                    found.append(f"{os.path.join(dirpath, name)} {stat.filemode(mode)}")
    return found


def setuid_binary() -> str:
    for path in ("/usr/bin/su", "/usr/bin/passwd", "/usr/bin/mount", "/bin/su"):
        if os.path.exists(path) and os.stat(path).st_mode & stat.S_ISUID:
            return path
    pytest.skip("this host has no set-uid binary to copy")


# --- 1. set-id bits never reach a host file ------------------------------------------------------
SETID_ATTACKS = {
    "shell-chmod-4755": ("shell", "cp /bin/sh ./sh && chmod 4755 ./sh; chmod u+s,g+s ./sh; ls -l sh"),
    "os-chmod-6755": ("python", "import os, shutil\nshutil.copy('/bin/sh', 'sh')\nos.chmod('sh', 0o6755)"),
    "fchmod": ("python", "import os\nfd = os.open('f', os.O_CREAT | os.O_WRONLY, 0o755)\nos.fchmod(fd, 0o4755)"),
    "install-m-4755": ("shell", "install -m 4755 /bin/sh ./sh; install -d -m 2775 ./shared; ls -la"),
    "mkdir-setgid": ("python", "import os\nos.mkdir('sgid', 0o2755)\nos.system('mkdir -m 2755 sgid2')"),
    "mknod-setuid-file-and-fifo": ("python", "import os, stat\nos.mknod('node', stat.S_IFREG | 0o4755)\nos.mkfifo('fifo', 0o6755)"),
    "create-with-setuid-mode": ("python", "import os\nos.open('created', os.O_CREAT | os.O_WRONLY, 0o4755)"),
    "tmpfile-then-link": ("python", (
        "import os\nfd = os.open('.', os.O_TMPFILE | os.O_WRONLY, 0o4755)\n"
        "os.link(f'/proc/self/fd/{fd}', 'linked', dst_dir_fd=os.open('.', os.O_RDONLY))"  # a dir fd: linkat follows the link
    )),
    "tar-extract-setuid-member": ("python", textwrap.dedent("""
        import io, os, tarfile
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode='w') as tar:
            member = tarfile.TarInfo('from-tar')
            member.mode, member.size = 0o4755, 2
            tar.addfile(member, io.BytesIO(b'#!'))
        data.seek(0)
        open('setuid.tar', 'wb').write(data.getvalue())
        with tarfile.open('setuid.tar') as tar:
            tar.extractall(filter='fully_trusted') if hasattr(tarfile, 'data_filter') else tar.extractall()
        os.system('mkdir -p shell-tar && tar -xpf setuid.tar -C shell-tar')
    """)),
}  # fmt: skip


@pytest.mark.parametrize("attack", SETID_ATTACKS, ids=list(SETID_ATTACKS))
async def test_sandbox_cannot_make_a_setid_file_on_the_host(make_sandbox, workdir, tmp_path, attack):
    shared = tmp_path / "shared"
    shared.mkdir()
    provider = await make_sandbox(additional_write_dirs=[str(shared)])
    kind, code = SETID_ATTACKS[attack]
    for where in (workdir, shared):
        if kind == "shell":
            await provider.run_shell(code, workdir=str(where))
        else:
            await provider.run_python(f"import os\nos.chdir({str(where)!r})\n" + code)
    assert setid_files(workdir, shared) == []


async def test_copying_a_setuid_binary_keeps_no_setuid_bit(sandbox, workdir):
    binary = setuid_binary()
    await sandbox.run_shell(f"cp -p {binary} ./p; cp --preserve=mode {binary} ./m; cp -a {binary} ./a; ln {binary} ./hard")
    await sandbox.run_python(f"import shutil\nshutil.copy2({binary!r}, 'copy2')\nshutil.copymode({binary!r}, 'copy2')")
    assert setid_files(workdir) == []


async def test_raw_chmod_syscalls_with_setid_bits_fail_with_eperm(sandbox, workdir):
    (workdir / "target").write_text("x")
    calls = [f"syscall({NR['fchmodat']}, -100, b'target', 0o4755)", f"syscall({NR['fchmodat2']}, -100, b'target', 0o2755, 0)",
             f"syscall({NR['openat']}, -100, b'new', 0o100 | 0o1, 0o4755)",
             f"syscall({NR['mkdirat']}, -100, b'dir', 0o2755)", f"syscall({NR['mknodat']}, -100, b'node', 0o100000 | 0o4755, 0)"]  # fmt: skip
    calls += [f"syscall({NR[name]}, b'target2', 0o4755)" for name in ("chmod", "creat") if name in NR]
    result = await sandbox.run_python("[" + ", ".join(calls) + "]")
    assert result.value == repr([(-1, "EPERM")] * len(calls))
    assert setid_files(workdir) == []


async def test_sandbox_cannot_give_a_host_file_capabilities(sandbox, workdir):
    code = textwrap.dedent("""
        import os, shutil, struct
        shutil.copy('/bin/sh', 'capable')
        # VFS_CAP_REVISION_2 with the effective flag, permitting CAP_SETUID (bit 7)
        os.setxattr('capable', 'security.capability', struct.pack('<5I', 0x02000001, 1 << 7, 0, 0, 0))
    """)
    result = await sandbox.run_python(code)
    assert result.error is not None and result.error.name == "PermissionError"
    with pytest.raises(OSError):
        os.getxattr(workdir / "capable", "security.capability")


async def test_os_chmod_with_a_setuid_bit_raises_permission_error(sandbox, workdir):
    result = await sandbox.run_python("import os\nopen('f', 'w').close()\nos.chmod('f', 0o4755)")
    assert result.error is not None and result.error.name == "PermissionError" and "Errno 1]" in result.error.value
    assert stat.S_IMODE((workdir / "f").stat().st_mode) & 0o6000 == 0


async def test_ordinary_modes_threads_and_processes_still_work(sandbox, workdir):
    code = textwrap.dedent("""
        import os, subprocess, threading, multiprocessing
        os.mkdir('d', 0o750)
        fd = os.open('f', os.O_CREAT | os.O_WRONLY, 0o640)
        os.fchmod(fd, 0o755)
        os.chmod('d', 0o1777)  # the sticky bit is not a privilege
        done = []
        thread = threading.Thread(target=done.append, args=(1,))
        thread.start()
        thread.join()
        child = multiprocessing.get_context('fork').Process(target=os._exit, args=(7,))
        child.start()
        child.join()
        [done, child.exitcode, subprocess.run(['sh', '-c', 'install -m 755 /bin/true ./t && ./t && echo ran'],
                                              capture_output=True, text=True).stdout]
    """)
    result = await sandbox.run_python(code)
    assert result.value == "[[1], 7, 'ran\\n']", result
    assert stat.S_IMODE((workdir / "f").stat().st_mode) == 0o755
    assert stat.S_IMODE((workdir / "d").stat().st_mode) == 0o1777


# --- 2. the seccomp filter and the keyring -----------------------------------------------------------
DENIED_CALLS = {
    "keyctl-session-keyring": "syscall({keyctl}, 0, -3, 0)",  # KEYCTL_GET_KEYRING_ID of KEY_SPEC_SESSION_KEYRING
    "add_key": "syscall({add_key}, b'user', b'tinycode-probe', b'v', 1, -3)",
    "request_key": "syscall({request_key}, b'user', b'tinycode-probe', None, 0)",
    "io_uring_setup": "syscall({io_uring_setup}, 1, ctypes.create_string_buffer(120))",
    "bpf": "syscall({bpf}, 0, ctypes.create_string_buffer(128), 128)",  # BPF_MAP_CREATE
    "perf_event_open-self": "syscall({perf_event_open}, perf_attr(), 0, -1, -1, 0)",
    "userfaultfd-user-mode": "syscall({userfaultfd}, 0o2000000 | 1)",  # O_CLOEXEC | UFFD_USER_MODE_ONLY
    "finit_module": "syscall({finit_module}, 0, b'', 0)",
    "kexec_load": "syscall({kexec_load}, 0, 0, None, 0)",
    "mount": "libc('mount', b'none', b'/tmp', b'tmpfs', 0, None)",
    "umount2": "libc('umount2', b'/proc', 2)",
    "pivot_root": "syscall({pivot_root}, b'/tmp', b'/tmp')",
    "fsopen": "syscall({fsopen}, b'tmpfs', 0)",
    "open_tree-clone": "syscall({open_tree}, -100, b'/tmp', 1)",
    "unshare-newuser": "libc('unshare', 0x10000000)",
    "setns": "syscall({setns}, os.open('/proc/self/ns/mnt', os.O_RDONLY), 0)",
    "clone-newuser": "syscall({clone}, 0x10000000 | 17, 0, 0, 0, 0)",  # CLONE_NEWUSER | SIGCHLD
    "personality-no-aslr": "libc('personality', 0x0040000)",
}
PERF_ATTR = textwrap.dedent("""
    import struct
    def perf_attr():
        attr = ctypes.create_string_buffer(128)
        struct.pack_into('IIQ', attr, 0, 1, 128, 0)  # PERF_TYPE_SOFTWARE, size, PERF_COUNT_SW_CPU_CLOCK
        struct.pack_into('Q', attr, 40, 1 | 1 << 5 | 1 << 6)  # disabled, exclude_kernel, exclude_hv
        return attr
""")


@pytest.mark.parametrize("name", DENIED_CALLS, ids=list(DENIED_CALLS))
async def test_dangerous_syscall_fails_with_eperm(sandbox, name):
    await sandbox.run_python(PERF_ATTR)
    result = await sandbox.run_python(DENIED_CALLS[name].format(**NR))
    assert result.ok and result.value == "(-1, 'EPERM')", result


async def test_syscalls_with_unreadable_arguments_fail_with_enosys(sandbox):
    result = await sandbox.run_python(f"[syscall({NR['clone3']}, ctypes.create_string_buffer(88), 88), "
                                      f"syscall({NR['openat2']}, -100, b'/tmp', ctypes.create_string_buffer(24), 24)]")  # fmt: skip
    assert result.value == "[(-1, 'ENOSYS'), (-1, 'ENOSYS')]", result


SIBLING_PROBE = textwrap.dedent("""
    import ctypes, errno, os, sys
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    sibling, process_vm_readv, pidfd_getfd = map(int, sys.argv[1:])

    def report(name, result):
        print(name, result, errno.errorcode.get(ctypes.get_errno(), '0'))

    report('ptrace', libc.ptrace(16, sibling, None, None))  # PTRACE_ATTACH
    buffer = ctypes.create_string_buffer(8)
    local, remote = (ctypes.c_void_p * 2)(ctypes.addressof(buffer), 8), (ctypes.c_void_p * 2)(0x400000, 8)
    report('process_vm_readv', libc.syscall(ctypes.c_long(process_vm_readv), sibling, local, 1, remote, 1, 0))
    report('pidfd_getfd', libc.syscall(ctypes.c_long(pidfd_getfd), os.pidfd_open(sibling), 0, 0))
""")


async def test_sibling_process_cannot_be_traced_or_read(sandbox):
    await sandbox.write_file("sibling_probe.py", SIBLING_PROBE)
    result = await sandbox.run_shell(f"sleep 30 & python sibling_probe.py $! {NR['process_vm_readv']} {NR['pidfd_getfd']}; kill $!")
    assert result.stdout.splitlines() == ["ptrace -1 EPERM", "process_vm_readv -1 EPERM", "pidfd_getfd -1 EPERM"], result


async def test_every_sandbox_process_is_filtered(sandbox):
    shell = await sandbox.run_shell("grep Seccomp: /proc/self/status /proc/1/status")
    assert [line.split()[-1] for line in shell.stdout.splitlines()] == ["2", "2"]  # SECCOMP_MODE_FILTER


I386_GETPID = textwrap.dedent("""
    import ctypes, mmap
    code = bytes([0xB8, 20, 0, 0, 0, 0xCD, 0x80, 0xC3])  # mov eax, 20 (i386 getpid); int 0x80; ret
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(code)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    print('i386 getpid returned', ctypes.CFUNCTYPE(ctypes.c_int)(address)())
""")


async def test_syscalls_of_another_abi_do_not_slip_past_the_filter(sandbox):
    if platform.machine() != "x86_64":
        pytest.skip("the i386 and x32 ABIs exist on x86_64 only")
    await sandbox.write_file("i386_probe.py", I386_GETPID)
    shell = await sandbox.run_shell("python i386_probe.py; echo status=$?")
    assert "returned" not in shell.stdout and "status=159" in shell.stdout  # 128 + SIGSYS: the process is killed
    x32 = await sandbox.run_python(f"syscall({0x40000000 + NR['getpid']})")  # x32's getpid
    assert x32.value == "(-1, 'ENOSYS')"


def add_host_key(description: str, payload: bytes) -> int:
    """A "user" key in the calling thread's session keyring (the test process, on the host)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    serial = libc.syscall(ctypes.c_long(NR["add_key"]), b"user", description.encode(), payload, len(payload), ctypes.c_long(-3))
    if serial < 0:
        pytest.skip(f"the host cannot use its keyring here (errno {ctypes.get_errno()})")
    return serial


async def test_host_keyring_is_out_of_reach(make_sandbox):
    description = f"tinycode-test-{uuid.uuid4().hex}"
    serial = add_host_key(description, b"host secret")
    provider = await make_sandbox()
    await provider.run_python(PROBE)
    read = await provider.run_python(f"buffer = ctypes.create_string_buffer(64)\nsyscall({NR['keyctl']}, 11, {serial}, buffer, 64), buffer.raw")
    assert read.value is not None and "host secret" not in read.value and "(-1, 'EPERM')" in read.value  # KEYCTL_READ
    listed = await provider.run_shell("cat /proc/keys /proc/key-users")
    assert description not in listed.stdout and str(serial) not in listed.stdout


KEY_READER = textwrap.dedent("""
    import ctypes, errno, sys
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    buffer = ctypes.create_string_buffer(64)
    result = libc.syscall(ctypes.c_long(int(sys.argv[1])), ctypes.c_long(11), ctypes.c_long(int(sys.argv[2])), buffer, 64)
    print(buffer.value.decode() if result >= 0 else errno.errorcode[ctypes.get_errno()])  # KEYCTL_READ
""")


async def test_processes_the_launcher_starts_have_a_fresh_session_keyring(tmp_path):
    if not NR:
        pytest.skip(f"no syscall table in this test for {platform.machine()}")
    serial = add_host_key(f"tinycode-test-{uuid.uuid4().hex}", b"host secret")
    reader = [sys.executable, "-c", KEY_READER, str(NR["keyctl"]), str(serial)]
    same_keyring = subprocess.run(reader, capture_output=True, text=True, check=True)
    assert same_keyring.stdout == "host secret\n"  # the control: a child of this thread possesses the key
    launcher = Launcher(seccomp.host_arch())
    try:
        process = await launcher.popen(reader, dict(os.environ), str(tmp_path), ())
        output, _ = await asyncio.to_thread(process.communicate, timeout=30)
    finally:
        launcher.shutdown()
    assert output.decode().strip() in {"EACCES", "ENOKEY"}


def test_unknown_architecture_is_refused_rather_than_run_without_a_filter(tmp_path, monkeypatch):
    require_tool("bwrap", "the local provider's sandbox")
    monkeypatch.setattr(platform, "machine", lambda: "riscv64")
    with pytest.raises(SandboxUnavailableError, match="riscv64"):
        LocalProvider(tmp_path)
    assert LocalProvider(tmp_path, sandbox=False).capabilities.isolated is False  # the explicit opt-out still works


# --- 3. the work dir of a sandbox started from a notebook --------------------------------------------
PLANTED = ("pandas.py", "json.py", "sitecustomize.py", "usercustomize.py", "tinycode_evil.pth")


def planting_code(kernel_cwd: Path, marker: Path) -> str:
    """Sandboxed code that plants importable files in its own dir and, if it can, in the kernel's."""
    body = f"import sys; open({str(marker)!r}, 'a').write('a planted file ran')\n"  # a module, and a .pth line
    return textwrap.dedent(f"""
        for folder in ('.', {str(kernel_cwd)!r}):
            for name in {PLANTED!r}:
                try:
                    with open(folder + '/' + name, 'w') as f:
                        f.write({body!r})
                    print('planted', folder, name)
                except OSError as exc:
                    print('refused', folder, name, exc.errno)
    """)


@pytest.mark.kernel
def test_files_planted_by_a_notebook_sandbox_are_not_imported_by_the_kernel(tmp_path, server):
    require_tool("bwrap", "the local provider's sandbox")
    kernel_cwd, marker = tmp_path / "notebook", tmp_path / "imported-a-planted-file"
    kernel_cwd.mkdir()
    server.add(call("run_python", {"code": planting_code(kernel_cwd, marker)}), say("planted"))
    kernel = Kernel(cwd=str(kernel_cwd))
    try:
        kernel.execute("import os, sys")
        assert kernel.eval("'' in sys.path or os.getcwd() in sys.path") == "True"  # the kernel imports from its cwd
        kernel.execute("%load_ext tinycode_jupyter")
        agent = kernel.execute(f"%%agent --provider local --model openai/scripted --api-base {server.url}\nplant")
        assert agent.status == "ok" and agent.text().count("planted . ") == len(PLANTED), agent.text()
        assert kernel.eval("'pandas' in sys.modules") == "False"
        assert "site-packages" in kernel.eval("__import__('pandas').__file__")
    finally:
        kernel.shutdown()
    fresh = Kernel(cwd=str(kernel_cwd))  # a new kernel in the same folder: sitecustomize, json, .pth act at start
    try:
        assert ast.literal_eval(fresh.eval("__import__('json').__file__")).startswith(sys.base_prefix)
        assert "site-packages" in fresh.eval("__import__('pandas').__file__")
    finally:
        fresh.shutdown()
    assert not marker.exists(), marker.read_text()
    assert not any((kernel_cwd / name).exists() for name in PLANTED)
    assert (kernel_cwd / "tinycode-sandbox" / "pandas.py").exists()  # the sandbox's own work dir, beside the notebook


async def test_host_site_packages_inside_the_workdir_stay_read_only(make_sandbox, workdir, monkeypatch):
    """A .pth file in a site-packages directory runs at every start of the host's Python."""
    site_dir = workdir / ".venv" / "lib" / "python3.11" / "site-packages"
    site_dir.mkdir(parents=True)
    monkeypatch.setattr(site, "getsitepackages", lambda: [str(site_dir)])  # as if the host ran from this venv
    provider = await make_sandbox()
    planted = await provider.run_python(f"open({str(site_dir / 'evil.pth')!r}, 'w').write('import os')")
    assert planted.error is not None and "Read-only file system" in planted.error.value
    assert (await provider.run_python("open('still-writable.txt', 'w').write('ok')")).ok
    assert not (site_dir / "evil.pth").exists() and (workdir / "still-writable.txt").exists()


def test_explicit_workdir_on_the_import_path_is_warned_about(tmp_path, monkeypatch, caplog):
    require_tool("bwrap", "the local provider's sandbox")
    monkeypatch.syspath_prepend(str(tmp_path))
    LocalProvider(tmp_path)
    assert "on this process's import path" in caplog.text


def test_default_workdir_on_the_import_path_is_a_subdirectory_of_its_own(tmp_path, monkeypatch):
    require_tool("bwrap", "the local provider's sandbox")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend("")
    assert LocalProvider().workdir == str(tmp_path / "tinycode-sandbox")
    assert (tmp_path / "tinycode-sandbox").is_dir()


def test_default_workdir_off_the_import_path_stays_the_current_directory(tmp_path, monkeypatch):
    require_tool("bwrap", "the local provider's sandbox")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    assert LocalProvider().workdir == str(tmp_path)


# --- 4. an interpreter reached through symlinks binds only its real prefix --------------------------------
@pytest.fixture
def home_tree(tmp_path: Path) -> Path:
    """A fake home: ``.local/bin/python3`` links to the real interpreter, next to a Jupyter runtime dir with a secret."""
    home = tmp_path / "home"
    (home / ".local" / "bin").mkdir(parents=True)
    runtime = home / ".local" / "share" / "jupyter" / "runtime"
    runtime.mkdir(parents=True)
    (runtime / "kernel-1234.json").write_text('{"key": "hmac-secret"}')
    interpreter = home / ".local" / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    interpreter.symlink_to(os.path.realpath(sys.executable))
    (home / ".local" / "bin" / "python3").symlink_to(interpreter.name)
    return home


def venv_from(home: Path, tmp_path: Path, layout: str) -> str:
    """A venv made by ``python -m venv`` (links or copies) or ``uv venv`` from the symlinked interpreter."""
    python, target = str(home / ".local" / "bin" / "python3"), str(tmp_path / layout)
    if layout == "uv-venv":
        command = [require_tool("uv", "uv venvs"), "venv", "--quiet", "--python", python, target]
    else:
        command = [python, "-m", "venv", "--without-pip", *(["--copies"] if layout == "venv-copies" else []), target]
    subprocess.run(command, check=True, capture_output=True)
    return target


@pytest.mark.parametrize("layout", ["symlinked-executable", "venv", "venv-copies", "uv-venv"])
async def test_symlinked_interpreter_does_not_expose_its_home_tree(workdir, tmp_path, home_tree, layout):
    require_tool("bwrap", "the local provider's sandbox")
    if layout == "symlinked-executable":
        path = str(home_tree / ".local" / "bin" / "python3")
    else:
        path = venv_from(home_tree, tmp_path, layout)
    secret = home_tree / ".local" / "share" / "jupyter" / "runtime" / "kernel-1234.json"
    async with started_local_providers(workdir, python_env_path=path) as make:
        provider = await make()
        result = await provider.run_python(f"import os, sys\nprint(sys.base_prefix, os.path.exists({str(secret)!r}))\n"
                                           f"print(os.listdir({str(home_tree)!r}), open({str(secret)!r}).read())")  # fmt: skip
    assert result.stdout.splitlines()[0] == f"{os.path.realpath(sys.base_prefix)} False"  # the real interpreter runs; no secret
    assert "hmac-secret" not in result.stdout and result.error is not None and result.error.name == "FileNotFoundError"


@pytest.mark.parametrize("sensitive", ["home", "jupyter-runtime"])
def test_interpreter_prefix_holding_the_home_or_jupyter_runtime_dir_is_refused(tmp_path, monkeypatch, sensitive):
    prefix = tmp_path / "prefix"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "lib" / "python3.11").mkdir(parents=True)
    (prefix / "lib" / "python3.11" / "os.py").write_text("")
    shutil.copy("/bin/true", prefix / "bin" / "python3")
    if sensitive == "home":
        monkeypatch.setenv("HOME", str(prefix))
    else:
        monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(prefix / "share" / "jupyter" / "runtime"))
    with pytest.raises(ConfigurationError, match="would see all of it"):
        LocalProvider(tmp_path, python_env_path=str(prefix / "bin" / "python3"))
