"""Put a run's checkpoint back into the namespace: changed variables restored, created ones removed, deleted ones back.

Copied objects are restored **in place** where their type allows it (lists, dicts, sets,
bytearrays, numpy arrays of the same shape, instances of plain Python classes such as fitted
models), so every other reference to them (an alias, a list holding them, a closure) sees the
restored object too; then the names are bound back. Other copies (pandas objects) are bound back
to the names that held the original. What the checkpoint refused is left as it is (its name is
bound back if the run rebound it) and reported.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Literal

from ..record import NotRestorable
from .copies import originals
from .snapshot import ABSENT, RunCheckpoint

_HEAP_TYPE = 1 << 9
"""``Py_TPFLAGS_HEAPTYPE``: a class written in Python (no C layout of its own)."""


@dataclass(frozen=True)
class Restored:
    """What undoing one run did to the namespace."""

    restored: tuple[str, ...]
    """Put back to their value before the run (changed, or possibly changed in place)."""
    removed: tuple[str, ...]
    """Created by the run, now deleted."""
    brought_back: tuple[str, ...]
    """Deleted by the run, bound again."""
    not_restored: tuple[NotRestorable, ...]
    """Left as they are, and why (listed before the step that could change them ran)."""


def restore_run(run: RunCheckpoint, namespace: dict[str, Any], hidden: Iterable[str] = ()) -> Restored:
    """Undo ``run`` in ``namespace``; the checkpoint is used up (its copies are now the variables)."""
    in_place = _restore_in_place(run.memo)
    restored: list[str] = []
    brought_back: list[str] = []
    for name, before in run.names.items():
        if before is ABSENT:
            continue
        copied = id(before) in run.memo and name not in run.refused
        target = run.memo[id(before)] if copied and id(before) not in in_place else before
        now = namespace.get(name, ABSENT)
        if now is ABSENT:
            brought_back.append(name)
        elif (copied or now is not target) and name not in run.refused:
            restored.append(name)
        namespace[name] = target
    removed = [name for name in sorted(_created(run) - set(hidden)) if name in namespace and not run.ignorable(name)]
    for name in removed:
        del namespace[name]
    return Restored(tuple(sorted(restored)), tuple(removed), tuple(sorted(brought_back)), tuple(run.refused.values()))


def _created(run: RunCheckpoint) -> set[str]:
    """Names the run created: new at its end, or (its end unknown) the ones its steps bound from nothing."""
    if run.created is not None:
        return set(run.created)
    return {name for name, before in run.names.items() if before is ABSENT}


def _restore_in_place(memo: dict[int, Any]) -> set[int]:
    """Give every original that allows it the contents of its copy; the ids of those originals."""
    pairs = [(original, memo[id(original)]) for original in originals(memo)]
    kinds = {id(original): _in_place_kind(original, duplicate) for original, duplicate in pairs}
    back = {id(duplicate): original for original, duplicate in pairs if kinds[id(original)] is not None}

    def original_of(item: Any) -> Any:
        return back.get(id(item), item)

    for original, duplicate in pairs:
        kind = kinds[id(original)]
        if kind is not None:
            _PUT_BACK[kind](original, duplicate, original_of)
    return {id(original) for original in back.values()}


InPlace = Literal["list", "dict", "set", "bytes", "array", "object"]


def _in_place_kind(original: Any, duplicate: Any) -> InPlace | None:
    """How ``original`` can take its copy's contents without a new identity; None when it cannot."""
    if type(original) is not type(duplicate):
        return None
    if isinstance(original, list):
        return "list"
    if isinstance(original, dict):
        return "dict"
    if isinstance(original, set):
        return "set"
    if isinstance(original, bytearray):
        return "bytes"
    numpy = sys.modules.get("numpy")
    if numpy is not None and type(original) is numpy.ndarray:
        same = original.shape == duplicate.shape and original.dtype == duplicate.dtype and original.flags.writeable
        return "array" if same else None
    return "object" if _plain_object(original) else None


def _plain_object(value: Any) -> bool:
    """An instance of Python classes only, with its state in ``__dict__`` (no slots, no C base but object)."""
    if not isinstance(getattr(value, "__dict__", None), dict) or isinstance(value, type):
        return False
    classes = type(value).__mro__[:-1]
    return all(klass.__flags__ & _HEAP_TYPE and "__slots__" not in vars(klass) for klass in classes)


Map = Callable[[Any], Any]


def _list(original: Any, duplicate: Any, original_of: Map) -> None:
    original[:] = [original_of(item) for item in duplicate]


def _dict(original: Any, duplicate: Any, original_of: Map) -> None:
    items = [(original_of(key), original_of(value)) for key, value in duplicate.items()]
    original.clear()
    original.update(items)


def _set(original: Any, duplicate: Any, original_of: Map) -> None:
    items = [original_of(item) for item in duplicate]
    original.clear()
    original.update(items)


def _bytes(original: Any, duplicate: Any, original_of: Map) -> None:
    original[:] = duplicate


def _array(original: Any, duplicate: Any, original_of: Map) -> None:
    original[...] = duplicate


def _object(original: Any, duplicate: Any, original_of: Map) -> None:
    _dict(vars(original), vars(duplicate), original_of)


_PUT_BACK: dict[str, Callable[[Any, Any, Map], None]] = {
    "list": _list, "dict": _dict, "set": _set, "bytes": _bytes, "array": _array, "object": _object,
}  # fmt: skip
