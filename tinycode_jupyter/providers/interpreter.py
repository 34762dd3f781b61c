"""The Python that runs the ``local`` sandbox's worker, and what of the host it needs to see.

An interpreter is often reached through symlinks: a venv's ``bin/python`` points
at ``~/.local/bin/python3``, which points at the real binary in a uv or pyenv
prefix. The sandbox gets the venv and the real prefix (the first parent of the
real binary holding ``lib/python3.X/os.py``, which is how Python finds it), and
each link of the chain is recreated inside as a symlink. No directory on the way
is bound: not the home directory, and not ``~/.local``, whose
``share/jupyter/runtime`` holds the kernels' connection files and their HMAC
keys. A prefix that holds the home directory or Jupyter's runtime directory is
refused, since the sandbox would see all of it. Nothing here runs the interpreter
on the host.
"""
from __future__ import annotations

import glob
import os
import sys
from dataclasses import dataclass

from ..errors import ConfigurationError
from .bwrap import is_within

_MAX_LINKS = 40  # the kernel's own limit on a chain of symlinks


@dataclass(frozen=True)
class Interpreter:
    """The Python that runs the worker, the directories it needs, and the symlinks that lead to it."""

    executable: str
    prefixes: tuple[str, ...]
    venv: str | None
    links: tuple[tuple[str, str], ...] = ()
    """(link, absolute target) for each hop from ``executable`` (and a venv's base binary) to the real file."""

    @classmethod
    def resolve(cls, path: str | None) -> "Interpreter":
        """The interpreter at ``path`` (a venv directory or an executable; None: this one)."""
        executable = _executable(path)
        prefix = os.path.dirname(os.path.dirname(executable))
        venv = prefix if os.path.isfile(os.path.join(prefix, "pyvenv.cfg")) else None
        base = base_binary(executable, venv)
        prefixes = tuple(dict.fromkeys(p for p in (venv, stdlib_prefix(base)) if p is not None and p != "/"))
        refuse_sensitive_prefixes(prefixes)
        links = tuple(dict.fromkeys(symlink_chain(executable) + symlink_chain(base)))
        return cls(executable, prefixes, venv, links)

    @property
    def bin_dir(self) -> str:
        return os.path.dirname(self.executable)


def _executable(path: str | None) -> str:
    if path is None:
        executable = sys.executable
    elif os.path.isdir(path):
        executable = next((c for c in (os.path.join(path, "bin", n) for n in ("python", "python3")) if os.path.exists(c)), "")
    else:
        executable = path
    executable = os.path.abspath(os.path.expanduser(executable))
    if not (os.path.isfile(executable) and os.access(executable, os.X_OK)):
        raise ConfigurationError(f"provider_config['python_env_path']: no Python executable at {path!r}")
    return executable


def symlink_chain(path: str) -> tuple[tuple[str, str], ...]:
    """Each hop (link, absolute target) from ``path`` to a file that is not a link; targets' directories resolved."""
    links: list[tuple[str, str]] = []
    current = path
    while os.path.islink(current):
        if len(links) == _MAX_LINKS:
            raise ConfigurationError(f"provider_config['python_env_path']: too many symlinks from {path}")
        target = os.path.join(os.path.dirname(current), os.readlink(current))
        target = os.path.join(os.path.realpath(os.path.dirname(target)), os.path.basename(target))
        links.append((current, target))
        current = target
    return tuple(links)


def base_binary(executable: str, venv: str | None) -> str:
    """The binary Python takes as its base: for a venv, the first of ``home/<name>``,
    ``home/python3``, ``home/python3.X`` that exists (as Python's own getpath does)."""
    home = _venv_home(venv) if venv is not None else None
    if home is None:
        return executable
    for name in (os.path.basename(executable), "python3"):
        if os.path.isfile(os.path.join(home, name)):
            return os.path.join(home, name)
    versioned = sorted(glob.glob(os.path.join(glob.escape(home), "python3.*[0-9]")))
    return next((c for c in versioned if os.path.isfile(c)), executable)


def stdlib_prefix(binary: str) -> str:
    """The installation prefix of ``binary``: the first parent of the real file that holds ``lib/python3.*/os.py``."""
    directory = os.path.dirname(os.path.realpath(binary))
    while not glob.glob(os.path.join(glob.escape(directory), "lib", "python3*", "os.py")):
        parent = os.path.dirname(directory)
        if parent == directory:
            raise ConfigurationError(f"provider_config['python_env_path']: no standard library (lib/python3.*/os.py) above {binary}")
        directory = parent
    return directory


def _venv_home(venv: str) -> str | None:
    with open(os.path.join(venv, "pyvenv.cfg"), encoding="utf-8", errors="replace") as config:
        for line in config:
            key, _, value = line.partition("=")
            if key.strip().lower() == "home":
                return value.strip()
    return None


def refuse_sensitive_prefixes(prefixes: tuple[str, ...]) -> None:
    """ConfigurationError when binding a prefix would show the home directory or Jupyter's runtime directory."""
    sensitive = {"your home directory": os.path.expanduser("~"), "Jupyter's runtime directory": jupyter_runtime_dir()}
    for what, path in sensitive.items():
        path = os.path.realpath(path)
        for prefix in prefixes:
            if path != "/" and is_within(path, prefix):
                raise ConfigurationError(
                    f"local: the interpreter's prefix {prefix} holds {what} ({path}): the sandbox would see all of it. "
                    "Use a Python installed in a prefix of its own (a venv, uv, pyenv) as provider_config['python_env_path']"
                )


def jupyter_runtime_dir() -> str:
    """Where Jupyter keeps kernel connection files: jupyter_core's answer when it is loaded (in a kernel), else its rule."""
    paths = sys.modules.get("jupyter_core.paths")
    if paths is not None:
        return str(paths.jupyter_runtime_dir())
    data = os.environ.get("JUPYTER_DATA_DIR") or os.path.join(os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "jupyter")
    return os.environ.get("JUPYTER_RUNTIME_DIR") or os.path.join(data, "runtime")
