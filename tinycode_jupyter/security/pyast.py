"""Small helpers over Python ASTs shared by the Python checks.

Also parses notebook cells: when plain Python does not parse, IPython's own
input transformer (if installed) turns ``!cmd`` and ``%magic`` lines into the
``get_ipython()`` calls the kernel would run, so those are checked too.
"""
from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

# Every node of a parsed cell, in ast.walk order (a node before its children): walked once, read by every check.
Nodes = Sequence[ast.AST]

BUILTINS_NAMES = frozenset({"builtins", "__builtins__"})
EXEC_FUNCS = frozenset({"exec", "eval", "compile"})
IMPORT_FUNCS = frozenset({"__import__", "importlib.import_module", "import_module", "importlib.__import__"})


@dataclass(frozen=True)
class Embedded:
    """Code found inside other code (``exec("...")``, ``!ls``) that must be checked in its own language."""

    language: Literal["python", "shell"]
    text: str
    line: int


def parse_cell(code: str) -> ast.Module:
    """Parse Python, falling back to IPython's cell syntax; raise SyntaxError when neither parses."""
    try:
        return ast.parse(code)
    except SyntaxError as plain_error:
        transformed = _ipython_transform(code)
        if transformed is None or transformed == code:
            raise
        try:
            return ast.parse(transformed)
        except SyntaxError:
            raise plain_error from None


def _ipython_transform(code: str) -> str | None:
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return None
    return TransformerManager().transform_cell(code)


def dotted_name(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def call_name(call: ast.Call) -> str | None:
    """The dotted name of the called function, with ``builtins.``/``__builtins__.`` removed."""
    name = dotted_name(call.func)
    if name is None:
        return None
    head, _, rest = name.partition(".")
    return rest if head in BUILTINS_NAMES and rest else name


class ImportAliases:
    """Local names bound by imports (``import zlib as z``, ``from codecs import decode``), to qualify calls."""

    def __init__(self, nodes: Nodes):
        self._names: dict[str, str] = {}
        for node in nodes:
            if isinstance(node, ast.Import):
                self._names.update({alias.asname: alias.name for alias in node.names if alias.asname})
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:
                    self._names[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def call_name(self, call: ast.Call) -> str | None:
        """:func:`call_name` with an import alias resolved (``z.decompress`` -> ``zlib.decompress``)."""
        name = call_name(call)
        if name is None:
            return None
        head, dot, rest = name.partition(".")
        return f"{self._names[head]}{dot}{rest}" if head in self._names else name


def first_argument(call: ast.Call, keyword: str) -> ast.expr | None:
    """The first positional argument, or the keyword argument ``keyword``."""
    if call.args and not isinstance(call.args[0], ast.Starred):
        return call.args[0]
    return next((kw.value for kw in call.keywords if kw.arg == keyword), None)


def code_argument(call: ast.Call) -> ast.expr | None:
    """The code passed to exec/eval/compile, or None when ``call`` is not such a call."""
    return first_argument(call, "source") if call_name(call) in EXEC_FUNCS else None


def module_argument(call: ast.Call) -> ast.expr | None:
    """The module name passed to ``__import__``/``importlib.import_module``, else None."""
    return first_argument(call, "name") if call_name(call) in IMPORT_FUNCS else None


def executed_strings(nodes: Nodes, constants: StringConstants) -> list[Embedded]:
    """The literal code given to exec/eval/compile, to be checked like the code around it."""
    embedded: list[Embedded] = []
    for node in nodes:
        if not isinstance(node, ast.Call):
            continue
        argument = code_argument(node)
        if argument is not None:
            embedded.extend(Embedded("python", text, node.lineno) for text in constants.resolve(argument) or [])
    return embedded


def literal_str(node: ast.AST | None) -> str | None:
    """The value of a str (or UTF-8 bytes) literal."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, str):
            return node.value
        if isinstance(node.value, bytes):
            try:
                return node.value.decode()
            except UnicodeDecodeError:
                return None
    return None


class StringConstants:
    """Names whose every assignment in the module is a string literal (``m = "os"``).

    Lets the checks follow ``code = "..."; exec(code)`` without pretending to do data flow.
    """

    def __init__(self, nodes: Nodes):
        literal_stores: dict[str, list[str]] = {}
        stores: dict[str, int] = {}
        for node in nodes:
            for name in _stored_names(node):
                stores[name] = stores.get(name, 0) + 1
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                value = literal_str(node.value)
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if value is not None and isinstance(target, ast.Name):
                        literal_stores.setdefault(target.id, []).append(value)
        self._values = {name: values for name, values in literal_stores.items() if stores.get(name) == len(values)}

    def resolve(self, node: ast.AST | None) -> list[str] | None:
        """Every string ``node`` can hold, or None when it is not a known constant."""
        value = literal_str(node)
        if value is not None:
            return [value]
        if isinstance(node, ast.Name):
            return self._values.get(node.id)
        return None


def _stored_names(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return [node.id]
    if isinstance(node, ast.arg):
        return [node.arg]
    if isinstance(node, ast.alias):
        return [(node.asname or node.name).partition(".")[0]]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.ExceptHandler) and node.name:
        return [node.name]
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return list(node.names)
    return []
