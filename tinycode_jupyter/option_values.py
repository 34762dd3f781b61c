"""Values of user options (command line, magics, config, environment), checked in one place.

Each parser takes the text (or number) a user gave and returns the value, or raises
:class:`BadOptionValue` whose message names the value and says what is allowed; the
caller puts the option's name in front. Limits fail closed: ``nan``, ``inf``, zero and
negatives are refused, never read as "no limit".
"""
from __future__ import annotations

import argparse
import builtins
import keyword
import math
from typing import Any, Callable, Collection, TypeVar

T = TypeVar("T")


class BadOptionValue(ValueError):
    """An option's value is not allowed; the message says why, on one line."""


def positive_int(value: Any) -> int:
    """A whole number, 1 or more (turns, tokens)."""
    number = _number(value)
    if not number.is_integer():
        raise BadOptionValue(f"{_shown(value)} is not a whole number; give 1 or more")
    if number < 1:
        raise BadOptionValue(f"{_shown(value)} is too small; give a whole number, 1 or more")
    return int(number)


def positive_amount(value: Any) -> float:
    """A finite number above 0 (a budget in US dollars)."""
    number = _number(value)
    if number <= 0:
        raise BadOptionValue(f"{_shown(value)} is not above 0; give a positive amount, e.g. 0.50 (or leave the option out)")
    return number


def seconds_or_zero(value: Any) -> float:
    """A finite number of seconds, 0 or more (0 means no limit where the option says so)."""
    number = _number(value)
    if number < 0:
        raise BadOptionValue(f"{_shown(value)} is negative; give seconds, 0 or more")
    return number


def variable_name(value: str, reserved: Collection[str] = ()) -> str:
    """A name to bind in the user's namespace: an identifier, not a keyword, not a builtin nor ``reserved``."""
    if not isinstance(value, str) or not value.isidentifier():
        raise BadOptionValue(f"{value!r} is not a Python variable name")
    if keyword.iskeyword(value):
        raise BadOptionValue(f"{value!r} is a Python keyword; choose another variable name")
    if hasattr(builtins, value):
        raise BadOptionValue(f"{value!r} is a Python builtin; binding it would hide the builtin: choose another name")
    if value in reserved:
        raise BadOptionValue(f"{value!r} is a name IPython keeps for itself; choose another variable name")
    return value


def for_argparse(parse: Callable[[str], T]) -> Callable[[str], T]:
    """``parse`` as an argparse ``type=``: its message becomes argparse's one-line error for the option."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except BadOptionValue as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


def _number(value: Any) -> float:
    """A finite float from ``value`` (text or number); BadOptionValue for anything else."""
    if isinstance(value, bool):
        raise BadOptionValue(f"{value!r} is not a number")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise BadOptionValue(f"{_shown(value)} is not a number") from None
    if math.isnan(number):
        raise BadOptionValue(f"{_shown(value)} is not a number (NaN)")
    if math.isinf(number):
        raise BadOptionValue(f"{_shown(value)} is infinite; give a finite number")
    return number


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)
