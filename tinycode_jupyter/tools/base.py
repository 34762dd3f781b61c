"""Tools: the ``@tool`` decorator, JSON schemas from signatures, argument checks.

A :class:`Tool` wraps a plain function (sync or async). Its schema comes from
the signature and the docstring (``Args:`` section, Google style), so custom
tools are described to the model exactly like the built-ins.
"""
from __future__ import annotations

import asyncio
import inspect
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable, Literal, Sequence, Union, get_args, get_origin

from ..providers.base import ExecResult
from .effects import UNKNOWN_EFFECTS, ActionView, Effect, EffectKind, arguments_view

_JSON_TYPES: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
}


@dataclass
class ToolResult:
    """What a tool gives back: the text for the model plus structured detail for hooks."""

    text: str
    ok: bool = True
    exec_result: ExecResult | None = None
    """For code-running tools: the full execution result (outputs, displays, error)."""
    value: Any = None
    """The tool function's raw return value (custom tools)."""
    images: tuple[str, ...] = ()
    """Images for a model that reads them, as ``data:image/…;base64,…`` URLs (see :mod:`..images`)."""


class ToolArgumentError(ValueError):
    """The model called a tool with arguments that do not fit its schema."""


Arguments = dict[str, Any]
EffectsSpec = Union[Callable[[Arguments], Sequence[Effect]], Iterable[Union[Effect, EffectKind]]]
"""A tool's effects: a function of its arguments, or a fixed list (``Effect`` objects or kind names)."""


