"""IPython shell escapes and magics inside Python code: part of a gate, not a sandbox.

In a kernel, ``!cmd``, ``x = !cmd``, ``%pip ...``, ``%%bash`` and ``%run`` arrive as
``get_ipython().system(...)``/``run_line_magic(...)``/``run_cell_magic(...)`` calls
(:func:`~.pyast.parse_cell` applies IPython's own transformer), and so does a one-line
cell that starts with a magic's name, such as ``rm -- data.csv`` (automagic: see
:func:`automagic_call`). The default shell aliases (``ls``, ``rm``, ``mv`` …) are
magics too. This module finds
those calls and hands back what they carry, as :class:`~.pyast.Embedded` shell or
Python text, so the shell and Python checks see it too. What cannot be read
statically (a computed command, ``{var}``/``$var`` expansion, ``%run file.py``,
``%%perl``) is a finding.
"""
from __future__ import annotations

import ast
import builtins
import keyword
import re
import string

from .finding import Finding
from .pyast import Embedded, Nodes, StringConstants, call_name

_GET_IPYTHON = frozenset({"get_ipython", "IPython.get_ipython"})
_SHELL_METHODS = frozenset({"system", "getoutput", "system_raw", "system_piped"})
_PYTHON_METHODS = frozenset({"run_cell", "ex", "ev"})
_MAGIC_METHODS = frozenset({"run_line_magic", "run_cell_magic"})
_OPAQUE_METHODS = frozenset({"run_code", "safe_execfile", "safe_execfile_ipy", "safe_run_module", "magic"})

_SHELL_LINE_MAGICS = frozenset({"system", "sx", "sc"})
# IPython's default aliases run these programs (ll, lf, lk, lx and ldir are ls variants).
_ALIASES = {"mkdir": "mkdir", "rmdir": "rmdir", "mv": "mv", "rm": "rm", "cp": "cp", "cat": "cat",
            "ls": "ls", "ll": "ls", "lf": "ls", "lk": "ls", "ldir": "ls", "lx": "ls"}
_PACKAGE_MAGICS = frozenset({"pip", "conda", "mamba", "micromamba", "uv"})
_PYTHON_LINE_MAGICS = frozenset({"time", "timeit", "prun"})
_IMPORT_MAGICS = frozenset({"load_ext", "reload_ext"})
_SHELL_CELL_MAGICS = frozenset({"bash", "sh", "system", "sx"})
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "python", "python3", "pypy", "pypy3"})
_FOREIGN_CELL_MAGICS = frozenset({"perl", "ruby", "python2", "script"})
_SHELLS = frozenset({"bash", "sh"})
_VALUE_OPTIONS = frozenset({"-n", "-r", "-p", "-s", "-l", "-D", "-T", "-m"})
_CHECKED_LINE_MAGICS = (
    _SHELL_LINE_MAGICS | _PACKAGE_MAGICS | _PYTHON_LINE_MAGICS | _IMPORT_MAGICS | set(_ALIASES)
    | {"run", "alias", "rehashx", "cd", "env", "set_env"}
)

# IPython's DollarFormatter: ``$name`` outside single quotes ($$ escapes it).
_DOLLAR_FIELD = re.compile(r"(.*?)\$(\$?[\w\.]+)(?=([^']*'[^']*')*[^']*$)")


def scan_ipython(nodes: Nodes, constants: StringConstants) -> tuple[list[Finding], list[Embedded]]:
    """Findings for unreadable IPython calls, and the shell/Python text the readable ones carry."""
    shells = _ShellObjects(nodes)
    findings: list[Finding] = []
    embedded: list[Embedded] = []
    method_nodes: set[int] = set()
    for node in nodes:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and shells.contains(node.func.value):
            method_nodes.add(id(node.func))
            found, carried = _check_method(node.func.attr, node, constants)
            findings.extend(found)
            embedded.extend(carried)
        elif isinstance(node, ast.Attribute) and id(node) not in method_nodes and _is_runner(node, shells):
            findings.append(Finding(
                "shell",
                f"`get_ipython().{node.attr}` is used without calling it directly, so what it runs cannot be "
                "checked; call it with the command written out.",
                node.lineno,
            ))
    return findings, embedded


