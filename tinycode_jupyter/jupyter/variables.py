"""Compact descriptions of kernel variables named in a prompt as ``{name}`` or ``@name``."""
from __future__ import annotations

import inspect
import re
from typing import Any

MAX_DESCRIPTION_CHARS = 1500
MAX_VARIABLES = 8
_REFERENCE = re.compile(r"(?<![\w{])\{([A-Za-z_]\w*)\}|(?<![\w@.])@(?!cell:)([A-Za-z_]\w*)")
"""``{name}`` or ``@name``; ``@cell:<id>`` is a cell reference (:mod:`.references`), not a variable."""


def referenced_names(prompt: str) -> list[str]:
    """Names written as ``{df}`` or ``@df`` in the prompt, in order, without repeats."""
    names: list[str] = []
    for match in _REFERENCE.finditer(prompt):
        name = match.group(1) or match.group(2)
        if name not in names:
            names.append(name)
    return names


def describe(name: str, value: Any) -> str:
    """Type, shape and a small sample, capped in size."""
    text = _describe(name, value)
    return text if len(text) <= MAX_DESCRIPTION_CHARS else text[: MAX_DESCRIPTION_CHARS - 20] + "\n[... description cut]"


def context_for_prompt(prompt: str, namespace: dict[str, Any]) -> str:
    """A block to append to the prompt describing the referenced variables that exist."""
    parts = []
    for name in referenced_names(prompt)[:MAX_VARIABLES]:
        if name in namespace:
            parts.append(describe(name, namespace[name]))
    if not parts:
        return ""
    return "\n\nKernel variables referenced in the request (live objects in the kernel):\n" + "\n\n".join(parts)


def brief(value: Any) -> str:
    """Type and shape or length, never the value: ``DataFrame (3, 2)``, ``list len 4``."""
    type_name = type(value).__qualname__
    if isinstance(value, type):
        return "class"
    if inspect.isroutine(value):
        return "function"
    shape = _safe_call(lambda: getattr(value, "shape", None) if hasattr(value, "__array__") or _is_dataframe(value) else None)
    if isinstance(shape, tuple):
        return f"{type_name} {shape}"
    length = _safe_call(lambda: len(value)) if hasattr(type(value), "__len__") else None
    return f"{type_name} len {length}" if isinstance(length, int) else type_name


def _describe(name: str, value: Any) -> str:
    kind = type(value)
    type_name = f"{kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" else kind.__qualname__
    if _is_dataframe(value):
        return _describe_dataframe(name, type_name, value)
    shape = getattr(value, "shape", None)
    if shape is not None and hasattr(value, "dtype"):
        return f"{name}: {type_name} shape={tuple(shape)} dtype={value.dtype}\n{_safe_repr(value, 300)}"
    if isinstance(value, (list, tuple, set, frozenset)):
        kinds = sorted({type(v).__name__ for v in list(value)[:200]})
        return f"{name}: {type_name} len={len(value)} element types={kinds}\nfirst items: {_safe_repr(list(value)[:5], 300)}"
    if isinstance(value, dict):
        keys = list(value)[:10]
        return f"{name}: dict len={len(value)} keys={_safe_repr(keys, 300)}"
    if isinstance(value, str):
        return f"{name}: str len={len(value)}: {_safe_repr(value[:200], 220)}"
    return f"{name}: {type_name} = {_safe_repr(value, 300)}"


def _is_dataframe(value: Any) -> bool:
    return all(hasattr(value, attr) for attr in ("dtypes", "columns", "head", "shape"))


def _describe_dataframe(name: str, type_name: str, frame: Any) -> str:
    dtypes = ", ".join(f"{col}: {dtype}" for col, dtype in list(frame.dtypes.items())[:30])
    more = f" (+{len(frame.columns) - 30} more columns)" if len(frame.columns) > 30 else ""
    head = _safe_call(lambda: frame.head(3).to_string(max_cols=12, max_colwidth=30))
    return f"{name}: {type_name} shape={frame.shape}\ncolumns: {dtypes}{more}\nfirst rows:\n{head}"


def _safe_repr(value: Any, limit: int) -> str:
    text = _safe_call(lambda: repr(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _safe_call(func: Any) -> Any:
    try:
        return func()
    except Exception as exc:  # a broken __repr__ must not break the prompt
        return f"<unavailable: {type(exc).__name__}>"
