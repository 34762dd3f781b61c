"""The one result type of every security check."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Rule = Literal["import", "obfuscation", "shell", "syntax", "path"]


@dataclass(frozen=True)
class Finding:
    """One reason a gate refused to run something.

    ``message`` is one sentence addressed to the model: what was blocked and
    what to do instead. ``line`` is 1-based within the checked text, when known.
    """

    rule: Rule
    message: str
    line: int | None = None