def automagic_call(code: str) -> ast.Module | None:
    """The magic call a kernel makes of a one-line cell whose first word names a checked magic.

    With automagic on (IPython's default), ``rm -- data.csv`` runs ``%rm``, even though
    it also parses as Python. The call is built as an AST, never as source text.
    """
    lines = [line for line in code.splitlines() if line.strip()]
    match = re.match(r"\s*([\w.]*)", lines[0]) if len(lines) == 1 else None
    first_word = match.group(1) if match else ""
    if first_word not in _CHECKED_LINE_MAGICS:
        return None  # decided before importing IPython, which is slow outside a kernel
    try:
        from IPython.core.splitinput import LineInfo
    except ImportError:
        return None  # no IPython, no kernel, no automagic
    info = LineInfo(lines[0])
    head = info.ifun.split(".")[0]
    shadowed = keyword.iskeyword(head) or hasattr(builtins, head)
    if info.esc or info.ifun not in _CHECKED_LINE_MAGICS or shadowed or info.the_rest[:1] in ("=", ","):
        return None
    shell = ast.Call(func=ast.Name(id="get_ipython", ctx=ast.Load()), args=[], keywords=[])
    call = ast.Call(
        func=ast.Attribute(value=shell, attr="run_line_magic", ctx=ast.Load()),
        args=[ast.Constant(info.ifun), ast.Constant(info.the_rest)],
        keywords=[],
    )
    module = ast.Module(body=[ast.Expr(call)], type_ignores=[])
    return ast.increment_lineno(ast.fix_missing_locations(module), code.splitlines().index(lines[0]))


def _is_runner(node: ast.Attribute, shells: _ShellObjects) -> bool:
    """``get_ipython().system`` and the other methods that run code, taken without a call."""
    runners = _SHELL_METHODS | _PYTHON_METHODS | _MAGIC_METHODS | _OPAQUE_METHODS
    return node.attr in runners and shells.contains(node.value)


