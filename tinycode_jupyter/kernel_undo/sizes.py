"""About how many bytes a copy of an object would take, found without copying it and in bounded time.

Arrays (numpy, torch, jax, …) and DataFrames report their buffers (``nbytes``, pandas' data sizes);
containers are walked, and a large one is sampled: ``SAMPLE`` evenly spaced items stand for the
rest. The walk stops as soon as the total passes ``limit``, so a huge object costs no more than a
small one to refuse.
Objects that a copy-on-write copy will share (see :mod:`.copies`) are handed to ``on_shared``;
they count their full size, which their copy takes if the step rewrites them.
"""
from __future__ import annotations

import itertools
import sys
from typing import Any, Callable

SAMPLE = 64
"""Items looked at in a container; a larger one is estimated from this many."""
MAX_DEPTH = 24
_LEAVES = frozenset({str, int, float, bool, complex, bytes, type(None)})
ARRAY_LIBRARIES = frozenset({"numpy", "torch", "jax", "jaxlib", "cupy", "tensorflow", "xarray"})
"""Libraries whose arrays say their data size in ``nbytes``."""


class OverLimit(Exception):
    """The estimate passed the limit; the walk stopped there."""


def estimate_bytes(value: Any, limit: int, shared: Callable[[Any], bool], on_shared: Callable[[Any], None]) -> int:
    """About the bytes a deep copy of ``value`` takes; raises :class:`OverLimit` once that passes ``limit``."""
    return _Walk(limit, shared, on_shared).size(value, 0)


class _Walk:
    """One estimate: ``total`` counts every byte as it is found, so the walk can stop at the limit."""

    def __init__(self, limit: int, shared: Callable[[Any], bool], on_shared: Callable[[Any], None]) -> None:
        self.limit = limit
        self.shared = shared
        self.on_shared = on_shared
        self.total = 0
        self.seen: set[int] = set()

    def size(self, value: Any, depth: int) -> int:
        """The bytes of ``value`` and what it holds (each object once), all added to ``total``."""
        if id(value) in self.seen:
            return 0
        self.seen.add(id(value))
        if type(value) in _LEAVES:  # most items of a container: nothing to look into
            return self._count(sys.getsizeof(value))
        if self.shared(value):
            self.on_shared(value)
        buffers = _buffer_bytes(value)
        if buffers is not None:
            return self._count(buffers)
        base = self._count(sys.getsizeof(value, 64))
        items = _children(value) if depth < MAX_DEPTH else None
        if not items or not items[0]:
            return base
        count, sample = items
        sampled = sum(self.size(item, depth + 1) for item in sample)
        rest = sampled * (count - len(sample)) // len(sample) if len(sample) < count else 0
        return base + sampled + self._count(rest)  # the items not looked at, estimated from the sample

    def _count(self, size: int) -> int:
        self.total += size
        if self.total > self.limit:
            raise OverLimit
        return size


def _children(value: Any) -> tuple[int, list[Any]] | None:
    """(how many items, a sample of them) of a container or an object's attributes; None for a leaf."""
    if isinstance(value, (str, bytes, bytearray, int, float, complex, bool, type(None), range)):
        return None
    if isinstance(value, (list, tuple)):
        step = max(1, len(value) // SAMPLE)
        return len(value), [value[i] for i in range(0, len(value), step)][:SAMPLE]
    if isinstance(value, dict):
        pairs = list(itertools.islice(value.items(), SAMPLE))
        return 2 * len(value), [part for pair in pairs for part in pair]
    if isinstance(value, (set, frozenset)):
        return len(value), list(itertools.islice(value, SAMPLE))
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.ndarray):  # an array of Python objects
        step = max(1, value.size // SAMPLE)
        return value.size, list(value.flat[::step][:SAMPLE])
    state = getattr(value, "__dict__", None)
    if isinstance(state, dict):
        return 1, [state]
    return None


def _buffer_bytes(value: Any) -> int | None:
    """The data size of an array (numpy, torch, jax, …) or a pandas object, without touching its data.

    None for other objects, and for arrays of Python objects (their items are sampled instead).
    """
    library = type(value).__module__.partition(".")[0]
    if library == "pandas":
        return _pandas_bytes(value)
    if library not in ARRAY_LIBRARIES or getattr(getattr(value, "dtype", None), "kind", "") == "O":
        return None
    nbytes = getattr(value, "nbytes", None)
    return int(nbytes) + sys.getsizeof(value, 64) if isinstance(nbytes, int) else None


def _pandas_bytes(value: Any) -> int | None:
    """``memory_usage(deep=False)``, read from the arrays: that method builds a Series and takes milliseconds."""
    index = getattr(value, "index", None)
    index_bytes = int(getattr(index, "nbytes", 0))
    arrays = getattr(getattr(value, "_mgr", None), "arrays", None)  # a DataFrame's blocks (pandas internals)
    if type(value).__name__ == "DataFrame" and isinstance(arrays, list):
        return sum(int(getattr(array, "nbytes", 0)) for array in arrays) + index_bytes
    if hasattr(value, "nbytes"):  # a Series or an Index
        return int(value.nbytes) + (index_bytes if index is not None else 0)
    usage = getattr(value, "memory_usage", None)
    if callable(usage):
        total = usage(deep=False)
        return int(total.sum() if hasattr(total, "sum") else total)
    return None
