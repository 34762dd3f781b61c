"""What the shell gate allows by default, and why some well-known commands are refused.

Default safe commands (``safe_shell_commands`` adds to these; ``"name"`` allows a
command with any arguments, ``"name sub"`` one more subcommand, e.g. ``"pip install"``):

- reading and searching: ``ls cat head tail wc grep egrep fgrep rg find sort uniq cut tr
  nl tac paste column comm cmp diff jq file stat du df tree basename dirname realpath
  readlink which pwd date uname nproc free md5sum sha1sum sha256sum od hexdump seq expr``
- printing and control: ``echo printf true false test [ sleep cd`` and the shell builtins
  ``read exit return break continue shift : wait unset local set export type``
  (``set``/``export`` without arguments print every variable, so those are refused)
- files in the working directory: ``mkdir touch cp mv tee sed awk tar gzip gunzip zcat zip unzip``
  (their write targets must stay inside the working directory or the temp directory)
- running: ``python`` (``python3``, ``python3.11``, …; ``python -c`` code goes through the
  Python checks), and wrappers whose command is checked in turn: ``env timeout nice nohup xargs``
- ``pip`` with read-only subcommands only, ``git`` with local, non-destructive subcommands only.

Not allowed, on purpose: ``rm``/``rmdir``/``shred`` (delete), ``sudo``/``su`` (privileges),
``chmod``/``chown`` (permissions), ``dd``/``mkfs`` (disks), ``curl``/``wget``/``ssh``/``nc``
(network), ``sh``/``bash``/``eval``/``exec``/``source``/``.`` (run code these checks cannot
read), ``kill``, ``ln``, ``whoami``, ``printenv`` and everything else not listed.
"""
from __future__ import annotations

import re

DEFAULT_SAFE_COMMANDS: dict[str, frozenset[str] | None] = {
    **dict.fromkeys(
        "ls cat head tail wc grep egrep fgrep rg find sort uniq cut tr nl tac paste column comm cmp diff jq "
        "file stat du df tree basename dirname realpath readlink which pwd date uname nproc free md5sum "
        "sha1sum sha256sum od hexdump seq expr echo printf true false test [ sleep cd mkdir touch cp mv "
        "tee sed awk tar gzip gunzip zcat zip unzip python env timeout nice nohup xargs "
        "read exit return break continue shift : wait unset local set export type".split()
    ),
    "pip": frozenset({"list", "show", "freeze", "check", "help", "--help", "-h", "--version", "-V"}),
    "git": frozenset({
        "status", "log", "diff", "show", "add", "commit", "init", "rev-parse", "ls-files", "blame", "grep",
        "shortlog", "describe", "branch", "version", "help", "--version",
    }),
}

BLOCKED_REASONS: dict[str, str] = {
    **dict.fromkeys(("rm", "rmdir", "shred", "unlink"), "deletes files"),
    **dict.fromkeys(("sudo", "su", "doas", "pkexec"), "changes user privileges"),
    **dict.fromkeys(("chmod", "chown", "chgrp", "chattr", "setfacl"), "changes file permissions or ownership"),
    **dict.fromkeys(("dd", "mkfs", "fdisk", "parted", "mount", "umount", "wipefs"), "can overwrite disks"),
    **dict.fromkeys(
        ("curl", "wget", "ssh", "scp", "sftp", "rsync", "nc", "ncat", "netcat", "telnet", "ftp", "socat"),
        "uses the network",
    ),
    **dict.fromkeys(
        ("sh", "bash", "zsh", "dash", "ksh", "fish", "csh", "tcsh", "eval", "exec", "source", ".", "perl",
         "ruby", "node", "php", "lua"),
        "runs code that these checks cannot read",
    ),
    **dict.fromkeys(
        ("kill", "pkill", "killall", "reboot", "shutdown", "halt", "poweroff"), "stops processes or the machine"
    ),
    **dict.fromkeys(("env", "printenv", "export", "set"), "prints environment variables, which may hold secrets"),
}

# Interpreters that read their program from standard input when given no script.
INTERPRETERS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "fish", "csh", "tcsh", "python", "perl", "ruby",
                          "node", "php", "lua"})

STANDARD_BIN_DIRS = frozenset({"/bin", "/usr/bin", "/usr/local/bin", "/sbin", "/usr/sbin"})

# Environment variables that make later programs load or run something else.
DANGEROUS_ENV = re.compile(
    r"LD_\w*|DYLD_\w*|GIT_\w*|BASH_ENV|ENV|PATH|IFS|PS4|PROMPT_COMMAND|SHELLOPTS|BASHOPTS|PYTHONSTARTUP|"
    r"PAGER|EDITOR|VISUAL|LESSOPEN|LESSCLOSE|PERL5OPT|NODE_OPTIONS"
)

# Wrappers: the options that take a value, and how many plain arguments precede the command.
WRAPPERS: dict[str, tuple[frozenset[str], int]] = {
    "env": (frozenset({"-u", "--unset", "-C", "--chdir"}), 0),
    "timeout": (frozenset({"-s", "--signal", "-k", "--kill-after"}), 1),
    "nice": (frozenset({"-n", "--adjustment"}), 0),
    "nohup": (frozenset(), 0),
    "xargs": (frozenset({"-I", "-L", "-n", "-P", "-s", "-d", "-E", "-a"}), 0),
}

# Options that make an allowed command run another program or change the system.
FORBIDDEN_OPTIONS: dict[str, tuple[str, ...]] = {
    "tar": ("--to-command", "--checkpoint-action", "--use-compress-program", "-I", "--info-script",
            "--new-volume-script", "-F", "--rsh-command", "--rmt-command"),
    "sort": ("--compress-program",),
    "rg": ("--pre",),
    "date": ("-s", "--set"),
    "find": ("-delete",),
    "env": ("-S", "--split-string"),
}

# git options (before the subcommand) that make it run other programs.
GIT_FORBIDDEN_GLOBALS = ("-c", "--config-env", "--exec-path")
GIT_GLOBALS_WITH_VALUE = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace"})

# Which plain arguments an allowed command writes to: "all", "last" or "first".
WRITE_ARGUMENTS: dict[str, str] = {
    "mv": "all", "touch": "all", "mkdir": "all", "tee": "all", "gzip": "all", "gunzip": "all",
    "cp": "last", "zip": "first",
}

# Options whose value is a path the command writes to.
WRITE_OPTIONS: dict[str, frozenset[str]] = {
    "cp": frozenset({"-t", "--target-directory"}),
    "mv": frozenset({"-t", "--target-directory"}),
    "sort": frozenset({"-o", "--output"}),
    "tar": frozenset({"-C", "--directory"}),
    "unzip": frozenset({"-d"}),
    "find": frozenset({"-fprint", "-fprint0", "-fprintf", "-fls"}),
}

_VERSIONED = re.compile(r"(python|pip)\d*(\.\d+)?")


def canonical_name(name: str) -> str:
    """``python3.11`` -> ``python``, ``pip3`` -> ``pip``; other names unchanged."""
    match = _VERSIONED.fullmatch(name)
    return match.group(1) if match else name