class _ShellObjects:
    """Expressions that are the IPython shell: ``get_ipython()`` and names bound to it."""

    def __init__(self, nodes: Nodes):
        self._getters = set(_GET_IPYTHON)
        self._names: set[str] = set()
        assignments = [n for n in nodes if isinstance(n, ast.Assign) and len(n.targets) == 1]
        named = [(n.targets[0].id, n.value) for n in assignments if isinstance(n.targets[0], ast.Name)]
        self._getters |= {name for name, value in named if isinstance(value, ast.Name) and value.id in self._getters}
        self._names |= {name for name, value in named if self.contains(value)}

    def contains(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self._names
        return isinstance(node, ast.Call) and call_name(node) in self._getters


def _check_method(method: str, call: ast.Call, constants: StringConstants) -> tuple[list[Finding], list[Embedded]]:
    resolved = [_resolve(arg, constants) for arg in call.args]
    args = [arg for arg in resolved if arg is not None]
    line = call.lineno
    if method in _OPAQUE_METHODS:
        return [_unreadable(f"`get_ipython().{method}()`", line)], []
    if method not in _SHELL_METHODS | _PYTHON_METHODS | _MAGIC_METHODS:
        return [], []
    if not resolved or len(args) < len(resolved):
        return [_unreadable(f"`get_ipython().{method}()` with a computed argument", line)], []
    if method in _SHELL_METHODS:
        return _shell_text(args[0], line)
    if method in _PYTHON_METHODS:
        return [], [Embedded("python", args[0], line)]
    if method == "run_line_magic" and len(args) >= 2:
        return _line_magic(args[0], args[1], line)
    if method == "run_cell_magic" and len(args) >= 3:
        return _cell_magic(args[0], args[1], args[2], line)
    return [], []


def _resolve(node: ast.AST, constants: StringConstants) -> str | None:
    values = constants.resolve(node)
    return values[0] if values is not None and len(values) == 1 else None


def _line_magic(name: str, line_text: str, line: int) -> tuple[list[Finding], list[Embedded]]:
    if _expands_variables(line_text):
        return [_expansion(f"`%{name}`", line)], []
    shell_text = _line_magic_as_shell(name, line_text)
    if shell_text is not None:
        return [], [Embedded("shell", shell_text, line)]
    if name in _PYTHON_LINE_MAGICS:
        return [], [Embedded("python", _strip_options(line_text), line)]
    if name in _IMPORT_MAGICS:
        return [], [Embedded("python", f"import {line_text.strip()}", line)]
    if name in ("env", "set_env") and not line_text.strip():
        return [Finding(
            "shell",
            "`%env` without a variable prints every environment variable, which may hold secrets; "
            "print only the variable you need.",
            line,
        )], []
    if name == "rehashx":
        return [Finding(
            "shell",
            "`%rehashx` turns every program on the PATH into a magic that these checks cannot follow; "
            "use the shell tool instead.",
            line,
        )], []
    if name == "run":
        module = re.fullmatch(r"\s*-m\s+([\w.]+)\s*", line_text)
        if module:
            return [], [Embedded("python", f"import {module.group(1)}", line)]
        return [Finding(
            "import",
            "`%run` executes a file that these checks cannot read; put the code in the cell instead.",
            line,
        )], []
    return [], []


def _line_magic_as_shell(name: str, line_text: str) -> str | None:
    """The shell command a line magic amounts to, for the magics that run one."""
    if name in _SHELL_LINE_MAGICS:
        return line_text
    if name in _PACKAGE_MAGICS or name == "cd":
        return f"{name} {line_text}"
    if name in _ALIASES:
        return f"{_ALIASES[name]} {line_text}"
    if name == "alias":  # %alias NAME COMMAND...: the command is what the new magic will run
        return line_text.strip().partition(" ")[2] or None
    if name in ("env", "set_env"):  # %env X=1 and %env X 1 set a variable
        variable = line_text.strip()
        return f"export {variable if '=' in variable else variable.replace(' ', '=', 1)}"
    return None


def _cell_magic(name: str, line_text: str, cell: str, line: int) -> tuple[list[Finding], list[Embedded]]:
    if _expands_variables(line_text):
        return [_expansion(f"`%%{name}`", line)], []
    interpreter = (line_text.split(maxsplit=1) or [name])[0] if name == "script" else name
    if name in _SHELL_CELL_MAGICS or interpreter in _SHELLS:
        return [], [Embedded("shell", cell, line)]
    if name in _PYTHON_CELL_MAGICS or re.fullmatch(r"python(3(\.\d+)?)?|pypy3?", interpreter):
        return [], [Embedded("python", cell, line)]
    if name in _FOREIGN_CELL_MAGICS:
        label = f"%%{name} {line_text}".strip()
        return [Finding(
            "shell",
            f"`{label}` runs code in another interpreter that these checks cannot read; use Python or the shell tool.",
            line,
        )], []
    return [], []


def _shell_text(text: str, line: int) -> tuple[list[Finding], list[Embedded]]:
    if _expands_variables(text):
        return [_expansion("This `!` command", line)], []
    return [], [Embedded("shell", text, line)]


def _strip_options(line_text: str) -> str:
    """``-n 10 -r 3 f()`` -> ``f()`` for %time/%timeit/%prun."""
    position = 0
    while match := re.match(r"\s*(-\w+)", line_text[position:]):
        position += match.end()
        value = re.match(r"\s+\S+", line_text[position:]) if match.group(1) in _VALUE_OPTIONS else None
        position += value.end() if value else 0
    return line_text[position:].strip()


def _expands_variables(text: str) -> bool:
    """Whether IPython would substitute Python values into ``text`` (``{expr}`` or ``$name``).

    IPython leaves the whole text alone when any field fails to parse, so only
    text whose every field is a Python expression, one of them naming a value, counts.
    """
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError:
        return False
    fields: list[str] = []
    for literal, field, _spec, _conversion in parts:
        fields.extend(m.group(2) for m in _DOLLAR_FIELD.finditer(literal) if not m.group(2).startswith("$"))
        if field is not None:
            fields.append(field)
    trees = []
    for field in fields:
        try:
            trees.append(ast.parse(field, mode="eval"))
        except SyntaxError:
            return False
    return any(isinstance(node, ast.Name) for tree in trees for node in ast.walk(tree))


def _expansion(what: str, line: int) -> Finding:
    return Finding(
        "shell",
        f"{what} substitutes Python values ({{var}} or $var) into the command, so the final command cannot be "
        "checked; write the command out in full.",
        line,
    )


def _unreadable(what: str, line: int) -> Finding:
    return Finding("shell", f"{what} runs something these checks cannot read; write the command out literally.", line)
