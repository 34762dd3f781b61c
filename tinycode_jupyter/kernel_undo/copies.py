"""How one value is kept before a step: as it is, copied, shared copy-on-write, or not at all (and why).

- Immutable values (numbers, strings, small tuples of them) and functions, classes and modules
  need no copy: keeping the reference is enough to bind the name back.
- pandas objects are shared when copy-on-write is on (always with pandas 3; the
  ``mode.copy_on_write`` option in pandas 2): ``copy(deep=False)`` costs microseconds and pandas
  copies a block only when one side writes it, so memory grows only by what the step changes.
  Without it, ``copy(deep=True)``. Either way, Python objects inside object columns are not copied.
- A list or dict of immutable values is copied shallowly (that is a full copy), and so is each
  record of a list of flat dicts (checked in one C pass, copied in C record by record); everything else
  with :func:`copy.deepcopy`, so numpy arrays, fitted models and nested containers copy as their
  libraries define it.
- Open files, sockets and generators are refused: their position or connection cannot be copied.

Copies go into the run's deepcopy memo (``id(original) -> copy``, originals kept alive in the
memo's own list, as :func:`copy.deepcopy` does), so an object reached from two names, or saved
by two steps, is copied once and restored as one object.
"""
from __future__ import annotations

import copy
import gc
import io
import socket
import sys
import types
from typing import Any

ATOMIC = frozenset({type(None), bool, int, float, complex, str, bytes, range, type(Ellipsis)})
BY_REFERENCE = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.ModuleType, type,
                types.CodeType, property, staticmethod, classmethod)  # fmt: skip
SMALL_TUPLE = 64
_all_atomic = ATOMIC.issuperset
"""Whether every type of an iterable is atomic; stops at the first that is not."""
_DICTS = frozenset({dict})


def _holds_only_atomic(*dicts: dict[Any, Any]) -> bool:
    """Whether every key and value of these dicts is atomic, in one C pass over what they hold.

    ``gc.get_referents`` lists a dict's values and keys, leaving out the keys of a dict whose keys
    are all exact ``str`` (CPython keeps such dicts apart, and an exact ``str`` is atomic).
    """
    return _all_atomic(map(type, gc.get_referents(*dicts)))


def refusal(value: Any) -> str | None:
    """Why ``value`` cannot be saved at all, or None."""
    if isinstance(value, io.IOBase):
        return "an open file: what was read or written through it cannot be undone"
    if isinstance(value, socket.socket):
        return "a socket: what was sent or received cannot be undone"
    if isinstance(value, (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType)):
        return "a generator: how far it has run cannot be undone"
    return None


def needs_no_copy(value: Any) -> bool:
    """Whether keeping the reference is enough: the value cannot change in place (or is code)."""
    kind = type(value)
    if kind in ATOMIC or isinstance(value, BY_REFERENCE):
        return True
    if kind in (tuple, frozenset) and len(value) <= SMALL_TUPLE:
        return all(type(item) in ATOMIC for item in value)
    return False


def shares_on_write(value: Any) -> bool:
    """Whether ``value`` is a pandas object that copy-on-write protects (a shallow copy is then a safe copy)."""
    pandas = _pandas_of(value)
    return pandas is not None and pandas_copy_on_write(pandas)


def pandas_copy_on_write(pandas: Any) -> bool:
    if int(pandas.__version__.split(".")[0]) >= 3:
        return True  # always on, and the option is deprecated
    return pandas.options.mode.copy_on_write is True


def _pandas_of(value: Any) -> Any:
    """The pandas module when ``value`` is a DataFrame, Series or Index; else None."""
    if not type(value).__module__.startswith("pandas"):
        return None
    pandas = sys.modules.get("pandas")
    if pandas is None or not isinstance(value, (pandas.DataFrame, pandas.Series, pandas.Index)):
        return None
    return pandas


def copy_into(value: Any, memo: dict[int, Any]) -> Any:
    """A copy of ``value``, recorded in ``memo``; exceptions from the object's own copying propagate.

    Plain data (lists and dicts, nested, of numbers and strings) is copied here, a container of
    immutable values with one C-level ``copy()``; anything else inside goes to :func:`copy.deepcopy`
    with the same memo.
    """
    if type(value) in ATOMIC:
        return value
    known = memo.get(id(value))
    if known is not None:
        return known
    if type(value) in (list, dict):
        return _PlainData(memo).copy(value)
    pandas = _pandas_of(value)
    if pandas is not None:  # shallow under copy-on-write; else pandas' own deep copy, far faster than deepcopy's
        return remember(value, value.copy(deep=not pandas_copy_on_write(pandas)), memo)
    return copy.deepcopy(value, memo)


class _PlainData:
    """Copies nested lists and dicts into a deepcopy memo, without deepcopy's per-item cost."""

    def __init__(self, memo: dict[int, Any]) -> None:
        self.memo = memo
        self.keep: list[Any] = memo.setdefault(id(memo), [])

    def copy(self, value: Any) -> Any:
        kind = type(value)
        if kind in ATOMIC:
            return value
        known = self.memo.get(id(value))
        if known is not None:
            return known
        if kind is list:
            kinds = set(map(type, value))
            if _all_atomic(kinds):
                return self._remember(value, value.copy())
            ids = self._new_flat_records(value) if kinds == _DICTS else None
            if ids is not None:
                return self._copy_records(value, ids)
            duplicate: Any = self._remember(value, [])  # remembered first: a list may contain itself
            duplicate.extend([self.copy(item) for item in value])
            return duplicate
        if kind is dict:
            if _holds_only_atomic(value):
                return self._remember(value, value.copy())
            duplicate = self._remember(value, {})
            duplicate.update([(copy.deepcopy(key, self.memo), self.copy(item)) for key, item in value.items()])
            return duplicate
        return copy_into(value, self.memo)

    def _new_flat_records(self, value: list[dict[Any, Any]]) -> list[int] | None:
        """The ids of a list of dicts of immutable keys and values, none of them copied yet; None when it is not one."""
        ids = list(map(id, value))
        return ids if self.memo.keys().isdisjoint(ids) and _holds_only_atomic(*value) else None

    def _copy_records(self, value: list[Any], ids: list[int]) -> list[Any]:
        """Each record copied once (``dict.copy``) and remembered, so a record another name holds is restored as one."""
        records = list(map(dict.copy, value))
        before = len(self.memo)
        self.memo.update(zip(ids, records))
        if len(self.memo) - before < len(records):  # a record the list holds twice: one copy for it
            records = [self.memo[i] for i in ids]
        self.keep.extend(value)
        return self._remember(value, records)

    def _remember(self, original: Any, duplicate: Any) -> Any:
        self.memo[id(original)] = duplicate
        self.keep.append(original)
        return duplicate


def remember(original: Any, duplicate: Any, memo: dict[int, Any]) -> Any:
    """Record a copy made outside :func:`copy.deepcopy` as deepcopy would: later copies reuse it."""
    memo[id(original)] = duplicate
    memo.setdefault(id(memo), []).append(original)
    return duplicate


def originals(memo: dict[int, Any]) -> list[Any]:
    """Every object copied into ``memo`` (deepcopy keeps them alive in the memo under its own id)."""
    kept = memo.get(id(memo))
    return [item for item in kept if id(item) in memo] if isinstance(kept, list) else []
