"""Import allowlist for Python code: a gate, not a sandbox.

It reads the code's AST before it runs and refuses imports of modules outside
``authorized_imports``. It cannot see names that already exist in the namespace
(a module the user imported earlier), code inside files run by a library, or
what an allowed package does internally: real isolation is the provider's job.

Patterns: ``"pandas"`` (that module only), ``"pandas.*"`` (the package and all
submodules), ``"*"`` (everything, which also turns this check off).

- ``authorized_imports=None``: the harmless standard library below plus
  :data:`DATA_SCIENCE_PACKAGES`.
- a list: the harmless standard library plus exactly the listed patterns.

Always allowed, :data:`HARMLESS_STDLIB`: computation, text, data structures,
time and hashing. ``base64``/``binascii``/``codecs`` are allowed here because
their misuse is the obfuscation check's job (so turning that check off really
allows base64 work). Not allowed by default, and why:

- ``os``, ``sys``, ``subprocess``, ``shutil``, ``pathlib``: run programs, delete
  or move files, or reach every loaded module (``sys.modules``);
- ``socket``, ``http``, ``urllib``, ``ssl``, ``ftplib``, ``smtplib``: network;
- ``ctypes``, ``cffi``, ``mmap``: raw memory and native code;
- ``importlib``, ``builtins``, ``runpy``, ``code``, ``types``: load or build code
  that this check cannot see;
- ``pickle``, ``marshal``, ``shelve``: deserialising them runs code;
- ``multiprocessing``, ``threading``, ``signal``, ``asyncio``: processes, threads
  and signal handlers that outlive the step;
- ``logging``: ``logging.config.listen`` opens a socket that accepts configuration;
- ``tempfile``, ``zipfile``, ``tarfile``: write files outside the working directory.

Also flagged: ``__import__``/``importlib.import_module`` with a name that is not
a string constant, ``exec``/``eval``/``compile`` of code known only at run time,
and the attributes that reach modules without importing them (``__globals__``,
``__subclasses__``, ``__builtins__`` ...).
"""
from __future__ import annotations

import ast
import re
from collections.abc import Sequence

from ..errors import ConfigurationError
from .finding import Finding
from .pyast import Nodes, StringConstants, call_name, code_argument, dotted_name, literal_str, module_argument

HARMLESS_STDLIB: tuple[str, ...] = (
    "__future__", "abc", "array", "base64", "binascii", "bisect", "calendar", "cmath", "codecs",
    "collections.*", "colorsys", "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal",
    "difflib", "enum", "fnmatch", "fractions", "functools", "glob", "graphlib", "hashlib", "heapq",
    "hmac", "html", "io", "itertools", "json.*", "math", "numbers", "operator", "pprint", "random",
    "re", "secrets", "statistics", "string", "struct", "textwrap", "time", "typing", "unicodedata",
    "uuid", "warnings", "zoneinfo",
)

DATA_SCIENCE_PACKAGES: tuple[str, ...] = (
    "numpy.*", "pandas.*", "matplotlib.*", "mpl_toolkits.*", "scipy.*", "sklearn.*", "seaborn.*",
    "statsmodels.*", "polars.*", "pyarrow.*", "plotly.*", "altair.*", "sympy.*", "networkx.*",
    "xarray.*", "PIL.*", "tqdm.*", "dateutil.*", "pytz", "IPython.display",
)

ESCAPE_ATTRIBUTES = frozenset({
    "__builtins__", "__globals__", "__subclasses__", "__import__", "__loader__", "__spec__",
    "f_globals", "f_builtins",
})

_PATTERN = re.compile(r"\*|[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(\.\*)?")


