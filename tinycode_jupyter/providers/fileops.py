"""File operations run where the code runs (standard library only).

The sandbox worker imports this module (it is shipped next to it), and the
in-process providers call it directly, so every provider shares one
implementation. Each operation takes and returns JSON-friendly values, except
``read_bytes``/``write_bytes`` whose payload the worker base64-encodes.
"""
from __future__ import annotations

import errno
import fnmatch
import glob as _glob
import os
import re
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (this module also runs inside the standard-library-only worker)
    from collections.abc import Callable, Iterator
    from typing import IO, Any

MAX_LISTED = 1000
MAX_GREP_MATCHES = 500
MAX_GREP_FILE_BYTES = 5_000_000
MAX_FILE_BYTES = 256 << 20
"""The largest file read_bytes and update_text load whole (read_text streams any size)."""
_SKIPPED_DIRS = {".git", "__pycache__", "node_modules", ".venv", ".ipynb_checkpoints"}
_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))  # fmt: skip


def open_regular(path: str, mode: str = "rb", follow_symlinks: bool = True) -> IO[Any]:
    """``open(path, mode)`` for regular files only: a FIFO, device or socket is refused, never waited on.

    The file is opened non-blocking (so a FIFO without a writer cannot hang the
    open) and checked with ``fstat`` on the open descriptor (so it cannot be
    swapped after the check). Writing modes do not truncate before the check.
    """
    flags = os.O_RDONLY if mode.startswith("r") else os.O_WRONLY | os.O_CREAT
    flags |= os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        if exc.errno != errno.ENXIO:  # ENXIO: a FIFO with no reader, or a socket
            raise
        raise ValueError(_not_regular(path, "a FIFO or socket")) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        kind = next((name for test, name in _KINDS if test(info.st_mode)), None)
        if kind is not None:
            raise ValueError(_not_regular(path, kind))
        os.set_blocking(fd, True)
        if not mode.startswith("r"):
            os.ftruncate(fd, 0)
        if "b" in mode:
            return os.fdopen(fd, mode)
        return os.fdopen(fd, mode, encoding="utf-8", errors="replace")
    except BaseException:
        os.close(fd)
        raise


def _not_regular(path: str, kind: str) -> str:
    return f"{path} is {kind}, not a regular file; the file tools read and write regular files only"


def _check_size(path: str, fh: IO[Any]) -> None:
    size = os.fstat(fh.fileno()).st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(f"{path} is {size} bytes; files over {MAX_FILE_BYTES} bytes are not loaded whole (read_text pages through any size)")


def read_bytes(path: str) -> bytes:
    with open_regular(path) as fh:
        _check_size(path, fh)
        return fh.read()


def write_bytes(path: str, data: bytes, create_dirs: bool = True) -> int:
    parent = os.path.dirname(path)
    if create_dirs and parent:
        os.makedirs(parent, exist_ok=True)
    with open_regular(path, "wb") as fh:
        return fh.write(data)


def read_text(path: str, start_line: int = 1, max_lines: int | None = None) -> dict:
    """Lines ``start_line``.. of a text file (1-based, any line ending), with the file's line count.

    The file is read line by line, so a large file costs only the lines asked for.
    """
    first = max(start_line, 1) - 1
    last = None if max_lines is None else first + max(max_lines, 0)
    lines, total = [], 0
    with open_regular(path, "r") as fh:
        for total, line in enumerate(fh, 1):
            if first < total and (last is None or total <= last):
                lines.append(line.rstrip("\n"))
    return {"lines": lines, "start_line": first + 1, "total_lines": total}


def update_text(path: str, old_content: str, new_content: str, expected_matches: int = 1) -> dict:
    """Replace ``old_content`` by ``new_content``; refuse if the match count differs."""
    with open_regular(path) as fh:
        _check_size(path, fh)
        text = fh.read().decode("utf-8")
    found = text.count(old_content) if old_content else 0
    if found != expected_matches:
        raise ValueError(
            f"expected {expected_matches} match(es) of old_content in {path}, found {found}; "
            "read the file again and quote the text exactly"
        )
    with open_regular(path, "wb") as fh:
        fh.write(text.replace(old_content, new_content).encode("utf-8"))
    return {"replaced": found}


