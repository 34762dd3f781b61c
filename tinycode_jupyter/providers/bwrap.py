"""The bubblewrap command line of the ``local`` sandbox.

Every path travels as its own argv element; nothing is ever formatted into a
shell string. The sandbox sees read-only system directories, an allowlist of
``/etc`` entries (not ``/etc/shadow``: when the host runs as root the sandbox
user maps to root, so file permissions alone would not hide it), a private
``/tmp``, its own ``/proc`` and ``/dev``, the work directory read-write and
whatever extra directories the caller lists. No network, no host processes, and
a seccomp filter (see :mod:`.seccomp`) loaded from a file descriptor.
"""
from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass, field

SANDBOX_UID = 65534
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_ENTRIES = (
    "alternatives", "ca-certificates", "ca-certificates.conf", "debian_version", "fonts", "group",
    "host.conf", "hosts", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "mime.types",
    "nsswitch.conf", "os-release", "passwd", "protocols", "services", "ssl", "timezone",
)  # fmt: skip

# bwrap covers /proc/sys only when that directory is writable, which it never is.
# But when the host runs as root, the sandbox user *is* root outside (uid map),
# and the kernel lets root write sysctls such as kernel.core_pattern and
# /proc/sysrq-trigger on file permissions alone: cover them read-only.
# /proc/keys lists every key whose owner has a uid in the sandbox (host root's, when run as root): hide it.
_PROC_COVERS = (
    "--ro-bind-try", "/proc/sys", "/proc/sys", "--ro-bind-try", "/proc/sysrq-trigger", "/proc/sysrq-trigger",
    "--ro-bind-try", "/dev/null", "/proc/keys", "--ro-bind-try", "/dev/null", "/proc/key-users",
)  # fmt: skip


@dataclass(frozen=True)
class SandboxLayout:
    """What the sandbox can see, besides the system directories."""

    workdir: str
    seccomp_fd: int
    """A readable file descriptor holding the seccomp program (passed to bwrap)."""
    read_dirs: tuple[str, ...] = ()
    write_dirs: tuple[str, ...] = ()
    read_only_inside: tuple[str, ...] = ()
    """Host paths under the writable directories that stay read-only (bound again, last)."""
    files: tuple[tuple[str, str], ...] = ()
    """(host path, sandbox path) pairs bound read-only, e.g. the worker script."""
    symlinks: tuple[tuple[str, str], ...] = ()
    """(link, target) pairs recreated inside, unless the link is already visible through a bind."""
    tmp_size_bytes: int = 512 << 20
    extra_options: tuple[str, ...] = field(default=())
    """Options placed just before the command, e.g. ``--info-fd``."""


def bwrap_argv(bwrap: str, layout: SandboxLayout, command: list[str]) -> list[str]:
    """The full argv that runs ``command`` inside the sandbox described by ``layout``."""
    argv = [bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"]
    argv += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", "sandbox"]
    if supports_disable_userns(bwrap):
        argv.append("--disable-userns")  # no nested user namespaces: less kernel surface
    argv += _system_mounts()
    argv += ["--proc", "/proc", *_PROC_COVERS, "--dev", "/dev"]
    for tmpfs in ("/tmp", "/dev/shm"):
        argv += ["--size", str(layout.tmp_size_bytes), "--tmpfs", tmpfs]
    argv += ["--bind", layout.workdir, layout.workdir]
    for path in layout.read_dirs:
        argv += ["--ro-bind", path, path]
    for path in layout.write_dirs:
        argv += ["--bind", path, path]
    for path in layout.read_only_inside:
        argv += ["--ro-bind-try", path, path]
    for source, target in layout.files:
        argv += ["--ro-bind", source, target]
    bound = (*SYSTEM_DIRS, layout.workdir, *layout.read_dirs, *layout.write_dirs)
    for link, target in layout.symlinks:
        if not any(is_within(link, directory) for directory in bound):
            argv += ["--symlink", target, link]
    argv += ["--remount-ro", "/"]  # the sandbox's own root (/etc, /opt, mount points) is read-only too
    argv += ["--seccomp", str(layout.seccomp_fd), "--chdir", layout.workdir, *layout.extra_options, "--", *command]
    return argv


def is_within(path: str, directory: str) -> bool:
    """``path`` is ``directory`` or below it (both absolute and normalised)."""
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _system_mounts() -> list[str]:
    argv: list[str] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    for entry in ETC_ENTRIES:
        argv += ["--ro-bind-try", f"/etc/{entry}", f"/etc/{entry}"]
    return argv


@functools.lru_cache(maxsize=None)
def supports_disable_userns(bwrap: str) -> bool:
    """``--disable-userns`` exists from bubblewrap 0.8."""
    usage = subprocess.run([bwrap, "--help"], capture_output=True, text=True, check=False)
    return "--disable-userns" in usage.stdout
