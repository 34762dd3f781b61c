"""Best-effort cgroup limits on the number of processes and memory of one sandbox.

When the host runs as root, bubblewrap maps the sandbox user to the real root
user, and the kernel never enforces RLIMIT_NPROC for root: a fork bomb would
not be stopped by rlimits. A ``pids`` cgroup stops it. This module creates a
child of the host process's own cgroup (v1 ``pids``/``memory`` controllers or
a v2 group), which needs write access to the cgroup tree, so in practice root.
Where that is impossible it returns ``None`` and the caller relies on rlimits.
"""
from __future__ import annotations

import itertools
import logging
import os
import time
from pathlib import Path

logger = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
_names = itertools.count(1)


class SandboxCgroup:
    """One sandbox's cgroup directories (one per v1 controller, or a single v2 group)."""

    def __init__(self, dirs: list[Path]) -> None:
        self.dirs = dirs

    @classmethod
    def create(cls, max_processes: int | None, memory_bytes: int | None) -> "SandboxCgroup | None":
        """A new cgroup with the given limits, or None when cgroups cannot be used here."""
        if os.geteuid() != 0 or (max_processes is None and memory_bytes is None):
            return None
        name = f"tinycode-{os.getpid()}-{next(_names)}"
        own = _own_cgroups()
        if (CGROUP_ROOT / "cgroup.controllers").exists():
            wanted = [("", "pids.max", max_processes), ("", "memory.max", memory_bytes)]
            _enable_v2_controllers(CGROUP_ROOT / own.get("", "/").lstrip("/"))
        else:
            wanted = [("pids", "pids.max", max_processes), ("memory", "memory.limit_in_bytes", memory_bytes)]
        limits: dict[Path, dict[str, int]] = {}
        for controller, limit_file, value in wanted:
            if value is not None and controller in own:
                base = CGROUP_ROOT / controller if controller else CGROUP_ROOT
                limits.setdefault(base / own[controller].lstrip("/") / name, {})[limit_file] = value
        for directory in limits:
            _remove_stale_siblings(directory.parent)
        dirs = [d for d, values in limits.items() if _make_dir(d, values)]
        return cls(dirs) if dirs else None

    def add(self, pid: int) -> None:
        """Move ``pid`` (and so everything it starts later) into the cgroup."""
        for directory in self.dirs:
            (directory / "cgroup.procs").write_text(str(pid))

    def remove(self, wait: float = 2.0) -> None:
        """Delete the directories, waiting up to ``wait`` s for killed processes to leave."""
        deadline = time.monotonic() + wait
        for directory in self.dirs:
            while True:
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if time.monotonic() > deadline:
                        logger.warning("could not remove cgroup %s: %s", directory, exc)
                        break
                    time.sleep(0.01)


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup path per v1 controller, and under ``""`` the v2 path."""
    paths: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _remove_stale_siblings(parent: Path) -> None:
    """Delete empty groups left by hosts that died without cleaning up (their pid is gone)."""
    for directory in parent.glob("tinycode-*-*"):
        owner = directory.name.split("-")[1]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            try:
                directory.rmdir()
            except OSError as exc:  # still has processes, or another host removed it first
                logger.debug("stale cgroup %s kept: %s", directory, exc)


def _enable_v2_controllers(parent: Path) -> None:
    try:
        (parent / "cgroup.subtree_control").write_text("+pids +memory")
    except OSError as exc:  # already enabled, or not allowed here: _make_dir finds out
        logger.debug("enabling cgroup controllers in %s: %s", parent, exc)


def _make_dir(directory: Path, limits: dict[str, int]) -> bool:
    """Create ``directory`` and write the limits; keep it if at least one limit took."""
    try:
        directory.mkdir()
    except OSError as exc:
        logger.debug("cannot create cgroup %s: %s", directory, exc)
        return False
    applied = 0
    for limit_file, value in limits.items():
        try:
            (directory / limit_file).write_text(str(value))
            applied += 1
        except OSError as exc:
            logger.debug("cannot set %s in cgroup %s: %s", limit_file, directory, exc)
    if not applied:
        directory.rmdir()
    return bool(applied)
