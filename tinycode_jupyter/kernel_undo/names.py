"""Which variables a step can change, read from its source and from the code of the user's functions it calls.

:func:`step_names` reads a step's source (already turned into plain Python by IPython) with
:mod:`symtable`, so scopes are exact: the names it may bind or unbind at the top level (assign,
``del``, ``+=``, ``import``, ``def``, ``class``, ``for``, ``with``, ``except``, ``:=``, and
``global`` names assigned in its functions), and the global names it reads (``lst`` in
``lst.append(1)``, ``df`` in ``df["x"] = 1``, ``d`` in ``d[k] = v``). :func:`code_names` does the
same for the compiled code of a function defined in the notebook, so ``helper()`` that appends to
a global ``cache`` makes ``cache`` a name the step can change. Code that reaches the namespace
through strings (``exec``, ``eval``, ``globals()``, ``vars()``, IPython magics, ``from m import *``,
``import __main__``) is *dynamic*: its names cannot be known from the source.
"""
from __future__ import annotations

import ast
import dis
import functools
import symtable
import types
from dataclasses import dataclass, field

DYNAMIC_NAMES = {"exec": "exec()", "eval": "eval()", "globals": "globals()", "get_ipython": "IPython magics or get_ipython()"}
"""Global names whose use lets code bind or change variables that its source does not name."""
NAMESPACE_WITHOUT_ARGUMENTS = {"vars": "vars()", "locals": "locals()"}
"""Builtins that return the namespace itself when called with no argument at the top level."""


@dataclass
class StepNames:
    """What one step can change: names it may (un)bind, names it reads, and why that may be incomplete."""

    bound: set[str] = field(default_factory=set)
    referenced: set[str] = field(default_factory=set)
    mutated: set[str] = field(default_factory=set)
    """Roots of attribute and item assignments and deletions: ``pd`` in ``pd.options.x = 1``, ``d`` in ``d[k] = v``."""
    dynamic: set[str] = field(default_factory=set)
    """How the code reaches variables by string (``exec()``, ``IPython magics``, ``import *``); empty when static."""

    def update(self, other: "StepNames") -> None:
        self.bound |= other.bound
        self.referenced |= other.referenced
        self.mutated |= other.mutated
        self.dynamic |= other.dynamic


def step_names(source: str) -> StepNames:
    """The names a step's top-level code can bind or read; SyntaxError if it does not compile (then it cannot run)."""
    table = symtable.symtable(source, "<step>", "exec")
    names = StepNames()
    for symbol in table.get_symbols():
        if symbol.is_assigned() or symbol.is_imported():
            names.bound.add(symbol.get_name())
        if symbol.is_referenced():
            names.referenced.add(symbol.get_name())
    for child in table.get_children():
        _scope_globals(child, names)
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            root = _root_name(node)
            if root is not None:
                names.mutated.add(root)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            names.referenced.add(node.target.id)  # ``lst += [1]`` changes the list in place
        elif isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
            names.dynamic.add("from … import *")
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and "__main__" in _imported_modules(node):
            names.dynamic.add("import __main__")
    for node in _outside_functions(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.args and not node.keywords:
            if node.func.id in NAMESPACE_WITHOUT_ARGUMENTS:
                names.dynamic.add(NAMESPACE_WITHOUT_ARGUMENTS[node.func.id])
    names.dynamic |= {DYNAMIC_NAMES[name] for name in names.referenced if name in DYNAMIC_NAMES}
    return names


def _outside_functions(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` but those inside a function or lambda (where ``vars()`` means its locals)."""
    found, pending = [], [tree]
    while pending:
        node = pending.pop()
        found.append(node)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            pending.extend(ast.iter_child_nodes(node))
    return found


def _imported_modules(node: ast.Import | ast.ImportFrom) -> set[str]:
    if isinstance(node, ast.ImportFrom):
        return {node.module or ""}
    return {alias.name for alias in node.names}


def _root_name(node: ast.expr) -> str | None:
    """``a`` for ``a.b[c].d``; None when the chain starts with a call or a literal."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _scope_globals(table: symtable.SymbolTable, names: StepNames) -> None:
    """Globals used inside a function, class body, lambda or comprehension of the step."""
    for symbol in table.get_symbols():
        if not symbol.is_global():
            continue
        if symbol.is_assigned() and symbol.is_declared_global():
            names.bound.add(symbol.get_name())
        if symbol.is_referenced():
            names.referenced.add(symbol.get_name())
    for child in table.get_children():
        _scope_globals(child, names)


@functools.lru_cache(maxsize=4096)
def code_names(code: types.CodeType) -> StepNames:
    """The globals compiled code reads and stores or deletes, nested functions and comprehensions included."""
    names = StepNames()
    for instruction in dis.get_instructions(code):
        if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
            names.referenced.add(str(instruction.argval))
        elif instruction.opname in ("STORE_GLOBAL", "DELETE_GLOBAL"):
            names.bound.add(str(instruction.argval))
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names.update(code_names(constant))
    names.dynamic |= {DYNAMIC_NAMES[name] for name in names.referenced if name in DYNAMIC_NAMES}
    return names


def user_code(value: object, namespace: dict[str, object]) -> list[types.CodeType]:
    """The code of the notebook's own functions that calling or using ``value`` can run.

    A function defined in ``namespace``, a bound method or ``functools.partial`` of one, a class
    defined there (its methods and properties), or an instance of such a class.
    """
    if isinstance(value, functools.partial):
        value = value.func
    if isinstance(value, types.MethodType):
        value = value.__func__
    if isinstance(value, types.FunctionType):
        return [value.__code__] if value.__globals__ is namespace else []
    cls = value if isinstance(value, type) else type(value)
    if cls.__module__ != namespace.get("__name__"):
        return []
    found: list[types.CodeType] = []
    for klass in cls.__mro__[:-1]:
        for member in vars(klass).values():
            for function in _functions_of(member):
                if function.__globals__ is namespace:
                    found.append(function.__code__)
    return found


def _functions_of(member: object) -> list[types.FunctionType]:
    if isinstance(member, (staticmethod, classmethod)):
        member = member.__func__
    if isinstance(member, property):
        return [f for f in (member.fget, member.fset, member.fdel) if isinstance(f, types.FunctionType)]
    return [member] if isinstance(member, types.FunctionType) else []