def _matches(module: str, pattern: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        package = pattern[:-2]
        return module == package or module.startswith(package + ".")
    return module == pattern


class ImportRule:
    """Checks a parsed module against an import allowlist."""

    def __init__(self, authorized_imports: Sequence[str] | None = None):
        if isinstance(authorized_imports, str):
            raise ConfigurationError("authorized_imports must be a list of patterns, not a single string")
        extra = DATA_SCIENCE_PACKAGES if authorized_imports is None else tuple(authorized_imports)
        bad = [p for p in extra if not isinstance(p, str) or not _PATTERN.fullmatch(p)]
        if bad:
            raise ConfigurationError(
                f"invalid authorized_imports pattern(s) {bad!r}: use 'module', 'package.*' or '*'"
            )
        self.patterns: tuple[str, ...] = HARMLESS_STDLIB + extra
        self.allows_everything = "*" in extra

    def allows(self, module: str) -> bool:
        """Whether importing ``module`` (a dotted name) is allowed."""
        return any(_matches(module, pattern) for pattern in self.patterns)

    def check(self, nodes: Nodes, constants: StringConstants) -> list[Finding]:
        """Every refused import, dynamic import, opaque exec and module escape among ``nodes``."""
        if self.allows_everything:
            return []
        findings: list[Finding] = []
        import_funcs: set[int] = set()  # checked as dynamic imports; a call comes before its function
        for node in nodes:
            if isinstance(node, ast.Import):
                findings.extend(self._check_import(node))
            elif isinstance(node, ast.ImportFrom):
                findings.extend(self._check_import_from(node))
            elif isinstance(node, ast.Call):
                if module_argument(node) is not None:
                    import_funcs.add(id(node.func))
                findings.extend(self._check_call(node, constants))
            elif isinstance(node, ast.expr) and id(node) not in import_funcs:
                if (escape := _escape_name(node)) is not None:
                    findings.append(_escape(escape, node.lineno))
        return findings

    def _check_import(self, node: ast.Import) -> list[Finding]:
        findings = []
        for alias in node.names:
            top, _, rest = alias.name.partition(".")
            if not self.allows(alias.name):
                findings.append(self._blocked(alias.name, node.lineno))
            elif rest and alias.asname is None and not self.allows(top):
                parent, _, last = alias.name.rpartition(".")
                findings.append(Finding(
                    "import",
                    f"`import {alias.name}` also binds the name '{top}', which is not in authorized_imports; "
                    f"write `from {parent} import {last}` or `import {alias.name} as {last}` instead.",
                    node.lineno,
                ))
        return findings

    def _check_import_from(self, node: ast.ImportFrom) -> list[Finding]:
        if node.level or node.module is None:
            return []  # relative imports load local modules
        module = node.module
        names = [alias.name for alias in node.names]
        if self.allows(module) or all(name != "*" and self.allows(f"{module}.{name}") for name in names):
            return []
        return [self._blocked(module, node.lineno)]

    def _check_call(self, call: ast.Call, constants: StringConstants) -> list[Finding]:
        module_node = module_argument(call)
        if module_node is not None:
            return self._check_dynamic_import(call, module_node, constants)
        code_node = code_argument(call)
        if code_node is not None and constants.resolve(code_node) is None:
            return [Finding(
                "import",
                f"`{call_name(call)}()` here runs code that is only known at run time, so its imports cannot be "
                "checked; write that code directly in the cell instead.",
                call.lineno,
            )]
        if call_name(call) == "getattr" and len(call.args) > 1:
            attribute = literal_str(call.args[1])
            if attribute in ESCAPE_ATTRIBUTES:
                return [_escape(attribute, call.lineno)]
        return []

    def _check_dynamic_import(self, call: ast.Call, node: ast.expr, constants: StringConstants) -> list[Finding]:
        modules = constants.resolve(node)
        if modules is None:
            return [Finding(
                "import",
                f"`{dotted_name(call.func)}()` with a computed module name cannot be checked against "
                "authorized_imports; use a plain `import` statement instead.",
                call.lineno,
            )]
        returns_top = call_name(call) in {"__import__", "importlib.__import__"}
        findings = []
        for module in modules:
            top = module.partition(".")[0]
            if not self.allows(module):
                findings.append(self._blocked(module, call.lineno))
            elif returns_top and not self.allows(top):
                findings.append(self._blocked(top, call.lineno))
        return findings

    def _blocked(self, module: str, line: int) -> Finding:
        return Finding(
            "import",
            f"Import of '{module}' is blocked because it is not in authorized_imports; solve the task with "
            f"allowed modules, or ask the user to allow it with authorized_imports=[..., '{module}'].",
            line,
        )


def _escape_name(node: ast.expr) -> str | None:
    """The escape hatch ``node`` uses: ``x.__globals__``, a bare ``__builtins__``, ``d["__builtins__"]``."""
    if isinstance(node, ast.Attribute) and node.attr in ESCAPE_ATTRIBUTES:
        return node.attr
    if isinstance(node, ast.Name) and node.id in ESCAPE_ATTRIBUTES:
        return node.id
    if isinstance(node, ast.Subscript) and literal_str(node.slice) in ESCAPE_ATTRIBUTES:
        return literal_str(node.slice)
    return None


def _escape(name: str, line: int) -> Finding:
    return Finding(
        "import",
        f"`{name}` reaches modules without importing them, which bypasses authorized_imports; "
        "import an allowed module the normal way instead.",
        line,
    )
