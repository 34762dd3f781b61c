"""The checkpoint of one run: before each of its steps, the variables that step can change are saved.

Only what a step can change is looked at (:mod:`.names`): the names it may bind or unbind are kept
by reference (cheap, and enough to bind them back or bring a deleted one back), and the mutable
objects it reads or changes are copied (:mod:`.copies`) within ``max_copy_bytes`` per run. A name
is saved once per run, by the first step that can change it, so the checkpoint is the state before
the run. Dynamic code (``exec``, magics, ``globals()``) keeps a reference to every variable.

What cannot be restored is returned as :class:`~tinycode_jupyter.record.NotRestorable` before the
step runs: an object over the cap, an open file, a socket, a generator, an object whose copy fails,
a module or class whose attributes the step sets, and in-place changes that dynamic code can make.
"""
from __future__ import annotations

import re
import time
import types
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from ..record import NotRestorable, UndoPoint
from . import copies
from .names import StepNames, code_names, step_names, user_code
from .sizes import OverLimit, estimate_bytes

if TYPE_CHECKING:
    from ..checkpoints import GitCheckpointer

DEFAULT_MAX_COPY_BYTES = 256 * 2**20
MAX_FOLLOWED_FUNCTIONS = 200
"""Functions of the notebook followed from one step (the ones it calls, the ones those use, …)."""
_IPYTHON_NAMES = re.compile(r"_i*\d*|_(i|ii|iii|oh|ih|dh)")
"""IPython's own history names: ``_``, ``__``, ``_3``, ``_i``, ``_ii3``, ``_oh``…"""


class Absent:
    """The value of a name that was not bound before the run."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = Absent()


@dataclass(slots=True)
class RunCheckpoint:
    """What one run could change in the kernel's namespace, as it was before the run."""

    run_id: str
    prompt: str
    max_copy_bytes: int = DEFAULT_MAX_COPY_BYTES
    names: dict[str, Any] = field(default_factory=dict)
    """Each saved name's value before the run (the original object, or :data:`ABSENT`)."""
    memo: dict[int, Any] = field(default_factory=dict)
    """The run's copies: ``id(original) -> copy`` (see :mod:`.copies`)."""
    refused: dict[str, NotRestorable] = field(default_factory=dict)
    """Names whose objects are left as they are on undo, and why."""
    copied_bytes: int = 0
    """What the run's copies take, or can take (see :attr:`~tinycode_jupyter.record.UndoPoint.copied_bytes`)."""
    keys_before: frozenset[str] | None = None
    """The namespace's names before the run's first step, kept only until the run ends (:meth:`finish`)."""
    created: tuple[str, ...] | None = None
    """The names the run left that were not there before it (None until the run ends)."""
    points: list[UndoPoint] = field(default_factory=list)
    checkpointer: "GitCheckpointer | None" = None
    """The work dir's git checkpoints, when they were on for this run."""
    file_commit: str | None = None
    """The git checkpoint of the work dir before the run's first step that could change files."""
    file_note: str | None = None
    """Why the files cannot be restored (checkpoints off, no checkpoint before the run, git failed)."""

    def save_step(self, namespace: dict[str, Any], hidden: Iterable[str], sources: list[str | None], call_id: str,
                  turn: int) -> UndoPoint:  # fmt: skip
        """Save what the code in ``sources`` (plain Python; None: not known) can change, before it runs.

        What cannot be restored is in the returned point.
        """
        started = time.perf_counter()
        if self.keys_before is None:
            self.keys_before = frozenset(namespace)
        skip = set(hidden)
        names = _what_can_change(sources, namespace)
        step = _StepSave(self, namespace)
        for name in sorted((names.bound | names.referenced) - skip):
            step.save(name, name in names.bound, name in names.mutated)
        if names.dynamic:
            for name in sorted(set(namespace) - skip):
                step.keep(name)
            how = ", ".join(sorted(names.dynamic))
            step.refuse(how, "in-place changes made through it to objects the code does not name cannot be undone; "
                             "names it binds or deletes are undone")  # fmt: skip
        point = UndoPoint(call_id, turn, tuple(step.saved), tuple(step.refusals), step.copied, time.perf_counter() - started)
        self.points.append(point)
        return point

    def finish(self, namespace: dict[str, Any]) -> None:
        """The run ended: keep the names it created, and drop the names it started with."""
        if self.keys_before is not None:
            self.created = tuple(sorted(namespace.keys() - self.keys_before))
            self.keys_before = None

    def discard(self, call_id: str) -> None:
        """Forget what a step that did not run saved first (it was denied or blocked)."""
        point = next((p for p in self.points if p.call_id == call_id), None)
        if point is None:
            return
        self.points.remove(point)
        for name in point.saved:
            self.names.pop(name, None)
        for item in point.not_restorable:
            self.refused.pop(item.name, None)

    def ignorable(self, name: str) -> bool:
        """Names no step creates on purpose: IPython's history names and dunders."""
        return bool(_IPYTHON_NAMES.fullmatch(name)) or (name.startswith("__") and name.endswith("__"))