def glob(pattern: str, root: str) -> dict:
    """Paths under ``root`` matching ``pattern`` (``**`` recurses), newest first.

    ``**`` does not enter symlinked directories, so a symlink loop cannot make the search endless.
    """
    full = pattern if os.path.isabs(pattern) else os.path.join(root, pattern)
    paths = [p for p in _glob_paths(full) if not _in_skipped_dir(p)]
    paths.sort(key=_mtime, reverse=True)
    return {"paths": paths[:MAX_LISTED], "total": len(paths)}


def _glob_paths(pattern: str) -> Iterator[str]:
    parts = pattern.split(os.sep)
    if "**" not in parts:
        yield from _glob.iglob(pattern)  # one directory level per part: finite whatever the links
        return
    split = parts.index("**")
    rest = parts[split:]
    hidden_wanted = any(part.startswith(".") for part in rest)
    for base in _glob.iglob(os.sep.join(parts[:split]) or os.sep):
        if not os.path.isdir(base):
            continue
        if _matches(rest, []):
            yield os.path.join(base, "")
        for dirpath, dirnames, filenames in os.walk(base):  # never follows symlinked directories
            dirnames[:] = [d for d in dirnames if d not in _SKIPPED_DIRS and (hidden_wanted or not d.startswith("."))]
            prefix = os.path.relpath(dirpath, base).split(os.sep) if dirpath != base else []
            for name in dirnames + filenames:
                if _matches(rest, [*prefix, name]):
                    yield os.path.join(dirpath, name)


def _matches(pattern: list[str], names: list[str]) -> bool:
    """Whether path parts ``names`` match glob parts ``pattern`` (``**``: any number of parts), as glob does."""
    if not pattern:
        return not names
    if pattern[0] == "**":
        spans = range(len(names) + 1)
        return any(_matches(pattern[1:], names[i:]) for i in spans if not any(n.startswith(".") for n in names[:i]))
    name = names[0] if names else None
    if name is None or (name.startswith(".") and not pattern[0].startswith(".")):
        return False
    return fnmatch.fnmatchcase(name, pattern[0]) and _matches(pattern[1:], names[1:])


def grep(pattern: str, root: str, output_mode: str = "files_with_matches", include: str | None = None) -> dict:
    """Search files under ``root`` with a Python regular expression."""
    if output_mode not in ("files_with_matches", "content", "count"):
        raise ValueError("output_mode must be 'files_with_matches', 'content' or 'count'")
    regex = re.compile(pattern)
    files: list[str] = []
    lines: list[str] = []
    counts: dict[str, int] = {}
    for path, named in _walk_files(root):
        if include and not fnmatch.fnmatch(os.path.basename(path), include):
            continue
        hits = _grep_file(regex, path, follow_symlinks=named)
        if not hits:
            continue
        files.append(path)
        counts[path] = len(hits)
        lines.extend(f"{path}:{num}:{text}" for num, text in hits)
        if len(lines) >= MAX_GREP_MATCHES and output_mode == "content":
            break
    if output_mode == "content":
        return {"matches": lines[:MAX_GREP_MATCHES], "total": len(lines)}
    if output_mode == "count":
        return {"counts": counts, "total": sum(counts.values())}
    return {"paths": files[:MAX_LISTED], "total": len(files)}


def _walk_files(root: str) -> Iterator[tuple[str, bool]]:
    if os.path.isfile(root):
        yield root, True  # named explicitly: followed if it is a symlink
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED_DIRS)
        for name in sorted(filenames):
            yield os.path.join(dirpath, name), False


def _grep_file(regex: re.Pattern[str], path: str, follow_symlinks: bool) -> list[tuple[int, str]]:
    """Matching lines of a regular file; symlinks met while walking are skipped, as are FIFOs and devices."""
    try:
        with open_regular(path, follow_symlinks=follow_symlinks) as fh:
            if os.fstat(fh.fileno()).st_size > MAX_GREP_FILE_BYTES:
                return []
            data = fh.read()
    except (OSError, ValueError):
        return []
    if b"\0" in data[:8192]:
        return []
    text = data.decode("utf-8", errors="replace")
    return [(i, line[:500]) for i, line in enumerate(text.splitlines(), 1) if regex.search(line)]


def _in_skipped_dir(path: str) -> bool:
    return any(part in _SKIPPED_DIRS for part in path.split(os.sep))


def _mtime(path: str) -> float:
    try:
        return os.path.getmtime(path)
    except OSError:
        return 0.0


OPERATIONS: dict[str, Callable[..., Any]] = {
    "read_bytes": read_bytes,
    "write_bytes": write_bytes,
    "read_text": read_text,
    "update_text": update_text,
    "glob": glob,
    "grep": grep,
}
