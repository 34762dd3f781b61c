"""Where the agent may write: the work dir, the temp dir and the directories the user added.

One rule for every way of writing: shell redirects and file arguments, and the
file tools' paths. A path is inside when its normalized form is under a root;
with ``resolve`` (paths on this machine) its real path must be inside too, so a
symlink in the work dir cannot point a write elsewhere.
"""
from __future__ import annotations

import os
import posixpath
import tempfile
from collections.abc import Sequence

OUTSIDE = "is outside the working directory"


class WriteArea:
    """The roots writes may go to; :meth:`problem` says why a path is refused, or None."""

    def __init__(self, workdir: str | None, extra_dirs: Sequence[str] = (), resolve: bool = False) -> None:
        roots = {tempfile.gettempdir(), "/tmp"}
        for path in [*([workdir] if workdir else []), *extra_dirs]:
            roots |= {posixpath.abspath(path), os.path.realpath(path)}
        self.roots = sorted(posixpath.normpath(root) for root in roots)
        self.workdir = workdir
        self.resolve = resolve

    def problem(self, path: str) -> str | None:
        """Why writing to ``path`` is refused (relative paths are under the work dir), or None."""
        if not posixpath.isabs(path):
            if self.workdir is None:
                return OUTSIDE if _climbs(posixpath.normpath(path)) else None
            path = posixpath.join(self.workdir, path)
        candidates = [posixpath.normpath(path)] + ([os.path.realpath(path)] if self.resolve else [])
        return None if all(self._inside(candidate) for candidate in candidates) else OUTSIDE

    def _inside(self, path: str) -> bool:
        return any(path == root or path.startswith(root.rstrip("/") + "/") for root in self.roots)


def _climbs(path: str) -> bool:
    return path == ".." or path.startswith("../")