class _StepSave:
    """Saving for one step: what it saved first, what it refused, how much it copied."""

    def __init__(self, run: RunCheckpoint, namespace: dict[str, Any]) -> None:
        self.run = run
        self.namespace = namespace
        self.saved: list[str] = []
        self.refusals: list[NotRestorable] = []
        self.copied = 0

    def save(self, name: str, bound: bool, mutated: bool) -> None:
        """Keep the name's binding before the run (once per run), and copy its object before its first change."""
        if self.run.ignorable(name) or name in self.run.refused:
            return
        value = self.namespace.get(name, ABSENT)
        changes_in_place = value is not ABSENT and not copies.needs_no_copy(value)
        has_own_state = mutated and isinstance(value, (type, types.ModuleType))
        if name not in self.run.names and (bound or changes_in_place or has_own_state):
            self._record(name, value)
        if value is ABSENT or self.run.names.get(name, ABSENT) is not value:
            return  # made during the run: undo removes or rebinds it, its contents do not matter
        if has_own_state:
            self.refuse(name, f"{_kind(value)}: changes to its attributes cannot be undone")
        elif changes_in_place:
            reason = copies.refusal(value) or self._copy(value)
            if reason is not None:
                self.refuse(name, reason)

    def keep(self, name: str) -> None:
        """Keep the reference only (dynamic code): the name can be bound back, its object is not copied."""
        if name not in self.run.names and not self.run.ignorable(name):
            self._record(name, self.namespace[name])

    def refuse(self, name: str, reason: str) -> None:
        item = NotRestorable(name, reason)
        self.run.refused[name] = item
        self.refusals.append(item)

    def _record(self, name: str, value: Any) -> None:
        self.run.names[name] = value
        self.saved.append(name)

    def _copy(self, value: Any) -> str | None:
        """Copy ``value`` into the run's memo; why not, if it cannot be."""
        memo = self.run.memo
        if id(value) in memo:
            return None
        room = self.run.max_copy_bytes - self.run.copied_bytes
        shared: list[Any] = []
        try:
            size = estimate_bytes(value, room, copies.shares_on_write, shared.append)
        except OverLimit:
            cap = _megabytes(self.run.max_copy_bytes)
            if room == self.run.max_copy_bytes:
                return f"{_kind(value)} of more than {cap}, over the undo cap ({cap} per run)"
            return f"{_kind(value)} of more than the {_megabytes(room)} left of the undo cap ({cap} per run)"
        except Exception as exc:  # an object whose size cannot be read: say so, do not guess
            return f"{_kind(value)} whose size cannot be read ({type(exc).__name__}: {exc})"
        try:
            for item in shared:  # pandas objects inside: copy-on-write copies, which deepcopy then reuses
                copies.copy_into(item, memo)
            copies.copy_into(value, memo)
        except Exception as exc:  # the object's own copying failed: it cannot be restored
            return f"{_kind(value)} that cannot be copied ({type(exc).__name__}: {_first_line(exc)})"
        self.copied += size
        self.run.copied_bytes += size
        return None


def _what_can_change(sources: list[str | None], namespace: dict[str, Any]) -> StepNames:
    """The names of every source that compiles, and of the notebook's functions they reach."""
    names = StepNames()
    for source in sources:
        if source is None:
            names.dynamic.add("code not shown to undo")
            continue
        try:
            names.update(step_names(source))
        except (SyntaxError, ValueError):  # it will not compile, so it will not run
            continue
    followed: set[int] = set()
    pending = list(names.referenced)
    while pending and len(followed) < MAX_FOLLOWED_FUNCTIONS:
        value = namespace.get(pending.pop())
        for code in user_code(value, namespace) if value is not None else ():
            if id(code) in followed:
                continue
            followed.add(id(code))
            reached = code_names(code)
            names.bound |= reached.bound
            names.dynamic |= reached.dynamic
            new = reached.referenced - names.referenced
            names.referenced |= new
            pending.extend(new)
    return names


def _kind(value: Any) -> str:
    kind = type(value)
    if isinstance(value, types.ModuleType):
        return "a module"
    if isinstance(value, type):
        return "a class"
    return f"a {kind.__module__ + '.' if kind.__module__ not in ('builtins', '__main__') else ''}{kind.__qualname__}"


def _megabytes(size: int) -> str:
    if size >= 2**20:
        return f"{size / 2**20:,.0f} MiB"
    return f"{size / 2**10:,.0f} KiB" if size >= 2**10 else f"{size:,} bytes"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""