@dataclass
class Tool:
    """A function the model can call, with its schema, its declared effects and its looks.

    ``effects``: what a call does (default: unknown, which approval policies ask about).
    ``view``: how a call looks (default: its arguments as JSON). ``preview``: the view
    shown before approval, which may read current state (a file's diff); default ``view``.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    func: Callable[..., Any]
    builtin: bool = False
    takes_kwargs: bool = False
    effects: EffectsSpec = UNKNOWN_EFFECTS
    view: Callable[[Arguments], ActionView] | None = None
    preview: Callable[[Arguments], Awaitable[ActionView]] | None = None
    _is_async: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self._is_async = inspect.iscoroutinefunction(self.func)
        if not callable(self.effects):
            self.effects = _as_effects(self.effects)  # a wrong kind name fails here, when the tool is made

    def effects_of(self, arguments: Arguments) -> tuple[Effect, ...]:
        """The declared effects of a call with ``arguments``."""
        return _as_effects(self.effects(arguments) if callable(self.effects) else self.effects)

    def view_of(self, arguments: Arguments) -> ActionView:
        """How a call with ``arguments`` looks."""
        return self.view(arguments) if self.view is not None else arguments_view(self.name, arguments)

    async def preview_of(self, arguments: Arguments) -> ActionView:
        """What a person approving the call is shown."""
        return await self.preview(arguments) if self.preview is not None else self.view_of(arguments)

    @classmethod
    def from_function(
        cls,
        func: Callable[..., Any],
        name: str | None = None,
        description: str | None = None,
        effects: EffectsSpec = UNKNOWN_EFFECTS,
        view: Callable[[Arguments], ActionView] | None = None,
    ) -> "Tool":
        summary, arg_docs = _parse_docstring(inspect.getdoc(func) or "")
        signature = inspect.signature(func)
        hints = typing.get_type_hints(func)
        properties: dict[str, Any] = {}
        required: list[str] = []
        takes_kwargs = False
        for param in signature.parameters.values():
            if param.kind is param.VAR_KEYWORD:
                takes_kwargs = True
                continue
            if param.kind is param.VAR_POSITIONAL:
                continue
            schema = _schema_for(hints.get(param.name, str))
            if param.name in arg_docs:
                schema["description"] = arg_docs[param.name]
            properties[param.name] = schema
            if param.default is param.empty:
                required.append(param.name)
        parameters = {"type": "object", "properties": properties, "required": required}
        return cls(name or func.__name__, description or summary or func.__name__, parameters, func,
                   takes_kwargs=takes_kwargs, effects=effects, view=view)  # fmt: skip

    def schema(self) -> dict[str, Any]:
        """The OpenAI-format tool schema sent to the model."""
        return {"type": "function", "function": {"name": self.name, "description": self.description, "parameters": self.parameters}}

    def check_arguments(self, arguments: dict[str, Any]) -> None:
        """Raise :class:`ToolArgumentError` with a precise message if ``arguments`` do not fit."""
        properties = self.parameters.get("properties", {})
        missing = [name for name in self.parameters.get("required", []) if name not in arguments]
        extra = [] if self.takes_kwargs else [name for name in arguments if name not in properties]
        problems = []
        if missing:
            problems.append("missing required argument(s): " + ", ".join(missing))
        if extra:
            problems.append("unknown argument(s): " + ", ".join(extra) + f" (accepted: {', '.join(properties) or 'none'})")
        for name, value in arguments.items():
            expected = properties.get(name, {}).get("type")
            if value is not None and expected in _PY_TYPES and not _fits(value, expected):
                problems.append(f"argument {name!r} must be {expected}, got {type(value).__name__}")
        if problems:
            raise ToolArgumentError(f"{self.name}: " + "; ".join(problems))

    async def invoke(self, arguments: dict[str, Any]) -> Any:
        """Call the function exactly once; sync functions run in a thread so the loop stays responsive."""
        if self._is_async:
            return await self.func(**arguments)
        return await asyncio.to_thread(self.func, **arguments)


def tool(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    effects: EffectsSpec = UNKNOWN_EFFECTS,
) -> Any:
    """Turn a function into a :class:`Tool`: ``@tool`` or ``@tool(name=..., effects=["network"])``.

    ``effects`` declares what the tool does (kinds: runs_python, runs_shell, reads_path,
    writes_path, edits_cell, network, unknown); ``[]`` declares a pure function. Without
    it the tool counts as "unknown", and approval policies ask before each call.
    """

    def wrap(f: Callable[..., Any]) -> Tool:
        return Tool.from_function(f, name=name, description=description, effects=effects)

    return wrap(func) if func is not None else wrap


def as_tool(obj: Tool | Callable[..., Any]) -> Tool:
    if isinstance(obj, Tool):
        return obj
    if callable(obj):
        return Tool.from_function(obj)
    raise TypeError(f"tools must be functions or Tool objects, got {type(obj).__name__}")


def _as_effects(items: Iterable[Effect | EffectKind]) -> tuple[Effect, ...]:
    return tuple(item if isinstance(item, Effect) else Effect(item) for item in items)


def _fits(value: Any, expected: str) -> bool:
    if expected in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _PY_TYPES[expected])


def _schema_for(annotation: Any) -> dict[str, Any]:
    origin = get_origin(annotation)
    args = [a for a in get_args(annotation) if a is not type(None)]
    if origin in (Union, types.UnionType):
        return _schema_for(args[0]) if len(args) == 1 else {"anyOf": [_schema_for(a) for a in args]}
    if origin is Literal:
        values = list(get_args(annotation))
        return {"type": _JSON_TYPES.get(type(values[0]), "string"), "enum": values}
    if origin in (list, tuple, set, typing.Sequence) or annotation in (list, tuple, set):
        schema: dict[str, Any] = {"type": "array"}
        if args:
            schema["items"] = _schema_for(args[0])
        return schema
    if origin is dict or annotation is dict:
        return {"type": "object"}
    if annotation in _JSON_TYPES:
        return {"type": _JSON_TYPES[annotation]}
    return {}


_ARGS_HEADER = re.compile(r"^\s*(Args|Arguments|Parameters)\s*:\s*$", re.IGNORECASE)
_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")
_SECTION = re.compile(r"^\s*(Returns|Raises|Yields|Examples?|Notes?)\s*:\s*$", re.IGNORECASE)


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its summary and per-argument descriptions."""
    summary_lines: list[str] = []
    arg_docs: dict[str, str] = {}
    current: str | None = None
    in_args = False
    for line in doc.splitlines():
        if _ARGS_HEADER.match(line):
            in_args = True
            continue
        if _SECTION.match(line):
            in_args = False
            current = None
            continue
        if in_args:
            match = _ARG_LINE.match(line)
            if match:
                current = match.group(1).lstrip("*")
                arg_docs[current] = match.group(3).strip()
            elif current and line.strip():
                arg_docs[current] += " " + line.strip()
        elif not arg_docs:
            summary_lines.append(line)
    return "\n".join(summary_lines).strip(), arg_docs
