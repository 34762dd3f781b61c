"""File operations run where the code runs (standard library only).

The sandbox worker imports this module (it is shipped next to it), and the
in-process providers call it directly, so every provider shares one
implementation. Each operation takes and returns JSON-friendly values, except
``read_bytes``/``write_bytes`` whose payload the worker base64-encodes.
"""
from __future__ import annotations

import fnmatch
import glob as _glob
import os
import re

MAX_LISTED = 1000
MAX_GREP_MATCHES = 500
MAX_GREP_FILE_BYTES = 5_000_000
_SKIPPED_DIRS = {".git", "__pycache__", "node_modules", ".venv", ".ipynb_checkpoints"}


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def write_bytes(path: str, data: bytes, create_dirs: bool = True) -> int:
    parent = os.path.dirname(path)
    if create_dirs and parent:
        os.makedirs(parent, exist_ok=True)
    with open(path, "wb") as fh:
        return fh.write(data)


def read_text(path: str, start_line: int = 1, max_lines: int | None = None) -> dict:
    """Lines ``start_line``.. of a text file (1-based), with the file's line count."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = fh.read().splitlines()
    first = max(start_line, 1) - 1
    last = len(lines) if max_lines is None else first + max(max_lines, 0)
    return {"lines": lines[first:last], "start_line": first + 1, "total_lines": len(lines)}


def update_text(path: str, old_content: str, new_content: str, expected_matches: int = 1) -> dict:
    """Replace ``old_content`` by ``new_content``; refuse if the match count differs."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    found = text.count(old_content) if old_content else 0
    if found != expected_matches:
        raise ValueError(
            f"expected {expected_matches} match(es) of old_content in {path}, found {found}; "
            "read the file again and quote the text exactly"
        )
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text.replace(old_content, new_content))
    return {"replaced": found}


def glob(pattern: str, root: str) -> dict:
    """Paths under ``root`` matching ``pattern`` (``**`` recurses), newest first."""
    full = pattern if os.path.isabs(pattern) else os.path.join(root, pattern)
    paths = [p for p in _glob.iglob(full, recursive=True) if not _in_skipped_dir(p)]
    paths.sort(key=_mtime, reverse=True)
    return {"paths": paths[:MAX_LISTED], "total": len(paths)}


def grep(pattern: str, root: str, output_mode: str = "files_with_matches", include: str | None = None) -> dict:
    """Search files under ``root`` with a Python regular expression."""
    if output_mode not in ("files_with_matches", "content", "count"):
        raise ValueError("output_mode must be 'files_with_matches', 'content' or 'count'")
    regex = re.compile(pattern)
    files: list[str] = []
    lines: list[str] = []
    counts: dict[str, int] = {}
    for path in _walk_files(root):
        if include and not fnmatch.fnmatch(os.path.basename(path), include):
            continue
        hits = _grep_file(regex, path)
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


def _walk_files(root: str):
    if os.path.isfile(root):
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED_DIRS)
        for name in sorted(filenames):
            yield os.path.join(dirpath, name)


def _grep_file(regex: re.Pattern[str], path: str) -> list[tuple[int, str]]:
    try:
        if os.path.getsize(path) > MAX_GREP_FILE_BYTES:
            return []
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
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


OPERATIONS = {
    "read_bytes": read_bytes,
    "write_bytes": write_bytes,
    "read_text": read_text,
    "update_text": update_text,
    "glob": glob,
    "grep": grep,
}
