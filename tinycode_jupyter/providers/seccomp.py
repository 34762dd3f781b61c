"""The seccomp filter of the ``local`` sandbox: a classic BPF program for bwrap's ``--seccomp FD``.

Namespaces and an unprivileged uid already stop most of what is listed here;
the filter is a second wall that does not depend on kernel knobs
(``perf_event_paranoid``, ``unprivileged_userfaultfd``, Yama) or on the host
user. It fails these calls with ``EPERM``:

- the kernel keyring (``keyctl``, ``add_key``, ``request_key``);
- reaching into other processes (``ptrace``, ``process_vm_readv``/``writev``, ``pidfd_getfd``);
- ``io_uring`` (its requests bypass seccomp, e.g. an ``openat`` with any mode);
- kernel modules, ``kexec``, ``bpf``, ``perf_event_open``, ``userfaultfd``, ``open_by_handle_at``;
- mounts and new namespaces (``mount``, ``umount2``, ``pivot_root``, the new mount API,
  ``unshare``, ``setns``, ``clone`` with a ``CLONE_NEW*`` flag);
- ``personality`` other than a query or the default;
- set-user-ID and set-group-ID bits: ``chmod``/``fchmod``/``fchmodat``/``fchmodat2``, creating
  files (``open``/``openat``/``creat`` with ``O_CREAT`` or ``O_TMPFILE``), directories and nodes
  (``mkdir``/``mknod``) with ``S_ISUID`` or ``S_ISGID`` in the mode. When the host runs as root,
  files the sandbox creates belong to host root, so such a bit would make a root set-uid file.

``clone3`` and ``openat2`` take their arguments behind a pointer that a filter
cannot read, so they fail with ``ENOSYS`` and libc falls back to ``clone`` and
``openat``. A call from another ABI (i386 ``int 0x80``, x32) kills the process
or fails with ``ENOSYS``: their numbers differ and would slip past the table.
"""
from __future__ import annotations

import contextlib
import functools
import os
import platform
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import SandboxUnavailableError

EPERM, ENOSYS = 1, 38
_RET_KILL_PROCESS, _RET_ERRNO, _RET_ALLOW = 0x80000000, 0x00050000, 0x7FFF0000
_LD_W_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ/JGE/JSET|K, BPF_RET|K
_NR, _ARCH, _ARGS = 0, 4, 16  # offsets in struct seccomp_data; the low 32 bits of args[i] are at 16 + 8 * i

SETID_BITS = 0o6000  # S_ISUID | S_ISGID
_CREATES = 0o100 | 0o20000000  # O_CREAT | __O_TMPFILE (the same on x86_64 and aarch64)
_NEW_NAMESPACES = 0x7E020000  # CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
_PERSONALITY_OK = (0, 0xFFFFFFFF)  # PER_LINUX, and the query

DENIED = (
    "keyctl", "add_key", "request_key",
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "bpf", "perf_event_open", "userfaultfd", "open_by_handle_at",
    "mount", "umount2", "pivot_root", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "open_tree",
    "mount_setattr", "unshare", "setns",
)  # fmt: skip
UNREADABLE_ARGUMENTS = ("clone3", "openat2")
DENIED_WHEN = {
    # syscall: ((argument index, bits), ...): EPERM when every listed argument has one of its bits set
    "chmod": ((1, SETID_BITS),),
    "fchmod": ((1, SETID_BITS),),
    "fchmodat": ((2, SETID_BITS),),
    "fchmodat2": ((2, SETID_BITS),),
    "creat": ((1, SETID_BITS),),
    "open": ((1, _CREATES), (2, SETID_BITS)),
    "openat": ((2, _CREATES), (3, SETID_BITS)),
    "mkdir": ((1, SETID_BITS),),
    "mkdirat": ((2, SETID_BITS),),
    "mknod": ((1, SETID_BITS),),
    "mknodat": ((2, SETID_BITS),),
    "clone": ((0, _NEW_NAMESPACES),),
}


@dataclass(frozen=True, eq=False)
class Arch:
    """One ABI: its ``AUDIT_ARCH_*`` value and syscall numbers (absent: the ABI has no such call)."""

    audit_arch: int
    numbers: dict[str, int]
    foreign_bit: int | None = None
    """Numbers with this bit set belong to another ABI sharing the audit arch (x86_64's x32)."""


# x86_64: arch/x86/entry/syscalls/syscall_64.tbl; aarch64: include/uapi/asm-generic/unistd.h.
_SHARED = {
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428,
    "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "clone3": 435,
    "openat2": 437, "pidfd_getfd": 438, "mount_setattr": 442, "fchmodat2": 452,
}  # fmt: skip
ARCHES = {
    "x86_64": Arch(0xC000003E, {**_SHARED,
        "open": 2, "clone": 56, "creat": 85, "mkdir": 83, "chmod": 90, "fchmod": 91, "ptrace": 101,
        "mknod": 133, "personality": 135, "pivot_root": 155, "mount": 165, "umount2": 166,
        "init_module": 175, "delete_module": 176, "kexec_load": 246, "add_key": 248, "request_key": 249,
        "keyctl": 250, "openat": 257, "mkdirat": 258, "mknodat": 259, "fchmodat": 268, "unshare": 272,
        "perf_event_open": 298, "open_by_handle_at": 304, "setns": 308, "process_vm_readv": 310,
        "process_vm_writev": 311, "finit_module": 313, "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323,
    }, foreign_bit=0x40000000),
    "aarch64": Arch(0xC00000B7, {**_SHARED,
        "mknodat": 33, "mkdirat": 34, "umount2": 39, "mount": 40, "pivot_root": 41, "fchmod": 52,
        "fchmodat": 53, "openat": 56, "personality": 92, "unshare": 97, "kexec_load": 104,
        "init_module": 105, "delete_module": 106, "ptrace": 117, "add_key": 217, "request_key": 218,
        "keyctl": 219, "clone": 220, "perf_event_open": 241, "open_by_handle_at": 265, "setns": 268,
        "process_vm_readv": 270, "process_vm_writev": 271, "finit_module": 273, "bpf": 280,
        "userfaultfd": 282, "kexec_file_load": 294,
    }),
}  # fmt: skip

Instruction = tuple[int, int, int, int]  # code, jump if true, jump if false, k


def host_arch() -> Arch:
    """This machine's ABI, or :class:`SandboxUnavailableError`: the sandbox never runs without its filter."""
    machine = platform.machine()
    arch = ARCHES.get(machine)
    if arch is None or sys.byteorder != "little":
        raise SandboxUnavailableError(
            f"local: the sandbox's seccomp filter knows no syscall table for {machine!r} "
            f"(supported: {', '.join(ARCHES)}); pass provider_config={{'sandbox': False}} to run without isolation"
        )
    return arch


@functools.cache
def program(arch: Arch) -> bytes:
    """The filter as an array of ``struct sock_filter``, ready for ``--seccomp``."""
    code: list[Instruction] = [(_LD_W_ABS, 0, 0, _ARCH), (_JEQ, 1, 0, arch.audit_arch), (_RET, 0, 0, _RET_KILL_PROCESS),
                               (_LD_W_ABS, 0, 0, _NR)]  # fmt: skip
    if arch.foreign_bit is not None:
        code += [(_JGE, 0, 1, arch.foreign_bit), (_RET, 0, 0, _RET_ERRNO | ENOSYS)]
    for names, error in ((DENIED, EPERM), (UNREADABLE_ARGUMENTS, ENOSYS)):
        for name in names:
            code += [(_JEQ, 0, 1, arch.numbers[name]), (_RET, 0, 0, _RET_ERRNO | error)]
    for name, conditions in DENIED_WHEN.items():
        if name in arch.numbers:
            code += _block(arch.numbers[name], _all_bits_set(conditions))
    code += _block(arch.numbers["personality"], _first_argument_in(_PERSONALITY_OK))
    code.append((_RET, 0, 0, _RET_ALLOW))
    return b"".join(struct.pack("=HBBI", *instruction) for instruction in code)


def _block(number: int, body: list[Instruction]) -> list[Instruction]:
    """``body`` runs for syscall ``number`` (and returns); every other syscall skips it."""
    return [(_JEQ, 0, len(body), number), *body]


def _all_bits_set(conditions: tuple[tuple[int, int], ...]) -> list[Instruction]:
    """EPERM when each (argument, bits) pair has a bit set; allow otherwise."""
    body: list[Instruction] = []
    for index, (argument, bits) in enumerate(conditions):
        to_allow = 2 * (len(conditions) - index - 1) + 1
        body += [(_LD_W_ABS, 0, 0, _ARGS + 8 * argument), (_JSET, 0, to_allow, bits)]
    return body + [(_RET, 0, 0, _RET_ERRNO | EPERM), (_RET, 0, 0, _RET_ALLOW)]


def _first_argument_in(allowed: tuple[int, ...]) -> list[Instruction]:
    """Allow when the first argument is one of ``allowed``; EPERM otherwise."""
    body: list[Instruction] = [(_LD_W_ABS, 0, 0, _ARGS)]
    for index, value in enumerate(allowed):
        body.append((_JEQ, len(allowed) - index, 0, value))
    return body + [(_RET, 0, 0, _RET_ERRNO | EPERM), (_RET, 0, 0, _RET_ALLOW)]


@contextlib.contextmanager
def program_fd(arch: Arch) -> Iterator[int]:
    """A pipe's read end holding the program (bwrap reads it to EOF); closed on exit."""
    read_end, write_end = os.pipe()
    try:
        try:
            os.write(write_end, program(arch))  # far below a pipe's capacity: never blocks
        finally:
            os.close(write_end)
        yield read_end
    finally:
        os.close(read_end)
